//! The hypervisor's own page tables on x86_64.
//!
//! The entry code runs on a flat identity map of the first 4 GiB (2 MiB
//! pages, everything writable and executable). The boot CPU then builds the
//! real map with the arch-neutral builder and the [`HostPaging`] format,
//! and every CPU switches to it before it runs a guest: the image's code
//! read-execute, its read-only data read-only, data, `.bss`, page tables
//! and stacks read-write and never executable (W^X, with `CR0.WP` and
//! `EFER.NXE` set by the entry code), cell RAM and channels read-write,
//! never executable (images are loaded and hypercall buffers read there).
//! The I/O APIC's window is mapped as uncached device memory. Nothing else
//! is mapped: not page 0, not the BIOS area, not other RAM; the UART is
//! reached through I/O ports and the local APIC through MSRs (x2APIC).

use core::arch::asm;
use core::cell::UnsafeCell;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use super::model::host_paging::{HostPaging, START_LEVEL, VA_BITS};
use crate::addr::{PhysAddr, VirtAddr};
use crate::config::{CELLS, CHANNELS, PLATFORM, RegionKind};
use crate::mm::{Level, MapError, MemAttrs, PageTable, Perm, SetupError, Table, TablePool};

/// Tables in the pool: PML4, PDPT, a page directory per GiB touched and
/// page tables where a range is not 2 MiB aligned.
const TABLE_POOL_SIZE: usize = 32;

struct Pool(UnsafeCell<[Table; TABLE_POOL_SIZE]>);
// SAFETY: borrowed once, by `build`, on the boot CPU before any other CPU
// runs; afterwards only the MMU reads it.
unsafe impl Sync for Pool {}

#[unsafe(link_section = ".page_tables")]
static POOL: Pool = Pool(UnsafeCell::new([Table::ZEROED; TABLE_POOL_SIZE]));

/// The built map's root (0 until built).
static ROOT: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static __hv_start: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __image_end: u8;
}

fn symbol(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// Why the map could not be built.
#[derive(Debug, Clone, Copy)]
pub enum BuildError {
    /// The pool is unusable.
    Setup(SetupError),
    /// A range failed.
    Map(&'static str, MapError),
}

/// What the map holds, for the boot line.
#[derive(Debug, Clone, Copy)]
pub struct Map {
    /// Physical address of the PML4.
    pub root: u64,
    /// Tables used.
    pub tables: usize,
    /// 2 MiB pages.
    pub blocks_2m: usize,
    /// 4 KiB pages.
    pub pages: usize,
}

/// Builds the map. Boot CPU, once, before any other CPU runs.
pub fn build() -> Result<Map, BuildError> {
    // SAFETY: called once on the boot CPU before anything else uses the
    // pool (see `Pool`).
    let tables = unsafe { &mut *POOL.0.get() };
    let pool = TablePool::identity(tables).map_err(BuildError::Setup)?;
    let mut map =
        PageTable::<HostPaging>::new(pool, START_LEVEL, VA_BITS).map_err(BuildError::Setup)?;
    let mut identity = |what: &'static str, range: Range<u64>, attrs: MemAttrs| {
        if range.is_empty() {
            return Ok(());
        }
        map.map(
            VirtAddr::new(range.start),
            PhysAddr::new(range.start),
            range.end - range.start,
            attrs,
        )
        .map_err(|e| BuildError::Map(what, e))
    };
    // SAFETY: linker symbols; only their addresses are taken.
    let (start, rodata, rodata_end, data, end) = unsafe {
        (
            symbol(&__hv_start),
            symbol(&__rodata_start),
            symbol(&__rodata_end),
            symbol(&__data_start),
            symbol(&__image_end),
        )
    };
    identity("text", start..rodata, MemAttrs::normal(Perm::RX))?;
    identity("rodata", rodata..rodata_end, MemAttrs::normal(Perm::R))?;
    identity(
        "data, bss, tables, stacks",
        data..end,
        MemAttrs::normal(Perm::RW),
    )?;
    for cell in &CELLS {
        for region in cell.memory.iter().filter(|r| r.kind == RegionKind::Ram) {
            let base = region.hpa.as_u64();
            identity(
                "cell memory",
                base..base + region.size,
                MemAttrs::normal(Perm::RW),
            )?;
        }
    }
    for channel in &CHANNELS {
        let base = channel.memory.base.as_u64();
        identity(
            "channel",
            base..base + channel.memory.size,
            MemAttrs::normal(Perm::RW),
        )?;
    }
    let io_apic = PLATFORM.intc.io_apic;
    if !io_apic.is_empty() {
        let base = io_apic.base.as_u64();
        identity(
            "I/O APIC",
            base..base + io_apic.size.next_multiple_of(4096),
            MemAttrs::device(Perm::RW),
        )?;
    }
    let root = map.root().as_u64();
    ROOT.store(root, Ordering::Release);
    Ok(Map {
        root,
        tables: map.tables_used(),
        blocks_2m: map.blocks_at(Level::Two),
        pages: map.blocks_at(Level::Three),
    })
}

/// Switches this CPU to the built map.
pub fn switch() {
    let root = ROOT.load(Ordering::Acquire);
    assert!(
        root != 0,
        "the hypervisor map is built before any CPU switches"
    );
    // SAFETY: the map covers everything the hypervisor touches from here on
    // (its image, stacks, tables, cell RAM), identity-mapped as before, so
    // the instruction stream and the stack stay valid; the write to CR3
    // also flushes the old non-global translations.
    unsafe { asm!("mov cr3, {}", in(reg) root, options(nostack)) };
}
