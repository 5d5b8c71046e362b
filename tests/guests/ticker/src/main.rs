//! `ticker`: a 1 kHz EL1 virtual-timer tick delivered through the virtual
//! GIC (GICv3 system-register interface), counted over 2 s windows.
//!
//! The guest programs its virtual GIC as a bare-metal OS would (`rt::gic`),
//! arms CNTV_CVAL with absolute deadlines 1 ms apart and counts the
//! interrupts. After each window of 2 s of counter time it prints
//! `ticker: window N: T ticks in 2000 ms`; after two windows it prints its
//! exit counters and powers the cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::{gic, println, timer};

    rt::entry!(main);

    const TIMER_PPI: u64 = 27;
    const WINDOW_MS: u64 = 2000;

    static TICKS: AtomicU64 = AtomicU64::new(0);
    static PERIOD: AtomicU64 = AtomicU64::new(0);

    fn irq() {
        let iar = gic::acknowledge();
        if iar & 0xff_ffff == TIMER_PPI {
            rt::bump(&TICKS);
            timer::advance(PERIOD.load(Ordering::Relaxed));
        }
        gic::end(iar);
    }

    fn main() -> ! {
        gic::init_distributor();
        gic::init_cpu(1 << TIMER_PPI);
        rt::set_irq_handler(irq);
        println!("ticker: virtual GIC ready on vcpu {}", rt::vcpu_index());
        let frequency = rt::counter_freq();
        let period = frequency / 1000;
        PERIOD.store(period, Ordering::Relaxed);
        for window in 1..=2 {
            TICKS.store(0, Ordering::Relaxed);
            let start = rt::counter();
            let end = start + frequency * WINDOW_MS / 1000;
            timer::arm_at(start + period);
            gic::unmask_irqs();
            while rt::counter() < end {
                timer::wait_for_interrupt();
            }
            gic::mask_irqs();
            timer::stop();
            let ticks = TICKS.load(Ordering::Relaxed);
            println!("ticker: window {window}: {ticks} ticks in {WINDOW_MS} ms");
        }
        // Exit counters (see `vgic::counters`): 9 = physical IRQs taken
        // while the guest ran, 13 = virtual timer interrupts delivered.
        let irq_exits = rt::cell_counter(9).unwrap_or(u64::MAX);
        let delivered = rt::cell_counter(13).unwrap_or(u64::MAX);
        println!("ticker: exits: {irq_exits} irq for {delivered} timer interrupts delivered");
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-ticker is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
