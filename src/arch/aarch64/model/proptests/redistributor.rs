//! The virtual redistributors and `ICC_SGI1R_EL1` decoding: arbitrary
//! accesses never panic, frames beyond the cell's vCPUs read as zero and
//! ignore writes, actions only ever name the accessed frame's vCPU and its
//! own SGIs/PPIs, and a decoded SGI only targets vCPUs of the cell.

use proptest::prelude::*;

use super::config;
use super::distributor::{size, value};
use crate::arch::aarch64::model::vgic::action::Action;
use crate::arch::aarch64::model::vgic::intid::MAX_VCPUS;
use crate::arch::aarch64::model::vgic::redistributor::{
    FRAME_STRIDE, SGI_BASE, VirtualRedistributors, decode_sgi1r, split_offset,
};
use crate::cell::access::AccessSize;

/// One trapped GICR access, by frame.
#[derive(Clone, Copy, Debug)]
pub(super) struct FrameAccess {
    pub(super) frame: usize,
    pub(super) offset: u64,
    pub(super) size: AccessSize,
    pub(super) write: Option<u64>,
}

/// Offsets in a frame, weighted towards RD_base's registers and the SGI
/// frame's.
fn offset_in_frame() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 0u64..0x20,
        1 => Just(0xffe8u64),
        4 => SGI_BASE..SGI_BASE + 0x0d00,
        4 => (0u64..0x0d00 / 4).prop_map(|word| SGI_BASE + word * 4),
        1 => 0u64..FRAME_STRIDE,
        1 => any::<u64>(),
    ]
}

pub(super) fn frame_access() -> impl Strategy<Value = FrameAccess> {
    (
        prop_oneof![8 => 0usize..10, 1 => Just(usize::MAX)],
        offset_in_frame(),
        size(),
        prop::option::weighted(0.6, value()),
    )
        .prop_map(|(frame, offset, size, write)| FrameAccess {
            frame,
            offset,
            size,
            write,
        })
}

/// Runs `access` on redistributors of `vcpus` vCPUs and checks the value
/// read, the actions and, for a frame beyond the cell, that nothing
/// changed.
pub(super) fn run_checked(
    vcpus: usize,
    redists: &mut VirtualRedistributors,
    access: &FrameAccess,
) -> Result<(u64, Vec<Action>), TestCaseError> {
    let before = redists.clone();
    let mut actions = Vec::new();
    let value = redists.access(
        access.frame,
        access.offset,
        access.size,
        access.write,
        &mut |action| actions.push(action),
    );
    prop_assert_eq!(value & !access.size.mask(), 0, "read wider than the access");
    if access.write.is_some() {
        prop_assert_eq!(value, 0, "a write returned a value");
    }
    if access.frame >= vcpus.min(MAX_VCPUS) {
        prop_assert_eq!(value, 0, "frame beyond the cell read {:#x}", value);
        prop_assert!(actions.is_empty());
        prop_assert_eq!(&*redists, &before, "frame beyond the cell changed state");
    }
    for &action in &actions {
        prop_assert!(access.write.is_some(), "a read produced {action:?}");
        match action {
            Action::PrivateEnable { vcpu, intid }
            | Action::PrivateDisable { vcpu, intid }
            | Action::PrivatePending { vcpu, intid }
            | Action::PrivateClearPending { vcpu, intid } => {
                prop_assert_eq!(vcpu, access.frame);
                prop_assert!(intid < 32);
            }
            other => prop_assert!(false, "a redistributor produced {other:?}"),
        }
    }
    Ok((value, actions))
}

/// An independent decoding of an `ICC_SGI1R_EL1` write by vCPU `caller`
/// of a cell of `vcpus` vCPUs (Aff0 = vCPU index, upper affinities 0).
fn reference_sgi1r(value: u64, caller: usize, vcpus: usize) -> Option<(u32, u8)> {
    let vcpus = vcpus.min(8);
    if caller >= vcpus {
        return None;
    }
    let cell: u8 = (0..vcpus).fold(0, |mask, vcpu| mask | 1 << vcpu);
    let intid = ((value >> 24) & 0xf) as u32;
    let irm = value >> 40 & 1 == 1;
    let aff1 = (value >> 16) & 0xff;
    let aff2 = (value >> 32) & 0xff;
    let aff3 = (value >> 48) & 0xff;
    let rs = (value >> 44) & 0xf;
    let list = value & 0xffff;
    let targets = if irm {
        cell & !(1 << caller)
    } else if aff1 == 0 && aff2 == 0 && aff3 == 0 && rs == 0 {
        (0..vcpus)
            .filter(|&vcpu| list & (1 << vcpu) != 0)
            .fold(0, |mask, vcpu| mask | 1 << vcpu)
    } else {
        0
    };
    (targets != 0).then_some((intid, targets))
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Arbitrary access sequences never panic; frames beyond the cell are
    /// RAZ/WI; actions name only the frame's vCPU and INTIDs 0..31.
    #[test]
    fn frames_stay_within_the_cell(
        vcpus in 0usize..=10,
        accesses in prop::collection::vec(frame_access(), 1..60),
    ) {
        let mut redists = VirtualRedistributors::new(vcpus);
        for access in &accesses {
            run_checked(vcpus, &mut redists, access)?;
        }
        // GICR_TYPER: Aff0 and Processor_Number are the frame, Last only
        // on the final frame.
        let count = vcpus.min(MAX_VCPUS);
        for frame in 0..count {
            let typer = redists.access(frame, 8, AccessSize::Double, None, &mut |_| {});
            prop_assert_eq!(typer >> 32, frame as u64);
            prop_assert_eq!((typer >> 8) & 0xffff, frame as u64);
            prop_assert_eq!(typer & 1 << 4 != 0, frame + 1 == count);
        }
    }

    /// Offsets anywhere in the GICR region, split the way the arch layer
    /// splits them: never a panic, and frames beyond the cell read zero.
    #[test]
    fn region_offsets_never_panic(
        vcpus in 0usize..=10,
        offsets in prop::collection::vec(
            (any::<u64>(), 0u64..(11 * FRAME_STRIDE), size(), prop::option::of(value())),
            1..40,
        ),
    ) {
        let mut redists = VirtualRedistributors::new(vcpus);
        for (wild, near, size, write) in offsets {
            for region_offset in [wild, near] {
                let (frame, offset) = split_offset(region_offset);
                prop_assert!(offset < FRAME_STRIDE);
                let access = FrameAccess { frame, offset, size, write };
                run_checked(vcpus, &mut redists, &access)?;
            }
        }
    }

    /// `ICC_SGI1R_EL1` writes decode as the reference does: only vCPUs of
    /// the cell, never an empty target set, never for a caller outside it.
    #[test]
    fn sgi1r_targets_only_the_cell(
        value in any::<u64>(),
        low_bits in any::<u64>(),
        caller in prop_oneof![0usize..10, Just(usize::MAX)],
        vcpus in prop_oneof![0usize..=10, Just(usize::MAX)],
    ) {
        // Half of the values with clean upper affinities, to reach the
        // target list.
        for value in [value, low_bits & 0x0f00_ffff | value & 1 << 40] {
            let decoded = decode_sgi1r(value, caller, vcpus);
            let expected = reference_sgi1r(value, caller, vcpus)
                .map(|(intid, targets)| Action::SendSgi { intid, targets });
            prop_assert_eq!(decoded, expected, "{:#x}", value);
        }
    }
}
