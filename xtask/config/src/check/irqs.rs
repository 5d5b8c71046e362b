//! Interrupts: the platform's controller, and the interrupts cells own.
//!
//! Rules enforced here:
//! - an AArch64 platform has a GIC, an x86_64 platform an APIC;
//! - a GIC gives its version (2 or 3), the frames that version needs, its
//!   maintenance interrupt (a PPI) and its INTID count (a multiple of 32,
//!   at most 1020); APIC keys are refused on it;
//! - an APIC refuses GIC keys; its I/O APIC input count (default 24) is
//!   1..=240;
//! - every interrupt a device raises is below the controller's count and,
//!   on a GIC, an SPI (F5c);
//! - an ITS is declared on a GICv3 only;
//! - a cell's extra interrupts are assignable: GIC SPIs (INTID 32 and up)
//!   or I/O APIC inputs, below the controller's count;
//! - no interrupt belongs to two cells;
//! - on x86_64 a cell's interrupts are accepted with a warning: the back end
//!   does not deliver device interrupts to cells yet (F16);
//! - no cell owns an interrupt of the hypervisor's console UART, as an
//!   extra interrupt or through a device that shares its line (F5a of the
//!   security review: owning it lets the cell disable the console's input
//!   interrupt at each of its (re)starts, and Ctrl-A switching and the
//!   hypervisor's commands go dead).
//!
//! The hypervisor routes each owned interrupt to its cell's CPUs and
//! injects it there; an interrupt in two cells would let one cell see, mask
//! or acknowledge the other's. SGIs and PPIs are per core: every cell gets
//! virtual ones, so they are never assigned.

use toml::Spanned;

use crate::diag::{Diagnostic, Location};
use crate::model::{Arch, Intc, IntcKind};
use crate::schema::{RawCell, RawIntc};

use super::checker::{Checker, DEFAULT_IOAPIC_INPUTS, FIRST_SPI, range, span_of};
use super::platform::PlatformChecker;

impl PlatformChecker<'_> {
    /// The interrupt controller.
    pub(super) fn check_intc(&mut self) -> Intc {
        let ic = &self.raw.interrupt_controller;
        let kind = *ic.kind.get_ref();
        let arch = self.arch();
        let expected_kind = match arch {
            Arch::Aarch64 => IntcKind::Gic,
            Arch::X86_64 => IntcKind::Apic,
        };
        if kind != expected_kind {
            self.error(
                Diagnostic::new(
                    self.at(ic.kind.span()),
                    match arch {
                        Arch::Aarch64 => "an AArch64 platform's interrupt controller is a GIC",
                        Arch::X86_64 => "an x86_64 platform's interrupt controller is an APIC",
                    },
                )
                .help(match arch {
                    Arch::Aarch64 => "write `kind = \"gic\"`",
                    Arch::X86_64 => {
                        "write `kind = \"apic\"` (local APICs in x2APIC mode and the I/O APIC)"
                    }
                }),
            );
        }
        let (version, maintenance_irq, irq_count) = match kind {
            IntcKind::Gic => self.check_gic(ic),
            IntcKind::Apic => (0, 0, self.check_apic(ic)),
        };
        Intc {
            kind,
            version,
            distributor: ic.distributor.as_ref().map(range),
            redistributor: ic.redistributor.as_ref().map(range),
            cpu_interface: ic.cpu_interface.as_ref().map(range),
            virtual_control: ic.virtual_control.as_ref().map(range),
            virtual_cpu: ic.virtual_cpu.as_ref().map(range),
            maintenance_irq,
            io_apic: ic.io_apic.as_ref().map(range),
            its: ic.its.as_ref().map(range),
            irq_count,
        }
    }

    /// A GIC's version, maintenance INTID and INTID count (0 for a missing
    /// key, reported).
    fn check_gic(&mut self, ic: &RawIntc) -> (u8, u32, u32) {
        let intc_span = ic.kind.span();
        for (key, present) in [
            ("version", ic.version.is_some()),
            ("maintenance-irq", ic.maintenance_irq.is_some()),
            ("irq-count", ic.irq_count.is_some()),
        ] {
            if !present {
                self.error(
                    Diagnostic::new(
                        self.at(intc_span.clone()),
                        format!("a GIC needs `interrupt-controller.{key}`"),
                    )
                    .help(format!(
                        "add `{key} = ...`; platforms/qemu-virt-aarch64.toml documents it"
                    )),
                );
            }
        }
        if let Some(io_apic) = &ic.io_apic {
            self.error(
                Diagnostic::new(
                    self.at(span_of(io_apic)),
                    "`io-apic` is an APIC key; this controller is a GIC",
                )
                .help("remove it: the I/O APIC exists on x86 platforms only"),
            );
        }
        let version = self.check_gic_frames(ic);
        if let Some(count) = &ic.irq_count {
            let count = *count.get_ref();
            if !(FIRST_SPI..=1020).contains(&count) || !count.is_multiple_of(32) {
                self.error(
                    Diagnostic::new(
                        self.at(ic.irq_count.as_ref().map_or(intc_span.clone(), Spanned::span)),
                        format!("`irq-count = {count}` is not a GIC INTID count"),
                    )
                    .help("a GIC implements a multiple of 32 INTIDs, at most 1020 (GICD_TYPER.ITLinesNumber)"),
                );
            }
        }
        let mut maintenance = 0;
        if let Some(irq) = &ic.maintenance_irq {
            maintenance = *irq.get_ref();
            if !(16..32).contains(&maintenance) {
                self.error(
                    Diagnostic::new(
                        self.at(irq.span()),
                        format!("maintenance interrupt {maintenance} is not a PPI"),
                    )
                    .help(
                        "the GIC maintenance interrupt is a PPI, INTID 16..31 (25 on most boards)",
                    ),
                );
            }
        }
        let irq_count = ic.irq_count.as_ref().map_or(0, |c| *c.get_ref());
        (version, maintenance, irq_count)
    }

    /// The GIC version (0 if missing), with the frames it needs: GICv2 has
    /// a CPU interface and the virtual interface frames the hypervisor
    /// hands to guests, GICv3 redistributors instead.
    fn check_gic_frames(&mut self, ic: &RawIntc) -> u8 {
        let Some(v) = &ic.version else {
            return 0;
        };
        let version = *v.get_ref();
        let needs: &[(&str, bool)] = match version {
            2 => &[
                ("distributor", ic.distributor.is_some()),
                ("cpu-interface", ic.cpu_interface.is_some()),
                ("virtual-control", ic.virtual_control.is_some()),
                ("virtual-cpu", ic.virtual_cpu.is_some()),
            ],
            3 => &[
                ("distributor", ic.distributor.is_some()),
                ("redistributor", ic.redistributor.is_some()),
            ],
            _ => {
                self.error(
                    Diagnostic::new(self.at(v.span()), format!("unknown GIC version {version}"))
                        .help("write `version = 2` or `version = 3`"),
                );
                &[]
            }
        };
        if let (2, Some(its)) = (version, &ic.its) {
            self.error(
                Diagnostic::new(self.at(span_of(its)), "a GICv2 has no ITS")
                    .help("remove `its`: the ITS is a GICv3 component"),
            );
        }
        for (key, present) in needs {
            if !present {
                self.error(
                    Diagnostic::new(
                        self.at(v.span()),
                        format!("a GICv{version} needs `interrupt-controller.{key}`"),
                    )
                    .help(format!("add `{key} = {{ base = ..., size = ... }}`")),
                );
            }
        }
        version
    }

    /// An APIC's I/O APIC input count. The GIC's keys make no sense here:
    /// say so instead of ignoring them.
    fn check_apic(&mut self, ic: &RawIntc) -> u32 {
        let gic_keys = [
            ("version", ic.version.as_ref().map(Spanned::span)),
            (
                "maintenance-irq",
                ic.maintenance_irq.as_ref().map(Spanned::span),
            ),
            ("distributor", ic.distributor.as_ref().map(span_of)),
            ("redistributor", ic.redistributor.as_ref().map(span_of)),
            ("cpu-interface", ic.cpu_interface.as_ref().map(span_of)),
            ("virtual-control", ic.virtual_control.as_ref().map(span_of)),
            ("virtual-cpu", ic.virtual_cpu.as_ref().map(span_of)),
            ("its", ic.its.as_ref().map(span_of)),
        ];
        for (key, span) in gic_keys {
            if let Some(span) = span {
                self.error(
                    Diagnostic::new(self.at(span), format!("`{key}` is a GIC key; this controller is an APIC"))
                        .help("remove it: an APIC platform has `kind = \"apic\"` and optionally `irq-count` (I/O APIC inputs)"),
                );
            }
        }
        let count = ic
            .irq_count
            .as_ref()
            .map_or(DEFAULT_IOAPIC_INPUTS, |c| *c.get_ref());
        if !(1..=240).contains(&count) {
            self.error(
                Diagnostic::new(
                    self.at(ic.irq_count.as_ref().map_or(ic.kind.span(), Spanned::span)),
                    format!("`irq-count = {count}` is not an I/O APIC input count"),
                )
                .help("an APIC platform's `irq-count` is the number of I/O APIC inputs (GSIs), 24 on a PC"),
            );
        }
        count
    }

    /// Every interrupt a device raises exists on the controller; on a GIC
    /// it is an SPI (SGIs and PPIs are per core: the hypervisor virtualises
    /// them for every cell and could not route one to a device's owner).
    pub(super) fn check_device_irqs(&mut self, intc: &Intc) {
        let irq_count = intc.irq_count;
        for device in &self.raw.devices {
            for irq in &device.irqs {
                if intc.kind == IntcKind::Gic && *irq.get_ref() < FIRST_SPI {
                    self.error(
                        Diagnostic::new(
                            self.at(irq.span()),
                            format!(
                                "device `{}` interrupt {} is not an SPI",
                                device.name.get_ref(),
                                irq.get_ref()
                            ),
                        )
                        .help("a device's interrupt on a GIC is an SPI, INTID 32 and up (a DT `<0 N flags>` is 32 + N); SGIs and PPIs (0..31) are per core and cannot be passed through"),
                    );
                    continue;
                }
                if *irq.get_ref() >= irq_count {
                    self.error(
                        Diagnostic::new(
                            self.at(irq.span()),
                            format!(
                                "device `{}` interrupt {} is beyond the controller's {irq_count} INTIDs",
                                device.name.get_ref(),
                                irq.get_ref()
                            ),
                        )
                        .help(match intc.kind {
                            IntcKind::Gic => "INTIDs here are GIC numbers: an SPI written `<0 N 4>` in a DT is 32 + N",
                            IntcKind::Apic => "interrupts here are I/O APIC inputs (GSIs): ISA IRQ N is GSI N; raise `irq-count` if the board has more inputs",
                        }),
                    );
                }
            }
        }
    }
}

impl Checker<'_> {
    /// The interrupts cell `name` owns, ascending: its devices' (`irqs`,
    /// with where each device is named) and its extra ones, each claimed
    /// for it.
    pub(super) fn check_irqs(
        &mut self,
        name: &str,
        raw_cell: &RawCell,
        mut irqs: Vec<(u32, Location)>,
    ) -> Vec<u32> {
        irqs.extend(self.check_extra_irqs(name, raw_cell));
        let console = &self.platform.devices[self.console];
        let mut owned = Vec::new();
        for (irq, location) in irqs {
            if console.irqs.contains(&irq) {
                let console_name = console.name.clone();
                self.error(
                    Diagnostic::new(
                        location,
                        format!(
                            "interrupt {irq} of cell `{name}` is the hypervisor console's (device `{console_name}`)"
                        ),
                    )
                    .help("the hypervisor takes the operator's input through that interrupt: remove it from the cell (cells get their console input from their virtual console)"),
                );
                continue;
            }
            if let Some((owner, first)) = self.irq_owner.get(&irq).cloned() {
                // A cell may name an interrupt twice (as an extra one and
                // through a device): only another owner is a conflict.
                if owner != name {
                    self.error(
                        Diagnostic::new(
                            location,
                            format!(
                                "interrupt {irq} is claimed by cell `{name}` and by cell `{owner}`"
                            ),
                        )
                        .note(first, format!("cell `{owner}` claims it here"))
                        .help("an interrupt belongs to one cell; remove it from one of them"),
                    );
                }
                continue;
            }
            if self.platform.intc.kind == IntcKind::Apic {
                self.warn(
                    Diagnostic::warning(
                        location.clone(),
                        format!(
                            "interrupt {irq} of cell `{name}` is not delivered: the x86_64 back end routes no device interrupts to cells yet"
                        ),
                    )
                    .help("the cell must poll its device for now (finding F16 of the security review)"),
                );
            }
            self.irq_owner.insert(irq, (name.to_string(), location));
            owned.push(irq);
        }
        owned.sort_unstable();
        owned
    }

    /// The cell's `irqs` that may be assigned: GIC SPIs only (SGIs and PPIs
    /// are per core and virtualised for every cell), or any I/O APIC input.
    fn check_extra_irqs(&mut self, name: &str, raw_cell: &RawCell) -> Vec<(u32, Location)> {
        let irq_count = self.platform.intc.irq_count;
        let first = match self.platform.intc.kind {
            IntcKind::Gic => FIRST_SPI,
            IntcKind::Apic => 0,
        };
        let mut irqs = Vec::new();
        for irq in &raw_cell.irqs {
            let number = *irq.get_ref();
            let location = self.at(irq.span());
            if number < first || number >= irq_count {
                let help = self.assignable_help(irq_count);
                self.error(
                    Diagnostic::new(
                        location,
                        format!(
                            "interrupt {number} of cell `{name}` is outside the assignable range {first}..{irq_count}"
                        ),
                    )
                    .help(help),
                );
                continue;
            }
            irqs.push((number, location));
        }
        irqs
    }

    fn assignable_help(&self, irq_count: u32) -> String {
        match self.platform.intc.kind {
            IntcKind::Gic => format!(
                "cells own shared peripheral interrupts (SPIs), INTID {FIRST_SPI}..{} on this {}; \
                 SGIs and PPIs (0..31) are per core and virtualised for every cell",
                irq_count.saturating_sub(1),
                self.intc_name()
            ),
            IntcKind::Apic => format!(
                "cells own I/O APIC inputs (GSIs) 0..{} on this platform; local APIC \
                 vectors are the cell's own",
                irq_count.saturating_sub(1)
            ),
        }
    }

    fn intc_name(&self) -> String {
        match self.platform.intc.kind {
            IntcKind::Gic => format!("GICv{}", self.platform.intc.version),
            IntcKind::Apic => "APIC".into(),
        }
    }
}
