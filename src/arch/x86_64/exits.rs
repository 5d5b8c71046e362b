//! VM exits: what each one means for the cell, and the answer it gets.
//!
//! Every exit gets a defined answer; anything unexpected goes to the
//! cell's fault policy with a report. The pure decoding lives in
//! `exit`, `x2apic`, `cpuid` (host-tested); this module reads the VMCS
//! and acts.

use super::cells::{self, Next};
use super::console::println;
use super::cpu;
use super::model::cpuid::{self, CellTopology};
use super::model::exit_decode::{self as exit, EptViolation, ExitInfo, ExitReason, IoAccess};
use super::model::exit_kind::{ExitCounters, X86Exit};
use super::model::msr_bitmap;
use super::model::x2apic::{self, Icr};
use super::vconsole;
use super::vcpu::GuestRegs;
use super::vmx::{self, field};
use crate::addr::{CellId, GuestPhysAddr};
use crate::calls::hypercall::{CellServices, OutsideCell};
use crate::calls::psci::{self, CellControl, Outcome, PsciError, VcpuPower};
use crate::config::{CELL_COUNT, CPUS, CellDesc, FaultPolicy};

/// Exit counters, per cell.
pub static COUNTERS: [ExitCounters; CELL_COUNT] = [const { ExitCounters::new() }; CELL_COUNT];

fn count(cell: &CellDesc, kind: X86Exit) {
    COUNTERS[cell.id.index()].count(kind);
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

fn inject_gp() {
    vmx::write(field::ENTRY_INTERRUPTION_INFO, u64::from(exit::gp_fault()));
    vmx::write(field::ENTRY_EXCEPTION_ERROR_CODE, 0);
}

fn rip() -> u64 {
    vmx::read(field::GUEST_RIP)
}

/// Handles the exit that just happened on `cpu` (vCPU `vcpu` of `cell`).
pub fn handle(cell: &'static CellDesc, vcpu: usize, cpu: usize, regs: &mut GuestRegs) -> Next {
    let info = ExitInfo::decode(vmx::read(field::EXIT_REASON) as u32);
    if info.entry_failure {
        return contain(
            cell,
            vcpu,
            cpu,
            format_args!("VM entry failed: {}", info.reason.name()),
            None,
        );
    }
    match info.reason {
        ExitReason::Cpuid => {
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
        ExitReason::IoInstruction => io(cell, vcpu, cpu, regs),
        ExitReason::Rdmsr => {
            count(cell, X86Exit::MsrRefused);
            let msr = regs.rcx as u32;
            report_msr(cell, vcpu, "rdmsr", msr, None);
            inject_gp();
            Next::Resume
        }
        ExitReason::Wrmsr => wrmsr(cell, vcpu, cpu, regs),
        ExitReason::Vmcall => {
            count(cell, X86Exit::Vmcall);
            // Only the guest's kernel may call: CPL is SS.DPL.
            let cpl = (vmx::read(field::GUEST_SS_AR) >> 5) & 3;
            if cpl != 0 {
                if vconsole::may_report(cell.id.index()) {
                    println!(
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
            if matches!(next, Next::Resume) {
                advance_rip();
            }
            next
        }
        ExitReason::Hlt => {
            count(cell, X86Exit::Hlt);
            advance_rip();
            if vmx::read(field::GUEST_RFLAGS) & RFLAGS_IF != 0 {
                if cells::hlt_activity() {
                    // Wait in the guest's HLT state: the next interrupt
                    // wakes it without another exit.
                    vmx::write(field::GUEST_ACTIVITY_STATE, 1);
                }
                Next::Resume
            } else {
                crate::log::info!(
                    "cell {=str} vcpu {=usize}: HLT with interrupts off: vCPU off",
                    cell.name,
                    vcpu
                );
                vconsole::flush(cell.id.index());
                Next::Park
            }
        }
        ExitReason::ExceptionOrNmi => {
            let interruption =
                exit::Interruption::decode(vmx::read(field::EXIT_INTERRUPTION_INFO) as u32);
            if interruption.vector == 2 {
                count(cell, X86Exit::Kick);
                cpu::unblock_nmis();
                // A stop request or console input (the UART's interrupt
                // comes as an NMI): take the input; the caller checks
                // whether the cell stopped.
                vconsole::poll_input();
                // A kick: the caller checks whether the cell stopped.
                return Next::Resume;
            }
            contain(
                cell,
                vcpu,
                cpu,
                format_args!("unexpected exception {} exit", interruption.vector),
                None,
            )
        }
        ExitReason::EptViolation => {
            let violation = EptViolation::decode(vmx::read(field::EXIT_QUALIFICATION));
            let gpa = vmx::read(field::GUEST_PHYSICAL_ADDRESS);
            contain(
                cell,
                vcpu,
                cpu,
                format_args!(
                    "EPT violation: {} at gpa {gpa:#x}, outside the cell's memory",
                    violation.access()
                ),
                Some(Injectable::Gp),
            )
        }
        ExitReason::NmiWindow => {
            count(cell, X86Exit::Kick);
            // A kick that arrived in the hypervisor: the loop looks again.
            cells::nmi_window_seen();
            vconsole::poll_input();
            Next::Resume
        }
        ExitReason::TripleFault => contain(cell, vcpu, cpu, format_args!("triple fault"), None),
        ExitReason::CrAccess => {
            count(cell, X86Exit::Other);
            if vconsole::may_report(cell.id.index()) {
                println!(
                    "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: write to CR4.VMXE refused -> #GP",
                    cell.name,
                    rip()
                );
            }
            inject_gp();
            Next::Resume
        }
        ExitReason::Xsetbv => {
            count(cell, X86Exit::Other);
            xsetbv(cell, vcpu, regs)
        }
        other => contain(
            cell,
            vcpu,
            cpu,
            format_args!("unexpected VM exit: {}", other.name()),
            None,
        ),
    }
}

/// What `inject` means for a fault.
enum Injectable {
    /// Inject #GP(0).
    Gp,
}

/// Reports a fault and applies the cell's policy.
fn contain(
    cell: &'static CellDesc,
    vcpu: usize,
    cpu: usize,
    what: core::fmt::Arguments<'_>,
    injectable: Option<Injectable>,
) -> Next {
    count(cell, X86Exit::Fault);
    let policy = match (cell.fault_policy, &injectable) {
        (FaultPolicy::Inject, Some(_)) => "inject #GP",
        (FaultPolicy::Inject, None) | (FaultPolicy::Halt, _) => "halted",
        (FaultPolicy::Restart, _) => "restarting",
    };
    if vconsole::may_report(cell.id.index()) {
        println!(
            "bulkhead: fault: cell {} vcpu {vcpu} (cpu {cpu}) rip {:#x}: {what} -> {policy}",
            cell.name,
            rip()
        );
    }
    crate::log::warn!(
        "fault: cell {=str} vcpu {=usize} -> {=str}",
        cell.name,
        vcpu,
        policy
    );
    match (cell.fault_policy, injectable) {
        (FaultPolicy::Inject, Some(Injectable::Gp)) => {
            inject_gp();
            Next::Resume
        }
        (FaultPolicy::Restart, _) => {
            cells::restart(cell, cpu);
            Next::Park
        }
        _ => {
            if vconsole::may_report(cell.id.index()) {
                println!("bulkhead: cell {} halted", cell.name);
            }
            cells::halt(cell);
            Next::Park
        }
    }
}

/// VM entry itself failed (a hypervisor bug or a guest state it let
/// through): report and halt the cell.
pub fn entry_failed(cell: &'static CellDesc, vcpu: usize, cpu: usize, error: u64) {
    println!(
        "bulkhead: cell {} vcpu {vcpu} (cpu {cpu}): VM entry failed (VM-instruction error {error}) -> halted",
        cell.name
    );
    cells::halt(cell);
}

fn io(cell: &'static CellDesc, vcpu: usize, _cpu: usize, regs: &mut GuestRegs) -> Next {
    let access = IoAccess::decode(vmx::read(field::EXIT_QUALIFICATION));
    let index = cell.id.index();
    if access.string || access.rep {
        count(cell, X86Exit::IoRefused);
        if vconsole::may_report(index) {
            println!(
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
        if vconsole::claims(index, port) {
            if access.input {
                value |= u32::from(vconsole::read(index, port)) << (8 * k);
            } else {
                vconsole::write(index, port, (written >> (8 * k)) as u8);
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
    if refused && vconsole::may_report(index) {
        if access.input {
            println!(
                "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: read of I/O port {:#x} ({} byte{}) refused: not assigned to the cell -> {value:#x}",
                cell.name,
                rip(),
                access.port,
                access.size,
                if access.size == 1 { "" } else { "s" }
            );
        } else {
            println!(
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
    if !vconsole::may_report(cell.id.index()) {
        return;
    }
    let name = msr_bitmap::name(msr).unwrap_or("not allowed");
    match value {
        Some(value) => println!(
            "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: {op} MSR {msr:#x} ({name}) value {value:#x} refused -> #GP",
            cell.name,
            rip()
        ),
        None => println!(
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
            if vconsole::may_report(cell.id.index()) {
                println!(
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

fn xsetbv(cell: &'static CellDesc, vcpu: usize, regs: &mut GuestRegs) -> Next {
    let value = (regs.rdx << 32) | (regs.rax & 0xffff_ffff);
    let supported = {
        let [a, _, _, d] = cpu::cpuid(0xd, 0);
        (u64::from(d) << 32) | u64::from(a)
    };
    let host_has_xsave = cpu::cpuid(1, 0)[2] & (1 << 26) != 0;
    if regs.rcx as u32 == 0 && host_has_xsave && value & 1 != 0 && value & !supported == 0 {
        // SAFETY: XCR0 gets a value the CPU supports (checked above); the
        // hypervisor itself never uses extended state (soft-float).
        unsafe {
            core::arch::asm!("xsetbv", in("ecx") 0u32, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack));
        }
        advance_rip();
    } else {
        if vconsole::may_report(cell.id.index()) {
            println!(
                "bulkhead: cell {} vcpu {vcpu}: rip {:#x}: XSETBV {value:#x} refused -> #GP",
                cell.name,
                rip()
            );
        }
        inject_gp();
    }
    Next::Resume
}

/// The calling cell, as `vcpu::psci` sees it.
struct ThisCell {
    cell: &'static CellDesc,
}

impl CellControl for ThisCell {
    fn vcpu_count(&self) -> usize {
        self.cell.cpus.len()
    }

    fn vcpu_power(&self, vcpu: usize) -> VcpuPower {
        match cells::vcpu_power(self.cell, vcpu) {
            cells::power::ON => VcpuPower::On,
            cells::power::ON_PENDING => VcpuPower::OnPending,
            _ => VcpuPower::Off,
        }
    }

    fn start_vcpu(
        &mut self,
        vcpu: usize,
        entry: GuestPhysAddr,
        context: u64,
    ) -> Result<(), PsciError> {
        cells::request_start(self.cell, vcpu, entry.as_u64(), context).map_err(
            |state| match state {
                cells::power::ON => PsciError::AlreadyOn,
                cells::power::ON_PENDING => PsciError::OnPending,
                _ => PsciError::InternalFailure,
            },
        )
    }

    fn entry_is_valid(&self, entry: GuestPhysAddr) -> bool {
        crate::cell::entry_is_valid(self.cell, entry)
    }

    fn firmware_call(&mut self, _function_id: u32, _args: [u64; 3]) -> [u64; 4] {
        // No SMCCC firmware on x86.
        [u64::MAX, 0, 0, 0]
    }
}

impl CellServices for ThisCell {
    fn cell_id(&self) -> CellId {
        self.cell.id
    }

    fn read_guest(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> Result<(), OutsideCell> {
        let host = cells::ram_host_address(self.cell, gpa.as_u64(), buf.len() as u64)
            .ok_or(OutsideCell)?;
        // SAFETY: `host..host + len` is the cell's own RAM (checked just
        // now), identity-mapped.
        unsafe { core::ptr::copy_nonoverlapping(host as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn console_write(&mut self, bytes: &[u8]) {
        vconsole::output(self.cell.id.index(), bytes);
    }

    fn counter(&self, index: u64) -> Option<u64> {
        COUNTERS[self.cell.id.index()].get(index)
    }
}

/// VMCALL: PSCI and Bulkhead hypercalls (RAX = function id, RDI/RSI/RDX =
/// arguments; results in RAX/RDI/RSI/RDX).
fn call(cell: &'static CellDesc, vcpu: usize, cpu: usize, regs: &mut GuestRegs) -> Next {
    let call = psci::decode(regs.rax, [regs.rdi, regs.rsi, regs.rdx]);
    let mut this = ThisCell { cell };
    let outcome = psci::handle(&call, vcpu, &mut this);
    if let Some(note) = outcome.note()
        && vconsole::may_report(cell.id.index())
    {
        let mut out = [0u64; 4];
        outcome.apply(&mut out);
        println!(
            "bulkhead: cell {} vcpu {vcpu}: {note} -> {}",
            cell.name, out[0] as i64
        );
    }
    match outcome {
        Outcome::Return1(_) | Outcome::Return4(_) | Outcome::Refused { .. } => {
            let mut r = [regs.rax, regs.rdi, regs.rsi, regs.rdx];
            outcome.apply(&mut r);
            [regs.rax, regs.rdi, regs.rsi, regs.rdx] = r;
            Next::Resume
        }
        Outcome::CpuOff => Next::Park,
        Outcome::SystemOff => {
            println!("bulkhead: cell {} powered off (PSCI SYSTEM_OFF)", cell.name);
            cells::halt(cell);
            Next::Park
        }
        Outcome::SystemReset => {
            println!(
                "bulkhead: cell {} restarting (PSCI SYSTEM_RESET)",
                cell.name
            );
            cells::restart(cell, cpu);
            Next::Park
        }
    }
}
