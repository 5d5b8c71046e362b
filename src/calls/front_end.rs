//! Answering a guest's call for the calling cell, the same on every
//! architecture: decode it, count it, answer it ([`dispatch`]), report what
//! it refused, and carry out what the answer asks (write the results back,
//! park the vCPU, stop or restart the cell).
//!
//! The architecture only marshals registers: `[x0, x1, x2, x3]` on AArch64
//! (`HVC #0` and `SMC #0`, the latter skipped first), `[RAX, RDI, RSI, RDX]`
//! on x86_64 (`VMCALL`, from CPL 0 only).

use super::dispatch;
use super::hypercall::{CellServices, OutsideCell};
use super::outcome::Outcome;
use super::psci::{CellControl, PsciError};
use crate::addr::{CellId, GuestPhysAddr};
use crate::arch::{Arch, Next};
use crate::cell::counters::ExitKind;
use crate::cell::lifecycle::Power;
use crate::config::CellDesc;
use crate::hv_println;
use crate::hypervisor::Hypervisor;

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// Answers the call vCPU `vcpu` of `cell` made on `cpu`: `regs` holds
    /// the function id and three arguments and gets the results (registers
    /// a call does not return keep their values).
    pub(crate) fn answer_call(
        &self,
        cpu: usize,
        cell: &'static CellDesc,
        vcpu: usize,
        regs: &mut [u64; 4],
    ) -> Next {
        let call = dispatch::decode(regs[0], [regs[1], regs[2], regs[3]]);
        self.count_exit(cell.id.index(), A::ExitKind::of_call(&call));
        let outcome = dispatch::handle(
            &call,
            vcpu,
            &mut CallingCell {
                hv: self,
                cell,
                cpu,
            },
        );
        if let Some(note) = outcome.note() {
            // Refused calls hint at a guest bug or an attack.
            if self.may_report(cell.id.index()) {
                let mut code = [0; 4];
                outcome.apply(&mut code);
                hv_println!(
                    self,
                    "bulkhead: cell {} vcpu {vcpu}: {note} -> {}",
                    cell.name,
                    code[0] as i64
                );
            }
            crate::log::warn!(
                "cell {=str} vcpu {=usize}: refused call {=u64:#x}",
                cell.name,
                vcpu,
                regs[0]
            );
        }
        match outcome {
            Outcome::Return1(_) | Outcome::Return4(_) | Outcome::Refused { .. } => {
                outcome.apply(regs);
                Next::Resume
            }
            Outcome::CpuOff => {
                crate::log::info!("cell {=str} vcpu {=usize}: CPU_OFF", cell.name, vcpu);
                Next::Park
            }
            // Both lines count against the cell's report budget: a cell
            // resetting in a loop must not flood the console (finding F7).
            Outcome::SystemOff => {
                crate::log::info!("cell {=str} powered off (PSCI SYSTEM_OFF)", cell.name);
                if self.may_report(cell.id.index()) {
                    hv_println!(
                        self,
                        "bulkhead: cell {} powered off (PSCI SYSTEM_OFF)",
                        cell.name
                    );
                }
                self.halt(cell);
                Next::Park
            }
            Outcome::SystemReset => {
                // Announced only by the call that restarts the cell (of two
                // vCPUs resetting at once, one does).
                self.restart(cell, cpu, || {
                    crate::log::info!("cell {=str} restarting (PSCI SYSTEM_RESET)", cell.name);
                    if self.may_report(cell.id.index()) {
                        hv_println!(
                            self,
                            "bulkhead: cell {} restarting (PSCI SYSTEM_RESET)",
                            cell.name
                        );
                    }
                });
                Next::Park
            }
        }
    }
}

/// The calling cell, as the call handlers see it.
struct CallingCell<'h, A: Arch, const CPUS: usize, const CELLS: usize> {
    hv: &'h Hypervisor<A, CPUS, CELLS>,
    cell: &'static CellDesc,
    /// The calling vCPU's CPU (its epoch is the one its requests belong to).
    cpu: usize,
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> CellControl
    for CallingCell<'_, A, CPUS, CELLS>
{
    fn vcpu_count(&self) -> usize {
        self.cell.cpus.len()
    }

    fn vcpu_power(&self, vcpu: usize) -> Power {
        self.hv.vcpu_power(self.cell, vcpu)
    }

    fn start_vcpu(
        &mut self,
        vcpu: usize,
        entry: GuestPhysAddr,
        context: u64,
    ) -> Result<(), PsciError> {
        let epoch = self.hv.life.vcpu_epoch(self.cpu);
        self.hv
            .request_start(self.cell, vcpu, epoch, entry.as_u64(), context)
            .map_err(|state| match state {
                Power::On => PsciError::AlreadyOn,
                Power::OnPending => PsciError::OnPending,
                Power::Off => PsciError::InternalFailure,
            })
    }

    fn entry_is_valid(&self, entry: GuestPhysAddr) -> bool {
        crate::cell::entry_is_valid(self.cell, entry)
    }

    fn firmware_call(&mut self, function_id: u32, args: [u64; 3]) -> [u64; 4] {
        self.hv.arch.firmware_call(function_id, args)
    }
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> CellServices
    for CallingCell<'_, A, CPUS, CELLS>
{
    fn cell_id(&self) -> CellId {
        self.cell.id
    }

    fn read_guest(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> Result<(), OutsideCell> {
        let host = crate::cell::ram_host_address(self.cell, gpa.as_u64(), buf.len() as u64)
            .ok_or(OutsideCell)?;
        self.hv.arch.read_cell_memory(host, buf);
        Ok(())
    }

    fn console_write(&mut self, bytes: &[u8]) {
        self.hv.console_output(self.cell.id.index(), bytes);
    }

    fn counter(&self, index: u64) -> Option<u64> {
        let cell = self.cell.id.index();
        self.hv
            .counters
            .get(cell)?
            .by_index(index, A::DELIVERY_KINDS.len(), |kind| {
                self.hv.arch.delivered(cell, kind)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::fake::{Event, FakeArch, FakeExit, TestHv};
    use crate::calls::{hypercall, psci, smccc};
    use crate::console::hub::REPORT_BUDGET;

    const NOT_SUPPORTED: u64 = u64::MAX;

    fn started() -> TestHv {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.start_all();
        hv.life.take_start(1, 1).unwrap();
        hv
    }

    fn call(hv: &TestHv, function_id: u32, args: [u64; 3]) -> ([u64; 4], Next) {
        let mut regs = [u64::from(function_id), args[0], args[1], args[2]];
        let beta = &hv.tables().cells[1];
        let next = hv.arch.as_cpu(1, || hv.answer_call(1, beta, 0, &mut regs));
        (regs, next)
    }

    #[test]
    fn results_are_written_back_and_the_guest_resumes() {
        let hv = started();
        let (regs, next) = call(&hv, hypercall::CELL_INFO, [9, 9, 9]);
        assert_eq!(next, Next::Resume);
        assert_eq!(regs, [0, 1, 2, 0], "cell 1, 2 vCPUs, caller vCPU 0");
        assert_eq!(hv.counters[1].get(FakeExit::Call), 1);
    }

    #[test]
    fn cpu_on_starts_a_sibling_and_rings_its_cpu() {
        let hv = started();
        let entry = hv.tables().cells[1].entry.as_u64();
        let (regs, next) = call(&hv, psci::CPU_ON_64, [1, entry, 42]);
        assert_eq!((regs[0], next), (0, Next::Resume));
        assert_eq!(hv.life.power(2), Power::OnPending);
        assert!(hv.arch.events().contains(&Event::Doorbell(2)));
        let (regs, _) = call(&hv, psci::CPU_ON_64, [1, entry, 42]);
        assert_eq!(
            regs[0],
            PsciError::OnPending.to_register(),
            "already pending"
        );
    }

    #[test]
    fn a_refused_call_is_reported_with_its_code_and_resumes() {
        let hv = started();
        let (regs, next) = call(&hv, psci::CPU_ON_64, [0x100, 0, 0]);
        assert_eq!(next, Next::Resume);
        assert_eq!(regs[0], PsciError::InvalidParameters.to_register());
        assert!(hv.arch.console_text().contains(
            "bulkhead: cell beta vcpu 0: target MPIDR 0x100 is not in the cell -> -2\r\n"
        ));
        let (regs, _) = call(&hv, 0xc600_00ff, [0; 3]);
        assert_eq!(regs[0], NOT_SUPPORTED);
        assert!(
            hv.arch
                .console_text()
                .contains("unknown function id 0xc60000ff -> -1")
        );
    }

    #[test]
    fn cpu_off_parks_without_writing_back() {
        let hv = started();
        let (regs, next) = call(&hv, psci::CPU_OFF, [7, 8, 9]);
        assert_eq!(next, Next::Park);
        assert_eq!(regs, [u64::from(psci::CPU_OFF), 7, 8, 9]);
    }

    #[test]
    fn system_off_halts_the_cell_and_system_reset_restarts_it() {
        let hv = started();
        let (_, next) = call(&hv, psci::SYSTEM_RESET, [0; 3]);
        assert_eq!(next, Next::Park);
        assert!(
            hv.arch
                .console_text()
                .contains("bulkhead: cell beta restarting (PSCI SYSTEM_RESET)\r\n")
        );
        assert_eq!(hv.life.power(1), Power::OnPending, "vCPU 0 starts again");
        hv.life.take_start(1, 1).unwrap();
        let (_, next) = call(&hv, psci::SYSTEM_OFF, [0; 3]);
        assert_eq!(next, Next::Park);
        assert!(hv.is_stopped(&hv.tables().cells[1]));
        assert!(
            hv.arch
                .console_text()
                .contains("bulkhead: cell beta powered off (PSCI SYSTEM_OFF)\r\n")
        );
    }

    /// F7: a cell resetting in a loop prints its `restarting` line within
    /// its report budget, then one notice, then nothing more.
    #[test]
    fn f7_system_reset_lines_count_against_the_report_budget() {
        let hv = started();
        for _ in 0..REPORT_BUDGET + 50 {
            let (_, next) = call(&hv, psci::SYSTEM_RESET, [0; 3]);
            assert_eq!(next, Next::Park);
            hv.life.take_start(1, 1).unwrap();
        }
        let text = hv.arch.console_text();
        let restarts = text
            .matches("bulkhead: cell beta restarting (PSCI SYSTEM_RESET)\r\n")
            .count();
        assert_eq!(restarts, REPORT_BUDGET as usize, "{text}");
        assert_eq!(text.matches("cell beta keeps misbehaving").count(), 1);
    }

    #[test]
    fn console_write_reads_the_cells_own_ram_and_prints_tagged() {
        let hv = started();
        let beta = &hv.tables().cells[1];
        let gpa = beta.memory[0].gpa.as_u64() + 0x800;
        hv.arch.write_memory(
            crate::cell::ram_host_address(beta, gpa, 3).unwrap(),
            b"hi\n",
        );
        let (regs, _) = call(&hv, hypercall::CONSOLE_WRITE, [gpa, 3, 0]);
        assert_eq!(regs[0], 3);
        assert!(hv.arch.console_text().contains("[beta] hi\r\n"));
        // A buffer in alpha's RAM is not beta's: refused, nothing read.
        let alpha_gpa = hv.tables().cells[0].memory[0].gpa.as_u64() + 0x10_0000;
        let (regs, _) = call(&hv, hypercall::CONSOLE_WRITE, [alpha_gpa, 3, 0]);
        assert_eq!(
            regs[0],
            hypercall::HypercallError::InvalidParameters.to_register()
        );
    }

    #[test]
    fn counters_are_the_cells_exits_then_its_deliveries() {
        let hv = started();
        hv.count_exit(1, FakeExit::Io);
        hv.arch.set_delivered(1, 0, 12);
        let io = call(&hv, hypercall::COUNTER, [1, 0, 0]).0;
        assert_eq!(io[..2], [0, 1]);
        let timer = call(&hv, hypercall::COUNTER, [3, 0, 0]).0;
        assert_eq!(timer[..2], [0, 12]);
        let beyond = call(&hv, hypercall::COUNTER, [4, 0, 0]).0;
        assert_eq!(
            beyond[0],
            hypercall::HypercallError::InvalidParameters.to_register()
        );
    }

    #[test]
    fn workaround_calls_go_to_firmware_with_fixed_arguments() {
        let hv = started();
        let (regs, _) = call(&hv, smccc::ARCH_WORKAROUND_1, [5, 6, 7]);
        assert_eq!(
            regs[0], NOT_SUPPORTED,
            "the fake's firmware has no SMCCC 1.1"
        );
        assert!(
            hv.arch
                .events()
                .contains(&Event::FirmwareCall(smccc::ARCH_WORKAROUND_1, [0, 0, 0]))
        );
    }
}
