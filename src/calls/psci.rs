//! PSCI 1.1 and SMCCC architecture calls as a cell's guest sees them.
//!
//! [`decode`](super::dispatch::decode) turns the registers of a guest's
//! `HVC #0` / `SMC #0` (function id in `w0`, arguments in `x1..x3`) into a
//! [`Call`](super::dispatch::Call); [`handle`](super::dispatch::handle)
//! answers it for the calling vCPU, acting on the cell through
//! [`CellControl`] and [`CellServices`](super::hypercall::CellServices), and
//! returns an [`Outcome`] for the core's front end to carry out. Both conduits are answered identically. Neither function
//! panics on any input: every unknown or malformed call gets a defined answer
//! and, when it hints at a guest bug, a [`Note`] to log.
//!
//! # The cell's view of its CPUs
//!
//! A cell's n vCPUs are pinned 1:1 to physical cores. The guest sees virtual
//! MPIDRs: vCPU i has Aff0 = i and Aff1 = Aff2 = Aff3 = 0 ([`vcpu_for_mpidr`]).
//! A `target` argument (CPU_ON, AFFINITY_INFO) is read as an MPIDR: bits
//! outside the affinity fields (bit 31's RES1, the MT and U bits, bits 63:40)
//! are ignored, as KVM and TF-A do, so a guest may pass a raw `MPIDR_EL1`
//! value. Any set bit in Aff1..Aff3, or Aff0 >= n, names a CPU the cell does
//! not have (for instance a physical core id): the call fails with
//! `INVALID_PARAMETERS` and [`Note::ForeignCpu`]. There is no way to name, let
//! alone start, a core outside the cell.
//!
//! # What is implemented
//!
//! | function | answer |
//! | --- | --- |
//! | `PSCI_VERSION` | `0x0001_0001` (1.1) |
//! | `CPU_ON` (32/64) | `SUCCESS`; `INVALID_PARAMETERS` for a foreign target, `INVALID_ADDRESS` for an entry outside the cell's executable RAM, `ALREADY_ON`, `ON_PENDING`, or the error [`CellControl::start_vcpu`] reports |
//! | `CPU_OFF` | [`Outcome::CpuOff`]: the caller is parked; never fails |
//! | `AFFINITY_INFO` (32/64) | 0 on, 1 off, 2 on-pending; `lowest_affinity_level` must be 0, else `INVALID_PARAMETERS`; foreign target: `INVALID_PARAMETERS` |
//! | `MIGRATE_INFO_TYPE` | 2: no Trusted OS that needs migrating |
//! | `SYSTEM_OFF` | [`Outcome::SystemOff`]: stops this cell only |
//! | `SYSTEM_RESET` | [`Outcome::SystemReset`]: restarts this cell from its pristine image |
//! | `SYSTEM_RESET2` (32/64) | reset type 0 (`SYSTEM_WARM_RESET`): as `SYSTEM_RESET`; any other type: `INVALID_PARAMETERS` |
//! | `PSCI_FEATURES` | 0 for each function in this table, `SMCCC_VERSION` included; `NOT_SUPPORTED` for everything else |
//! | `SMCCC_VERSION` | `0x1_0001` (1.1, see [`smccc`]) |
//! | `SMCCC_ARCH_FEATURES` | 0 for `SMCCC_VERSION` and `SMCCC_ARCH_FEATURES`; firmware's answer for the three workarounds; `NOT_SUPPORTED` otherwise |
//! | `SMCCC_ARCH_WORKAROUND_1`, `_3` | forwarded to firmware |
//! | `SMCCC_ARCH_WORKAROUND_2` | enable: forwarded to firmware; disable: refused (see below) |
//!
//! Every other PSCI function (`CPU_SUSPEND`, `MIGRATE`, `MIGRATE_INFO_UP_CPU`,
//! `CPU_FREEZE`, `CPU_DEFAULT_SUSPEND`, `NODE_HW_STATE`, `SYSTEM_SUSPEND`,
//! `PSCI_SET_SUSPEND_MODE`, `PSCI_STAT_RESIDENCY`, `PSCI_STAT_COUNT`,
//! `MEM_PROTECT`, `MEM_PROTECT_CHECK_RANGE`) and `SMCCC_ARCH_SOC_ID` answer
//! `NOT_SUPPORTED` with [`Note::Unsupported`]; any id nobody defined answers
//! `NOT_SUPPORTED` with [`Note::UnknownFunction`].
//!
//! Deliberate departures and choices:
//! - **`CPU_SUSPEND` is not supported**, although PSCI lists it as mandatory.
//!   A core belongs to its cell, so there is nothing to gain from powering it
//!   down on the guest's behalf, and a guest idles with `WFI` just as well.
//!   `PSCI_FEATURES(CPU_SUSPEND)` says `NOT_SUPPORTED`, which is what Linux
//!   checks before using it for idle states.
//! - **Workaround calls are forwarded** to EL3 firmware with
//!   [`CellControl::firmware_call`]: they *are* the mitigation, and since each
//!   vCPU runs alone on its physical core, firmware's per-PE answer to
//!   `SMCCC_ARCH_FEATURES` is true for the vCPU. The workaround calls take no
//!   guest arguments to the firmware (`ARCH_WORKAROUND_2` gets a fixed 1).
//! - **`SMCCC_ARCH_WORKAROUND_2(disable)` is refused** (`NOT_SUPPORTED`,
//!   [`Note::MitigationKept`]) and never reaches firmware: turning the
//!   speculative-store-bypass mitigation off for the core would turn it off
//!   for the hypervisor's own EL2 code on that core too. A guest that asks
//!   for it only loses the speed it hoped to win.
//! - **32-bit callers**: the arguments of SMC32 calls are cut to 32 bits
//!   before decoding ([`smccc::narrow_args`]), results are written
//!   sign-extended. The function id is `w0`; the upper half of `x0` is
//!   ignored. Yielding calls (bit 31 clear) are unknown calls.

use core::fmt;

use super::outcome::{Note, Outcome};
use super::smccc;
use crate::addr::GuestPhysAddr;
use crate::cell::lifecycle::Power;

/// `PSCI_VERSION`.
pub(crate) const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_SUSPEND`, SMC32.
pub(crate) const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// `CPU_SUSPEND`, SMC64.
pub(crate) const CPU_SUSPEND_64: u32 = 0xc400_0001;
/// `CPU_OFF`.
pub(crate) const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC32.
pub(crate) const CPU_ON_32: u32 = 0x8400_0003;
/// `CPU_ON`, SMC64.
pub(crate) const CPU_ON_64: u32 = 0xc400_0003;
/// `AFFINITY_INFO`, SMC32.
pub(crate) const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// `AFFINITY_INFO`, SMC64.
pub(crate) const AFFINITY_INFO_64: u32 = 0xc400_0004;
/// `MIGRATE`, SMC32.
pub(crate) const MIGRATE_32: u32 = 0x8400_0005;
/// `MIGRATE`, SMC64.
pub(crate) const MIGRATE_64: u32 = 0xc400_0005;
/// `MIGRATE_INFO_TYPE`.
pub(crate) const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// `MIGRATE_INFO_UP_CPU`, SMC32.
pub(crate) const MIGRATE_INFO_UP_CPU_32: u32 = 0x8400_0007;
/// `MIGRATE_INFO_UP_CPU`, SMC64.
pub(crate) const MIGRATE_INFO_UP_CPU_64: u32 = 0xc400_0007;
/// `SYSTEM_OFF`.
pub(crate) const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub(crate) const SYSTEM_RESET: u32 = 0x8400_0009;
/// `PSCI_FEATURES`.
pub(crate) const PSCI_FEATURES: u32 = 0x8400_000a;
/// `CPU_FREEZE`.
pub(crate) const CPU_FREEZE: u32 = 0x8400_000b;
/// `CPU_DEFAULT_SUSPEND`, SMC32.
pub(crate) const CPU_DEFAULT_SUSPEND_32: u32 = 0x8400_000c;
/// `CPU_DEFAULT_SUSPEND`, SMC64.
pub(crate) const CPU_DEFAULT_SUSPEND_64: u32 = 0xc400_000c;
/// `NODE_HW_STATE`, SMC32.
pub(crate) const NODE_HW_STATE_32: u32 = 0x8400_000d;
/// `NODE_HW_STATE`, SMC64.
pub(crate) const NODE_HW_STATE_64: u32 = 0xc400_000d;
/// `SYSTEM_SUSPEND`, SMC32.
pub(crate) const SYSTEM_SUSPEND_32: u32 = 0x8400_000e;
/// `SYSTEM_SUSPEND`, SMC64.
pub(crate) const SYSTEM_SUSPEND_64: u32 = 0xc400_000e;
/// `PSCI_SET_SUSPEND_MODE`.
pub(crate) const PSCI_SET_SUSPEND_MODE: u32 = 0x8400_000f;
/// `PSCI_STAT_RESIDENCY`, SMC32.
pub(crate) const PSCI_STAT_RESIDENCY_32: u32 = 0x8400_0010;
/// `PSCI_STAT_RESIDENCY`, SMC64.
pub(crate) const PSCI_STAT_RESIDENCY_64: u32 = 0xc400_0010;
/// `PSCI_STAT_COUNT`, SMC32.
pub(crate) const PSCI_STAT_COUNT_32: u32 = 0x8400_0011;
/// `PSCI_STAT_COUNT`, SMC64.
pub(crate) const PSCI_STAT_COUNT_64: u32 = 0xc400_0011;
/// `SYSTEM_RESET2`, SMC32.
pub(crate) const SYSTEM_RESET2_32: u32 = 0x8400_0012;
/// `SYSTEM_RESET2`, SMC64.
pub(crate) const SYSTEM_RESET2_64: u32 = 0xc400_0012;
/// `MEM_PROTECT`.
pub(crate) const MEM_PROTECT: u32 = 0x8400_0013;
/// `MEM_PROTECT_CHECK_RANGE`, SMC32.
pub(crate) const MEM_PROTECT_CHECK_RANGE_32: u32 = 0x8400_0014;
/// `MEM_PROTECT_CHECK_RANGE`, SMC64.
pub(crate) const MEM_PROTECT_CHECK_RANGE_64: u32 = 0xc400_0014;

/// The PSCI version Bulkhead implements: bits 31:16 major, 15:0 minor (1.1).
pub(crate) const IMPLEMENTED_VERSION: u32 = 0x0001_0001;

/// `MIGRATE_INFO_TYPE`'s answer: Trusted OS not present or does not require
/// migration.
pub(crate) const MIGRATE_INFO_TYPE_NOT_REQUIRED: u64 = 2;

/// `SYSTEM_RESET2` reset type 0: the architectural warm reset.
pub(crate) const SYSTEM_WARM_RESET: u32 = 0;

/// The affinity fields of an MPIDR (Aff3 in 39:32, Aff2..Aff0 in 23:0).
pub(crate) const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// PSCI return codes other than success. They differ from SMCCC's own codes
/// from -2 on (see [`smccc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    not(target_arch = "aarch64"),
    allow(
        dead_code,
        reason = "cells never get some codes; firmware (AArch64) may return them"
    )
)]
#[repr(i32)]
pub(crate) enum PsciError {
    /// The function is not implemented.
    NotSupported = -1,
    /// An argument is invalid (for instance a CPU the cell does not have).
    InvalidParameters = -2,
    /// The call is not allowed in the current state.
    Denied = -3,
    /// `CPU_ON`: the target is already on.
    AlreadyOn = -4,
    /// `CPU_ON`: an earlier `CPU_ON` of the target has not completed.
    OnPending = -5,
    /// The implementation failed.
    InternalFailure = -6,
    /// The target is not present.
    NotPresent = -7,
    /// The target is disabled.
    Disabled = -8,
    /// `CPU_ON`: the entry point is not a valid address for the caller.
    InvalidAddress = -9,
}

impl PsciError {
    /// The signed PSCI code.
    pub(crate) const fn code(self) -> i32 {
        self as i32
    }

    /// The code as written back to `x0` (sign-extended).
    pub(crate) const fn to_register(self) -> u64 {
        smccc::return_code(self.code())
    }
    /// The error a (firmware's) PSCI return value names, if it names one.
    #[cfg(any(test, target_arch = "aarch64"))]
    pub(crate) const fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            -1 => Self::NotSupported,
            -2 => Self::InvalidParameters,
            -3 => Self::Denied,
            -4 => Self::AlreadyOn,
            -5 => Self::OnPending,
            -6 => Self::InternalFailure,
            -7 => Self::NotPresent,
            -8 => Self::Disabled,
            -9 => Self::InvalidAddress,
            _ => return None,
        })
    }
}

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::NotSupported => "NOT_SUPPORTED",
            Self::InvalidParameters => "INVALID_PARAMETERS",
            Self::Denied => "DENIED",
            Self::AlreadyOn => "ALREADY_ON",
            Self::OnPending => "ON_PENDING",
            Self::InternalFailure => "INTERNAL_FAILURE",
            Self::NotPresent => "NOT_PRESENT",
            Self::Disabled => "DISABLED",
            Self::InvalidAddress => "INVALID_ADDRESS",
        };
        write!(f, "{name} ({})", self.code())
    }
}

/// What the hypervisor does for PSCI and SMCCC calls: the physical side
/// effects on one cell, implemented by the architecture layer (and by fakes
/// in tests). vCPU indices passed in are always `< vcpu_count()`.
pub(crate) trait CellControl {
    /// Number of vCPUs in the cell; vCPU i has virtual MPIDR Aff0 = i.
    fn vcpu_count(&self) -> usize;

    /// Current power state of `vcpu`.
    fn vcpu_power(&self, vcpu: usize) -> Power;

    /// Starts `vcpu` (currently [`Power::Off`]) at `entry` with
    /// `context` in `x0`, in the state PSCI's `CPU_ON` defines, and marks it
    /// [`Power::OnPending`] until it runs. `entry` has passed
    /// [`entry_is_valid`](Self::entry_is_valid). An error is returned to the
    /// guest as is (for instance [`PsciError::AlreadyOn`] if another vCPU won
    /// a race to start it).
    fn start_vcpu(
        &mut self,
        vcpu: usize,
        entry: GuestPhysAddr,
        context: u64,
    ) -> Result<(), PsciError>;

    /// Whether `entry` lies inside the cell's executable RAM.
    fn entry_is_valid(&self, entry: GuestPhysAddr) -> bool;

    /// Issues an SMCCC fast call to EL3 firmware on the current physical
    /// core and returns `x0..x3`. Used only for `SMCCC_ARCH_FEATURES`
    /// queries of the workaround ids and for the workaround calls
    /// themselves, always with a fixed, known function id. Without SMCCC 1.1
    /// firmware, this must answer `[NOT_SUPPORTED, 0, 0, 0]` itself rather
    /// than issue the call.
    fn firmware_call(&mut self, function_id: u32, args: [u64; 3]) -> [u64; 4];
}

/// The vCPU index a guest's MPIDR argument names, if it names one of the
/// cell's `vcpu_count` vCPUs: bits outside the affinity fields must be 0
/// (PSCI says so; a raw MPIDR_EL1 value with its RES1 bit 31 or U/MT bits
/// names no core), Aff1..Aff3 must be 0 and Aff0 < `vcpu_count` (so a cell
/// can name at most 256 vCPUs, which the configuration must not exceed).
pub(crate) const fn vcpu_for_mpidr(mpidr: u64, vcpu_count: usize) -> Option<usize> {
    // Bits outside the affinity fields (U, MT, RES0) must be zero (PSCI
    // 1.1, 5.1.4): a target with them set names no core.
    if mpidr & !MPIDR_AFFINITY_MASK != 0 {
        return None;
    }
    let affinity = mpidr;
    if affinity > 0xff || affinity as usize >= vcpu_count {
        None
    } else {
        Some(affinity as usize)
    }
}

/// `AFFINITY_INFO`'s value for a power state: 0 on, 1 off, 2 on-pending.
pub(crate) const fn affinity_info_value(power: Power) -> u64 {
    match power {
        Power::On => 0,
        Power::Off => 1,
        Power::OnPending => 2,
    }
}

pub(crate) fn refuse(error: PsciError, note: Note) -> Outcome {
    Outcome::Refused {
        x0: error.to_register(),
        note,
    }
}

pub(crate) fn cpu_on(
    cell: &mut impl CellControl,
    target: u64,
    entry: GuestPhysAddr,
    context: u64,
) -> Outcome {
    let Some(vcpu) = vcpu_for_mpidr(target, cell.vcpu_count()) else {
        return refuse(PsciError::InvalidParameters, Note::ForeignCpu { target });
    };
    if !cell.entry_is_valid(entry) {
        return refuse(PsciError::InvalidAddress, Note::BadEntry { entry });
    }
    let result = match cell.vcpu_power(vcpu) {
        Power::On => Err(PsciError::AlreadyOn),
        Power::OnPending => Err(PsciError::OnPending),
        Power::Off => cell.start_vcpu(vcpu, entry, context),
    };
    match result {
        Ok(()) => Outcome::Return1(smccc::return_code(smccc::SUCCESS)),
        // Expected answers to a racy but legal guest, not worth a log line.
        Err(error) => Outcome::Return1(error.to_register()),
    }
}

pub(crate) fn affinity_info(cell: &impl CellControl, target: u64, lowest_level: u32) -> Outcome {
    if lowest_level != 0 {
        return refuse(
            PsciError::InvalidParameters,
            Note::BadAffinityLevel {
                level: lowest_level,
            },
        );
    }
    match vcpu_for_mpidr(target, cell.vcpu_count()) {
        Some(vcpu) => Outcome::Return1(affinity_info_value(cell.vcpu_power(vcpu))),
        None => refuse(PsciError::InvalidParameters, Note::ForeignCpu { target }),
    }
}
