//! `hello`: every vCPU of the cell says hello, then the cell powers off.
//!
//! vCPU 0 asks `CELL_INFO` for its cell id and vCPU count, starts the other
//! vCPUs with PSCI `CPU_ON`, waits until each has printed and called
//! `CPU_OFF` (PSCI `AFFINITY_INFO`), then calls `SYSTEM_OFF`, which stops
//! this cell only.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod guest {
    use rt::{println, psci};

    rt::entry!(main, secondary);

    fn main() -> ! {
        let info = rt::cell_info();
        let (cell, vcpus) = info.map_or((u64::MAX, 1), |i| (i.cell_id, i.vcpus.max(1)));
        println!("hello from vcpu 0 of {vcpus} (cell {cell})");
        for vcpu in 1..vcpus {
            let status = rt::start_vcpu(vcpu as u64, cell);
            if status != psci::SUCCESS {
                println!("CPU_ON vcpu {vcpu} -> {}", psci::status_name(status));
            }
        }
        for vcpu in 1..vcpus {
            // AFFINITY_INFO: 1 = OFF.
            while rt::affinity_info(vcpu as u64, 0) != 1 {
                rt::delay_ms(1);
            }
        }
        println!("all {vcpus} vcpus said hello; powering the cell off");
        let status = rt::system_off();
        println!("SYSTEM_OFF returned {status}");
        rt::park()
    }

    fn secondary(cell: u64) -> ! {
        let vcpu = rt::vcpu_index();
        println!("hello from vcpu {vcpu} (cell {cell})");
        rt::cpu_off();
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("guest-hello is a bare-metal guest: `cargo xtask build` builds it for its cell");
}
