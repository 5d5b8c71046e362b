//! Group 8, guest-driven fuzzing (issue 13, deliverable 4, on x86): seeded
//! random sequences of what a guest can ask of the hypervisor under VT-x.
//! Each operation is one of: a `VMCALL` with a random or near-known
//! function id and random arguments (now and then from CPL 3); a `CPUID`
//! of a random leaf and subleaf; an `RDMSR` or `WRMSR` of a random MSR
//! (near the ranges the hypervisor knows, or anywhere); port I/O in every
//! width, single or string, at a random port; an `XSETBV` of a random
//! value; a write to CR0, CR4 or CR8 flipping random bits (CR0 and CR4 are
//! restored right after); a VMX or other exiting instruction with random
//! operands; a read or write of a random address outside the cell's RAM.
//! The fuzzer survives its own faults (policy `inject`, and its probes);
//! what must hold is that the hypervisor and every other cell keep running
//! unaffected (`cargo xtask fuzz --machine bochs` checks).
//!
//! It never asks for what would stop it or break its own footing:
//! `CPU_OFF`, `SYSTEM_OFF`, `SYSTEM_RESET`, `CPU_ON` (random code), writes
//! to the MSRs the hypervisor passes through (its own `EFER`, segment
//! bases, system-call and local-APIC set-up: they cause no exit, so they
//! test nothing of the hypervisor), CR4.SMEP/SMAP (its pages are user
//! pages), `HLT`/`MWAIT` with interrupts off, or writes to its own virtual
//! UART's data register (garbage on its console line).
//!
//! Boot argument: the seed in bits 63:32, the number of operations in
//! 31:8 (0: for ever), the group (8) in 7:0. Lines, through `CONSOLE_WRITE`
//! (as on AArch64): `fuzz: seed S, N ops (0: for ever)`, every 2,000
//! operations `fuzz: N ops, F faults`, and at the end `fuzz: done seed S:
//! N ops (C calls, P ports, M msrs, R crs), F faults`, after which the
//! cell writes `DONE` to the status channel and powers off.

use core::fmt::Write as _;

use rt::{Fault, LineBuf, Rng};

/// Its RAM: 4 MiB from guest-physical 0.
const RAM_END: u64 = 0x40_0000;
/// The status channel's page (see `common`), and the 8 bytes before it
/// (a wide access there reaches into it): never a random target.
const STATUS_PAGE: core::ops::Range<u64> = 0x1000_0000 - 8..0x1000_1000;
/// The identity map of the runtime covers the first 4 GiB.
const MAPPED_END: u64 = 1 << 32;

/// CR4 bits the fuzzer may flip: everything but SMEP (20) and SMAP (21),
/// whose effect on its own user-accessible pages it would not survive.
const CR4_FLIPPABLE: u64 = !((1 << 20) | (1 << 21));

/// A random single bit of 64, or (one time in four) of the low 32.
fn random_bit(rng: &mut Rng) -> u64 {
    if rng.below(4) == 0 {
        1 << rng.below(64)
    } else {
        1 << rng.below(32)
    }
}

/// What a run did.
#[derive(Default)]
struct Tally {
    ops: u64,
    faults: u64,
    calls: u64,
    ports: u64,
    msrs: u64,
    crs: u64,
}

/// A line through the hypervisor's `CONSOLE_WRITE` (not COM1: the fuzzer
/// may have set its virtual UART's divisor latch or loopback).
fn say(args: core::fmt::Arguments<'_>) {
    let mut line = LineBuf::<160>::new();
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    let bytes = line.as_bytes();
    // SAFETY: CONSOLE_WRITE only reads the buffer, which is this
    // program's own memory.
    unsafe {
        rt::hypercall(
            rt::HC_CONSOLE_WRITE,
            bytes.as_ptr() as u64,
            bytes.len() as u64,
            0,
        )
    };
}

/// Runs `ops` operations (0: for ever) from `seed`, then says it is done.
pub(crate) fn run() -> ! {
    let arg = rt::boot_arg();
    let seed = arg >> 32;
    let ops = (arg >> 8) & 0xff_ffff;
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    say(format_args!(
        "fuzz: seed {seed:#x}, {ops} ops (0: for ever)"
    ));
    while ops == 0 || tally.ops < ops {
        let outcome = match rng.below(16) {
            0..=2 => {
                tally.calls += 1;
                call(&mut rng)
            }
            3 => {
                tally.calls += 1;
                user_call(&mut rng)
            }
            4 => cpuid(&mut rng),
            5 | 6 => {
                tally.msrs += 1;
                msr(&mut rng)
            }
            7 | 8 => {
                tally.ports += 1;
                port(&mut rng)
            }
            9 => xsetbv(&mut rng),
            10 | 11 => {
                tally.crs += 1;
                control_register(&mut rng)
            }
            12 | 13 => instruction(&mut rng),
            _ => foreign(&mut rng),
        };
        tally.ops += 1;
        tally.faults += u64::from(outcome.is_err());
        if tally.ops % 2_000 == 0 {
            say(format_args!(
                "fuzz: {} ops, {} faults",
                tally.ops, tally.faults
            ));
        }
    }
    say(format_args!(
        "fuzz: done seed {seed:#x}: {} ops ({} calls, {} ports, {} msrs, {} crs), {} faults",
        tally.ops, tally.calls, tally.ports, tally.msrs, tally.crs, tally.faults
    ));
    crate::common::done("fuzz")
}

/// A function id: random, or near one the hypervisor knows (PSCI 32- and
/// 64-bit, Bulkhead's own, the vendor hypervisor range), with junk in the
/// upper half now and then.
fn function_id(rng: &mut Rng) -> u64 {
    let low = rng.bits() as u32;
    let id = match rng.below(8) {
        0 => 0x8400_0000 | (low & 0x1f),
        1 => 0xc400_0000 | (low & 0x1f),
        2 => 0xc600_0000 | (low & 0xf),
        3 => 0xc600_ff00 | (low & 0xf),
        4 => 0x8600_ff00 | (low & 0xf),
        5 => 0x8000_0000 | (low & 0xffff),
        6 => 0xc600_0000 | (low & 0xffff),
        _ => low,
    };
    if rng.below(8) == 0 {
        rng.bits() & !0xffff_ffff | u64::from(id)
    } else {
        u64::from(id)
    }
}

/// Whether `id` would stop the fuzzer or start code it does not control:
/// `CPU_OFF`, `CPU_ON`, `SYSTEM_OFF`, `SYSTEM_RESET`, `SYSTEM_RESET2` (the
/// hypervisor reads the low 32 bits).
fn stops_the_fuzzer(id: u64) -> bool {
    matches!(
        id as u32 & !0x4000_0000,
        0x8400_0002 | 0x8400_0003 | 0x8400_0008 | 0x8400_0009 | 0x8400_0012
    )
}

/// A `VMCALL` with a random id and arguments.
fn call(rng: &mut Rng) -> Result<(), Fault> {
    let id = function_id(rng);
    if stops_the_fuzzer(id) {
        return Ok(());
    }
    let mut args = [rng.bits(), rng.bits(), rng.bits()];
    // CONSOLE_WRITE: short, so the console is not flooded with garbage;
    // the buffer anywhere.
    if id as u32 == rt::HC_CONSOLE_WRITE {
        args[1] &= 0x3f;
    }
    // SAFETY: no id that starts code or stops this cell is used; the
    // others touch no memory of this program (CONSOLE_WRITE only reads).
    unsafe {
        rt::try_insn!(
            "vmcall";
            inout("rax") id => _,
            inout("rdi") args[0] => _,
            inout("rsi") args[1] => _,
            inout("rdx") args[2] => _,
            options(nostack)
        )
    }
}

/// What [`user_op`] does at CPL 3, by the low bits of its argument.
extern "C" fn user_op(arg: u64) {
    let id = arg >> 8 | 0x8000_0000;
    // SAFETY: every one of these exits or faults at CPL 3 (the hypervisor
    // must answer a VMCALL from CPL 3 with #UD, and a VMX instruction
    // too); the probe records it.
    let _ = unsafe {
        match arg & 3 {
            0 => rt::try_insn!("vmcall"; inout("rax") id => _, options(nostack)),
            1 => rt::try_insn!("vmxoff"; options(nostack)),
            2 => {
                // (`CPUID` writes RBX, which inline assembly cannot name.)
                let _ = rt::cpuid((arg >> 8) as u32, (arg >> 40) as u32);
                Ok(())
            }
            _ => rt::try_insn!(
                "rdmsr";
                in("ecx") (arg >> 8) as u32,
                out("eax") _,
                out("edx") _,
                options(nostack)
            ),
        }
    };
}

/// A `VMCALL`, `VMXOFF`, `CPUID` or `RDMSR` from CPL 3.
fn user_call(rng: &mut Rng) -> Result<(), Fault> {
    let mut id = function_id(rng);
    if stops_the_fuzzer(id) {
        id = 0;
    }
    rt::run_user(user_op, id << 8 | rng.below(4));
    // The probe ran (and was read) at CPL 3; whatever it raised, the
    // cell is back at CPL 0.
    Ok(())
}

/// A `CPUID` of a random leaf: basic, hypervisor, extended or anywhere.
fn cpuid(rng: &mut Rng) -> Result<(), Fault> {
    let low = rng.bits() as u32;
    let leaf = match rng.below(4) {
        0 => low & 0x1f,
        1 => 0x4000_0000 | (low & 0xff),
        2 => 0x8000_0000 | (low & 0x1f),
        _ => low,
    };
    let subleaf = if rng.below(2) == 0 {
        (rng.bits() & 3) as u32
    } else {
        rng.bits() as u32
    };
    // (`rt::cpuid`: the instruction writes RBX, which inline assembly
    // cannot name; it never faults.)
    let _ = rt::cpuid(leaf, subleaf);
    Ok(())
}

/// MSRs whose writes do not exit (`PASS_THROUGH` of the hypervisor's
/// MSR bitmap) and that this program relies on, or whose writes would
/// only test the CPU: never written.
fn passed_through(msr: u32) -> bool {
    matches!(
        msr,
        0x174..=0x176 | 0x277 | 0x6e0 | 0x808 | 0x80b | 0x80f | 0x832 | 0x837 | 0x838
            | 0x83e | 0x83f | 0xc000_0080..=0xc000_0084 | 0xc000_0100..=0xc000_0103
    )
}

/// An `RDMSR` or `WRMSR` of an MSR near a known range, or anywhere.
fn msr(rng: &mut Rng) -> Result<(), Fault> {
    let low = rng.bits() as u32;
    let msr = match rng.below(6) {
        0 => low & 0x1ff,
        1 => 0x800 | (low & 0xff),
        2 => 0xc000_0080 | (low & 0x7f),
        3 => 0xc000_0100 | (low & 0xff),
        4 => 0x4000_0000 | (low & 0xff),
        _ => low,
    };
    if rng.below(2) == 0 {
        return rt::try_rdmsr(msr).map(|_| ()).map_err(|_| Fault {
            vector: Fault::GP,
            error: 0,
        });
    }
    if passed_through(msr) {
        return Ok(());
    }
    let value = match rng.below(3) {
        0 => rng.bits(),
        1 => rng.bits() & 0xffff_ffff,
        _ => random_bit(rng),
    };
    // SAFETY: not an MSR this program relies on (see `passed_through`):
    // a write the hypervisor traps (and refuses, or keeps inside the
    // cell: an ICR write reaches at most this cell's own vCPU, whose
    // interrupts stay off).
    unsafe { rt::try_wrmsr(msr, value) }.map_err(|_| Fault {
        vector: Fault::GP,
        error: 0,
    })
}

/// A scratch buffer for string I/O.
static mut SCRATCH: [u8; 64] = [0; 64];

/// Port I/O: `IN`/`OUT` in each width, or `INS`/`OUTS` with a short
/// `REP` count, at a port near a legacy device, a shutdown or PCI port,
/// the virtual COM1 (reads and harmless registers only), or anywhere.
fn port(rng: &mut Rng) -> Result<(), Fault> {
    let low = rng.bits() as u16;
    let port = match rng.below(6) {
        0 => low & 0xff,
        1 => [0x604, 0xb004, 0x8900, 0x4004, 0xcf8, 0xcf9, 0xcfc, 0x92][(low % 8) as usize],
        2 => 0x3f8 | (low & 7),
        3 => 0x2f8 | (low & 7),
        _ => low,
    };
    let value = rng.bits() as u32;
    let count = 1 + rng.below(8);
    let buffer = (&raw mut SCRATCH) as u64;
    let mut kind = rng.below(8);
    // COM1 (this cell's virtual UART): no writes to THR/DLL, LCR or MCR,
    // which would garble or silence its console.
    if (0x3f8..0x400).contains(&port) && kind >= 3 && !matches!(port & 7, 1 | 2 | 7) {
        kind = 0;
    }
    // SAFETY: the ports are not this program's (or are its virtual UART's
    // registers, as filtered above); string forms read or write at most
    // 8 x 4 bytes of its own scratch buffer.
    unsafe {
        match kind {
            0 => rt::try_insn!("in al, dx"; in("dx") port, out("al") _, options(nostack)),
            1 => rt::try_insn!("in ax, dx"; in("dx") port, out("ax") _, options(nostack)),
            2 => rt::try_insn!("in eax, dx"; in("dx") port, out("eax") _, options(nostack)),
            3 => rt::try_insn!("out dx, al"; in("dx") port, in("al") value as u8, options(nostack)),
            4 => {
                rt::try_insn!("out dx, ax"; in("dx") port, in("ax") value as u16, options(nostack))
            }
            5 => rt::try_insn!("out dx, eax"; in("dx") port, in("eax") value, options(nostack)),
            6 => rt::try_insn!(
                "rep insd";
                in("dx") port,
                inout("rdi") buffer => _,
                inout("rcx") count => _,
                options(nostack)
            ),
            _ => rt::try_insn!(
                "rep outsb";
                in("dx") port,
                inout("rsi") buffer => _,
                inout("rcx") count => _,
                options(nostack)
            ),
        }
    }
}

fn read_cr(which: u64) -> u64 {
    let value: u64;
    // SAFETY: reading a control register has no effect.
    unsafe {
        match which {
            0 => core::arch::asm!("mov {}, cr0", out(reg) value, options(nomem, nostack)),
            _ => core::arch::asm!("mov {}, cr4", out(reg) value, options(nomem, nostack)),
        }
    }
    value
}

/// `XSETBV` of a random value to XCR0 (or another XCR), after setting
/// CR4.OSXSAVE one time in two (without it: `#UD`).
fn xsetbv(rng: &mut Rng) -> Result<(), Fault> {
    let cr4 = read_cr(4);
    if rng.below(2) == 0 {
        // SAFETY: OSXSAVE only enables XSAVE and XGETBV/XSETBV; a #GP
        // (no XSAVE) is recorded.
        let _ =
            unsafe { rt::try_insn!("mov cr4, {v}"; v = in(reg) cr4 | 1 << 18, options(nostack)) };
    }
    let index = if rng.below(4) == 0 {
        rng.bits() as u32
    } else {
        0
    };
    let value = match rng.below(3) {
        0 => rng.bits(),
        1 => rng.bits() & 0xff,
        _ => [1, 3, 7, 0xe7, 0][rng.below(5) as usize],
    };
    // SAFETY: this program is soft-float: no XCR0 value changes what it
    // computes; a refused value is #GP, a missing OSXSAVE #UD.
    unsafe {
        rt::try_insn!(
            "xsetbv";
            in("ecx") index,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack)
        )
    }
}

/// A write to CR0 or CR4 with a random bit (or two) flipped, restored at
/// once; or a write of a random priority to CR8.
fn control_register(rng: &mut Rng) -> Result<(), Fault> {
    match rng.below(5) {
        0 | 1 => {
            let cr0 = read_cr(0);
            let flipped = cr0
                ^ random_bit(rng)
                ^ if rng.below(4) == 0 {
                    random_bit(rng)
                } else {
                    0
                };
            // SAFETY: restored right after; a value that would turn off
            // paging or protection in long mode raises #GP instead.
            let outcome =
                unsafe { rt::try_insn!("mov cr0, {v}"; v = in(reg) flipped, options(nostack)) };
            // SAFETY: the value it had.
            unsafe { core::arch::asm!("mov cr0, {}", in(reg) cr0, options(nostack)) };
            outcome
        }
        2 | 3 => {
            let cr4 = read_cr(4);
            let flipped = cr4 ^ (random_bit(rng) & CR4_FLIPPABLE);
            // SAFETY: restored right after; not SMEP or SMAP; a value
            // long mode forbids (PAE off, LA57 changed) raises #GP, VMXE
            // is refused by the hypervisor (#GP).
            let outcome =
                unsafe { rt::try_insn!("mov cr4, {v}"; v = in(reg) flipped, options(nostack)) };
            // SAFETY: the value it had.
            unsafe { core::arch::asm!("mov cr4, {}", in(reg) cr4, options(nostack)) };
            outcome
        }
        _ => {
            let value = if rng.below(2) == 0 {
                rng.below(16)
            } else {
                rng.bits()
            };
            // SAFETY: the task priority only masks interrupts, which are
            // off; a reserved bit raises #GP.
            let outcome =
                unsafe { rt::try_insn!("mov cr8, {v}"; v = in(reg) value, options(nostack)) };
            // SAFETY: back to accepting every priority.
            unsafe { core::arch::asm!("mov cr8, {}", in(reg) 0u64, options(nostack)) };
            outcome
        }
    }
}

#[repr(C, align(4096))]
struct Region([u8; 4096]);

/// The memory operand of the VMX instructions.
static mut REGION: Region = Region([0; 4096]);

/// A VMX instruction (each must be `#UD` in a cell), or another one that
/// exits or is emulated, with random operands.
fn instruction(rng: &mut Rng) -> Result<(), Fault> {
    let region = (&raw mut REGION) as u64;
    let field = rng.bits();
    let value = rng.bits();
    let low = rng.bits() as u32;
    // SAFETY: none of these changes this program's memory but its own
    // region (VMPTRST) or its flow (they exit, or fault, or are no-ops in
    // a cell: INVLPG of a random address only drops a translation).
    unsafe {
        match rng.below(16) {
            0 => rt::try_insn!("vmxon [{p}]"; p = in(reg) region, options(nostack)),
            1 => rt::try_insn!("vmclear [{p}]"; p = in(reg) region, options(nostack)),
            2 => rt::try_insn!("vmptrld [{p}]"; p = in(reg) region, options(nostack)),
            3 => rt::try_insn!("vmptrst [{p}]"; p = in(reg) region, options(nostack)),
            4 => {
                rt::try_insn!("vmread {v}, {f}"; f = in(reg) field, v = out(reg) _, options(nostack))
            }
            5 => {
                rt::try_insn!("vmwrite {f}, {v}"; f = in(reg) field, v = in(reg) value, options(nostack))
            }
            6 => rt::try_insn!("vmlaunch"; options(nostack)),
            7 => rt::try_insn!("vmresume"; options(nostack)),
            8 => {
                rt::try_insn!("invept {t}, [{p}]"; t = in(reg) field & 3, p = in(reg) region, options(nostack))
            }
            9 => {
                rt::try_insn!("invvpid {t}, [{p}]"; t = in(reg) field & 3, p = in(reg) region, options(nostack))
            }
            10 => {
                rt::try_insn!("vmfunc"; inout("eax") low => _, inout("ecx") (value as u32) => _, options(nostack))
            }
            11 => rt::try_insn!("getsec"; inout("eax") low & 0xf => _, options(nostack)),
            12 => {
                rt::try_insn!("rdpmc"; in("ecx") low, out("eax") _, out("edx") _, options(nostack))
            }
            13 => {
                rt::try_insn!("rdtscp"; out("eax") _, out("edx") _, out("ecx") _, options(nostack))
            }
            14 => rt::try_insn!("wbinvd"; options(nostack)),
            _ => rt::try_insn!("invlpg [{a}]"; a = in(reg) value, options(nostack)),
        }
    }
}

/// A read or write, of a random width, of a random address outside the
/// cell's RAM (and the status channel) inside the identity map: devices
/// the cell lacks (the I/O APIC, the xAPIC page, the HPET), other cells'
/// RAM as guest addresses, holes.
fn foreign(rng: &mut Rng) -> Result<(), Fault> {
    let address = loop {
        let candidate = match rng.below(4) {
            0 => 0xfec0_0000 + rng.below(0x40_0000),
            1 => RAM_END + rng.below(0x1000_0000 - RAM_END),
            _ => rng.below(MAPPED_END),
        };
        if candidate >= RAM_END && !STATUS_PAGE.contains(&candidate) {
            break candidate;
        }
    };
    let value = rng.bits();
    // SAFETY: not this cell's RAM nor the status channel: the hypervisor
    // must refuse the access (an injected fault, which the probe records)
    // or it reaches nothing of this program.
    unsafe {
        match rng.below(6) {
            0 => {
                rt::try_insn!("mov {v:l}, byte ptr [{a}]"; a = in(reg) address, v = out(reg) _, options(nostack))
            }
            1 => {
                rt::try_insn!("mov {v:e}, dword ptr [{a}]"; a = in(reg) address, v = out(reg) _, options(nostack))
            }
            2 => {
                rt::try_insn!("mov {v}, qword ptr [{a}]"; a = in(reg) address, v = out(reg) _, options(nostack))
            }
            3 => {
                rt::try_insn!("mov byte ptr [{a}], {v:l}"; a = in(reg) address, v = in(reg) value, options(nostack))
            }
            4 => {
                rt::try_insn!("mov dword ptr [{a}], {v:e}"; a = in(reg) address, v = in(reg) value, options(nostack))
            }
            _ => {
                rt::try_insn!("lock xadd qword ptr [{a}], {v}"; a = in(reg) address, v = inout(reg) value => _, options(nostack))
            }
        }
    }
}
