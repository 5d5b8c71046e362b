//! What the AArch64 code takes from the generated configuration.
//!
//! The boot assembly scans the CPU table for its MPIDR, the console lives
//! at the hypervisor console's base, and the EL2 map covers the console and
//! the interrupt controller frames the platform file names.

use crate::config::{CPU_COUNT, HYPERVISOR, MemRange, PLATFORM};

/// Number of CPUs the hypervisor brings up (the platform's CPU list).
pub const MAX_CPUS: usize = CPU_COUNT;
const _: () = assert!(MAX_CPUS <= 64, "online masks are 64-bit");

/// Usable stack per CPU. A power of two: the exception vectors detect a
/// stack overflow with one bit test (see `boot.rs`).
pub const STACK_SIZE: usize = 16 * 1024;
/// Unmapped guard below every stack.
pub const STACK_GUARD_SIZE: usize = 4 * 1024;

/// Console PL011 base address.
pub const CONSOLE_UART_BASE: usize = HYPERVISOR.console.base.as_u64() as usize;
/// PL011 reference clock (UARTCLK): 24 MHz on QEMU `virt`.
pub const CONSOLE_UART_CLOCK_HZ: u32 = 24_000_000;
/// Console line rate (8N1).
pub const CONSOLE_BAUD_RATE: u32 = 115_200;

/// An MMIO range the hypervisor maps for itself (Device-nGnRE, XN).
#[derive(Debug, Clone, Copy)]
pub struct DeviceRegion {
    /// Name for boot messages.
    pub name: &'static str,
    /// Physical base (page aligned).
    pub base: u64,
    /// Size in bytes (whole pages).
    pub size: u64,
}

const fn region(name: &'static str, range: MemRange) -> DeviceRegion {
    // Frames smaller than a page (none on QEMU virt) still take a page.
    let base = range.base.as_u64() & !0xfff;
    let end = (range.base.as_u64() + range.size + 0xfff) & !0xfff;
    DeviceRegion {
        name,
        base,
        size: end - base,
    }
}

const CONSOLE_MMIO: MemRange = MemRange::new(HYPERVISOR.console.base, 0x1000);

/// MMIO the hypervisor maps at EL2 (empty frames have size 0 and are
/// skipped by the mapper).
pub static DEVICE_REGIONS: [DeviceRegion; 6] = [
    region("console", CONSOLE_MMIO),
    region("gicd", PLATFORM.intc.distributor),
    region("gicr", PLATFORM.intc.redistributor),
    region("gicc", PLATFORM.intc.cpu_interface),
    region("gich", PLATFORM.intc.virtual_control),
    region("gicv", PLATFORM.intc.virtual_cpu),
];
