//! `clocks`: what the cell's timer policy gives it.
//!
//! Prints the virtual counter (CNTVCT_EL0) as seen at its first instruction
//! and how far it is from the physical counter (CNTPCT_EL0), in ms. Then it
//! programs the EL1 physical timer (CNTP_*) to fire 1 ms from now, reads its
//! control register back, waits 50 ms for PPI 30 and prints what it got.
//! With `physical-timer = "trap"` the register reads back as zero and no
//! interrupt comes; with `"allow"` it reads back enabled and the interrupt
//! arrives (the handler stops the timer each time).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::arch::asm;
    use core::sync::atomic::{AtomicU64, Ordering};

    use rt::{gic, println, timer};

    rt::entry!(main);

    const PHYSICAL_TIMER_PPI: u64 = 30;

    static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

    fn physical_counter() -> u64 {
        let value: u64;
        // SAFETY: reading the physical counter has no side effects.
        unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) value, options(nostack)) };
        value
    }

    fn physical_timer_ctl() -> u64 {
        let value: u64;
        // SAFETY: reads the EL1 physical timer's control (or traps).
        unsafe { asm!("mrs {}, cntp_ctl_el0", out(reg) value, options(nostack)) };
        value
    }

    fn set_physical_timer(deadline: u64, ctl: u64) {
        // SAFETY: programs this vCPU's EL1 physical timer (or traps).
        unsafe {
            asm!(
                "msr cntp_cval_el0, {d}",
                "msr cntp_ctl_el0, {c}",
                "isb",
                d = in(reg) deadline,
                c = in(reg) ctl,
                options(nostack)
            );
        }
    }

    fn irq() {
        let iar = gic::acknowledge();
        if gic::intid(iar) == PHYSICAL_TIMER_PPI {
            rt::bump(&INTERRUPTS);
            // Stop it: a level interrupt would fire again at once.
            set_physical_timer(0, 0);
        }
        gic::end(iar);
    }

    fn main() -> ! {
        let virtual_at_start = rt::counter();
        let physical = physical_counter();
        let frequency = rt::counter_freq();
        let ms = |ticks: u64| ticks * 1000 / frequency;
        println!(
            "clocks: virtual counter at start {} ms, physical - virtual {} ms",
            ms(virtual_at_start),
            ms(physical.saturating_sub(virtual_at_start))
        );
        gic::init_distributor();
        gic::init_cpu(1 << PHYSICAL_TIMER_PPI);
        rt::set_irq_handler(irq);
        // Read the enable bit back before the interrupt can be taken: on a
        // loaded host the 1 ms deadline may pass between the write and the
        // read, and the handler clears the bit.
        set_physical_timer(physical_counter() + frequency / 1000, 1);
        let readback = physical_timer_ctl() & 1;
        gic::unmask_irqs();
        let end = rt::counter() + frequency / 20;
        while rt::counter() < end {
            core::hint::spin_loop();
        }
        gic::mask_irqs();
        timer::stop();
        let interrupts = INTERRUPTS.load(Ordering::Relaxed);
        println!("clocks: physical timer enable reads {readback}, {interrupts} interrupts");
        rt::system_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-clocks is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
