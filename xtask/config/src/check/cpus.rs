//! CPUs: the platform's list and the cores each cell owns.
//!
//! Rules enforced here:
//! - the platform lists at least one CPU, each with the id its architecture
//!   uses (`mpidr` on AArch64, `apic-id` on x86_64), one id per CPU, and
//!   no two CPUs with the same id (PSCI, SGIs and IPIs address CPUs by it);
//! - on a GICv3, no MPIDR has Aff0 >= 16 (F5e of the security review: the
//!   hypervisor sends SGIs with a 16-bit target list and RS = 0, so such a
//!   CPU's kicks would reach another core, possibly another cell's);
//! - a GICv3's redistributor region holds a frame pair (2 x 64 KiB) for
//!   every CPU;
//! - every cell owns at least one CPU;
//! - a cell's CPUs exist on the platform;
//! - no CPU belongs to two cells.
//!
//! Cells own whole cores: the hypervisor has no scheduler and runs one vCPU
//! on each CPU a cell owns, so a CPU can serve only one cell.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::model::{Arch, Cpu, Intc, IntcKind, human_size};
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
                hw_id: c
                    .get_ref()
                    .mpidr
                    .or(c.get_ref().apic_id.map(u64::from))
                    .unwrap_or(0),
                core: c.get_ref().core,
            })
            .collect();
        if cpus.is_empty() {
            self.error(
                Diagnostic::new(self.at(raw.cpus.span()), "the platform lists no CPUs")
                    .help("add one `{ mpidr = ... }` (or `{ apic-id = ... }`) entry per core"),
            );
        }
        let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, cpu) in raw.cpus.get_ref().iter().enumerate() {
            let wanted = match self.arch() {
                Arch::Aarch64 => cpu.get_ref().mpidr.is_some() && cpu.get_ref().apic_id.is_none(),
                Arch::X86_64 => cpu.get_ref().apic_id.is_some() && cpu.get_ref().mpidr.is_none(),
            };
            if !wanted {
                self.error(
                    Diagnostic::new(
                        self.at(cpu.span()),
                        format!("CPU {i} has the wrong id kind"),
                    )
                    .help("AArch64 CPUs take `mpidr`, x86_64 CPUs take `apic-id`, one each"),
                );
                continue;
            }
            if let Some(first) = seen.insert(cpus[i].hw_id, i) {
                let what = match self.arch() {
                    Arch::Aarch64 => "MPIDR",
                    Arch::X86_64 => "APIC id",
                };
                self.error(
                    Diagnostic::new(
                        self.at(cpu.span()),
                        format!("CPU {i} has the same {what} ({:#x}) as CPU {first}", cpus[i].hw_id),
                    )
                    .note(self.at(raw.cpus.get_ref()[first].span()), format!("CPU {first}"))
                    .help(format!("every CPU has its own {what}: copy them from the board's device tree or firmware tables")),
                );
            }
        }
        cpus
    }

    /// GICv3: SGI targets are 16-bit lists with RS = 0, so Aff0 must be
    /// below 16; the redistributor region holds one frame pair per CPU.
    pub(super) fn check_gic_cpus(&mut self, cpus: &[Cpu], intc: &Intc) {
        if intc.kind != IntcKind::Gic || intc.version != 3 {
            return;
        }
        for (i, cpu) in cpus.iter().enumerate() {
            let aff0 = cpu.hw_id & 0xff;
            if aff0 >= 16 {
                let span = self.raw.cpus.get_ref()[i].span();
                self.error(
                    Diagnostic::new(
                        self.at(span),
                        format!("CPU {i} has MPIDR {:#x}, Aff0 = {aff0}: the hypervisor can only send SGIs to Aff0 0..15 on a GICv3", cpu.hw_id),
                    )
                    .help("the hypervisor's SGIs (kicks, injected SGIs) use a 16-bit target list with RS = 0; a board whose clusters have more than 16 cores is not supported yet"),
                );
            }
        }
        let needed = cpus.len() as u64 * REDISTRIBUTOR_FRAMES;
        if let (Some(gicr), Some(raw)) = (
            intc.redistributor,
            &self.raw.interrupt_controller.redistributor,
        ) && gicr.size < needed
        {
            self.error(
                    Diagnostic::new(
                        self.at(super::checker::span_of(raw)),
                        format!(
                            "the GICv3 redistributor region {gicr} ({}) is too small for {} CPUs",
                            human_size(gicr.size),
                            cpus.len()
                        ),
                    )
                    .help(format!(
                        "each CPU has a 128 KiB frame pair (RD_base and SGI_base): the region needs at least {needed:#x} bytes"
                    )),
                );
        }
    }
}

/// One CPU's GICv3 redistributor frames: RD_base and SGI_base, 64 KiB each.
const REDISTRIBUTOR_FRAMES: u64 = 2 * 0x1_0000;

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
                if owner == name {
                    self.error(
                        Diagnostic::new(
                            location,
                            format!("CPU {index} is listed twice in cell `{name}`"),
                        )
                        .note(first, "first listed here")
                        .help("list each CPU once"),
                    );
                    continue;
                }
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
