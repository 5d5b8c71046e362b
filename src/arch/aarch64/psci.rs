//! PSCI client over SMC (SMC Calling Convention, SMC64/SMC32 fast calls).
//!
//! On QEMU `virt,virtualization=on` (no EL3 firmware) QEMU itself implements
//! PSCI and uses SMC as the conduit; with TF-A at EL3 the conduit is also SMC.

use core::arch::asm;
use core::fmt;

/// PSCI_VERSION (SMC32).
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_ON (SMC64).
pub const PSCI_CPU_ON_64: u32 = 0xc400_0003;
/// SYSTEM_OFF (SMC32).
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;

/// CPU_ON's target argument: MPIDR Aff3:Aff2:Aff1:Aff0 only.
pub const CPU_ON_TARGET_MASK: u64 = 0xff_00ff_ffff;

/// PSCI error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciError {
    /// -1
    NotSupported,
    /// -2
    InvalidParameters,
    /// -3
    Denied,
    /// -4
    AlreadyOn,
    /// -5
    OnPending,
    /// -6
    InternalFailure,
    /// -7
    NotPresent,
    /// -8
    Disabled,
    /// -9
    InvalidAddress,
    /// Anything else (including a call that returned when it must not).
    Unknown(i64),
}

impl PsciError {
    fn from_return(ret: i64) -> Self {
        match ret {
            -1 => Self::NotSupported,
            -2 => Self::InvalidParameters,
            -3 => Self::Denied,
            -4 => Self::AlreadyOn,
            -5 => Self::OnPending,
            -6 => Self::InternalFailure,
            -7 => Self::NotPresent,
            -8 => Self::Disabled,
            -9 => Self::InvalidAddress,
            other => Self::Unknown(other),
        }
    }
}

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(v) => write!(f, "unknown PSCI result {v}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// PSCI version as reported by firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Issue an SMCCC call: `smc #0`, x0 = function id, x1..x3 = arguments,
/// result in x0. x4-x17 are treated as clobbered (SMCCC v1.0 allows it).
///
/// # Safety
///
/// The call must not violate memory safety: e.g. an entry point handed to
/// CPU_ON must be valid for a CPU starting at EL2 with the MMU off.
unsafe fn smc_call(function_id: u32, arg1: u64, arg2: u64, arg3: u64) -> i64 {
    let mut x0 = u64::from(function_id);
    // SAFETY: the caller vouches for the semantics of the call; the asm only
    // transfers control to firmware, which preserves x18-x30 and SP.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") x0,
            inout("x1") arg1 => _,
            inout("x2") arg2 => _,
            inout("x3") arg3 => _,
            clobber_abi("C"),
            options(nostack),
        );
    }
    x0 as i64
}

/// PSCI_VERSION.
pub fn version() -> Version {
    // SAFETY: PSCI_VERSION has no side effects.
    let ret = unsafe { smc_call(PSCI_VERSION, 0, 0, 0) } as u64;
    Version {
        major: ((ret >> 16) & 0xffff) as u16,
        minor: (ret & 0xffff) as u16,
    }
}

/// Whether firmware implements SMCCC 1.1 or later (so SMCCC_ARCH_FEATURES
/// and the workaround calls can be forwarded to it). Asked through PSCI:
/// PSCI 1.0+ `PSCI_FEATURES(SMCCC_VERSION)`, then `SMCCC_VERSION` itself.
/// Without it an SMC with another function id may be UNDEFINED (QEMU
/// without EL3 firmware), so nothing but PSCI may be sent.
pub fn smccc_1_1_present() -> bool {
    const PSCI_FEATURES: u32 = 0x8400_000a;
    const SMCCC_VERSION: u32 = 0x8000_0000;
    if version().major < 1 {
        return false;
    }
    // SAFETY: PSCI_FEATURES is a query without side effects.
    if unsafe { smc_call(PSCI_FEATURES, u64::from(SMCCC_VERSION), 0, 0) } != 0 {
        return false;
    }
    // SAFETY: SMCCC_VERSION (announced just now) has no side effects.
    let smccc = unsafe { smc_call(SMCCC_VERSION, 0, 0, 0) };
    smccc >= 0x1_0001
}

/// CPU_ON (64-bit): start the CPU with affinity `target_mpidr` at physical
/// address `entry_pa` with `context_id` in x0, at EL2, MMU off.
///
/// # Safety
///
/// `entry_pa` must be an entry point that is safe to run with the MMU off on
/// a freshly reset CPU and that expects `context_id` in x0.
pub unsafe fn cpu_on(target_mpidr: u64, entry_pa: u64, context_id: u64) -> Result<(), PsciError> {
    // SAFETY: forwarded from this function's contract.
    match unsafe {
        smc_call(
            PSCI_CPU_ON_64,
            target_mpidr & CPU_ON_TARGET_MASK,
            entry_pa,
            context_id,
        )
    } {
        0 => Ok(()),
        err => Err(PsciError::from_return(err)),
    }
}

/// SYSTEM_OFF. Only returns if firmware refused.
pub fn system_off() -> PsciError {
    // SAFETY: powering the system off cannot violate memory safety.
    let ret = unsafe { smc_call(PSCI_SYSTEM_OFF, 0, 0, 0) };
    PsciError::from_return(ret)
}
