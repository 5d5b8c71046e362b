//! `multi`: starts every vCPU of its cell; each prints a greeting, then a
//! tick every ~500 ms, forever.
//!
//! vCPU 0 asks `CELL_INFO` for the vCPU count and starts vCPUs `1..n` with
//! PSCI `CPU_ON` (virtual MPIDR i, context i). Without the hypervisor
//! (`CELL_INFO` unsupported) it starts MPIDR 1, 2, ... until `CPU_ON` fails.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Release};
    use rt::{MAX_VCPUS, println, psci};

    rt::entry!(main, secondary);

    /// vCPUs running (0 until vCPU 0 has started them all).
    static VCPUS: AtomicUsize = AtomicUsize::new(0);
    /// The cell id, or `u64::MAX` if unknown.
    static CELL: AtomicU64 = AtomicU64::new(u64::MAX);

    fn main() -> ! {
        let vcpus = match rt::cell_info() {
            Some(info) => {
                CELL.store(info.cell_id, Release);
                for vcpu in 1..info.vcpus {
                    let status = rt::start_vcpu(vcpu as u64, vcpu as u64);
                    if status != psci::SUCCESS {
                        let name = psci::status_name(status);
                        println!("multi: CPU_ON vcpu {vcpu} -> {status} ({name})");
                    }
                }
                info.vcpus.max(1)
            }
            None => {
                let started = (1..MAX_VCPUS)
                    .take_while(|&v| rt::start_vcpu(v as u64, v as u64) == psci::SUCCESS)
                    .count();
                println!("multi: no CELL_INFO; CPU_ON found {} vcpu(s)", started + 1);
                started + 1
            }
        };
        VCPUS.store(vcpus, Release);
        run(0)
    }

    fn secondary(context: u64) -> ! {
        run(context as usize)
    }

    fn run(context: usize) -> ! {
        let me = rt::vcpu_index();
        if context != me {
            println!("multi: vcpu {me} was started with context {context}");
        }
        let vcpus = loop {
            match VCPUS.load(Acquire) {
                0 => core::hint::spin_loop(),
                n => break n,
            }
        };
        match CELL.load(Acquire) {
            u64::MAX => println!("multi: hello from vcpu {me} of {vcpus} (cell ?)"),
            cell => println!("multi: hello from vcpu {me} of {vcpus} (cell {cell})"),
        }
        for tick in 1.. {
            rt::delay_ms(500);
            println!("multi: vcpu {me} tick {tick}");
        }
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-multi is a bare-metal AArch64 guest for a Bulkhead cell; build it for aarch64-unknown-none"
    );
}
