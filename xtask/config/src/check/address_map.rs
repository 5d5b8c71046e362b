//! The platform's physical address map: RAM, devices and interrupt
//! controller frames each own their bytes.
//!
//! Rules enforced here:
//! - every RAM bank, device MMIO range and controller frame is non-empty
//!   and does not wrap around the address space;
//! - no two of them overlap: RAM banks, device MMIO ranges (of one device
//!   or two), the GIC frames (GICD, GICR, GICC, GICH, GICV, ITS), and on
//!   x86 the I/O APIC window and the local APIC page (0xfee0_0000).
//!
//! F5c of the security review: a device listed on top of a GIC frame or
//! the I/O APIC hands the cell that owns it the interrupt controller (a
//! full escape through GICD; INIT, SMI or NMI to any CPU through the I/O
//! APIC), and a frame inside RAM could be given to a cell as memory.
//! Platform files are trusted, but the checker is the safety net.
//!
//! One sort and one sweep: each range is compared with the one that
//! reaches furthest among those that start before it, so every range that
//! overlaps an earlier one is reported, in O(n log n).

use std::ops::Range as Span;

use crate::diag::{Diagnostic, Location};
use crate::model::{Device, Intc, IntcKind, Range, X86_LOCAL_APIC};

use super::checker::span_of;
use super::platform::PlatformChecker;

/// One range of the map: what it is and where it is declared.
struct Entry {
    range: Range,
    what: String,
    location: Location,
}

impl PlatformChecker<'_> {
    /// RAM, devices and controller frames do not overlap.
    pub(super) fn check_address_map(&mut self, ram: &[Range], devices: &[Device], intc: &Intc) {
        // Frames first, then RAM, then devices: of two ranges that start
        // at one address the later one is reported, most likely the
        // device listed on top of something.
        let mut entries = Vec::new();
        let ic = &self.raw.interrupt_controller;
        let raw_frames = [
            &ic.distributor,
            &ic.redistributor,
            &ic.cpu_interface,
            &ic.virtual_control,
            &ic.virtual_cpu,
            &ic.its,
            &ic.io_apic,
        ];
        let mut frames = intc.frames().into_iter();
        for raw in raw_frames.into_iter().flatten() {
            if let Some((name, range)) = frames.next() {
                entries.push(self.entry(range, name.into(), span_of(raw)));
            }
        }
        if intc.kind == IntcKind::Apic {
            let location = self.at(ic.kind.span());
            entries.push(Entry {
                range: X86_LOCAL_APIC,
                what: "the local APIC page".into(),
                location,
            });
        }
        for (raw, range) in self.raw.ram.get_ref().iter().zip(ram) {
            entries.push(self.entry(*range, "RAM".into(), span_of(raw)));
        }
        for (raw, device) in self.raw.devices.iter().zip(devices) {
            for (raw_mmio, mmio) in raw.mmio.iter().zip(&device.mmio) {
                let what = format!("device `{}` MMIO", device.name);
                entries.push(self.entry(*mmio, what, span_of(raw_mmio)));
            }
        }
        let entries: Vec<Entry> = entries.into_iter().filter(|e| self.usable(e)).collect();
        for (later, earlier) in overlaps(&entries, |e| e.range) {
            let (e, other) = (&entries[later], &entries[earlier]);
            self.error(
                Diagnostic::new(
                    e.location.clone(),
                    format!("{} {} overlaps {} {}", e.what, e.range, other.what, other.range),
                )
                .note(other.location.clone(), format!("{} declared here", other.what))
                .help("every physical address belongs to one thing: fix the bases and sizes from the board's manual or device tree"),
            );
        }
    }

    fn entry(&self, range: Range, what: String, span: Span<usize>) -> Entry {
        Entry {
            range,
            what,
            location: self.at(span),
        }
    }

    /// Whether `e` is a real range (reported if not).
    fn usable(&mut self, e: &Entry) -> bool {
        let problem = if e.range.size == 0 {
            "is empty"
        } else if e.range.base.checked_add(e.range.size).is_none() {
            "wraps around the address space"
        } else {
            return true;
        };
        self.error(
            Diagnostic::new(
                e.location.clone(),
                format!("{} {:#x} (size {:#x}) {problem}", e.what, e.range.base, e.range.size),
            )
            .help("give it its real base and a non-zero size that ends inside the 64-bit address space"),
        );
        false
    }
}

/// The overlapping pairs of `items` (by `range_of`), each as (index of the
/// one that starts later, index of an earlier one it overlaps): every item
/// that overlaps some item starting before it (or at the same address,
/// earlier in `items`) appears once. O(n log n).
pub(super) fn overlaps<T>(items: &[T], range_of: impl Fn(&T) -> Range) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (range_of(&items[i]).base, i));
    let mut found = Vec::new();
    let mut reach: Option<usize> = None;
    for i in order {
        let range = range_of(&items[i]);
        if let Some(r) = reach {
            if range_of(&items[r]).overlaps(&range) {
                found.push((i, r));
            }
            if range.end() > range_of(&items[r]).end() {
                reach = Some(i);
            }
        } else {
            reach = Some(i);
        }
    }
    found
}
