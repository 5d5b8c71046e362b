//! Running one guest vCPU on this core: EL2 controls, EL1 reset state and
//! the first entry into the guest.
//!
//! Each core runs at most one vCPU, forever (1:1 pinning), so nothing is
//! switched on traps: the guest's general-purpose registers are the trap
//! frame on this core's stack, and its EL1 system registers stay live.

use core::arch::asm;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTHCTL_EL2, CNTVOFF_EL2, HCR_EL2, ID_AA64MMFR0_EL1, MDCR_EL2, MIDR_EL1, Readable, SCTLR_EL1,
    SPSR_EL2, VMPIDR_EL2, VTCR_EL2, VTTBR_EL2, Writeable,
};

use super::model::descriptors::STAGE2_IPA_BITS;
use super::trap_frame::{FRAME_SIZE, TrapFrame};
use super::{cpu, stacks};

/// HCR_EL2 while a guest runs. Bits (Arm ARM D19.2.48):
/// RW(31) EL1 is AArch64; TSW(22) trap data-cache set/way ops; TACR(21)
/// trap ACTLR_EL1; TIDCP(20) trap IMPLEMENTATION DEFINED sysregs; TSC(19)
/// trap SMC; BSU(11:10)=01: barriers upgraded to inner shareable; AMO(5)
/// IMO(4) FMO(3): SError,
/// IRQ and FIQ go to EL2; SWIO(1) set/way invalidate acts as clean+invalidate;
/// VM(0) stage-2 on; APK(40) API(41) pointer authentication not trapped.
/// FB(9) stays clear: a vCPU never leaves its core, so a guest's local TLB
/// and cache maintenance need not be broadcast (on QEMU every broadcast TLB
/// invalidation stops all vCPUs; with FB set Linux took 9.6 s instead of
/// about 1 s to bring up its second CPU). WFE is never trapped and WFI only on GICv2 ([`HCR_TWI`]): the core
/// belongs to the cell.
pub(super) const HCR_GUEST: u64 = (1 << 41)
    | (1 << 40)
    | (1 << 31)
    | (1 << 22)
    | (1 << 21)
    | (1 << 20)
    | (1 << 19)
    | (0b01 << 10)
    | (1 << 5)
    | (1 << 4)
    | (1 << 3)
    | (1 << 1)
    | 1;

/// HCR_EL2.TWI(13), set on GICv2 platforms: a guest's WFI traps and the
/// hypervisor waits on its behalf, delivering what arrives in the same exit
/// (so an idle guest still costs one exit per interrupt). The wait first
/// makes the GIC re-evaluate its pending interrupts (`gic::refresh`), which
/// QEMU's GICv2 model otherwise skips after a guest's EOI of a still
/// asserted hardware-linked interrupt.
pub(super) const HCR_TWI: u64 = 1 << 13;

/// HCR_EL2 for this platform's guests.
pub(super) fn hcr_guest() -> u64 {
    if crate::config::PLATFORM.intc.version == 2 {
        HCR_GUEST | HCR_TWI
    } else {
        HCR_GUEST
    }
}

/// SCTLR_EL1 at reset: MMU and caches off, RES1 bits (29, 28, 23, 22, 20,
/// 11) set.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// SPSR_EL2 for a guest's first instruction: EL1h, D/A/I/F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;

/// VTCR_EL2 for the cells' stage-2 (must match `cell::stage2`): T0SZ = 25
/// (39-bit IPA), SL0 = 1 (start at level 1), inner/outer write-back walks,
/// inner shareable, 4 KiB granule, PS from ID_AA64MMFR0_EL1.PARange, RES1
/// bit 31.
fn vtcr_value() -> u64 {
    let ps = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
    (1 << 31)
        | (ps << 16)
        | (0b11 << 12)
        | (0b01 << 10)
        | (0b01 << 8)
        | (0b01 << 6)
        | u64::from(64 - STAGE2_IPA_BITS)
}

/// A vCPU's timer controls (see `timer`).
#[derive(Clone, Copy, Debug)]
pub(super) struct TimerControls {
    /// CNTVOFF_EL2.
    pub(super) cntvoff: u64,
    /// CNTHCTL_EL2 bits 1:0 (EL1PCEN, EL1PCTEN).
    pub(super) cnthctl: u64,
}

/// Programs this core's EL2 controls for a vCPU of a cell: stage-2 root and
/// VMID, HCR_EL2, debug/PMU traps, the MPIDR the guest sees, counters.
pub(super) fn configure(stage2_root: u64, vmid: u16, vcpu_index: usize, timers: TimerControls) {
    VTCR_EL2.set(vtcr_value());
    VTTBR_EL2.set(stage2_root | (u64::from(vmid & 0xff) << 48));
    // Debug and PMU registers trap (they read as zero, writes are ignored):
    // TDRA(11), TDOSA(10), TDA(9), TPM(6), TPMCR(5); HPMN = 0 counters.
    MDCR_EL2.set((1 << 11) | (1 << 10) | (1 << 9) | (1 << 6) | (1 << 5));
    // The guest sees the real MIDR and a virtual MPIDR: Aff0 = vCPU index.
    let midr = MIDR_EL1.get();
    // SAFETY: VPIDR_EL2 only sets what the guest's MIDR_EL1 reads return.
    unsafe { asm!("msr vpidr_el2, {}", in(reg) midr, options(nostack, preserves_flags)) };
    VMPIDR_EL2.set((1 << 31) | vcpu_index as u64);
    // Timers (`timer`): the cell's virtual counter offset; the physical
    // counter readable, the physical timer per the cell's policy.
    CNTVOFF_EL2.set(timers.cntvoff);
    CNTHCTL_EL2.set((CNTHCTL_EL2.get() & !0b11) | timers.cnthctl);
    HCR_EL2.set(hcr_guest());
    barrier::isb(barrier::SY);
    // SAFETY: invalidates this VMID's stage-1+2 TLB entries (stale ones from
    // an earlier run of the cell); affects no memory.
    unsafe {
        asm!(
            "tlbi vmalls12e1",
            "dsb nsh",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

/// Resets the EL1 state a guest may have changed (for a first boot, a
/// CPU_ON, a restart).
fn reset_el1() {
    SCTLR_EL1.set(SCTLR_EL1_RESET);
    // SAFETY: writes EL1 system registers of the (not running) guest; EL2
    // does not depend on any of them.
    unsafe {
        asm!(
            "msr tcr_el1, xzr",
            "msr ttbr0_el1, xzr",
            "msr ttbr1_el1, xzr",
            "msr mair_el1, xzr",
            "msr vbar_el1, xzr",
            "msr cpacr_el1, xzr",
            "msr contextidr_el1, xzr",
            "msr tpidr_el1, xzr",
            "msr tpidr_el0, xzr",
            "msr tpidrro_el0, xzr",
            "msr sp_el0, xzr",
            "msr sp_el1, xzr",
            "msr elr_el1, xzr",
            "msr spsr_el1, xzr",
            "msr esr_el1, xzr",
            "msr far_el1, xzr",
            "msr cntkctl_el1, xzr",
            "msr cntv_ctl_el0, xzr",
            "msr cntp_ctl_el0, xzr",
            "isb",
            options(nostack, preserves_flags)
        );
    }
}

/// Enters the guest at `entry` (EL1h, MMU off, interrupts masked) with
/// `x0 = arg` and every other register zero; this core's stack starts over.
pub(super) fn enter(entry: u64, arg: u64) -> ! {
    reset_el1();
    SPSR_EL2.set(SPSR_EL1H_MASKED);
    let top = stacks::stack_top(cpu::current_index());
    let frame_address = top - FRAME_SIZE as u64;
    let frame = TrapFrame::new(entry, SPSR_EL1H_MASKED, arg);
    // SAFETY: `frame_address` is the top of this core's own stack, which
    // nothing else uses once we jump there: the frame is written, SP moves
    // onto it and the exception-return path restores it and ERETs to EL1.
    // Nothing on the current stack is used again.
    unsafe {
        core::ptr::write(frame_address as *mut TrapFrame, frame);
        asm!(
            "mov sp, {frame}",
            "b __bulkhead_exception_return",
            frame = in(reg) frame_address,
            options(noreturn)
        );
    }
}
