//! Decoding a guest's call (`HVC #0`, `SMC #0`, `VMCALL`) into a [`Call`]
//! and routing it to its answer: PSCI and SMCCC architecture calls
//! ([`psci`], [`smccc`]) and Bulkhead's hypercalls ([`hypercall`]).
//!
//! [`decode`] and [`handle`] are pure and never panic on any input: every
//! unknown or malformed call gets a defined answer and, when it hints at a
//! guest bug, a [`Note`] to log. The tables of every answer are in the
//! [`psci`] and [`hypercall`] docs.

use super::hypercall::{self, CellServices, Hypercall};
use super::outcome::{Note, Outcome};
use super::psci::{self, CellControl, PsciError};
use super::smccc::{self, Convention};
use crate::addr::GuestPhysAddr;

/// A decoded guest call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `psci::PSCI_VERSION`.
    PsciVersion,
    /// `CPU_SUSPEND` (not supported).
    CpuSuspend(Convention),
    /// `psci::CPU_OFF`.
    CpuOff,
    /// `CPU_ON(target, entry, context)`.
    CpuOn {
        /// SMC32 or SMC64 form.
        convention: Convention,
        /// The target's MPIDR (`x1`).
        target: u64,
        /// Where the target starts (`x2`).
        entry: GuestPhysAddr,
        /// The target's `x0` when it starts (`x3`).
        context: u64,
    },
    /// `AFFINITY_INFO(target, lowest_affinity_level)`.
    AffinityInfo {
        /// SMC32 or SMC64 form.
        convention: Convention,
        /// The MPIDR asked about (`x1`).
        target: u64,
        /// `w2`; only 0 is supported.
        lowest_level: u32,
    },
    /// `MIGRATE` (not supported).
    Migrate(Convention),
    /// `psci::MIGRATE_INFO_TYPE`.
    MigrateInfoType,
    /// `MIGRATE_INFO_UP_CPU` (not supported).
    MigrateInfoUpCpu(Convention),
    /// `psci::SYSTEM_OFF`.
    SystemOff,
    /// `psci::SYSTEM_RESET`.
    SystemReset,
    /// `SYSTEM_RESET2(reset_type, cookie)`.
    SystemReset2 {
        /// SMC32 or SMC64 form.
        convention: Convention,
        /// `w1`: bit 31 set for vendor-specific types, 0 = warm reset.
        reset_type: u32,
        /// `x2`, meaningful to vendor-specific types only.
        cookie: u64,
    },
    /// `psci::PSCI_FEATURES(function_id)`.
    PsciFeatures {
        /// The function asked about (`w1`).
        function_id: u32,
    },
    /// `psci::CPU_FREEZE` (not supported).
    CpuFreeze,
    /// `CPU_DEFAULT_SUSPEND` (not supported).
    CpuDefaultSuspend(Convention),
    /// `NODE_HW_STATE` (not supported).
    NodeHwState(Convention),
    /// `SYSTEM_SUSPEND` (not supported).
    SystemSuspend(Convention),
    /// `psci::PSCI_SET_SUSPEND_MODE` (not supported).
    PsciSetSuspendMode,
    /// `PSCI_STAT_RESIDENCY` (not supported).
    PsciStatResidency(Convention),
    /// `PSCI_STAT_COUNT` (not supported).
    PsciStatCount(Convention),
    /// `psci::MEM_PROTECT` (not supported).
    MemProtect,
    /// `MEM_PROTECT_CHECK_RANGE` (not supported).
    MemProtectCheckRange(Convention),
    /// `SMCCC_VERSION`.
    SmcccVersion,
    /// `SMCCC_ARCH_FEATURES(function_id)`.
    SmcccArchFeatures {
        /// The Arm architecture call asked about (`w1`).
        function_id: u32,
    },
    /// `SMCCC_ARCH_SOC_ID` (not supported).
    SmcccArchSocId,
    /// `TRNG_VERSION` or `TRNG_FEATURES` (the function id): discovery of a
    /// firmware random number generator, which Bulkhead does not offer.
    TrngDiscovery(u32),
    /// `SMCCC_ARCH_WORKAROUND_1`.
    ArchWorkaround1,
    /// `SMCCC_ARCH_WORKAROUND_2(enable)`.
    ArchWorkaround2 {
        /// `w1 != 0` (as TF-A reads it): enable the mitigation.
        enable: bool,
    },
    /// `SMCCC_ARCH_WORKAROUND_3`.
    ArchWorkaround3,
    /// One of Bulkhead's own calls ([`hypercall`]).
    Hypercall(Hypercall),
    /// Nothing Bulkhead knows: the raw `x0` the guest passed.
    Unknown(u64),
}

impl Call {
    /// The function id this call is decoded from (for an unknown call, the
    /// low 32 bits of the raw `x0`).
    pub(crate) const fn function_id(&self) -> u32 {
        const fn pick(convention: Convention, smc32: u32, smc64: u32) -> u32 {
            match convention {
                Convention::Smc32 => smc32,
                Convention::Smc64 => smc64,
            }
        }
        match *self {
            Self::PsciVersion => psci::PSCI_VERSION,
            Self::CpuSuspend(c) => pick(c, psci::CPU_SUSPEND_32, psci::CPU_SUSPEND_64),
            Self::CpuOff => psci::CPU_OFF,
            Self::CpuOn { convention, .. } => pick(convention, psci::CPU_ON_32, psci::CPU_ON_64),
            Self::AffinityInfo { convention, .. } => {
                pick(convention, psci::AFFINITY_INFO_32, psci::AFFINITY_INFO_64)
            }
            Self::Migrate(c) => pick(c, psci::MIGRATE_32, psci::MIGRATE_64),
            Self::MigrateInfoType => psci::MIGRATE_INFO_TYPE,
            Self::MigrateInfoUpCpu(c) => pick(
                c,
                psci::MIGRATE_INFO_UP_CPU_32,
                psci::MIGRATE_INFO_UP_CPU_64,
            ),
            Self::SystemOff => psci::SYSTEM_OFF,
            Self::SystemReset => psci::SYSTEM_RESET,
            Self::SystemReset2 { convention, .. } => {
                pick(convention, psci::SYSTEM_RESET2_32, psci::SYSTEM_RESET2_64)
            }
            Self::PsciFeatures { .. } => psci::PSCI_FEATURES,
            Self::CpuFreeze => psci::CPU_FREEZE,
            Self::CpuDefaultSuspend(c) => pick(
                c,
                psci::CPU_DEFAULT_SUSPEND_32,
                psci::CPU_DEFAULT_SUSPEND_64,
            ),
            Self::NodeHwState(c) => pick(c, psci::NODE_HW_STATE_32, psci::NODE_HW_STATE_64),
            Self::SystemSuspend(c) => pick(c, psci::SYSTEM_SUSPEND_32, psci::SYSTEM_SUSPEND_64),
            Self::PsciSetSuspendMode => psci::PSCI_SET_SUSPEND_MODE,
            Self::PsciStatResidency(c) => pick(
                c,
                psci::PSCI_STAT_RESIDENCY_32,
                psci::PSCI_STAT_RESIDENCY_64,
            ),
            Self::PsciStatCount(c) => pick(c, psci::PSCI_STAT_COUNT_32, psci::PSCI_STAT_COUNT_64),
            Self::MemProtect => psci::MEM_PROTECT,
            Self::MemProtectCheckRange(c) => pick(
                c,
                psci::MEM_PROTECT_CHECK_RANGE_32,
                psci::MEM_PROTECT_CHECK_RANGE_64,
            ),
            Self::SmcccVersion => smccc::SMCCC_VERSION,
            Self::SmcccArchFeatures { .. } => smccc::SMCCC_ARCH_FEATURES,
            Self::SmcccArchSocId => smccc::SMCCC_ARCH_SOC_ID,
            Self::TrngDiscovery(id) => id,
            Self::ArchWorkaround1 => smccc::ARCH_WORKAROUND_1,
            Self::ArchWorkaround2 { .. } => smccc::ARCH_WORKAROUND_2,
            Self::ArchWorkaround3 => smccc::ARCH_WORKAROUND_3,
            Self::Hypercall(h) => h.function_id(),
            Self::Unknown(raw) => smccc::function_id(raw),
        }
    }
}

/// Decodes a guest call: `function_id` is the raw `x0` (only `w0` counts),
/// `args` are `x1..x3` (cut to 32 bits for SMC32 ids). Never fails: anything
/// unrecognised is [`Call::Unknown`].
pub(crate) fn decode(function_id: u64, args: [u64; 3]) -> Call {
    let id = smccc::function_id(function_id);
    let convention = Convention::of(id);
    let [x1, x2, x3] = smccc::narrow_args(id, args);
    match id {
        psci::PSCI_VERSION => Call::PsciVersion,
        psci::CPU_SUSPEND_32 | psci::CPU_SUSPEND_64 => Call::CpuSuspend(convention),
        psci::CPU_OFF => Call::CpuOff,
        psci::CPU_ON_32 | psci::CPU_ON_64 => Call::CpuOn {
            convention,
            target: x1,
            entry: GuestPhysAddr::new(x2),
            context: x3,
        },
        psci::AFFINITY_INFO_32 | psci::AFFINITY_INFO_64 => Call::AffinityInfo {
            convention,
            target: x1,
            lowest_level: x2 as u32,
        },
        psci::MIGRATE_32 | psci::MIGRATE_64 => Call::Migrate(convention),
        psci::MIGRATE_INFO_TYPE => Call::MigrateInfoType,
        psci::MIGRATE_INFO_UP_CPU_32 | psci::MIGRATE_INFO_UP_CPU_64 => {
            Call::MigrateInfoUpCpu(convention)
        }
        psci::SYSTEM_OFF => Call::SystemOff,
        psci::SYSTEM_RESET => Call::SystemReset,
        psci::SYSTEM_RESET2_32 | psci::SYSTEM_RESET2_64 => Call::SystemReset2 {
            convention,
            reset_type: x1 as u32,
            cookie: x2,
        },
        psci::PSCI_FEATURES => Call::PsciFeatures {
            function_id: x1 as u32,
        },
        psci::CPU_FREEZE => Call::CpuFreeze,
        psci::CPU_DEFAULT_SUSPEND_32 | psci::CPU_DEFAULT_SUSPEND_64 => {
            Call::CpuDefaultSuspend(convention)
        }
        psci::NODE_HW_STATE_32 | psci::NODE_HW_STATE_64 => Call::NodeHwState(convention),
        psci::SYSTEM_SUSPEND_32 | psci::SYSTEM_SUSPEND_64 => Call::SystemSuspend(convention),
        psci::PSCI_SET_SUSPEND_MODE => Call::PsciSetSuspendMode,
        psci::PSCI_STAT_RESIDENCY_32 | psci::PSCI_STAT_RESIDENCY_64 => {
            Call::PsciStatResidency(convention)
        }
        psci::PSCI_STAT_COUNT_32 | psci::PSCI_STAT_COUNT_64 => Call::PsciStatCount(convention),
        psci::MEM_PROTECT => Call::MemProtect,
        psci::MEM_PROTECT_CHECK_RANGE_32 | psci::MEM_PROTECT_CHECK_RANGE_64 => {
            Call::MemProtectCheckRange(convention)
        }
        smccc::SMCCC_VERSION => Call::SmcccVersion,
        smccc::SMCCC_ARCH_FEATURES => Call::SmcccArchFeatures {
            function_id: x1 as u32,
        },
        smccc::SMCCC_ARCH_SOC_ID => Call::SmcccArchSocId,
        smccc::TRNG_VERSION | smccc::TRNG_FEATURES => Call::TrngDiscovery(id),
        smccc::ARCH_WORKAROUND_1 => Call::ArchWorkaround1,
        smccc::ARCH_WORKAROUND_2 => Call::ArchWorkaround2 { enable: x1 != 0 },
        smccc::ARCH_WORKAROUND_3 => Call::ArchWorkaround3,
        _ => match hypercall::decode(id, [x1, x2, x3]) {
            Some(call) => Call::Hypercall(call),
            None => Call::Unknown(function_id),
        },
    }
}

/// Answers `call`, made by vCPU `caller_vcpu` of `cell`. Never panics; see
/// the module docs for every answer.
pub(crate) fn handle<C: CellServices>(call: &Call, caller_vcpu: usize, cell: &mut C) -> Outcome {
    match *call {
        Call::PsciVersion => Outcome::Return1(u64::from(psci::IMPLEMENTED_VERSION)),
        Call::CpuOff => Outcome::CpuOff,
        Call::CpuOn {
            target,
            entry,
            context,
            ..
        } => psci::cpu_on(cell, target, entry, context),
        Call::AffinityInfo {
            target,
            lowest_level,
            ..
        } => psci::affinity_info(cell, target, lowest_level),
        Call::MigrateInfoType => Outcome::Return1(psci::MIGRATE_INFO_TYPE_NOT_REQUIRED),
        Call::SystemOff => Outcome::SystemOff,
        Call::SystemReset => Outcome::SystemReset,
        Call::SystemReset2 { reset_type, .. } => {
            if reset_type == psci::SYSTEM_WARM_RESET {
                Outcome::SystemReset
            } else {
                psci::refuse(
                    PsciError::InvalidParameters,
                    Note::BadResetType { reset_type },
                )
            }
        }
        Call::PsciFeatures { function_id } => Outcome::Return1(psci_features(function_id)),
        Call::SmcccVersion => Outcome::Return1(u64::from(smccc::IMPLEMENTED_VERSION)),
        Call::SmcccArchFeatures { function_id } => {
            Outcome::Return1(arch_features(cell, function_id))
        }
        Call::ArchWorkaround1 => forward(cell, smccc::ARCH_WORKAROUND_1, 0),
        Call::ArchWorkaround2 { enable: true } => forward(cell, smccc::ARCH_WORKAROUND_2, 1),
        Call::ArchWorkaround2 { enable: false } => Outcome::Refused {
            x0: smccc::return_code(smccc::NOT_SUPPORTED),
            note: Note::MitigationKept,
        },
        Call::ArchWorkaround3 => forward(cell, smccc::ARCH_WORKAROUND_3, 0),
        Call::Hypercall(ref own) => hypercall::handle(own, caller_vcpu, cell),
        // The interface's defined "absent" answer, not worth a report:
        // Linux probes it on every boot.
        Call::TrngDiscovery(_) => Outcome::Return1(smccc::return_code(smccc::NOT_SUPPORTED)),
        Call::Unknown(raw) => Outcome::Refused {
            x0: smccc::return_code(smccc::NOT_SUPPORTED),
            note: Note::UnknownFunction(raw),
        },
        Call::CpuSuspend(_)
        | Call::Migrate(_)
        | Call::MigrateInfoUpCpu(_)
        | Call::CpuFreeze
        | Call::CpuDefaultSuspend(_)
        | Call::NodeHwState(_)
        | Call::SystemSuspend(_)
        | Call::PsciSetSuspendMode
        | Call::PsciStatResidency(_)
        | Call::PsciStatCount(_)
        | Call::MemProtect
        | Call::MemProtectCheckRange(_)
        | Call::SmcccArchSocId => Outcome::Refused {
            x0: smccc::return_code(smccc::NOT_SUPPORTED),
            note: Note::Unsupported(call.function_id()),
        },
    }
}

/// `psci::PSCI_FEATURES`: 0 (present, no feature flags) for what [`handle`]
/// implements, `NOT_SUPPORTED` for the rest.
fn psci_features(function_id: u32) -> u64 {
    match decode(u64::from(function_id), [0; 3]) {
        Call::PsciVersion
        | Call::CpuOff
        | Call::CpuOn { .. }
        | Call::AffinityInfo { .. }
        | Call::MigrateInfoType
        | Call::SystemOff
        | Call::SystemReset
        | Call::SystemReset2 { .. }
        | Call::PsciFeatures { .. }
        | Call::SmcccVersion => smccc::return_code(smccc::SUCCESS),
        _ => PsciError::NotSupported.to_register(),
    }
}

/// `SMCCC_ARCH_FEATURES`: 0 for the discovery calls themselves, firmware's
/// per-PE answer for the workarounds, `NOT_SUPPORTED` for the rest.
fn arch_features(cell: &mut impl CellControl, function_id: u32) -> u64 {
    match decode(u64::from(function_id), [0; 3]) {
        Call::SmcccVersion | Call::SmcccArchFeatures { .. } => smccc::return_code(smccc::SUCCESS),
        Call::ArchWorkaround1 | Call::ArchWorkaround2 { .. } | Call::ArchWorkaround3 => {
            let [x0, ..] =
                cell.firmware_call(smccc::SMCCC_ARCH_FEATURES, [function_id.into(), 0, 0]);
            smccc::normalize_smc32_result(x0)
        }
        _ => smccc::return_code(smccc::NOT_SUPPORTED),
    }
}

/// Forwards a workaround call to firmware and passes its `w0` back.
fn forward(cell: &mut impl CellControl, function_id: u32, arg: u64) -> Outcome {
    let [x0, ..] = cell.firmware_call(function_id, [arg, 0, 0]);
    Outcome::Return1(smccc::normalize_smc32_result(x0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::fake_cell::{FakeCell, RAM_BASE, XorShift};
    use crate::calls::hypercall;
    use crate::calls::psci::{
        AFFINITY_INFO_32, AFFINITY_INFO_64, CPU_DEFAULT_SUSPEND_32, CPU_DEFAULT_SUSPEND_64,
        CPU_FREEZE, CPU_OFF, CPU_ON_32, CPU_ON_64, CPU_SUSPEND_32, CPU_SUSPEND_64, MEM_PROTECT,
        MEM_PROTECT_CHECK_RANGE_32, MEM_PROTECT_CHECK_RANGE_64, MIGRATE_32, MIGRATE_64,
        MIGRATE_INFO_TYPE, MIGRATE_INFO_UP_CPU_32, MIGRATE_INFO_UP_CPU_64, NODE_HW_STATE_32,
        NODE_HW_STATE_64, PSCI_FEATURES, PSCI_SET_SUSPEND_MODE, PSCI_STAT_COUNT_32,
        PSCI_STAT_COUNT_64, PSCI_STAT_RESIDENCY_32, PSCI_STAT_RESIDENCY_64, PSCI_VERSION,
        SYSTEM_OFF, SYSTEM_RESET, SYSTEM_RESET2_32, SYSTEM_RESET2_64, SYSTEM_SUSPEND_32,
        SYSTEM_SUSPEND_64, vcpu_for_mpidr,
    };
    use crate::cell::lifecycle::Power;

    const NOT_SUPPORTED: u64 = u64::MAX;
    const ENTRY: GuestPhysAddr = GuestPhysAddr::new(RAM_BASE + 0x100);

    fn run(cell: &mut FakeCell, function_id: u64, args: [u64; 3]) -> Outcome {
        handle(&decode(function_id, args), 0, cell)
    }

    fn code(error: PsciError) -> u64 {
        error.to_register()
    }

    /// Every id this module defines, with the call it must decode to (given
    /// all-zero arguments).
    fn every_id() -> Vec<(u32, Call)> {
        use Convention::{Smc32, Smc64};
        let zero = GuestPhysAddr::new(0);
        vec![
            (PSCI_VERSION, Call::PsciVersion),
            (CPU_SUSPEND_32, Call::CpuSuspend(Smc32)),
            (CPU_SUSPEND_64, Call::CpuSuspend(Smc64)),
            (CPU_OFF, Call::CpuOff),
            (
                CPU_ON_32,
                Call::CpuOn {
                    convention: Smc32,
                    target: 0,
                    entry: zero,
                    context: 0,
                },
            ),
            (
                CPU_ON_64,
                Call::CpuOn {
                    convention: Smc64,
                    target: 0,
                    entry: zero,
                    context: 0,
                },
            ),
            (
                AFFINITY_INFO_32,
                Call::AffinityInfo {
                    convention: Smc32,
                    target: 0,
                    lowest_level: 0,
                },
            ),
            (
                AFFINITY_INFO_64,
                Call::AffinityInfo {
                    convention: Smc64,
                    target: 0,
                    lowest_level: 0,
                },
            ),
            (MIGRATE_32, Call::Migrate(Smc32)),
            (MIGRATE_64, Call::Migrate(Smc64)),
            (MIGRATE_INFO_TYPE, Call::MigrateInfoType),
            (MIGRATE_INFO_UP_CPU_32, Call::MigrateInfoUpCpu(Smc32)),
            (MIGRATE_INFO_UP_CPU_64, Call::MigrateInfoUpCpu(Smc64)),
            (SYSTEM_OFF, Call::SystemOff),
            (SYSTEM_RESET, Call::SystemReset),
            (
                SYSTEM_RESET2_32,
                Call::SystemReset2 {
                    convention: Smc32,
                    reset_type: 0,
                    cookie: 0,
                },
            ),
            (
                SYSTEM_RESET2_64,
                Call::SystemReset2 {
                    convention: Smc64,
                    reset_type: 0,
                    cookie: 0,
                },
            ),
            (PSCI_FEATURES, Call::PsciFeatures { function_id: 0 }),
            (CPU_FREEZE, Call::CpuFreeze),
            (CPU_DEFAULT_SUSPEND_32, Call::CpuDefaultSuspend(Smc32)),
            (CPU_DEFAULT_SUSPEND_64, Call::CpuDefaultSuspend(Smc64)),
            (NODE_HW_STATE_32, Call::NodeHwState(Smc32)),
            (NODE_HW_STATE_64, Call::NodeHwState(Smc64)),
            (SYSTEM_SUSPEND_32, Call::SystemSuspend(Smc32)),
            (SYSTEM_SUSPEND_64, Call::SystemSuspend(Smc64)),
            (PSCI_SET_SUSPEND_MODE, Call::PsciSetSuspendMode),
            (PSCI_STAT_RESIDENCY_32, Call::PsciStatResidency(Smc32)),
            (PSCI_STAT_RESIDENCY_64, Call::PsciStatResidency(Smc64)),
            (PSCI_STAT_COUNT_32, Call::PsciStatCount(Smc32)),
            (PSCI_STAT_COUNT_64, Call::PsciStatCount(Smc64)),
            (MEM_PROTECT, Call::MemProtect),
            (
                MEM_PROTECT_CHECK_RANGE_32,
                Call::MemProtectCheckRange(Smc32),
            ),
            (
                MEM_PROTECT_CHECK_RANGE_64,
                Call::MemProtectCheckRange(Smc64),
            ),
            (smccc::SMCCC_VERSION, Call::SmcccVersion),
            (
                smccc::SMCCC_ARCH_FEATURES,
                Call::SmcccArchFeatures { function_id: 0 },
            ),
            (smccc::SMCCC_ARCH_SOC_ID, Call::SmcccArchSocId),
            (
                smccc::TRNG_VERSION,
                Call::TrngDiscovery(smccc::TRNG_VERSION),
            ),
            (
                smccc::TRNG_FEATURES,
                Call::TrngDiscovery(smccc::TRNG_FEATURES),
            ),
            (smccc::ARCH_WORKAROUND_1, Call::ArchWorkaround1),
            (
                smccc::ARCH_WORKAROUND_2,
                Call::ArchWorkaround2 { enable: false },
            ),
            (smccc::ARCH_WORKAROUND_3, Call::ArchWorkaround3),
            (
                hypercall::ABI_VERSION,
                Call::Hypercall(Hypercall::AbiVersion),
            ),
        ]
    }

    #[test]
    fn decodes_every_id_in_both_conventions() {
        for (id, expected) in every_id() {
            assert_eq!(decode(u64::from(id), [0; 3]), expected, "{id:#x}");
            assert_eq!(expected.function_id(), id, "{expected:?}");
            // Only w0 is the function id.
            assert_eq!(
                decode(0xdead_beef_0000_0000 | u64::from(id), [0; 3]),
                expected
            );
        }
    }

    #[test]
    fn decodes_arguments() {
        let args = [0x8000_0102, 0x4000_1000, 0xfeed];
        assert_eq!(
            decode(u64::from(CPU_ON_64), args),
            Call::CpuOn {
                convention: Convention::Smc64,
                target: 0x8000_0102,
                entry: GuestPhysAddr::new(0x4000_1000),
                context: 0xfeed,
            }
        );
        assert_eq!(
            decode(u64::from(AFFINITY_INFO_64), [3, 0x1_0000_0001, 0]),
            Call::AffinityInfo {
                convention: Convention::Smc64,
                target: 3,
                lowest_level: 1,
            }
        );
        assert_eq!(
            decode(
                u64::from(SYSTEM_RESET2_64),
                [0x8000_0001, 0x1234_5678_9abc, 0]
            ),
            Call::SystemReset2 {
                convention: Convention::Smc64,
                reset_type: 0x8000_0001,
                cookie: 0x1234_5678_9abc,
            }
        );
        assert_eq!(
            decode(u64::from(PSCI_FEATURES), [u64::from(CPU_ON_64), 0, 0]),
            Call::PsciFeatures {
                function_id: CPU_ON_64
            }
        );
        assert_eq!(
            decode(u64::from(smccc::ARCH_WORKAROUND_2), [1, 0, 0]),
            Call::ArchWorkaround2 { enable: true }
        );
    }

    #[test]
    fn smc32_arguments_lose_their_upper_halves() {
        let args = [
            0xffff_ffff_0000_0001,
            0xaaaa_aaaa_4000_1000,
            0x5555_5555_0000_00ff,
        ];
        assert_eq!(
            decode(u64::from(CPU_ON_32), args),
            Call::CpuOn {
                convention: Convention::Smc32,
                target: 1,
                entry: GuestPhysAddr::new(0x4000_1000),
                context: 0xff,
            }
        );
        // The upper half of w1 cannot turn ARCH_WORKAROUND_2(0) into "enable".
        assert_eq!(
            decode(u64::from(smccc::ARCH_WORKAROUND_2), [0x1_0000_0000, 0, 0]),
            Call::ArchWorkaround2 { enable: false }
        );
        assert_eq!(
            decode(u64::from(PSCI_FEATURES), [0x1_8400_0000, 0, 0]),
            Call::PsciFeatures {
                function_id: PSCI_VERSION
            }
        );
    }

    #[test]
    fn unknown_ids() {
        for raw in [
            0,
            0x8400_0015, // PSCI 1.3 SYSTEM_OFF2: not offered
            0x8400_001f, // unallocated PSCI number
            0x0400_0003, // CPU_ON as a yielding call
            0x8401_0003, // CPU_ON with a reserved bit (23:16) set
            0xc400_0000, // PSCI_VERSION has no SMC64 form
            0xc400_0002, // nor has CPU_OFF
            0xc000_0000, // SMCCC_VERSION has no SMC64 form
            0x8200_0000, // SiP service
            0xc500_0020, // standard hypervisor service
            0x8600_0001, // CELL_INFO as SMC32: not defined
            0xc600_0004, // past Bulkhead's last function
            0xbf00_ffff, // trusted OS range
            u64::MAX,
        ] {
            let call = decode(raw, [1, 2, 3]);
            assert_eq!(call, Call::Unknown(raw), "{raw:#x}");
            let mut cell = FakeCell::new(2);
            let outcome = handle(&call, 0, &mut cell);
            assert_eq!(
                outcome,
                Outcome::Refused {
                    x0: NOT_SUPPORTED,
                    note: Note::UnknownFunction(raw)
                }
            );
            assert!(cell.firmware_calls.is_empty());
        }
    }

    #[test]
    fn psci_version() {
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, PSCI_VERSION.into(), [0; 3]),
            Outcome::Return1(0x0001_0001)
        );
    }

    #[test]
    fn cpu_on_starts_an_off_vcpu() {
        let mut cell = FakeCell::new(4);
        let outcome = run(&mut cell, CPU_ON_64.into(), [2, ENTRY.as_u64(), 0xc0ffee]);
        assert_eq!(outcome, Outcome::Return1(0));
        assert_eq!(cell.started, vec![(2, ENTRY, 0xc0ffee)]);
        assert_eq!(cell.power[2], Power::OnPending);

        // The 32-bit form, with junk in the upper halves of the arguments
        // (SMC32 arguments are 32 bits).
        let outcome = run(
            &mut cell,
            CPU_ON_32.into(),
            [
                0xdead_0000_0000_0003,
                ENTRY.as_u64() | 0xffff_ffff_0000_0000,
                5,
            ],
        );
        assert_eq!(outcome, Outcome::Return1(0));
        assert_eq!(cell.started[1], (3, ENTRY, 5));
    }

    #[test]
    fn cpu_on_reports_already_on_and_on_pending() {
        let mut cell = FakeCell::new(3);
        cell.power[2] = Power::OnPending;
        let args = |target| [target, ENTRY.as_u64(), 0];
        assert_eq!(
            run(&mut cell, CPU_ON_64.into(), args(0)),
            Outcome::Return1(code(PsciError::AlreadyOn))
        );
        assert_eq!(
            run(&mut cell, CPU_ON_64.into(), args(2)),
            Outcome::Return1(code(PsciError::OnPending))
        );
        assert!(cell.started.is_empty());
    }

    #[test]
    fn cpu_on_passes_on_start_failures() {
        let mut cell = FakeCell::new(2);
        cell.start_result = Err(PsciError::InternalFailure);
        assert_eq!(
            run(&mut cell, CPU_ON_64.into(), [1, ENTRY.as_u64(), 0]),
            Outcome::Return1(code(PsciError::InternalFailure))
        );
        assert_eq!(PsciError::InternalFailure.to_register(), (-6i64) as u64);
    }

    #[test]
    fn cpu_on_refuses_foreign_cpus() {
        for target in [
            0x100,         // Aff1 = 1: another cluster, e.g. a physical id
            0x1_0000,      // Aff2
            0x1_0000_0000, // Aff3
            0x8000_0101,   // raw MPIDR of core 1 in cluster 1
            4,             // Aff0 past the last vCPU
            0xff,          // largest Aff0
            u64::MAX,
        ] {
            let mut cell = FakeCell::new(4);
            let outcome = run(&mut cell, CPU_ON_64.into(), [target, ENTRY.as_u64(), 0]);
            assert_eq!(
                outcome,
                Outcome::Refused {
                    x0: code(PsciError::InvalidParameters),
                    note: Note::ForeignCpu { target },
                },
                "{target:#x}"
            );
            assert!(cell.started.is_empty());
        }
    }

    #[test]
    fn cpu_on_refuses_entry_points_outside_the_cell() {
        for entry in [0, RAM_BASE - 4, RAM_BASE + 0x1000, u64::MAX] {
            let mut cell = FakeCell::new(2);
            let outcome = run(&mut cell, CPU_ON_64.into(), [1, entry, 0]);
            assert_eq!(
                outcome,
                Outcome::Refused {
                    x0: code(PsciError::InvalidAddress),
                    note: Note::BadEntry {
                        entry: GuestPhysAddr::new(entry)
                    },
                }
            );
            assert!(cell.started.is_empty());
        }
        // A foreign target is reported before a bad entry point.
        let mut cell = FakeCell::new(2);
        assert_eq!(
            run(&mut cell, CPU_ON_64.into(), [9, 0, 0]).note(),
            Some(Note::ForeignCpu { target: 9 })
        );
    }

    #[test]
    fn cpu_off_parks_the_caller() {
        let mut cell = FakeCell::new(2);
        assert_eq!(run(&mut cell, CPU_OFF.into(), [7, 8, 9]), Outcome::CpuOff);
    }

    #[test]
    fn affinity_info_reports_each_state() {
        let mut cell = FakeCell::new(3);
        cell.power[2] = Power::OnPending;
        for (target, expected) in [(0, 0), (1, 1), (2, 2)] {
            for id in [AFFINITY_INFO_32, AFFINITY_INFO_64] {
                assert_eq!(
                    run(&mut cell, id.into(), [target, 0, 0]),
                    Outcome::Return1(expected),
                    "{id:#x} {target:#x}"
                );
            }
        }
        // SMC32 arguments are 32 bits: junk above is not looked at; in the
        // SMC64 form the same bits name no core.
        let junk = 0xdead_0000_0000_0002;
        assert_eq!(
            run(&mut cell, AFFINITY_INFO_32.into(), [junk, 0, 0]),
            Outcome::Return1(2)
        );
        assert!(matches!(
            run(&mut cell, AFFINITY_INFO_64.into(), [junk, 0, 0]),
            Outcome::Refused { .. }
        ));
    }

    #[test]
    fn affinity_info_refuses_foreign_targets_and_levels() {
        let mut cell = FakeCell::new(2);
        assert_eq!(
            run(&mut cell, AFFINITY_INFO_64.into(), [0x100, 0, 0]),
            Outcome::Refused {
                x0: code(PsciError::InvalidParameters),
                note: Note::ForeignCpu { target: 0x100 },
            }
        );
        assert_eq!(
            run(&mut cell, AFFINITY_INFO_64.into(), [2, 0, 0]).note(),
            Some(Note::ForeignCpu { target: 2 })
        );
        assert_eq!(
            run(&mut cell, AFFINITY_INFO_64.into(), [0, 1, 0]),
            Outcome::Refused {
                x0: code(PsciError::InvalidParameters),
                note: Note::BadAffinityLevel { level: 1 },
            }
        );
    }

    #[test]
    fn migration_calls() {
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, MIGRATE_INFO_TYPE.into(), [0; 3]),
            Outcome::Return1(2)
        );
        for id in [
            MIGRATE_32,
            MIGRATE_64,
            MIGRATE_INFO_UP_CPU_32,
            MIGRATE_INFO_UP_CPU_64,
        ] {
            assert_eq!(
                run(&mut cell, id.into(), [0; 3]),
                Outcome::Refused {
                    x0: NOT_SUPPORTED,
                    note: Note::Unsupported(id)
                }
            );
        }
    }

    #[test]
    fn system_off_and_resets() {
        let mut cell = FakeCell::new(2);
        assert_eq!(
            run(&mut cell, SYSTEM_OFF.into(), [0; 3]),
            Outcome::SystemOff
        );
        assert_eq!(
            run(&mut cell, SYSTEM_RESET.into(), [0; 3]),
            Outcome::SystemReset
        );
        for id in [SYSTEM_RESET2_32, SYSTEM_RESET2_64] {
            assert_eq!(
                run(&mut cell, id.into(), [0, 0x1234, 0]),
                Outcome::SystemReset
            );
            for reset_type in [1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff] {
                assert_eq!(
                    run(&mut cell, id.into(), [reset_type.into(), 0, 0]),
                    Outcome::Refused {
                        x0: code(PsciError::InvalidParameters),
                        note: Note::BadResetType { reset_type },
                    }
                );
            }
        }
        // SMC32: the upper half of w1 is not part of the reset type.
        assert_eq!(
            run(&mut cell, SYSTEM_RESET2_32.into(), [0x1_0000_0000, 0, 0]),
            Outcome::SystemReset
        );
    }

    #[test]
    fn unsupported_psci_functions() {
        let mut cell = FakeCell::new(2);
        for id in [
            CPU_SUSPEND_32,
            CPU_SUSPEND_64,
            CPU_FREEZE,
            CPU_DEFAULT_SUSPEND_32,
            CPU_DEFAULT_SUSPEND_64,
            NODE_HW_STATE_32,
            NODE_HW_STATE_64,
            SYSTEM_SUSPEND_32,
            SYSTEM_SUSPEND_64,
            PSCI_SET_SUSPEND_MODE,
            PSCI_STAT_RESIDENCY_32,
            PSCI_STAT_RESIDENCY_64,
            PSCI_STAT_COUNT_32,
            PSCI_STAT_COUNT_64,
            MEM_PROTECT,
            MEM_PROTECT_CHECK_RANGE_32,
            MEM_PROTECT_CHECK_RANGE_64,
            smccc::SMCCC_ARCH_SOC_ID,
        ] {
            assert_eq!(
                run(&mut cell, id.into(), [ENTRY.as_u64(), 1, 2]),
                Outcome::Refused {
                    x0: NOT_SUPPORTED,
                    note: Note::Unsupported(id)
                },
                "{id:#x}"
            );
        }
        assert!(cell.started.is_empty() && cell.firmware_calls.is_empty());
    }

    #[test]
    fn psci_features() {
        let mut cell = FakeCell::new(1);
        let mut features = |id: u32| match run(&mut cell, PSCI_FEATURES.into(), [id.into(), 0, 0]) {
            Outcome::Return1(x0) => x0,
            other => panic!("{other:?}"),
        };
        for id in [
            PSCI_VERSION,
            CPU_OFF,
            CPU_ON_32,
            CPU_ON_64,
            AFFINITY_INFO_32,
            AFFINITY_INFO_64,
            MIGRATE_INFO_TYPE,
            SYSTEM_OFF,
            SYSTEM_RESET,
            SYSTEM_RESET2_32,
            SYSTEM_RESET2_64,
            PSCI_FEATURES,
            smccc::SMCCC_VERSION,
        ] {
            assert_eq!(features(id), 0, "{id:#x}");
        }
        for id in [
            CPU_SUSPEND_32,
            CPU_SUSPEND_64,
            MIGRATE_64,
            MIGRATE_INFO_UP_CPU_64,
            CPU_FREEZE,
            SYSTEM_SUSPEND_64,
            MEM_PROTECT,
            MEM_PROTECT_CHECK_RANGE_64,
            smccc::SMCCC_ARCH_FEATURES,
            smccc::ARCH_WORKAROUND_1,
            hypercall::CELL_INFO,
            0x8400_0015,
            0,
            u32::MAX,
        ] {
            assert_eq!(features(id), NOT_SUPPORTED, "{id:#x}");
        }
    }

    #[test]
    fn smccc_version() {
        let mut cell = FakeCell::new(1);
        assert_eq!(
            run(&mut cell, smccc::SMCCC_VERSION.into(), [0; 3]),
            Outcome::Return1(0x1_0001)
        );
    }

    fn firmware(function_id: u32, args: [u64; 3]) -> [u64; 4] {
        match (function_id, args[0] as u32) {
            (smccc::SMCCC_ARCH_FEATURES, smccc::ARCH_WORKAROUND_1) => [0, 9, 9, 9],
            // Firmware may leave the upper half of a 32-bit result zero.
            (smccc::SMCCC_ARCH_FEATURES, smccc::ARCH_WORKAROUND_2) => [0xffff_fffe, 9, 9, 9],
            (smccc::SMCCC_ARCH_FEATURES, smccc::ARCH_WORKAROUND_3) => [1, 9, 9, 9],
            (smccc::ARCH_WORKAROUND_1 | smccc::ARCH_WORKAROUND_3, _) => [0, 9, 9, 9],
            (smccc::ARCH_WORKAROUND_2, _) => [0x7, 9, 9, 9],
            _ => [u64::MAX, 9, 9, 9],
        }
    }

    #[test]
    fn arch_features_answers_and_forwards() {
        let mut cell = FakeCell::new(1);
        cell.firmware = firmware;
        let features = |cell: &mut FakeCell, id: u32| match run(
            cell,
            smccc::SMCCC_ARCH_FEATURES.into(),
            [id.into(), 0, 0],
        ) {
            Outcome::Return1(x0) => x0,
            other => panic!("{other:?}"),
        };
        assert_eq!(features(&mut cell, smccc::SMCCC_ARCH_FEATURES), 0);
        assert_eq!(features(&mut cell, smccc::SMCCC_VERSION), 0);
        assert!(cell.firmware_calls.is_empty());

        assert_eq!(features(&mut cell, smccc::ARCH_WORKAROUND_1), 0);
        assert_eq!(
            features(&mut cell, smccc::ARCH_WORKAROUND_2),
            smccc::return_code(smccc::NOT_REQUIRED)
        );
        assert_eq!(features(&mut cell, smccc::ARCH_WORKAROUND_3), 1);
        assert_eq!(
            cell.firmware_calls,
            vec![
                (
                    smccc::SMCCC_ARCH_FEATURES,
                    [smccc::ARCH_WORKAROUND_1.into(), 0, 0]
                ),
                (
                    smccc::SMCCC_ARCH_FEATURES,
                    [smccc::ARCH_WORKAROUND_2.into(), 0, 0]
                ),
                (
                    smccc::SMCCC_ARCH_FEATURES,
                    [smccc::ARCH_WORKAROUND_3.into(), 0, 0]
                ),
            ]
        );

        cell.firmware_calls.clear();
        for id in [
            smccc::SMCCC_ARCH_SOC_ID,
            PSCI_VERSION,
            hypercall::ABI_VERSION,
            0x8000_0003,
            0x8000_8001,
            u32::MAX,
        ] {
            assert_eq!(features(&mut cell, id), NOT_SUPPORTED, "{id:#x}");
        }
        assert!(cell.firmware_calls.is_empty());
    }

    #[test]
    fn workarounds_are_forwarded() {
        let mut cell = FakeCell::new(1);
        cell.firmware = firmware;
        assert_eq!(
            run(&mut cell, smccc::ARCH_WORKAROUND_1.into(), [5, 6, 7]),
            Outcome::Return1(0)
        );
        assert_eq!(
            run(&mut cell, smccc::ARCH_WORKAROUND_3.into(), [5, 6, 7]),
            Outcome::Return1(0)
        );
        assert_eq!(
            run(&mut cell, smccc::ARCH_WORKAROUND_2.into(), [0xff, 6, 7]),
            Outcome::Return1(7)
        );
        // Guest arguments never reach firmware; enable is always a plain 1.
        assert_eq!(
            cell.firmware_calls,
            vec![
                (smccc::ARCH_WORKAROUND_1, [0, 0, 0]),
                (smccc::ARCH_WORKAROUND_3, [0, 0, 0]),
                (smccc::ARCH_WORKAROUND_2, [1, 0, 0]),
            ]
        );
    }

    #[test]
    fn workaround_2_disable_is_refused() {
        let mut cell = FakeCell::new(1);
        cell.firmware = firmware;
        assert_eq!(
            run(&mut cell, smccc::ARCH_WORKAROUND_2.into(), [0, 0, 0]),
            Outcome::Refused {
                x0: NOT_SUPPORTED,
                note: Note::MitigationKept
            }
        );
        assert!(cell.firmware_calls.is_empty());
    }

    #[test]
    fn outcome_write_back() {
        let before = [1, 2, 3, 4];
        let after = |outcome: Outcome| {
            let mut regs = before;
            outcome.apply(&mut regs);
            regs
        };
        assert_eq!(after(Outcome::Return1(9)), [9, 2, 3, 4]);
        assert_eq!(after(Outcome::Return4([5, 6, 7, 8])), [5, 6, 7, 8]);
        let refused = Outcome::Refused {
            x0: NOT_SUPPORTED,
            note: Note::MitigationKept,
        };
        assert_eq!(after(refused), [NOT_SUPPORTED, 2, 3, 4]);
        assert_eq!(refused.note(), Some(Note::MitigationKept));
        for outcome in [Outcome::CpuOff, Outcome::SystemOff, Outcome::SystemReset] {
            assert_eq!(after(outcome), before);
            assert_eq!(outcome.note(), None);
        }
    }

    #[test]
    fn vcpu_for_mpidr_maps_aff0_only() {
        assert_eq!(vcpu_for_mpidr(0, 1), Some(0));
        assert_eq!(vcpu_for_mpidr(3, 4), Some(3));
        // RES1 bit 31, U (30), MT (24), bits above Aff3: no core.
        assert_eq!(vcpu_for_mpidr(0x8000_0003, 4), None);
        assert_eq!(vcpu_for_mpidr(0x4000_0001, 2), None);
        assert_eq!(vcpu_for_mpidr(0x0100_0001, 2), None);
        assert_eq!(vcpu_for_mpidr(0xff00_0000_0000_0001, 2), None);
        assert_eq!(vcpu_for_mpidr(u64::MAX, 256), None);
        assert_eq!(vcpu_for_mpidr(0xff, 256), Some(255));
        assert_eq!(vcpu_for_mpidr(0x100, 512), None);
        assert_eq!(vcpu_for_mpidr(1, 1), None);
        assert_eq!(vcpu_for_mpidr(0, 0), None);
    }

    #[test]
    fn notes_and_errors_display() {
        let notes = [
            Note::UnknownFunction(0x1234),
            Note::Unsupported(CPU_SUSPEND_64),
            Note::ForeignCpu { target: 0x100 },
            Note::BadEntry { entry: ENTRY },
            Note::BadAffinityLevel { level: 2 },
            Note::BadResetType { reset_type: 1 },
            Note::BadBuffer {
                gpa: ENTRY,
                len: 0x10,
            },
            Note::MitigationKept,
        ];
        for note in notes {
            assert!(!note.to_string().is_empty());
        }
        assert_eq!(
            Note::ForeignCpu { target: 0x100 }.to_string(),
            "target MPIDR 0x100 is not in the cell"
        );
        assert_eq!(PsciError::AlreadyOn.to_string(), "ALREADY_ON (-4)");
        assert_eq!(PsciError::InvalidAddress.code(), -9);
    }

    /// Random function ids and arguments: nothing panics, unknown ids are
    /// refused, and whatever decodes re-encodes to the same id.
    #[test]
    fn random_calls_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let known: Vec<u32> = every_id().into_iter().map(|(id, _)| id).collect();
        // Cells of 1 to 4 vCPUs whose state carries over from call to call.
        let mut cells: Vec<FakeCell> = (1..=4)
            .map(|vcpus| {
                let mut cell = FakeCell::new(vcpus);
                cell.firmware = firmware;
                cell
            })
            .collect();
        for i in 0..100_000 {
            let raw = match i % 4 {
                // Anything at all.
                0 => rng.next_u64(),
                // A fast call in one of the services Bulkhead answers.
                1 => {
                    let owner = [0, 4, 6][(rng.next_u64() % 3) as usize];
                    let convention = if rng.next_u64() & 1 == 0 {
                        Convention::Smc32
                    } else {
                        Convention::Smc64
                    };
                    let number = rng.next_u64() as u16;
                    u64::from(smccc::fast_call(convention, owner, number))
                }
                // A known id with garbage in the upper half of x0.
                2 => (rng.next_u64() << 32) | u64::from(known[i % known.len()]),
                // A known id with a random bit flipped.
                _ => u64::from(known[i % known.len()] ^ (1 << (rng.next_u64() % 32))),
            };
            let args = [rng.next_u64(), rng.next_u64(), rng.next_u64()];
            let cell = &mut cells[i % 4];
            let caller = (rng.next_u64() % cell.power.len() as u64) as usize;
            let call = decode(raw, args);
            assert_eq!(call.function_id(), raw as u32);
            let outcome = handle(&call, caller, cell);
            if let Call::Unknown(_) = call {
                assert_eq!(
                    outcome,
                    Outcome::Refused {
                        x0: NOT_SUPPORTED,
                        note: Note::UnknownFunction(raw)
                    }
                );
            }
        }
        // Nothing outside a cell was ever started.
        for cell in &cells {
            for &(vcpu, entry, _) in &cell.started {
                assert!(vcpu < cell.power.len());
                assert!(cell.entry_is_valid(entry));
            }
        }
    }

    #[test]
    fn trng_discovery_is_not_supported_without_a_report() {
        let mut cell = FakeCell::new(1);
        for (id, width) in [(smccc::TRNG_VERSION, 0), (smccc::TRNG_FEATURES, 1)] {
            let call = decode(
                u64::from(id),
                [u64::from(smccc::TRNG_VERSION) * width, 0, 0],
            );
            assert_eq!(call, Call::TrngDiscovery(id));
            let outcome = handle(&call, 0, &mut cell);
            assert_eq!(
                outcome,
                Outcome::Return1(smccc::return_code(smccc::NOT_SUPPORTED))
            );
            assert_eq!(outcome.note(), None);
        }
        // Nothing reached the firmware.
        assert!(cell.firmware_calls.is_empty());
    }
}
