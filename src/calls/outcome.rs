//! What answering a guest call decided: the registers to write back, or
//! an action on the vCPU or the cell ([`Outcome`]), and what is worth a log
//! line ([`Note`]).

use core::fmt;

use crate::addr::GuestPhysAddr;

/// Something about a call worth a log line (a refused or unknown call). The
/// caller logs it, typically at `warn` level: each one hints at a guest bug
/// or a guest expecting something Bulkhead does not offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Note {
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
pub(crate) enum Outcome {
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
    /// `CPU_OFF`: park the calling vCPU (it becomes [`Power::Off`](crate::cell::lifecycle::Power::Off) and
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
    pub(crate) fn apply(&self, regs: &mut [u64; 4]) {
        match *self {
            Self::Return1(x0) | Self::Refused { x0, .. } => regs[0] = x0,
            Self::Return4(all) => *regs = all,
            Self::CpuOff | Self::SystemOff | Self::SystemReset => {}
        }
    }

    /// The note to log, if any.
    pub(crate) const fn note(&self) -> Option<Note> {
        match *self {
            Self::Refused { note, .. } => Some(note),
            _ => None,
        }
    }
}
