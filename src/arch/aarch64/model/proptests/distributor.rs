//! The virtual distributor under arbitrary access sequences, GICv2 and
//! GICv3: it never panics, reads stay within the access size, INTIDs the
//! cell does not own read as zero in every register, and every action
//! names an owned SPI, a vCPU of the cell or the calling vCPU's own
//! SGIs/PPIs.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::config;
use crate::addr::IrqNum;
use crate::arch::aarch64::model::vgic::action::Action;
use crate::arch::aarch64::model::vgic::distributor::VirtualDistributor;
use crate::arch::aarch64::model::vgic::intid::{GicVersion, MAX_IRQ_COUNT, MAX_VCPUS};
use crate::cell::access::AccessSize;

/// A cell's vGIC configuration and what the test derives from it, without
/// asking the model.
#[derive(Clone, Debug)]
pub(super) struct CellSpec {
    pub(super) version: GicVersion,
    /// As configured (the model clamps it).
    pub(super) irq_count: u32,
    /// As configured (the model clamps it).
    pub(super) vcpus: usize,
    /// The SPI list of the config, unfiltered.
    pub(super) spis: Vec<IrqNum>,
}

impl CellSpec {
    /// vCPUs the model must present: at most eight.
    pub(super) fn vcpus(&self) -> usize {
        self.vcpus.min(MAX_VCPUS)
    }

    /// The SPIs the cell owns: the config's, within `32..irq_count` after
    /// clamping `irq_count` to `32..=1020`.
    pub(super) fn owned(&self) -> Owned {
        let limit = self.irq_count.clamp(32, MAX_IRQ_COUNT);
        let set: BTreeSet<u32> = self
            .spis
            .iter()
            .map(|spi| spi.0)
            .filter(|&intid| (32..limit).contains(&intid))
            .collect();
        let mut bits = vec![false; 1024];
        for &intid in &set {
            bits[intid as usize] = true;
        }
        Owned { set, bits }
    }

    pub(super) fn distributor(&self) -> VirtualDistributor {
        VirtualDistributor::new(self.version, self.irq_count, &self.spis, self.vcpus)
    }
}

/// A cell's owned SPIs, as a set and as a bitmap (for the many lookups).
#[derive(Clone, Debug)]
pub(super) struct Owned {
    pub(super) set: BTreeSet<u32>,
    bits: Vec<bool>,
}

impl Owned {
    pub(super) fn contains(&self, intid: u32) -> bool {
        self.bits.get(intid as usize).copied().unwrap_or(false)
    }
}

/// One trapped GICD access.
#[derive(Clone, Copy, Debug)]
pub(super) struct Access {
    pub(super) caller: usize,
    pub(super) offset: u64,
    pub(super) size: AccessSize,
    pub(super) write: Option<u64>,
}

pub(super) fn version() -> impl Strategy<Value = GicVersion> {
    prop_oneof![Just(GicVersion::V2), Just(GicVersion::V3)]
}

pub(super) fn size() -> impl Strategy<Value = AccessSize> {
    prop_oneof![
        1 => Just(AccessSize::Byte),
        1 => Just(AccessSize::Half),
        4 => Just(AccessSize::Word),
        2 => Just(AccessSize::Double),
    ]
}

/// Values a guest writes: anything, all ones, or a few low bits.
pub(super) fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        1 => Just(u64::MAX),
        2 => 0u64..0x100,
        1 => (0u32..64).prop_map(|bit| 1u64 << bit),
    ]
}

/// A calling vCPU: mostly a valid one, sometimes beyond the cell (a caller
/// bug the model must shrug off).
pub(super) fn caller() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..10, 1 => Just(usize::MAX)]
}

/// Offsets weighted towards the registers, aligned or not.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..0x0d00,
        4 => (0u64..0x0d00 / 4).prop_map(|word| word * 4),
        1 => 0x6000u64..0x8000,
        2 => (0x6000u64 / 8..0x8000 / 8).prop_map(|double| double * 8),
        1 => prop::sample::select(vec![0xf00u64, 0xfe8, 0xffe8, 0xffc, 0x1000, 0xfffc, 0x1_0000]),
        1 => 0u64..0x1_0000,
        1 => any::<u64>(),
    ]
}

pub(super) fn access() -> impl Strategy<Value = Access> {
    (
        caller(),
        offset(),
        size(),
        prop::option::weighted(0.6, value()),
    )
        .prop_map(|(caller, offset, size, write)| Access {
            caller,
            offset,
            size,
            write,
        })
}

/// INTIDs for a config's SPI list: mostly near the valid range, sometimes
/// anything.
pub(super) fn intid() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..1100, 1 => any::<u32>()]
}

pub(super) fn irq_count() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 32u32..=1100,
        1 => Just(0u32),
        1 => Just(MAX_IRQ_COUNT),
        1 => Just(u32::MAX),
    ]
}

fn cell() -> impl Strategy<Value = CellSpec> {
    (
        version(),
        irq_count(),
        0usize..=10,
        prop::collection::vec(intid(), 0..48),
    )
        .prop_map(|(version, irq_count, vcpus, spis)| CellSpec {
            version,
            irq_count,
            vcpus,
            spis: spis.into_iter().map(IrqNum).collect(),
        })
}

/// The bits of a read of `access` that must be zero for `cell`: every bit
/// that belongs to an INTID the cell does not own (SGIs and PPIs count as
/// owned only on GICv2, for a valid caller), everything for an access the
/// rules refuse (unaligned, beyond the frame). Registers that describe no
/// INTID are not constrained here.
pub(super) fn must_be_zero(cell: &CellSpec, owned: &Owned, access: &Access) -> u64 {
    let Access {
        caller,
        offset,
        size,
        ..
    } = *access;
    let frame = match cell.version {
        GicVersion::V2 => 0x1000,
        GicVersion::V3 => 0x1_0000,
    };
    if offset >= frame || offset % size.bytes() != 0 {
        return size.mask();
    }
    let v2 = cell.version == GicVersion::V2;
    let banked = v2 && caller < cell.vcpus();
    let visible = |intid: u64| {
        let intid = u32::try_from(intid).unwrap_or(u32::MAX);
        owned.contains(intid) || (intid < 32 && banked)
    };
    // Each register kind: (its first offset, bits per INTID, which INTIDs
    // it shows).
    let (base, bits_per_intid, shows): (u64, u64, &dyn Fn(u64) -> bool) = match offset {
        // GICv2: Group 0 only, IGROUPR is RAZ/WI.
        0x080..0x100 if v2 => return size.mask(),
        0x080..0x100 => (0x080, 1, &|intid| visible(intid) && intid >= 32),
        0x100..0x400 => (0x100 + (offset - 0x100) / 0x80 * 0x80, 1, &visible),
        0x400..0x800 => (0x400, 8, &visible),
        0x800..0xc00 if v2 => (0x800, 8, &visible),
        0x800..0xc00 => return size.mask(),
        0xc00..0xd00 => (0xc00, 2, &visible),
        0x6000..0x8000 if v2 => return size.mask(),
        0x6000..0x8000 => (0x6000, 64, &|intid| visible(intid) && intid >= 32),
        _ => return 0,
    };
    let mut mask = 0u64;
    for bit in 0..8 * size.bytes() {
        let intid = ((offset - base) * 8 + bit) / bits_per_intid;
        if !shows(intid) {
            mask |= 1 << bit;
        }
    }
    mask
}

/// Checks one action produced by `access` on `cell`'s distributor.
pub(super) fn check_action(
    cell: &CellSpec,
    owned: &Owned,
    access: &Access,
    action: Action,
) -> Result<(), TestCaseError> {
    let vcpus = cell.vcpus();
    let v2 = cell.version == GicVersion::V2;
    prop_assert!(access.write.is_some(), "a read produced {action:?}");
    match action {
        Action::Enable { intid }
        | Action::Disable { intid }
        | Action::SetPending { intid }
        | Action::ClearPending { intid }
        | Action::SetActive { intid }
        | Action::ClearActive { intid }
        | Action::Config { intid, .. } => {
            prop_assert!(owned.contains(intid), "{action:?} names a foreign SPI");
        }
        Action::Priority { intid, priority } => {
            prop_assert!(owned.contains(intid), "{action:?} names a foreign SPI");
            prop_assert_eq!(priority & 0x07, 0);
        }
        Action::Route { intid, vcpu } => {
            prop_assert!(owned.contains(intid), "{action:?} names a foreign SPI");
            // Every cell has a CPU (the checker says so); a model built for
            // none still routes to vCPU 0 on reset.
            prop_assert!(
                vcpu < vcpus.max(1),
                "{action:?} names a vCPU beyond {vcpus}"
            );
        }
        Action::SendSgi { intid, targets } => {
            prop_assert!(v2, "GICv3 GICD sent {action:?}");
            prop_assert!(access.caller < vcpus);
            prop_assert!(intid < 16);
            prop_assert!(targets != 0);
            prop_assert_eq!(u32::from(targets) >> vcpus, 0, "{:?}", action);
        }
        Action::PrivateEnable { vcpu, intid }
        | Action::PrivateDisable { vcpu, intid }
        | Action::PrivatePending { vcpu, intid }
        | Action::PrivateClearPending { vcpu, intid } => {
            prop_assert!(v2, "GICv3 GICD changed {action:?}");
            prop_assert_eq!(vcpu, access.caller, "{:?}", action);
            prop_assert!(vcpu < vcpus);
            prop_assert!(intid < 32);
        }
    }
    Ok(())
}

/// Runs `access`, checks the value read and every action, and returns both.
pub(super) fn run_checked(
    cell: &CellSpec,
    owned: &Owned,
    dist: &mut VirtualDistributor,
    access: &Access,
) -> Result<(u64, Vec<Action>), TestCaseError> {
    let mut actions = Vec::new();
    let value = dist.access(
        access.caller,
        access.offset,
        access.size,
        access.write,
        &mut |action| actions.push(action),
    );
    prop_assert_eq!(value & !access.size.mask(), 0, "read wider than the access");
    if access.write.is_some() {
        prop_assert_eq!(value, 0, "a write returned a value");
    } else {
        let zero = must_be_zero(cell, owned, access);
        prop_assert_eq!(value & zero, 0, "{:?} read {:#x}", access, value);
    }
    for &action in &actions {
        check_action(cell, owned, access, action)?;
    }
    Ok((value, actions))
}

/// Reads every INTID register, as every caller (and one beyond the cell),
/// checking that unowned INTIDs read as zero.
fn sweep(
    cell: &CellSpec,
    owned: &Owned,
    dist: &mut VirtualDistributor,
) -> Result<(), TestCaseError> {
    let words = (0x080..0xd00)
        .step_by(4)
        .map(|offset| (offset, AccessSize::Word));
    let routers = (0x6000..0x8000)
        .step_by(8)
        .map(|offset| (offset, AccessSize::Double));
    let offsets: Vec<(u64, AccessSize)> = words.chain(routers).collect();
    for caller in [0, cell.vcpus()] {
        for &(offset, size) in &offsets {
            let access = Access {
                caller,
                offset,
                size,
                write: None,
            };
            run_checked(cell, owned, dist, &access)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1_000))]

    /// Arbitrary access sequences (with resets) never panic, reads are
    /// zero-extended, unowned INTIDs read as zero during and after the
    /// sequence, and every action names only what the cell owns.
    #[test]
    fn accesses_stay_within_the_cell(
        cell in cell(),
        accesses in prop::collection::vec((access(), prop::bool::weighted(0.02)), 1..80),
    ) {
        let owned = cell.owned();
        let mut dist = cell.distributor();
        let model_owned: BTreeSet<u32> = dist.owned_spis().collect();
        prop_assert_eq!(&model_owned, &owned.set);
        for (access, reset) in &accesses {
            if *reset {
                let mut actions = Vec::new();
                dist.reset(&mut |action| actions.push(action));
                // Six actions per owned SPI, naming only owned SPIs.
                prop_assert_eq!(actions.len(), 6 * owned.set.len());
                for action in actions {
                    let write = Access { write: Some(0), ..*access };
                    check_action(&cell, &owned, &write, action)?;
                }
            }
            run_checked(&cell, &owned, &mut dist, access)?;
        }
        sweep(&cell, &owned, &mut dist)?;
    }

    /// Every INTID outside the owned set answers "not owned" and zero in
    /// the model's own queries, whatever was written.
    #[test]
    fn queries_of_unowned_intids_are_zero(
        cell in cell(),
        accesses in prop::collection::vec(access(), 0..40),
        probes in prop::collection::vec(any::<u32>(), 8),
    ) {
        let owned = cell.owned();
        let mut dist = cell.distributor();
        for access in &accesses {
            dist.access(access.caller, access.offset, access.size, access.write, &mut |_| {});
        }
        let every = (0..1100u32).chain(probes);
        for intid in every.filter(|&intid| !owned.contains(intid)) {
            prop_assert!(!dist.owns(intid));
            prop_assert!(!dist.spi_enabled(intid));
            prop_assert_eq!(dist.spi_priority(intid), 0);
            prop_assert_eq!(dist.target_vcpu(intid), 0);
        }
        for intid in &owned.set {
            prop_assert!(dist.target_vcpu(*intid) < cell.vcpus().max(1));
        }
    }
}
