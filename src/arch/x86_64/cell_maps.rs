//! What cells need from VT-x, built once at boot and then only read: every
//! cell's EPT and I/O bitmap, the MSR bitmap, the VMXON and VMCS regions,
//! the VMX controls; and each cell's boot area, written at every (re)start.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::cpu;
use super::model::boot_area;
use super::model::ept::{self, Ept};
use super::model::io_bitmap::IoBitmaps;
use super::model::msr_bitmap::{IA32_SPEC_CTRL, MsrBitmap, SpeculationMsrs};
use super::model::xcr0;
use super::vmx::{self, Controls, Region};
use crate::cell::{ram_host_address, stage2};
use crate::config::{
    CELL_COUNT, CELLS, CPU_COUNT, CellDesc, RegionKind, STAGE2_TABLES_PER_CELL, TABLES,
};
use crate::mm::{Table, TablePool};
use crate::sync::{BootCell, PerCpu};

/// Every cell's EPT pointer (0 before boot built it).
static EPTPS: [AtomicU64; CELL_COUNT] = [const { AtomicU64::new(0) }; CELL_COUNT];

/// Every cell's EPT tables, its I/O bitmaps, and the MSR bitmap all cells
/// share: filled by [`build`] on the boot CPU before any guest runs; only
/// the CPU reads them afterwards (through the VMCS pointers).
static EPT_POOLS: BootCell<[[Table; STAGE2_TABLES_PER_CELL]; CELL_COUNT]> =
    BootCell::new([const { [Table::ZEROED; STAGE2_TABLES_PER_CELL] }; CELL_COUNT]);
static IO_BITMAPS: BootCell<[IoBitmaps; CELL_COUNT]> =
    BootCell::new([const { IoBitmaps::trap_all() }; CELL_COUNT]);
static MSR_BITMAP: BootCell<MsrBitmap> = BootCell::new(MsrBitmap::trap_all());

/// Per-CPU VMXON and VMCS regions.
static VMXON: PerCpu<Region, CPU_COUNT> = PerCpu::new([const { Region([0; 4096]) }; CPU_COUNT]);
static VMCS: PerCpu<Region, CPU_COUNT> = PerCpu::new([const { Region([0; 4096]) }; CPU_COUNT]);

/// The VMX controls (computed on the boot CPU).
static CONTROLS: spin::Once<Controls> = spin::Once::new();

/// Records the controls `vmx::check` computed. Boot CPU.
pub(super) fn set_controls(controls: Controls) {
    CONTROLS.call_once(|| controls);
}

/// The VMX controls.
pub(super) fn controls() -> &'static Controls {
    CONTROLS.get().expect("VMX controls are set at boot")
}

/// VMXON on this CPU.
pub(super) fn vmx_on(cpu: usize) -> Result<(), vmx::Missing> {
    // SAFETY: `cpu` is this CPU, the only user of its VMXON region.
    let region = unsafe { VMXON.get_mut(cpu) }.ok_or(vmx::Missing("a VMXON region"))?;
    // SAFETY: this CPU's own, page-aligned region.
    unsafe { vmx::enable(controls(), region) }
}

/// This CPU's VMCS region.
pub(super) fn vmcs_region(cpu: usize) -> Option<*mut Region> {
    // SAFETY: `cpu` is this CPU, the only user of its VMCS region.
    unsafe { VMCS.get_mut(cpu) }.map(core::ptr::from_mut)
}

/// The EPT pointer of cell `cell`.
pub(super) fn eptp(cell: usize) -> u64 {
    EPTPS.get(cell).map_or(0, |e| e.load(Ordering::Acquire))
}

/// The physical addresses of cell `cell`'s I/O bitmaps A and B.
pub(super) fn io_bitmaps(cell: usize) -> (u64, u64) {
    // SAFETY: read-only after boot (`IO_BITMAPS`).
    let bitmaps = unsafe { IO_BITMAPS.get() };
    bitmaps
        .get(cell)
        .map_or((0, 0), |io| (io.a.as_ptr() as u64, io.b.as_ptr() as u64))
}

/// The physical address of the MSR bitmap.
pub(super) fn msr_bitmap() -> u64 {
    MSR_BITMAP.as_ptr() as u64
}

/// Builds every cell's EPT and I/O bitmap and the MSR bitmap. Boot CPU,
/// once, before any guest.
pub(super) fn build() {
    // SAFETY: boot CPU, before any other CPU or guest (see `MSR_BITMAP`).
    unsafe { *MSR_BITMAP.boot_mut() = MsrBitmap::cell_policy(speculation_msrs()) };
    for cell in &CELLS {
        let i = cell.id.index();
        // SAFETY: boot CPU, before any other CPU or guest; each cell
        // borrows its own row.
        let tables = unsafe { &mut EPT_POOLS.boot_mut()[i] };
        let pool = TablePool::identity(tables)
            .unwrap_or_else(|e| panic!("cell {}: EPT pool: {e:?}", cell.name));
        match stage2::build::<Ept>(&TABLES, cell, pool, ept::START_LEVEL, ept::INPUT_BITS) {
            Ok(map) => {
                if map.blocks_at(crate::mm::Level::One) > 0 && !controls().ept_1g {
                    panic!(
                        "cell {}: its memory maps with 1 GiB EPT pages, which this CPU lacks (IA32_VMX_EPT_VPID_CAP bit 17): split the region or misalign it by 2 MiB",
                        cell.name
                    );
                }
                EPTPS[i].store(ept::eptp(map.root()), Ordering::Release);
                crate::log::info!(
                    "cell {=str}: EPT root {=u64:#x}, {=usize} tables, {=usize} 2 MiB pages, {=usize} 4 KiB pages",
                    cell.name,
                    map.root().as_u64(),
                    map.tables_used(),
                    map.blocks_at(crate::mm::Level::Two),
                    map.blocks_at(crate::mm::Level::Three)
                );
            }
            Err(error) => panic!("cell {}: EPT mapping failed: {error:?}", cell.name),
        }
        // SAFETY: as above.
        unsafe { IO_BITMAPS.boot_mut()[i] = IoBitmaps::for_cell(&TABLES, cell) };
    }
}

/// Guest-physical address of `cell`'s boot area.
pub(super) fn boot_area_gpa(cell: &CellDesc) -> u64 {
    let ram = cell
        .memory
        .iter()
        .find(|r| r.kind == RegionKind::Ram)
        .expect("the config checker requires RAM in every cell");
    boot_area::base(ram.gpa.as_u64(), ram.size)
        .expect("the config checker sizes the first RAM region")
}

/// Writes `cell`'s boot area (GDT, TSS, identity page tables) into its RAM:
/// the 64-bit state its first vCPU starts in (docs/x86.md). Every (re)start.
pub(super) fn write_boot_area(cell: &CellDesc) {
    let area = boot_area_gpa(cell);
    let host = ram_host_address(cell, area, boot_area::SIZE as u64)
        .expect("the boot area lies in the first RAM region");
    // SAFETY: the boot area is the cell's RAM (checked just now), 4 KiB
    // aligned, identity-mapped; none of the cell's vCPUs runs.
    let bytes = unsafe { &mut *(host as *mut [u8; boot_area::SIZE]) };
    boot_area::write(bytes, area);
}

/// CPUs whose VMCS is loaded and set up (their NMI handler may write it).
pub(super) static VMCS_READY: [AtomicU8; CPU_COUNT] = [const { AtomicU8::new(0) }; CPU_COUNT];

/// An NMI (a stop kick) reached `cpu` while it ran in the hypervisor: the
/// next VM entry exits at once (NMI-window exiting), so the vCPU loop
/// looks at its cell again before running guest code. Called from the NMI
/// handler; the only VMCS access the loop makes concurrently is to other
/// fields, and a VMWRITE is one instruction.
pub(super) fn kick_in_root(cpu: usize) {
    if VMCS_READY
        .get(cpu)
        .is_some_and(|r| r.load(Ordering::Acquire) == 1)
    {
        let controls = vmx::read(vmx::field::PROC_BASED_CONTROLS);
        vmx::write(
            vmx::field::PROC_BASED_CONTROLS,
            controls | u64::from(vmx::NMI_WINDOW_EXITING),
        );
    }
}

/// Clears NMI-window exiting after the exit it caused.
pub(super) fn nmi_window_seen() {
    let controls = vmx::read(vmx::field::PROC_BASED_CONTROLS);
    vmx::write(
        vmx::field::PROC_BASED_CONTROLS,
        controls & !u64::from(vmx::NMI_WINDOW_EXITING),
    );
}

/// The speculation-control MSRs this CPU has, which guests reach directly
/// (`model::msr_bitmap`).
pub(super) fn speculation_msrs() -> SpeculationMsrs {
    if cpu::cpuid(0, 0)[0] < 7 {
        return SpeculationMsrs::NONE;
    }
    SpeculationMsrs::from_cpuid7_edx(cpu::cpuid(7, 0)[3])
}

/// The CPU state a vCPU owns outside its VMCS, reset when it (re)starts so
/// nothing of a previous life (or another vCPU start) carries over: XCR0
/// to x87 only (F1), `IA32_SPEC_CTRL` to 0 where guests reach it (F11).
pub(super) fn reset_guest_cpu_state() {
    if cpu::has_xsave() {
        // SAFETY: `cpu::enable_xsave` set CR4.OSXSAVE at boot, and x87
        // alone is always a valid XCR0.
        unsafe { cpu::set_xcr0(xcr0::RESET) };
    }
    if speculation_msrs().spec_ctrl {
        // SAFETY: 0 (no mitigation requested) is valid on every CPU that
        // has the MSR; the hypervisor does not depend on its bits.
        unsafe { cpu::wrmsr(IA32_SPEC_CTRL, 0) };
    }
}

/// Whether the CPU supports the guest HLT activity state.
pub(super) fn hlt_activity() -> bool {
    controls().hlt_activity
}
