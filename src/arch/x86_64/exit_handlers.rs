//! VM exits: what each one means for the cell, and the answer it gets.
//!
//! Every exit gets a defined answer, and [`handle`] returns the exit's
//! [`Next`] to `vcpu_loop`. `VMCALL` goes to the core's guest-call front
//! end (`Hypervisor::answer_call`); EPT violations, triple faults and
//! anything unexpected go to the core's fault containment
//! (`Hypervisor::contain`). Instructions a cell may not use get the
//! exception a CPU without them would raise (`#UD` for the VMX
//! instructions, `GETSEC` and `INVD`; `#GP` for `RDPMC`, refused `XSETBV`
//! values and CR4.VMXE), never the fault policy: a user process could
//! execute them (finding F2). `WBINVD` is a no-op. The pure decoding lives
//! in `model` (`exit_decode`, `injection`, `xcr0`, `x2apic`, `cpuid`,
//! host-tested); this module reads the VMCS and acts.

use super::model::cpuid::{self, CellTopology};
use super::model::exit_decode::{self as exit, EptViolation, ExitInfo, ExitReason, IoAccess};
use super::model::exit_kind::X86Exit;
use super::model::injection::{self, Escalation, Exception};
use super::model::x2apic::{self, Icr};
use super::model::{msr_bitmap, xcr0};
use super::vcpu::GuestRegs;
use super::vmx::{self, field};
use super::{HV, cell_maps, cpu};
use crate::arch::Next;
use crate::cell::access::{Access, AccessSize};
use crate::cell::fault::{Fault, Resolution};
use crate::config::{CPUS, CellDesc};
use crate::hv_println;

fn count(cell: &CellDesc, kind: X86Exit) {
    HV.count_exit(cell.id.index(), kind);
}

/// Guest RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Moves the guest past the instruction that exited (it was emulated).
/// The interrupt shadow of a preceding `STI` or `MOV SS` covered exactly
/// that instruction, so it ends here too (and VM entry into the HLT state
/// requires it clear).
fn advance_rip() {
    let rip = vmx::read(field::GUEST_RIP);
    let length = vmx::read(field::EXIT_INSTRUCTION_LENGTH);
    vmx::write(field::GUEST_RIP, rip + length);
    let interruptibility = vmx::read(field::GUEST_INTERRUPTIBILITY);
    if interruptibility & 0b11 != 0 {
        vmx::write(field::GUEST_INTERRUPTIBILITY, interruptibility & !0b11);
    }
}

/// Raises `exception` in the guest at the next VM entry, with an error
/// code only where the guest's mode has one (F14: none in real mode).
fn inject(exception: Exception) {
    let event = exception.event(vmx::read(field::GUEST_CR0));
    vmx::write(field::ENTRY_INTERRUPTION_INFO, u64::from(event.info));
    if let Some(code) = event.error_code {
        vmx::write(field::ENTRY_EXCEPTION_ERROR_CODE, u64::from(code));
    }
}

fn inject_gp() {
    inject(Exception::GeneralProtection);
}

fn rip() -> u64 {
    vmx::read(field::GUEST_RIP)
}

/// The guest's CPL (SS.DPL; 0 in real mode, 3 in virtual-8086 mode).
fn cpl() -> u8 {
    ((vmx::read(field::GUEST_SS_AR) >> 5) & 3) as u8
}

/// An instruction the cell may not execute: `exception` instead (the
/// instruction does nothing), counted and reported within the cell's
/// budget, never the fault policy (F2).
fn refuse(
    cell: &CellDesc,
    vcpu: usize,
    what: &dyn core::fmt::Display,
    exception: Exception,
) -> Next {
    count(cell, X86Exit::InstructionRefused);
    if HV.may_report(cell.id.index()) {
        hv_println!(
            HV,
            "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: {what} refused -> {}",
            cell.name,
            rip(),
            exception.name()
        );
    }
    inject(exception);
    Next::Resume
}

/// Handles the exit that just happened on `cpu` (vCPU `vcpu` of `cell`).
pub(crate) fn handle(
    cell: &'static CellDesc,
    vcpu: usize,
    cpu: usize,
    regs: &mut GuestRegs,
) -> Next {
    let info = ExitInfo::decode(vmx::read(field::EXIT_REASON) as u32);
    if info.entry_failure {
        let reason = format_args!("VM entry failed: {}", info.reason.name());
        return contain(cell, vcpu, cpu, None, &reason, None);
    }
    match info.reason {
        ExitReason::Cpuid => cpuid(cell, cpu, regs),
        ExitReason::IoInstruction => io(cell, vcpu, cpu, regs),
        ExitReason::Rdmsr => {
            count(cell, X86Exit::MsrRefused);
            let msr = regs.rcx as u32;
            report_msr(cell, vcpu, "rdmsr", msr, None);
            inject_gp();
            Next::Resume
        }
        ExitReason::Wrmsr => wrmsr(cell, vcpu, cpu, regs),
        ExitReason::Vmcall => vmcall(cell, vcpu, cpu, regs),
        ExitReason::Hlt => hlt(cell, vcpu),
        ExitReason::ExceptionOrNmi => exception_or_nmi(cell, vcpu, cpu),
        ExitReason::EptViolation => ept_violation(cell, vcpu, cpu),
        ExitReason::NmiWindow => {
            count(cell, X86Exit::Kick);
            // A kick that arrived in the hypervisor: the loop looks again.
            cell_maps::nmi_window_seen();
            HV.poll_console_input();
            Next::Resume
        }
        ExitReason::TripleFault => contain(cell, vcpu, cpu, None, &"triple fault", None),
        ExitReason::CrAccess => refuse(
            cell,
            vcpu,
            &"write to CR4.VMXE",
            Exception::GeneralProtection,
        ),
        ExitReason::Xsetbv => xsetbv(cell, vcpu, regs),
        ExitReason::Rdpmc => refuse(cell, vcpu, &"RDPMC", Exception::GeneralProtection),
        ExitReason::Wbinvd => {
            // x86 DMA is cache-coherent, so no device needs the flush; on
            // the real caches it would evict every cell's lines (F11).
            count(cell, X86Exit::Other);
            advance_rip();
            Next::Resume
        }
        reason if reason.undefined_in_cell() => {
            let what = format_args!("{} at CPL {}", reason.name(), cpl());
            refuse(cell, vcpu, &what, Exception::InvalidOpcode)
        }
        other => {
            let reason = format_args!("unexpected VM exit: {}", other.name());
            contain(cell, vcpu, cpu, None, &reason, None)
        }
    }
}

/// CPUID: the host's answer, filtered (`model::cpuid`).
fn cpuid(cell: &CellDesc, cpu: usize, regs: &mut GuestRegs) -> Next {
    count(cell, X86Exit::Cpuid);
    let leaf = regs.rax as u32;
    let subleaf = regs.rcx as u32;
    let topology = CellTopology {
        vcpus: cell.cpus.len() as u32,
        apic_id: CPUS[cpu].hw_id as u32,
    };
    let filtered = cpuid::filter(leaf, subleaf, cpu::cpuid(leaf, subleaf), &topology);
    let [a, b, c, d] =
        cpuid::reflect_guest_cr4(leaf, subleaf, filtered, vmx::read(field::GUEST_CR4));
    regs.rax = u64::from(a);
    regs.rbx = u64::from(b);
    regs.rcx = u64::from(c);
    regs.rdx = u64::from(d);
    advance_rip();
    Next::Resume
}

/// VMCALL: from the guest's kernel only (CPL is SS.DPL), then the core's
/// guest-call front end.
fn vmcall(cell: &'static CellDesc, vcpu: usize, cpu: usize, regs: &mut GuestRegs) -> Next {
    let cpl = cpl();
    if cpl != 0 {
        // Counted here: the core's front end (which counts every call it
        // answers) never sees it.
        count(cell, X86Exit::Vmcall);
        if HV.may_report(cell.id.index()) {
            hv_println!(
                HV,
                "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: VMCALL from CPL {cpl} refused -> -1",
                cell.name,
                rip()
            );
        }
        regs.rax = u64::MAX;
        advance_rip();
        return Next::Resume;
    }
    let next = call(cell, vcpu, cpu, regs);
    if next == Next::Resume {
        advance_rip();
    }
    next
}

/// HLT: with interrupts on, the guest waits in its HLT state (the next
/// interrupt wakes it without another exit); with them off, the vCPU is off.
fn hlt(cell: &CellDesc, vcpu: usize) -> Next {
    count(cell, X86Exit::Hlt);
    advance_rip();
    if vmx::read(field::GUEST_RFLAGS) & RFLAGS_IF != 0 {
        if cell_maps::hlt_activity() {
            vmx::write(field::GUEST_ACTIVITY_STATE, 1);
        }
        Next::Resume
    } else {
        crate::log::info!(
            "cell {=str} vcpu {=usize}: HLT with interrupts off: vCPU off",
            cell.name,
            vcpu
        );
        HV.flush_cell_console(cell.id.index());
        Next::Park
    }
}

/// An NMI (a kick, a stop request, or console input, which comes as an
/// NMI: the caller checks whether the cell stopped), or an exception the
/// guest should have handled itself (a fault).
fn exception_or_nmi(cell: &'static CellDesc, vcpu: usize, cpu: usize) -> Next {
    let interruption = exit::Interruption::decode(vmx::read(field::EXIT_INTERRUPTION_INFO) as u32);
    if interruption.vector == 2 {
        count(cell, X86Exit::Kick);
        cpu::unblock_nmis();
        HV.poll_console_input();
        return Next::Resume;
    }
    let reason = format_args!("unexpected exception {} exit", interruption.vector);
    contain(cell, vcpu, cpu, None, &reason, None)
}

/// An EPT violation: the fault policy, with `#GP` (or the `#DF` or triple
/// fault it escalates to when it hit the delivery of an event, see
/// `model::injection`) to inject under `inject`.
fn ept_violation(cell: &'static CellDesc, vcpu: usize, cpu: usize) -> Next {
    let violation = EptViolation::decode(vmx::read(field::EXIT_QUALIFICATION));
    let gpa = vmx::read(field::GUEST_PHYSICAL_ADDRESS);
    let access = Some((violation.access(), gpa));
    match injection::escalate(vmx::read(field::IDT_VECTORING_INFO) as u32) {
        Escalation::Inject(exception) => {
            let reason = "EPT violation (not the cell's memory)";
            contain(cell, vcpu, cpu, access, &reason, Some(exception))
        }
        Escalation::TripleFault => {
            let reason = "EPT violation delivering #DF (triple fault)";
            contain(cell, vcpu, cpu, access, &reason, None)
        }
    }
}

/// The core's containment, then the exception it asks for (EPT violations
/// are the only faults a guest can be told about).
fn contain(
    cell: &'static CellDesc,
    vcpu: usize,
    cpu: usize,
    access: Option<(Access, u64)>,
    reason: &dyn core::fmt::Display,
    injection: Option<Exception>,
) -> Next {
    let fault = Fault {
        pc: rip(),
        access,
        reason,
        injection: injection.map(Exception::name),
    };
    let resolution = HV.contain(cpu, cell, vcpu, &fault);
    if let (Resolution::Inject, Some(exception)) = (resolution, injection) {
        inject(exception);
    }
    resolution.next()
}

/// VM entry itself failed (a hypervisor bug or a guest state it let
/// through): reported, and the cell halted whatever its policy.
pub(super) fn entry_failed(cell: &'static CellDesc, vcpu: usize, cpu: usize, error: u64) -> Next {
    hv_println!(
        HV,
        "bulkhead: cell {} vcpu {vcpu} (cpu {cpu}): VM entry failed (VM-instruction error {error}) -> halted",
        cell.name
    );
    HV.halt(cell);
    Next::Park
}

fn io(cell: &'static CellDesc, vcpu: usize, _cpu: usize, regs: &mut GuestRegs) -> Next {
    let access = IoAccess::decode(vmx::read(field::EXIT_QUALIFICATION));
    let index = cell.id.index();
    if access.string || access.rep {
        count(cell, X86Exit::IoRefused);
        if HV.may_report(index) {
            hv_println!(
                HV,
                "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: string I/O at port {:#x} is not emulated -> skipped",
                cell.name,
                rip(),
                access.port
            );
        }
        advance_rip();
        return Next::Resume;
    }
    let mut value: u32 = 0;
    let written = exit::io_write_value(regs.rax, access.size);
    let mut refused = false;
    for k in 0..u16::from(access.size) {
        let port = access.port.wrapping_add(k);
        if let Some(offset) = HV.virtual_uart_offset(index, u64::from(port)) {
            if access.input {
                value |= (HV.virtual_uart_read(index, offset, AccessSize::Byte) & 0xff) << (8 * k);
            } else {
                HV.virtual_uart_write(index, offset, (written >> (8 * k)) & 0xff);
            }
        } else {
            refused = true;
            value |= 0xff << (8 * k);
        }
    }
    count(
        cell,
        if refused {
            X86Exit::IoRefused
        } else {
            X86Exit::IoConsole
        },
    );
    if refused && HV.may_report(index) {
        if access.input {
            hv_println!(
                HV,
                "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: read of I/O port {:#x} ({} byte{}) refused: not assigned to the cell -> {value:#x}",
                cell.name,
                rip(),
                access.port,
                access.size,
                if access.size == 1 { "" } else { "s" }
            );
        } else {
            hv_println!(
                HV,
                "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: write of {written:#x} to I/O port {:#x} refused: not assigned to the cell -> dropped",
                cell.name,
                rip(),
                access.port
            );
        }
    }
    if access.input {
        regs.rax = exit::io_read_result(regs.rax, access.size, value);
    }
    advance_rip();
    Next::Resume
}

fn report_msr(cell: &CellDesc, vcpu: usize, op: &str, msr: u32, value: Option<u64>) {
    if !HV.may_report(cell.id.index()) {
        return;
    }
    let name = msr_bitmap::name(msr).unwrap_or("not allowed");
    match value {
        Some(value) => hv_println!(
            HV,
            "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: {op} MSR {msr:#x} ({name}) value {value:#x} refused -> #GP",
            cell.name,
            rip()
        ),
        None => hv_println!(
            HV,
            "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: {op} MSR {msr:#x} ({name}) refused -> #GP",
            cell.name,
            rip()
        ),
    }
}

fn wrmsr(cell: &'static CellDesc, vcpu: usize, cpu: usize, regs: &mut GuestRegs) -> Next {
    let msr = regs.rcx as u32;
    let value = (regs.rdx << 32) | (regs.rax & 0xffff_ffff);
    if msr != x2apic::ICR {
        count(cell, X86Exit::MsrRefused);
        report_msr(cell, vcpu, "wrmsr", msr, Some(value));
        inject_gp();
        return Next::Resume;
    }
    let icr = Icr::decode(value);
    let mut apic_ids: heapless::Vec<u32, 64> = heapless::Vec::new();
    for c in cell.cpus {
        let _ = apic_ids.push(CPUS[c.index()].hw_id as u32);
    }
    match x2apic::check(&icr, CPUS[cpu].hw_id as u32, &apic_ids) {
        Ok(mask) => {
            count(cell, X86Exit::IpiSent);
            for (i, &apic) in apic_ids.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    cpu::send_ipi(x2apic::fixed(icr.vector, apic));
                }
            }
        }
        Err(refusal) => {
            count(cell, X86Exit::IpiRefused);
            if HV.may_report(cell.id.index()) {
                hv_println!(
                    HV,
                    "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: {refusal} -> dropped",
                    cell.name,
                    rip()
                );
            }
        }
    }
    advance_rip();
    Next::Resume
}

/// XSETBV: carried out on the host if `model::xcr0` accepts the value
/// (XCR0 belongs to the core, and so to its cell's vCPU), `#GP` otherwise
/// (F1). The hypervisor set CR4.OSXSAVE at boot, so its own `XSETBV`
/// cannot raise `#UD`; without XSAVE the guest cannot get here (its CR4.OSXSAVE cannot be set).
fn xsetbv(cell: &'static CellDesc, vcpu: usize, regs: &mut GuestRegs) -> Next {
    let value = (regs.rdx << 32) | (regs.rax & 0xffff_ffff);
    let supported = cpu::xcr0_supported();
    if supported == 0 {
        return refuse(
            cell,
            vcpu,
            &"XSETBV without XSAVE",
            Exception::InvalidOpcode,
        );
    }
    match xcr0::check(cpl(), regs.rcx as u32, value, supported) {
        Ok(value) => {
            // SAFETY: host CR4.OSXSAVE is set (`cpu::enable_xsave`) and
            // the value passed every check the CPU makes.
            unsafe { cpu::set_xcr0(value) };
            count(cell, X86Exit::Other);
            advance_rip();
            Next::Resume
        }
        Err(refusal) => {
            let what = format_args!("XSETBV {value:#x} ({refusal})");
            refuse(cell, vcpu, &what, Exception::GeneralProtection)
        }
    }
}

/// VMCALL: PSCI and Bulkhead hypercalls (RAX = function id, RDI/RSI/RDX =
/// arguments; results in RAX/RDI/RSI/RDX).
fn call(cell: &'static CellDesc, vcpu: usize, cpu: usize, regs: &mut GuestRegs) -> Next {
    let mut call = [regs.rax, regs.rdi, regs.rsi, regs.rdx];
    let next = HV.answer_call(cpu, cell, vcpu, &mut call);
    [regs.rax, regs.rdi, regs.rsi, regs.rdx] = call;
    next
}
