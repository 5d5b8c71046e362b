//! The EL1 virtual timer (CNTV), driven with absolute deadlines.

use core::arch::asm;

/// Arms the timer to fire at counter value `deadline` (and enables it).
pub fn arm_at(deadline: u64) {
    // SAFETY: programs this vCPU's own virtual timer.
    unsafe {
        asm!(
            "msr cntv_cval_el0, {c}",
            "msr cntv_ctl_el0, {one}",
            "isb",
            c = in(reg) deadline,
            one = in(reg) 1u64,
            options(nostack)
        );
    }
}

/// Moves the deadline `period` counter ticks on from the last one (not
/// from now: handling latency never accumulates into drift).
pub fn advance(period: u64) {
    // SAFETY: reprograms this vCPU's own virtual timer.
    unsafe {
        asm!(
            "mrs {t}, cntv_cval_el0",
            "add {t}, {t}, {p}",
            "msr cntv_cval_el0, {t}",
            t = out(reg) _,
            p = in(reg) period,
            options(nostack)
        );
    }
}

/// Stops the timer.
pub fn stop() {
    // SAFETY: disables this vCPU's own virtual timer.
    unsafe { asm!("msr cntv_ctl_el0, xzr", "isb", options(nostack)) };
}

/// Waits for an interrupt (or any other wake-up event).
pub fn wait_for_interrupt() {
    // SAFETY: WFI only pauses this vCPU.
    unsafe { asm!("wfi", options(nostack)) };
}
