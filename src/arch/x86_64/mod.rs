//! x86_64 with VT-x and EPT: the [`X86_64`] back end (see docs/x86.md).
//!
//! `model` (pure decoding, bitmaps, descriptor formats, the virtual 16550)
//! builds everywhere and is unit-tested on the host; everything else
//! touches the CPU and builds for the bare-metal target only. In layers
//! (nothing calls upward):
//!
//! - drivers and helpers, which never name the running hypervisor: `cpu`
//!   (MSRs, ports, the local APIC, waiting), `uart16550` (the console),
//!   `entry_asm` (multiboot2 entry assembly, AP stacks and trampoline), `idt`,
//!   `ioapic`, `vmx` (capabilities, VMXON, VMCS access), `vcpu` (guest
//!   registers, VM entry, VMCS set-up), `page_tables` (the hypervisor's own
//!   map), `cell_maps` (EPT, I/O and MSR bitmaps, boot areas),
//!   `secondaries` (INIT-SIPI-SIPI);
//! - `back_end`: `impl Arch for X86_64`, on those;
//! - entry points, which use [`HV`]: `cpu_entry` (the Rust entries of the
//!   entry assembly), `vcpu_loop` (entering the guest and handling its exits),
//!   `exit_handlers` (what each VM exit means and its answer),
//!   `host_exceptions` (NMIs and faults in VMX root mode).

pub(crate) mod model;

#[cfg(target_os = "none")]
mod back_end;
#[cfg(target_os = "none")]
mod cell_maps;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod cpu_entry;
#[cfg(target_os = "none")]
mod entry_asm;
#[cfg(target_os = "none")]
mod exit_handlers;
#[cfg(target_os = "none")]
mod host_exceptions;
#[cfg(target_os = "none")]
mod idt;
#[cfg(target_os = "none")]
mod ioapic;
#[cfg(target_os = "none")]
mod page_tables;
#[cfg(target_os = "none")]
mod secondaries;
#[cfg(target_os = "none")]
mod uart16550;
#[cfg(target_os = "none")]
mod vcpu;
#[cfg(target_os = "none")]
mod vcpu_loop;
#[cfg(target_os = "none")]
mod vmx;

/// The x86_64 back end (`impl Arch` is in `back_end`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct X86_64;

/// The running hypervisor.
#[cfg(target_os = "none")]
pub(crate) static HV: crate::hypervisor::Hypervisor<
    X86_64,
    { crate::config::CPU_COUNT },
    { crate::config::CELL_COUNT },
> = crate::hypervisor::Hypervisor::new(X86_64, &crate::config::CELL_NAMES);
