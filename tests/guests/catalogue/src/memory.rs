//! Catalogue 4.1: memory (attempts 1-7, 9, 11).
//!
//! Addresses are those of `tests/configs/qemu/catalogue-contain.toml`:
//! own RAM at IPA 0x4000_0000 (16 MiB), a read-only region at 0x5000_0000,
//! a non-executable one at 0x5010_0000, a read-only channel end at
//! 0x5020_0000, the GPIO passed through at 0x0903_0000. The guest runs with
//! its MMU off (every access is Device-nGnRnE) except inside `mmu`.

use core::arch::asm;

use rt::{
    Fault, RAM_BASE, probe, probe_exec, probe_read, probe_read32, probe_write, probe_write32,
};

use crate::attempt::{
    Id, expect_external_abort, expect_fault, expect_ok, expect_write_fault, report,
};
use crate::mmu;

/// Own RAM size in the config.
pub(crate) const OWN_RAM_SIZE: u64 = 16 << 20;
/// Other cells' RAM, as IPAs (their host addresses, unmapped here).
const FOREIGN: [(&str, u64); 3] = [
    ("victim's host RAM", 0x4100_0000),
    ("witness's host RAM", 0x4200_0000),
    ("own read-only region's host RAM", 0x4400_0000),
];
/// The read-only RAM region.
pub(crate) const READ_ONLY: u64 = 0x5000_0000;
/// The non-executable RAM region (read-write).
pub(crate) const NO_EXEC: u64 = 0x5010_0000;
/// The read-only end of a channel.
pub(crate) const CHANNEL: u64 = 0x5020_0000;
/// The GPIO window passed through to this cell.
pub(crate) const GPIO: u64 = 0x0903_0000;
/// The virtual GIC distributor and the virtual console (emulated).
pub(crate) const GICD: u64 = 0x0800_0000;
pub(crate) const UART: u64 = 0x0900_0000;
/// A scratch page in own RAM (the image is at 0x4020_0000).
const SCRATCH: u64 = RAM_BASE + 0x10_0000;
/// `ret`.
const RET: u32 = 0xd65f_03c0;
/// The first instruction of `rt`'s `_start`, `mrs x21, cntvct_el0`: the
/// word at this cell's image base.
const OWN_FIRST_INSTRUCTION: u32 = 0xd53b_e055;
/// The hypervisor's host memory starts where this cell's image is linked.
const HYPERVISOR_HPA: u64 = 0x4020_0000;
/// A marker written into own memory.
const MARK: u64 = 0x5afe_c0de_0bad_f00d;

pub(crate) fn run() {
    other_cells_ram();
    own_boundary();
    read_only();
    no_exec();
    mmu::stage1_walks();
    mmu::cache_maintenance();
    not_emulatable();
    ipa_limit();
    hypervisor_hpa();
}

/// 1: read and write other cells' RAM through IPAs outside the own map.
fn other_cells_ram() {
    for (k, (what, addr)) in FOREIGN.iter().enumerate() {
        let id = Id(1, 2 * k + 1);
        expect_external_abort(id, format_args!("read {what} {addr:#x}"), probe_read(*addr));
        let id = Id(1, 2 * k + 2);
        // SAFETY: not this program's memory (outside its RAM window).
        let result = unsafe { probe_write(*addr, MARK) };
        expect_write_fault(id, format_args!("write {what} {addr:#x}"), result);
    }
}

/// 2: the last 8 bytes of own RAM are usable, the first byte after is not,
/// and an 8-byte store straddling the end writes nothing.
fn own_boundary() {
    let last = RAM_BASE + OWN_RAM_SIZE - 8;
    // SAFETY: own RAM, unused by the image and its stacks (far below).
    let wrote = unsafe { probe_write(last, MARK) };
    expect_ok(
        Id(2, 1),
        format_args!("write own last 8 bytes {last:#x}"),
        wrote.map(|()| MARK),
    );
    expect_ok(
        Id(2, 2),
        format_args!("read own last 8 bytes {last:#x}"),
        probe_read(last),
    );
    let end = RAM_BASE + OWN_RAM_SIZE;
    expect_external_abort(
        Id(2, 3),
        format_args!("read first byte past own RAM {end:#x}"),
        probe_read(end),
    );
    let straddle = end - 4;
    // SAFETY: half own RAM (the marker word), half outside.
    let result = unsafe { probe_write(straddle, 0) };
    let after = probe_read(last).unwrap_or(0);
    let what = format_args!("8-byte store straddling the end {straddle:#x}");
    match result {
        Err(fault) if after == MARK => report(
            Id(2, 4),
            what,
            true,
            format_args!("{fault}, no partial write"),
        ),
        Err(fault) => report(
            Id(2, 4),
            what,
            false,
            format_args!("{fault}, partial write {after:#x}"),
        ),
        Ok(()) => report(Id(2, 4), what, false, format_args!("written")),
    }
}

/// 3: a read-only region and a read-only channel end: reads work, writes
/// fault and change nothing.
fn read_only() {
    for (k, (what, addr)) in [
        ("read-only region", READ_ONLY),
        ("read-only channel end", CHANNEL),
    ]
    .into_iter()
    .enumerate()
    {
        let before = probe_read(addr);
        let id = Id(3, 2 * k + 1);
        expect_ok(id, format_args!("read {what} {addr:#x}"), before);
        // SAFETY: not this program's memory.
        let result = unsafe { probe_write(addr, !before.unwrap_or(0)) };
        let after = probe_read(addr);
        let id = Id(3, 2 * k + 2);
        let what = format_args!("write {what} {addr:#x}");
        match (result, before, after) {
            (Err(fault), Ok(b), Ok(a)) if a == b => {
                report(id, what, true, format_args!("{fault}, unchanged"))
            }
            (Err(fault), ..) => report(id, what, false, format_args!("{fault}, changed")),
            (Ok(()), ..) => report(id, what, false, format_args!("written")),
        }
    }
}

/// 4: executing from a non-executable region, a channel and a device
/// window faults; a `ret` in own RAM runs (the control).
fn no_exec() {
    // SAFETY: own scratch RAM and the read-write non-executable region.
    unsafe {
        let _ = probe_write32(SCRATCH, RET);
        let _ = probe_write32(NO_EXEC, RET);
    }
    // SAFETY: a `ret` in own RAM.
    let own = unsafe { probe_exec(SCRATCH) };
    expect_ok(
        Id(4, 1),
        format_args!("execute ret in own RAM {SCRATCH:#x}"),
        own.map(|()| 0u8),
    );
    for (k, (what, addr)) in [
        ("non-executable region", NO_EXEC),
        ("read-only channel end", CHANNEL),
        ("device window", GPIO),
    ]
    .into_iter()
    .enumerate()
    {
        let id = Id(4, k + 2);
        // SAFETY: if it ran, it is a `ret` (region) or faults (others).
        let result = unsafe { probe_exec(addr) };
        expect_fault(
            id,
            format_args!("execute {what} {addr:#x}"),
            result.map(|()| 0u8),
        );
    }
}

/// 7: accesses to emulated devices that no syndrome describes (pair,
/// writeback, SIMD, exclusive) are refused, and leave registers alone.
fn not_emulatable() {
    const SENTINEL: u64 = 0x1357_9bdf_2468_ace0;
    let mut k = 0;
    for (device, base) in [("virtual GICD", GICD), ("virtual UART", UART)] {
        // LDP: both destination registers keep their values.
        let (mut a, mut b) = (SENTINEL, !SENTINEL);
        // SAFETY: a lone load in an asm block clobbering the C ABI; a
        // faulting load is skipped.
        let result = unsafe {
            probe(|| {
                asm!("ldp x2, x3, [x4]", inout("x2") a, inout("x3") b, in("x4") base,
                    options(nostack), clobber_abi("C"));
            })
        };
        k += 1;
        judge_untouched(k, device, "ldp", result, a == SENTINEL && b == !SENTINEL);
        // STP.
        // SAFETY: as above (a store to an emulated device, skipped).
        let result = unsafe {
            probe(|| {
                asm!("stp x2, x3, [x4]", in("x2") 1u64, in("x3") 2u64, in("x4") base,
                    options(nostack), clobber_abi("C"));
            })
        };
        k += 1;
        judge_untouched(k, device, "stp", result, true);
        // Post-index writeback: the base register keeps its value.
        let mut address = base;
        let mut value = SENTINEL;
        // SAFETY: as above.
        let result = unsafe {
            probe(|| {
                asm!("ldr w2, [x3], #4", inout("x2") value, inout("x3") address,
                    options(nostack), clobber_abi("C"));
            })
        };
        k += 1;
        judge_untouched(
            k,
            device,
            "ldr post-index",
            result,
            address == base && value == SENTINEL,
        );
        // SIMD: a 128-bit load.
        // SAFETY: as above; the vector register is declared clobbered.
        let result = unsafe {
            probe(|| {
                asm!("ldr q0, [x4]", in("x4") base, out("v0") _, options(nostack),
                    clobber_abi("C"));
            })
        };
        k += 1;
        judge_untouched(k, device, "ldr q0", result, true);
        // Exclusive load.
        let mut value = SENTINEL;
        // SAFETY: as above.
        let result = unsafe {
            probe(|| {
                asm!("ldxr x2, [x4]", inout("x2") value, in("x4") base,
                    options(nostack), clobber_abi("C"));
            })
        };
        k += 1;
        judge_untouched(k, device, "ldxr", result, value == SENTINEL);
    }
}

fn judge_untouched(k: usize, device: &str, form: &str, result: Result<(), Fault>, untouched: bool) {
    let id = Id(7, k);
    let what = format_args!("{form} on the {device}");
    match result {
        Err(fault) if untouched => {
            report(id, what, true, format_args!("{fault}, registers untouched"))
        }
        Err(fault) => report(id, what, false, format_args!("{fault}, registers changed")),
        Ok(()) => report(id, what, false, format_args!("emulated")),
    }
}

/// 9: addresses at and beyond the stage-2 input size (39 bits).
fn ipa_limit() {
    for (k, addr) in [(1u64 << 39) - 8, 1 << 39, 1 << 40].into_iter().enumerate() {
        let id = Id(9, k + 1);
        expect_fault(id, format_args!("read {addr:#x}"), probe_read(addr));
    }
}

/// 11: this cell's RAM covers the IPA range equal to the hypervisor's host
/// address: it reads this cell's own image there, never the hypervisor.
fn hypervisor_hpa() {
    let word = probe_read32(HYPERVISOR_HPA);
    let what = format_args!("read IPA {HYPERVISOR_HPA:#x} (the hypervisor's host address)");
    match word {
        Ok(OWN_FIRST_INSTRUCTION) => report(Id(11, 1), what, true, format_args!("own image")),
        Ok(other) => report(Id(11, 1), what, false, format_args!("read {other:#x}")),
        Err(fault) => report(Id(11, 1), what, false, format_args!("{fault}")),
    }
}
