//! Raw TOML schema: what a user writes, before any cross-checking.
//!
//! Every struct rejects unknown keys and every value a checker may complain
//! about keeps its source span, so errors point at `file:line:col`. The doc
//! comment on each field is the reference for TOML authors; the commented
//! examples in `platforms/` and `configs/` follow it key by key. The values
//! the hypervisor's tables hold too (architecture, permissions, image kind,
//! log transport, the cell policies) are defined once, in `bulkhead-tables`,
//! which derives their `Deserialize` in the TOML's spelling; they are
//! re-exported here.

pub use bulkhead_tables::{
    Arch, CellConsole, FaultPolicy, ImageKind, LogTransport, Perm, PhysicalTimer, VirtualCounter,
};
use serde::Deserialize;
use toml::Spanned;

/// A byte count: an integer (`0x20_0000`) or a string with a binary suffix
/// (`"2M"`, `"2 MiB"`, `"512K"`, `"1G"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Size(n)),
            Raw::Text(s) => parse_size(&s).map(Size).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a size: write an integer (0x20_0000) or a \
                     number with K, M or G (\"2M\", \"512 KiB\")"
                ))
            }),
        }
    }
}

/// Parses `"2M"`, `"2 MiB"`, `"512k"`, `"1G"`, `"4096"`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_hexdigit() || c == '_' || c == 'x'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.replace('_', "");
    let value = match number.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => number.parse::<u64>().ok()?,
    };
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    value.checked_mul(1u64 << shift)
}

/// An MMIO or RAM range on the board.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRange {
    /// First byte (host physical).
    pub base: Spanned<u64>,
    /// Length in bytes.
    pub size: Spanned<Size>,
}

/// One physical CPU of the board.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCpu {
    /// AArch64: the core's MPIDR_EL1 affinity value (Aff3..Aff0).
    pub mpidr: Option<u64>,
    /// x86_64: the core's local APIC id.
    pub apic_id: Option<u32>,
    /// Optional: the physical core this CPU is a hardware thread of. CPUs
    /// with the same `core` are SMT siblings (they share caches and
    /// execution units); the checker warns when siblings serve different
    /// cells. Leave it out on boards without SMT.
    pub core: Option<u32>,
}

/// A range of x86 I/O ports.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawPortRange {
    /// First port (0..=0xffff).
    pub base: Spanned<u64>,
    /// Number of ports (at least 1; the range ends at 0x10000 at most).
    pub size: Spanned<u64>,
}

/// Interrupt controller kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntcKind {
    /// Arm Generic Interrupt Controller.
    Gic,
    /// x86 local APIC + I/O APIC.
    Apic,
}

/// The board's interrupt controller.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawIntc {
    /// `gic` or `apic`.
    pub kind: Spanned<IntcKind>,
    /// GIC architecture version: 2 or 3 (GIC only, required there).
    pub version: Option<Spanned<u8>>,
    /// GICD frame.
    pub distributor: Option<RawRange>,
    /// GICv3: the redistributor region (all cores' frames).
    pub redistributor: Option<RawRange>,
    /// GICv2: GICC, the physical CPU interface.
    pub cpu_interface: Option<RawRange>,
    /// GICv2: GICH, the virtual interface control frame.
    pub virtual_control: Option<RawRange>,
    /// GICv2: GICV, the virtual CPU interface guests see as their GICC.
    pub virtual_cpu: Option<RawRange>,
    /// INTID of the virtual-interface maintenance interrupt (a PPI; GIC
    /// only, required there).
    pub maintenance_irq: Option<Spanned<u32>>,
    /// GIC: number of INTIDs the distributor implements (SGIs + PPIs +
    /// SPIs), required. APIC: number of I/O APIC inputs (GSIs), default 24.
    pub irq_count: Option<Spanned<u32>>,
    /// APIC: the I/O APIC's MMIO window (optional; the hypervisor routes
    /// the console's receive interrupt through it).
    pub io_apic: Option<RawRange>,
    /// GICv3, optional: the ITS frames, if the board has an ITS (the
    /// hypervisor does not use it; the checker keeps devices, RAM and cells
    /// off it).
    pub its: Option<RawRange>,
}

/// A device on the board that can be passed through to a cell.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawDevice {
    /// Name cells use to claim the device.
    pub name: Spanned<String>,
    /// Device-tree compatible string (informational, copied to guest DTs).
    pub compatible: String,
    /// MMIO ranges.
    #[serde(default)]
    pub mmio: Vec<RawRange>,
    /// Interrupts the device raises: GIC INTIDs (SPIs: 32 + the DT
    /// number), or I/O APIC inputs (GSIs, ISA IRQ n = GSI n) on x86.
    #[serde(default)]
    pub irqs: Vec<Spanned<u32>>,
    /// x86 only: I/O port ranges, e.g. `[{ base = 0x3f8, size = 8 }]`.
    #[serde(default)]
    pub ports: Vec<RawPortRange>,
    /// Whether the device can master DMA (virtio, network, storage, any
    /// PCIe function). The hypervisor programs no SMMU/IOMMU, so a cell
    /// that owns such a device can reach all memory through it: the
    /// checker warns. Default `false`.
    #[serde(default)]
    pub dma: bool,
}

/// How `cargo xtask run` starts this board under QEMU.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawQemu {
    /// QEMU binary, e.g. `qemu-system-aarch64`.
    pub binary: String,
    /// `-machine` value.
    pub machine: String,
    /// `-cpu` value.
    pub cpu: String,
    /// `-m` value in MiB; must match the RAM ranges above.
    pub memory_mib: u64,
    /// Extra `-device` values (e.g. a virtio-mmio device a cell can own).
    #[serde(default)]
    pub devices: Vec<String>,
}

/// How `cargo xtask run` starts this board under Bochs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawBochs {
    /// `cpu: model=` value, a Bochs CPU model with VMX and EPT
    /// (`corei7_skylake_x`).
    pub cpu_model: String,
    /// `megs:`: guest RAM in MiB; must cover the RAM ranges above.
    pub megs: Spanned<u64>,
    /// `cpu: ips=`: emulated instructions per second (Bochs' notion of
    /// time: the BIOS and GRUB wait in virtual time).
    pub ips: Spanned<u64>,
}

/// `platforms/<board>.toml`: facts about a board, nothing about a product.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawPlatform {
    /// One line describing the board.
    pub description: String,
    /// `aarch64` or `x86_64`.
    pub arch: Spanned<Arch>,
    /// Physical address the boot loader places the hypervisor image at.
    pub hypervisor_load_address: Spanned<u64>,
    /// CPUs, in the order the config numbers them (0, 1, ...).
    pub cpus: Spanned<Vec<Spanned<RawCpu>>>,
    /// RAM ranges.
    pub ram: Spanned<Vec<RawRange>>,
    /// Interrupt controller.
    pub interrupt_controller: RawIntc,
    /// Name of the device (in `[[device]]`) that is the board's console UART.
    pub console: Spanned<String>,
    /// Devices.
    #[serde(default, rename = "device")]
    pub devices: Vec<RawDevice>,
    /// How to run the board under QEMU (absent for boards QEMU cannot model).
    pub qemu: Option<RawQemu>,
    /// How to run the board under Bochs (x86_64 boards).
    pub bochs: Option<RawBochs>,
}

/// `[hypervisor]` in a product config.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawHypervisor {
    /// Host RAM reserved for the hypervisor: image, stacks, page tables.
    /// Must contain the platform's `hypervisor-load-address`.
    pub memory: Spanned<RawRange>,
    /// UART the hypervisor prints on (a platform device name); defaults to
    /// the platform's `console`.
    pub console: Option<Spanned<String>>,
    /// Where `defmt` log records go: `ring` (AArch64 default) or `none`
    /// (x86_64 default).
    pub log: Option<Spanned<LogTransport>>,
}

/// One `[[cell.memory]]` region.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawRegion {
    /// Guest-physical address the cell sees.
    pub gpa: Spanned<u64>,
    /// Host-physical address backing it.
    pub hpa: Spanned<u64>,
    /// Length in bytes (a multiple of 4 KiB).
    pub size: Spanned<Size>,
    /// Permissions, a subset of `"rwx"`.
    pub perm: Spanned<Perm>,
    /// Set to a platform device name to map (part of) that device's MMIO
    /// instead of RAM; `hpa..hpa+size` must then lie inside the device.
    pub device: Option<Spanned<String>>,
}

/// `[cell.image]`: what the cell runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawImage {
    /// A file, relative to the config file's folder.
    pub path: Option<Spanned<String>>,
    /// Or: the name of a guest crate under `tests/guests/`, which
    /// `cargo xtask build` builds for the platform's architecture.
    pub guest: Option<Spanned<String>>,
    /// `raw` or `elf`.
    pub kind: Spanned<ImageKind>,
    /// Raw images: guest-physical load address.
    pub load: Option<Spanned<u64>>,
    /// Linux images: an initramfs or initrd file (relative to the config).
    pub initrd: Option<Spanned<String>>,
    /// Linux images: the kernel command line.
    pub bootargs: Option<Spanned<String>>,
    /// Linux images: a hand-written device tree blob to use instead of the
    /// one generated from the config (relative to the config).
    pub dtb: Option<Spanned<String>>,
    /// Raw and ELF images: the first vCPU's boot argument (AArch64 `x0`,
    /// x86_64 `RDI`); default 0.
    pub boot_arg: Option<Spanned<u64>>,
}

/// One `[[cell]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawCell {
    /// Name: letters, digits, `-` and `_`; tags the cell's console lines.
    pub name: Spanned<String>,
    /// Platform CPU indices the cell owns (whole cores).
    pub cpus: Spanned<Vec<Spanned<u32>>>,
    /// Memory regions.
    #[serde(default)]
    pub memory: Vec<Spanned<RawRegion>>,
    /// Platform devices passed through (their MMIO and interrupts).
    #[serde(default)]
    pub devices: Vec<Spanned<String>>,
    /// Extra interrupts (INTIDs) the cell owns beyond its devices'.
    #[serde(default)]
    pub irqs: Vec<Spanned<u32>>,
    /// The image the cell runs.
    pub image: Spanned<RawImage>,
    /// Guest-physical entry point; defaults to the ELF entry, or the raw
    /// image's load address.
    pub entry: Option<Spanned<u64>>,
    /// `virtual` (default), `passthrough` or `none`.
    #[serde(default)]
    pub console: CellConsole,
    /// `inject`, `halt` (default) or `restart`.
    #[serde(default)]
    pub fault_policy: FaultPolicy,
    /// `trap` (default) or `allow`.
    #[serde(default)]
    pub physical_timer: PhysicalTimer,
    /// `physical` (default) or `cell-start`.
    #[serde(default)]
    pub virtual_counter: VirtualCounter,
}

/// One side of a shared-memory channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawChannelEnd {
    /// Cell name.
    pub cell: Spanned<String>,
    /// Where that cell sees the channel.
    pub gpa: Spanned<u64>,
    /// That cell's permissions (`"r"` or `"rw"`).
    pub perm: Spanned<Perm>,
}

/// One `[[channel]]`: host memory shared by two or more cells.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawChannel {
    /// Name, for messages and guest device trees.
    pub name: Spanned<String>,
    /// Host-physical address of the shared memory.
    pub hpa: Spanned<u64>,
    /// Length in bytes (a multiple of 4 KiB).
    pub size: Spanned<Size>,
    /// The cells that map it, each with its own address and permissions.
    pub ends: Spanned<Vec<RawChannelEnd>>,
}

/// `configs/<product>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawConfig {
    /// Platform name: a file `platforms/<name>.toml`.
    pub platform: Spanned<String>,
    /// Hypervisor settings.
    pub hypervisor: RawHypervisor,
    /// The cells.
    #[serde(default, rename = "cell")]
    pub cells: Vec<Spanned<RawCell>>,
    /// Shared-memory channels between cells.
    #[serde(default, rename = "channel")]
    pub channels: Vec<Spanned<RawChannel>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("2 MiB"), Some(2 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("0x1000"), Some(0x1000));
        assert_eq!(parse_size("1_024"), Some(1024));
        assert_eq!(parse_size("3 parsecs"), None);
    }
}
