//! The architected timers as cells see them: the virtual counter's offset
//! and the EL1 physical timer policy (`virtual-counter`, `physical-timer`
//! in the cell's config).
//!
//! Every cell gets the EL1 virtual timer (CNTV_*, PPI 27), injected with the
//! HW bit by the vGIC. The EL1 physical timer (CNTP_*, PPI 30) is the
//! cell's only with `physical-timer = "allow"`; otherwise
//! `CNTHCTL_EL2.EL1PCEN` is clear, its registers trap here, read as zero,
//! writes are ignored, and the cell's console gets one report per run
//! (`guest_exit`). The
//! physical counter (CNTPCT_EL0) stays readable either way.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::registers::{CNTHCTL_EL2, CNTPCT_EL0, Readable};
use tock_registers::fields::FieldValue;

use crate::config::{CELL_COUNT, CellDesc, PhysicalTimer, VirtualCounter};

/// The EL1 virtual timer's PPI.
pub(super) const VTIMER_PPI: u32 = 27;
/// The EL1 physical timer's PPI.
pub(super) const PHYSICAL_TIMER_PPI: u32 = 30;

/// CNTVOFF_EL2 of each cell's vCPUs, fixed when the cell (re)starts.
static OFFSET: [AtomicU64; CELL_COUNT] = [const { AtomicU64::new(0) }; CELL_COUNT];
/// Whether the cell's refused physical-timer access was reported this run.
static REPORTED: [AtomicBool; CELL_COUNT] = [const { AtomicBool::new(false) }; CELL_COUNT];

/// Fixes the cell's virtual counter origin as it (re)starts: with
/// `virtual-counter = "cell-start"` its CNTVCT_EL0 counts from zero now.
pub(super) fn cell_starts(cell: &CellDesc) {
    let offset = match cell.virtual_counter {
        VirtualCounter::Physical => 0,
        VirtualCounter::CellStart => CNTPCT_EL0.get(),
    };
    OFFSET[cell.id.index()].store(offset, Ordering::Release);
    REPORTED[cell.id.index()].store(false, Ordering::Relaxed);
}

/// CNTVOFF_EL2 for a vCPU of `cell`.
pub(super) fn virtual_offset(cell: &CellDesc) -> u64 {
    OFFSET[cell.id.index()].load(Ordering::Acquire)
}

/// CNTHCTL_EL2 for a vCPU of `cell` (HCR_EL2.E2H = 0 layout): EL1PCTEN(0)
/// always (the physical counter is only a clock), EL1PCEN(1) with
/// `physical-timer = "allow"`.
pub(super) fn cnthctl(cell: &CellDesc) -> FieldValue<u64, CNTHCTL_EL2::Register> {
    let physical_timer = match cell.physical_timer {
        PhysicalTimer::Allow => CNTHCTL_EL2::EL1PCEN::SET,
        PhysicalTimer::Trap => CNTHCTL_EL2::EL1PCEN::CLEAR,
    };
    CNTHCTL_EL2::EL1PCTEN::SET + physical_timer
}

/// Whether `intid` is a timer PPI the cell's vCPUs own: the virtual timer
/// always, the physical timer when allowed.
pub(super) fn owns_timer_ppi(cell: &CellDesc, intid: u32) -> bool {
    intid == VTIMER_PPI
        || (intid == PHYSICAL_TIMER_PPI && cell.physical_timer == PhysicalTimer::Allow)
}

/// Whether a trapped system register (op0, op1, CRn, CRm) is one of the EL1
/// physical timer's: CNTP_TVAL_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0.
pub(super) fn is_physical_timer_register(op0: u8, op1: u8, crn: u8, crm: u8) -> bool {
    (op0, op1, crn, crm) == (3, 3, 14, 2)
}

/// Whether this is the first refused physical-timer access of `cell` in
/// this run (the one that gets a console report).
pub(super) fn first_refusal(cell: &CellDesc) -> bool {
    REPORTED
        .get(cell.id.index())
        .is_some_and(|reported| !reported.swap(true, Ordering::Relaxed))
}
