//! `x86-intruder`: a guest that tries to reach outside its cell. Its boot
//! argument picks what it tries:
//!
//! - **0**: the isolation demo (`legacy`): a foreign port, MSRs, IPIs to
//!   the victim's core, `CPU_ON` of a vCPU it lacks, an undefined call and
//!   a write to the victim's canary, which ends the cell.
//! - **1..=7**: a group of the security review's catalogue of escape and
//!   robustness attempts (tests/support/catalogue.rs): 1 memory
//!   (`memory`), 2 devices and interrupts (`devices`), 3 CPUs and PSCI
//!   (`cpus`), 4 hypercalls (`calls`), 5 x86 instructions and modes
//!   (`instructions`), 6 availability (`dos`), 7 faults under the
//!   `restart` policy (`phoenix`).
//! - **8** (in the low byte; the seed and the operation count above it):
//!   the fuzzer (`fuzz`, `cargo xtask fuzz --machine bochs`).
//! - **9**: the soak's restart storm (`storm`).
//!
//! A catalogue group prints one line per attempt (`common::attempt`):
//!
//! ```text
//! attempt <n>.<k> <what>: contained (<observed>)
//! attempt <n>.<k> <what>: NOT CONTAINED (<observed>)
//! ```
//!
//! judged from what the guest itself observed; the Bochs tests add the
//! hypervisor's reports, its counters and the other cells' view. When a
//! group is done it writes `DONE` to the status channel (which the victim
//! and witness cells read), says so and powers its cell off.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod calls;
#[cfg(target_os = "none")]
mod common;
#[cfg(target_os = "none")]
mod cpus;
#[cfg(target_os = "none")]
mod devices;
#[cfg(target_os = "none")]
mod dos;
#[cfg(target_os = "none")]
mod fuzz;
#[cfg(target_os = "none")]
mod instructions;
#[cfg(target_os = "none")]
mod legacy;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod phoenix;
#[cfg(target_os = "none")]
mod realmode;
#[cfg(target_os = "none")]
mod storm;

#[cfg(target_os = "none")]
mod guest {
    rt::entry!(main, secondary);

    fn main() -> ! {
        match rt::boot_arg() & 0xff {
            1 => crate::memory::run(),
            2 => crate::devices::run(),
            3 => crate::cpus::run(),
            4 => crate::calls::run(),
            5 => crate::instructions::run(),
            6 => crate::dos::run(),
            7 => crate::phoenix::run(),
            8 => crate::fuzz::run(),
            9 => crate::storm::run(),
            _ => crate::legacy::run(),
        }
    }

    /// Every vCPU but the first: what its group wants of it.
    fn secondary(context: u64) -> ! {
        match rt::boot_arg() & 0xff {
            3 => crate::cpus::secondary(context),
            6 => crate::dos::secondary(context),
            _ => crate::legacy::spinner(context),
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "guest-x86-intruder is a bare-metal x86_64 guest for a Bulkhead cell; build it for x86_64-unknown-none"
    );
}
