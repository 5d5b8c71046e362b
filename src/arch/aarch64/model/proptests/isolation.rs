//! Two cells' vGICs side by side: whatever cell A's guest does to its
//! distributor and redistributors, cell B reads exactly what it would read
//! if A did nothing, and A's actions never name one of B's SPIs.
//!
//! The two cells are separate instances, so this holds unless some state
//! is shared behind them (a `static`, a cache): B's accesses run twice, on
//! a cell that shares the machine with A and on a cell alone, and must see
//! the same values and produce the same actions.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::config;
use super::distributor::{self, Access, CellSpec, Owned, intid, irq_count, version};
use super::redistributor::{self, FrameAccess, frame_access};
use crate::addr::IrqNum;
use crate::arch::aarch64::model::vgic::action::Action;
use crate::arch::aarch64::model::vgic::distributor::VirtualDistributor;
use crate::arch::aarch64::model::vgic::redistributor::VirtualRedistributors;

/// One cell's vGIC.
struct Vgic {
    spec: CellSpec,
    owned: Owned,
    dist: VirtualDistributor,
    redists: VirtualRedistributors,
}

impl Vgic {
    fn new(spec: CellSpec) -> Self {
        Self {
            owned: spec.owned(),
            dist: spec.distributor(),
            redists: VirtualRedistributors::new(spec.vcpus),
            spec,
        }
    }

    /// Runs one step, checked; returns what the guest observed.
    fn step(&mut self, step: &Step) -> Result<(u64, Vec<Action>), TestCaseError> {
        match step {
            Step::Distributor(access) => {
                distributor::run_checked(&self.spec, &self.owned, &mut self.dist, access)
            }
            Step::Redistributor(access) => {
                redistributor::run_checked(self.spec.vcpus, &mut self.redists, access)
            }
            Step::Reset => {
                let mut actions = Vec::new();
                self.dist.reset(&mut |action| actions.push(action));
                self.redists.reset();
                Ok((0, actions))
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Distributor(Access),
    Redistributor(FrameAccess),
    Reset,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => distributor::access().prop_map(Step::Distributor),
        4 => frame_access().prop_map(Step::Redistributor),
        1 => Just(Step::Reset),
    ]
}

/// Two cells whose SPI lists are disjoint (the config checker gives each
/// SPI to one cell at most), each with its own version, size and vCPUs.
fn two_cells() -> impl Strategy<Value = (CellSpec, CellSpec)> {
    (
        (version(), irq_count(), 0usize..=10),
        (version(), irq_count(), 0usize..=10),
        prop::collection::vec((intid(), any::<bool>()), 0..64),
    )
        .prop_map(|(a, b, spis)| {
            let mut given = BTreeSet::new();
            let (mut spis_a, mut spis_b) = (Vec::new(), Vec::new());
            for (intid, to_a) in spis {
                if given.insert(intid) {
                    if to_a { &mut spis_a } else { &mut spis_b }.push(IrqNum(intid));
                }
            }
            let spec = |(version, irq_count, vcpus), spis| CellSpec {
                version,
                irq_count,
                vcpus,
                spis,
            };
            (spec(a, spis_a), spec(b, spis_b))
        })
}

/// The SPI an action names, if it names one.
fn spi(action: &Action) -> Option<u32> {
    match *action {
        Action::Enable { intid }
        | Action::Disable { intid }
        | Action::SetPending { intid }
        | Action::ClearPending { intid }
        | Action::SetActive { intid }
        | Action::ClearActive { intid }
        | Action::Priority { intid, .. }
        | Action::Config { intid, .. }
        | Action::Route { intid, .. } => Some(intid),
        _ => None,
    }
}

proptest! {
    #![proptest_config(config(1_000))]

    /// Cell A's writes never change what cell B reads or which actions B's
    /// accesses produce, and A's actions never name B's SPIs.
    #[test]
    fn one_cell_never_changes_another(
        (spec_a, spec_b) in two_cells(),
        steps in prop::collection::vec((any::<bool>(), step()), 1..100),
    ) {
        let mut a = Vgic::new(spec_a);
        let mut b = Vgic::new(spec_b.clone());
        let mut alone = Vgic::new(spec_b);
        prop_assert!(a.owned.set.is_disjoint(&b.owned.set));
        for (on_a, step) in &steps {
            if *on_a {
                let (_, actions) = a.step(step)?;
                for action in &actions {
                    if let Some(intid) = spi(action) {
                        prop_assert!(!b.owned.contains(intid), "A's {action:?} names B's SPI");
                        prop_assert!(a.owned.contains(intid), "A's {action:?} names no SPI of A");
                    }
                }
            } else {
                let shared = b.step(step)?;
                let single = alone.step(step)?;
                prop_assert_eq!(shared, single, "B observed A's accesses at {:?}", step);
            }
        }
        prop_assert_eq!(format!("{:?}", b.dist), format!("{:?}", alone.dist));
        prop_assert_eq!(&b.redists, &alone.redists);
    }
}
