//! The cells: the list, their names, and the order of the per-cell passes.
//!
//! Rules enforced here:
//! - the configuration has at least one cell;
//! - a cell's name is non-empty and made of letters, digits, `-` and `_`
//!   (it tags the cell's console lines and names it in channels and
//!   messages);
//! - no two cells share a name (channels refer to cells by name).
//!
//! Each cell then goes through `cpus.rs`, `devices.rs`,
//! `irqs.rs`, `memory.rs`, `images.rs` (and
//! `linux.rs`), `x86.rs` on x86_64, the entry point, and for a
//! passthrough console the UART rule of `devices.rs`, in that order.
//! What a cell claims (CPUs, devices, interrupts, host memory) is recorded
//! as it goes, so a later cell that claims it again is the one reported,
//! with the first claim as a note.

use std::ops::Range as Span;

use toml::Spanned;

use crate::diag::Diagnostic;
use crate::model::{Arch, Cell, CellConsole, Hypervisor, page_round};
use crate::schema::{RawCell, RawConfig};

use super::checker::Checker;

impl Checker<'_> {
    /// Every cell of the config, in order (its index is its id).
    pub(super) fn check_cells(&mut self, raw: &RawConfig, hypervisor: &Hypervisor) -> Vec<Cell> {
        if raw.cells.is_empty() {
            self.error(
                Diagnostic::new(self.source.start(), "the configuration has no cells")
                    .help("add at least one [[cell]] table"),
            );
        }
        raw.cells
            .iter()
            .enumerate()
            .map(|(id, raw_cell)| self.check_cell(id, raw_cell, hypervisor))
            .collect()
    }

    fn check_cell(&mut self, id: usize, raw_cell: &Spanned<RawCell>, hv: &Hypervisor) -> Cell {
        let cell_span: Span<usize> = raw_cell.span();
        let raw_cell = raw_cell.get_ref();
        let name = self.check_cell_name(raw_cell);
        let cpus = self.check_cpus(&name, raw_cell);
        let (devices, device_irqs) = self.check_devices(&name, raw_cell, hv.console);
        self.claim_passthrough(id, &name, raw_cell, &devices);
        let irqs = self.check_irqs(&name, raw_cell, device_irqs);
        let memory = self.check_memory(id, &name, raw_cell, cell_span.clone());
        let image = self.check_image(&name, raw_cell, &memory);
        if self.platform.arch == Arch::X86_64 {
            self.check_x86_cell(&name, raw_cell, &memory, &image, &devices);
        }
        let entry = self.check_entry(&name, raw_cell, &memory, image.entry);
        if raw_cell.console == CellConsole::Passthrough {
            self.check_console_uart(&name, &devices, cell_span);
        }
        Cell {
            id,
            name,
            cpus,
            memory,
            devices,
            irqs,
            image,
            entry,
            console: raw_cell.console,
            fault_policy: raw_cell.fault_policy,
            physical_timer: raw_cell.physical_timer,
            virtual_counter: raw_cell.virtual_counter,
        }
    }

    /// A passthrough device is mapped at its own address, as whole pages:
    /// claimed in the cell's guest space, and its pages checked (F5b).
    fn claim_passthrough(&mut self, id: usize, name: &str, raw_cell: &RawCell, devices: &[usize]) {
        for &device in devices {
            let dev = &self.platform.devices[device];
            let location = raw_cell
                .devices
                .iter()
                .find(|d| *d.get_ref() == dev.name)
                .map_or_else(|| self.at(raw_cell.name.span()), |d| self.at(d.span()));
            let what = format!("device `{}` (passed through at its own address)", dev.name);
            for &mmio in &dev.mmio {
                self.claim_guest(id, what.clone(), page_round(mmio), location.clone());
            }
            self.check_device_pages(name, device, &location);
        }
    }

    /// The cell's name, recorded (a bad or repeated name is reported and
    /// kept, so the other rules still run).
    fn check_cell_name(&mut self, raw_cell: &RawCell) -> String {
        let name = raw_cell.name.get_ref().clone();
        let name_location = self.at(raw_cell.name.span());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.error(
                Diagnostic::new(name_location.clone(), format!("invalid cell name `{name}`"))
                    .help("use letters, digits, `-` and `_` only"),
            );
        }
        if let Some(first) = self.cell_names.get(&name) {
            let first = first.clone();
            self.error(
                Diagnostic::new(
                    name_location.clone(),
                    format!("two cells are named `{name}`"),
                )
                .note(first, "first cell of that name")
                .help("give every cell a unique name"),
            );
        }
        self.cell_names.insert(name.clone(), name_location);
        name
    }
}
