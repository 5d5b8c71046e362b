//! `ticker`: a 1 kHz EL1 virtual-timer tick delivered through the virtual
//! GIC (GICv3 system-register interface), counted over 2 s windows.
//!
//! The guest programs its virtual GIC as a bare-metal OS would (distributor
//! enable, its redistributor's PPI 27 enable and priority, ICC_* system
//! registers), arms CNTV_CVAL with absolute deadlines 1 ms apart and counts
//! the interrupts. After each window of 2 s of counter time it prints
//! `ticker: window N: T ticks in 2000 ms`; after two windows it powers the
//! cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::println;

    rt::entry!(main);

    /// Where QEMU virt has the GIC (the cell sees its virtual GIC there).
    const GICD: u64 = 0x0800_0000;
    const GICR: u64 = 0x080a_0000;
    const TIMER_PPI: u64 = 27;
    const WINDOW_MS: u64 = 2000;

    static TICKS: AtomicU64 = AtomicU64::new(0);
    static PERIOD: AtomicU64 = AtomicU64::new(0);

    fn write32(address: u64, value: u32) {
        // SAFETY: the virtual GIC's registers (trapped and emulated by the
        // hypervisor); a 32-bit store is a valid access.
        unsafe { (address as *mut u32).write_volatile(value) };
    }

    fn write8(address: u64, value: u8) {
        // SAFETY: as above, a byte-accessible priority register.
        unsafe { (address as *mut u8).write_volatile(value) };
    }

    fn irq() {
        let iar: u64;
        // SAFETY: acknowledges the pending virtual interrupt.
        unsafe { asm!("mrs {}, icc_iar1_el1", out(reg) iar, options(nostack)) };
        if iar & 0xff_ffff == TIMER_PPI {
            TICKS.fetch_add(1, Ordering::Relaxed);
            // Next absolute deadline: no drift from handling latency.
            // SAFETY: reprograms this vCPU's own virtual timer.
            unsafe {
                asm!(
                    "mrs {t}, cntv_cval_el0",
                    "add {t}, {t}, {p}",
                    "msr cntv_cval_el0, {t}",
                    t = out(reg) _,
                    p = in(reg) PERIOD.load(Ordering::Relaxed),
                    options(nostack)
                );
            }
        }
        // SAFETY: ends the interrupt just acknowledged.
        unsafe { asm!("msr icc_eoir1_el1, {}", "isb", in(reg) iar, options(nostack)) };
    }

    fn main() -> ! {
        let vcpu = rt::vcpu_index() as u64;
        // Distributor: ARE (4) + EnableGrp1 (1). Redistributor of this vCPU:
        // wake it, enable PPI 27 with priority 0x80.
        write32(GICD, (1 << 4) | (1 << 1));
        let rd = GICR + vcpu * 0x2_0000;
        write32(rd + 0x14, 0);
        write8(rd + 0x1_0400 + TIMER_PPI, 0x80);
        write32(rd + 0x1_0100, 1 << TIMER_PPI);
        // SAFETY: the virtual CPU interface: system registers on, all
        // priorities unmasked, group 1 on.
        unsafe {
            asm!(
                "mrs {t}, icc_sre_el1",
                "orr {t}, {t}, #1",
                "msr icc_sre_el1, {t}",
                "isb",
                "msr icc_pmr_el1, {pmr}",
                "msr icc_igrpen1_el1, {one}",
                "isb",
                t = out(reg) _,
                pmr = in(reg) 0xffu64,
                one = in(reg) 1u64,
                options(nostack)
            );
        }
        rt::set_irq_handler(irq);
        println!("ticker: virtual GIC ready on vcpu {vcpu}");
        let frequency = rt::counter_freq();
        let period = frequency / 1000;
        PERIOD.store(period, Ordering::Relaxed);
        for window in 1..=2 {
            TICKS.store(0, Ordering::Relaxed);
            let start = rt::counter();
            let end = start + frequency * WINDOW_MS / 1000;
            // SAFETY: arms this vCPU's virtual timer and unmasks IRQs.
            unsafe {
                asm!(
                    "msr cntv_cval_el0, {c}",
                    "msr cntv_ctl_el0, {one}",
                    "isb",
                    "msr daifclr, #2",
                    c = in(reg) start + period,
                    one = in(reg) 1u64,
                    options(nostack)
                );
            }
            while rt::counter() < end {
                // SAFETY: waits for the next interrupt.
                unsafe { asm!("wfi", options(nostack)) };
            }
            // SAFETY: masks IRQs and stops the timer.
            unsafe {
                asm!(
                    "msr daifset, #2",
                    "msr cntv_ctl_el0, xzr",
                    "isb",
                    options(nostack)
                )
            };
            let ticks = TICKS.load(Ordering::Relaxed);
            println!("ticker: window {window}: {ticks} ticks in {WINDOW_MS} ms");
        }
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-ticker is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
