//! `VMCALL`, PSCI and the Bulkhead hypercalls.

use core::arch::asm;

use crate::{HC_ABI_VERSION, HC_CELL_INFO, psci};

/// A hypercall: `VMCALL` with `RAX` = `function_id` and `RDI`, `RSI`, `RDX`
/// = `a1`, `a2`, `a3`; returns `RAX`, `RDI`, `RSI`, `RDX` (docs/x86.md).
/// Without a hypervisor, `VMCALL` raises `#UD` and the runtime parks the
/// vCPU.
///
/// # Safety
///
/// The hypervisor may do anything the function id asks for (start a vCPU
/// at an address, read memory named by an argument, ...): the call must
/// not break this program's memory or code.
pub unsafe fn hypercall(function_id: u32, a1: u64, a2: u64, a3: u64) -> [u64; 4] {
    let (r0, r1, r2, r3): (u64, u64, u64, u64);
    // SAFETY: VMCALL preserves every register but the four named here; the
    // caller vouches for the call's effects (memory may be read: no
    // `nomem`).
    unsafe {
        asm!(
            "vmcall",
            inout("rax") u64::from(function_id) => r0,
            inout("rdi") a1 => r1,
            inout("rsi") a2 => r2,
            inout("rdx") a3 => r3,
            options(nostack),
        )
    };
    [r0, r1, r2, r3]
}

/// A call whose only effect is to answer (queries) or to stop this vCPU or
/// the cell, which cannot break this program's memory.
fn benign(function_id: u32, a1: u64, a2: u64) -> [u64; 4] {
    // SAFETY: callers only pass PSCI queries, CPU_OFF, SYSTEM_OFF/RESET and
    // Bulkhead queries: none writes memory or starts code.
    unsafe { hypercall(function_id, a1, a2, 0) }
}

/// PSCI `PSCI_VERSION`: `(major, minor)`, or `None` if refused.
pub fn psci_version() -> Option<(u16, u16)> {
    let v = benign(psci::VERSION, 0, 0)[0] as i64;
    (v >= 0).then_some(((v >> 16) as u16, v as u16))
}

/// PSCI `CPU_ON`: starts vCPU `index` of this cell at guest-physical
/// `entry` with `RDI` = `context`, `RSI` = `index`. Returns 0 or a PSCI
/// error ([`psci::status_name`]).
///
/// # Safety
///
/// `entry` must be code that can run on a fresh vCPU (the entry state of
/// docs/x86.md, `RSP` = the shared boot area) without breaking this
/// program; [`start_vcpu`] uses `secondary_start`.
pub unsafe fn cpu_on(index: u64, entry: u64, context: u64) -> i64 {
    // SAFETY: the caller vouches for `entry`.
    let [status, ..] = unsafe { hypercall(psci::CPU_ON, index, entry, context) };
    status as i64
}

/// PSCI `CPU_ON` at `secondary_start`: vCPU `index` runs the guest's
/// secondary entry (see [`entry!`](crate::entry)) with `context`. Returns
/// 0 or a PSCI error.
pub fn start_vcpu(index: u64, context: u64) -> i64 {
    // SAFETY: secondary_start switches to the vCPU's own stack and loads
    // the IDT, and only then runs the guest's secondary entry.
    unsafe { cpu_on(index, crate::secondary_entry(), context) }
}

/// PSCI `CPU_OFF`: returns (the PSCI error) only if it failed.
pub fn cpu_off() -> i64 {
    benign(psci::CPU_OFF, 0, 0)[0] as i64
}

/// PSCI `AFFINITY_INFO` of vCPU `index` (lowest level 0):
/// [`psci::AFFINITY_ON`] (0), [`psci::AFFINITY_OFF`] (1),
/// [`psci::AFFINITY_ON_PENDING`] (2), or a PSCI error.
pub fn affinity_info(index: u64) -> i64 {
    benign(psci::AFFINITY_INFO, index, 0)[0] as i64
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

/// Bulkhead `ABI_VERSION`, or `None` if refused.
pub fn abi_version() -> Option<u64> {
    let v = benign(HC_ABI_VERSION, 0, 0)[0];
    ((v as i64) >= 0).then_some(v)
}

/// What Bulkhead's `CELL_INFO` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellInfo {
    /// The cell's id (its index in the config).
    pub cell_id: u64,
    /// vCPUs the cell has (indices `0..vcpus`).
    pub vcpus: usize,
    /// The caller's vCPU index.
    pub vcpu: usize,
}

/// Bulkhead `CELL_INFO`, or `None` if refused.
pub fn cell_info() -> Option<CellInfo> {
    let [status, cell_id, vcpus, vcpu] = benign(HC_CELL_INFO, 0, 0);
    (status == 0).then_some(CellInfo {
        cell_id,
        vcpus: vcpus as usize,
        vcpu: vcpu as usize,
    })
}
