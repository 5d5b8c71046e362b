//! Calls to EL3 firmware over SMC: the hypervisor as a PSCI and SMCCC
//! client (bringing cores up, powering off, forwarding the Spectre
//! workaround calls cells make). The server side, PSCI as cells see it, is
//! the core's `calls`; both use the same function ids and error codes.
//!
//! On QEMU `virt,virtualization=on` (no EL3 firmware) QEMU itself answers
//! PSCI over SMC; with TF-A at EL3 the conduit is SMC too.

use core::arch::asm;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::calls::psci::{self, PsciError};
use crate::calls::smccc;

/// CPU_ON's target argument: MPIDR Aff3:Aff2:Aff1:Aff0 only.
const CPU_ON_TARGET_MASK: u64 = psci::MPIDR_AFFINITY_MASK;

/// Whether firmware answers SMCCC 1.1 calls (set once at boot, see
/// [`probe`]).
static SMCCC_1_1: AtomicBool = AtomicBool::new(false);

/// PSCI version as firmware reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Version {
    /// Major version.
    pub(super) major: u16,
    /// Minor version.
    pub(super) minor: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Issues an SMCCC call: `smc #0`, x0 = function id, x1..x3 = arguments;
/// returns x0..x3. x4-x17 are treated as clobbered (SMCCC 1.0 allows it).
///
/// # Safety
///
/// The call must not violate memory safety: e.g. an entry point handed to
/// CPU_ON must be valid for a CPU starting at EL2 with the MMU off.
unsafe fn smc(function_id: u32, args: [u64; 3]) -> [u64; 4] {
    let mut regs = [u64::from(function_id), args[0], args[1], args[2]];
    // SAFETY: the caller vouches for the semantics of the call; the asm only
    // transfers control to firmware, which preserves x18-x30 and SP.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") regs[0],
            inout("x1") regs[1],
            inout("x2") regs[2],
            inout("x3") regs[3],
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    regs
}

/// `x0` of a call, as PSCI's signed result.
fn result(regs: [u64; 4]) -> i64 {
    regs[0] as i64
}

/// PSCI_VERSION.
pub(super) fn version() -> Version {
    // SAFETY: PSCI_VERSION has no side effects.
    let ret = unsafe { smc(psci::PSCI_VERSION, [0; 3]) }[0];
    Version {
        major: ((ret >> 16) & 0xffff) as u16,
        minor: (ret & 0xffff) as u16,
    }
}

/// Finds out once, on the boot core before any guest runs, whether
/// firmware implements SMCCC 1.1 or later (so `SMCCC_ARCH_FEATURES` and the
/// workaround calls can be forwarded to it). Asked through PSCI: PSCI 1.0+
/// `PSCI_FEATURES(SMCCC_VERSION)`, then `SMCCC_VERSION` itself. Without it
/// an SMC with another function id may be UNDEFINED (QEMU without EL3
/// firmware), so nothing but PSCI may be sent.
pub(super) fn probe() {
    let present = version().major >= 1
        // SAFETY: PSCI_FEATURES is a query without side effects.
        && result(unsafe { smc(psci::PSCI_FEATURES, [u64::from(smccc::SMCCC_VERSION), 0, 0]) }) == 0
        // SAFETY: SMCCC_VERSION (announced just now) has no side effects.
        && result(unsafe { smc(smccc::SMCCC_VERSION, [0; 3]) }) >= 0x1_0001;
    SMCCC_1_1.store(present, Ordering::Relaxed);
    crate::log::info!("firmware SMCCC 1.1: {=bool}", present);
}

/// A cell's SMCCC call forwarded to firmware (only the architectural
/// workaround ids and their feature queries reach here, with fixed
/// arguments); `[NOT_SUPPORTED, 0, 0, 0]` without SMCCC 1.1 firmware,
/// where sending them could be UNDEFINED at EL2.
pub(super) fn forward(function_id: u32, args: [u64; 3]) -> [u64; 4] {
    if !SMCCC_1_1.load(Ordering::Relaxed) {
        return [smccc::return_code(smccc::NOT_SUPPORTED), 0, 0, 0];
    }
    // SAFETY: the workaround calls and their feature queries only change
    // speculation controls of this core.
    unsafe { smc(function_id, args) }
}

/// CPU_ON (64-bit): starts the CPU with affinity `target_mpidr` at physical
/// address `entry_pa` with `context_id` in x0, at EL2, MMU off.
///
/// # Safety
///
/// `entry_pa` must be an entry point that is safe to run with the MMU off on
/// a freshly reset CPU and that expects `context_id` in x0.
pub(super) unsafe fn cpu_on(
    target_mpidr: u64,
    entry_pa: u64,
    context_id: u64,
) -> Result<(), PsciError> {
    let args = [target_mpidr & CPU_ON_TARGET_MASK, entry_pa, context_id];
    // SAFETY: forwarded from this function's contract.
    match result(unsafe { smc(psci::CPU_ON_64, args) }) {
        0 => Ok(()),
        code => Err(PsciError::from_code(code).unwrap_or(PsciError::InternalFailure)),
    }
}

/// SYSTEM_OFF. Only returns if firmware refused.
pub(super) fn system_off() -> PsciError {
    // SAFETY: powering the system off cannot violate memory safety.
    let code = result(unsafe { smc(psci::SYSTEM_OFF, [0; 3]) });
    PsciError::from_code(code).unwrap_or(PsciError::InternalFailure)
}
