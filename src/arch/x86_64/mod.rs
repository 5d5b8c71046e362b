//! x86_64 with VT-x and EPT (see docs/x86.md).
//!
//! The pure parts (EPT entry encoding, exit decoding, I/O and MSR bitmaps,
//! x2APIC ICR checks, CPUID filtering, the guest boot area) build
//! everywhere so they are unit-tested on the host; everything that touches
//! the CPU builds for the bare-metal target only.

pub mod model;

#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod cells;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod exits;
#[cfg(target_os = "none")]
pub mod idt;
#[cfg(target_os = "none")]
pub mod ioapic;
#[cfg(target_os = "none")]
pub mod logger;
#[cfg(target_os = "none")]
pub mod mmu;
#[cfg(target_os = "none")]
pub mod panic;
#[cfg(target_os = "none")]
pub mod start;
#[cfg(target_os = "none")]
pub mod vconsole;
#[cfg(target_os = "none")]
pub mod vcpu;
#[cfg(target_os = "none")]
pub mod vmx;
