//! SMCCC calls (HVC/SMC), PSCI and the Bulkhead hypercalls.

use core::arch::asm;

use crate::psci::{self, NOT_SUPPORTED};
use crate::{Fault, HC_ABI_VERSION, HC_CELL_INFO, HC_CONSOLE_WRITE, HC_COUNTER, probe};

macro_rules! smccc_call {
    ($(#[$doc:meta])* $name:ident, $insn:literal) => {
        $(#[$doc])*
        ///
        /// Returns `x0..x3`, or the [`Fault`] the instruction itself raised
        /// (e.g. an undefined instruction, EC 0x00, when nothing at a higher
        /// exception level implements it).
        ///
        /// # Safety
        ///
        /// The callee may do anything the function id asks for (start a vCPU
        /// at an address, access memory named by an argument, ...): the call
        /// must not break this program's memory or code.
        pub unsafe fn $name(function_id: u32, a1: u64, a2: u64, a3: u64) -> Result<[u64; 4], Fault> {
            // SAFETY: the instruction is alone in an asm block that clobbers
            // the C ABI's registers (SMCCC lets the callee clobber x4..x17);
            // the caller vouches for the call's effects; if it faults, it is
            // skipped and the outputs discarded.
            unsafe {
                probe(|| {
                    let (r0, r1, r2, r3): (u64, u64, u64, u64);
                    asm!(
                        $insn,
                        inout("x0") u64::from(function_id) => r0,
                        inout("x1") a1 => r1,
                        inout("x2") a2 => r2,
                        inout("x3") a3 => r3,
                        options(nostack),
                        clobber_abi("C"),
                    );
                    [r0, r1, r2, r3]
                })
            }
        }
    };
}

smccc_call!(
    /// An SMCCC call through `HVC #0` (to the hypervisor).
    try_hvc, "hvc #0"
);
smccc_call!(
    /// An SMCCC call through `SMC #0` (to secure firmware, if the hypervisor
    /// forwards it).
    try_smc, "smc #0"
);

/// [`try_hvc`], with a faulting call read as SMCCC's "unknown function"
/// (`x0` = [`NOT_SUPPORTED`]).
///
/// # Safety
///
/// As for [`try_hvc`].
pub unsafe fn hvc(function_id: u32, a1: u64, a2: u64, a3: u64) -> [u64; 4] {
    // SAFETY: the caller upholds try_hvc's contract.
    unsafe { try_hvc(function_id, a1, a2, a3) }.unwrap_or([NOT_SUPPORTED as u64, a1, a2, a3])
}

/// [`try_smc`], with a faulting call read as SMCCC's "unknown function"
/// (`x0` = [`NOT_SUPPORTED`]).
///
/// # Safety
///
/// As for [`try_smc`].
pub unsafe fn smc(function_id: u32, a1: u64, a2: u64, a3: u64) -> [u64; 4] {
    // SAFETY: the caller upholds try_smc's contract.
    unsafe { try_smc(function_id, a1, a2, a3) }.unwrap_or([NOT_SUPPORTED as u64, a1, a2, a3])
}

/// A call whose only effect is to answer (queries) or to stop this vCPU or
/// the cell, which cannot break this program's memory.
fn benign(function_id: u32, a1: u64, a2: u64) -> [u64; 4] {
    // SAFETY: callers only pass PSCI queries, CPU_OFF, SYSTEM_OFF/RESET and
    // Bulkhead queries: none writes memory or starts code.
    unsafe { hvc(function_id, a1, a2, 0) }
}

/// PSCI `PSCI_VERSION`: `(major, minor)`, or `None` without PSCI.
pub fn psci_version() -> Option<(u16, u16)> {
    let v = benign(psci::VERSION, 0, 0)[0] as i64;
    (v >= 0).then_some(((v >> 16) as u16, v as u16))
}

/// PSCI `CPU_ON`: starts the vCPU with MPIDR `target_mpidr` at guest-physical
/// `entry` with x0 = `context`. Returns 0 or a PSCI error
/// ([`psci::status_name`]).
///
/// # Safety
///
/// `entry` must be code that can run on a fresh vCPU (EL1, MMU off, no
/// stack) without breaking this program; [`start_vcpu`] uses
/// `secondary_start`.
pub unsafe fn cpu_on(target_mpidr: u64, entry: u64, context: u64) -> i64 {
    // SAFETY: the caller vouches for `entry`.
    let [status, ..] = unsafe { hvc(psci::CPU_ON, target_mpidr, entry, context) };
    status as i64
}

/// PSCI `CPU_ON` at `secondary_start`: the vCPU runs the guest's secondary
/// entry (see [`entry!`](crate::entry)) with `context`. Returns 0 or a PSCI
/// error.
pub fn start_vcpu(target_mpidr: u64, context: u64) -> i64 {
    // SAFETY: secondary_start sets up the vCPU's own stack and vectors and
    // only then runs the guest's secondary entry.
    unsafe { cpu_on(target_mpidr, crate::secondary_entry(), context) }
}

/// PSCI `CPU_OFF`: returns (the PSCI error) only if it failed.
pub fn cpu_off() -> i64 {
    benign(psci::CPU_OFF, 0, 0)[0] as i64
}

/// PSCI `AFFINITY_INFO`: 0 = on, 1 = off, 2 = on pending, or a PSCI error.
pub fn affinity_info(target_mpidr: u64, lowest_level: u64) -> i64 {
    benign(psci::AFFINITY_INFO, target_mpidr, lowest_level)[0] as i64
}

/// PSCI `SYSTEM_OFF` (under Bulkhead: stops this cell). Returns (the PSCI
/// error) only if it failed.
pub fn system_off() -> i64 {
    benign(psci::SYSTEM_OFF, 0, 0)[0] as i64
}

/// PSCI `SYSTEM_RESET` (under Bulkhead: restarts this cell). Returns (the
/// PSCI error) only if it failed.
pub fn system_reset() -> i64 {
    benign(psci::SYSTEM_RESET, 0, 0)[0] as i64
}

/// Bulkhead `ABI_VERSION`, or `None` without the hypervisor.
pub fn abi_version() -> Option<u64> {
    let v = benign(HC_ABI_VERSION, 0, 0)[0];
    ((v as i64) >= 0).then_some(v)
}

/// What Bulkhead's `CELL_INFO` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellInfo {
    /// The cell's id (its index in the config).
    pub cell_id: u64,
    /// vCPUs the cell has (virtual MPIDRs `0..vcpus`).
    pub vcpus: usize,
    /// The caller's vCPU index.
    pub vcpu: usize,
}

/// Bulkhead `CELL_INFO`, or `None` without the hypervisor.
pub fn cell_info() -> Option<CellInfo> {
    let [status, cell_id, vcpus, vcpu] = benign(HC_CELL_INFO, 0, 0);
    (status == 0).then_some(CellInfo {
        cell_id,
        vcpus: vcpus as usize,
        vcpu: vcpu as usize,
    })
}

/// Indices of Bulkhead's `COUNTER` hypercall (docs/hypercalls.md).
pub mod counters {
    /// Trapped SGI sends (ICC_SGI1R_EL1 on GICv3, GICD_SGIR on GICv2).
    pub const SGI_SENDS: u64 = 6;
    /// Physical IRQs taken while the guest ran.
    pub const IRQ: u64 = 9;
    /// Trapped WFIs (GICv2), which deliver what arrives while waiting.
    pub const WFI: u64 = 10;
    /// Maintenance-only exits.
    pub const MAINTENANCE: u64 = 11;
    /// Delivered timer interrupts.
    pub const TIMER: u64 = 14;
    /// Delivered SGIs.
    pub const SGI: u64 = 15;
    /// Delivered SPIs.
    pub const SPI: u64 = 17;
}

/// Bulkhead `COUNTER`: the cell's exit or delivery counter `index`.
pub fn cell_counter(index: u64) -> Option<u64> {
    let [status, value, ..] = benign(HC_COUNTER, index, 0);
    (status == 0).then_some(value)
}

/// Bulkhead `CONSOLE_WRITE`: writes `bytes` to the cell's console through
/// the hypervisor (which takes at most 256 bytes per call: this calls again
/// until all are written). Returns the bytes written, or the (negative)
/// status of the call that failed.
pub fn console_write(bytes: &[u8]) -> Result<usize, i64> {
    let mut done = 0;
    while done < bytes.len() {
        let rest = &bytes[done..];
        // SAFETY: the hypervisor only reads `rest` (MMU off: the pointer is
        // the guest-physical address it expects).
        let [taken, ..] =
            unsafe { hvc(HC_CONSOLE_WRITE, rest.as_ptr() as u64, rest.len() as u64, 0) };
        match taken as i64 {
            status if status < 0 => return Err(status),
            0 => break,
            n => done += (n as usize).min(rest.len()),
        }
    }
    Ok(done)
}
