//! A cell: its memory, image, console and policies.

use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};
use crate::perm::Perm;

/// What backs a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM.
    Ram,
    /// MMIO of the device with this index in `DEVICES`.
    Device(usize),
}

/// A cell's memory region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionDesc {
    /// Where the cell sees it.
    pub gpa: GuestPhysAddr,
    /// What backs it.
    pub hpa: PhysAddr,
    /// Length in bytes.
    pub size: u64,
    /// Access.
    pub perm: Perm,
    /// RAM or device.
    pub kind: RegionKind,
}

/// Format of a cell image (`kind = "raw"`, `"elf"` or `"linux"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum ImageKind {
    /// Flat binary, copied to `load` (default: the first region's start).
    Raw,
    /// ELF executable; its load segments are placed at their physical
    /// addresses (guest-physical), its entry is the default entry point.
    Elf,
    /// An arm64 Linux kernel `Image`, booted by the Linux boot protocol:
    /// placed `text_offset` above a 2 MiB boundary of the cell's first RAM
    /// region, with its initrd and device tree at the top of that region.
    Linux,
}

/// A part of an image to place in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentDesc {
    /// Where it goes (guest-physical).
    pub gpa: GuestPhysAddr,
    /// Bytes it occupies: `data`, then zeros.
    pub memory_size: u64,
    /// The pristine bytes, part of the hypervisor image (read-only).
    pub data: &'static [u8],
}

/// A cell's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageDesc {
    /// Format.
    pub kind: ImageKind,
    /// File name, or `guest:<crate>`.
    pub name: &'static str,
    /// Bytes of the file (0 in host builds, which do not read images).
    pub size: u64,
    /// What to load where (empty in host builds).
    pub segments: &'static [SegmentDesc],
}

/// How a cell's console is provided (`console = "virtual"`, `"passthrough"`
/// or `"none"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum CellConsole {
    /// An emulated UART (PL011, or COM1 on x86_64) multiplexed onto the
    /// hypervisor's console (the default).
    #[default]
    Virtual,
    /// The cell owns a UART from its `devices` directly.
    Passthrough,
    /// No console.
    None,
}

/// What happens when a cell faults: touches memory it does not own, ...
/// (`fault-policy = "inject"`, `"halt"` or `"restart"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum FaultPolicy {
    /// Inject an abort (a synchronous external abort; #GP on x86_64) into
    /// the guest.
    Inject,
    /// Stop the cell's cores (the default).
    #[default]
    Halt,
    /// Reload the cell's image and start it again.
    Restart,
}

/// Whether a cell's guest may use the EL1 physical timer (`CNTP_*`)
/// (`physical-timer = "trap"` or `"allow"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum PhysicalTimer {
    /// Accesses trap: reads return zero, writes are ignored, and the cell's
    /// console gets a report (the default). Guests use the virtual timer.
    #[default]
    Trap,
    /// The guest programs it directly; its interrupt (PPI 30) is injected
    /// like the virtual timer's.
    Allow,
}

/// What a cell's virtual counter (`CNTVCT_EL0`) shows
/// (`virtual-counter = "physical"` or `"cell-start"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum VirtualCounter {
    /// The physical count: `CNTVOFF_EL2` = 0 (the default).
    #[default]
    Physical,
    /// Zero when the cell starts (and again at each restart).
    CellStart,
}

/// A cell.
#[derive(Debug, Clone, Copy)]
pub struct CellDesc {
    /// Id (index in `CELLS`).
    pub id: CellId,
    /// Name.
    pub name: &'static str,
    /// Owned CPUs, ascending.
    pub cpus: &'static [CpuId],
    /// Memory regions.
    pub memory: &'static [RegionDesc],
    /// Passed-through devices (indices into `DEVICES`).
    pub devices: &'static [usize],
    /// Owned interrupts, ascending.
    pub irqs: &'static [IrqNum],
    /// Image.
    pub image: ImageDesc,
    /// Entry point.
    pub entry: GuestPhysAddr,
    /// x0 (AArch64) or RDI (x86_64) at the first vCPU's entry: a Linux
    /// cell's device tree address (boot protocol), else the config's
    /// `boot-arg`, else 0.
    pub boot_arg: u64,
    /// Console.
    pub console: CellConsole,
    /// Fault policy.
    pub fault_policy: FaultPolicy,
    /// EL1 physical timer access.
    pub physical_timer: PhysicalTimer,
    /// Virtual counter offset.
    pub virtual_counter: VirtualCounter,
}
