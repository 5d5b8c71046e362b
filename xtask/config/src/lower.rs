//! Lowering: a checked [`Config`] becomes the hypervisor's [`Tables`].
//!
//! This is the one mapping from the model to the `*Desc` types of
//! `bulkhead-tables`. Codegen prints its result as Rust `static`s, and the
//! hypervisor's host tests (the stage-2 isolation audit) build their tables
//! with it, so the audit checks exactly what the hypervisor is compiled
//! with.
//!
//! The tables borrow `'static` data, as the compiled-in ones do: lowering
//! leaks what it builds. That is fine on the host, where it runs once per
//! build script or test and the process is short-lived; it never runs on
//! the target.

use bulkhead_tables::{
    CellDesc, CellId, ChannelDesc, ChannelEndDesc, CpuDesc, CpuId, DeviceDesc, GuestPhysAddr,
    HypervisorDesc, ImageDesc, IntcDesc, IrqNum, MemRange, PhysAddr, PlatformDesc, RegionDesc,
    RegionKind, SegmentDesc, Tables, UartDesc, UartKind,
};

use crate::model::{Cell, Channel, Config, Device, Image, ImageSource, Intc, Platform, Range};

/// The tables the hypervisor is compiled with for `config`.
///
/// Every value is the compiled-in one except [`SegmentDesc::data`], which
/// is left empty: the segment bytes stay in their files until the
/// generated code includes them ([`crate::codegen::segment_files`]).
/// Images are lowered only when they were read (`file_size` known), as in a
/// bare-metal build; otherwise their size is 0 and they have no segments.
pub fn lower(config: &Config) -> Tables<'static> {
    let platform = &config.platform;
    Tables {
        name: leak_str(&config.name),
        platform: Box::leak(Box::new(lower_platform(platform))),
        hypervisor: Box::leak(Box::new(HypervisorDesc {
            memory: mem_range(config.hypervisor.memory),
            console: uart(platform, config.hypervisor.console),
            log: config.hypervisor.log,
        })),
        cpus: leak(
            (0..platform.cpus.len())
                .map(|index| CpuDesc {
                    hw_id: platform.cpus[index].hw_id,
                    cell: config
                        .cell_of_cpu(index as u32)
                        .map(|cell| cell_id(cell.id)),
                })
                .collect(),
        ),
        devices: leak(platform.devices.iter().map(lower_device).collect()),
        cells: leak(config.cells.iter().map(lower_cell).collect()),
        channels: leak(config.channels.iter().map(lower_channel).collect()),
    }
}

fn lower_platform(platform: &Platform) -> PlatformDesc {
    PlatformDesc {
        name: leak_str(&platform.name),
        arch: platform.arch,
        load_address: PhysAddr::new(platform.load_address),
        ram: leak(platform.ram.iter().copied().map(mem_range).collect()),
        intc: lower_intc(&platform.intc),
        console: uart(platform, platform.console),
    }
}

/// Frames the controller does not have become empty ranges at 0.
fn lower_intc(intc: &Intc) -> IntcDesc {
    let frame = |range: Option<Range>| mem_range(range.unwrap_or(Range::new(0, 0)));
    IntcDesc {
        version: intc.version,
        distributor: frame(intc.distributor),
        redistributor: frame(intc.redistributor),
        cpu_interface: frame(intc.cpu_interface),
        virtual_control: frame(intc.virtual_control),
        virtual_cpu: frame(intc.virtual_cpu),
        maintenance_irq: IrqNum(intc.maintenance_irq),
        irq_count: intc.irq_count,
        io_apic: frame(intc.io_apic),
    }
}

/// The UART that is platform device `index`: a PL011 if its compatible says
/// so, else a 16550. An MMIO UART has a base address, a port-mapped one
/// (x86 COM1) its first port.
fn uart(platform: &Platform, index: usize) -> UartDesc {
    let device = &platform.devices[index];
    let kind = if device.compatible.contains("pl011") {
        UartKind::Pl011
    } else {
        UartKind::Ns16550
    };
    let (base, port) = match (device.mmio.first(), device.ports.first()) {
        (Some(mmio), _) => (mmio.base, 0),
        (None, Some(ports)) => (0, ports.base),
        (None, None) => (0, 0),
    };
    UartDesc {
        device: index,
        kind,
        base: PhysAddr::new(base),
        port,
    }
}

fn lower_device(device: &Device) -> DeviceDesc {
    DeviceDesc {
        name: leak_str(&device.name),
        compatible: leak_str(&device.compatible),
        mmio: leak(device.mmio.iter().copied().map(mem_range).collect()),
        irqs: leak(device.irqs.iter().copied().map(IrqNum).collect()),
        ports: leak(device.ports.clone()),
    }
}

fn lower_cell(cell: &Cell) -> CellDesc {
    CellDesc {
        id: cell_id(cell.id),
        name: leak_str(&cell.name),
        cpus: leak(cell.cpus.iter().map(|&cpu| CpuId(cpu as u16)).collect()),
        memory: leak(
            cell.memory
                .iter()
                .map(|region| RegionDesc {
                    gpa: GuestPhysAddr::new(region.gpa),
                    hpa: PhysAddr::new(region.hpa),
                    size: region.size,
                    perm: region.perm,
                    kind: region.device.map_or(RegionKind::Ram, RegionKind::Device),
                })
                .collect(),
        ),
        devices: leak(cell.devices.clone()),
        irqs: leak(cell.irqs.iter().copied().map(IrqNum).collect()),
        image: lower_image(&cell.image),
        entry: GuestPhysAddr::new(cell.entry.unwrap_or(0)),
        boot_arg: cell.image.boot_argument(),
        console: cell.console,
        fault_policy: cell.fault_policy,
        physical_timer: cell.physical_timer,
        virtual_counter: cell.virtual_counter,
    }
}

fn lower_image(image: &Image) -> ImageDesc {
    let name = match &image.source {
        ImageSource::Guest(guest) => format!("guest:{guest}"),
        ImageSource::File => image
            .path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let segments = match image.file_size {
        Some(_) => image
            .segments
            .iter()
            .map(|segment| SegmentDesc {
                gpa: GuestPhysAddr::new(segment.gpa),
                memory_size: segment.size,
                data: &[],
            })
            .collect(),
        None => Vec::new(),
    };
    ImageDesc {
        kind: image.kind,
        name: leak_str(&name),
        size: image.file_size.unwrap_or(0),
        segments: leak(segments),
    }
}

fn lower_channel(channel: &Channel) -> ChannelDesc {
    ChannelDesc {
        name: leak_str(&channel.name),
        memory: mem_range(channel.memory),
        ends: leak(
            channel
                .ends
                .iter()
                .map(|end| ChannelEndDesc {
                    cell: cell_id(end.cell),
                    gpa: GuestPhysAddr::new(end.gpa),
                    perm: end.perm,
                })
                .collect(),
        ),
    }
}

fn mem_range(range: Range) -> MemRange {
    MemRange::new(PhysAddr::new(range.base), range.size)
}

/// Cell ids are 16-bit: every cell owns at least one CPU no other cell
/// has, so there are no more cells than CPUs.
fn cell_id(index: usize) -> CellId {
    CellId(index as u16)
}

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

fn leak_str(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}
