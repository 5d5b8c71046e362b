//! `guest-rt`: the runtime shared by Bulkhead's bare-metal test guests.
//!
//! # Guest boot contract
//!
//! * The image is an ELF linked by `link.ld` at guest-physical `0x4020_0000`
//!   (`_start`, in `.text.boot`, comes first). The cell's RAM starts at
//!   guest-physical `0x4000_0000` and is at least 16 MiB; the first 2 MiB
//!   stay free.
//! * vCPU 0 enters `_start` at EL1h with the MMU and caches off; x0 holds a
//!   device tree address or 0 and is ignored. `.bss` is zeroed on the first
//!   entry only.
//! * The guest starts its other vCPUs itself with PSCI `CPU_ON` (see
//!   [`start_vcpu`]); they enter at `secondary_start` with x0 = the context
//!   id given to `CPU_ON`.
//! * vCPU 0's first instruction reads CNTVCT_EL0; [`entry_counter`] returns
//!   that value (how long after reset the guest started).
//! * A vCPU's index is `MPIDR_EL1.Aff0` ([`vcpu_index`]); at most
//!   [`MAX_VCPUS`] vCPUs, each with a [`STACK_SIZE`] stack.
//! * Interrupts stay masked (DAIF). A synchronous exception inside a
//!   [`probe`] (e.g. an abort the hypervisor injects: EC 0x25, DFSC 0x10)
//!   is recorded and skipped, so the probe returns a [`Fault`]; any other
//!   exception prints a report and parks the vCPU.
//! * PSCI and the Bulkhead hypercalls use HVC with the SMCCC register
//!   convention (x0..x3 in and out). Without the hypervisor (plain QEMU at
//!   EL1) QEMU's PSCI answers every HVC, Bulkhead ids with `NOT_SUPPORTED`;
//!   where a call is an undefined instruction instead (SMC without EL3),
//!   [`hvc`]/[`smc`] report `NOT_SUPPORTED` too ([`try_hvc`]/[`try_smc`]
//!   return the fault).
//! * The console is a PL011 at `0x0900_0000`. With the MMU off every data
//!   access is Device-nGnRnE, so the runtime never uses exclusives: the
//!   console lock is Lamport's bakery (load-acquire/store-release only).
//!
//! A guest is a `#![no_std]`, `#![no_main]` binary that names its entry
//! points with [`entry!`] and links with `link.ld` (`.cargo/config.toml` passes it for
//! the `aarch64-unknown-none` target, which only guests use).
#![cfg_attr(not(test), no_std)]

mod fault;
pub use guest_common::psci;

pub use fault::Fault;
pub use guest_common::{LineBuf, Rng};

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod call;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod exception;
#[cfg(target_os = "none")]
pub mod gic;
#[cfg(target_os = "none")]
pub mod timer;

#[cfg(target_os = "none")]
pub use arch::{counter, counter_freq, delay_ms, park, vcpu_index};
#[cfg(target_os = "none")]
pub use boot::{boot_arg, entry_counter, park_secondary, secondary_entry};
#[cfg(target_os = "none")]
pub use call::{
    CellInfo, abi_version, affinity_info, cell_counter, cell_info, console_write, counters,
    cpu_off, cpu_on, hvc, psci_version, smc, start_vcpu, system_off, system_reset, try_hvc,
    try_smc,
};
#[cfg(target_os = "none")]
pub use console::{print_line, write_raw};
#[cfg(target_os = "none")]
pub use exception::{
    El0Exit, probe, probe_el0, probe_exec, probe_read, probe_read32, probe_write, probe_write32,
    set_irq_handler,
};

/// Adds one to `counter` and returns the new value, without exclusives
/// (the MMU is off, so they are not reliable): only for counters with a
/// single writer, e.g. one vCPU's interrupt handler.
pub fn bump(counter: &core::sync::atomic::AtomicU64) -> u64 {
    use core::sync::atomic::Ordering::Relaxed;
    let value = counter.load(Relaxed) + 1;
    counter.store(value, Relaxed);
    value
}

/// Most vCPUs a guest can run (vCPU indices `0..MAX_VCPUS`).
pub const MAX_VCPUS: usize = 8;
/// Stack bytes per vCPU.
pub const STACK_SIZE: usize = 16 * 1024;
/// Guest-physical base of the cell's RAM.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Smallest RAM a cell running these guests has.
pub const MIN_RAM_SIZE: u64 = 16 << 20;

/// Bulkhead hypercall: `x0` = ABI version (`0x0001_0000` = 1.0).
pub const HC_ABI_VERSION: u32 = 0xC600_0000;
/// Bulkhead hypercall: `x0` = 0, `x1` = cell id, `x2` = vCPU count,
/// `x3` = the caller's vCPU index.
pub const HC_CELL_INFO: u32 = 0xC600_0001;
/// Bulkhead hypercall: write `x2` bytes at guest-physical `x1` to the
/// cell's console; `x0` = bytes taken (at most 256) or a negative error.
pub const HC_CONSOLE_WRITE: u32 = 0xC600_0002;
/// Bulkhead `COUNTER(index)`: x0 = 0, x1 = the cell's counter `index`.
pub const HC_COUNTER: u32 = 0xC600_0003;

/// Names the guest's entry points: `entry!(main)` or
/// `entry!(main, secondary)`.
///
/// `main: fn() -> !` runs on vCPU 0; `secondary: fn(context: u64) -> !`
/// runs on every vCPU started with [`start_vcpu`] (default:
/// [`park_secondary`]).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, $crate::park_secondary);
    };
    ($main:path, $secondary:path) => {
        #[unsafe(export_name = "__rt_main")]
        extern "C" fn __rt_main() -> ! {
            let main: fn() -> ! = $main;
            main()
        }

        #[unsafe(export_name = "__rt_secondary")]
        extern "C" fn __rt_secondary(context: u64) -> ! {
            let secondary: fn(u64) -> ! = $secondary;
            secondary(context)
        }
    };
}

/// Prints one line on the console (formatted into a stack buffer of
/// [`LINE_MAX`] bytes, then written whole under the console lock).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::print_line(::core::format_args!($($arg)*))
    };
}

/// Longest line [`println!`] prints (longer lines are cut).
pub const LINE_MAX: usize = 160;
