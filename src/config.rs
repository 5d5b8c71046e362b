//! The compiled-in configuration: descriptor types and generated tables.
//!
//! `build.rs` checks the product TOML on the host and writes
//! `$OUT_DIR/config.rs`, which fills the `static`s below from these
//! const-constructible types. Nothing here parses or allocates.

// Every type serves both architectures and the checker's tables; a variant
// or field one image never uses is not dead.
#![allow(dead_code)]

use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};
pub(crate) use crate::mm::Perm;

/// A physical range `base..base + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemRange {
    /// First byte.
    pub(crate) base: PhysAddr,
    /// Length in bytes (0 for an absent frame).
    pub(crate) size: u64,
}

impl MemRange {
    /// A range.
    pub(crate) const fn new(base: PhysAddr, size: u64) -> Self {
        MemRange { base, size }
    }

    /// One past the last byte.
    pub(crate) const fn end(&self) -> PhysAddr {
        PhysAddr::new(self.base.as_u64() + self.size)
    }

    /// Whether the range is absent (size 0).
    pub(crate) const fn is_empty(&self) -> bool {
        self.size == 0
    }
}

/// CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    /// Armv8-A at EL2.
    Aarch64,
    /// x86_64 with VT-x.
    X86_64,
}

/// Interrupt controller frames (GIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IntcDesc {
    /// GIC version, 2 or 3.
    pub(crate) version: u8,
    /// GICD.
    pub(crate) distributor: MemRange,
    /// GICR region (v3; empty on v2).
    pub(crate) redistributor: MemRange,
    /// GICC (v2; empty on v3).
    pub(crate) cpu_interface: MemRange,
    /// GICH (v2).
    pub(crate) virtual_control: MemRange,
    /// GICV (v2).
    pub(crate) virtual_cpu: MemRange,
    /// Maintenance interrupt.
    pub(crate) maintenance_irq: IrqNum,
    /// INTIDs implemented (GIC) or I/O APIC inputs (APIC).
    pub(crate) irq_count: u32,
    /// The I/O APIC's MMIO window (x86; empty on a GIC or when unknown).
    pub(crate) io_apic: MemRange,
}

/// UART models the hypervisor can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UartKind {
    /// Arm PL011.
    Pl011,
    /// 16550-compatible.
    Ns16550,
}

/// A UART and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UartDesc {
    /// Index into `DEVICES`.
    pub(crate) device: usize,
    /// Model.
    pub(crate) kind: UartKind,
    /// MMIO base (0 for a port-mapped UART).
    pub(crate) base: PhysAddr,
    /// I/O port base of a port-mapped UART (x86 COM1: 0x3f8); 0 for an
    /// MMIO UART.
    pub(crate) port: u16,
}

/// A range of x86 I/O ports `base..base + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRange {
    /// First port.
    pub(crate) base: u16,
    /// Number of ports (at least 1).
    pub(crate) size: u16,
}

impl PortRange {
    /// A range.
    pub(crate) const fn new(base: u16, size: u16) -> Self {
        PortRange { base, size }
    }

    /// Whether `port` lies in the range.
    pub(crate) const fn contains(&self, port: u16) -> bool {
        port >= self.base && (port - self.base) < self.size
    }
}

/// The board.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlatformDesc {
    /// Platform name.
    pub(crate) name: &'static str,
    /// Architecture.
    pub(crate) arch: Arch,
    /// Where the boot loader places the hypervisor.
    pub(crate) load_address: PhysAddr,
    /// RAM ranges.
    pub(crate) ram: &'static [MemRange],
    /// Interrupt controller.
    pub(crate) intc: IntcDesc,
    /// Board console.
    pub(crate) console: UartDesc,
}

/// Where `defmt` log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogTransport {
    /// ARM semihosting (QEMU or a debug probe).
    Semihosting,
    /// In-memory ring buffer.
    Ring,
    /// Dropped.
    None,
}

/// The hypervisor's own resources.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HypervisorDesc {
    /// Host RAM it owns.
    pub(crate) memory: MemRange,
    /// UART for the banner, partition table and panics.
    pub(crate) console: UartDesc,
    /// defmt transport.
    pub(crate) log: LogTransport,
}

/// A physical CPU. `repr(C)`: the boot assembly reads `hw_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct CpuDesc {
    /// MPIDR affinity (AArch64) or APIC id (x86_64).
    pub(crate) hw_id: u64,
    /// The cell that owns the core, if any.
    pub(crate) cell: Option<CellId>,
}

/// A board device.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceDesc {
    /// Name.
    pub(crate) name: &'static str,
    /// DT compatible.
    pub(crate) compatible: &'static str,
    /// MMIO ranges.
    pub(crate) mmio: &'static [MemRange],
    /// Interrupts.
    pub(crate) irqs: &'static [IrqNum],
    /// x86 I/O port ranges (empty on AArch64).
    pub(crate) ports: &'static [PortRange],
}

/// What backs a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegionKind {
    /// RAM.
    Ram,
    /// MMIO of the device with this index in `DEVICES`.
    Device(usize),
}

/// A cell's memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegionDesc {
    /// Where the cell sees it.
    pub(crate) gpa: GuestPhysAddr,
    /// What backs it.
    pub(crate) hpa: PhysAddr,
    /// Length in bytes.
    pub(crate) size: u64,
    /// Access.
    pub(crate) perm: Perm,
    /// RAM or device.
    pub(crate) kind: RegionKind,
}

/// Image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    /// Flat binary.
    Raw,
    /// ELF executable.
    Elf,
    /// arm64 Linux `Image` with its initrd and device tree.
    Linux,
}

/// A part of an image to place in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentDesc {
    /// Where it goes (guest-physical).
    pub(crate) gpa: GuestPhysAddr,
    /// Bytes it occupies: `data`, then zeros.
    pub(crate) memory_size: u64,
    /// The pristine bytes, part of the hypervisor image (read-only).
    pub(crate) data: &'static [u8],
}

/// A cell's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageDesc {
    /// Format.
    pub(crate) kind: ImageKind,
    /// File name, or `guest:<crate>`.
    pub(crate) name: &'static str,
    /// Bytes of the file (0 in host builds, which do not read images).
    pub(crate) size: u64,
    /// What to load where (empty in host builds).
    pub(crate) segments: &'static [SegmentDesc],
}

/// A cell's console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellConsole {
    /// Emulated PL011 multiplexed onto the hypervisor UART.
    Virtual,
    /// The cell owns a UART.
    Passthrough,
    /// None.
    None,
}

/// What happens when a cell faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultPolicy {
    /// Inject an abort into the guest.
    Inject,
    /// Stop the cell.
    Halt,
    /// Reload and restart the cell.
    Restart,
}

/// Whether a cell may use the EL1 physical timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhysicalTimer {
    /// Accesses trap: read as zero, writes ignored, reported.
    Trap,
    /// Direct access; PPI 30 injected like the virtual timer's.
    Allow,
}

/// What a cell's virtual counter shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VirtualCounter {
    /// The physical count (`CNTVOFF_EL2` = 0).
    Physical,
    /// Zero at the cell's (re)start.
    CellStart,
}

/// A cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellDesc {
    /// Id (index in `CELLS`).
    pub(crate) id: CellId,
    /// Name.
    pub(crate) name: &'static str,
    /// Owned CPUs, ascending.
    pub(crate) cpus: &'static [CpuId],
    /// Memory regions.
    pub(crate) memory: &'static [RegionDesc],
    /// Passed-through devices (indices into `DEVICES`).
    pub(crate) devices: &'static [usize],
    /// Owned interrupts, ascending.
    pub(crate) irqs: &'static [IrqNum],
    /// Image.
    pub(crate) image: ImageDesc,
    /// Entry point.
    pub(crate) entry: GuestPhysAddr,
    /// x0 at the first vCPU's entry: a Linux cell's device tree address
    /// (boot protocol), 0 for other images.
    pub(crate) boot_arg: u64,
    /// Console.
    pub(crate) console: CellConsole,
    /// Fault policy.
    pub(crate) fault_policy: FaultPolicy,
    /// EL1 physical timer access.
    pub(crate) physical_timer: PhysicalTimer,
    /// Virtual counter offset.
    pub(crate) virtual_counter: VirtualCounter,
}

/// One side of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelEndDesc {
    /// Cell.
    pub(crate) cell: CellId,
    /// Where it sees the channel.
    pub(crate) gpa: GuestPhysAddr,
    /// Its access.
    pub(crate) perm: Perm,
}

/// A shared-memory channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelDesc {
    /// Name.
    pub(crate) name: &'static str,
    /// Host memory.
    pub(crate) memory: MemRange,
    /// Ends.
    pub(crate) ends: &'static [ChannelEndDesc],
}

/// The tables generated from the product TOML (generated items are `pub`,
/// and not every image uses every one of them).
#[allow(unreachable_pub, dead_code)]
pub(crate) mod generated {
    #[allow(clippy::wildcard_imports)]
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

#[allow(unused_imports, reason = "not every image uses every table")]
pub(crate) use generated::{
    CELL_COUNT, CELL_NAMES, CELLS, CHANNEL_COUNT, CHANNELS, CONFIG_NAME, CPU_COUNT, CPUS,
    DEVICE_COUNT, DEVICES, HYPERVISOR, MAX_CPUS_PER_CELL, MAX_REGIONS_PER_CELL, PLATFORM,
    STAGE2_TABLES_PER_CELL,
};

/// The whole compiled-in configuration, as one value to pass around (and to
/// build by hand in tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables<'a> {
    /// Config name.
    pub(crate) name: &'a str,
    /// Board.
    pub(crate) platform: &'a PlatformDesc,
    /// Hypervisor resources.
    pub(crate) hypervisor: &'a HypervisorDesc,
    /// CPUs.
    pub(crate) cpus: &'a [CpuDesc],
    /// Devices.
    pub(crate) devices: &'a [DeviceDesc],
    /// Cells.
    pub(crate) cells: &'a [CellDesc],
    /// Channels.
    pub(crate) channels: &'a [ChannelDesc],
}

/// The tables compiled into this image.
pub(crate) static TABLES: Tables<'static> = Tables {
    name: CONFIG_NAME,
    platform: &PLATFORM,
    hypervisor: &HYPERVISOR,
    cpus: &CPUS,
    devices: &DEVICES,
    cells: &CELLS,
    channels: &CHANNELS,
};
