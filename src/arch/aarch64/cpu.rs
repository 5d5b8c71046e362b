//! Per-CPU primitives: identity, interrupt masking, low-power waiting, time.

use aarch64_cpu::asm;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTHCTL_EL2, CNTPCT_EL0, CurrentEL, DAIF, HCR_EL2, ID_AA64DFR0_EL1, MPIDR_EL1,
    TPIDR_EL2,
};
use tock_registers::LocalRegisterCopy;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;

use super::platform::MAX_CPUS;

/// Affinity fields of MPIDR_EL1 (Aff3 = bits 39:32, Aff2:Aff1:Aff0 = bits 23:0).
/// This is also the format PSCI CPU_ON expects for its target argument.
pub(crate) const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// HCR_EL2 value set by the entry code: lower ELs are AArch64, nothing is
/// trapped or routed yet, and crucially E2H = 0 (non-VHE register layout,
/// which the MMU code assumes).
pub(crate) const HCR_EL2_INIT: u64 = HCR_EL2::RW::EL1IsAarch64.value;

/// CPTR_EL2 value set by the entry code (E2H = 0 layout): the RES1 bits
/// (13:12, 9:0; on cores with SVE and SME bits 8 and 12 are TZ and TSM, so
/// SVE and SME trap), TTA (20: trace registers trap) and TAM (30: activity
/// monitors trap) (finding F10). TFP = 0, so EL2 and guests may use
/// FP/SIMD; TCPAC = 0.
pub(crate) const CPTR_EL2_INIT: u64 = 0x33ff | (1 << 20) | (1 << 30);

/// The number of PMU event counters (PMCR_EL0.N); 0 without a PMU.
pub(crate) fn pmu_counters() -> u64 {
    // ID_AA64DFR0_EL1.PMUVer: 0 = no PMU, 0xf = an IMPLEMENTATION DEFINED
    // one PMCR_EL0 does not describe.
    let pmu = (ID_AA64DFR0_EL1.get() >> 8) & 0xf;
    if pmu == 0 || pmu == 0xf {
        return 0;
    }
    let pmcr: u64;
    // SAFETY: reads PMCR_EL0 at EL2 (no side effects; MDCR_EL2.TPMCR traps
    // only lower ELs).
    unsafe {
        core::arch::asm!("mrs {}, pmcr_el0", out(reg) pmcr, options(nomem, nostack, preserves_flags))
    };
    (pmcr >> 11) & 0x1f
}

/// Current exception level (0-3).
#[inline]
pub(crate) fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Index of the executing CPU in the generated CPU table.
///
/// `_start` / `secondary_entry` store it in TPIDR_EL2 before any Rust runs.
#[inline]
pub(crate) fn current_index() -> usize {
    // The entry code only ever stores an index < MAX_CPUS; clamp anyway so a
    // corrupted register can never turn into an out-of-bounds index.
    let index = TPIDR_EL2.get() as usize;
    if index < MAX_CPUS { index } else { 0 }
}

/// Raw MPIDR_EL1 of the executing CPU.
#[inline]
pub(crate) fn mpidr() -> u64 {
    MPIDR_EL1.get()
}

/// Mask debug, SError, IRQ and FIQ on this CPU.
#[inline]
pub(crate) fn mask_all_exceptions() {
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    barrier::isb(barrier::SY);
}

/// Make every prior store visible to the inner-shareable domain, then send an
/// event to all CPUs waiting in WFE.
///
/// The DSB is required: SEV is not ordered by DMB, so without it a woken CPU
/// could observe the event before the store that it is waiting for.
#[inline]
pub(crate) fn publish_and_sev() {
    barrier::dsb(barrier::ISH);
    asm::sev();
}

/// Stop this CPU for good: all exceptions masked, WFI forever.
pub(crate) fn halt() -> ! {
    mask_all_exceptions();
    loop {
        asm::wfi();
    }
}

/// Enable the generic-timer event stream on this CPU so that every WFE wakes
/// up at least every ~100 µs. That makes WFE-based waits with a deadline
/// bounded even if the CPU we wait for never sends an event.
///
/// Only touches CNTHCTL_EL2.{EVNTEN,EVNTDIR,EVNTI}; the EL1 timer trap bits
/// are left for the guest-management code.
pub(crate) fn enable_event_stream() {
    // An event fires when counter bit EVNTI goes 0->1, i.e. every 2^(EVNTI+1) ticks.
    let ticks_per_100us = (counter_frequency_hz() / 10_000).max(2);
    let evnti = u64::from(63 - ticks_per_100us.leading_zeros())
        .saturating_sub(1)
        .min(15);

    let mut value = LocalRegisterCopy::<u64, EVENT_STREAM::Register>::new(CNTHCTL_EL2.get());
    value.modify(
        EVENT_STREAM::EVNTEN::SET
            + EVENT_STREAM::EVNTDIR::ZeroToOne
            + EVENT_STREAM::EVNTI.val(evnti),
    );
    CNTHCTL_EL2.set(value.get());
    barrier::isb(barrier::SY);
}

register_bitfields! {u64,
    /// CNTHCTL_EL2's event-stream fields (Arm ARM D19.8.2; not declared by
    /// `aarch64-cpu`, which only has the EL1 access bits).
    EVENT_STREAM [
        /// Counter bit that triggers an event (0..=15).
        EVNTI OFFSET(4) NUMBITS(4) [],
        /// Which transition of that bit triggers it.
        EVNTDIR OFFSET(3) NUMBITS(1) [
            ZeroToOne = 0,
            OneToZero = 1
        ],
        /// Event stream on.
        EVNTEN OFFSET(2) NUMBITS(1) []
    ]
}

/// System counter frequency. Falls back to 1 MHz if firmware left CNTFRQ_EL0
/// unprogrammed (it is only a reset-unknown register that EL3 should set).
pub(crate) fn counter_frequency_hz() -> u64 {
    match CNTFRQ_EL0.get() & 0xffff_ffff {
        0 => 1_000_000,
        f => f,
    }
}

/// Current system counter value.
#[inline]
pub(crate) fn counter() -> u64 {
    // ISB: prevent the counter read from being speculated ahead of earlier code.
    barrier::isb(barrier::SY);
    CNTPCT_EL0.get()
}

/// A point in time, in system counter ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(u64);

impl Deadline {
    /// A deadline `micros` microseconds from now.
    pub(crate) fn after_micros(micros: u64) -> Self {
        let ticks = counter_frequency_hz().saturating_mul(micros) / 1_000_000;
        Self(counter().saturating_add(ticks))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(self) -> bool {
        counter() >= self.0
    }
}
