//! CPU identity, the generic timer and parking.

/// Reads a system register that has no side effects at EL1.
macro_rules! sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading this system register at EL1 has no side effects
        // and touches no memory.
        unsafe {
            core::arch::asm!(
                concat!("mrs {}, ", $name),
                out(reg) value,
                options(nomem, nostack, preserves_flags),
            )
        };
        value
    }};
}
pub(crate) use sysreg;

/// This vCPU's index: `MPIDR_EL1.Aff0` (always below [`MAX_VCPUS`](crate::MAX_VCPUS)
/// once the guest runs; the boot code parks other vCPUs).
pub fn vcpu_index() -> usize {
    (sysreg!("mpidr_el1") & 0xff) as usize
}

/// The virtual counter (`CNTVCT_EL0`).
pub fn counter() -> u64 {
    // SAFETY: an ISB only orders the counter read after what precedes it.
    unsafe { core::arch::asm!("isb", options(nomem, nostack, preserves_flags)) };
    sysreg!("cntvct_el0")
}

/// The counter frequency in Hz (`CNTFRQ_EL0`; 62.5 MHz if firmware left it 0).
pub fn counter_freq() -> u64 {
    match sysreg!("cntfrq_el0") {
        0 => 62_500_000,
        hz => hz,
    }
}

/// Busy-waits `ms` milliseconds on the virtual counter.
pub fn delay_ms(ms: u64) {
    let ticks = counter_freq() * ms / 1000;
    let start = counter();
    while counter().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Stops this vCPU for good (interrupts stay masked; WFI in a loop).
pub fn park() -> ! {
    loop {
        // SAFETY: WFI only waits; nothing is unmasked, so we stay here.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}
