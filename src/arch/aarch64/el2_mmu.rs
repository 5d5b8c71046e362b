//! EL2 stage-1 translation: the hypervisor's identity map and MMU enable.
//!
//! Translation regime: EL2 (HCR_EL2.E2H = 0), TTBR0_EL2 only, 39-bit VA
//! (T0SZ = 25, lookup starts at level 1), 4 KiB granule. The tables are
//! built from the arch-neutral plan (`crate::mm::hypervisor_map`) in the EL2
//! stage-1 descriptor format from a static pool; [`enable_mmu`] only takes
//! the root.

use core::arch::asm;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL2, SCTLR_EL2, TCR_EL2, TTBR0_EL2};
use tock_registers::interfaces::{Readable, Writeable};

use super::layout;
use super::model::descriptors::El2Stage1;
use super::platform::DEVICE_WINDOWS;
use super::stacks;
use crate::config::TABLES;
use crate::mm::hypervisor_map::{self, Built, ImageLayout};
use crate::mm::{Level, PAGE_SIZE, Table, TablePool};
use crate::sync::BootCell;

/// Virtual address bits covered by TTBR0_EL2 (lookup starts at level 1).
pub(super) const VA_BITS: u32 = 39;

/// Tables in the EL2 pool: the root, a level-2 table per GiB touched, and
/// level-3 tables where mappings are not 2 MiB aligned (the image sections,
/// stack guards, GIC frames, small channels).
const TABLE_POOL_SIZE: usize = 32;

/// SCTLR_EL2 RES1 bits for HCR_EL2.E2H = 0: 29, 28, 23, 22, 18, 16, 11, 5, 4.
pub(super) const SCTLR_EL2_RES1: u64 = 0x30c5_0830;
/// SCTLR_EL2 with the MMU and caches off, little-endian: what the entry code
/// writes before anything else.
pub(super) const SCTLR_EL2_MMU_OFF: u64 = SCTLR_EL2_RES1;

/// TCR_EL2 RES1 bits for HCR_EL2.E2H = 0: 31 and 23.
const TCR_EL2_RES1: u64 = (1 << 31) | (1 << 23);

/// The pool the EL2 tables come from; in the linker script's page-table
/// area, which `_start` zeroes. Filled once (see `TAKEN`) on the boot CPU
/// before any other CPU runs; afterwards only the MMU reads it.
#[unsafe(link_section = ".page_tables")]
static POOL: BootCell<[Table; TABLE_POOL_SIZE]> = BootCell::new([Table::ZEROED; TABLE_POOL_SIZE]);
/// Tables the EL2 map uses (for the boot line).
static TABLES_USED: AtomicUsize = AtomicUsize::new(0);
/// Plain load/store flag (no exclusives: the MMU is still off).
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Why the EL2 map could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BuildError {
    /// The map was already built: its tables may be live.
    AlreadyBuilt,
    /// The plan could not be mapped.
    Map(hypervisor_map::BuildError),
}

/// Builds the EL2 identity map (`mm::hypervisor_map`'s plan in the EL2
/// stage-1 format): `.text` RX, `.rodata` R, data/.bss/page tables/stacks
/// RW (W^X), the stack guards unmapped (an overflow faults), cell RAM and
/// channels RW, the console and GIC frames as Device memory. Runs once, on
/// the boot CPU, MMU off.
pub(super) fn build_el2_map() -> Result<Built, BuildError> {
    if TAKEN.load(Ordering::Relaxed) {
        return Err(BuildError::AlreadyBuilt);
    }
    TAKEN.store(true, Ordering::Relaxed);
    // SAFETY: `TAKEN` guarantees this is the only reference ever made, and
    // no other CPU runs yet.
    let tables = unsafe { POOL.boot_mut() };
    let pool = TablePool::identity(tables)
        .map_err(|e| BuildError::Map(hypervisor_map::BuildError::Setup(e)))?;
    let image = ImageLayout {
        text: layout::text(),
        rodata: layout::rodata(),
        writable: layout::writable_image(),
    };
    let built = hypervisor_map::build::<El2Stage1>(
        pool,
        Level::One,
        VA_BITS,
        &image,
        stacks::stack_guard_ranges(),
        &TABLES,
        &DEVICE_WINDOWS,
    )
    .map_err(BuildError::Map)?;
    TABLES_USED.store(built.tables, Ordering::Relaxed);
    Ok(built)
}

// --- Register values ------------------------------------------------------------

/// MAIR_EL2: the attribute indices the EL2 descriptors use
/// (Attr0 = Device-nGnRE, Attr1 = Normal WB RA/WA).
pub(super) fn mair_el2_value() -> u64 {
    super::model::descriptors::MAIR_EL2
}

/// TCR_EL2.PS encoding for the implemented physical address size, capped at
/// 48 bits (52-bit output addresses with a 4 KiB granule need FEAT_LPA2/DS).
pub(super) fn physical_address_size_encoding() -> u64 {
    ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101)
}

/// TCR_EL2: T0SZ = 25 (39-bit VA), 4 KiB granule, inner-shareable WB RA/WA
/// table walks, PS from ID_AA64MMFR0_EL1.PARange, top byte used.
pub(super) fn tcr_el2_value() -> u64 {
    (TCR_EL2::T0SZ.val(u64::from(64 - VA_BITS))
        + TCR_EL2::TG0::KiB_4
        + TCR_EL2::SH0::Inner
        + TCR_EL2::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL2::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
        + TCR_EL2::PS.val(physical_address_size_encoding())
        + TCR_EL2::TBI::Used)
        .value
        | TCR_EL2_RES1
}

/// SCTLR_EL2 with the MMU on: M, C, I, SA set; WXN, A (alignment checks), EE off.
pub(super) fn sctlr_el2_mmu_on_value() -> u64 {
    (SCTLR_EL2::M::Enable
        + SCTLR_EL2::C::Cacheable
        + SCTLR_EL2::I::Cacheable
        + SCTLR_EL2::SA::Enable
        + SCTLR_EL2::WXN::Disable
        + SCTLR_EL2::A::Disable
        + SCTLR_EL2::EE::Little)
        .value
        | SCTLR_EL2_RES1
}

/// Tables the EL2 map uses (0 before it is built).
pub(super) fn tables_used() -> usize {
    TABLES_USED.load(Ordering::Relaxed)
}

/// Whether stage-1 translation is enabled on this CPU.
pub(super) fn is_enabled() -> bool {
    SCTLR_EL2.is_set(SCTLR_EL2::M)
}

// --- Secondary CPU hand-off ---------------------------------------------------

/// MMU register values for secondaries, published by [`enable_mmu`] and read
/// by `secondary_entry` (assembly, MMU off) via `offset_of!`.
#[repr(C)]
pub(super) struct SecondaryMmuConfig {
    /// MAIR_EL2.
    pub(crate) mair: AtomicU64,
    /// TCR_EL2.
    pub(crate) tcr: AtomicU64,
    /// TTBR0_EL2 (0 = not published yet).
    pub(crate) ttbr0: AtomicU64,
    /// SCTLR_EL2.
    pub(crate) sctlr: AtomicU64,
}

/// See [`SecondaryMmuConfig`].
pub(super) static SECONDARY_MMU_CONFIG: SecondaryMmuConfig = SecondaryMmuConfig {
    mair: AtomicU64::new(0),
    tcr: AtomicU64::new(0),
    ttbr0: AtomicU64::new(0),
    sctlr: AtomicU64::new(0),
};

// --- Cache maintenance ------------------------------------------------------

/// Smallest data cache line size in bytes (CTR_EL0.DminLine).
fn dcache_line_size() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects and is permitted at EL2.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Clean `range` to the point of coherency, so that an observer with its
/// caches off (a secondary before its MMU is on) sees our cached writes.
fn clean_dcache_range(range: Range<u64>) {
    let line = dcache_line_size();
    let mut addr = range.start & !(line - 1);
    while addr < range.end {
        // SAFETY: DC CVAC only writes dirty data back to memory; it never
        // changes the contents visible to any observer. `addr` is mapped.
        unsafe { asm!("dc cvac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    barrier::dsb(barrier::SY);
}

/// Invalidate `range` to the point of coherency.
///
/// # Safety
///
/// Discards cached data: no cache in the system may hold *dirty* data for
/// `range` that must survive (true on the boot CPU while every cache that
/// could cover `range` is off: all writes went straight to memory).
unsafe fn invalidate_dcache_range(range: Range<u64>) {
    let line = dcache_line_size();
    let mut addr = range.start & !(line - 1);
    while addr < range.end {
        // SAFETY: guaranteed by the caller (no dirty data worth keeping).
        unsafe { asm!("dc ivac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    barrier::dsb(barrier::SY);
}

// --- MMU enable ---------------------------------------------------------------

/// Enable the EL2 MMU and caches on the boot CPU with `root_pa` as TTBR0_EL2,
/// then publish the same configuration for secondaries.
///
/// Sequence: DSB (table writes done) -> invalidate the writable image from the
/// data caches (lines predating our non-cacheable writes, e.g. bootloader
/// leftovers) -> MAIR/TCR/TTBR0 -> ISB -> TLBI ALLE2 -> DSB -> ISB -> SCTLR_EL2
/// (M|C|I|SA) -> ISB -> IC IALLU -> DSB -> ISB.
///
/// # Safety
///
/// * `root_pa` is the physical address of a level-1 table (39-bit VA, 4 KiB
///   granule) that identity-maps everything this CPU touches from now on:
///   code, data, stacks and page tables as Normal memory, MMIO as Device.
/// * The MMU is currently off on this CPU, and no other CPU runs hypervisor
///   code yet (the data cache invalidation would otherwise be unsound).
pub(super) unsafe fn enable_mmu(root_pa: u64) {
    assert!(
        root_pa != 0 && root_pa.is_multiple_of(PAGE_SIZE),
        "bad translation table root {root_pa:#x}"
    );
    let mair = mair_el2_value();
    let tcr = tcr_el2_value();
    let sctlr = sctlr_el2_mmu_on_value();

    barrier::dsb(barrier::SY);
    // SAFETY: per this function's contract, every cache is still off, so
    // memory holds the only up-to-date copy of the writable image.
    unsafe { invalidate_dcache_range(layout::writable_image()) };

    MAIR_EL2.set(mair);
    TCR_EL2.set(tcr);
    TTBR0_EL2.set(root_pa);
    barrier::isb(barrier::SY);

    // SAFETY: invalidating this CPU's EL2 TLB entries only drops stale
    // translations left by firmware; it has no effect on memory.
    unsafe { asm!("tlbi alle2", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);

    // The caller guarantees the identity map covers everything we execute and
    // access, so the instruction stream and stack continue seamlessly.
    SCTLR_EL2.set(sctlr);
    barrier::isb(barrier::SY);

    // SAFETY: discarding (clean, possibly stale) instruction cache lines is
    // always safe; the image was written by the loader, not by us.
    unsafe { asm!("ic iallu", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);

    let cfg = &SECONDARY_MMU_CONFIG;
    cfg.mair.store(mair, Ordering::Relaxed);
    cfg.tcr.store(tcr, Ordering::Relaxed);
    cfg.sctlr.store(sctlr, Ordering::Relaxed);
    cfg.ttbr0.store(root_pa, Ordering::Relaxed);
    // Secondaries read this with their MMU (and caches) off.
    let start = core::ptr::from_ref(cfg) as u64;
    clean_dcache_range(start..start + size_of::<SecondaryMmuConfig>() as u64);
}
