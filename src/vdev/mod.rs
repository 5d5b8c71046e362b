//! Emulated devices the hypervisor shows cells (trapped MMIO).

pub mod pl011;
pub mod uart16550;
