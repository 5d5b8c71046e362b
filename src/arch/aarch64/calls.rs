//! HVC and SMC from a guest: PSCI, SMCCC and Bulkhead hypercalls.
//!
//! The arch-neutral `vcpu::psci` decides the answer; this module supplies
//! the physical side (vCPU power, guest memory, the console, firmware) and
//! carries out what the answer asks for: write x0..x3 back (x4.. are
//! preserved, as SMCCC 1.1 requires), park the vCPU, stop or restart the
//! cell. Both conduits are answered alike.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::cells::{self, power};
use super::console::println;
use super::exception::TrapFrame;
use super::vconsole;
use crate::addr::{CellId, GuestPhysAddr};
use crate::arch::aarch64::model::exit_cause::ExitCause;
use crate::calls::hypercall::{CellServices, OutsideCell};
use crate::calls::psci::{self, CellControl, Outcome, PsciError, VcpuPower};
use crate::config::CellDesc;

/// Whether firmware answers SMCCC 1.1 calls (set once at boot, see
/// [`probe_firmware`]).
static FIRMWARE_SMCCC: AtomicBool = AtomicBool::new(false);

/// Asks firmware whether SMCCC 1.1 calls may be forwarded to it. Boot core,
/// before any guest runs.
pub fn probe_firmware() {
    let present = super::psci::smccc_1_1_present();
    FIRMWARE_SMCCC.store(present, Ordering::Relaxed);
    crate::log::info!("firmware SMCCC 1.1: {=bool}", present);
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
            power::ON => VcpuPower::On,
            power::ON_PENDING => VcpuPower::OnPending,
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
                power::ON => PsciError::AlreadyOn,
                power::ON_PENDING => PsciError::OnPending,
                _ => PsciError::InternalFailure,
            },
        )
    }

    fn entry_is_valid(&self, entry: GuestPhysAddr) -> bool {
        crate::cell::entry_is_valid(self.cell, entry)
    }

    fn firmware_call(&mut self, function_id: u32, args: [u64; 3]) -> [u64; 4] {
        if !FIRMWARE_SMCCC.load(Ordering::Relaxed) {
            // No SMCCC 1.1 firmware: the workaround calls are not
            // implemented (and sending them could be UNDEFINED at EL2).
            return [u64::MAX, 0, 0, 0];
        }
        let mut regs = [u64::from(function_id), args[0], args[1], args[2]];
        // SAFETY: an SMCCC call to EL3 firmware (only the architectural
        // workaround ids and their feature queries reach here); it may
        // clobber x0-x17 per SMCCC, which the asm declares.
        unsafe {
            asm!(
                "smc #0",
                inout("x0") regs[0],
                inout("x1") regs[1],
                inout("x2") regs[2],
                inout("x3") regs[3],
                out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _,
                options(nostack)
            );
        }
        regs
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
        // now), identity-mapped read-write at EL2.
        unsafe { core::ptr::copy_nonoverlapping(host as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn console_write(&mut self, bytes: &[u8]) {
        vconsole::output(self.cell.id.index(), bytes);
    }

    fn counter(&self, index: u64) -> Option<u64> {
        let counters = super::vgic::COUNTERS.get(self.cell.id.index())?;
        let exits = counters.exits.snapshot();
        let delivered = counters.interrupts.snapshot();
        let index = usize::try_from(index).ok()?;
        exits
            .get(index)
            .or_else(|| delivered.get(index.checked_sub(exits.len())?))
            .copied()
    }
}

/// Answers the call in `frame` (x0 = function id, x1..x3 = arguments) from
/// vCPU `vcpu` of `cell` on `cpu`.
pub fn handle(frame: &mut TrapFrame, cpu: usize, cell: &'static CellDesc, vcpu: usize) {
    let call = psci::decode(frame.x[0], [frame.x[1], frame.x[2], frame.x[3]]);
    let cause = match call {
        psci::Call::Hypercall(_) => ExitCause::Hypercall,
        psci::Call::Unknown(_) => ExitCause::Other,
        _ if crate::calls::smccc::owner(call.function_id())
            == crate::calls::smccc::OWNER_STANDARD_SECURE =>
        {
            ExitCause::Psci
        }
        _ => ExitCause::Smccc,
    };
    super::vgic::count(cell.id.index(), cause);
    let mut this = ThisCell { cell };
    let outcome = psci::handle(&call, vcpu, &mut this);
    if let Some(note) = outcome.note() {
        // Refused calls are reported: they hint at a guest bug or an attack.
        if vconsole::may_report(cell.id.index()) {
            println!(
                "bulkhead: cell {} vcpu {vcpu}: {note} -> {}",
                cell.name,
                frame_code(&outcome)
            );
        }
        crate::log::warn!(
            "cell {=str} vcpu {=usize}: refused call {=u64:#x}",
            cell.name,
            vcpu,
            frame.x[0]
        );
    }
    match outcome {
        Outcome::Return1(_) | Outcome::Return4(_) | Outcome::Refused { .. } => {
            let mut regs = [frame.x[0], frame.x[1], frame.x[2], frame.x[3]];
            outcome.apply(&mut regs);
            frame.x[..4].copy_from_slice(&regs);
        }
        Outcome::CpuOff => {
            crate::log::info!("cell {=str} vcpu {=usize}: CPU_OFF", cell.name, vcpu);
            cells::park_and_run(cpu);
        }
        Outcome::SystemOff => {
            println!("bulkhead: cell {} powered off (PSCI SYSTEM_OFF)", cell.name);
            cells::halt(cell);
            cells::park_and_run(cpu);
        }
        Outcome::SystemReset => {
            println!(
                "bulkhead: cell {} restarting (PSCI SYSTEM_RESET)",
                cell.name
            );
            cells::restart(cell, cpu);
            cells::run(cpu);
        }
    }
}

fn frame_code(outcome: &Outcome) -> i64 {
    let mut regs = [0; 4];
    outcome.apply(&mut regs);
    regs[0] as i64
}
