//! Secondary CPU bring-up, parking, and the stop-all protocol used on panic.
//!
//! Shared state (all in `.bss`, only touched with the MMU on):
//! * `ONLINE`: bit i set once CPU i runs hypervisor Rust code;
//! * `STOP_REQUESTED`: the flag parked CPUs wait on (WFE) - set by the first
//!   panicking CPU, followed by DSB + SEV;
//! * `STOPPED`: counter of CPUs that acknowledged the stop and halted.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use aarch64_cpu::asm;

use super::boot;
use super::console::println;
use super::cpu::{self, Deadline};
use super::psci;
use crate::config::CPUS;

static ONLINE: AtomicU64 = AtomicU64::new(0);
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
static STOP_OWNER: AtomicUsize = AtomicUsize::new(NO_CPU);
static STOPPED: AtomicUsize = AtomicUsize::new(0);

const NO_CPU: usize = usize::MAX;

/// How long the panicking CPU waits for the others to acknowledge.
const STOP_TIMEOUT_US: u64 = 100_000;
/// Backstop for the same wait in case the system counter does not tick.
const STOP_SPIN_LIMIT: u64 = 50_000_000;

/// Record that `cpu` is up and wake anyone waiting for it.
pub fn mark_online(cpu: usize) {
    ONLINE.fetch_or(1 << cpu, Ordering::Release);
    cpu::publish_and_sev();
}

/// Bitmask of online CPUs.
pub fn online_mask() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

/// PSCI CPU_ON every configured CPU other than `boot_cpu`, entering at
/// `secondary_entry` with its index as context id. Returns the mask of CPUs
/// firmware agreed to start; failures are reported on the console.
pub fn start_secondaries(boot_cpu: usize) -> u64 {
    let entry = boot::secondary_entry_pa();
    let mut started = 0;
    for (index, mpidr) in CPUS.iter().map(|c| c.hw_id).enumerate() {
        if index == boot_cpu {
            continue;
        }
        // SAFETY: `secondary_entry` is written for exactly this: it runs with
        // the MMU off at EL2, checks that its MPIDR matches the context id,
        // enables the MMU with the published configuration (done: the boot
        // CPU's MMU is on) and only then uses its own stack slot.
        match unsafe { psci::cpu_on(mpidr, entry, index as u64) } {
            Ok(()) => {
                started |= 1 << index;
                crate::log::debug!(
                    "PSCI CPU_ON cpu {=usize} (MPIDR {=u64:#x}): ok",
                    index,
                    mpidr
                );
            }
            Err(err) => {
                println!("psci: CPU_ON cpu {index} (MPIDR {mpidr:#x}) failed: {err}");
                crate::log::error!(
                    "PSCI CPU_ON cpu {=usize} (MPIDR {=u64:#x}) failed",
                    index,
                    mpidr
                );
            }
        }
    }
    started
}

/// Result of [`wait_online`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOnline {
    /// Every requested CPU is online.
    AllOnline,
    /// These CPUs did not come up in time.
    TimedOut {
        /// Bitmask of the missing CPUs.
        missing: u64,
    },
}

/// Wait in WFE (woken by SEV from [`mark_online`] and by the event stream)
/// until every CPU in `mask` is online or `timeout_us` passed. Stops this CPU
/// if a panic elsewhere requests it meanwhile.
pub fn wait_online(mask: u64, timeout_us: u64) -> WaitOnline {
    let deadline = Deadline::after_micros(timeout_us);
    loop {
        stop_if_requested();
        let missing = mask & !online_mask();
        if missing == 0 {
            return WaitOnline::AllOnline;
        }
        if deadline.expired() {
            return WaitOnline::TimedOut { missing };
        }
        asm::wfe();
    }
}

/// Park this CPU: sleep in WFE until the shared flag requests something.
/// The only request today is "stop" (a panic elsewhere).
pub fn park() -> ! {
    loop {
        stop_if_requested();
        // Race-free: the requester stores the flag, DSBs, then SEVs. If that
        // SEV lands between the check above and this WFE, the event register
        // is already set and WFE returns immediately.
        asm::wfe();
    }
}

/// If a stop was requested (a panic elsewhere), acknowledge it and halt.
pub fn stop_if_requested() {
    if STOP_REQUESTED.load(Ordering::Acquire) {
        stop_this_cpu();
    }
}

/// Acknowledge a stop request and halt (exceptions masked, WFI forever).
pub fn stop_this_cpu() -> ! {
    cpu::mask_all_exceptions();
    STOPPED.fetch_add(1, Ordering::Release);
    cpu::publish_and_sev();
    cpu::halt()
}

/// Result of [`stop_other_cpus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// We coordinated the stop.
    Coordinated {
        /// Online CPUs other than us when the stop was requested.
        others: usize,
        /// How many acknowledged within the timeout.
        stopped: usize,
    },
    /// Another CPU is already coordinating a stop (concurrent panics).
    AlreadyInProgress,
}

/// Ask every other CPU to stop and wait (bounded) for their acknowledgements.
/// Busy-waits on purpose: this runs on the panic path, where WFE could sleep
/// forever if the event stream was never enabled.
pub fn stop_other_cpus(me: usize) -> StopOutcome {
    if STOP_OWNER
        .compare_exchange(NO_CPU, me, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return StopOutcome::AlreadyInProgress;
    }
    STOP_REQUESTED.store(true, Ordering::Release);
    cpu::publish_and_sev();
    // Cores waiting for work sleep in WFI: ring their doorbell too.
    for other in (0..CPUS.len()).filter(|&c| c != me && online_mask() & (1 << c) != 0) {
        super::gic::kick(other);
    }

    let others = (online_mask() & !(1 << me)).count_ones() as usize;
    let deadline = Deadline::after_micros(STOP_TIMEOUT_US);
    let mut spins = 0u64;
    while STOPPED.load(Ordering::Acquire) < others && !deadline.expired() && spins < STOP_SPIN_LIMIT
    {
        core::hint::spin_loop();
        spins += 1;
    }
    // A CPU that came online after the snapshot above may also have acked.
    let stopped = STOPPED.load(Ordering::Acquire).min(others);
    StopOutcome::Coordinated { others, stopped }
}
