//! The local APIC in x2APIC mode (MSRs `0x800..=0x8ff`).

use crate::Gp;
use crate::cpu::{rdmsr, wrmsr};

/// x2APIC ID register.
const APIC_ID: u32 = 0x802;
/// Task priority register.
const TPR: u32 = 0x808;
/// End of interrupt.
const EOI: u32 = 0x80b;
/// Spurious interrupt vector register (bit 8: APIC software enable).
const SVR: u32 = 0x80f;
/// Interrupt command register (64 bits in x2APIC mode).
const ICR: u32 = 0x830;
/// LVT timer register.
const LVT_TIMER: u32 = 0x832;
/// Timer initial count.
const TIMER_INITIAL: u32 = 0x838;
/// Timer divide configuration.
const TIMER_DIVIDE: u32 = 0x83e;

/// Spurious-interrupt vector the runtime programs (never EOIed).
pub(crate) const SPURIOUS_VECTOR: u8 = 0xff;
/// LVT timer: periodic mode.
const TIMER_PERIODIC: u64 = 1 << 17;
/// ICR destination shorthand "self" (bits 19:18 = 01).
const ICR_SELF: u64 = 1 << 18;

/// This core's x2APIC id.
pub fn apic_id() -> u32 {
    rdmsr(APIC_ID) as u32
}

/// Software-enables the local APIC (SVR = enable | spurious vector 0xff)
/// and accepts every priority (TPR = 0). Needed before the LAPIC timer or
/// IPIs are delivered; [`enable_interrupts`](crate::enable_interrupts) and
/// [`timer_periodic`] call it.
pub fn apic_enable() {
    // SAFETY: this core's own local APIC (x2APIC registers); no memory.
    unsafe {
        wrmsr(TPR, 0);
        wrmsr(SVR, (1 << 8) | u64::from(SPURIOUS_VECTOR));
    }
}

/// Signals the end of the interrupt being handled.
pub fn eoi() {
    // SAFETY: the x2APIC EOI register takes 0.
    unsafe { wrmsr(EOI, 0) };
}

/// Writes the ICR (`value` in the x2APIC format: destination in bits
/// 63:32), returning [`Gp`] if the write raised one.
pub fn send_icr(value: u64) -> Result<(), Gp> {
    // SAFETY: an IPI request; the hypervisor decides whom it reaches.
    unsafe { crate::try_wrmsr(ICR, value) }
}

/// Sends a fixed IPI with `vector` to x2APIC id `apic_id` (physical
/// destination, edge): ICR = `(apic_id << 32) | vector`.
pub fn send_ipi(apic_id: u32, vector: u8) -> Result<(), Gp> {
    send_icr((u64::from(apic_id) << 32) | u64::from(vector))
}

/// Sends a fixed IPI with `vector` to this core through the ICR's "self"
/// destination shorthand.
pub fn send_self_ipi(vector: u8) -> Result<(), Gp> {
    send_icr(ICR_SELF | u64::from(vector))
}

/// Starts the LAPIC timer in periodic mode: an interrupt with `vector`
/// every `initial_count` ticks of the APIC bus clock divided by 1.
pub fn timer_periodic(vector: u8, initial_count: u32) {
    apic_enable();
    // SAFETY: this core's own LAPIC timer registers.
    unsafe {
        wrmsr(TIMER_DIVIDE, 0b1011); // divide by 1
        wrmsr(LVT_TIMER, TIMER_PERIODIC | u64::from(vector));
        wrmsr(TIMER_INITIAL, u64::from(initial_count));
    }
}

/// Stops the LAPIC timer (initial count 0, LVT masked).
pub fn timer_stop() {
    // SAFETY: this core's own LAPIC timer registers.
    unsafe {
        wrmsr(TIMER_INITIAL, 0);
        wrmsr(LVT_TIMER, 1 << 16);
    }
}
