//! The x2APIC ICR policy for any ICR value, sender and cell: what it lets
//! through is a set of the cell's own CPUs, each to get a fixed,
//! physical-destination IPI with a legal vector; NMI, SMI, INIT, SIPI,
//! lowest-priority, logical and broadcast IPIs never pass, nor anything to
//! a CPU outside the cell.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::config;
use crate::arch::x86_64::model::x2apic::{DeliveryMode, Icr, Shorthand, check, fixed};

/// A cell's x2APIC ids (distinct, 1 to 9 of them, in any order) and the
/// sender's index in it.
fn cell() -> impl Strategy<Value = (Vec<u32>, usize)> {
    let id = prop_oneof![4 => 0u32..16, 1 => any::<u32>()];
    prop::collection::btree_set(id, 1..=9).prop_flat_map(|ids| {
        let ids: Vec<u32> = ids.into_iter().collect();
        let len = ids.len();
        (Just(ids).prop_shuffle(), 0..len)
    })
}

/// ICR values: anything, or fixed IPIs with a random shorthand and mode
/// bits, aimed at the cell, near it, or at the broadcast id.
fn icr(ids: Vec<u32>) -> impl Strategy<Value = u64> {
    let destination = prop_oneof![
        3 => prop::sample::select(ids),
        1 => 0u32..20,
        1 => Just(u32::MAX),
        1 => any::<u32>(),
    ];
    let crafted = (destination, any::<u8>(), any::<u64>(), 0u64..8).prop_map(
        |(destination, vector, noise, delivery)| {
            let delivery = if noise & 1 == 0 { 0 } else { delivery };
            u64::from(destination) << 32
                | noise & (3 << 18 | 1 << 11 | 1 << 14 | 1 << 15)
                | delivery << 8
                | u64::from(vector)
        },
    );
    prop_oneof![1 => any::<u64>(), 3 => crafted]
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn ipis_stay_in_the_cell(
        (ids, sender, value) in cell().prop_flat_map(|(ids, sender)| {
            (Just(ids.clone()), Just(sender), icr(ids))
        }),
    ) {
        let icr = Icr::decode(value);
        let sender_id = ids[sender];
        let Ok(mask) = check(&icr, sender_id, &ids) else {
            return Ok(());
        };
        prop_assert_eq!(icr.delivery, DeliveryMode::Fixed);
        prop_assert!(icr.vector >= 16);
        prop_assert_eq!(mask >> ids.len(), 0, "a target beyond the cell");
        let targets: BTreeSet<usize> = (0..ids.len()).filter(|&i| mask >> i & 1 == 1).collect();
        let everyone: BTreeSet<usize> = (0..ids.len()).collect();
        let expected: BTreeSet<usize> = match icr.shorthand {
            Shorthand::SelfOnly => [sender].into(),
            Shorthand::AllIncludingSelf => everyone,
            Shorthand::AllExcludingSelf => everyone.into_iter().filter(|&i| i != sender).collect(),
            Shorthand::None => {
                prop_assert!(!icr.logical, "logical destination passed");
                prop_assert_ne!(icr.destination, u32::MAX, "broadcast passed");
                let index = ids.iter().position(|&id| id == icr.destination);
                prop_assert!(index.is_some(), "destination {} not in the cell", icr.destination);
                index.into_iter().collect()
            }
        };
        prop_assert_eq!(&targets, &expected);
        // What is then sent: fixed, physical, no shorthand, to the cell.
        for index in targets {
            let sent = Icr::decode(fixed(icr.vector, ids[index]));
            prop_assert_eq!(sent.delivery, DeliveryMode::Fixed);
            prop_assert!(!sent.logical);
            prop_assert_eq!(sent.shorthand, Shorthand::None);
            prop_assert_eq!(sent.destination, ids[index]);
            prop_assert_eq!(sent.vector, icr.vector);
        }
    }

    /// A sender outside the cell never gets anything through.
    #[test]
    fn foreign_senders_are_refused(
        (ids, _) in cell(),
        sender in any::<u32>(),
        value in any::<u64>(),
    ) {
        prop_assume!(!ids.contains(&sender));
        prop_assert!(check(&Icr::decode(value), sender, &ids).is_err());
    }
}
