//! The hypervisor's own page tables on x86_64.
//!
//! The entry code runs on a flat identity map of the first 4 GiB (2 MiB
//! pages, everything writable and executable). The boot CPU then builds the
//! real map, `mm::hypervisor_map`'s plan in the [`HostPaging`] format,
//! and every CPU switches to it before it runs a guest: the image's code
//! read-execute, its read-only data read-only, data, `.bss`, page tables
//! and stacks read-write and never executable (W^X, with `CR0.WP` and
//! `EFER.NXE` set by the entry code), cell RAM and channels read-write,
//! never executable (images are loaded and hypercall buffers read there).
//! The I/O APIC's window is mapped as uncached device memory. Nothing else
//! is mapped: not page 0, not the BIOS area, not other RAM; the UART is
//! reached through I/O ports and the local APIC through MSRs (x2APIC).

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::model::host_paging::{HostPaging, START_LEVEL, VA_BITS};
use crate::config::{PLATFORM, TABLES};
use crate::mm::hypervisor_map::{self, BuildError, Built, DeviceWindow, ImageLayout};
use crate::mm::{Table, TablePool};
use crate::sync::BootCell;

/// Tables in the pool: PML4, PDPT, a page directory per GiB touched and
/// page tables where a range is not 2 MiB aligned.
const TABLE_POOL_SIZE: usize = 32;

/// Filled by [`build`] on the boot CPU before any other CPU runs;
/// afterwards only the MMU reads it.
#[unsafe(link_section = ".page_tables")]
static POOL: BootCell<[Table; TABLE_POOL_SIZE]> = BootCell::new([Table::ZEROED; TABLE_POOL_SIZE]);

/// The built map's root (0 until built).
static ROOT: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static __hv_start: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __image_end: u8;
}

/// Builds the map. Boot CPU, once, before any other CPU runs.
pub(super) fn build() -> Result<Built, BuildError> {
    // SAFETY: called once on the boot CPU before anything else uses the
    // pool (see `POOL`).
    let tables = unsafe { POOL.boot_mut() };
    let pool = TablePool::identity(tables).map_err(BuildError::Setup)?;
    let image = ImageLayout {
        text: (&raw const __hv_start) as u64..(&raw const __rodata_start) as u64,
        rodata: (&raw const __rodata_start) as u64..(&raw const __rodata_end) as u64,
        writable: (&raw const __data_start) as u64..(&raw const __image_end) as u64,
    };
    let io_apic = PLATFORM.intc.io_apic;
    let devices = [DeviceWindow::pages(
        "I/O APIC",
        io_apic.base.as_u64(),
        io_apic.size,
    )];
    let built = hypervisor_map::build::<HostPaging>(
        pool,
        START_LEVEL,
        VA_BITS,
        &image,
        core::iter::empty(),
        &TABLES,
        &devices,
    )?;
    ROOT.store(built.root, Ordering::Release);
    Ok(built)
}

/// Switches this CPU to the built map.
pub(super) fn switch() {
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
