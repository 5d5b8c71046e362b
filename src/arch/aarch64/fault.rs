//! Containing a cell's faults: report them, then apply the cell's policy.
//!
//! A guest that touches memory outside its stage-2 map (or otherwise faults
//! in a way only the hypervisor sees) never stops the hypervisor or another
//! cell: the fault is reported on the console and in the log, then the
//! cell's `fault-policy` decides: `inject` raises a synchronous external
//! abort in the guest, `halt` stops the cell, `restart` reloads its image
//! and starts it again.

use core::arch::asm;

use super::cells;
use super::console::println;
use super::exception::TrapFrame;
use crate::config::{CellDesc, FaultPolicy};

/// What the guest was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
        }
    }
}

/// A fault to contain.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// Access kind.
    pub access: Access,
    /// Guest-physical address (IPA), when known.
    pub address: Option<u64>,
    /// One-line reason (e.g. "stage-2 translation fault").
    pub reason: &'static str,
}

/// Reports `fault` of the vCPU on `cpu` and applies its cell's policy.
/// Returns only for `inject` (the frame then enters the guest's handler).
pub fn contain(
    frame: &mut TrapFrame,
    cpu: usize,
    cell: &'static CellDesc,
    vcpu: usize,
    fault: Fault,
) {
    super::vgic::count(
        cell.id.index(),
        crate::arch::aarch64::model::exit_cause::ExitCause::Fault,
    );
    let policy = match cell.fault_policy {
        FaultPolicy::Inject => "inject",
        FaultPolicy::Halt => "halt",
        FaultPolicy::Restart => "restart",
    };
    match fault.address {
        _ if !super::vconsole::may_report(cell.id.index()) => {}
        Some(address) => println!(
            "bulkhead: fault: cell {} vcpu {vcpu} (cpu {cpu}) pc {:#x}: {} {address:#x}: {} -> {policy}",
            cell.name,
            frame.elr,
            fault.access.as_str(),
            fault.reason
        ),
        None => println!(
            "bulkhead: fault: cell {} vcpu {vcpu} (cpu {cpu}) pc {:#x}: {} -> {policy}",
            cell.name, frame.elr, fault.reason
        ),
    }
    crate::log::warn!(
        "fault: cell {=str} vcpu {=usize} pc {=u64:#x} {=str} {=u64:#x} -> {=str}",
        cell.name,
        vcpu,
        frame.elr,
        fault.reason,
        fault.address.unwrap_or(0),
        policy
    );
    match cell.fault_policy {
        FaultPolicy::Inject => inject_external_abort(frame, fault.access),
        FaultPolicy::Halt => {
            if super::vconsole::may_report(cell.id.index()) {
                println!("bulkhead: cell {} halted", cell.name);
            }
            cells::halt(cell);
            cells::park_and_run(cpu);
        }
        FaultPolicy::Restart => {
            if super::vconsole::may_report(cell.id.index()) {
                println!("bulkhead: cell {} restarting", cell.name);
            }
            cells::restart(cell, cpu);
            cells::run(cpu);
        }
    }
}

/// Makes the guest take a synchronous external abort: ESR/FAR/ELR/SPSR_EL1
/// as the hardware would set them, and the frame returns to the guest's
/// synchronous exception vector in EL1h with interrupts masked.
pub fn inject_external_abort(frame: &mut TrapFrame, access: Access) {
    let from_el0 = frame.spsr & 0b1100 == 0;
    let (ec, write) = match access {
        Access::Execute => (if from_el0 { 0x20 } else { 0x21 }, false),
        Access::Read => (if from_el0 { 0x24 } else { 0x25 }, false),
        Access::Write => (if from_el0 { 0x24 } else { 0x25 }, true),
    };
    // ISS: DFSC/IFSC 0b010000 = synchronous external abort; WnR (bit 6).
    let esr: u64 = (ec << 26) | (1 << 25) | (u64::from(write) << 6) | 0x10;
    inject(frame, esr, true);
}

/// Takes a synchronous exception with syndrome `esr` to the guest's EL1.
fn inject(frame: &mut TrapFrame, esr: u64, with_far: bool) {
    let vector_offset: u64 = match frame.spsr & 0b1111 {
        0b0100 => 0x000, // EL1t
        0b0101 => 0x200, // EL1h
        _ => 0x400,      // from EL0 (AArch64)
    };
    let vbar: u64;
    // SAFETY: reads/writes EL1 exception registers of the guest that trapped
    // on this core; the hypervisor does not use them. FAR_EL2 holds the
    // faulting VA for aborts.
    unsafe {
        if with_far {
            asm!("mrs {far}, far_el2", "msr far_el1, {far}", far = out(reg) _, options(nostack, preserves_flags));
        }
        asm!(
            "mrs {vbar}, vbar_el1",
            "msr esr_el1, {esr}",
            "msr elr_el1, {elr}",
            "msr spsr_el1, {spsr}",
            vbar = out(reg) vbar,
            esr = in(reg) esr,
            elr = in(reg) frame.elr,
            spsr = in(reg) frame.spsr,
            options(nostack, preserves_flags)
        );
    }
    frame.elr = vbar + vector_offset;
    frame.spsr = 0x3c5;
}

/// Makes the guest take an Undefined Instruction exception (an instruction
/// the hypervisor does not emulate, e.g. an AArch32 call).
pub fn inject_undefined(frame: &mut TrapFrame) {
    inject(frame, 1 << 25, false);
}
