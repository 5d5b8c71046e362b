//! `guest-x86-rt`: the runtime shared by Bulkhead's x86_64 bare-metal test
//! guests (the x86 counterpart of `guest-rt`).
//!
//! # Guest boot contract (docs/x86.md, "Guest entry state")
//!
//! * The image is an ELF linked by `link.ld` at guest-physical `0x20_0000`
//!   (`_start`, in `.text.boot`, comes first; each guest's `build.rs` passes
//!   the script). The cell's RAM starts at guest-physical 0 and is at least
//!   4 MiB; its top 32 KiB is the hypervisor's boot area (GDT, identity
//!   page tables), and the image with its `.bss` and stacks ends below
//!   `0x30_0000` (checked at link time).
//! * Every vCPU enters in 64-bit mode with the hypervisor's GDT (`CS` =
//!   `0x08`) and identity page tables, interrupts off, `RSP` = the boot
//!   area, `RDI` = the boot argument (vCPU 0) or `CPU_ON`'s context
//!   (others), `RSI` = the vCPU index. vCPU 0 enters at `_start` (which
//!   zeroes `.bss`); the others at `secondary_start` ([`secondary_entry`]),
//!   started by [`start_vcpu`]. Each switches at once to its own
//!   [`STACK_SIZE`] stack (index `RSI`; at most [`MAX_VCPUS`], others are
//!   turned off), loads the runtime's IDT and calls the guest's entry (see
//!   [`entry!`]).
//! * [`vcpu_index`] is derived from the stack pointer: vCPU *i* always runs
//!   on stack *i* (interrupts and exceptions stay on the current stack).
//! * Exceptions print `x86-rt: exception {vector} at rip {rip:#x} (error
//!   {code:#x})` and park the vCPU, except a `#GP` raised by `RDMSR`/`WRMSR`,
//!   which is recorded and skipped ([`try_rdmsr`], [`try_wrmsr`]), and
//!   any exception raised inside a probe ([`try_insn!`], [`try_read_u64`]),
//!   which resumes after the probe with the exception recorded.
//! * [`run_user`] runs a function at CPL 3 (the runtime's own GDT,
//!   [`load_gdt`], has user, 32-bit and 16-bit segments).
//!   Interrupts (vectors 32..=255) call the handler registered with
//!   [`set_handler`], then the runtime writes the x2APIC EOI.
//! * Hypercalls use `VMCALL`: function id in `RAX`, arguments in `RDI`,
//!   `RSI`, `RDX`, results in `RAX`, `RDI`, `RSI`, `RDX` ([`hypercall`]).
//!   The function ids are PSCI's ([`psci`]) and Bulkhead's own
//!   ([`HC_CELL_INFO`], ...).
//! * The console is COM1 (a polled 16550 at port `0x3f8`), virtualised by
//!   the hypervisor, which tags each line with the cell's name.
//!   [`println!`] writes whole lines under a cross-vCPU spin lock, with
//!   interrupts off.
//!
//! The target is `x86_64-unknown-none` (soft-float: no SSE state to save,
//! no red zone) built with `-C relocation-model=static`.
#![cfg_attr(not(test), no_std)]

pub use guest_common::psci;

pub use guest_common::{LineBuf, Rng};

#[cfg(target_os = "none")]
mod apic;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod call;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod interrupt;
#[cfg(target_os = "none")]
mod probe;
#[cfg(target_os = "none")]
mod user;

#[cfg(target_os = "none")]
pub use apic::{
    apic_enable, apic_id, eoi, send_icr, send_ipi, send_self_ipi, timer_periodic, timer_stop,
};
#[cfg(target_os = "none")]
pub use boot::{boot_area, boot_arg, count_boot, park_secondary, secondary_entry, vcpu_index};
#[cfg(target_os = "none")]
pub use call::{
    CellInfo, abi_version, affinity_info, cell_info, cpu_off, cpu_on, hypercall, psci_version,
    start_vcpu, system_off, system_reset,
};
#[cfg(target_os = "none")]
pub use console::{print_line, write_raw};
#[cfg(target_os = "none")]
pub use cpu::{
    Cpuid, cpuid, delay_spins, disable_interrupts, enable_and_wait, enable_interrupts, inb, outb,
    park, rdmsr, rdtsc, try_rdmsr, try_read_u64, try_wrmsr, wait_for_interrupt, wrmsr,
};
#[cfg(target_os = "none")]
pub use interrupt::set_handler;
#[cfg(target_os = "none")]
pub use probe::{Fault, probe_outcome, probe_slot};
#[cfg(target_os = "none")]
pub use user::{
    CODE16, CODE32, CODE64, DATA, DATA16, USER_CODE, USER_DATA, allow_user_access, load_gdt,
    run_user,
};

/// A `#GP` raised by `RDMSR` or `WRMSR` (see [`try_rdmsr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gp;

impl core::fmt::Display for Gp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("#GP")
    }
}

/// A `#GP` raised by a memory probe ([`try_read_u64`]), with its error
/// code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpCode(pub u64);

impl core::fmt::Display for GpCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#GP({:#x})", self.0)
    }
}

/// Most vCPUs a guest can run (vCPU indices `0..MAX_VCPUS`).
pub const MAX_VCPUS: usize = 8;
/// Stack bytes per vCPU.
pub const STACK_SIZE: usize = 16 * 1024;
/// Guest-physical address the image is linked at (`link.ld`).
pub const IMAGE_BASE: u64 = 0x20_0000;

/// Bulkhead hypercall: `RAX` = ABI version (`0x0001_0000` = 1.0).
pub const HC_ABI_VERSION: u32 = 0xC600_0000;
/// Bulkhead hypercall: `RAX` = 0, `RDI` = cell id, `RSI` = vCPU count,
/// `RDX` = the caller's vCPU index.
pub const HC_CELL_INFO: u32 = 0xC600_0001;
/// Bulkhead hypercall: write `RSI` bytes at guest-physical `RDI` to the
/// cell's console; `RAX` = bytes taken (at most 256) or a negative error.
pub const HC_CONSOLE_WRITE: u32 = 0xC600_0002;
/// Bulkhead `COUNTER(index)`: `RAX` = 0, `RDI` = the cell's counter `index`.
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
