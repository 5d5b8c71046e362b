//! x86_64 with VT-x and EPT (see docs/x86.md).
//!
//! The pure parts (EPT entry encoding, exit decoding, I/O and MSR bitmaps,
//! x2APIC ICR checks, CPUID filtering, the guest boot area) build
//! everywhere so they are unit-tested on the host; everything that touches
//! the CPU builds for the bare-metal target only.

pub mod boot_area;
pub mod cpuid;
pub mod ept;
pub mod exit;
pub mod io_bitmap;
pub mod msr_bitmap;
pub mod x2apic;
