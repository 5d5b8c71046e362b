//! AArch64 at EL2: the [`Aarch64`] back end.
//!
//! `model` (pure decoding and device models) builds everywhere and is
//! unit-tested on the host; everything else touches registers and builds
//! for the target only. In layers (nothing calls upward):
//!
//! - drivers and helpers, which never name the running hypervisor:
//!   `cpu` (identity, barriers, waiting), `stacks`, `layout` (linker
//!   symbols), `el2_mmu` (the EL2 map and MMU), `pl011` (the console UART),
//!   `firmware` (PSCI and SMCCC calls to EL3), `secondaries` (bringing the
//!   other cores up), `gic` (the physical GIC and the virtual CPU
//!   interface, GICv2 or GICv3 chosen at compile time), `virtual_interrupts` (the cells' vGIC at
//!   run time), `timer`, `guest_memory` (stage 2, image loading), `vcpu`
//!   (EL2 controls, entering a guest), `inject` (exceptions into a guest),
//!   `trap_frame`;
//! - `back_end`: `impl Arch for Aarch64`, on those;
//! - entry points, which use [`HV`]: `entry_asm` (the entry assembly) and
//!   `cpu_entry` (the Rust entries), `vectors` (the EL2 exception vectors), `guest_exit`
//!   (what each exit means and its answer), `fatal` (unhandled exceptions
//!   and stack overflows, which end in the core's panic report).

pub(crate) mod model;

#[cfg(target_os = "none")]
mod back_end;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod cpu_entry;
#[cfg(target_os = "none")]
mod el2_mmu;
#[cfg(target_os = "none")]
mod entry_asm;
#[cfg(target_os = "none")]
mod fatal;
#[cfg(target_os = "none")]
mod firmware;
#[cfg(target_os = "none")]
mod gic;
#[cfg(target_os = "none")]
mod guest_exit;
#[cfg(target_os = "none")]
mod guest_memory;
#[cfg(target_os = "none")]
mod id_registers;
#[cfg(target_os = "none")]
mod inject;
#[cfg(target_os = "none")]
mod layout;
#[cfg(target_os = "none")]
mod pl011;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod secondaries;
#[cfg(target_os = "none")]
mod stacks;
#[cfg(target_os = "none")]
mod timer;
#[cfg(target_os = "none")]
mod trap_frame;
#[cfg(target_os = "none")]
mod vcpu;
#[cfg(target_os = "none")]
mod vectors;
#[cfg(target_os = "none")]
mod virtual_interrupts;

/// The AArch64 back end (`impl Arch` is in `back_end`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Aarch64;

/// The running hypervisor.
#[cfg(target_os = "none")]
pub(crate) static HV: crate::hypervisor::Hypervisor<
    Aarch64,
    { crate::config::CPU_COUNT },
    { crate::config::CELL_COUNT },
> = crate::hypervisor::Hypervisor::new(Aarch64, &crate::config::CELL_NAMES);
