//! The I/O and MSR bitmaps pass exactly what was allowed: checked against
//! a reference set, and bit for bit in the raw pages where the SDM says
//! the CPU looks (I/O: bitmap A for ports 0..0x7fff, B for 0x8000..0xffff,
//! one bit a port, LSB first; MSRs: reads of 0..0x1fff at byte 0, of
//! 0xc000_0000..0xc000_1fff at 1024, writes at 2048 and 3072).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::config;
use crate::arch::x86_64::model::io_bitmap::IoBitmaps;
use crate::arch::x86_64::model::msr_bitmap::{self, MsrBitmap, PASS_THROUGH, READ_ONLY};
use crate::arch::x86_64::model::x2apic::ICR;
use crate::config::PortRange;

/// Whether the raw I/O bitmaps make port `port` exit, read as the CPU
/// reads them.
fn raw_port_traps(bitmaps: &IoBitmaps, port: u16) -> bool {
    let (page, index) = if port < 0x8000 {
        (&bitmaps.a, usize::from(port))
    } else {
        (&bitmaps.b, usize::from(port - 0x8000))
    };
    page[index / 8] >> (index % 8) & 1 == 1
}

/// Port ranges: small ones anywhere, some near the A/B boundary and the
/// top of the port space (running past 0xffff), some large.
fn port_range() -> impl Strategy<Value = PortRange> {
    let base = prop_oneof![
        3 => any::<u16>(),
        1 => 0x7ff0u16..=0x800f,
        1 => 0xfff0u16..=0xffff,
    ];
    let size = prop_oneof![6 => 0u16..=16, 1 => any::<u16>()];
    (base, size).prop_map(|(base, size)| PortRange::new(base, size))
}

/// MSRs: inside either range, at their edges, or anywhere.
fn msr() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => 0u32..0x2000,
        3 => 0xc000_0000u32..0xc000_2000,
        1 => prop::sample::select(vec![
            0x1fff, 0x2000, 0xbfff_ffff, 0xc000_1fff, 0xc000_2000, u32::MAX, 0x4000_0000,
        ]),
        1 => any::<u32>(),
    ]
}

/// Where the SDM puts `msr`'s read bit (writes: 2048 bytes further), if
/// the bitmap covers it.
fn msr_slot(msr: u32) -> Option<(usize, u8)> {
    let (base, index) = match msr {
        0..=0x1fff => (0, msr),
        0xc000_0000..=0xc000_1fff => (1024, msr - 0xc000_0000),
        _ => return None,
    };
    Some((base + index as usize / 8, 1 << (index % 8)))
}

fn raw_msr_traps(bitmap: &MsrBitmap, msr: u32, write: bool) -> bool {
    match msr_slot(msr) {
        Some((byte, mask)) => bitmap.0[byte + if write { 2048 } else { 0 }] & mask != 0,
        None => true,
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// Arbitrary allow/trap sequences: every port passes exactly when the
    /// reference says, ranges past 0xffff are clipped (never wrapped to
    /// port 0), and a multi-byte access exits if any of its ports traps or
    /// it wraps past 0xffff.
    #[test]
    fn io_bitmaps_pass_exactly_the_allowed_ports(
        steps in prop::collection::vec((port_range(), prop::bool::weighted(0.8)), 0..12),
        probes in prop::collection::vec((any::<u16>(), 1u8..=4), 32),
    ) {
        let mut bitmaps = IoBitmaps::trap_all();
        let mut allowed = vec![false; 0x1_0000];
        for &(range, allow) in &steps {
            if allow {
                bitmaps.allow(range);
            } else {
                bitmaps.trap(range);
            }
            let end = (u32::from(range.base) + u32::from(range.size)).min(0x1_0000);
            for port in u32::from(range.base)..end {
                allowed[port as usize] = allow;
            }
        }
        for port in 0..=u16::MAX {
            let expected = !allowed[usize::from(port)];
            prop_assert_eq!(raw_port_traps(&bitmaps, port), expected, "port {:#x}", port);
            prop_assert_eq!(bitmaps.traps(port), expected, "port {:#x}", port);
        }
        let edges = steps.iter().flat_map(|(range, _)| {
            let last = range.base.wrapping_add(range.size).wrapping_sub(1);
            [(range.base, 4), (last, 2), (last, 4), (range.base.wrapping_sub(1), 2)]
        });
        for (port, size) in probes.into_iter().chain(edges) {
            let last = u32::from(port) + u32::from(size) - 1;
            let expected = last > 0xffff
                || (u32::from(port)..=last).any(|p| !allowed[p as usize]);
            prop_assert_eq!(bitmaps.traps_access(port, size), expected, "{:#x}+{}", port, size);
        }
    }

    /// Arbitrary MSR sets: reads and writes pass exactly for the allowed
    /// MSRs inside the bitmap's ranges; outside them nothing can be
    /// allowed.
    #[test]
    fn msr_bitmap_passes_exactly_the_allowed_msrs(
        reads in prop::collection::vec(msr(), 0..64),
        writes in prop::collection::vec(msr(), 0..64),
        probes in prop::collection::vec(msr(), 64),
    ) {
        let mut bitmap = MsrBitmap::trap_all();
        for &msr in &reads {
            prop_assert_eq!(bitmap.allow_read(msr), msr_slot(msr).is_some());
        }
        for &msr in &writes {
            prop_assert_eq!(bitmap.allow_write(msr), msr_slot(msr).is_some());
        }
        let covered = |msrs: Vec<u32>| -> BTreeSet<u32> {
            msrs.into_iter().filter(|&msr| msr_slot(msr).is_some()).collect()
        };
        let readable = covered(reads);
        let writable = covered(writes);
        for &msr in readable.iter().chain(&writable).chain(&probes) {
            let read = !readable.contains(&msr);
            let write = !writable.contains(&msr);
            prop_assert_eq!(bitmap.traps_read(msr), read, "read {:#x}", msr);
            prop_assert_eq!(raw_msr_traps(&bitmap, msr, false), read, "read {:#x}", msr);
            prop_assert_eq!(bitmap.traps_write(msr), write, "write {:#x}", msr);
            prop_assert_eq!(raw_msr_traps(&bitmap, msr, true), write, "write {:#x}", msr);
        }
        // The page holds no other clear bit.
        let clear: u32 = bitmap.0.iter().map(|byte| byte.count_zeros()).sum();
        prop_assert_eq!(clear as usize, readable.len() + writable.len());
    }

    /// The policy every cell runs with: reads pass for the pass-through and
    /// read-only MSRs, writes only for the pass-through ones (never the
    /// ICR or `IA32_APIC_BASE`), whatever MSR is asked about.
    #[test]
    fn cell_policy_passes_only_the_listed_msrs(probes in prop::collection::vec(msr(), 256)) {
        let policy = MsrBitmap::cell_policy(msr_bitmap::SpeculationMsrs::NONE);
        for msr in probes {
            let pass = PASS_THROUGH.contains(&msr);
            let read_only = READ_ONLY.iter().any(|&(first, last)| (first..=last).contains(&msr));
            prop_assert_eq!(raw_msr_traps(&policy, msr, false), !(pass || read_only), "{:#x}", msr);
            prop_assert_eq!(raw_msr_traps(&policy, msr, true), !pass, "{:#x}", msr);
            prop_assert_eq!(policy.traps_read(msr), !(pass || read_only));
            prop_assert_eq!(policy.traps_write(msr), !pass);
            let _ = msr_bitmap::name(msr);
        }
        prop_assert!(raw_msr_traps(&policy, ICR, true));
        prop_assert!(raw_msr_traps(&policy, msr_bitmap::IA32_APIC_BASE, true));
    }
}
