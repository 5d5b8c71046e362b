//! What an x86_64 cell needs beyond the common rules (docs/x86.md).
//!
//! Rules enforced here:
//! - no arm64 Linux image;
//! - the first RAM region (config order) exists, is at least 64 KiB and
//!   executable: its top 32 KiB is the guest boot area, where the
//!   hypervisor writes the GDT, TSS, identity page tables and initial stack
//!   a vCPU starts with, and the image usually runs from the same region;
//! - no image segment overlaps the boot area: the hypervisor rewrites the
//!   area at every (re)start, which would corrupt the image;
//! - a cell with a virtual console owns no device on the virtual COM1's
//!   ports (0x3f8..=0x3ff): its accesses there must exit to the
//!   hypervisor's COM1 model, not reach a real UART.

use std::ops::Range as Span;

use toml::Spanned;

use crate::diag::Diagnostic;
use crate::model::{
    CellConsole, Image, ImageKind, Range, Region, X86_BOOT_AREA_SIZE, X86_MIN_FIRST_REGION,
    X86_VIRTUAL_COM1, human_size,
};
use crate::schema::RawCell;

use super::checker::{Checker, PAGE_SIZE};

impl Checker<'_> {
    /// The x86_64 rules for cell `name`.
    pub(super) fn check_x86_cell(
        &mut self,
        name: &str,
        raw_cell: &RawCell,
        memory: &[Region],
        image: &Image,
        devices: &[usize],
    ) {
        let raw_image = raw_cell.image.get_ref();
        if image.kind == ImageKind::Linux {
            self.error(
                Diagnostic::new(
                    self.at(raw_image.kind.span()),
                    format!("cell `{name}`: `kind = \"linux\"` boots an arm64 kernel Image, not on x86_64"),
                )
                .help("x86_64 cells run `elf` or `raw` images"),
            );
        }
        // Without a usable first region the boot area is unknown: the
        // rules that need it are skipped (the region's error says enough).
        let Some((first_span, first)) = self.check_first_region(name, raw_cell, memory) else {
            return;
        };
        self.check_boot_area(name, raw_cell, first_span, first, image);
        if raw_cell.console == CellConsole::Virtual {
            self.check_virtual_com1(name, raw_cell, devices);
        }
    }

    /// The first RAM region (with its span), if it can hold the boot area;
    /// it must be executable too.
    fn check_first_region<'m>(
        &mut self,
        name: &str,
        raw_cell: &RawCell,
        memory: &'m [Region],
    ) -> Option<(Span<usize>, &'m Region)> {
        let raw_first = raw_cell
            .memory
            .iter()
            .find(|r| r.get_ref().device.is_none());
        let (Some(raw_first), Some(first)) =
            (raw_first, memory.iter().find(|r| r.device.is_none()))
        else {
            if !memory.is_empty() {
                self.error(
                    Diagnostic::new(
                        self.at(raw_cell.name.span()),
                        format!("x86_64 cell `{name}` has no RAM region"),
                    )
                    .help("add a [[cell.memory]] RAM region (no `device`) of at least 64 KiB: the guest boot area lies at its top"),
                );
            }
            return None;
        };
        let span = raw_first.span();
        if first.size < X86_MIN_FIRST_REGION {
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!(
                        "cell `{name}`: its first RAM region {} is {}; on x86_64 it holds the 32 KiB guest boot area and must be at least 64 KiB",
                        first.guest(),
                        human_size(first.size)
                    ),
                )
                .help("grow it to at least `size = \"64K\"`, or list a larger RAM region first"),
            );
            return None;
        }
        if !first.perm.execute {
            self.error(
                Diagnostic::new(
                    self.at(span.clone()),
                    format!(
                        "cell `{name}`: its first RAM region {} is not executable (perm {})",
                        first.guest(),
                        first.perm
                    ),
                )
                .help("give it `perm = \"rwx\"`: x86_64 vCPUs start with their page tables and stack in its boot area, and the image usually runs from it"),
            );
        }
        Some((span, first))
    }

    /// No image segment overlaps the boot area, the top of `first`
    /// (declared at `span`).
    fn check_boot_area(
        &mut self,
        name: &str,
        raw_cell: &RawCell,
        span: Span<usize>,
        first: &Region,
        image: &Image,
    ) {
        let raw_image = raw_cell.image.get_ref();
        let image_span = raw_image
            .guest
            .as_ref()
            .or(raw_image.path.as_ref())
            .map_or_else(|| raw_cell.image.span(), Spanned::span);
        let area = Range::new(first.guest().end() - X86_BOOT_AREA_SIZE, X86_BOOT_AREA_SIZE);
        for segment in &image.segments {
            let placed = Range::new(segment.gpa, segment.size);
            if placed.overlaps(&area) {
                let needed =
                    (placed.end() - first.gpa + X86_BOOT_AREA_SIZE).next_multiple_of(PAGE_SIZE);
                self.error(
                    Diagnostic::new(
                        self.at(image_span.clone()),
                        format!(
                            "cell `{name}`: image segment {placed} ({}) overlaps the guest boot area {area} (the top 32 KiB of its first RAM region)",
                            human_size(segment.size)
                        ),
                    )
                    .note(self.at(span.clone()), "the first RAM region")
                    .help(format!(
                        "the hypervisor writes the boot area at every start: enlarge the region to at least {needed:#x} bytes, or link the image lower"
                    )),
                );
            }
        }
    }

    /// A virtual console's COM1 ports are owned by no passthrough device.
    fn check_virtual_com1(&mut self, name: &str, raw_cell: &RawCell, devices: &[usize]) {
        for &device in devices {
            let device = &self.platform.devices[device];
            if let Some(ports) = device.ports.iter().find(|p| p.overlaps(&X86_VIRTUAL_COM1)) {
                let location = raw_cell
                    .devices
                    .iter()
                    .find(|d| *d.get_ref() == device.name)
                    .map_or_else(|| self.at(raw_cell.name.span()), |d| self.at(d.span()));
                self.error(
                    Diagnostic::new(
                        location,
                        format!(
                            "cell `{name}` has a virtual console on COM1 (ports {X86_VIRTUAL_COM1}) and owns device `{}` on ports {ports}",
                            device.name
                        ),
                    )
                    .help("give the cell `console = \"passthrough\"` to drive that UART itself, or remove the device"),
                );
            }
        }
    }
}
