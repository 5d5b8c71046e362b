//! Memory: host ranges, the hypervisor's memory, and cells' regions.
//!
//! Rules enforced here:
//! - every host range (hypervisor memory, cell region, channel) has a
//!   non-zero size, is 4 KiB aligned in base and size, and does not wrap
//!   around the address space;
//! - RAM ranges lie inside one of the platform's RAM ranges;
//! - the hypervisor's memory contains the platform's load address;
//! - no two host ranges overlap: hypervisor memory, every cell's RAM
//!   regions and every channel are pairwise disjoint;
//! - every region can be read (an EPT cannot map write- or execute-only
//!   memory, and no guest needs it);
//! - every cell has memory; each region's guest address is 4 KiB aligned
//!   (guest-space overlaps are `guest_space.rs`'s).
//!
//! This is the core of the isolation argument: the hypervisor maps each
//! region at exactly its host range, so disjoint host ranges are what keeps
//! one cell out of another's memory and every cell out of the hypervisor's
//! (its code, page tables and the other cells' pristine images). Sharing is
//! only possible through a `[[channel]]`, which says so. The 4 KiB rule is
//! the translation granule: a region that ended mid-page would be mapped to
//! the end of that page, handing the cell bytes it was not given.

use std::ops::Range as Span;

use toml::Spanned;

use crate::diag::Diagnostic;
use crate::model::{Range, Region};
use crate::schema::{RawCell, RawRange, RawRegion};

use super::address_map::overlaps;
use super::checker::{Checker, HostClaim, PAGE_SIZE, range};

impl Checker<'_> {
    /// Checks alignment, size and wrapping of a host range; returns
    /// whether it is usable for further checks.
    pub(super) fn check_host_range(
        &mut self,
        what: &str,
        host: Range,
        span: Span<usize>,
        size_span: Span<usize>,
    ) -> bool {
        if host.size == 0 {
            self.error(
                Diagnostic::new(self.at(size_span), format!("{what} has size 0"))
                    .help("give it a size of at least 4 KiB, or remove it"),
            );
            return false;
        }
        if !host.base.is_multiple_of(PAGE_SIZE) || !host.size.is_multiple_of(PAGE_SIZE) {
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!("{what} {host} is not aligned to 4 KiB"),
                )
                .help(format!(
                    "use a base and size that are multiples of 0x1000, e.g. {:#x}..{:#x}",
                    host.base & !(PAGE_SIZE - 1),
                    (host.end() + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
                )),
            );
            return false;
        }
        if host.end() == u64::MAX || host.base.checked_add(host.size).is_none() {
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!("{what} wraps around the address space"),
                )
                .help("shrink it"),
            );
            return false;
        }
        true
    }

    /// The range lies inside one RAM range: memory outside RAM is either
    /// nothing or some device's registers.
    pub(super) fn check_in_ram(&mut self, what: &str, host: Range, span: Span<usize>) {
        if !self.platform.ram.iter().any(|r| r.contains_range(&host)) {
            let ram: Vec<String> = self.platform.ram.iter().map(ToString::to_string).collect();
            let location = self.platform_source.at(self.raw_platform.ram.span());
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!("{what} {host} is outside the platform's RAM"),
                )
                .note(
                    location,
                    format!(
                        "platform `{}` RAM is {}",
                        self.platform.name,
                        ram.join(", ")
                    ),
                )
                .help("move it inside one RAM range (it may not straddle two)"),
            );
        }
    }

    /// Claims a host range; overlaps are reported once every range is
    /// claimed ([`Checker::check_host_claims`]).
    pub(super) fn claim_host(&mut self, claim: HostClaim) {
        self.claims.push(claim);
    }

    /// No two host claims overlap: one sort and one sweep. Of two
    /// overlapping claims the one declared later is reported, with the
    /// other as a note.
    pub(super) fn check_host_claims(&mut self) {
        let claims = std::mem::take(&mut self.claims);
        let mut reported = vec![false; claims.len()];
        for (a, b) in overlaps(&claims, |c| c.range) {
            let (later, earlier) = (a.max(b), a.min(b));
            if std::mem::replace(&mut reported[later], true) {
                continue;
            }
            let (claim, other) = (&claims[later], &claims[earlier]);
            let message = format!(
                "{} {} overlaps {} {}",
                claim.owner, claim.range, other.owner, other.range
            );
            let help = if other.owner == "hypervisor memory" || claim.owner == "hypervisor memory" {
                "hypervisor memory is never mapped into cells: move the region past the \
                 hypervisor's range"
                    .to_string()
            } else {
                format!(
                    "move or shrink one of them; to share memory on purpose declare a \
                     [[channel]] instead (first free address after both: {:#x})",
                    claim.range.end().max(other.range.end())
                )
            };
            self.error(
                Diagnostic::new(claim.location.clone(), message)
                    .note(
                        other.location.clone(),
                        format!("{} declared here", other.owner),
                    )
                    .help(help),
            );
        }
        self.claims = claims;
    }

    /// `[hypervisor] memory`, claimed first: no cell or channel may overlap
    /// it.
    pub(super) fn check_hypervisor_memory(&mut self, memory: &Spanned<RawRange>) -> Range {
        let hv = memory.get_ref();
        let hv_range = range(hv);
        let hv_span = memory.span();
        if self.check_host_range(
            "hypervisor memory",
            hv_range,
            hv_span.clone(),
            hv.size.span(),
        ) {
            self.check_in_ram("hypervisor memory", hv_range, hv_span.clone());
            // The boot loader places the image at the load address: outside
            // the hypervisor's memory it would land in a cell's.
            let load = self.platform.load_address;
            if !hv_range.contains(load) {
                let location = self
                    .platform_source
                    .at(self.raw_platform.hypervisor_load_address.span());
                self.error(
                    Diagnostic::new(
                        self.at(hv_span.clone()),
                        format!(
                            "hypervisor memory {hv_range} does not contain the platform's \
                             load address {load:#x}"
                        ),
                    )
                    .note(location, "the boot loader places the hypervisor here")
                    .help(format!("start the hypervisor memory at or below {load:#x}")),
                );
            }
            self.claims.push(HostClaim {
                owner: "hypervisor memory".into(),
                range: hv_range,
                location: self.at(hv_span),
            });
        }
        hv_range
    }

    /// The memory regions of cell `name`, in config order (the usable ones).
    pub(super) fn check_memory(
        &mut self,
        id: usize,
        name: &str,
        raw_cell: &RawCell,
        cell_span: Span<usize>,
    ) -> Vec<Region> {
        if raw_cell.memory.is_empty() {
            self.error(
                Diagnostic::new(self.at(cell_span), format!("cell `{name}` has no memory"))
                    .help("add a [[cell.memory]] region with gpa, hpa, size and perm"),
            );
        }
        let mut memory = Vec::new();
        for (i, region) in raw_cell.memory.iter().enumerate() {
            if let Some(region) = self.check_region(id, name, i, region) {
                memory.push(region);
            }
        }
        memory
    }

    /// Region `i` of cell `name` (id `id`), if usable. RAM is claimed in
    /// host space; a device window is checked against its device; both are
    /// claimed in the cell's guest space.
    fn check_region(
        &mut self,
        id: usize,
        name: &str,
        i: usize,
        region: &Spanned<RawRegion>,
    ) -> Option<Region> {
        let span = region.span();
        let region = region.get_ref();
        let what = format!("cell `{name}` memory[{i}]");
        let host = Range::new(*region.hpa.get_ref(), region.size.get_ref().0);
        let guest = Range::new(*region.gpa.get_ref(), region.size.get_ref().0);
        if !self.check_host_range(&what, host, span.clone(), region.size.span()) {
            return None;
        }
        if !region.gpa.get_ref().is_multiple_of(PAGE_SIZE) {
            self.error(
                Diagnostic::new(
                    self.at(region.gpa.span()),
                    format!(
                        "{what} guest address {:#x} is not aligned to 4 KiB",
                        guest.base
                    ),
                )
                .help("use a gpa that is a multiple of 0x1000"),
            );
            return None;
        }
        let perm = *region.perm.get_ref();
        if !perm.read {
            self.error(
                Diagnostic::new(
                    self.at(region.perm.span()),
                    format!("{what} has perm `{perm}`, which cannot read"),
                )
                .help("give it `r` (with `w`, `x` as needed): write- or execute-only memory cannot be mapped (an EPT refuses it, and the hypervisor would fail at boot)"),
            );
            return None;
        }
        let device = match &region.device {
            Some(device_name) => {
                Some(self.check_device_window(name, &what, device_name, host, span.clone())?)
            }
            None => {
                self.check_in_ram(&what, host, span.clone());
                let claim = HostClaim {
                    owner: what.clone(),
                    range: host,
                    location: self.at(span.clone()),
                };
                self.claim_host(claim);
                None
            }
        };
        let location = self.at(span);
        self.claim_guest(id, what, guest, location);
        Some(Region {
            gpa: guest.base,
            hpa: host.base,
            size: host.size,
            perm: *region.perm.get_ref(),
            device,
        })
    }
}
