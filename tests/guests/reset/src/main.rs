//! `reset`: vCPU 1 spins forever without trapping; vCPU 0 then resets the
//! cell with PSCI `SYSTEM_RESET`.
//!
//! The reset can only complete if the hypervisor pulls vCPU 1 out of its
//! loop (the kick interrupt), so seeing this guest's banner again proves
//! it. Every run prints `reset: vcpu 1 spinning` once.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicBool, Ordering};

    use rt::println;

    rt::entry!(main, secondary);

    static SPINNING: AtomicBool = AtomicBool::new(false);

    fn main() -> ! {
        println!("reset: vcpu 0 starting vcpu 1");
        let status = rt::start_vcpu(1, 0);
        if status != rt::psci::SUCCESS {
            println!("reset: CPU_ON -> {status}");
            rt::park();
        }
        while !SPINNING.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        rt::delay_ms(100);
        println!("reset: vcpu 0 resets the cell");
        let status = rt::system_reset();
        println!("reset: SYSTEM_RESET returned {status}");
        rt::park()
    }

    fn secondary(_: u64) -> ! {
        println!("reset: vcpu 1 spinning");
        SPINNING.store(true, Ordering::Release);
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-reset is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
