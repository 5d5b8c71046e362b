//! `ticker`: a 1 kHz EL1 virtual-timer tick delivered through the virtual
//! GIC (GICv3 or GICv2), counted over 2 s windows.
//!
//! The guest programs its virtual GIC as a bare-metal OS would (`rt::gic`),
//! arms CNTV_CVAL with absolute deadlines 1 ms apart and counts the
//! interrupts. After each window of 2 s of counter time it prints
//! `ticker: window N: T ticks in 2000 ms`; after two windows (or as many as
//! the cell's `boot-arg` says: a witness beside an intruder ticks for as
//! long as the intruder needs) it prints its exit counters and powers the
//! cell off.
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
        if gic::intid(iar) == TIMER_PPI {
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
        let windows = match rt::boot_arg() {
            0 => 2,
            n => n,
        };
        for window in 1..=windows {
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
        // Exit counters: the exits that delivered its interrupts (taken
        // while it ran, or while the hypervisor waited on its trapped WFI).
        let count = |index| rt::cell_counter(index).unwrap_or(u64::MAX);
        let irq_exits = count(rt::counters::IRQ);
        let wfi_exits = count(rt::counters::WFI);
        let delivered = count(rt::counters::TIMER);
        println!(
            "ticker: exits: {irq_exits} irq + {wfi_exits} wfi for {delivered} timer interrupts delivered"
        );
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-ticker is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
