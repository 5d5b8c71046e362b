//! `catalogue`: the security review's catalogue of escape and robustness
//! attempts (section 4), AArch64 side, one line per attempt in the grammar
//! of tests/support/catalogue.rs.
//!
//! The cell's `boot-arg` picks the run: 1 the containment groups (memory,
//! CPUs, devices, interrupts, system registers, calls), 2 availability
//! (the report budget, floods, storms, the whole hypervisor call range),
//! 3 the life cycle (resets under itself), 4 the shared trigger register,
//! 5 the fuzzer (seed in bits 63:32, operations in bits 31:8, 0 for ever:
//! `cargo xtask fuzz`), 6 the soak's restart storm.
//! vCPU 1 starts only by `CPU_ON` and then runs jobs for vCPU 0.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod attempt;
#[cfg(target_os = "none")]
mod calls;
#[cfg(target_os = "none")]
mod cpus;
#[cfg(target_os = "none")]
mod devices;
#[cfg(target_os = "none")]
mod dos;
#[cfg(target_os = "none")]
mod fuzz;
#[cfg(target_os = "none")]
mod icfgr;
#[cfg(target_os = "none")]
mod interrupts;
#[cfg(target_os = "none")]
mod jobs;
#[cfg(target_os = "none")]
mod lifecycle;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod mmu;
#[cfg(target_os = "none")]
mod storm;
#[cfg(target_os = "none")]
mod sysregs;

#[cfg(target_os = "none")]
mod guest {
    use core::sync::atomic::Ordering::Relaxed;

    use rt::{gic, println};

    use crate::{calls, cpus, devices, dos, icfgr, interrupts, lifecycle, memory, sysregs};

    rt::entry!(main, secondary);

    /// The IRQ handler of both vCPUs: counts what arrives.
    fn irq() {
        let iar = gic::acknowledge();
        let intid = gic::intid(iar);
        if let Some(count) = interrupts::RECEIVED.get(intid as usize) {
            count.store(count.load(Relaxed) + 1, Relaxed);
        }
        match intid {
            27 => {
                lifecycle::tick();
            }
            30 => {
                let count = &sysregs::PHYSICAL_TIMER_IRQS;
                count.store(count.load(Relaxed) + 1, Relaxed);
            }
            33 => {
                let count = &devices::UART_IRQS;
                count.store(count.load(Relaxed) + 1, Relaxed);
            }
            _ => {}
        }
        if intid < 1020 {
            gic::end(iar);
        }
    }

    fn main() -> ! {
        let group = rt::boot_arg() & 0xff;
        match (rt::abi_version(), rt::cell_info()) {
            (Some(abi), Some(cell)) => println!(
                "catalogue: start group {group} (bulkhead abi {abi:#x}, cell {}, {} vcpus)",
                cell.cell_id, cell.vcpus
            ),
            _ => println!("catalogue: start group {group} (no bulkhead hypervisor)"),
        }
        rt::set_irq_handler(irq);
        match group {
            1 => {
                gic::init_distributor();
                gic::init_cpu(0xffff | 1 << 25 | 1 << 26 | 1 << 27 | 1 << 30);
                semihosting();
                memory::run();
                cpus::run();
                devices::run();
                interrupts::run();
                sysregs::run();
                calls::run();
                println!("catalogue: done");
                rt::system_off();
            }
            2 => dos::run(),
            3 => lifecycle::run(),
            4 => icfgr::run(),
            5 => {
                let arg = rt::boot_arg();
                crate::fuzz::run(arg >> 32, (arg >> 8) & 0xff_ffff)
            }
            6 => crate::storm::run(),
            _ => println!("catalogue: no group {group}"),
        }
        rt::park()
    }

    /// Finding F3: a semihosting `SYS_OPEN` (mode "w") from EL1. With
    /// semihosting on the QEMU line it would create a host file; without,
    /// it is an Undefined Instruction in this cell.
    fn semihosting() {
        static NAME: &[u8] = b"bulkhead-f3-escape\0";
        let block = [NAME.as_ptr() as u64, 4, NAME.len() as u64 - 1];
        // SAFETY: a lone HLT in an asm block clobbering the C ABI; the
        // parameter block lives across it; a fault is skipped.
        let result = unsafe {
            rt::probe(|| {
                let handle: u64;
                core::arch::asm!(
                    "hlt #0xf000",
                    inout("x0") 1u64 => handle,
                    in("x1") block.as_ptr(),
                    options(nostack),
                    clobber_abi("C"),
                );
                handle
            })
        };
        match result {
            Err(fault) if fault.is_undefined() => {
                println!("catalogue: f3 semihosting sys_open: undefined instruction")
            }
            Err(fault) => println!("catalogue: f3 semihosting sys_open: {fault}"),
            Ok(handle) => {
                println!("catalogue: f3 semihosting sys_open: handle {handle:#x}, NOT CONTAINED")
            }
        }
    }

    fn secondary(context: u64) -> ! {
        if context == cpus::WORKER {
            gic::init_cpu(0xffff);
            cpus::worker()
        }
        println!(
            "catalogue: vcpu {} started with context {context:#x}: NOT CONTAINED",
            rt::vcpu_index()
        );
        rt::park()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-catalogue is a bare-metal AArch64 guest for a Bulkhead cell; build it for aarch64-unknown-none"
    );
}
