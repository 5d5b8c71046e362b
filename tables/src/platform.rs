//! The board: architecture, CPUs, interrupt controller, UARTs and devices.

use crate::addr::{CellId, IrqNum, PhysAddr};
use crate::range::{MemRange, PortRange};

/// CPU architecture of a platform (`arch = "aarch64"` or `"x86_64"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Arch {
    /// Armv8-A, hypervisor at EL2.
    Aarch64,
    /// x86_64 with VT-x and EPT.
    X86_64,
}

/// Interrupt controller frames (GIC) or the I/O APIC's size and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntcDesc {
    /// GIC version, 2 or 3 (0 on an APIC).
    pub version: u8,
    /// GICD.
    pub distributor: MemRange,
    /// GICR region (v3; empty on v2).
    pub redistributor: MemRange,
    /// GICC (v2; empty on v3).
    pub cpu_interface: MemRange,
    /// GICH (v2).
    pub virtual_control: MemRange,
    /// GICV (v2).
    pub virtual_cpu: MemRange,
    /// Maintenance interrupt.
    pub maintenance_irq: IrqNum,
    /// INTIDs implemented (GIC) or I/O APIC inputs (APIC).
    pub irq_count: u32,
    /// The I/O APIC's MMIO window (x86; empty on a GIC or when unknown).
    pub io_apic: MemRange,
}

/// UART models the hypervisor can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartKind {
    /// Arm PL011.
    Pl011,
    /// 16550-compatible.
    Ns16550,
}

/// A UART and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartDesc {
    /// Index into `DEVICES`.
    pub device: usize,
    /// Model.
    pub kind: UartKind,
    /// MMIO base (0 for a port-mapped UART).
    pub base: PhysAddr,
    /// I/O port base of a port-mapped UART (x86 COM1: 0x3f8); 0 for an
    /// MMIO UART.
    pub port: u16,
}

/// The board.
#[derive(Debug, Clone, Copy)]
pub struct PlatformDesc {
    /// Platform name.
    pub name: &'static str,
    /// Architecture.
    pub arch: Arch,
    /// Where the boot loader places the hypervisor.
    pub load_address: PhysAddr,
    /// RAM ranges.
    pub ram: &'static [MemRange],
    /// Interrupt controller.
    pub intc: IntcDesc,
    /// Board console.
    pub console: UartDesc,
}

/// A physical CPU. `repr(C)`: the boot assembly reads `hw_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct CpuDesc {
    /// MPIDR affinity (AArch64) or APIC id (x86_64).
    pub hw_id: u64,
    /// The cell that owns the core, if any.
    pub cell: Option<CellId>,
}

/// A board device.
#[derive(Debug, Clone, Copy)]
pub struct DeviceDesc {
    /// Name.
    pub name: &'static str,
    /// DT compatible.
    pub compatible: &'static str,
    /// MMIO ranges.
    pub mmio: &'static [MemRange],
    /// Interrupts.
    pub irqs: &'static [IrqNum],
    /// x86 I/O port ranges (empty on AArch64).
    pub ports: &'static [PortRange],
}
