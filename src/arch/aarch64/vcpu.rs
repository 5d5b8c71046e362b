//! Running one guest vCPU on this core: EL2 controls, EL1 reset state and
//! the first entry into the guest.
//!
//! Each core runs at most one vCPU, forever (1:1 pinning), so nothing is
//! switched on traps: the guest's general-purpose registers are the trap
//! frame on this core's stack, and its EL1 system registers stay live.

use core::arch::asm;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTHCTL_EL2, CNTVOFF_EL2, HCR_EL2, ID_AA64MMFR0_EL1, MDCR_EL2, MIDR_EL1, ReadWriteable,
    Readable, SCTLR_EL1, SPSR_EL2, VMPIDR_EL2, VTCR_EL2, VTTBR_EL2, Writeable,
};

use tock_registers::fields::FieldValue;

use super::gic::{Gic, GicOps};
use super::model::descriptors::STAGE2_IPA_BITS;
use super::trap_frame::{FRAME_SIZE, TrapFrame};
use super::{cpu, stacks};

/// HCR_EL2 while a guest of this platform runs (Arm ARM D19.2.48):
/// - RW: EL1 is AArch64; VM: stage 2 on;
/// - AMO, IMO, FMO: SError, IRQ and FIQ go to EL2 (and the guest's
///   `ICC_*_EL1` accesses to the virtual CPU interface);
/// - TSW: data-cache set/way operations trap, and SWIO makes a set/way
///   invalidate act as clean+invalidate; TACR: ACTLR_EL1 traps; TIDCP:
///   IMPLEMENTATION DEFINED system registers trap; TSC: SMC traps;
/// - TID3: the ID registers trap, so the guest does not see the features
///   trapped below (SVE, SME, RAS, AMU, trace, SPE, PMU;
///   `model::id_registers`); TERR: the RAS error records (ERR*) trap and
///   read as zero, so no cell can clear or silence errors of shared nodes
///   (finding F10); TEA stays clear: a synchronous external abort of a
///   cell's own access is the cell's to handle;
/// - BSU inner shareable: barriers are upgraded to the inner shareable
///   domain;
/// - API, APK: pointer authentication is not trapped;
/// - FB stays clear: a vCPU never leaves its core, so a guest's local TLB
///   and cache maintenance need not be broadcast (on QEMU every broadcast
///   TLB invalidation stops all vCPUs; with FB set Linux took 9.6 s instead
///   of about 1 s to bring up its second CPU);
/// - WFE never traps (the core belongs to the cell); WFI traps only where
///   the GIC needs the hypervisor to wait on the guest's behalf
///   (`GicOps::TRAPS_WFI`: GICv2).
fn hcr_guest() -> u64 {
    let wfi = if Gic::TRAPS_WFI {
        HCR_EL2::TWI::SET
    } else {
        HCR_EL2::TWI::CLEAR
    };
    (HCR_EL2::RW::EL1IsAarch64
        + HCR_EL2::VM::Enable
        + HCR_EL2::AMO::SET
        + HCR_EL2::IMO::SET
        + HCR_EL2::FMO::SET
        + HCR_EL2::TSW::SET
        + HCR_EL2::SWIO::SET
        + HCR_EL2::TACR::SET
        + HCR_EL2::TIDCP::SET
        + HCR_EL2::TSC::SET
        + HCR_EL2::TID3::SET
        + HCR_EL2::TERR::SET
        + HCR_EL2::BSU::InnerShareable
        + HCR_EL2::API::SET
        + HCR_EL2::APK::SET
        + wfi)
        .value
}

/// SCTLR_EL1 at reset: MMU and caches off, RES1 bits (29, 28, 23, 22, 20,
/// 11) set.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// SPSR_EL2 for a guest's first instruction (and for an exception the
/// hypervisor injects): EL1h, D/A/I/F masked.
pub(super) const SPSR_EL1H_MASKED: u64 = SPSR_EL2::D::Masked.value
    | SPSR_EL2::A::Masked.value
    | SPSR_EL2::I::Masked.value
    | SPSR_EL2::F::Masked.value
    | SPSR_EL2::M::EL1h.value;
const _: () = assert!(SPSR_EL1H_MASKED == 0x3c5);

/// VTCR_EL2 for the cells' stage-2 (must match `cell::stage2`): T0SZ = 25
/// (39-bit IPA), SL0 = 1 (start at level 1), inner/outer write-back walks,
/// inner shareable, 4 KiB granule, PS from ID_AA64MMFR0_EL1.PARange, RES1
/// bit 31.
fn vtcr_value() -> u64 {
    let ps = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
    (VTCR_EL2::RES1::SET
        + VTCR_EL2::PS.val(ps)
        + VTCR_EL2::TG0::Granule4KB
        + VTCR_EL2::SH0::Inner
        + VTCR_EL2::ORGN0::NormalWBRAWA
        + VTCR_EL2::IRGN0::NormalWBRAWA
        + VTCR_EL2::SL0::Granule4KBLevel1
        + VTCR_EL2::T0SZ.val(u64::from(64 - STAGE2_IPA_BITS)))
    .value
}

/// A vCPU's timer controls (see `timer`).
#[derive(Clone, Copy)]
pub(super) struct TimerControls {
    /// CNTVOFF_EL2.
    pub(super) cntvoff: u64,
    /// CNTHCTL_EL2's EL1 access bits (EL1PCEN, EL1PCTEN).
    pub(super) cnthctl: FieldValue<u64, CNTHCTL_EL2::Register>,
}

/// Programs this core's EL2 controls for a vCPU of a cell: stage-2 root and
/// VMID, HCR_EL2, debug/PMU traps, the MPIDR the guest sees, counters.
pub(super) fn configure(stage2_root: u64, vmid: u16, vcpu_index: usize, timers: TimerControls) {
    VTCR_EL2.set(vtcr_value());
    VTTBR_EL2.set(stage2_root | (u64::from(vmid & 0xff) << 48));
    // Debug, PMU, trace filter (TTRF) and statistical profiling (TPMS)
    // registers trap: they read as zero, writes are ignored (F10). HPMN
    // keeps every counter in the EL1 range (HPMN = 0 is CONSTRAINED
    // UNPREDICTABLE without FEAT_HPMN0); TPM traps them all anyway.
    MDCR_EL2.write(
        MDCR_EL2::TDRA::SET
            + MDCR_EL2::TDOSA::SET
            + MDCR_EL2::TDA::SET
            + MDCR_EL2::TPM::SET
            + MDCR_EL2::TPMCR::SET
            + MDCR_EL2::TTRF::SET
            + MDCR_EL2::TPMS::SET
            + MDCR_EL2::HPMN.val(cpu::pmu_counters()),
    );
    // The guest sees the real MIDR and a virtual MPIDR: Aff0 = vCPU index.
    let midr = MIDR_EL1.get();
    // SAFETY: VPIDR_EL2 only sets what the guest's MIDR_EL1 reads return.
    unsafe { asm!("msr vpidr_el2, {}", in(reg) midr, options(nostack, preserves_flags)) };
    VMPIDR_EL2.set((1 << 31) | vcpu_index as u64);
    // Timers (`timer`): the cell's virtual counter offset; the physical
    // counter readable, the physical timer per the cell's policy.
    CNTVOFF_EL2.set(timers.cntvoff);
    CNTHCTL_EL2.modify(timers.cnthctl);
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
