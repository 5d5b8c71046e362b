//! Containing a cell's faults: one report format, then the cell's policy.
//!
//! A guest that touches memory outside its second-stage map, or otherwise
//! faults in a way only the hypervisor sees (a triple fault, an SError, an
//! exit nothing explains), never stops the hypervisor or another cell. The
//! fault is counted, reported on the console (within the cell's report
//! budget) and logged, then the cell's `fault-policy` decides: `inject`
//! raises an exception in the guest where the architecture has one for this
//! fault (an external abort, #GP), `halt` stops the cell, `restart` reloads
//! its image and starts it again. A fault that cannot be injected halts the
//! cell under `inject`.
//!
//! The report, one line from the line start:
//!
//! ```text
//! bulkhead: fault: cell <name> vcpu <v> (cpu <c>) <pc|rip> <address>: [<read|write|execute> <address>: ]<reason> -> <inject <what>|halt|restart>
//! ```

use core::fmt;

use crate::arch::{Arch, Next};
use crate::cell::access::Access;
use crate::cell::counters::ExitKind;
use crate::config::{CellDesc, FaultPolicy};
use crate::hv_println;
use crate::hypervisor::Hypervisor;

/// A fault to contain.
#[derive(Clone, Copy)]
pub(crate) struct Fault<'a> {
    /// The guest's program counter at the fault.
    pub(crate) pc: u64,
    /// What it touched, and how, where known (guest-physical address).
    pub(crate) access: Option<(Access, u64)>,
    /// One-line reason, e.g. "stage-2 translation fault (not the cell's
    /// memory)", "unexpected exception 6 exit".
    pub(crate) reason: &'a dyn fmt::Display,
    /// What `inject` raises in the guest for this fault (e.g. "external
    /// abort", "#GP"), if the architecture can raise anything.
    pub(crate) injection: Option<&'static str>,
}

/// What the architecture does after [`Hypervisor::contain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Raise [`Fault::injection`] in the guest and resume it.
    Inject,
    /// The cell was halted or restarted: park this vCPU.
    Park,
}

impl Resolution {
    /// The exit's [`Next`], once the architecture injected where asked.
    pub(crate) fn next(self) -> Next {
        match self {
            Resolution::Inject => Next::Resume,
            Resolution::Park => Next::Park,
        }
    }
}

/// The policy's action, as the report names it.
struct Action<'a>(&'a FaultPolicy, Option<&'static str>);

impl fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (FaultPolicy::Inject, Some(what)) => write!(f, "inject {what}"),
            (FaultPolicy::Inject | FaultPolicy::Halt, _) => f.write_str("halt"),
            (FaultPolicy::Restart, _) => f.write_str("restart"),
        }
    }
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// Counts and reports `fault` of vCPU `vcpu` of `cell` on `cpu`, then
    /// applies the cell's policy.
    pub(crate) fn contain(
        &self,
        cpu: usize,
        cell: &'static CellDesc,
        vcpu: usize,
        fault: &Fault<'_>,
    ) -> Resolution {
        let index = cell.id.index();
        self.count_exit(index, A::ExitKind::FAULT);
        let action = Action(&cell.fault_policy, fault.injection);
        if self.may_report(index) {
            let (pc_name, pc) = (A::PC_NAME, fault.pc);
            match fault.access {
                Some((access, address)) => hv_println!(
                    self,
                    "bulkhead: fault: cell {} vcpu {vcpu} (cpu {cpu}) {pc_name} {pc:#x}: {} {address:#x}: {} -> {action}",
                    cell.name,
                    access.as_str(),
                    fault.reason
                ),
                None => hv_println!(
                    self,
                    "bulkhead: fault: cell {} vcpu {vcpu} (cpu {cpu}) {pc_name} {pc:#x}: {} -> {action}",
                    cell.name,
                    fault.reason
                ),
            }
        }
        crate::log::warn!(
            "fault: cell {=str} vcpu {=usize} pc {=u64:#x} address {=u64:#x}",
            cell.name,
            vcpu,
            fault.pc,
            fault.access.map_or(0, |(_, address)| address)
        );
        match (cell.fault_policy, fault.injection) {
            (FaultPolicy::Inject, Some(_)) => Resolution::Inject,
            (FaultPolicy::Restart, _) => {
                self.restart(cell, cpu, || {
                    if self.may_report(index) {
                        hv_println!(self, "bulkhead: cell {} restarting", cell.name);
                    }
                });
                Resolution::Park
            }
            (FaultPolicy::Inject | FaultPolicy::Halt, _) => {
                if self.may_report(index) {
                    hv_println!(self, "bulkhead: cell {} halted", cell.name);
                }
                self.halt(cell);
                Resolution::Park
            }
        }
    }

    /// Counts one exit of `cell` as `kind`.
    #[inline]
    pub(crate) fn count_exit(&self, cell: usize, kind: A::ExitKind) {
        if let Some(counters) = self.counters.get(cell) {
            counters.count(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::fake::{Event, FakeArch, FakeExit, TestHv};
    use crate::console::hub::REPORT_BUDGET;

    const WILD_WRITE: Fault<'static> = Fault {
        pc: 0x4000_1234,
        access: Some((Access::Write, 0x4300_0000)),
        reason: &"stage-2 translation fault (not the cell's memory)",
        injection: Some("external abort"),
    };

    fn hv_with(policy: FaultPolicy) -> (TestHv, &'static CellDesc) {
        let hv = TestHv::over(FakeArch::two_cells_with_policy(policy));
        hv.start_all();
        let beta = &hv.tables().cells[1];
        hv.life.take_start(1, 1).unwrap();
        (hv, beta)
    }

    #[test]
    fn inject_reports_in_one_format_and_resumes() {
        let (hv, beta) = hv_with(FaultPolicy::Inject);
        let resolution = hv.arch.as_cpu(1, || hv.contain(1, beta, 0, &WILD_WRITE));
        assert_eq!(resolution, Resolution::Inject);
        assert_eq!(resolution.next(), Next::Resume);
        assert!(hv.arch.console_text().contains(
            "bulkhead: fault: cell beta vcpu 0 (cpu 1) pc 0x40001234: write 0x43000000: stage-2 translation fault (not the cell's memory) -> inject external abort\r\n"
        ));
        assert!(!hv.is_stopped(beta));
        assert_eq!(hv.counters[1].get(FakeExit::Fault), 1);
    }

    #[test]
    fn inject_without_an_injection_halts() {
        let (hv, beta) = hv_with(FaultPolicy::Inject);
        let triple = Fault {
            pc: 0x10,
            access: None,
            reason: &"triple fault",
            injection: None,
        };
        let resolution = hv.arch.as_cpu(1, || hv.contain(1, beta, 0, &triple));
        assert_eq!(resolution, Resolution::Park);
        let text = hv.arch.console_text();
        assert!(
            text.contains("(cpu 1) pc 0x10: triple fault -> halt\r\nbulkhead: cell beta halted"),
            "{text}"
        );
        assert!(hv.is_stopped(beta));
    }

    #[test]
    fn halt_stops_the_cell_and_parks() {
        let (hv, beta) = hv_with(FaultPolicy::Halt);
        assert_eq!(
            hv.arch.as_cpu(1, || hv.contain(1, beta, 0, &WILD_WRITE)),
            Resolution::Park
        );
        assert!(
            hv.arch
                .console_text()
                .contains("-> halt\r\nbulkhead: cell beta halted\r\n")
        );
        assert!(hv.is_stopped(beta));
        assert!(!hv.is_stopped(&hv.tables().cells[0]));
    }

    #[test]
    fn restart_reloads_the_cell_and_parks_the_faulting_vcpu() {
        let (hv, beta) = hv_with(FaultPolicy::Restart);
        hv.arch.clear_events();
        assert_eq!(
            hv.arch.as_cpu(1, || hv.contain(1, beta, 0, &WILD_WRITE)),
            Resolution::Park
        );
        assert!(
            hv.arch
                .console_text()
                .contains("-> restart\r\nbulkhead: cell beta restarting\r\n")
        );
        assert!(hv.arch.events().contains(&Event::PrepareStart(1)));
        assert!(!hv.is_stopped(beta));
        assert_eq!(hv.life.power(1), crate::cell::lifecycle::Power::OnPending);
    }

    #[test]
    fn reports_stop_at_the_budget_but_the_policy_still_applies() {
        let (hv, beta) = hv_with(FaultPolicy::Inject);
        for _ in 0..REPORT_BUDGET + 5 {
            assert_eq!(
                hv.arch.as_cpu(1, || hv.contain(1, beta, 0, &WILD_WRITE)),
                Resolution::Inject
            );
        }
        let text = hv.arch.console_text();
        assert_eq!(
            text.matches("bulkhead: fault: ").count(),
            REPORT_BUDGET as usize
        );
        assert_eq!(text.matches("keeps misbehaving").count(), 1);
        assert_eq!(
            hv.counters[1].get(FakeExit::Fault),
            u64::from(REPORT_BUDGET) + 5
        );
    }
}
