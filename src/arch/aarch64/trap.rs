//! Exits from a guest: what a lower-EL exception means and how it is
//! answered.
//!
//! HVC/SMC go to PSCI, SMCCC and Bulkhead's hypercalls (`calls`); data
//! aborts on the virtual console page are emulated (`vconsole`); other
//! stage-2 faults, and anything unexpected, are contained by the cell's
//! fault policy (`fault`); trapped system-register accesses get a defined
//! answer (set/way cache maintenance made safe, debug and PMU registers read
//! as zero). Nothing a guest does here can stop the hypervisor.

use core::arch::asm;

use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, HPFAR_EL2, Readable};

use super::exception::TrapFrame;
use super::fault::{self, Access, Fault};
use super::model::esr::{
    AccessSize, DecodeError, FaultKind, complete_load, decode_data_abort, fault_status,
    instruction_length, store_data,
};
use super::{calls, cells, timer, vconsole, vgic};
use crate::arch::aarch64::model::exit_cause::ExitCause;
use crate::config::CellDesc;

/// Exception classes handled here (ESR_EL2.EC).
mod ec {
    pub(super) const UNKNOWN: u64 = 0x00;
    pub(super) const WFX: u64 = 0x01;
    pub(super) const HVC64: u64 = 0x16;
    pub(super) const SMC64: u64 = 0x17;
    pub(super) const SYSREG: u64 = 0x18;
    pub(super) const INSTRUCTION_ABORT_LOWER: u64 = 0x20;
    pub(super) const DATA_ABORT_LOWER: u64 = 0x24;
}

/// Handles a synchronous exception from the guest on `cpu`.
pub fn handle_sync(frame: &mut TrapFrame, cpu: usize) {
    let Some((cell, vcpu)) = cells::vcpu_of(cpu) else {
        panic!("guest exception on cpu {cpu}, which runs no cell");
    };
    if cells::stale(cpu) {
        cells::park_and_run(cpu);
    }
    let esr = ESR_EL2.get();
    match (esr >> 26) & 0x3f {
        ec::HVC64 => calls::handle(frame, cpu, cell, vcpu),
        ec::SMC64 => {
            // A trapped SMC returns to the SMC itself: skip it.
            frame.elr += 4;
            calls::handle(frame, cpu, cell, vcpu);
        }
        ec::DATA_ABORT_LOWER => data_abort(frame, esr, cpu, cell, vcpu),
        ec::INSTRUCTION_ABORT_LOWER => {
            let reason = reason(fault_status(esr));
            fault::contain(
                frame,
                cpu,
                cell,
                vcpu,
                Fault {
                    access: Access::Execute,
                    address: Some(fault_ipa()),
                    reason,
                },
            );
        }
        ec::SYSREG => system_register(frame, esr, cell, vcpu),
        // Only WFI traps (HCR_EL2.TWI, GICv2 platforms); WFE never does.
        ec::WFX => {
            frame.elr += 4;
            wait_for_interrupt(cpu, cell);
        }
        ec::UNKNOWN => fault::inject_undefined(frame),
        _ => fault::contain(
            frame,
            cpu,
            cell,
            vcpu,
            Fault {
                access: Access::Read,
                address: None,
                reason: "unexpected exception from the guest",
            },
        ),
    }
    // Another vCPU of the cell may have stopped or restarted it meanwhile.
    if cells::stale(cpu) {
        cells::park_and_run(cpu);
    }
    vgic::sync(cpu);
}

/// Handles a physical interrupt taken while the guest ran: the vGIC's
/// (injected into the guest), or the kick, which brings a vCPU of a stopped
/// or restarted cell back to park.
pub fn handle_irq(cpu: usize) {
    // A panic elsewhere rings every core: stop here too.
    super::smp::stop_if_requested();
    let taken = take_interrupts(cpu);
    if let Some((cell, _)) = cells::vcpu_of(cpu) {
        // An exit only for the list-register underflow, or only for a
        // doorbell that turned out to concern nobody running here (a start
        // request rung just as the vCPU entered), is bookkeeping, not an
        // interrupt delivery.
        let cause = match taken {
            Taken::MaintenanceOnly => ExitCause::Maintenance,
            Taken::KickOnly => ExitCause::Other,
            Taken::Nothing | Taken::Some => ExitCause::Irq,
        };
        vgic::count(cell.id.index(), cause);
    }
    if cells::stale(cpu) {
        cells::park_and_run(cpu);
    }
    vgic::sync(cpu);
}

/// What [`take_interrupts`] found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Taken {
    Nothing,
    MaintenanceOnly,
    KickOnly,
    Some,
}

/// Handles what is pending at this core while it waits in the hypervisor
/// (no guest runs here): see `cells::wait_for_doorbell`.
pub(super) fn take_pending_interrupts(cpu: usize) {
    let _ = take_interrupts(cpu);
}

/// Acknowledges and handles every physical interrupt pending at this core.
fn take_interrupts(cpu: usize) -> Taken {
    let mut taken = Taken::Nothing;
    while let Some(intid) = super::gic::acknowledge() {
        taken = match (taken, intid) {
            (Taken::Nothing | Taken::MaintenanceOnly, vgic::MAINTENANCE_PPI) => {
                Taken::MaintenanceOnly
            }
            (Taken::Nothing | Taken::KickOnly, super::gic::KICK_SGI) => Taken::KickOnly,
            _ => Taken::Some,
        };
        if Some(intid) == vconsole::input_irq() {
            vconsole::input_interrupt();
            super::gic::end_of_interrupt(intid);
            super::gic::deactivate(intid);
            continue;
        }
        if vgic::handle_irq(cpu, intid) {
            continue;
        }
        super::gic::end_of_interrupt(intid);
        super::gic::deactivate(intid);
        if intid != super::gic::KICK_SGI {
            crate::log::warn!("unexpected interrupt {=u32} on cpu {=usize}", intid, cpu);
        }
    }
    taken
}

/// A trapped WFI: unless the vCPU already has an interrupt to take, waits
/// at EL2 (IRQs masked, so WFI only wakes) for a physical interrupt and
/// handles it in this exit. The guest's WFI then completes, as it would
/// have on the interrupt (or spuriously, which WFI allows).
fn wait_for_interrupt(cpu: usize, cell: &CellDesc) {
    vgic::count(cell.id.index(), ExitCause::Wfi);
    if vgic::has_pending(cpu) {
        return;
    }
    super::gic::refresh();
    loop {
        if take_interrupts(cpu) != Taken::Nothing {
            return;
        }
        aarch64_cpu::asm::wfi();
    }
}

/// Handles an SError from the guest: contained like a fault.
pub fn handle_serror(frame: &mut TrapFrame, cpu: usize) {
    let Some((cell, vcpu)) = cells::vcpu_of(cpu) else {
        panic!("guest SError on cpu {cpu}, which runs no cell");
    };
    fault::contain(
        frame,
        cpu,
        cell,
        vcpu,
        Fault {
            access: Access::Read,
            address: None,
            reason: "SError",
        },
    );
}

/// The faulting guest-physical address of a stage-2 abort.
fn fault_ipa() -> u64 {
    ((HPFAR_EL2.get() >> 4) << 12) | (FAR_EL2.get() & 0xfff)
}

fn reason(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Translation { .. } => "stage-2 translation fault (not the cell's memory)",
        FaultKind::Permission { .. } => "stage-2 permission fault",
        FaultKind::AccessFlag { .. } => "stage-2 access flag fault",
        FaultKind::AddressSize { .. } => "address size fault",
        FaultKind::SynchronousExternalAbort | FaultKind::SynchronousExternalAbortOnWalk { .. } => {
            "external abort"
        }
        FaultKind::Alignment => "alignment fault",
        FaultKind::Other(_) => "abort",
    }
}

fn data_abort(frame: &mut TrapFrame, esr: u64, cpu: usize, cell: &'static CellDesc, vcpu: usize) {
    let ipa = fault_ipa();
    let id = cell.id.index();
    if vgic::is_distributor(ipa) {
        emulate(
            frame,
            esr,
            cpu,
            cell,
            vcpu,
            ipa,
            "GIC distributor",
            |size, write| vgic::distributor_access(cell, vcpu, ipa, size, write),
        );
    } else if vgic::is_redistributor(ipa) {
        emulate(
            frame,
            esr,
            cpu,
            cell,
            vcpu,
            ipa,
            "GIC redistributor",
            |size, write| vgic::redistributor_access(cell, ipa, size, write),
        );
    } else if vconsole::claims(id, ipa) {
        vgic::count(id, ExitCause::MmioConsole);
        emulate(
            frame,
            esr,
            cpu,
            cell,
            vcpu,
            ipa,
            "console",
            |size, write| match write {
                Some(value) => {
                    vconsole::write(id, ipa, value as u32);
                    0
                }
                None => u64::from(vconsole::read(id, ipa, size)),
            },
        );
    } else {
        fault::contain(
            frame,
            cpu,
            cell,
            vcpu,
            Fault {
                access: access_of(esr),
                address: Some(ipa),
                reason: reason(fault_status(esr)),
            },
        );
    }
}

/// Read or write, from the abort's WnR bit.
fn access_of(esr: u64) -> Access {
    if esr & (1 << 6) != 0 {
        Access::Write
    } else {
        Access::Read
    }
}

/// Emulates the access an abort describes on an emulated device:
/// `device(size, Some(value))` for a store, `device(size, None)` returning
/// the loaded value; then the guest continues after the instruction. An
/// access the syndrome cannot describe (no valid ISS: pair or writeback
/// forms) is contained as a fault.
#[allow(clippy::too_many_arguments)]
fn emulate(
    frame: &mut TrapFrame,
    esr: u64,
    cpu: usize,
    cell: &'static CellDesc,
    vcpu: usize,
    ipa: u64,
    what: &'static str,
    device: impl FnOnce(AccessSize, Option<u64>) -> u64,
) {
    match decode_data_abort(esr) {
        Ok(decoded) => {
            let write = decoded.write.then(|| store_data(&decoded, &frame.x));
            let value = device(decoded.size, write);
            if !decoded.write {
                complete_load(&decoded, &mut frame.x, value);
            }
            frame.elr += instruction_length(esr);
        }
        Err(error) => {
            crate::log::warn!("{=str} access that cannot be emulated", what);
            fault::contain(
                frame,
                cpu,
                cell,
                vcpu,
                Fault {
                    access: access_of(esr),
                    address: Some(ipa),
                    reason: match error {
                        DecodeError::NoValidSyndrome => {
                            "device access without a valid syndrome (pair/writeback load or store)"
                        }
                        _ => "device access that cannot be emulated",
                    },
                },
            );
        }
    }
}

/// Trapped MSR/MRS/SYS (EC 0x18): ISS = Op0[21:20] Op2[19:17] Op1[16:14]
/// CRn[13:10] Rt[9:5] CRm[4:1] Direction[0] (1 = read).
fn system_register(frame: &mut TrapFrame, esr: u64, cell: &'static CellDesc, vcpu: usize) {
    let op0 = (esr >> 20) & 0b11;
    let op2 = (esr >> 17) & 0b111;
    let op1 = (esr >> 14) & 0b111;
    let crn = (esr >> 10) & 0b1111;
    let rt = ((esr >> 5) & 0b11111) as usize;
    let crm = (esr >> 1) & 0b1111;
    let read = esr & 1 == 1;
    let value = if rt == 31 { 0 } else { frame.x[rt] };
    match (op0, op1, crn, crm, op2) {
        // DC ISW / DC CSW / DC CISW: data-cache maintenance by set/way.
        // Invalidating by set/way could drop another cell's dirty lines, so
        // every form becomes a clean+invalidate of the same set/way (which
        // only ever writes data back).
        // ICC_SGI1R_EL1 (trapped because HCR_EL2.IMO is set): an SGI to
        // vCPUs of this cell.
        (3, 0, 12, 11, 5) if !read => vgic::send_sgi(cell, vcpu, value),
        // The EL1 physical timer, trapped with `physical-timer = "trap"`.
        (op0, op1, crn, crm, _) if timer::is_physical_timer_register(op0, op1, crn, crm) => {
            vgic::count(cell.id.index(), ExitCause::SysregOther);
            if read && rt != 31 {
                frame.x[rt] = 0;
            }
            timer::refused(cell, vcpu);
        }
        (1, 0, 7, 6 | 10 | 14, 2) => {
            vgic::count(cell.id.index(), ExitCause::SetWay);
            // SAFETY: clean+invalidate by set/way changes no memory contents
            // any observer sees; the operand only selects a cache line.
            unsafe { asm!("dc cisw, {}", in(reg) value, options(nostack, preserves_flags)) };
            crate::log::debug!("set/way op emulated as DC CISW {=u64:#x}", value);
        }
        _ => {
            vgic::count(cell.id.index(), ExitCause::SysregOther);
            // Debug (op0 = 2), PMU, ACTLR_EL1 and IMPLEMENTATION DEFINED
            // registers: read as zero, writes ignored.
            if read && rt != 31 {
                frame.x[rt] = 0;
            }
            crate::log::debug!(
                "sysreg op0={=u64} op1={=u64} CRn={=u64} CRm={=u64} op2={=u64} {=str}: RAZ/WI",
                op0,
                op1,
                crn,
                crm,
                op2,
                if read { "read" } else { "write" }
            );
        }
    }
    frame.elr += instruction_length(esr);
}
