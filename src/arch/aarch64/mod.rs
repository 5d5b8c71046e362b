//! AArch64 at EL2.
//!
//! `descriptors` (pure encodings) builds everywhere so it is unit-tested on
//! the host; everything that touches registers builds for the target only.
//!
//! Boot: `boot` (entry assembly, per-core stacks) -> `start` (the boot
//! flow), with `exception` (EL2 vectors), `mmu` (EL2 map and MMU enable),
//! `pl011` + `console` (the hypervisor's UART), `psci` (firmware calls),
//! `smp` (bringing cores up and stopping them), `panic`, and `logger` +
//! `semihosting` (defmt records off the console).

pub mod model;

#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod calls;
#[cfg(target_os = "none")]
pub mod cells;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod exception;
#[cfg(target_os = "none")]
pub mod fault;
#[cfg(target_os = "none")]
pub mod gic;
#[cfg(target_os = "none")]
pub mod layout;
#[cfg(target_os = "none")]
pub mod logger;
#[cfg(target_os = "none")]
pub mod mmu;
#[cfg(target_os = "none")]
pub mod panic;
#[cfg(target_os = "none")]
pub mod pl011;
#[cfg(target_os = "none")]
pub mod platform;
#[cfg(target_os = "none")]
pub mod psci;
#[cfg(target_os = "none")]
pub mod semihosting;
#[cfg(target_os = "none")]
pub mod smp;
#[cfg(target_os = "none")]
pub mod start;
#[cfg(target_os = "none")]
pub mod timer;
#[cfg(target_os = "none")]
pub mod trap;
#[cfg(target_os = "none")]
pub mod vconsole;
#[cfg(target_os = "none")]
pub mod vcpu;
#[cfg(target_os = "none")]
pub mod vgic;
#[cfg(target_os = "none")]
pub mod vgic_v2;
#[cfg(target_os = "none")]
pub mod vgic_v3;
