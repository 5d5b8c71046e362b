//! Cells' memory at EL2: every cell's stage-2 tables (built once at boot),
//! and loading images into cell RAM so a guest that starts with its caches
//! off sees them.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;

use super::model::descriptors::{STAGE2_IPA_BITS, STAGE2_START_LEVEL, Stage2};
use crate::cell::stage2;
use crate::config::{CELL_COUNT, CELLS, STAGE2_TABLES_PER_CELL, TABLES};
use crate::mm::{Table, TablePool};
use crate::sync::BootCell;

/// Stage-2 roots (physical addresses), per cell.
static STAGE2_ROOTS: [AtomicU64; CELL_COUNT] = [const { AtomicU64::new(0) }; CELL_COUNT];

/// Every cell's stage-2 tables: filled once by [`build_stage2`] on the boot
/// core before any guest runs; afterwards only the MMU reads them.
#[unsafe(link_section = ".page_tables")]
static STAGE2_POOLS: BootCell<[[Table; STAGE2_TABLES_PER_CELL]; CELL_COUNT]> =
    BootCell::new([const { [Table::ZEROED; STAGE2_TABLES_PER_CELL] }; CELL_COUNT]);

/// The stage-2 root of `cell` (physical address; 0 before boot built it).
pub(super) fn stage2_root(cell: usize) -> u64 {
    STAGE2_ROOTS
        .get(cell)
        .map_or(0, |root| root.load(Ordering::Acquire))
}

/// Physical address bits the core implements (ID_AA64MMFR0_EL1.PARange).
fn physical_address_bits() -> u32 {
    use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable};
    match ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Builds every cell's stage-2 tables. Boot core, once, before any guest.
pub(super) fn build_stage2() {
    let pa_bits = physical_address_bits();
    if pa_bits < STAGE2_IPA_BITS {
        // Platform data (or the core) does not fit the stage-2 layout.
        panic!(
            "the cores implement {pa_bits}-bit physical addresses, less than the {}-bit IPA space cells use",
            STAGE2_IPA_BITS
        );
    }
    crate::log::info!(
        "{=u32}-bit physical addresses, {=u32}-bit IPA",
        pa_bits,
        STAGE2_IPA_BITS
    );
    for cell in &CELLS {
        // SAFETY: called once on the boot core before any other CPU runs
        // (see `STAGE2_POOLS`); each cell borrows its own row.
        let tables = unsafe { &mut STAGE2_POOLS.boot_mut()[cell.id.index()] };
        let pool = match TablePool::identity(tables) {
            Ok(pool) => pool,
            Err(error) => panic!("cell {}: stage-2 pool: {error:?}", cell.name),
        };
        match stage2::build::<Stage2>(&TABLES, cell, pool, STAGE2_START_LEVEL, STAGE2_IPA_BITS) {
            Ok(map) => {
                STAGE2_ROOTS[cell.id.index()].store(map.root().as_u64(), Ordering::Release);
                crate::log::info!(
                    "cell {=str}: stage-2 root {=u64:#x}, {=usize} of {=usize} tables, {=usize} 1 GiB blocks, {=usize} 2 MiB blocks, {=usize} pages",
                    cell.name,
                    map.root().as_u64(),
                    map.tables_used(),
                    STAGE2_TABLES_PER_CELL,
                    map.blocks_at(crate::mm::Level::One),
                    map.blocks_at(crate::mm::Level::Two),
                    map.blocks_at(crate::mm::Level::Three)
                );
            }
            Err(error) => panic!("cell {}: stage-2 mapping failed: {error:?}", cell.name),
        }
    }
}

/// Cleans `[start, end)` to the point of coherency (the guest starts with
/// its caches off) and invalidates the instruction cache.
fn clean_to_poc(start: u64, end: u64) {
    let mut line = start & !63;
    while line < end {
        // SAFETY: DC CVAC writes dirty lines back; it never changes the
        // contents any observer sees. The range is mapped at EL2.
        unsafe { asm!("dc cvac, {}", in(reg) line, options(nostack, preserves_flags)) };
        line += 64;
    }
    barrier::dsb(barrier::SY);
}

/// Copies an image segment into cell RAM at `host`, zeroes the `zeros`
/// bytes after it, and cleans both to the point of coherency (the guest
/// starts with its caches off).
pub(super) fn load_segment(host: u64, data: &[u8], zeros: u64) {
    // SAFETY: the core checked `host..host + len + zeros` is the cell's RAM
    // (mapped RW at EL2) and stopped the cell's vCPUs (`Arch::load_segment`).
    unsafe { crate::host_memory::load(host, data, zeros) };
    clean_to_poc(host, host + data.len() as u64 + zeros);
}

/// After a cell's image was loaded: drops stale instruction-cache lines.
pub(super) fn image_loaded() {
    // SAFETY: invalidating the instruction cache only drops clean lines.
    unsafe {
        asm!(
            "ic ialluis",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}
