//! Devices: the platform's, and the ones cells own.
//!
//! Rules enforced here:
//! - platform device names are unique (cells claim devices by name) and
//!   printable (no control characters: they are printed at boot);
//! - a device interrupt on a GIC is an SPI (see `irqs.rs`); its MMIO
//!   overlaps nothing else (see `address_map.rs`);
//! - I/O port ranges exist on x86_64 only, lie inside the 64 Ki-port space,
//!   and no port belongs to two devices;
//! - a device a cell names exists on the platform (with a "did you mean");
//! - the hypervisor's console is passed through to no cell, neither by
//!   `devices` nor by a device window (F4 of the security review: a window
//!   would hand the cell the operator's input, the hypervisor's output and
//!   the UART's interrupt);
//! - no device is passed through to two cells;
//! - a device window (a `[[cell.memory]]` with `device`) lies inside one of
//!   that device's MMIO ranges, and the device is not another cell's;
//! - a cell with `console = "passthrough"` owns a UART.
//!
//! A passed-through device is mapped into the cell and its interrupts
//! routed to it, with no hypervisor in between: two cells sharing one
//! could read each other's data through it or disturb each other's use of
//! it. Port ranges are checked for overlap because the x86 I/O
//! bitmaps open a device's ports to the cell that owns it.

use std::ops::Range as Span;

use toml::Spanned;

use crate::diag::{Diagnostic, Location, suggestion};
use crate::model::{Arch, Device, PortRange, Range};
use crate::schema::{RawCell, RawDevice, RawPortRange};

use super::checker::{Checker, printable_name, range};
use super::platform::PlatformChecker;

/// Every port range seen so far: owner, range, where it is declared.
type PortClaims = Vec<(String, PortRange, Span<usize>)>;

impl PlatformChecker<'_> {
    /// The platform's devices.
    pub(super) fn check_devices(&mut self, platform_name: &str) -> Vec<Device> {
        let mut devices = Vec::new();
        let mut port_claims = PortClaims::new();
        for device in &self.raw.devices {
            if !printable_name(device.name.get_ref()) {
                self.error(
                    Diagnostic::new(
                        self.at(device.name.span()),
                        format!("device name `{}` is empty or has control characters", device.name.get_ref()),
                    )
                    .help("name devices with printable characters: the name is printed in messages, the partition table and the boot banner"),
                );
            }
            if devices
                .iter()
                .any(|d: &Device| d.name == *device.name.get_ref())
            {
                self.error(
                    Diagnostic::new(
                        self.at(device.name.span()),
                        format!("device name `{}` is used twice", device.name.get_ref()),
                    )
                    .help("give every device a unique name"),
                );
            }
            let ports = self.check_ports(platform_name, device, &mut port_claims);
            devices.push(Device {
                name: device.name.get_ref().clone(),
                compatible: device.compatible.clone(),
                mmio: device.mmio.iter().map(range).collect(),
                irqs: device.irqs.iter().map(|i| *i.get_ref()).collect(),
                ports,
                dma: device.dma,
            });
        }
        devices
    }

    /// The device's usable port ranges, each claimed for it.
    fn check_ports(
        &mut self,
        platform_name: &str,
        device: &RawDevice,
        port_claims: &mut PortClaims,
    ) -> Vec<PortRange> {
        let mut ports = Vec::new();
        for raw_ports in &device.ports {
            let name = device.name.get_ref();
            let span = port_span(raw_ports);
            if self.arch() != Arch::X86_64 {
                self.error(
                    Diagnostic::new(
                        self.at(span),
                        format!("device `{name}` has I/O ports, but platform `{platform_name}` is AArch64"),
                    )
                    .help("I/O ports exist on x86_64 only: describe the device's registers with `mmio = [{ base = ..., size = ... }]`"),
                );
                continue;
            }
            let Some(r) = port_range(raw_ports) else {
                self.error(
                    Diagnostic::new(
                        self.at(span),
                        format!(
                            "device `{name}` ports base {:#x} size {:#x} are not inside the I/O space 0x0..=0xffff",
                            raw_ports.base.get_ref(),
                            raw_ports.size.get_ref()
                        ),
                    )
                    .help("give a size of 1..=0xffff and a base so that the range ends at or below 0x10000"),
                );
                continue;
            };
            if let Some((other, other_range, other_span)) =
                port_claims.iter().find(|(_, p, _)| p.overlaps(&r))
            {
                self.error(
                    Diagnostic::new(
                        self.at(span),
                        format!(
                            "device `{name}` ports {r} overlap device `{other}` ports {other_range}"
                        ),
                    )
                    .note(self.at(other_span.clone()), format!("device `{other}` ports declared here"))
                    .help("a port belongs to one device: fix the bases and sizes (a device may list several ranges)"),
                );
                continue;
            }
            port_claims.push((name.clone(), r, span));
            ports.push(r);
        }
        ports
    }
}

/// The port range, if it lies inside the 64 Ki-port I/O space and is not
/// empty.
fn port_range(raw: &RawPortRange) -> Option<PortRange> {
    let base = *raw.base.get_ref();
    let size = *raw.size.get_ref();
    ((1..=0xffff).contains(&size) && base.checked_add(size).is_some_and(|end| end <= 0x1_0000))
        .then(|| PortRange::new(base as u16, size as u16))
}

fn port_span(raw: &RawPortRange) -> Span<usize> {
    raw.base.span().start..raw.size.span().end
}

impl Checker<'_> {
    /// The index of the platform device `name` (`what` names who asks).
    pub(super) fn device_index(&mut self, name: &Spanned<String>, what: &str) -> Option<usize> {
        let found = self.platform.device_index(name.get_ref());
        if found.is_none() {
            let help = suggestion(
                name.get_ref(),
                self.platform.devices.iter().map(|d| d.name.as_str()),
            );
            self.error(
                Diagnostic::new(
                    self.at(name.span()),
                    format!(
                        "{what}: unknown device `{}` on platform `{}`",
                        name.get_ref(),
                        self.platform.name
                    ),
                )
                .help(help),
            );
        }
        found
    }

    /// The devices cell `name` passes through, each claimed for it, and the
    /// interrupts they raise (with where the device is named).
    pub(super) fn check_devices(
        &mut self,
        name: &str,
        raw_cell: &RawCell,
        hypervisor_console: usize,
    ) -> (Vec<usize>, Vec<(u32, Location)>) {
        let mut devices = Vec::new();
        let mut irqs = Vec::new();
        for device in &raw_cell.devices {
            let location = self.at(device.span());
            let Some(index) = self.device_index(device, &format!("cell `{name}`")) else {
                continue;
            };
            // The hypervisor prints its banner, partition table, panics and
            // the cells' virtual consoles there.
            if index == hypervisor_console {
                self.error(
                    Diagnostic::new(
                        location,
                        format!("device `{}` is the hypervisor's console", device.get_ref()),
                    )
                    .help("cells get a virtual console by default (`console = \"virtual\"`); pass through another UART, or move the hypervisor console with `[hypervisor] console`"),
                );
                continue;
            }
            if devices.contains(&index) {
                let first = self.device_owner.get(&index).map(|(_, at)| at.clone());
                let mut diagnostic = Diagnostic::new(
                    location,
                    format!(
                        "device `{}` is listed twice in cell `{name}`",
                        device.get_ref()
                    ),
                )
                .help("list each device once");
                if let Some(first) = first {
                    diagnostic = diagnostic.note(first, "first listed here");
                }
                self.error(diagnostic);
                continue;
            }
            if let Some((owner, first)) = self.device_owner.get(&index).cloned()
                && owner != name
            {
                self.error(
                    Diagnostic::new(
                        location,
                        format!(
                            "device `{}` is passed through to cell `{name}` and to cell `{owner}`",
                            device.get_ref()
                        ),
                    )
                    .note(first, format!("cell `{owner}` claims it here"))
                    .help("a device belongs to one cell; remove it from one of them"),
                );
                continue;
            }
            self.device_owner
                .insert(index, (name.to_string(), location.clone()));
            devices.push(index);
            for irq in &self.platform.devices[index].irqs {
                irqs.push((*irq, location.clone()));
            }
        }
        (devices, irqs)
    }

    /// A device window `host` of memory region `what` of cell `cell`: the
    /// device's index, claimed for the cell, if the window lies inside one
    /// of its MMIO ranges and no other cell owns it. Mapping a device does
    /// not need `devices` (a cell may map part of a device without its
    /// interrupts), but it does make the device the cell's.
    pub(super) fn check_device_window(
        &mut self,
        cell: &str,
        what: &str,
        device_name: &Spanned<String>,
        host: Range,
        span: Span<usize>,
    ) -> Option<usize> {
        let index = self.device_index(device_name, what)?;
        let dev = &self.platform.devices[index];
        if index == self.console {
            self.error(
                Diagnostic::new(
                    self.at(device_name.span()),
                    format!(
                        "{what} maps device `{}`, the hypervisor's console",
                        dev.name
                    ),
                )
                .help("the hypervisor prints its messages and the cells' virtual consoles there and reads the operator's input from it: remove the window (cells get a virtual console by default), or move the hypervisor console with `[hypervisor] console`"),
            );
            return None;
        }
        if !dev.mmio.iter().any(|m| m.contains_range(&host)) {
            let ranges: Vec<String> = dev.mmio.iter().map(ToString::to_string).collect();
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!(
                        "{what} {host} is outside device `{}` ({})",
                        dev.name,
                        if ranges.is_empty() {
                            "no MMIO".to_string()
                        } else {
                            ranges.join(", ")
                        }
                    ),
                )
                .help("map a window that lies inside one of the device's MMIO ranges"),
            );
            return None;
        }
        match self.device_owner.get(&index).cloned() {
            Some((owner, first)) if owner != cell => {
                self.error(
                    Diagnostic::new(
                        self.at(device_name.span()),
                        format!(
                            "{what} maps device `{}`, which cell `{owner}` owns",
                            dev.name
                        ),
                    )
                    .note(first, format!("cell `{owner}` claims it here"))
                    .help("a device belongs to one cell"),
                );
                return None;
            }
            Some(_) => {}
            None => {
                let location = self.at(device_name.span());
                self.device_owner
                    .insert(index, (cell.to_string(), location));
            }
        }
        Some(index)
    }

    /// `console = "passthrough"`: the guest drives a UART of its own, so it
    /// must own one (a PL011 or a 16550).
    pub(super) fn check_console_uart(
        &mut self,
        name: &str,
        devices: &[usize],
        cell_span: Span<usize>,
    ) {
        let has_uart = devices.iter().any(|&d| {
            self.platform.devices[d].compatible.contains("pl011")
                || self.platform.devices[d].compatible.contains("16550")
        });
        if !has_uart {
            self.error(
                Diagnostic::new(
                    self.at(cell_span),
                    format!("cell `{name}` has `console = \"passthrough\"` but owns no UART"),
                )
                .help("add a UART to its `devices`, or use `console = \"virtual\"`"),
            );
        }
    }
}
