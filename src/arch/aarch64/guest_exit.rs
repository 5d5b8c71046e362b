//! Exits from a guest: what a lower-EL exception means, and its answer.
//!
//! Each handler returns the exit's [`Next`] to the vectors, which resume
//! the guest or park the vCPU in one place. HVC and SMC go to the core's
//! guest-call front end (`Hypervisor::answer_call`); data aborts on the
//! virtual GIC or the virtual console are emulated; other stage-2 faults,
//! and anything unexpected, go to the core's fault containment
//! (`Hypervisor::contain`); trapped system-register accesses get a defined
//! answer (set/way cache maintenance made safe, the physical timer per
//! the cell's policy, debug and PMU registers read as zero). Nothing a
//! guest does here can stop the hypervisor.

use core::arch::asm;

use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, HPFAR_EL2, Readable};

use super::gic::{Gic, GicOps};
use super::inject;
use super::model::esr::{
    self, DecodeError, FaultKind, SysregAccess, complete_load, decode_data_abort, fault_status,
    instruction_length, store_data,
};
use super::model::exit_cause::ExitCause;
use super::model::id_registers;
use super::trap_frame::TrapFrame;
use super::virtual_interrupts::{self, Taken};
use super::{HV, timer};
use crate::arch::Next;
use crate::cell::access::Access;
use crate::cell::fault::{Fault, Resolution};
use crate::config::CellDesc;
use crate::hv_println;

/// What `inject` raises for a fault on AArch64.
const INJECTION: Option<&str> = Some("external abort");

/// Which kind of exception the guest took.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExitKind {
    /// A synchronous exception (a call, an abort, a trapped instruction).
    Sync,
    /// A physical IRQ or FIQ.
    Irq,
    /// An SError.
    SError,
}

/// An exit from the guest on `cpu`: handled, then the core's check that
/// the vCPU's cell still runs. Returns whether to resume or park.
pub(super) fn handle(frame: &mut TrapFrame, kind: ExitKind, cpu: usize) -> Next {
    let Some((cell, vcpu)) = HV.vcpu_of(cpu) else {
        panic!("guest exception on cpu {cpu}, which runs no cell");
    };
    let next = match kind {
        ExitKind::Sync => {
            // A vCPU of a stopped or restarted cell parks instead of being
            // served.
            if HV.after_exit(cpu, cell, vcpu, Next::Resume) == Next::Park {
                return Next::Park;
            }
            handle_sync(frame, cpu, cell, vcpu)
        }
        ExitKind::Irq => handle_irq(cpu, cell),
        ExitKind::SError => {
            let fault = Fault {
                pc: frame.elr,
                access: None,
                reason: &"SError",
                injection: INJECTION,
            };
            contain(frame, cpu, cell, vcpu, &fault)
        }
    };
    HV.after_exit(cpu, cell, vcpu, next)
}

/// A synchronous exception from vCPU `vcpu` of `cell` on `cpu`.
fn handle_sync(frame: &mut TrapFrame, cpu: usize, cell: &'static CellDesc, vcpu: usize) -> Next {
    let syndrome = ESR_EL2.get();
    match esr::exception_class(syndrome) {
        esr::EC_HVC64 => call(frame, cpu, cell, vcpu),
        esr::EC_SMC64 => {
            // A trapped SMC returns to the SMC itself: skip it.
            frame.elr += 4;
            call(frame, cpu, cell, vcpu)
        }
        esr::EC_DATA_ABORT_LOWER_EL => data_abort(frame, syndrome, cpu, cell, vcpu),
        esr::EC_INSTRUCTION_ABORT_LOWER_EL => {
            let fault = Fault {
                pc: frame.elr,
                access: Some((Access::Execute, fault_ipa())),
                reason: &reason(fault_status(syndrome)),
                injection: INJECTION,
            };
            contain(frame, cpu, cell, vcpu, &fault)
        }
        esr::EC_SYSREG => {
            system_register(frame, syndrome, cell, vcpu);
            Next::Resume
        }
        // Only WFI traps (HCR_EL2.TWI, GICv2 platforms); WFE never does.
        esr::EC_WFX => {
            frame.elr += 4;
            wait_for_interrupt(cpu, cell);
            Next::Resume
        }
        esr::EC_UNKNOWN => {
            inject::undefined(frame, syndrome);
            Next::Resume
        }
        // Any other class that reaches EL2 is an instruction the hypervisor
        // traps and does not give the guest (AArch32 coprocessor accesses,
        // SVE, SME, ...), which its own EL0 may execute: an Undefined
        // Instruction for the guest, as on a core without the feature, and
        // never the fault policy (finding F9).
        class => {
            undefined_instruction(frame, syndrome, class, cell, vcpu);
            Next::Resume
        }
    }
}

/// Answers a trapped instruction of exception class `class` with an
/// Undefined Instruction in the guest, reported (within the cell's budget).
fn undefined_instruction(
    frame: &mut TrapFrame,
    syndrome: u64,
    class: u8,
    cell: &CellDesc,
    vcpu: usize,
) {
    let id = cell.id.index();
    HV.count_exit(id, ExitCause::Other);
    crate::log::info!(
        "cell {=str} vcpu {=usize}: trapped instruction, class {=u8:#x}: undefined",
        cell.name,
        vcpu,
        class
    );
    if HV.may_report(id) {
        hv_println!(
            HV,
            "bulkhead: cell {} vcpu {vcpu}: pc {:#x}: trapped instruction (exception class {class:#04x}) -> undefined instruction",
            cell.name,
            frame.elr
        );
    }
    inject::undefined(frame, syndrome);
}

/// A physical interrupt taken while the guest of `cell` ran: the vGIC's
/// (injected into the guest), console input, or the kick, which brings a
/// vCPU of a stopped or restarted cell back to park.
fn handle_irq(cpu: usize, cell: &CellDesc) -> Next {
    // A panic elsewhere rings every core: stop here too.
    HV.stop_if_requested();
    let taken = virtual_interrupts::take_pending(cpu);
    if taken.console_input {
        HV.poll_console_input();
    }
    // An exit only for the list-register underflow, or only for a doorbell
    // that turned out to concern nobody running here (a start request rung
    // just as the vCPU entered), is bookkeeping, not an interrupt delivery.
    let cause = match taken.taken {
        Taken::MaintenanceOnly => ExitCause::Maintenance,
        Taken::KickOnly => ExitCause::Other,
        Taken::Nothing | Taken::Some => ExitCause::Irq,
    };
    HV.count_exit(cell.id.index(), cause);
    Next::Resume
}

/// HVC or SMC: x0 = function id, x1..x3 = arguments; results in x0..x3
/// (x4.. are preserved, as SMCCC 1.1 requires).
fn call(frame: &mut TrapFrame, cpu: usize, cell: &'static CellDesc, vcpu: usize) -> Next {
    let mut regs = [frame.x[0], frame.x[1], frame.x[2], frame.x[3]];
    let next = HV.answer_call(cpu, cell, vcpu, &mut regs);
    frame.x[..4].copy_from_slice(&regs);
    next
}

/// The core's containment, then the injection it asks for.
fn contain(
    frame: &mut TrapFrame,
    cpu: usize,
    cell: &'static CellDesc,
    vcpu: usize,
    fault: &Fault<'_>,
) -> Next {
    let resolution = HV.contain(cpu, cell, vcpu, fault);
    if resolution == Resolution::Inject {
        inject::external_abort(frame, fault.access.map(|(access, _)| access));
    }
    resolution.next()
}

/// A trapped WFI: unless the vCPU already has an interrupt to take, waits
/// at EL2 (IRQs masked, so WFI only wakes) for a physical interrupt and
/// handles it in this exit. The guest's WFI then completes, as it would
/// have on the interrupt (or spuriously, which WFI allows).
fn wait_for_interrupt(cpu: usize, cell: &CellDesc) {
    HV.count_exit(cell.id.index(), ExitCause::Wfi);
    if virtual_interrupts::has_pending(cpu) {
        return;
    }
    Gic::refresh();
    loop {
        let taken = virtual_interrupts::take_pending(cpu);
        if taken.console_input {
            HV.poll_console_input();
        }
        if taken.taken != Taken::Nothing {
            return;
        }
        aarch64_cpu::asm::wfi();
    }
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

/// Read or write, from the abort's WnR bit.
fn access_of(syndrome: u64) -> Access {
    if esr::is_write(syndrome) {
        Access::Write
    } else {
        Access::Read
    }
}

/// A data abort: on the virtual GIC's frames or the cell's virtual console
/// it is emulated, anywhere else it is a fault.
fn data_abort(
    frame: &mut TrapFrame,
    syndrome: u64,
    cpu: usize,
    cell: &'static CellDesc,
    vcpu: usize,
) -> Next {
    let ipa = fault_ipa();
    let id = cell.id.index();
    let emulated = if virtual_interrupts::is_distributor(ipa) {
        let write = esr::is_write(syndrome);
        HV.count_exit(id, virtual_interrupts::distributor_exit_cause(ipa, write));
        emulate(frame, syndrome, |size, write| {
            virtual_interrupts::distributor_access(cell, vcpu, ipa, size, write)
        })
    } else if virtual_interrupts::is_redistributor(ipa) {
        HV.count_exit(id, ExitCause::MmioRedistributor);
        emulate(frame, syndrome, |size, write| {
            virtual_interrupts::redistributor_access(cell, ipa, size, write)
        })
    } else if let Some(offset) = HV.virtual_uart_offset(id, ipa) {
        HV.count_exit(id, ExitCause::MmioConsole);
        emulate(frame, syndrome, |size, write| match write {
            Some(value) => {
                HV.virtual_uart_write(id, offset, value as u32);
                0
            }
            None => u64::from(HV.virtual_uart_read(id, offset, size)),
        })
    } else {
        Err(reason(fault_status(syndrome)))
    };
    match emulated {
        Ok(()) => Next::Resume,
        Err(reason) => {
            let fault = Fault {
                pc: frame.elr,
                access: Some((access_of(syndrome), ipa)),
                reason: &reason,
                injection: INJECTION,
            };
            contain(frame, cpu, cell, vcpu, &fault)
        }
    }
}

/// Emulates the access an abort describes on an emulated device:
/// `device(size, Some(value))` for a store, `device(size, None)` returning
/// the loaded value; then the guest continues after the instruction. An
/// access the syndrome cannot describe (no valid ISS: pair or writeback
/// forms) is a fault, with the reason.
fn emulate(
    frame: &mut TrapFrame,
    syndrome: u64,
    device: impl FnOnce(esr::AccessSize, Option<u64>) -> u64,
) -> Result<(), &'static str> {
    match decode_data_abort(syndrome) {
        Ok(decoded) => {
            let write = decoded.write.then(|| store_data(&decoded, &frame.x));
            let value = device(decoded.size, write);
            if !decoded.write {
                complete_load(&decoded, &mut frame.x, value);
            }
            frame.elr += instruction_length(syndrome);
            Ok(())
        }
        Err(DecodeError::NoValidSyndrome) => {
            Err("device access without a valid syndrome (pair/writeback load or store)")
        }
        Err(_) => Err("device access that cannot be emulated"),
    }
}

/// A trapped MSR, MRS or SYS (EC 0x18).
fn system_register(frame: &mut TrapFrame, syndrome: u64, cell: &'static CellDesc, vcpu: usize) {
    let access = SysregAccess::decode(syndrome);
    let rt = usize::from(access.rt);
    let value = frame.x.get(rt).copied().unwrap_or(0);
    let id = cell.id.index();
    match access.encoding() {
        // ICC_SGI1R_EL1 (trapped because HCR_EL2.IMO is set): an SGI to
        // vCPUs of this cell.
        (3, 0, 12, 11, 5) if !access.read => {
            HV.count_exit(id, ExitCause::SgiSend);
            virtual_interrupts::send_sgi(cell, vcpu, value);
        }
        // The EL1 physical timer, trapped with `physical-timer = "trap"`:
        // reads as zero, writes ignored, reported once per run.
        (op0, op1, crn, crm, _) if timer::is_physical_timer_register(op0, op1, crn, crm) => {
            HV.count_exit(id, ExitCause::SysregOther);
            read_as_zero(frame, &access);
            crate::log::warn!(
                "cell {=str} vcpu {=usize}: EL1 physical timer access refused",
                cell.name,
                vcpu
            );
            if timer::first_refusal(cell) && HV.may_report(id) {
                hv_println!(
                    HV,
                    "bulkhead: cell {} vcpu {vcpu}: EL1 physical timer refused (physical-timer = \"trap\"): reads as zero, writes ignored",
                    cell.name
                );
            }
        }
        // The ID registers (HCR_EL2.TID3): the core's values, without the
        // features the guest does not get; they are read-only.
        (op0, op1, crn, crm, op2) if id_registers::is_id_register(op0, op1, crn, crm) => {
            HV.count_exit(id, ExitCause::SysregOther);
            if !access.read {
                inject::undefined(frame, syndrome);
                return;
            }
            let value = id_registers::guest_view((crm, op2), super::id_registers::read(crm, op2));
            if let Some(register) = frame.x.get_mut(rt) {
                *register = value;
            }
        }
        // DC ISW / DC CSW / DC CISW: data-cache maintenance by set/way.
        // Invalidating by set/way could drop another cell's dirty lines, so
        // every form becomes a clean+invalidate of the same set/way (which
        // only ever writes data back).
        (1, 0, 7, 6 | 10 | 14, 2) => {
            HV.count_exit(id, ExitCause::SetWay);
            // SAFETY: clean+invalidate by set/way changes no memory contents
            // any observer sees; the operand only selects a cache line.
            unsafe { asm!("dc cisw, {}", in(reg) value, options(nostack, preserves_flags)) };
            crate::log::debug!("set/way op emulated as DC CISW {=u64:#x}", value);
        }
        // Debug (op0 = 2), PMU, ACTLR_EL1 and IMPLEMENTATION DEFINED
        // registers: read as zero, writes ignored.
        (op0, op1, crn, crm, op2) => {
            HV.count_exit(id, ExitCause::SysregOther);
            read_as_zero(frame, &access);
            crate::log::debug!(
                "sysreg op0={=u8} op1={=u8} CRn={=u8} CRm={=u8} op2={=u8} {=str}: RAZ/WI",
                op0,
                op1,
                crn,
                crm,
                op2,
                if access.read { "read" } else { "write" }
            );
        }
    }
    frame.elr += instruction_length(syndrome);
}

/// A read gets zero (XZR as the target discards it).
fn read_as_zero(frame: &mut TrapFrame, access: &SysregAccess) {
    if access.read
        && let Some(register) = frame.x.get_mut(usize::from(access.rt))
    {
        *register = 0;
    }
}
