//! `heartbeat`: a bare-metal cell that shows it keeps running: it prints
//! `heartbeat: N` every 500 ms of counter time, forever (N counts from 1).
//! Beside a Linux cell it shows that booting, rebooting or powering off
//! Linux never stops the other cells.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use rt::println;

    rt::entry!(main);

    fn main() -> ! {
        let period = rt::counter_freq() / 2;
        let mut next = rt::counter() + period;
        let mut beat = 0u64;
        loop {
            while rt::counter() < next {
                core::hint::spin_loop();
            }
            next += period;
            beat += 1;
            println!("heartbeat: {beat}");
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-heartbeat is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
