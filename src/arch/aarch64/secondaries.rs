//! Bringing the other cores up with PSCI `CPU_ON`, and which cores are
//! online.

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::asm;

use super::cpu::{self, Deadline};
use super::firmware;
use crate::arch::Print;
use crate::config::CPUS;

/// Bit i set once CPU i runs hypervisor Rust code.
static ONLINE: AtomicU64 = AtomicU64::new(0);

/// How long the boot core waits for the secondaries it started.
const SECONDARY_BOOT_TIMEOUT_US: u64 = 2_000_000;

/// Records that `cpu` is up and wakes anyone waiting for it.
pub(super) fn mark_online(cpu: usize) {
    ONLINE.fetch_or(1 << cpu, Ordering::Release);
    cpu::publish_and_sev();
}

/// Bitmask of online CPUs.
pub(super) fn online_mask() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

/// Entry point for CPUs started with PSCI CPU_ON (context id = CPU index).
fn secondary_entry_pa() -> u64 {
    unsafe extern "C" {
        fn secondary_entry();
    }
    secondary_entry as *const () as u64
}

/// PSCI CPU_ON for every configured CPU other than `boot_cpu`, entering at
/// `secondary_entry` with its index as context id, then waits (bounded)
/// until they are online. Failures and latecomers are printed; returns the
/// online mask.
pub(super) fn start(boot_cpu: usize, print: Print<'_>) -> u64 {
    let entry = secondary_entry_pa();
    let mut started = 0;
    for (index, mpidr) in CPUS.iter().map(|c| c.hw_id).enumerate() {
        if index == boot_cpu {
            continue;
        }
        // SAFETY: `secondary_entry` is written for exactly this: it runs with
        // the MMU off at EL2, checks that its MPIDR matches the context id,
        // enables the MMU with the published configuration (done: the boot
        // CPU's MMU is on) and only then uses its own stack slot.
        match unsafe { firmware::cpu_on(mpidr, entry, index as u64) } {
            Ok(()) => started |= 1 << index,
            Err(err) => {
                print(format_args!(
                    "psci: CPU_ON cpu {index} (MPIDR {mpidr:#x}) failed: {err}"
                ));
                crate::log::error!(
                    "PSCI CPU_ON cpu {=usize} (MPIDR {=u64:#x}) failed",
                    index,
                    mpidr
                );
            }
        }
    }
    let missing = wait_online(started, SECONDARY_BOOT_TIMEOUT_US);
    for (index, desc) in CPUS.iter().enumerate() {
        if missing & (1 << index) != 0 {
            print(format_args!(
                "cpu {index} (MPIDR {:#x}) did not come online",
                desc.hw_id
            ));
            crate::log::error!("cpu {=usize} did not come online", index);
        }
    }
    online_mask()
}

/// Waits in WFE (woken by SEV from [`mark_online`] and by the event stream)
/// until every CPU in `mask` is online or `timeout_us` passed; returns the
/// ones still missing.
fn wait_online(mask: u64, timeout_us: u64) -> u64 {
    let deadline = Deadline::after_micros(timeout_us);
    loop {
        let missing = mask & !online_mask();
        if missing == 0 || deadline.expired() {
            return missing;
        }
        asm::wfe();
    }
}
