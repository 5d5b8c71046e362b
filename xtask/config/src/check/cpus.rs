//! CPUs: the platform's list and the cores each cell owns.
//!
//! Rules enforced here:
//! - the platform lists at least one CPU, each with the id its architecture
//!   uses (`mpidr` on AArch64, `apic-id` on x86_64), one id per CPU;
//! - every cell owns at least one CPU;
//! - a cell's CPUs exist on the platform;
//! - no CPU belongs to two cells.
//!
//! Cells own whole cores: the hypervisor has no scheduler and runs one vCPU
//! on each CPU a cell owns, so a CPU can serve only one cell.

use crate::diag::Diagnostic;
use crate::model::{Arch, Cpu};
use crate::schema::RawCell;

use super::checker::Checker;
use super::platform::PlatformChecker;

impl PlatformChecker<'_> {
    /// The platform's CPUs, each with its hardware id.
    pub(super) fn check_cpu_ids(&mut self) -> Vec<Cpu> {
        let raw = self.raw;
        let cpus: Vec<Cpu> = raw
            .cpus
            .get_ref()
            .iter()
            .map(|c| Cpu {
                hw_id: c.mpidr.or(c.apic_id.map(u64::from)).unwrap_or(0),
            })
            .collect();
        if cpus.is_empty() {
            self.error(
                Diagnostic::new(self.at(raw.cpus.span()), "the platform lists no CPUs")
                    .help("add one `{ mpidr = ... }` (or `{ apic-id = ... }`) entry per core"),
            );
        }
        for (i, cpu) in raw.cpus.get_ref().iter().enumerate() {
            let wanted = match self.arch() {
                Arch::Aarch64 => cpu.mpidr.is_some() && cpu.apic_id.is_none(),
                Arch::X86_64 => cpu.apic_id.is_some() && cpu.mpidr.is_none(),
            };
            if !wanted {
                self.error(
                    Diagnostic::new(
                        self.at(raw.cpus.span()),
                        format!("CPU {i} has the wrong id kind"),
                    )
                    .help("AArch64 CPUs take `mpidr`, x86_64 CPUs take `apic-id`, one each"),
                );
            }
        }
        cpus
    }
}

impl Checker<'_> {
    /// The platform CPU indices cell `name` owns, ascending, each claimed
    /// for it.
    pub(super) fn check_cpus(&mut self, name: &str, raw_cell: &RawCell) -> Vec<u32> {
        let mut cpus = Vec::new();
        if raw_cell.cpus.get_ref().is_empty() {
            self.error(
                Diagnostic::new(
                    self.at(raw_cell.cpus.span()),
                    format!("cell `{name}` has no CPU"),
                )
                .help(format!(
                    "give it at least one of the platform's CPUs 0..{}",
                    self.platform.cpus.len()
                )),
            );
        }
        for cpu in raw_cell.cpus.get_ref() {
            let index = *cpu.get_ref();
            let location = self.at(cpu.span());
            if index as usize >= self.platform.cpus.len() {
                self.error(
                    Diagnostic::new(
                        location,
                        format!(
                            "cell `{name}` claims CPU {index}, but platform `{}` has CPUs 0..{}",
                            self.platform.name,
                            self.platform.cpus.len()
                        ),
                    )
                    .help("use a CPU index below the platform's CPU count"),
                );
                continue;
            }
            if let Some((owner, first)) = self.cpu_owner.get(&index).cloned() {
                self.error(
                    Diagnostic::new(
                        location,
                        format!("CPU {index} is claimed by cell `{name}` and by cell `{owner}`"),
                    )
                    .note(first, format!("cell `{owner}` claims it here"))
                    .help("cells own whole cores: give each CPU to one cell only"),
                );
                continue;
            }
            self.cpu_owner.insert(index, (name.to_string(), location));
            if !cpus.contains(&index) {
                cpus.push(index);
            }
        }
        cpus.sort_unstable();
        cpus
    }
}
