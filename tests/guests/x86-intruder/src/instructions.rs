//! Group 5, x86 instructions and modes: catalogue items 56 (CPUID sweep),
//! 55 (control registers), 52 (XSETBV, F1), 53 (VMX instructions,
//! GETSEC, INVD at CPL 0 and CPL 3, F2), 57 and 51.2-51.3 (real mode and
//! compatibility mode, F14), 54 (MSR sweep, RDPMC, the speculation MSRs,
//! F11/F5f). The sweeps come last: their refusals use up the cell's
//! report budget.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::{Fault, println};

use crate::common::{Outcome, attempt, counter, counters, done, id, raised};

/// CPUID.1:ECX bits.
const VMX: u32 = 1 << 5;
const SMX: u32 = 1 << 6;
const XSAVE: u32 = 1 << 26;
const HYPERVISOR: u32 = 1 << 31;
/// CR4 bits.
const CR4_VMXE: u64 = 1 << 13;
const CR4_SMXE: u64 = 1 << 14;
const CR4_OSXSAVE: u64 = 1 << 18;
/// CR0 bits.
const CR0_NE: u64 = 1 << 5;
const CR0_NW: u64 = 1 << 29;
const CR0_CD: u64 = 1 << 30;

pub(crate) fn run() -> ! {
    println!(
        "intruder: group instructions (cpuid, control registers, xsetbv, vmx, real mode, msrs)"
    );
    cpuid_sweep();
    control_registers();
    breakpoint_after_exit();
    xsetbv();
    vmx_instructions();
    user_mode_instructions();
    real_mode();
    msr_sweep();
    done("instructions")
}

// --- 56: CPUID -------------------------------------------------------------

fn cpuid_sweep() {
    let max = rt::cpuid(0, 0).eax.min(0x20);
    let mut leaves = 0;
    for leaf in 0..=max {
        for subleaf in 0..4 {
            rt::cpuid(leaf, subleaf);
            leaves += 1;
        }
    }
    let one = rt::cpuid(1, 0);
    attempt(
        "56.1",
        format_args!("cpuid leaves 0..={max:#x}, subleaves 0..4"),
        one.ecx & (VMX | SMX) == 0 && one.ecx & HYPERVISOR != 0,
        format_args!(
            "{leaves} queries; leaf 1 ecx {:#x}: vmx {}, smx {}, hypervisor {}",
            one.ecx,
            one.ecx & VMX != 0,
            one.ecx & SMX != 0,
            one.ecx & HYPERVISOR != 0
        ),
    );
    let topology = rt::cpuid(0xb, 1);
    let logical = (one.ebx >> 16) & 0xff;
    attempt(
        "56.2",
        format_args!("cpuid topology (leaves 1, 0xb)"),
        topology.ebx & 0xffff == 1 && logical == 1 && topology.edx == rt::apic_id(),
        format_args!(
            "{} logical processors, leaf 1 says {logical}, x2apic id {} (own {})",
            topology.ebx & 0xffff,
            topology.edx,
            rt::apic_id()
        ),
    );
    let signature = rt::cpuid(0x4000_0000, 0);
    let mut name = [0u8; 12];
    name[..4].copy_from_slice(&signature.ebx.to_le_bytes());
    name[4..8].copy_from_slice(&signature.ecx.to_le_bytes());
    name[8..].copy_from_slice(&signature.edx.to_le_bytes());
    let zeros = (0x4000_0001..=0x4000_00ffu32).all(|leaf| {
        let r = rt::cpuid(leaf, 0);
        [r.eax, r.ebx, r.ecx, r.edx] == [0; 4]
    });
    attempt(
        "56.3",
        format_args!("cpuid 0x40000000..=0x400000ff"),
        &name == b"BulkheadVMM\0" && zeros,
        format_args!(
            "signature {:?}, max {:#x}, the rest zero: {zeros}",
            core::str::from_utf8(&name[..11]).unwrap_or("?"),
            signature.eax
        ),
    );
    let max_ext = rt::cpuid(0x8000_0000, 0).eax.min(0x8000_0020);
    let mut ext = 0;
    for leaf in 0x8000_0000..=max_ext {
        rt::cpuid(leaf, 0);
        ext += 1;
    }
    let svm = rt::cpuid(0x8000_0001, 0).ecx & (1 << 2) != 0;
    attempt(
        "56.4",
        format_args!("cpuid 0x80000000..={max_ext:#x}"),
        !svm,
        format_args!("{ext} leaves, svm {svm}"),
    );
}

// --- 55: control registers ------------------------------------------------

fn read_cr0() -> u64 {
    let value: u64;
    // SAFETY: reading CR0 has no effect.
    unsafe { core::arch::asm!("mov {}, cr0", out(reg) value, options(nomem, nostack)) };
    value
}

fn read_cr4() -> u64 {
    let value: u64;
    // SAFETY: reading CR4 has no effect.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) value, options(nomem, nostack)) };
    value
}

/// MOV to CR0 as a probe.
///
/// # Safety
/// `value` must leave paging, protection and the caches usable.
unsafe fn write_cr0(value: u64) -> Result<(), Fault> {
    // SAFETY: the caller's.
    unsafe { rt::try_insn!("mov cr0, {v}"; v = in(reg) value, options(nostack)) }
}

/// MOV to CR4 as a probe.
///
/// # Safety
/// `value` must leave paging usable.
unsafe fn write_cr4(value: u64) -> Result<(), Fault> {
    // SAFETY: the caller's.
    unsafe { rt::try_insn!("mov cr4, {v}"; v = in(reg) value, options(nostack)) }
}

/// An exit and entry after a control-register change: the cell must come
/// back (a guest state VM entry refused would halt it).
fn entry_works() -> bool {
    rt::cell_info().is_some()
}

fn control_registers() {
    let cr4 = read_cr4();
    // SAFETY: VMXE alone (refused by the hypervisor, #GP).
    let vmxe = unsafe { write_cr4(cr4 | CR4_VMXE) };
    attempt(
        "55.1",
        format_args!("set cr4.vmxe"),
        raised(vmxe, Fault::GP) && read_cr4() & CR4_VMXE == 0 && entry_works(),
        format_args!("{}, cr4 {:#x}", Outcome(vmxe), read_cr4()),
    );
    // SAFETY: SMXE alone: no effect on this program if it took.
    let smxe = unsafe { write_cr4(cr4 | CR4_SMXE) };
    attempt(
        "55.2",
        format_args!("set cr4.smxe"),
        raised(smxe, Fault::GP) && entry_works(),
        format_args!("{}, cr4 {:#x}", Outcome(smxe), read_cr4()),
    );
    let cr0 = read_cr0();
    // SAFETY: NE clear changes only how x87 errors are reported.
    let ne = unsafe { write_cr0(cr0 & !CR0_NE) };
    let ne_now = read_cr0() & CR0_NE != 0;
    // SAFETY: put back what was there.
    let _ = unsafe { write_cr0(cr0) };
    attempt(
        "55.3",
        format_args!("clear cr0.ne"),
        (raised(ne, Fault::GP) || ne.is_ok()) && entry_works(),
        format_args!("{}, ne {}; vm entry works", Outcome(ne), ne_now),
    );
    // SAFETY: NW without CD is an invalid combination: #GP, no change.
    let nw = unsafe { write_cr0(cr0 | CR0_NW) };
    attempt(
        "55.4",
        format_args!("set cr0.nw without cd"),
        raised(nw, Fault::GP) && entry_works(),
        format_args!("{}", Outcome(nw)),
    );
    // SAFETY: caches off for this core, then on again: slower, nothing
    // else.
    let cd = unsafe { write_cr0(cr0 | CR0_CD) };
    let cd_entry = entry_works();
    // SAFETY: as above.
    let _ = unsafe { write_cr0(cr0) };
    attempt(
        "55.5",
        format_args!("set and clear cr0.cd"),
        cd.is_ok() && cd_entry && entry_works(),
        format_args!("{} (own core only); vm entry works", Outcome(cd)),
    );
    let cr8_value: u64;
    // SAFETY: CR8 (the task priority) of this core; restored at once.
    unsafe {
        core::arch::asm!(
            "mov {t}, 0xf",
            "mov cr8, {t}",
            "mov {v}, cr8",
            "xor {t:e}, {t:e}",
            "mov cr8, {t}",
            t = out(reg) _,
            v = out(reg) cr8_value,
            options(nomem, nostack)
        )
    };
    attempt(
        "55.6",
        format_args!("write cr8"),
        cr8_value == 0xf && entry_works(),
        format_args!("read back {cr8_value:#x} (own priority only)"),
    );
}

// --- F11: the guest's debug registers survive exits ----------------------

/// What the breakpoint watches.
static WATCHED: AtomicU64 = AtomicU64::new(0);

/// Arms a write breakpoint (DR0, DR7 L0, 8 bytes) on [`WATCHED`], makes a
/// `VMCALL` (an exit and an entry), then writes the word: the `#DB` must
/// come, so DR7 survived the exit (finding F11; without saving and
/// loading debug controls an exit leaves DR7 at 0x400). Not a catalogue
/// attempt: a line of its own.
fn breakpoint_after_exit() {
    let address = (&raw const WATCHED) as u64;
    // L0 (bit 0), R/W0 = 01 (writes, bits 17:16), LEN0 = 10 (8 bytes,
    // bits 19:18).
    let dr7: u64 = 1 | 0b01 << 16 | 0b10 << 18;
    // SAFETY: a breakpoint on this program's own word; cleared below.
    unsafe {
        core::arch::asm!("mov dr0, {a}", "mov dr7, {d}", a = in(reg) address, d = in(reg) dr7, options(nostack));
    }
    let _ = rt::cell_info();
    let dr7_after: u64;
    // SAFETY: reading DR7.
    unsafe { core::arch::asm!("mov {}, dr7", out(reg) dr7_after, options(nomem, nostack)) };
    // SAFETY: the write is to the watched word; the #DB (a trap) lands on
    // the `nop`, inside the probe.
    let hit = unsafe {
        rt::try_insn!("mov qword ptr [{a}], 1", "nop"; a = in(reg) address, options(nostack))
    };
    // SAFETY: breakpoints off.
    unsafe { core::arch::asm!("mov dr7, {}", in(reg) 0x400u64, options(nostack)) };
    println!(
        "intruder: breakpoint after an exit: dr7 {dr7_after:#x}, write -> {}",
        Outcome(hit)
    );
}

// --- 52: XSETBV ------------------------------------------------------------

/// XSETBV as a probe.
///
/// # Safety
/// The hypervisor soft-floats; this program too: XCR0 does not matter
/// to it.
unsafe fn try_xsetbv(ecx: u32, value: u64) -> Result<(), Fault> {
    // SAFETY: the caller's.
    unsafe {
        rt::try_insn!(
            "xsetbv";
            in("ecx") ecx,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack)
        )
    }
}

fn xgetbv() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV of XCR0 (CR4.OSXSAVE is set).
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi, options(nomem, nostack))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// A 64-byte aligned XSAVE area.
#[repr(C, align(64))]
struct XsaveArea([u8; 4096]);

static mut XSAVE_AREA: XsaveArea = XsaveArea([0; 4096]);

/// XSAVE of x87 and SSE state; the header's XSTATE_BV, or the fault.
fn xsave() -> Result<u64, Fault> {
    let area = (&raw mut XSAVE_AREA) as u64;
    // SAFETY: the area is this program's, 64-byte aligned, 4 KiB; XSAVE
    // writes at most the size CPUID leaf 0xD reports for XCR0 (< 4 KiB
    // for x87 and SSE).
    let outcome = unsafe {
        rt::try_insn!("xsave [{a}]"; a = in(reg) area, in("eax") 3u32, in("edx") 0u32, options(nostack))
    };
    // SAFETY: byte 512 of the area is the XSAVE header's XSTATE_BV.
    outcome.map(|()| unsafe { ((area + 512) as *const u64).read_volatile() })
}

fn xsetbv() {
    if rt::cpuid(1, 0).ecx & XSAVE == 0 {
        println!("intruder: no XSAVE: XSETBV raises #UD without an exit");
    }
    // SAFETY: OSXSAVE only enables XSETBV and the XSAVE family.
    let enabled = unsafe { write_cr4(read_cr4() | CR4_OSXSAVE) };
    let leaf = rt::cpuid(0xd, 0);
    let supported = u64::from(leaf.edx) << 32 | u64::from(leaf.eax);
    println!(
        "intruder: cr4.osxsave {}, xcr0 supports {supported:#x}",
        Outcome(enabled)
    );
    // SAFETY: XCR0 = x87 | SSE, valid everywhere with XSAVE.
    let valid = unsafe { try_xsetbv(0, 0x3) };
    let now = xgetbv();
    let saved = xsave();
    attempt(
        "52.1",
        format_args!("xsetbv 0x3"),
        valid.is_ok() && now == 0x3 && saved.is_ok_and(|bv| bv & !0x3 == 0),
        format_args!("{}, xcr0 {now:#x}, xsave {}", Outcome(valid), Saved(saved)),
    );
    let refused = [
        ("52.2", 0, 0x5u64, "avx without sse"),
        ("52.3", 0, 0xe5, "avx-512 without sse"),
        ("52.4", 1, 0x3, "ecx 1"),
        ("52.5", 0, 0x0, "x87 clear"),
        ("52.6", 0, 0x27, "part of avx-512"),
        ("52.7", 0, 0x0b, "half of mpx"),
        ("52.8", 0, 1 << 62 | 0x3, "bit 62"),
    ];
    for (id, ecx, value, why) in refused {
        // SAFETY: each value is invalid: #GP, XCR0 unchanged.
        let outcome = unsafe { try_xsetbv(ecx, value) };
        let now = xgetbv();
        attempt(
            id,
            format_args!("xsetbv ecx {ecx} {value:#x} ({why})"),
            raised(outcome, Fault::GP) && now == 0x3,
            format_args!("{}, xcr0 {now:#x}", Outcome(outcome)),
        );
    }
    // AVX: accepted exactly when the CPU has it.
    // SAFETY: valid if supported, else #GP.
    let avx = unsafe { try_xsetbv(0, 0x7) };
    let now = xgetbv();
    let expected = if supported & 0x4 != 0 { 0x7 } else { 0x3 };
    attempt(
        "52.9",
        format_args!("xsetbv 0x7 (avx)"),
        now == expected && avx.is_ok() == (supported & 0x4 != 0),
        format_args!("{}, xcr0 {now:#x}", Outcome(avx)),
    );
    // SAFETY: back to x87 | SSE.
    let _ = unsafe { try_xsetbv(0, 0x3) };
}

// --- 53: VMX instructions, GETSEC, INVD at CPL 0 -------------------------

/// A 4 KiB operand area for the VMX instructions.
#[repr(C, align(4096))]
struct Region([u8; 4096]);

static mut REGION: Region = Region([0; 4096]);

/// Runs one of the VMX-family instructions as a probe, by number.
fn vmx_instruction(which: usize) -> Result<(), Fault> {
    let region = (&raw mut REGION) as u64;
    let pointer = &raw const region as u64;
    // SAFETY: none of these does anything in a cell (they exit, or fault);
    // their memory operands point at this program's own region.
    unsafe {
        match which {
            0 => rt::try_insn!("vmxon [{p}]"; p = in(reg) pointer, options(nostack)),
            1 => rt::try_insn!("vmclear [{p}]"; p = in(reg) pointer, options(nostack)),
            2 => rt::try_insn!("vmptrld [{p}]"; p = in(reg) pointer, options(nostack)),
            3 => rt::try_insn!("vmptrst [{p}]"; p = in(reg) region, options(nostack)),
            4 => {
                rt::try_insn!("vmread {v}, {f}"; f = in(reg) 0x681eu64, v = out(reg) _, options(nostack))
            }
            5 => {
                rt::try_insn!("vmwrite {f}, {v}"; f = in(reg) 0x681eu64, v = in(reg) 0u64, options(nostack))
            }
            6 => rt::try_insn!("vmlaunch"; options(nostack)),
            7 => rt::try_insn!("vmresume"; options(nostack)),
            8 => rt::try_insn!("vmxoff"; options(nostack)),
            9 => {
                rt::try_insn!("invept {t}, [{p}]"; t = in(reg) 2u64, p = in(reg) region, options(nostack))
            }
            10 => {
                rt::try_insn!("invvpid {t}, [{p}]"; t = in(reg) 2u64, p = in(reg) region, options(nostack))
            }
            11 => rt::try_insn!("getsec"; inout("eax") 0u32 => _, options(nostack)),
            _ => rt::try_insn!("invd"; options(nostack)),
        }
    }
}

const VMX_NAMES: [&str; 13] = [
    "vmxon", "vmclear", "vmptrld", "vmptrst", "vmread", "vmwrite", "vmlaunch", "vmresume",
    "vmxoff", "invept", "invvpid", "getsec", "invd",
];

fn vmx_instructions() {
    for (i, name) in VMX_NAMES.iter().enumerate() {
        let outcome = vmx_instruction(i);
        attempt(
            &id("53", i + 1),
            format_args!("{name} at cpl 0"),
            raised(outcome, Fault::UD),
            format_args!("{}", Outcome(outcome)),
        );
    }
}

// --- 53 at CPL 3: a user process -------------------------------------------

/// What the user-mode run observed: per instruction, the vector + 1
/// (0: no fault).
static USER_RESULTS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// The instructions the user process tries (indices into VMX_NAMES, then
/// XSETBV).
const USER_TRIES: [usize; 7] = [1, 3, 0, 9, 4, 8, 12];

extern "C" fn user_process(_arg: u64) {
    for (slot, &which) in USER_RESULTS.iter().zip(USER_TRIES.iter()) {
        let outcome = vmx_instruction(which);
        slot.store(
            outcome.map_or_else(|f| u64::from(f.vector) + 1, |()| 0),
            Relaxed,
        );
    }
    // SAFETY: a valid value, but from CPL 3: #GP.
    let outcome = unsafe { try_xsetbv(0, 0x3) };
    USER_RESULTS[7].store(
        outcome.map_or_else(|f| u64::from(f.vector) + 1, |()| 0),
        Relaxed,
    );
}

fn vector_name(encoded: u64) -> &'static str {
    match encoded {
        0 => "no fault",
        7 => "#UD",
        14 => "#GP",
        _ => "another exception",
    }
}

fn user_mode_instructions() {
    let before = counter(counters::INSN_REFUSED).unwrap_or(0);
    rt::run_user(user_process, 0);
    let after = counter(counters::INSN_REFUSED).unwrap_or(0);
    println!("intruder: back from cpl 3 (insn-refused {before} -> {after})");
    for (k, &which) in USER_TRIES.iter().enumerate() {
        let got = USER_RESULTS[k].load(Relaxed);
        // INVD at CPL 3 is the CPU's own #GP (privileged); the VMX
        // instructions exit first and must get #UD.
        let expected = if VMX_NAMES[which] == "invd" { 14 } else { 7 };
        attempt(
            &id("53", 14 + k),
            format_args!("{} at cpl 3", VMX_NAMES[which]),
            got == expected,
            format_args!("{}; the cell runs on", vector_name(got)),
        );
    }
    let got = USER_RESULTS[7].load(Relaxed);
    attempt(
        "52.10",
        format_args!("xsetbv 0x3 at cpl 3"),
        got == 14,
        format_args!("{}", vector_name(got)),
    );
}

// --- 57, 51.2, 51.3: real mode and compatibility mode ----------------------

fn real_mode() {
    let refused_before = counter(counters::INSN_REFUSED).unwrap_or(0);
    let results = crate::realmode::run();
    let refused_after = counter(counters::INSN_REFUSED).unwrap_or(0);
    println!(
        "intruder: back from real mode: vectors {:?}, insn-refused {refused_before} -> {refused_after}",
        results.vectors
    );
    let names = [
        ("57.1", "rdmsr 0x3a in real mode", 13),
        ("57.2", "xsetbv 0 in real mode", 13),
        ("57.3", "set cr4.vmxe in real mode", 13),
        ("57.4", "invd in real mode", 6),
    ];
    for ((id, what, expected), got) in names.into_iter().zip(results.vectors) {
        attempt(
            id,
            format_args!("{what}"),
            got == expected,
            format_args!("vector {got} without an error code; the cell runs on"),
        );
    }
    attempt(
        "51.2",
        format_args!("vmcall psci_version in real mode"),
        results.vmcall_real == 0x1_0001,
        format_args!("{:#x}", results.vmcall_real),
    );
    attempt(
        "51.3",
        format_args!("vmcall psci_version in compatibility mode"),
        results.vmcall_compat == 0x1_0001,
        format_args!("{:#x}", results.vmcall_compat),
    );
}

// --- 54: MSRs --------------------------------------------------------------

/// MSRs a cell reads directly (docs/x86.md): the read-write allow-list,
/// then the read-only ones.
const READ_WRITE: [u32; 22] = [
    0x174,
    0x175,
    0x176,
    0x277,
    0x6e0,
    0x808,
    0x80b,
    0x80f,
    0x832,
    0x837,
    0x838,
    0x83e,
    0x83f,
    0xc000_0080,
    0xc000_0081,
    0xc000_0082,
    0xc000_0083,
    0xc000_0084,
    0xc000_0100,
    0xc000_0101,
    0xc000_0102,
    0xc000_0103,
];

/// `IA32_SPEC_CTRL`, readable where CPUID advertises it.
const SPEC_CTRL: u32 = 0x48;

fn readable(msr: u32, spec_ctrl: bool) -> bool {
    READ_WRITE.contains(&msr)
        || msr == 0x10
        || msr == 0x1b
        || (0x800..=0x83f).contains(&msr)
        || (spec_ctrl && msr == SPEC_CTRL)
}

fn msr_sweep() {
    let edx7 = if rt::cpuid(0, 0).eax >= 7 {
        rt::cpuid(7, 0).edx
    } else {
        0
    };
    let spec_ctrl = edx7 & (1 << 26 | 1 << 27 | 1 << 31) != 0;
    let pred_cmd = edx7 & (1 << 26) != 0;
    let flush_cmd = edx7 & (1 << 28) != 0;
    // F11/F5f: the speculation MSRs work exactly when advertised.
    let read = rt::try_rdmsr(SPEC_CTRL);
    attempt(
        "54.1",
        format_args!("rdmsr ia32_spec_ctrl"),
        read.is_ok() == spec_ctrl,
        format_args!(
            "advertised {spec_ctrl}: {}",
            if read.is_ok() { "read" } else { "#GP" }
        ),
    );
    // SAFETY: an IBPB and an L1D flush only cost time, and only if the
    // CPU has them (else #GP).
    let (pred, flush) = unsafe { (rt::try_wrmsr(0x49, 1), rt::try_wrmsr(0x10b, 1)) };
    attempt(
        "54.2",
        format_args!("wrmsr ia32_pred_cmd, ia32_flush_cmd"),
        pred.is_ok() == pred_cmd && flush.is_ok() == flush_cmd,
        format_args!(
            "advertised {pred_cmd}/{flush_cmd}: {}/{}",
            if pred.is_ok() { "written" } else { "#GP" },
            if flush.is_ok() { "written" } else { "#GP" }
        ),
    );
    // SAFETY: RDPMC of counter 0 reads a number (or faults).
    let rdpmc = unsafe {
        rt::try_insn!("rdpmc"; in("ecx") 0u32, out("eax") _, out("edx") _, options(nostack))
    };
    attempt(
        "54.3",
        format_args!("rdpmc 0"),
        raised(rdpmc, Fault::GP),
        format_args!("{}", Outcome(rdpmc)),
    );
    // SAFETY: the TSC write is refused (#GP) by the policy.
    let tsc = unsafe { rt::try_wrmsr(0x10, 0) };
    attempt(
        "54.4",
        format_args!("wrmsr ia32_tsc"),
        tsc.is_err(),
        format_args!("{}", if tsc.is_ok() { "written" } else { "#GP" }),
    );
    let before = counter(counters::MSR_REFUSED).unwrap_or(0);
    let ranges = [(0u32, 0x2000u32), (0xc000_0000, 0xc000_2000)];
    let extra = [
        0x2000u32,
        0x4000_0000,
        0x4000_0100,
        0xc001_0000,
        0xc001_0114,
        0xffff_ffff,
    ];
    let mut reads = 0u64;
    let mut read_ok = 0u64;
    let mut foreign_ok = 0u64;
    let mut first_foreign = None;
    let all = ranges
        .iter()
        .flat_map(|&(a, b)| a..b)
        .chain(extra.iter().copied());
    for msr in all.clone() {
        reads += 1;
        if rt::try_rdmsr(msr).is_ok() {
            read_ok += 1;
            if !readable(msr, spec_ctrl) {
                foreign_ok += 1;
                first_foreign.get_or_insert(msr);
            }
        }
    }
    attempt(
        "54.5",
        format_args!("rdmsr sweep 0..0x2000, 0xc0000000..0xc0002000 and 6 more"),
        foreign_ok == 0,
        format_args!(
            "{reads} reads, {read_ok} read (all allowed: {}), first other {:#x}",
            foreign_ok == 0,
            first_foreign.unwrap_or(0)
        ),
    );
    let mut writes = 0u64;
    let mut written = 0u64;
    for msr in all {
        if readable(msr, spec_ctrl) || msr == 0x49 || msr == 0x10b || msr == 0x830 {
            continue;
        }
        writes += 1;
        // SAFETY: every MSR here is outside the allow-list: the write
        // exits and is refused (#GP) without reaching the MSR.
        if unsafe { rt::try_wrmsr(msr, 0) }.is_ok() {
            written += 1;
        }
    }
    let after = counter(counters::MSR_REFUSED).unwrap_or(0);
    attempt(
        "54.6",
        format_args!("wrmsr 0 sweep outside the allow-list"),
        written == 0,
        format_args!("{writes} writes, {written} taken; msr-refused {before} -> {after}"),
    );
}

/// An XSAVE's outcome, for attempt lines.
struct Saved(Result<u64, Fault>);

impl core::fmt::Display for Saved {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(bv) => write!(f, "ok, xstate_bv {bv:#x}"),
            Err(fault) => write!(f, "{fault}"),
        }
    }
}
