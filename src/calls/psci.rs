//! PSCI 1.1 and SMCCC architecture calls as a cell's guest sees them.
//!
//! [`decode`] turns the registers of a guest's `HVC #0` / `SMC #0` (function
//! id in `w0`, arguments in `x1..x3`) into a [`Call`]; [`handle`] answers it
//! for the calling vCPU, acting on the cell through [`CellControl`] and
//! [`CellServices`], and returns an [`Outcome`] for the architecture layer to
//! carry out. Both conduits are answered identically. Neither function
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

use super::hypercall::{self, CellServices, Hypercall};
use super::smccc::{self, Convention};
use crate::addr::GuestPhysAddr;

/// `PSCI_VERSION`.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_SUSPEND`, SMC32.
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// `CPU_SUSPEND`, SMC64.
pub const CPU_SUSPEND_64: u32 = 0xc400_0001;
/// `CPU_OFF`.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC32.
pub const CPU_ON_32: u32 = 0x8400_0003;
/// `CPU_ON`, SMC64.
pub const CPU_ON_64: u32 = 0xc400_0003;
/// `AFFINITY_INFO`, SMC32.
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// `AFFINITY_INFO`, SMC64.
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
/// `MIGRATE`, SMC32.
pub const MIGRATE_32: u32 = 0x8400_0005;
/// `MIGRATE`, SMC64.
pub const MIGRATE_64: u32 = 0xc400_0005;
/// `MIGRATE_INFO_TYPE`.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// `MIGRATE_INFO_UP_CPU`, SMC32.
pub const MIGRATE_INFO_UP_CPU_32: u32 = 0x8400_0007;
/// `MIGRATE_INFO_UP_CPU`, SMC64.
pub const MIGRATE_INFO_UP_CPU_64: u32 = 0xc400_0007;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// `PSCI_FEATURES`.
pub const PSCI_FEATURES: u32 = 0x8400_000a;
/// `CPU_FREEZE`.
pub const CPU_FREEZE: u32 = 0x8400_000b;
/// `CPU_DEFAULT_SUSPEND`, SMC32.
pub const CPU_DEFAULT_SUSPEND_32: u32 = 0x8400_000c;
/// `CPU_DEFAULT_SUSPEND`, SMC64.
pub const CPU_DEFAULT_SUSPEND_64: u32 = 0xc400_000c;
/// `NODE_HW_STATE`, SMC32.
pub const NODE_HW_STATE_32: u32 = 0x8400_000d;
/// `NODE_HW_STATE`, SMC64.
pub const NODE_HW_STATE_64: u32 = 0xc400_000d;
/// `SYSTEM_SUSPEND`, SMC32.
pub const SYSTEM_SUSPEND_32: u32 = 0x8400_000e;
/// `SYSTEM_SUSPEND`, SMC64.
pub const SYSTEM_SUSPEND_64: u32 = 0xc400_000e;
/// `PSCI_SET_SUSPEND_MODE`.
pub const PSCI_SET_SUSPEND_MODE: u32 = 0x8400_000f;
/// `PSCI_STAT_RESIDENCY`, SMC32.
pub const PSCI_STAT_RESIDENCY_32: u32 = 0x8400_0010;
/// `PSCI_STAT_RESIDENCY`, SMC64.
pub const PSCI_STAT_RESIDENCY_64: u32 = 0xc400_0010;
/// `PSCI_STAT_COUNT`, SMC32.
pub const PSCI_STAT_COUNT_32: u32 = 0x8400_0011;
/// `PSCI_STAT_COUNT`, SMC64.
pub const PSCI_STAT_COUNT_64: u32 = 0xc400_0011;
/// `SYSTEM_RESET2`, SMC32.
pub const SYSTEM_RESET2_32: u32 = 0x8400_0012;
/// `SYSTEM_RESET2`, SMC64.
pub const SYSTEM_RESET2_64: u32 = 0xc400_0012;
/// `MEM_PROTECT`.
pub const MEM_PROTECT: u32 = 0x8400_0013;
/// `MEM_PROTECT_CHECK_RANGE`, SMC32.
pub const MEM_PROTECT_CHECK_RANGE_32: u32 = 0x8400_0014;
/// `MEM_PROTECT_CHECK_RANGE`, SMC64.
pub const MEM_PROTECT_CHECK_RANGE_64: u32 = 0xc400_0014;

/// The PSCI version Bulkhead implements: bits 31:16 major, 15:0 minor (1.1).
pub const IMPLEMENTED_VERSION: u32 = 0x0001_0001;

/// `MIGRATE_INFO_TYPE`'s answer: Trusted OS not present or does not require
/// migration.
pub const MIGRATE_INFO_TYPE_NOT_REQUIRED: u64 = 2;

/// `SYSTEM_RESET2` reset type 0: the architectural warm reset.
pub const SYSTEM_WARM_RESET: u32 = 0;

/// The affinity fields of an MPIDR (Aff3 in 39:32, Aff2..Aff0 in 23:0).
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// PSCI return codes other than success. They differ from SMCCC's own codes
/// from -2 on (see [`smccc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum PsciError {
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
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The code as written back to `x0` (sign-extended).
    pub const fn to_register(self) -> u64 {
        smccc::return_code(self.code())
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

/// Power state of a vCPU, as `AFFINITY_INFO` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VcpuPower {
    /// Running (or halted in `WFI`).
    On,
    /// Off: never started, or parked after `CPU_OFF`.
    Off,
    /// `CPU_ON` accepted, the vCPU has not started executing yet.
    OnPending,
}

impl VcpuPower {
    /// The `AFFINITY_INFO` value: 0 on, 1 off, 2 on-pending.
    pub const fn affinity_info(self) -> u64 {
        match self {
            Self::On => 0,
            Self::Off => 1,
            Self::OnPending => 2,
        }
    }
}

/// What the hypervisor does for PSCI and SMCCC calls: the physical side
/// effects on one cell, implemented by the architecture layer (and by fakes
/// in tests). vCPU indices passed in are always `< vcpu_count()`.
pub trait CellControl {
    /// Number of vCPUs in the cell; vCPU i has virtual MPIDR Aff0 = i.
    fn vcpu_count(&self) -> usize;

    /// Current power state of `vcpu`.
    fn vcpu_power(&self, vcpu: usize) -> VcpuPower;

    /// Starts `vcpu` (currently [`VcpuPower::Off`]) at `entry` with
    /// `context` in `x0`, in the state PSCI's `CPU_ON` defines, and marks it
    /// [`VcpuPower::OnPending`] until it runs. `entry` has passed
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

/// A decoded guest call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `PSCI_VERSION`.
    PsciVersion,
    /// `CPU_SUSPEND` (not supported).
    CpuSuspend(Convention),
    /// `CPU_OFF`.
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
    /// `MIGRATE_INFO_TYPE`.
    MigrateInfoType,
    /// `MIGRATE_INFO_UP_CPU` (not supported).
    MigrateInfoUpCpu(Convention),
    /// `SYSTEM_OFF`.
    SystemOff,
    /// `SYSTEM_RESET`.
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
    /// `PSCI_FEATURES(function_id)`.
    PsciFeatures {
        /// The function asked about (`w1`).
        function_id: u32,
    },
    /// `CPU_FREEZE` (not supported).
    CpuFreeze,
    /// `CPU_DEFAULT_SUSPEND` (not supported).
    CpuDefaultSuspend(Convention),
    /// `NODE_HW_STATE` (not supported).
    NodeHwState(Convention),
    /// `SYSTEM_SUSPEND` (not supported).
    SystemSuspend(Convention),
    /// `PSCI_SET_SUSPEND_MODE` (not supported).
    PsciSetSuspendMode,
    /// `PSCI_STAT_RESIDENCY` (not supported).
    PsciStatResidency(Convention),
    /// `PSCI_STAT_COUNT` (not supported).
    PsciStatCount(Convention),
    /// `MEM_PROTECT` (not supported).
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
    pub const fn function_id(&self) -> u32 {
        const fn pick(convention: Convention, smc32: u32, smc64: u32) -> u32 {
            match convention {
                Convention::Smc32 => smc32,
                Convention::Smc64 => smc64,
            }
        }
        match *self {
            Self::PsciVersion => PSCI_VERSION,
            Self::CpuSuspend(c) => pick(c, CPU_SUSPEND_32, CPU_SUSPEND_64),
            Self::CpuOff => CPU_OFF,
            Self::CpuOn { convention, .. } => pick(convention, CPU_ON_32, CPU_ON_64),
            Self::AffinityInfo { convention, .. } => {
                pick(convention, AFFINITY_INFO_32, AFFINITY_INFO_64)
            }
            Self::Migrate(c) => pick(c, MIGRATE_32, MIGRATE_64),
            Self::MigrateInfoType => MIGRATE_INFO_TYPE,
            Self::MigrateInfoUpCpu(c) => pick(c, MIGRATE_INFO_UP_CPU_32, MIGRATE_INFO_UP_CPU_64),
            Self::SystemOff => SYSTEM_OFF,
            Self::SystemReset => SYSTEM_RESET,
            Self::SystemReset2 { convention, .. } => {
                pick(convention, SYSTEM_RESET2_32, SYSTEM_RESET2_64)
            }
            Self::PsciFeatures { .. } => PSCI_FEATURES,
            Self::CpuFreeze => CPU_FREEZE,
            Self::CpuDefaultSuspend(c) => pick(c, CPU_DEFAULT_SUSPEND_32, CPU_DEFAULT_SUSPEND_64),
            Self::NodeHwState(c) => pick(c, NODE_HW_STATE_32, NODE_HW_STATE_64),
            Self::SystemSuspend(c) => pick(c, SYSTEM_SUSPEND_32, SYSTEM_SUSPEND_64),
            Self::PsciSetSuspendMode => PSCI_SET_SUSPEND_MODE,
            Self::PsciStatResidency(c) => pick(c, PSCI_STAT_RESIDENCY_32, PSCI_STAT_RESIDENCY_64),
            Self::PsciStatCount(c) => pick(c, PSCI_STAT_COUNT_32, PSCI_STAT_COUNT_64),
            Self::MemProtect => MEM_PROTECT,
            Self::MemProtectCheckRange(c) => {
                pick(c, MEM_PROTECT_CHECK_RANGE_32, MEM_PROTECT_CHECK_RANGE_64)
            }
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

/// Something about a call worth a log line (a refused or unknown call). The
/// caller logs it, typically at `warn` level: each one hints at a guest bug
/// or a guest expecting something Bulkhead does not offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// No service Bulkhead answers defines this id (the raw `x0`).
    UnknownFunction(u64),
    /// A defined function Bulkhead does not implement (its function id).
    Unsupported(u32),
    /// A target MPIDR that names no vCPU of the cell.
    ForeignCpu {
        /// The MPIDR the guest passed.
        target: u64,
    },
    /// A `CPU_ON` entry point outside the cell's executable RAM.
    BadEntry {
        /// The entry point the guest passed.
        entry: GuestPhysAddr,
    },
    /// `AFFINITY_INFO` with a lowest affinity level other than 0.
    BadAffinityLevel {
        /// The level the guest passed.
        level: u32,
    },
    /// `SYSTEM_RESET2` with a reset type other than the warm reset.
    BadResetType {
        /// The reset type the guest passed.
        reset_type: u32,
    },
    /// A hypercall buffer not entirely inside the cell's RAM.
    BadBuffer {
        /// Guest-physical start of the buffer.
        gpa: GuestPhysAddr,
        /// Length the guest passed.
        len: u64,
    },
    /// `SMCCC_ARCH_WORKAROUND_2(disable)`: refused, the mitigation stays on.
    MitigationKept,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownFunction(raw) => write!(f, "unknown function id {raw:#x}"),
            Self::Unsupported(id) => write!(f, "unsupported function {id:#x}"),
            Self::ForeignCpu { target } => write!(f, "target MPIDR {target:#x} is not in the cell"),
            Self::BadEntry { entry } => write!(f, "entry point {entry:?} is outside the cell"),
            Self::BadAffinityLevel { level } => write!(f, "affinity level {level} not supported"),
            Self::BadResetType { reset_type } => {
                write!(f, "reset type {reset_type:#x} not supported")
            }
            Self::BadBuffer { gpa, len } => {
                write!(f, "buffer {gpa:?}+{len:#x} is outside the cell")
            }
            Self::MitigationKept => write!(f, "refused to disable the SSB mitigation"),
        }
    }
}

/// What the architecture layer does after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Write `x0`; `x1..x3` keep their values. Resume the guest.
    Return1(u64),
    /// Write `x0..x3`. Resume the guest.
    Return4([u64; 4]),
    /// The call failed: write the error code to `x0` (`x1..x3` keep their
    /// values), log the note, resume the guest.
    Refused {
        /// The error code, sign-extended.
        x0: u64,
        /// Why, for the log.
        note: Note,
    },
    /// `CPU_OFF`: park the calling vCPU (it becomes [`VcpuPower::Off`] and
    /// only a later `CPU_ON` restarts it, at that call's entry point).
    /// Nothing is written back: the call does not return.
    CpuOff,
    /// `SYSTEM_OFF`: stop this cell (every vCPU of it); other cells run on.
    SystemOff,
    /// `SYSTEM_RESET` / `SYSTEM_RESET2` warm reset: restart this cell from its
    /// pristine image; other cells run on.
    SystemReset,
}

impl Outcome {
    /// Writes the results into `regs` (`x0..x3` as they were at the call).
    /// Does nothing for [`CpuOff`](Self::CpuOff),
    /// [`SystemOff`](Self::SystemOff) and [`SystemReset`](Self::SystemReset),
    /// which do not return to the caller.
    pub fn apply(&self, regs: &mut [u64; 4]) {
        match *self {
            Self::Return1(x0) | Self::Refused { x0, .. } => regs[0] = x0,
            Self::Return4(all) => *regs = all,
            Self::CpuOff | Self::SystemOff | Self::SystemReset => {}
        }
    }

    /// The note to log, if any.
    pub const fn note(&self) -> Option<Note> {
        match *self {
            Self::Refused { note, .. } => Some(note),
            _ => None,
        }
    }
}

/// The vCPU index a guest's MPIDR argument names, if it names one of the
/// cell's `vcpu_count` vCPUs: bits outside the affinity fields are ignored,
/// Aff1..Aff3 must be 0 and Aff0 < `vcpu_count` (so a cell can name at most
/// 256 vCPUs, which the configuration must not exceed).
pub const fn vcpu_for_mpidr(mpidr: u64, vcpu_count: usize) -> Option<usize> {
    let affinity = mpidr & MPIDR_AFFINITY_MASK;
    if affinity > 0xff || affinity as usize >= vcpu_count {
        None
    } else {
        Some(affinity as usize)
    }
}

/// Decodes a guest call: `function_id` is the raw `x0` (only `w0` counts),
/// `args` are `x1..x3` (cut to 32 bits for SMC32 ids). Never fails: anything
/// unrecognised is [`Call::Unknown`].
pub fn decode(function_id: u64, args: [u64; 3]) -> Call {
    let id = smccc::function_id(function_id);
    let convention = Convention::of(id);
    let [x1, x2, x3] = smccc::narrow_args(id, args);
    match id {
        PSCI_VERSION => Call::PsciVersion,
        CPU_SUSPEND_32 | CPU_SUSPEND_64 => Call::CpuSuspend(convention),
        CPU_OFF => Call::CpuOff,
        CPU_ON_32 | CPU_ON_64 => Call::CpuOn {
            convention,
            target: x1,
            entry: GuestPhysAddr::new(x2),
            context: x3,
        },
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => Call::AffinityInfo {
            convention,
            target: x1,
            lowest_level: x2 as u32,
        },
        MIGRATE_32 | MIGRATE_64 => Call::Migrate(convention),
        MIGRATE_INFO_TYPE => Call::MigrateInfoType,
        MIGRATE_INFO_UP_CPU_32 | MIGRATE_INFO_UP_CPU_64 => Call::MigrateInfoUpCpu(convention),
        SYSTEM_OFF => Call::SystemOff,
        SYSTEM_RESET => Call::SystemReset,
        SYSTEM_RESET2_32 | SYSTEM_RESET2_64 => Call::SystemReset2 {
            convention,
            reset_type: x1 as u32,
            cookie: x2,
        },
        PSCI_FEATURES => Call::PsciFeatures {
            function_id: x1 as u32,
        },
        CPU_FREEZE => Call::CpuFreeze,
        CPU_DEFAULT_SUSPEND_32 | CPU_DEFAULT_SUSPEND_64 => Call::CpuDefaultSuspend(convention),
        NODE_HW_STATE_32 | NODE_HW_STATE_64 => Call::NodeHwState(convention),
        SYSTEM_SUSPEND_32 | SYSTEM_SUSPEND_64 => Call::SystemSuspend(convention),
        PSCI_SET_SUSPEND_MODE => Call::PsciSetSuspendMode,
        PSCI_STAT_RESIDENCY_32 | PSCI_STAT_RESIDENCY_64 => Call::PsciStatResidency(convention),
        PSCI_STAT_COUNT_32 | PSCI_STAT_COUNT_64 => Call::PsciStatCount(convention),
        MEM_PROTECT => Call::MemProtect,
        MEM_PROTECT_CHECK_RANGE_32 | MEM_PROTECT_CHECK_RANGE_64 => {
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
pub fn handle<C: CellServices>(call: &Call, caller_vcpu: usize, cell: &mut C) -> Outcome {
    match *call {
        Call::PsciVersion => Outcome::Return1(u64::from(IMPLEMENTED_VERSION)),
        Call::CpuOff => Outcome::CpuOff,
        Call::CpuOn {
            target,
            entry,
            context,
            ..
        } => cpu_on(cell, target, entry, context),
        Call::AffinityInfo {
            target,
            lowest_level,
            ..
        } => affinity_info(cell, target, lowest_level),
        Call::MigrateInfoType => Outcome::Return1(MIGRATE_INFO_TYPE_NOT_REQUIRED),
        Call::SystemOff => Outcome::SystemOff,
        Call::SystemReset => Outcome::SystemReset,
        Call::SystemReset2 { reset_type, .. } => {
            if reset_type == SYSTEM_WARM_RESET {
                Outcome::SystemReset
            } else {
                refuse(
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

fn refuse(error: PsciError, note: Note) -> Outcome {
    Outcome::Refused {
        x0: error.to_register(),
        note,
    }
}

fn cpu_on(cell: &mut impl CellControl, target: u64, entry: GuestPhysAddr, context: u64) -> Outcome {
    let Some(vcpu) = vcpu_for_mpidr(target, cell.vcpu_count()) else {
        return refuse(PsciError::InvalidParameters, Note::ForeignCpu { target });
    };
    if !cell.entry_is_valid(entry) {
        return refuse(PsciError::InvalidAddress, Note::BadEntry { entry });
    }
    let result = match cell.vcpu_power(vcpu) {
        VcpuPower::On => Err(PsciError::AlreadyOn),
        VcpuPower::OnPending => Err(PsciError::OnPending),
        VcpuPower::Off => cell.start_vcpu(vcpu, entry, context),
    };
    match result {
        Ok(()) => Outcome::Return1(smccc::return_code(smccc::SUCCESS)),
        // Expected answers to a racy but legal guest, not worth a log line.
        Err(error) => Outcome::Return1(error.to_register()),
    }
}

fn affinity_info(cell: &impl CellControl, target: u64, lowest_level: u32) -> Outcome {
    if lowest_level != 0 {
        return refuse(
            PsciError::InvalidParameters,
            Note::BadAffinityLevel {
                level: lowest_level,
            },
        );
    }
    match vcpu_for_mpidr(target, cell.vcpu_count()) {
        Some(vcpu) => Outcome::Return1(cell.vcpu_power(vcpu).affinity_info()),
        None => refuse(PsciError::InvalidParameters, Note::ForeignCpu { target }),
    }
}

/// `PSCI_FEATURES`: 0 (present, no feature flags) for what [`handle`]
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

/// A recording fake cell, shared by the tests of this module and of
/// [`hypercall`].
#[cfg(test)]
pub(crate) mod fake {
    use super::{CellControl, GuestPhysAddr, PsciError, VcpuPower};
    use crate::addr::CellId;
    use crate::calls::hypercall::{CellServices, OutsideCell};
    use crate::calls::smccc;

    /// Guest-physical base of the fake cell's RAM.
    pub(crate) const RAM_BASE: u64 = 0x4000_0000;
    /// Size of the fake cell's RAM.
    pub(crate) const RAM_SIZE: usize = 0x1000;

    pub(crate) struct FakeCell {
        pub(crate) id: CellId,
        pub(crate) power: Vec<VcpuPower>,
        pub(crate) ram: Vec<u8>,
        pub(crate) start_result: Result<(), PsciError>,
        pub(crate) started: Vec<(usize, GuestPhysAddr, u64)>,
        pub(crate) firmware: fn(u32, [u64; 3]) -> [u64; 4],
        pub(crate) firmware_calls: Vec<(u32, [u64; 3])>,
        pub(crate) reads: core::cell::Cell<usize>,
        pub(crate) console: Vec<u8>,
        pub(crate) console_writes: usize,
    }

    impl FakeCell {
        /// A cell with `vcpus` vCPUs, vCPU 0 on, the others off.
        pub(crate) fn new(vcpus: usize) -> Self {
            let mut power = vec![VcpuPower::Off; vcpus];
            if let Some(first) = power.first_mut() {
                *first = VcpuPower::On;
            }
            Self {
                id: CellId(7),
                power,
                ram: (0..RAM_SIZE).map(|i| i as u8).collect(),
                start_result: Ok(()),
                started: Vec::new(),
                firmware: |_, _| [smccc::return_code(smccc::NOT_SUPPORTED), 0, 0, 0],
                firmware_calls: Vec::new(),
                reads: core::cell::Cell::new(0),
                console: Vec::new(),
                console_writes: 0,
            }
        }
    }

    impl CellControl for FakeCell {
        fn vcpu_count(&self) -> usize {
            self.power.len()
        }

        fn vcpu_power(&self, vcpu: usize) -> VcpuPower {
            self.power[vcpu]
        }

        fn start_vcpu(
            &mut self,
            vcpu: usize,
            entry: GuestPhysAddr,
            context: u64,
        ) -> Result<(), PsciError> {
            assert_eq!(self.power[vcpu], VcpuPower::Off, "started a running vCPU");
            assert!(self.entry_is_valid(entry), "started at an unchecked entry");
            self.start_result?;
            self.power[vcpu] = VcpuPower::OnPending;
            self.started.push((vcpu, entry, context));
            Ok(())
        }

        fn entry_is_valid(&self, entry: GuestPhysAddr) -> bool {
            entry
                .offset_from(GuestPhysAddr::new(RAM_BASE))
                .is_some_and(|offset| offset < RAM_SIZE as u64)
        }

        fn firmware_call(&mut self, function_id: u32, args: [u64; 3]) -> [u64; 4] {
            self.firmware_calls.push((function_id, args));
            (self.firmware)(function_id, args)
        }
    }

    impl CellServices for FakeCell {
        fn cell_id(&self) -> CellId {
            self.id
        }

        fn read_guest(&self, gpa: GuestPhysAddr, buf: &mut [u8]) -> Result<(), OutsideCell> {
            self.reads.set(self.reads.get() + 1);
            let start = gpa
                .offset_from(GuestPhysAddr::new(RAM_BASE))
                .ok_or(OutsideCell)?;
            let start = usize::try_from(start).map_err(|_| OutsideCell)?;
            let end = start.checked_add(buf.len()).ok_or(OutsideCell)?;
            let bytes = self.ram.get(start..end).ok_or(OutsideCell)?;
            buf.copy_from_slice(bytes);
            Ok(())
        }

        fn console_write(&mut self, bytes: &[u8]) {
            self.console.extend_from_slice(bytes);
            self.console_writes += 1;
        }

        fn counter(&self, index: u64) -> Option<u64> {
            (index < 3).then_some(100 + index)
        }
    }

    /// A tiny xorshift64 generator, for reproducible pseudo-random input.
    pub(crate) struct XorShift(pub(crate) u64);

    impl XorShift {
        pub(crate) fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{FakeCell, RAM_BASE, XorShift};
    use super::*;
    use crate::calls::hypercall;

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
        assert_eq!(cell.power[2], VcpuPower::OnPending);

        // The 32-bit form, with a raw MPIDR_EL1 value (bit 31 is RES1).
        let outcome = run(
            &mut cell,
            CPU_ON_32.into(),
            [0x8000_0003, ENTRY.as_u64(), 5],
        );
        assert_eq!(outcome, Outcome::Return1(0));
        assert_eq!(cell.started[1], (3, ENTRY, 5));
    }

    #[test]
    fn cpu_on_reports_already_on_and_on_pending() {
        let mut cell = FakeCell::new(3);
        cell.power[2] = VcpuPower::OnPending;
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
        cell.power[2] = VcpuPower::OnPending;
        for (target, expected) in [(0, 0), (1, 1), (2, 2), (0x8000_0002, 2)] {
            for id in [AFFINITY_INFO_32, AFFINITY_INFO_64] {
                assert_eq!(
                    run(&mut cell, id.into(), [target, 0, 0]),
                    Outcome::Return1(expected),
                    "{id:#x} {target:#x}"
                );
            }
        }
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
        assert_eq!(vcpu_for_mpidr(0x8000_0003, 4), Some(3));
        assert_eq!(vcpu_for_mpidr(0xff00_0000_4100_0001, 2), Some(1));
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
