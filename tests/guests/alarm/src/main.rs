//! `alarm`: a passthrough device interrupt next to a 1 kHz timer tick.
//!
//! The cell owns QEMU virt's PL031 RTC (INTID 34). Once a second of RTC
//! time it arms the RTC's match register for the next second and counts the
//! alarm interrupts, while the virtual timer ticks at 1 kHz. After three
//! alarms it prints both counts and the time the ticks took, then powers
//! the cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::{gic, println, timer};

    rt::entry!(main);

    const RTC: u64 = 0x0901_0000;
    const RTC_INTID: u64 = 34;
    const TIMER_PPI: u64 = 27;
    const ALARMS: u64 = 3;

    static TICKS: AtomicU64 = AtomicU64::new(0);
    static ALARMS_SEEN: AtomicU64 = AtomicU64::new(0);
    static OTHER: AtomicU64 = AtomicU64::new(0);
    static PERIOD: AtomicU64 = AtomicU64::new(0);

    fn rtc(offset: u64) -> *mut u32 {
        (RTC + offset) as *mut u32
    }

    fn arm_next_alarm() {
        // SAFETY: the cell's own (passed-through) PL031: RTCDR (0x0) is the
        // current second, RTCMR (0x4) the match value, RTCICR (0x1c)
        // clears the interrupt, RTCIMSC (0x10) unmasks it.
        unsafe {
            let now = rtc(0x0).read_volatile();
            rtc(0x1c).write_volatile(1);
            rtc(0x4).write_volatile(now.wrapping_add(1));
            rtc(0x10).write_volatile(1);
        }
    }

    fn irq() {
        let iar = gic::acknowledge();
        match gic::intid(iar) {
            TIMER_PPI => {
                rt::bump(&TICKS);
                timer::advance(PERIOD.load(Ordering::Relaxed));
            }
            RTC_INTID => {
                rt::bump(&ALARMS_SEEN);
                arm_next_alarm();
            }
            _ => {
                rt::bump(&OTHER);
            }
        }
        gic::end(iar);
    }

    fn main() -> ! {
        gic::init_distributor();
        gic::init_cpu(1 << TIMER_PPI);
        gic::enable_spi(RTC_INTID, 0x80);
        rt::set_irq_handler(irq);
        let period = rt::counter_freq() / 1000;
        PERIOD.store(period, Ordering::Relaxed);
        // SAFETY: starts the RTC (RTCCR bit 0).
        unsafe { rtc(0xc).write_volatile(1) };
        arm_next_alarm();
        let start = rt::counter();
        timer::arm_at(start + period);
        gic::unmask_irqs();
        let deadline = start + rt::counter_freq() * 30;
        while ALARMS_SEEN.load(Ordering::Relaxed) < ALARMS && rt::counter() < deadline {
            timer::wait_for_interrupt();
        }
        gic::mask_irqs();
        let elapsed_ms = (rt::counter() - start) * 1000 / rt::counter_freq();
        let ticks = TICKS.load(Ordering::Relaxed);
        let alarms = ALARMS_SEEN.load(Ordering::Relaxed);
        let other = OTHER.load(Ordering::Relaxed);
        println!("alarm: {alarms} rtc interrupts, {ticks} ticks in {elapsed_ms} ms, {other} other");
        let spi_exits = rt::cell_counter(rt::counters::SPI).unwrap_or(u64::MAX);
        println!("alarm: {spi_exits} device interrupts delivered");
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-alarm is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
