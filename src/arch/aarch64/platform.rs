//! What the AArch64 code takes from the generated configuration.
//!
//! The boot assembly scans the CPU table for its MPIDR, the console lives
//! at the hypervisor console's base, and the EL2 map covers the console and
//! the interrupt controller frames the platform file names.

use crate::config::{CPU_COUNT, HYPERVISOR, MemRange, PLATFORM};
use crate::mm::hypervisor_map::DeviceWindow;

/// Number of CPUs the hypervisor brings up (the platform's CPU list).
pub(super) const MAX_CPUS: usize = CPU_COUNT;
const _: () = assert!(MAX_CPUS <= 64, "online masks are 64-bit");

/// Usable stack per CPU. A power of two: the exception vectors detect a
/// stack overflow with one bit test (see `stacks`).
pub(super) const STACK_SIZE: usize = 16 * 1024;
/// Unmapped guard below every stack.
pub(super) const STACK_GUARD_SIZE: usize = 4 * 1024;

/// Console PL011 base address.
pub(super) const CONSOLE_UART_BASE: usize = HYPERVISOR.console.base.as_u64() as usize;
/// PL011 reference clock (UARTCLK): 24 MHz on QEMU `virt`.
pub(super) const CONSOLE_UART_CLOCK_HZ: u32 = 24_000_000;
/// Console line rate (8N1).
pub(super) const CONSOLE_BAUD_RATE: u32 = 115_200;

const CONSOLE_MMIO: MemRange = MemRange::new(HYPERVISOR.console.base, 0x1000);

/// MMIO the hypervisor maps at EL2 (absent frames have size 0 and are
/// skipped).
pub(super) static DEVICE_WINDOWS: [DeviceWindow; 6] = [
    window("console", CONSOLE_MMIO),
    window("gicd", PLATFORM.intc.distributor),
    window("gicr", PLATFORM.intc.redistributor),
    window("gicc", PLATFORM.intc.cpu_interface),
    window("gich", PLATFORM.intc.virtual_control),
    window("gicv", PLATFORM.intc.virtual_cpu),
];

const fn window(name: &'static str, range: MemRange) -> DeviceWindow {
    DeviceWindow::pages(name, range.base.as_u64(), range.size)
}
