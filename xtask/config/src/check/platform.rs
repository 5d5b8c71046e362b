//! The platform file on its own, before any config refers to it.
//!
//! Rules enforced here:
//! - the platform lists RAM;
//! - the console names one of its devices, and on x86_64 that device has
//!   registers (ports or MMIO) the hypervisor can drive;
//! - the hypervisor's load address lies in RAM;
//! - the description is printable (one line, no control characters);
//! - a `[bochs]` table is for x86_64 boards only, its `megs` covers the
//!   RAM and its `ips` is not 0.
//!
//! The platform's CPUs, devices and interrupt controller have their own
//! passes (`cpus.rs`, `devices.rs`, `irqs.rs`), and `address_map.rs` keeps
//! RAM, devices and interrupt controller frames apart. A
//! platform with any error stops the load: every later rule measures the
//! config against it.

use std::ops::Range as Span;

use crate::diag::{Diagnostic, Diagnostics, Location, Source, suggestion};
use crate::model::{Arch, Bochs, Device, Platform, Qemu, Range};
use crate::schema::RawPlatform;

use super::checker::range;

/// The checks of one platform file.
pub(super) struct PlatformChecker<'a> {
    pub(super) source: &'a Source,
    pub(super) raw: &'a RawPlatform,
    pub(super) errors: Diagnostics,
}

impl PlatformChecker<'_> {
    /// A location in the platform file.
    pub(super) fn at(&self, span: Span<usize>) -> Location {
        self.source.at(span)
    }

    pub(super) fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    /// The platform's architecture.
    pub(super) fn arch(&self) -> Arch {
        *self.raw.arch.get_ref()
    }
}

/// Checks the platform file `name` and builds its model.
pub(super) fn check_platform(
    name: &str,
    source: &Source,
    raw: &RawPlatform,
) -> Result<Platform, Diagnostics> {
    let mut p = PlatformChecker {
        source,
        raw,
        errors: Diagnostics::default(),
    };
    let cpus = p.check_cpu_ids();
    let ram = p.check_ram();
    let devices = p.check_devices(name);
    let console = p.check_console(&devices);
    let load_address = p.check_load_address(&ram);
    let intc = p.check_intc();
    p.check_bochs(&ram);
    p.check_description();
    p.check_console_registers(console, &devices);
    p.check_device_irqs(&intc);
    p.check_gic_cpus(&cpus, &intc);
    p.check_address_map(&ram, &devices, &intc);
    if !p.errors.is_empty() {
        return Err(p.errors);
    }
    Ok(Platform {
        name: name.to_string(),
        description: raw.description.clone(),
        arch: p.arch(),
        load_address,
        cpus,
        ram,
        intc,
        console: console.unwrap_or(0),
        devices,
        qemu: raw.qemu.as_ref().map(|q| Qemu {
            binary: q.binary.clone(),
            machine: q.machine.clone(),
            cpu: q.cpu.clone(),
            memory_mib: q.memory_mib,
            devices: q.devices.clone(),
        }),
        bochs: raw.bochs.as_ref().map(|b| Bochs {
            cpu_model: b.cpu_model.clone(),
            megs: *b.megs.get_ref(),
            ips: *b.ips.get_ref(),
        }),
    })
}

impl PlatformChecker<'_> {
    fn check_ram(&mut self) -> Vec<Range> {
        let ram: Vec<Range> = self.raw.ram.get_ref().iter().map(range).collect();
        if ram.is_empty() {
            self.error(
                Diagnostic::new(self.at(self.raw.ram.span()), "the platform lists no RAM")
                    .help("add `ram = [{ base = ..., size = ... }]`"),
            );
        }
        ram
    }

    /// The one-line description is printed in the boot banner.
    fn check_description(&mut self) {
        if self.raw.description.chars().any(crate::diag::needs_escape) {
            self.error(
                Diagnostic::new(
                    self.source.start(),
                    format!(
                        "the platform description `{}` has control characters",
                        self.raw.description
                    ),
                )
                .help("describe the board on one line of printable characters: it is printed in the boot banner"),
            );
        }
    }

    /// The index of the console device, if it exists.
    fn check_console(&mut self, devices: &[Device]) -> Option<usize> {
        let console_name = self.raw.console.get_ref();
        let console = devices.iter().position(|d| d.name == *console_name);
        if console.is_none() {
            self.error(
                Diagnostic::new(
                    self.at(self.raw.console.span()),
                    format!("unknown console device `{console_name}`"),
                )
                .help(suggestion(
                    console_name,
                    devices.iter().map(|d| d.name.as_str()),
                )),
            );
        }
        console
    }

    /// The boot loader copies the hypervisor image there: it must be RAM.
    fn check_load_address(&mut self, ram: &[Range]) -> u64 {
        let load_address = *self.raw.hypervisor_load_address.get_ref();
        if !ram.iter().any(|r| r.contains(load_address)) {
            self.error(
                Diagnostic::new(
                    self.at(self.raw.hypervisor_load_address.span()),
                    format!("hypervisor load address {load_address:#x} is not in RAM"),
                )
                .help("pick an address inside one of the `ram` ranges"),
            );
        }
        load_address
    }

    /// `cargo xtask run` boots the board under Bochs with these settings: a
    /// machine with less memory than the platform's RAM would not be this
    /// board.
    fn check_bochs(&mut self, ram: &[Range]) {
        let Some(bochs) = &self.raw.bochs else {
            return;
        };
        if self.arch() != Arch::X86_64 {
            self.error(
                Diagnostic::new(self.at(bochs.megs.span()), "Bochs emulates x86 PCs only")
                    .help("remove the [bochs] table; AArch64 boards run under QEMU (`[qemu]`)"),
            );
            return;
        }
        let megs = *bochs.megs.get_ref();
        let top = ram.iter().map(Range::end).max().unwrap_or(0);
        if megs.checked_mul(1 << 20).is_none_or(|bytes| bytes < top) {
            self.error(
                Diagnostic::new(
                    self.at(bochs.megs.span()),
                    format!(
                        "Bochs `megs = {megs}` does not cover the platform's RAM (up to {top:#x})"
                    ),
                )
                .help(format!("write `megs = {}` or more", top.div_ceil(1 << 20))),
            );
        }
        if *bochs.ips.get_ref() == 0 {
            self.error(
                Diagnostic::new(self.at(bochs.ips.span()), "Bochs `ips` is 0")
                    .help("give an instruction rate, e.g. `ips = 10_000_000`"),
            );
        }
    }

    /// x86_64: the hypervisor drives its console through the UART's ports
    /// (or MMIO); a console without either could print nothing.
    fn check_console_registers(&mut self, console: Option<usize>, devices: &[Device]) {
        let (Arch::X86_64, Some(index)) = (self.arch(), console) else {
            return;
        };
        let device = &devices[index];
        if device.ports.is_empty() && device.mmio.is_empty() {
            self.error(
                Diagnostic::new(
                    self.at(self.raw.console.span()),
                    format!("console device `{}` has neither I/O ports nor MMIO", device.name),
                )
                .help("give the UART its registers, e.g. `ports = [{ base = 0x3f8, size = 8 }]` for COM1"),
            );
        }
    }
}
