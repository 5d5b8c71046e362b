//! Each cell's guest-physical address space: one mapping per address.
//!
//! Rules enforced here, once every cell and channel is known:
//! - no two of a cell's RAM regions, device windows, channel ends and
//!   passthrough devices (at their own address, as whole 4 KiB pages)
//!   overlap in guest-physical space: the stage-2 tables (EPT) could map
//!   only one of them, and the hypervisor would fail to build them at boot;
//! - none of them overlaps a frame the hypervisor emulates for the cell on
//!   AArch64 (F15 of the security review): the virtual GIC distributor,
//!   the GICv3 redistributor region, the GICv2 GICC address (where the
//!   GICV frame is mapped) and, with a virtual console, the virtual PL011
//!   page. RAM there would fail to map (the GICC alias) or silently shadow
//!   the emulated device;
//! - every one ends inside the guest-physical space the hypervisor's
//!   stage 2 translates: 39 bits on AArch64 (its `VTCR_EL2`), 48 bits on
//!   x86_64 (a 4-level EPT);
//! - no two host ranges (hypervisor memory, cells' RAM, channels) overlap
//!   (the rule of `memory.rs`, checked here in one sweep);
//! - a passthrough device's MMIO, widened to the whole 4 KiB pages stage
//!   2 maps, holds nothing but that range (F5b): no byte of another
//!   device (the console included, or one of the same cell: the page would
//!   be mapped twice), of RAM or of an interrupt controller frame. A cell
//!   never gets a page holding a byte it does not own.
//!
//! Every check sorts and sweeps (`address_map::overlaps`): 8,000 regions
//! take milliseconds, not the seconds of comparing every pair.

use crate::diag::{Diagnostic, Location};
use crate::model::{Cell, CellConsole, Range, page_round};

use super::address_map::overlaps;
use super::checker::{Checker, GuestClaim};

/// A physical object of the platform: its device and MMIO range index
/// (none for RAM and controller frames), its range, what it is.
type PlatformObject = (Option<(usize, usize)>, Range, String);

/// One entry of a cell's guest space: a claim, or a frame the hypervisor
/// emulates there (no location in the config).
struct Entry<'a> {
    range: Range,
    claim: Option<&'a GuestClaim>,
    frame: &'static str,
}

impl Checker<'_> {
    /// Records that the cell being checked maps `what` at `range`.
    pub(super) fn claim_guest(
        &mut self,
        cell: usize,
        what: String,
        range: Range,
        location: Location,
    ) {
        if self.guest_claims.len() <= cell {
            self.guest_claims.resize_with(cell + 1, Vec::new);
        }
        self.guest_claims[cell].push(GuestClaim {
            what,
            range,
            location,
        });
    }

    /// The guest-space rules for every cell.
    pub(super) fn check_guest_spaces(&mut self, cells: &[Cell]) {
        let claims = std::mem::take(&mut self.guest_claims);
        for cell in cells {
            if let Some(claims) = claims.get(cell.id) {
                self.check_guest_space(cell, claims);
            }
        }
    }

    fn check_guest_space(&mut self, cell: &Cell, claims: &[GuestClaim]) {
        let bits = self.platform.guest_address_bits();
        let limit = 1u64 << bits;
        for claim in claims.iter().filter(|c| c.range.end() > limit) {
            self.error(
                Diagnostic::new(
                    claim.location.clone(),
                    format!(
                        "{} at guest address {} is beyond the {bits}-bit guest-physical space of cell `{}`",
                        claim.what, claim.range, cell.name
                    ),
                )
                .help(format!(
                    "the hypervisor's stage-2 tables translate guest addresses below {limit:#x}: move it lower"
                )),
            );
        }
        let virtual_console = cell.console == CellConsole::Virtual;
        let frames = self.platform.emulated_frames(self.console, virtual_console);
        let mut entries: Vec<Entry<'_>> = frames
            .iter()
            .map(|&(frame, range)| Entry {
                range,
                claim: None,
                frame,
            })
            .collect();
        entries.extend(claims.iter().map(|c| Entry {
            range: c.range,
            claim: Some(c),
            frame: "",
        }));
        for (later, earlier) in overlaps(&entries, |e| e.range) {
            let (a, b) = (&entries[later], &entries[earlier]);
            let diagnostic = match (a.claim, b.claim) {
                (None, None) => continue,
                (Some(claim), None) | (None, Some(claim)) => {
                    let frame = if a.claim.is_none() { a } else { b };
                    Diagnostic::new(
                        claim.location.clone(),
                        format!(
                            "{} at guest address {} overlaps {} {} of cell `{}`",
                            claim.what, claim.range, frame.frame, frame.range, cell.name
                        ),
                    )
                    .help(format!(
                        "the hypervisor emulates that frame in every cell: move it to a free guest address (the frame ends at {:#x})",
                        frame.range.end()
                    ))
                }
                (Some(x), Some(y)) => {
                    // Report the one declared later, with the other as a note.
                    let (claim, other) = if later > earlier { (x, y) } else { (y, x) };
                    Diagnostic::new(
                        claim.location.clone(),
                        format!(
                            "{} at guest address {} overlaps {} at {}",
                            claim.what, claim.range, other.what, other.range
                        ),
                    )
                    .note(other.location.clone(), format!("{} declared here", other.what))
                    .help("give each region, device window, channel end and passthrough device of a cell its own guest-physical range")
                }
            };
            self.error(diagnostic);
        }
    }

    /// F5b: the whole pages a passthrough device is mapped with hold
    /// nothing but its own range.
    pub(super) fn check_device_pages(&mut self, cell: &str, device: usize, location: &Location) {
        let dev = &self.platform.devices[device];
        for (k, &mmio) in dev.mmio.iter().enumerate() {
            let pages = page_round(mmio);
            if pages == mmio {
                continue;
            }
            let Some(other) = self
                .platform_objects()
                .into_iter()
                .find(|(owner, range, _)| *owner != Some((device, k)) && range.overlaps(&pages))
            else {
                continue;
            };
            let (_, other_range, other_what) = other;
            self.error(
                Diagnostic::new(
                    location.clone(),
                    format!(
                        "device `{}` MMIO {mmio} is mapped into cell `{cell}` as whole 4 KiB pages {pages}, which also hold {other_what} {other_range}",
                        dev.name
                    ),
                )
                .help("a cell may not reach a byte it does not own: describe devices that share a page as one device in the platform file (as qemu-virt-aarch64.toml does for the virtio-mmio transports) and give it to one cell, or leave them unassigned"),
            );
        }
    }

    /// Everything with a physical address on the platform: each device MMIO
    /// range (with its device and range index), RAM, the controller frames.
    fn platform_objects(&self) -> Vec<PlatformObject> {
        let p = self.platform;
        let mut objects = Vec::new();
        for (d, device) in p.devices.iter().enumerate() {
            let console = if d == self.console {
                " (the hypervisor's console)"
            } else {
                ""
            };
            for (k, &mmio) in device.mmio.iter().enumerate() {
                objects.push((
                    Some((d, k)),
                    mmio,
                    format!("device `{}`{console} MMIO", device.name),
                ));
            }
        }
        for &ram in &p.ram {
            objects.push((None, ram, "RAM".to_string()));
        }
        for (name, frame) in p.intc.frames() {
            objects.push((None, frame, name.to_string()));
        }
        objects
    }
}
