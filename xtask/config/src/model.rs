//! The checked configuration: plain values, every cross-check passed.
//!
//! Only [`crate::load()`] builds these ("parse, don't validate"); code
//! generation and `cargo xtask` consume them.

use std::path::PathBuf;

pub use crate::schema::IntcKind;
pub use bulkhead_tables::{
    Arch, CellConsole, FaultPolicy, ImageKind, LogTransport, Perm, PhysicalTimer, PortRange,
    VirtualCounter,
};

/// `range` widened to whole 4 KiB pages, as stage 2 maps it.
pub fn page_round(range: Range) -> Range {
    const PAGE: u64 = 0x1000;
    let base = range.base & !(PAGE - 1);
    let end = range.end().saturating_add(PAGE - 1) & !(PAGE - 1);
    Range::new(base, end - base)
}

/// A half-open byte range `base..base + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Range {
    /// A range; `size` may be zero (validation rejects that separately).
    pub const fn new(base: u64, size: u64) -> Self {
        Range { base, size }
    }

    /// One past the last byte (saturating).
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// Whether the two ranges share a byte.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.size > 0 && other.size > 0 && self.base < other.end() && other.base < self.end()
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains_range(&self, other: &Range) -> bool {
        other.base >= self.base && other.end() <= self.end()
    }

    /// Whether `addr` lies inside.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.end()
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}..{:#x}", self.base, self.end())
    }
}

/// Human-readable byte count: `16 MiB`, `4 KiB`, `1536 B`.
pub fn human_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}

/// The guest boot area of an x86_64 cell: the top 32 KiB of its first RAM
/// region (GDT, TSS, the identity page tables and the initial stack; see
/// docs/x86.md). The hypervisor rewrites it at every (re)start.
pub const X86_BOOT_AREA_SIZE: u64 = 32 << 10;

/// The smallest first RAM region an x86_64 cell may have: the boot area
/// and room for an image below it.
pub const X86_MIN_FIRST_REGION: u64 = 64 << 10;

/// The virtual COM1 every x86_64 cell with a virtual console sees.
pub const X86_VIRTUAL_COM1: PortRange = PortRange::new(0x3f8, 8);

/// Guest-physical address bits of an AArch64 cell: the hypervisor's
/// stage 2 walks a 39-bit IPA space from level 1 (`VTCR_EL2.T0SZ` = 25;
/// `STAGE2_IPA_BITS` in `src/arch/aarch64/model/descriptors.rs`, which the
/// stage-2 audit compares with this).
pub const AARCH64_IPA_BITS: u32 = 39;

/// Guest-physical address bits of an x86_64 cell: a 4-level EPT
/// (`ept::INPUT_BITS` in `src/arch/x86_64/model/ept.rs`).
pub const X86_GPA_BITS: u32 = 48;

/// Bytes of the virtual PL011 every AArch64 cell with a virtual console
/// sees at the hypervisor console's address (`MMIO_SIZE` in
/// `src/arch/aarch64/model/virtual_pl011.rs`).
pub const VIRTUAL_UART_WINDOW: u64 = 0x1000;

/// A physical CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    /// MPIDR affinity (AArch64) or APIC id (x86_64).
    pub hw_id: u64,
    /// The physical core it is a hardware thread of, when the platform
    /// says (CPUs with the same core are SMT siblings).
    pub core: Option<u32>,
}

/// The interrupt controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intc {
    /// Kind.
    pub kind: IntcKind,
    /// GIC version (2 or 3).
    pub version: u8,
    /// GICD.
    pub distributor: Option<Range>,
    /// GICR region (v3).
    pub redistributor: Option<Range>,
    /// GICC (v2).
    pub cpu_interface: Option<Range>,
    /// GICH (v2).
    pub virtual_control: Option<Range>,
    /// GICV (v2).
    pub virtual_cpu: Option<Range>,
    /// Maintenance INTID.
    pub maintenance_irq: u32,
    /// INTIDs implemented.
    pub irq_count: u32,
    /// The I/O APIC window (APIC).
    pub io_apic: Option<Range>,
    /// The ITS frames (GICv3, when the board has one).
    pub its: Option<Range>,
}

impl Intc {
    /// The controller's frames the platform declares, with their names:
    /// the hypervisor's (GICD, GICR, GICC, GICH, the I/O APIC), the guests'
    /// (GICV) and the ITS, and on x86 the local APIC page.
    pub fn frames(&self) -> Vec<(&'static str, Range)> {
        let mut frames: Vec<(&'static str, Range)> = [
            ("the GIC distributor (GICD)", self.distributor),
            ("the GIC redistributors (GICR)", self.redistributor),
            ("the GIC CPU interface (GICC)", self.cpu_interface),
            (
                "the GIC virtual interface control (GICH)",
                self.virtual_control,
            ),
            ("the GIC virtual CPU interface (GICV)", self.virtual_cpu),
            ("the GIC ITS", self.its),
            ("the I/O APIC", self.io_apic),
        ]
        .into_iter()
        .filter_map(|(name, range)| range.map(|r| (name, r)))
        .collect();
        if self.kind == IntcKind::Apic {
            frames.push(("the local APIC page", X86_LOCAL_APIC));
        }
        frames
    }
}

/// Every x86 CPU's local APIC page at its reset address (the hypervisor
/// runs the APICs in x2APIC mode, but the page is still decoded there).
pub const X86_LOCAL_APIC: Range = Range::new(0xfee0_0000, 0x1000);

/// A board device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Name.
    pub name: String,
    /// DT compatible.
    pub compatible: String,
    /// MMIO ranges.
    pub mmio: Vec<Range>,
    /// INTIDs (GIC) or GSIs (I/O APIC).
    pub irqs: Vec<u32>,
    /// x86 I/O port ranges (empty on AArch64).
    pub ports: Vec<PortRange>,
    /// Whether it can master DMA.
    pub dma: bool,
}

/// Bochs settings (x86_64 boards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bochs {
    /// `cpu: model=`.
    pub cpu_model: String,
    /// `megs:`.
    pub megs: u64,
    /// `cpu: ips=`.
    pub ips: u64,
}

/// QEMU settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qemu {
    /// Binary.
    pub binary: String,
    /// `-machine`.
    pub machine: String,
    /// `-cpu`.
    pub cpu: String,
    /// `-m` in MiB.
    pub memory_mib: u64,
    /// Extra `-device` values.
    pub devices: Vec<String>,
}

/// A checked platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// File stem.
    pub name: String,
    /// One line.
    pub description: String,
    /// Architecture.
    pub arch: Arch,
    /// Where the boot loader places the hypervisor.
    pub load_address: u64,
    /// CPUs.
    pub cpus: Vec<Cpu>,
    /// RAM.
    pub ram: Vec<Range>,
    /// Interrupt controller.
    pub intc: Intc,
    /// Console device index into `devices`.
    pub console: usize,
    /// Devices.
    pub devices: Vec<Device>,
    /// QEMU settings.
    pub qemu: Option<Qemu>,
    /// Bochs settings.
    pub bochs: Option<Bochs>,
}

impl Platform {
    /// Index of the device named `name`.
    pub fn device_index(&self, name: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.name == name)
    }

    /// The Rust target triple the hypervisor is built for. On AArch64 the
    /// soft-float target: the hypervisor never touches FP/SIMD registers,
    /// so a trap never clobbers a guest's.
    pub fn hypervisor_target_triple(&self) -> &'static str {
        match self.arch {
            Arch::Aarch64 => "aarch64-unknown-none-softfloat",
            Arch::X86_64 => "x86_64-unknown-none",
        }
    }

    /// How many guest-physical address bits a cell's stage 2 (EPT) maps.
    pub fn guest_address_bits(&self) -> u32 {
        match self.arch {
            Arch::Aarch64 => AARCH64_IPA_BITS,
            Arch::X86_64 => X86_GPA_BITS,
        }
    }

    /// The guest-physical ranges the hypervisor emulates (or, for the
    /// GICv2 GICC, maps the GICV frame at) in every cell, with their names:
    /// no region, window, channel or passthrough device of a cell may
    /// overlap them. `virtual_console` adds the virtual PL011 page (cells
    /// with `console = "virtual"` on AArch64), at `console`'s MMIO.
    pub fn emulated_frames(
        &self,
        console: usize,
        virtual_console: bool,
    ) -> Vec<(&'static str, Range)> {
        let mut frames = Vec::new();
        if self.arch != Arch::Aarch64 {
            return frames;
        }
        let intc = &self.intc;
        if let Some(gicd) = intc.distributor {
            frames.push(("the virtual GIC distributor (GICD)", gicd));
        }
        if let (3, Some(gicr)) = (intc.version, intc.redistributor) {
            frames.push(("the virtual GIC redistributors (GICR)", gicr));
        }
        if let (2, Some(gicc), Some(gicv)) = (intc.version, intc.cpu_interface, intc.virtual_cpu) {
            frames.push((
                "the GICv2 CPU interface (GICV mapped at the GICC address)",
                Range::new(gicc.base, gicc.size.min(gicv.size)),
            ));
        }
        if let (true, Some(uart)) = (
            virtual_console,
            self.devices.get(console).and_then(|d| d.mmio.first()),
        ) {
            frames.push((
                "the virtual console (PL011)",
                Range::new(uart.base, VIRTUAL_UART_WINDOW),
            ));
        }
        frames
    }

    /// The Rust target triple guest crates are built for.
    pub fn target_triple(&self) -> &'static str {
        match self.arch {
            Arch::Aarch64 => "aarch64-unknown-none",
            Arch::X86_64 => "x86_64-unknown-none",
        }
    }
}

/// `[hypervisor]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hypervisor {
    /// Reserved host RAM.
    pub memory: Range,
    /// Console device index.
    pub console: usize,
    /// defmt transport.
    pub log: LogTransport,
}

/// A memory region of a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Guest-physical start.
    pub gpa: u64,
    /// Host-physical start.
    pub hpa: u64,
    /// Length.
    pub size: u64,
    /// Permissions.
    pub perm: Perm,
    /// Device index when this maps device MMIO.
    pub device: Option<usize>,
}

impl Region {
    /// Guest-physical range.
    pub fn guest(&self) -> Range {
        Range::new(self.gpa, self.size)
    }

    /// Host-physical range.
    pub fn host(&self) -> Range {
        Range::new(self.hpa, self.size)
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A file named in the config.
    File,
    /// A guest crate under `tests/guests/` that xtask builds.
    Guest(String),
}

/// Where a segment's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentOrigin {
    /// The image file.
    Image,
    /// A Linux image's initrd file.
    Initrd,
    /// A Linux image's device tree (generated, or the hand-written file).
    DeviceTree,
}

/// A loadable part of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address.
    pub gpa: u64,
    /// Bytes in memory (file bytes plus zero fill).
    pub size: u64,
    /// Where its bytes start in the image file.
    pub file_offset: u64,
    /// How many bytes come from the file (the rest is zero fill).
    pub file_size: u64,
    /// Which file.
    pub origin: SegmentOrigin,
}

/// How a Linux cell boots (the arm64 boot protocol), when its files were
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxBoot {
    /// Guest-physical kernel range: `text_offset` above a 2 MiB boundary,
    /// `image_size` long (the entry point is its start).
    pub kernel: Range,
    /// The initrd file and its guest-physical range.
    pub initrd: Option<(PathBuf, Range)>,
    /// The kernel command line.
    pub bootargs: String,
    /// The 2 MiB block (2 MiB aligned) reserved for the device tree; x0 at
    /// entry is its start.
    pub dtb_slot: Range,
    /// A hand-written device tree file, if the config names one.
    pub dtb_file: Option<PathBuf>,
    /// The device tree blob (generated or read), once built.
    pub dtb: Vec<u8>,
}

/// A cell's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Origin.
    pub source: ImageSource,
    /// Resolved file path.
    pub path: PathBuf,
    /// Format.
    pub kind: ImageKind,
    /// File size, when the file was read.
    pub file_size: Option<u64>,
    /// Where it lands in guest memory, when known.
    pub segments: Vec<Segment>,
    /// Its own entry point (ELF header, or a raw image's load address),
    /// when known.
    pub entry: Option<u64>,
    /// Linux boot details (kind `linux`, files read).
    pub linux: Option<LinuxBoot>,
    /// The config's `boot-arg` (raw and ELF images).
    pub boot_arg: Option<u64>,
}

impl Image {
    /// What the first vCPU gets in x0 (AArch64) or RDI (x86_64): a Linux
    /// cell's device tree address, else the config's `boot-arg`, else 0.
    pub fn boot_argument(&self) -> u64 {
        self.linux
            .as_ref()
            .map(|linux| linux.dtb_slot.base)
            .or(self.boot_arg)
            .unwrap_or(0)
    }
}

/// A checked cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Index in the cell table.
    pub id: usize,
    /// Name.
    pub name: String,
    /// Platform CPU indices, ascending.
    pub cpus: Vec<u32>,
    /// Memory regions, in config order.
    pub memory: Vec<Region>,
    /// Passed-through device indices.
    pub devices: Vec<usize>,
    /// All INTIDs the cell owns (its devices' and extra ones), ascending.
    pub irqs: Vec<u32>,
    /// Image.
    pub image: Image,
    /// Guest-physical entry point, when known (ELF images need the file).
    pub entry: Option<u64>,
    /// Console kind.
    pub console: CellConsole,
    /// Fault policy.
    pub fault_policy: FaultPolicy,
    /// EL1 physical timer access.
    pub physical_timer: PhysicalTimer,
    /// Virtual counter offset.
    pub virtual_counter: VirtualCounter,
}

/// One side of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEnd {
    /// Cell index.
    pub cell: usize,
    /// Where the cell sees it.
    pub gpa: u64,
    /// The cell's access.
    pub perm: Perm,
}

/// A checked shared-memory channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Name.
    pub name: String,
    /// Host memory.
    pub memory: Range,
    /// Ends.
    pub ends: Vec<ChannelEnd>,
}

/// A fully checked product configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Config file stem, e.g. `qemu-virt-demo`.
    pub name: String,
    /// Config file.
    pub path: PathBuf,
    /// Platform file.
    pub platform_path: PathBuf,
    /// Platform.
    pub platform: Platform,
    /// Hypervisor settings.
    pub hypervisor: Hypervisor,
    /// Cells.
    pub cells: Vec<Cell>,
    /// Channels.
    pub channels: Vec<Channel>,
    /// What the checker warns about (the config is accepted all the same):
    /// `cargo xtask check` prints these.
    pub warnings: Vec<crate::diag::Diagnostic>,
}

impl Cell {
    /// Ranges the cell's stage-2 tables map: its regions, its devices' MMIO
    /// ranges and its channel windows.
    pub fn stage2_ranges(&self, config: &Config) -> Vec<Range> {
        let mut ranges: Vec<Range> = self.memory.iter().map(Region::guest).collect();
        for &device in &self.devices {
            ranges.extend(config.platform.devices[device].mmio.iter().copied());
        }
        for channel in &config.channels {
            for end in channel.ends.iter().filter(|e| e.cell == self.id) {
                ranges.push(Range::new(end.gpa, channel.memory.size));
            }
        }
        // GICv2: the GICV frame appears where the guest expects its GICC.
        let intc = &config.platform.intc;
        if let (2, Some(gicc), Some(gicv)) = (intc.version, intc.cpu_interface, intc.virtual_cpu) {
            ranges.push(Range::new(gicc.base, gicc.size.min(gicv.size)));
        }
        ranges
    }

    /// An upper bound on the stage-2 tables the cell needs (4 KiB granule):
    /// the root, and per mapped range one level-2 table per GiB it touches
    /// plus a level-3 table at each unaligned end. AArch64 walks a 39-bit
    /// IPA from level 1; an x86 EPT walks 48 bits from level 0, so each
    /// range also counts one level-1 table per 512 GiB it touches.
    pub fn stage2_table_bound(&self, config: &Config) -> usize {
        const GIB: u64 = 1 << 30;
        const LEVEL0_SPAN: u64 = 512 * GIB;
        let level0 = config.platform.arch == Arch::X86_64;
        1 + self
            .stage2_ranges(config)
            .iter()
            .map(|r| {
                let last_byte = r.end().saturating_sub(1);
                let level1 = if level0 {
                    (last_byte / LEVEL0_SPAN - r.base / LEVEL0_SPAN + 1) as usize
                } else {
                    0
                };
                level1 + (last_byte / GIB - r.base / GIB + 1) as usize + 2
            })
            .sum::<usize>()
    }

    /// The first RAM region (config order), where images start and, on
    /// x86_64, the boot area lies.
    pub fn first_ram(&self) -> Option<&Region> {
        self.memory.iter().find(|r| r.device.is_none())
    }

    /// x86_64: the guest-physical boot area (top 32 KiB of the first RAM
    /// region), when the cell has one.
    pub fn x86_boot_area(&self) -> Option<Range> {
        self.first_ram()
            .filter(|r| r.size >= X86_BOOT_AREA_SIZE)
            .map(|r| Range::new(r.guest().end() - X86_BOOT_AREA_SIZE, X86_BOOT_AREA_SIZE))
    }
}

impl Config {
    /// The cell that owns platform CPU `cpu`, if any.
    pub fn cell_of_cpu(&self, cpu: u32) -> Option<&Cell> {
        self.cells.iter().find(|c| c.cpus.contains(&cpu))
    }

    /// Every file the configuration was read from (for rebuild tracking).
    pub fn input_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone(), self.platform_path.clone()];
        files.extend(self.cells.iter().map(|c| c.image.path.clone()));
        files
    }
}
