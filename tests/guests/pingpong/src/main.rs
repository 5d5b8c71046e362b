//! `pingpong`: SGI ping-pong between vCPU 0 and vCPU 1 of a cell.
//!
//! vCPU 0 sends SGI 1 to vCPU 1; vCPU 1's handler answers with SGI 2; vCPU
//! 0's handler counts the round trip and pings again, 10,000 times. Both
//! sides count what they receive, so a lost interrupt shows up as a stall or
//! a mismatch. At the end vCPU 0 prints the counts and the cell's exit
//! counters, and powers the cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use rt::{gic, println};

    rt::entry!(main, secondary);

    const PING: u64 = 1;
    const PONG: u64 = 2;
    const ROUNDS: u64 = 10_000;

    static PINGS_RECEIVED: AtomicU64 = AtomicU64::new(0);
    static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);
    static PARTNER_READY: AtomicBool = AtomicBool::new(false);

    fn irq() {
        let iar = gic::acknowledge();
        match gic::intid(iar) {
            PING => {
                rt::bump(&PINGS_RECEIVED);
                gic::send_sgi(PONG, 0);
            }
            PONG => {
                let done = rt::bump(&ROUND_TRIPS);
                if done < ROUNDS {
                    gic::send_sgi(PING, 1);
                }
            }
            _ => {}
        }
        gic::end(iar);
    }

    fn main() -> ! {
        gic::init_distributor();
        gic::init_cpu(1 << PONG);
        rt::set_irq_handler(irq);
        let status = rt::start_vcpu(1, 0);
        if status != rt::psci::SUCCESS {
            println!("pingpong: CPU_ON vcpu 1 -> {status}");
            rt::park();
        }
        while !PARTNER_READY.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        let start = rt::counter();
        gic::unmask_irqs();
        gic::send_sgi(PING, 1);
        // Give up after 60 s of counter time without finishing.
        let deadline = start + rt::counter_freq() * 60;
        while ROUND_TRIPS.load(Ordering::Relaxed) < ROUNDS && rt::counter() < deadline {
            rt::timer::wait_for_interrupt();
        }
        gic::mask_irqs();
        let trips = ROUND_TRIPS.load(Ordering::Relaxed);
        let pings = PINGS_RECEIVED.load(Ordering::Relaxed);
        let lost = ROUNDS.saturating_sub(trips) + trips.abs_diff(pings);
        println!("pingpong: {trips} round trips, {pings} pings received, {lost} lost");
        // Counters: the trapped sends (ICC_SGI1R_EL1 on GICv3, GICD_SGIR
        // on GICv2), and the exits that delivered SGIs (taken while the
        // guest ran, or while the hypervisor waited on its trapped WFI).
        let count = |index| rt::cell_counter(index).unwrap_or(u64::MAX);
        let sends = count(rt::counters::SGI_SENDS);
        let irq_exits = count(rt::counters::IRQ);
        let wfi_exits = count(rt::counters::WFI);
        let delivered = count(rt::counters::SGI);
        println!(
            "pingpong: exits: {sends} sgi sends, {irq_exits} irq + {wfi_exits} wfi for {delivered} sgis delivered"
        );
        rt::system_off();
        rt::park()
    }

    fn secondary(_: u64) -> ! {
        gic::init_cpu(1 << PING);
        rt::set_irq_handler(irq);
        gic::unmask_irqs();
        PARTNER_READY.store(true, Ordering::Release);
        loop {
            rt::timer::wait_for_interrupt();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-pingpong is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
