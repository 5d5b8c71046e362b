//! The boot banner and the partition table, as printed on the console.
//!
//! Arch-neutral: it writes to any `core::fmt::Write`, so the same code
//! prints on the PL011 at boot and is checked on the host in unit tests.

use core::fmt::{self, Write};

use crate::config::{
    Arch, CellConsole, CellDesc, ChannelDesc, FaultPolicy, ImageKind, LogTransport, Perm,
    PhysicalTimer, RegionKind, Tables, UartKind, VirtualCounter,
};

/// A byte count written as `16 MiB`, `64 KiB` or `1536 B`.
pub(crate) struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0 >= 1 << shift && self.0.is_multiple_of(1 << shift) {
                return write!(f, "{} {unit}", self.0 >> shift);
            }
        }
        write!(f, "{} B", self.0)
    }
}

struct Permissions(Perm);

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        let bit = |on: bool, c: char| if on { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            bit(p.read, 'r'),
            bit(p.write, 'w'),
            bit(p.execute, 'x')
        )
    }
}

/// Writes the one-line banner.
pub(crate) fn write_banner(out: &mut impl Write) -> fmt::Result {
    writeln!(
        out,
        "Bulkhead {}: static partitioning hypervisor",
        env!("CARGO_PKG_VERSION")
    )
}

/// Writes the partition table of `tables`: the configuration, the
/// hypervisor's resources, every cell and every channel.
pub(crate) fn write_partition_table(out: &mut impl Write, tables: &Tables<'_>) -> fmt::Result {
    write_platform(out, tables)?;
    write_hypervisor(out, tables)?;
    writeln!(
        out,
        "partition table: {} cells, {} channels",
        tables.cells.len(),
        tables.channels.len()
    )?;
    for cell in tables.cells {
        write_cell(out, tables, cell)?;
    }
    for channel in tables.channels {
        write_channel(out, tables, channel)?;
    }
    Ok(())
}

/// `config <name> on <platform> (<arch>, <interrupt controller>, <n> CPUs)`.
fn write_platform(out: &mut impl Write, tables: &Tables<'_>) -> fmt::Result {
    let platform = tables.platform;
    let cpus = tables.cpus.len();
    match platform.arch {
        Arch::Aarch64 => writeln!(
            out,
            "config {} on {} (aarch64, GICv{}, {cpus} CPUs)",
            tables.name, platform.name, platform.intc.version,
        ),
        Arch::X86_64 => writeln!(
            out,
            "config {} on {} (x86_64, VT-x + EPT, x2APIC, {cpus} CPUs)",
            tables.name, platform.name,
        ),
    }
}

/// The hypervisor's memory, console UART and log transport.
fn write_hypervisor(out: &mut impl Write, tables: &Tables<'_>) -> fmt::Result {
    let hv = tables.hypervisor;
    let uart = match hv.console.kind {
        UartKind::Pl011 => "pl011",
        UartKind::Ns16550 => "ns16550",
    };
    let log = match hv.log {
        LogTransport::Ring => "ring",
        LogTransport::None => "none",
    };
    write!(
        out,
        "hypervisor memory {}..{} ({}), console {uart}@",
        hv.memory.base,
        hv.memory.end(),
        Size(hv.memory.size),
    )?;
    if hv.console.port != 0 {
        write!(out, "port {:#x}", hv.console.port)?;
    } else {
        write!(out, "{}", hv.console.base)?;
    }
    writeln!(out, ", log {log}")
}

/// A cell: its line, then its memory, devices, interrupts and image.
fn write_cell(out: &mut impl Write, tables: &Tables<'_>, cell: &CellDesc) -> fmt::Result {
    write!(out, "cell {} {}: cpus", cell.id, cell.name)?;
    for (i, cpu) in cell.cpus.iter().enumerate() {
        write!(out, "{}{}", if i == 0 { " " } else { "," }, cpu)?;
    }
    let console = match cell.console {
        CellConsole::Virtual => "virtual",
        CellConsole::Passthrough => "passthrough",
        CellConsole::None => "none",
    };
    let policy = match cell.fault_policy {
        FaultPolicy::Inject => "inject",
        FaultPolicy::Halt => "halt",
        FaultPolicy::Restart => "restart",
    };
    write!(out, ", console {console}, fault-policy {policy}")?;
    // Timer settings only when they differ from the defaults.
    if cell.physical_timer == PhysicalTimer::Allow {
        write!(out, ", physical-timer allow")?;
    }
    if cell.virtual_counter == VirtualCounter::CellStart {
        write!(out, ", virtual-counter cell-start")?;
    }
    writeln!(out)?;
    write_cell_resources(out, tables, cell)?;
    write_cell_image(out, cell)
}

/// A cell's memory regions, passed-through devices and interrupts.
fn write_cell_resources(out: &mut impl Write, tables: &Tables<'_>, cell: &CellDesc) -> fmt::Result {
    for region in cell.memory {
        let end = region.gpa.as_u64() + region.size;
        write!(
            out,
            "  memory gpa {}..{:#x} -> hpa {} {} {}",
            region.gpa,
            end,
            region.hpa,
            Size(region.size),
            Permissions(region.perm)
        )?;
        match region.kind {
            RegionKind::Ram => writeln!(out)?,
            RegionKind::Device(d) => writeln!(out, " (device {})", tables.devices[d].name)?,
        }
    }
    for &index in cell.devices {
        let device = &tables.devices[index];
        write!(out, "  device {}", device.name)?;
        for mmio in device.mmio {
            write!(out, " mmio {}..{}", mmio.base, mmio.end())?;
        }
        writeln!(out)?;
    }
    if !cell.irqs.is_empty() {
        write!(out, "  irqs")?;
        for (i, irq) in cell.irqs.iter().enumerate() {
            write!(out, "{}{}", if i == 0 { " " } else { "," }, irq)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// A cell's image and entry point.
fn write_cell_image(out: &mut impl Write, cell: &CellDesc) -> fmt::Result {
    let kind = match cell.image.kind {
        ImageKind::Raw => "raw",
        ImageKind::Elf => "elf",
        ImageKind::Linux => "linux",
    };
    write!(
        out,
        "  image {} ({kind}, {} bytes), entry {}",
        cell.image.name, cell.image.size, cell.entry
    )?;
    if cell.image.kind == ImageKind::Linux {
        write!(out, ", device tree {:#x}", cell.boot_arg)?;
    }
    writeln!(out)
}

/// A channel and its ends.
fn write_channel(out: &mut impl Write, tables: &Tables<'_>, channel: &ChannelDesc) -> fmt::Result {
    write!(
        out,
        "channel {} hpa {}..{} ({}):",
        channel.name,
        channel.memory.base,
        channel.memory.end(),
        Size(channel.memory.size)
    )?;
    for (i, end) in channel.ends.iter().enumerate() {
        write!(
            out,
            "{}{}@{} {}",
            if i == 0 { " " } else { ", " },
            tables.cells[end.cell.index()].name,
            end.gpa,
            Permissions(end.perm)
        )?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};
    use crate::config::{
        CellDesc, ChannelDesc, ChannelEndDesc, CpuDesc, DeviceDesc, HypervisorDesc, ImageDesc,
        IntcDesc, MemRange, PlatformDesc, RegionDesc, UartDesc,
    };

    const RW: Perm = Perm {
        read: true,
        write: true,
        execute: false,
    };
    const RWX: Perm = Perm {
        read: true,
        write: true,
        execute: true,
    };
    const NONE: MemRange = MemRange::new(PhysAddr::new(0), 0);
    const UART: UartDesc = UartDesc {
        device: 0,
        kind: UartKind::Pl011,
        base: PhysAddr::new(0x900_0000),
        port: 0,
    };

    #[test]
    fn table_lists_every_cell_region_device_and_channel() {
        const PLATFORM: PlatformDesc = PlatformDesc {
            name: "board",
            arch: Arch::Aarch64,
            load_address: PhysAddr::new(0x4000_0000),
            ram: &[MemRange::new(PhysAddr::new(0x4000_0000), 1 << 30)],
            intc: IntcDesc {
                version: 3,
                distributor: MemRange::new(PhysAddr::new(0x800_0000), 0x1_0000),
                redistributor: NONE,
                cpu_interface: NONE,
                virtual_control: NONE,
                virtual_cpu: NONE,
                maintenance_irq: IrqNum(25),
                irq_count: 288,
                io_apic: NONE,
            },
            console: UART,
        };
        const HYPERVISOR: HypervisorDesc = HypervisorDesc {
            memory: MemRange::new(PhysAddr::new(0x4000_0000), 16 << 20),
            console: UART,
            log: LogTransport::Ring,
        };
        const DEVICES: [DeviceDesc; 2] = [
            DeviceDesc {
                name: "uart0",
                compatible: "arm,pl011",
                mmio: &[MemRange::new(PhysAddr::new(0x900_0000), 0x1000)],
                irqs: &[IrqNum(33)],
                ports: &[],
            },
            DeviceDesc {
                name: "rtc",
                compatible: "arm,pl031",
                mmio: &[MemRange::new(PhysAddr::new(0x901_0000), 0x1000)],
                irqs: &[IrqNum(34)],
                ports: &[],
            },
        ];
        const CELLS: [CellDesc; 1] = [CellDesc {
            id: CellId(0),
            name: "rt",
            cpus: &[CpuId(1), CpuId(2)],
            memory: &[RegionDesc {
                gpa: GuestPhysAddr::new(0x4000_0000),
                hpa: PhysAddr::new(0x4100_0000),
                size: 16 << 20,
                perm: RWX,
                kind: RegionKind::Ram,
            }],
            devices: &[1],
            irqs: &[IrqNum(34), IrqNum(40)],
            image: ImageDesc {
                kind: ImageKind::Elf,
                name: "guest:hello",
                size: 4096,
                segments: &[],
            },
            entry: GuestPhysAddr::new(0x4000_0000),
            boot_arg: 0,
            console: CellConsole::Virtual,
            fault_policy: FaultPolicy::Restart,
            physical_timer: PhysicalTimer::Allow,
            virtual_counter: VirtualCounter::CellStart,
        }];
        const CHANNELS: [ChannelDesc; 1] = [ChannelDesc {
            name: "link",
            memory: MemRange::new(PhysAddr::new(0x4400_0000), 0x1_0000),
            ends: &[ChannelEndDesc {
                cell: CellId(0),
                gpa: GuestPhysAddr::new(0x5000_0000),
                perm: RW,
            }],
        }];
        let cpus = [CpuDesc {
            hw_id: 0,
            cell: None,
        }; 4];
        let tables = Tables {
            name: "demo",
            platform: &PLATFORM,
            hypervisor: &HYPERVISOR,
            cpus: &cpus,
            devices: &DEVICES,
            cells: &CELLS,
            channels: &CHANNELS,
        };
        let mut text = String::new();
        write_partition_table(&mut text, &tables).unwrap();
        let expected = "\
config demo on board (aarch64, GICv3, 4 CPUs)
hypervisor memory 0x40000000..0x41000000 (16 MiB), console pl011@0x9000000, log ring
partition table: 1 cells, 1 channels
cell 0 rt: cpus 1,2, console virtual, fault-policy restart, physical-timer allow, virtual-counter cell-start
  memory gpa 0x40000000..0x41000000 -> hpa 0x41000000 16 MiB rwx
  device rtc mmio 0x9010000..0x9011000
  irqs 34,40
  image guest:hello (elf, 4096 bytes), entry 0x40000000
channel link hpa 0x44000000..0x44010000 (64 KiB): rt@0x50000000 rw-
";
        assert_eq!(text, expected);
    }

    #[test]
    fn compiled_in_tables_print() {
        let mut text = String::new();
        write_partition_table(&mut text, &crate::config::TABLES).unwrap();
        assert!(text.starts_with("config "), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("cell ")).count(),
            crate::config::CELL_COUNT
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(format!("{}", Size(16 << 20)), "16 MiB");
        assert_eq!(format!("{}", Size(1536)), "1536 B");
        assert_eq!(format!("{}", Size(1 << 30)), "1 GiB");
    }
}
