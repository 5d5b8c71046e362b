//! Warnings: configurations that are accepted but leave an isolation gap
//! the hypervisor cannot close, so `cargo xtask check` says so.
//!
//! Warnings given here:
//! - a DMA-capable device (`dma = true` in the platform file) owned by a
//!   cell, through `devices` or a device window (F17 of the security
//!   review): the hypervisor programs no SMMU or IOMMU, so the device can
//!   read and write all memory, the hypervisor's and other cells'
//!   included;
//! - SMT siblings (CPUs with the same `core` in the platform file) serving
//!   different cells (F5f): they share caches, predictors and execution
//!   units, so each cell can observe the other's timing.
//!
//! The channel warning (an end that executes what another cell writes) is
//! `channels.rs`'s.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::model::Cell;
use crate::schema::RawConfig;

use super::checker::Checker;

impl Checker<'_> {
    /// Every warning of this file, once all cells are checked.
    pub(super) fn check_hazards(&mut self, raw: &RawConfig, cells: &[Cell]) {
        self.check_dma(raw, cells);
        self.check_smt_siblings();
    }

    fn check_dma(&mut self, raw: &RawConfig, cells: &[Cell]) {
        for cell in cells {
            let Some(raw_cell) = raw.cells.get(cell.id) else {
                continue;
            };
            let raw_cell = raw_cell.get_ref();
            let windows = cell.memory.iter().filter_map(|r| r.device);
            let mut owned: Vec<usize> = cell.devices.iter().copied().chain(windows).collect();
            owned.sort_unstable();
            owned.dedup();
            for device in owned {
                let dev = &self.platform.devices[device];
                if !dev.dma {
                    continue;
                }
                let named = raw_cell.devices.iter().find(|d| *d.get_ref() == dev.name);
                let window = raw_cell.memory.iter().find_map(|r| {
                    r.get_ref()
                        .device
                        .as_ref()
                        .filter(|d| *d.get_ref() == dev.name)
                });
                let span = named
                    .or(window)
                    .map_or_else(|| raw_cell.name.span(), toml::Spanned::span);
                self.warn(
                    Diagnostic::warning(
                        self.at(span),
                        format!(
                            "cell `{}` owns device `{}`, which can master DMA, and the hypervisor programs no SMMU/IOMMU",
                            cell.name, dev.name
                        ),
                    )
                    .help("the device can read and write any memory, the hypervisor's and other cells' included: give it only to a cell you trust as much as the hypervisor, or leave it unassigned"),
                );
            }
        }
    }

    fn check_smt_siblings(&mut self) {
        let mut cores: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (index, cpu) in self.platform.cpus.iter().enumerate() {
            if let Some(core) = cpu.core {
                cores.entry(core).or_default().push(index as u32);
            }
        }
        for (core, threads) in cores {
            let owned: Vec<(u32, (String, crate::diag::Location))> = threads
                .iter()
                .filter_map(|t| self.cpu_owner.get(t).map(|o| (*t, o.clone())))
                .collect();
            let Some((first_cpu, (first_cell, first_at))) = owned.first().cloned() else {
                continue;
            };
            for (cpu, (cell, at)) in owned.iter().skip(1) {
                if *cell == first_cell {
                    continue;
                }
                self.warn(
                    Diagnostic::warning(
                        at.clone(),
                        format!(
                            "CPU {cpu} of cell `{cell}` and CPU {first_cpu} of cell `{first_cell}` are SMT threads of one core ({core})"
                        ),
                    )
                    .note(first_at.clone(), format!("cell `{first_cell}` claims CPU {first_cpu} here"))
                    .help("sibling threads share caches, predictors and execution units, so each cell can observe the other's timing: give both threads of a core to one cell"),
                );
            }
        }
    }
}
