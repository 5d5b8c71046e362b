//! Catalogue 4.1 attempts that need this guest's own stage 1: table walks
//! into addresses its stage 2 does not map (5) and cache maintenance or
//! address translation on foreign or emulated addresses (6).
//!
//! The guest turns its MMU on for these attempts only, with an identity
//! map from three level-1 entries (39-bit VA, 4 KiB granule): devices at
//! 0..1 GiB, its RAM at 1..2 GiB, and at 2..3 GiB a table descriptor whose
//! level-2 table lies at an address chosen per attempt: an unmapped IPA or
//! the emulated GIC distributor. Data caching stays off (SCTLR_EL1.C = 0),
//! so walks and accesses are non-cacheable, as with the MMU off.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use rt::{Fault, probe, probe_read};

use crate::attempt::{Id, expect_fault, report};
use crate::memory::GICD;

/// A level-1 translation table.
#[repr(C, align(4096))]
struct Table([AtomicU64; 512]);

static LEVEL1: Table = Table([const { AtomicU64::new(0) }; 512]);

/// Descriptor bits: valid block / table, access flag, inner shareable,
/// attribute index, execute-never (EL1 and EL0).
const BLOCK: u64 = 0b01;
const TABLE: u64 = 0b11;
const AF: u64 = 1 << 10;
const INNER_SHAREABLE: u64 = 0b11 << 8;
const ATTR_DEVICE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 1 << 2;
const XN: u64 = (1 << 54) | (1 << 53);
/// MAIR_EL1: attribute 0 Device-nGnRE, attribute 1 Normal write-back.
const MAIR: u64 = 0xff04;
/// TCR_EL1: T0SZ = 25, walks inner/outer write-back, inner shareable,
/// 4 KiB granule, no TTBR1 walks (EPD1), 40-bit physical addresses.
const TCR: u64 = 25 | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) | (1 << 23) | (0b010 << 32);
/// The VA whose walk goes through the chosen level-2 table.
const PROBED_VA: u64 = 0x8000_0000;
/// An IPA this cell's stage 2 does not map.
const UNMAPPED: u64 = 0x7000_0000;
/// A foreign IPA (the victim's host address), inside the RAM block.
const FOREIGN: u64 = 0x4100_0000;

/// Builds the map with the probed VA's level-2 table at `table`, and runs
/// `f` with the MMU on.
fn with_mmu<R>(table: u64, f: impl FnOnce() -> R) -> R {
    LEVEL1.0[0].store(ATTR_DEVICE | AF | XN | BLOCK, SeqCst);
    LEVEL1.0[1].store(
        0x4000_0000 | ATTR_NORMAL | AF | INNER_SHAREABLE | BLOCK,
        SeqCst,
    );
    LEVEL1.0[2].store(table | TABLE, SeqCst);
    let root = LEVEL1.0.as_ptr() as u64;
    // SAFETY: the map is an identity map of everything this program uses
    // (its RAM, the console, the GIC), so turning stage 1 on and off again
    // changes no address it uses; TLBs are invalidated around the switch.
    unsafe {
        asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {root}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            "mrs {t}, sctlr_el1",
            "orr {t}, {t}, #1",
            "msr sctlr_el1, {t}",
            "isb",
            mair = in(reg) MAIR,
            tcr = in(reg) TCR,
            root = in(reg) root,
            t = out(reg) _,
            options(nostack),
        );
    }
    let result = f();
    // SAFETY: back to the MMU off, as above.
    unsafe {
        asm!(
            "mrs {t}, sctlr_el1",
            "bic {t}, {t}, #1",
            "msr sctlr_el1, {t}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            t = out(reg) _,
            options(nostack),
        );
    }
    result
}

/// 5: a stage-1 walk whose table lies at an IPA stage 2 does not map, or
/// on the emulated GIC distributor, faults and is never emulated.
pub(crate) fn stage1_walks() {
    for (k, (what, table)) in [("unmapped IPA", UNMAPPED), ("the virtual GICD", GICD)]
        .into_iter()
        .enumerate()
    {
        let result = with_mmu(table, || probe_read(PROBED_VA));
        expect_fault(
            Id(5, k + 1),
            format_args!("stage-1 walk through a table at {what} {table:#x}"),
            result,
        );
    }
}

/// A lone maintenance instruction `$op` on `addr`, its fault caught.
macro_rules! maintain {
    ($op:literal, $addr:expr) => {{
        let addr: u64 = $addr;
        // SAFETY: a lone maintenance instruction in an asm block clobbering
        // the C ABI; a faulting one is skipped; none of them changes this
        // program's memory (the data cache is off, zeroing targets foreign
        // or device addresses that fault).
        unsafe {
            probe(|| asm!($op, in(reg) addr, options(nostack), clobber_abi("C")))
        }
    }};
}

/// 6: cache maintenance and address translation on foreign IPAs and on
/// the emulated distributor fault (or report a failed translation); none
/// is emulated.
pub(crate) fn cache_maintenance() {
    let results: [(&str, u64, Result<(), Fault>); 4] = with_mmu(UNMAPPED, || {
        [
            ("dc ivac", FOREIGN, maintain!("dc ivac, {}", FOREIGN)),
            ("dc civac", GICD, maintain!("dc civac, {}", GICD)),
            ("dc zva", FOREIGN, maintain!("dc zva, {}", FOREIGN)),
            ("dc zva", GICD, maintain!("dc zva, {}", GICD)),
        ]
    });
    for (k, (op, addr, result)) in results.into_iter().enumerate() {
        let id = Id(6, k + 1);
        let what = format_args!("{op} {addr:#x}");
        match (op, result) {
            (_, Err(fault)) => report(id, what, true, format_args!("{fault}")),
            // Clean and invalidate by VA change no data (with stage 2 on, an
            // invalidate is a clean+invalidate), and some cores (QEMU) do not
            // translate them at all: no fault, nothing emulated, no effect.
            ("dc ivac" | "dc civac", Ok(())) => report(
                id,
                what,
                true,
                format_args!("no fault, not translated, no effect"),
            ),
            (_, Ok(())) => report(id, what, false, format_args!("no fault")),
        }
    }
    // AT S1E1R through the table at an unmapped IPA: a fault, or PAR_EL1.F.
    let (result, par) = with_mmu(UNMAPPED, || {
        let result = maintain!("at s1e1r, {}", PROBED_VA);
        let par: u64;
        // SAFETY: reading PAR_EL1 has no side effects.
        unsafe { asm!("isb", "mrs {}, par_el1", out(reg) par, options(nostack)) };
        (result, par)
    });
    let what = format_args!("at s1e1r {PROBED_VA:#x} through an unmapped table");
    match result {
        Err(fault) => report(Id(6, 5), what, true, format_args!("{fault}")),
        Ok(()) if par & 1 == 1 => {
            report(Id(6, 5), what, true, format_args!("par {par:#x} (failed)"))
        }
        Ok(()) => report(Id(6, 5), what, false, format_args!("par {par:#x}")),
    }
}
