//! Isolation audit: for every config the repository ships (`configs/` and
//! every folder of `tests/configs/` but `bad/`), build each cell's stage-2
//! tables (AArch64 format, EPT format and the adversarial fake format) and
//! walk *everything* they map. The tables come from
//! `bulkhead_config::lower`, the mapping codegen prints: the audit checks
//! what the hypervisor is compiled with.
//!
//! Both sides of every mapping are checked (F19 of the security review):
//! the guest side comes from a grant (a region, a channel end, a
//! passthrough device's exact MMIO range, the GICv2 GICC alias) with no
//! more permission, and avoids the frames the hypervisor emulates; the host
//! side reaches no other cell's RAM, windows, devices or channels, no
//! device the cell does not own (the console included), no interrupt
//! controller frame and no hypervisor memory. A device mapped as a whole
//! page beyond its exact range is allowed only there, and the host check
//! covers those extra bytes too: widening onto anything is caught.

use std::path::{Path, PathBuf};

use bulkhead_config::model::{self, Config, Range};
use bulkhead_config::{LoadOptions, load, lower};

use super::build;
use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};
use crate::arch::aarch64::model::descriptors::Stage2;
use crate::arch::aarch64::model::descriptors::{STAGE2_IPA_BITS, STAGE2_START_LEVEL};
use crate::arch::x86_64::model::ept::{self, Ept};
use crate::arch::x86_64::model::io_bitmap::IoBitmaps;
use crate::config::{
    Arch, CellConsole, CellDesc, CpuDesc, DeviceDesc, FaultPolicy, HypervisorDesc, ImageDesc,
    ImageKind, IntcDesc, LogTransport, MemRange, PhysicalTimer, PlatformDesc, PortRange,
    RegionDesc, RegionKind, Tables, UartDesc, UartKind, VirtualCounter,
};
use crate::mm::page_table::MemKind;
use crate::mm::{DescriptorFormat, Level, MapError, MemAttrs, Perm, Table, TablePool};

mod generator;

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

/// Every config the repository ships, but the rejection cases.
pub(crate) fn config_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("configs")];
    for entry in std::fs::read_dir(root.join("tests/configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "bad") {
            dirs.push(path);
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 30, "{} configs", files.len());
    files
}

pub(crate) fn load_config(path: &Path) -> Config {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let options = LoadOptions {
        require_images: false,
        ..LoadOptions::for_workspace(root)
    };
    load(path, &options).unwrap_or_else(|e| panic!("{e}"))
}

/// One mapping found by the walk: `[input, input+size) -> [output, ...)`.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    input: u64,
    output: u64,
    size: u64,
    attrs: MemAttrs,
}

/// The walk geometry a format is built with: root level and input bits.
type Geometry = (Level, u32);

/// AArch64 stage 2: 39-bit IPA from level 1.
const STAGE2: Geometry = (STAGE2_START_LEVEL, STAGE2_IPA_BITS);

/// x86 EPT: 48 bits from level 0 (the PML4).
const EPT: Geometry = (ept::START_LEVEL, ept::INPUT_BITS);

/// The checker's copies of the hypervisor's constants agree with them.
#[test]
fn the_checker_knows_the_guest_address_sizes_and_the_virtual_uart() {
    assert_eq!(model::AARCH64_IPA_BITS, STAGE2_IPA_BITS);
    assert_eq!(model::X86_GPA_BITS, ept::INPUT_BITS);
    assert_eq!(
        model::VIRTUAL_UART_WINDOW,
        crate::arch::aarch64::model::virtual_pl011::MMIO_SIZE
    );
}

/// Builds `cell`'s tables in format `F` with `pool_size` tables and walks
/// them.
fn walk<F: DescriptorFormat<Input = GuestPhysAddr>>(
    tables: &Tables<'static>,
    cell: &CellDesc,
    pool_size: usize,
    (start, input_bits): Geometry,
) -> Result<Vec<Mapping>, String> {
    let mut storage: Vec<Table> = (0..pool_size).map(|_| Table::ZEROED).collect();
    let pool = TablePool::new(&mut storage, PhysAddr::new(0x10_0000_0000)).unwrap();
    let map = build::<F>(tables, cell, pool, start, input_bits)
        .map_err(|e| format!("cell {}: {e:?}", cell.id))?;
    let mut found = Vec::new();
    map.for_each_mapping(|input, output, size, attrs| {
        found.push(Mapping {
            input,
            output: output.as_u64(),
            size,
            attrs,
        })
    });
    Ok(found)
}

/// What a cell may reach: guest range start, host start, size, perm, kind.
type Grant = (u64, u64, u64, Perm, MemKind);

/// What a cell may reach, exactly: regions, passthrough devices' MMIO
/// ranges (not rounded), the GICv2 GICC alias, channel ends.
fn grants(config: &Config, cell: &model::Cell) -> Vec<Grant> {
    let mut grants = Vec::new();
    for region in &cell.memory {
        let kind = if region.device.is_some() {
            MemKind::Device
        } else {
            MemKind::Normal
        };
        grants.push((region.gpa, region.hpa, region.size, region.perm, kind));
    }
    for &device in &cell.devices {
        for mmio in &config.platform.devices[device].mmio {
            grants.push((mmio.base, mmio.base, mmio.size, Perm::RW, MemKind::Device));
        }
    }
    if let Some(alias) = gicc_alias(config) {
        grants.push(alias);
    }
    for channel in &config.channels {
        for end in channel.ends.iter().filter(|e| e.cell == cell.id) {
            grants.push((
                end.gpa,
                channel.memory.base,
                channel.memory.size,
                end.perm,
                MemKind::Normal,
            ));
        }
    }
    grants
}

/// GICv2: the GICV frame, mapped where the guest expects its GICC.
fn gicc_alias(config: &Config) -> Option<Grant> {
    let intc = &config.platform.intc;
    match (intc.version, intc.cpu_interface, intc.virtual_cpu) {
        (2, Some(gicc), Some(gicv)) => Some((
            gicc.base,
            gicv.base,
            gicc.size.min(gicv.size),
            Perm::RW,
            MemKind::Device,
        )),
        _ => None,
    }
}

fn at_most(have: Perm, granted: Perm) -> bool {
    (!have.read || granted.read)
        && (!have.write || granted.write)
        && (!have.execute || granted.execute)
}

/// Fails the audit with a message.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Host ranges `cell` must never reach, each with what it is: the
/// hypervisor's memory, other cells' RAM and device windows, every device
/// the cell does not own (other cells', unassigned ones, the console),
/// channels it is not an end of, and every interrupt controller frame.
fn forbidden(config: &Config, cell: &model::Cell) -> Vec<(String, Range)> {
    let mut out = vec![("hypervisor memory".to_string(), config.hypervisor.memory)];
    for other in config.cells.iter().filter(|c| c.id != cell.id) {
        for region in &other.memory {
            out.push((format!("cell {}'s memory", other.name), region.host()));
        }
    }
    // The devices a cell owns (passed through or windowed). The
    // hypervisor's console is never the cell's, even if a (broken) config
    // says so, and a device another cell owns is not this one's either.
    let owns = |c: &model::Cell, d: usize| {
        c.devices.contains(&d) || c.memory.iter().any(|r| r.device == Some(d))
    };
    for (index, device) in config.platform.devices.iter().enumerate() {
        let foreign = index == config.hypervisor.console
            || !owns(cell, index)
            || config
                .cells
                .iter()
                .any(|c| c.id != cell.id && owns(c, index));
        if foreign {
            for &mmio in &device.mmio {
                out.push((format!("device {}", device.name), mmio));
            }
        }
    }
    for channel in &config.channels {
        if !channel.ends.iter().any(|e| e.cell == cell.id) {
            out.push((format!("channel {}", channel.name), channel.memory));
        }
    }
    for (name, frame) in config.platform.intc.frames() {
        out.push((name.to_string(), frame));
    }
    out
}

/// The audit of one cell's walked `mappings`.
fn audit_cell(config: &Config, cell: &model::Cell, mappings: &[Mapping]) -> Result<(), String> {
    let grants = grants(config, cell);
    let forbidden = forbidden(config, cell);
    let alias = gicc_alias(config);
    let rounded: Vec<Range> = cell
        .devices
        .iter()
        .flat_map(|&d| config.platform.devices[d].mmio.iter().copied())
        .map(model::page_round)
        .collect();
    for m in mappings {
        let input = Range::new(m.input, m.size);
        let out = Range::new(m.output, m.size);
        // The guest side: inside one exact grant, at the granted offset,
        // with no more permission and the granted memory type; or a
        // passthrough device's page beyond its exact range.
        match grants
            .iter()
            .find(|g| Range::new(g.0, g.2).contains_range(&input))
        {
            Some(grant) => {
                ensure!(
                    m.output == grant.1 + (m.input - grant.0),
                    "{m:x?} not at {grant:x?}"
                );
                ensure!(at_most(m.attrs.perm, grant.3), "{m:x?} exceeds {grant:x?}");
                ensure!(m.attrs.kind == grant.4, "{m:x?} is not {:?}", grant.4);
            }
            None => {
                ensure!(
                    rounded.iter().any(|r| r.contains_range(&input))
                        && m.output == m.input
                        && m.attrs.kind == MemKind::Device
                        && at_most(m.attrs.perm, Perm::RW),
                    "cell {} maps {m:x?} without a grant",
                    cell.name
                );
            }
        }
        // The host side: nothing it must not reach (the GICv2 alias may
        // reach GICV, and only from the GICC address).
        let is_alias = alias.is_some_and(|a| m.input >= a.0 && m.input + m.size <= a.0 + a.2);
        for (what, range) in &forbidden {
            if is_alias && what.contains("(GICV)") {
                continue;
            }
            ensure!(
                !out.overlaps(range),
                "cell {} reaches {what} {range} via {m:x?}",
                cell.name
            );
        }
    }
    // Everything granted is mapped, byte for byte.
    for grant in &grants {
        let g = Range::new(grant.0, grant.2);
        let covered: u64 = mappings
            .iter()
            .map(|m| {
                let start = m.input.max(g.base);
                let end = (m.input + m.size).min(g.end());
                end.saturating_sub(start)
            })
            .sum();
        ensure!(
            covered == grant.2,
            "cell {}: {grant:x?} maps {covered:#x} bytes",
            cell.name
        );
    }
    // The frames the hypervisor emulates for the cell are never mapped, so
    // their accesses trap (the GICv2 GICC alias is mapped on purpose).
    let console = cell.console == model::CellConsole::Virtual;
    for (name, frame) in config
        .platform
        .emulated_frames(config.hypervisor.console, console)
    {
        if alias.is_some_and(|a| a.0 == frame.base) {
            continue;
        }
        ensure!(
            mappings
                .iter()
                .all(|m| !frame.overlaps(&Range::new(m.input, m.size))),
            "cell {} maps {name} {frame}",
            cell.name
        );
    }
    Ok(())
}

/// Builds and audits every cell of `config` in format `F` (`geometry`).
fn audit_config<F: DescriptorFormat<Input = GuestPhysAddr>>(
    config: &Config,
    geometry: Geometry,
) -> Result<(), String> {
    let tables = lower(config);
    for cell in &config.cells {
        // An AArch64 config's bound counts a level-1 root; walked from
        // level 0 (EPT geometry) it needs the level-0 root too (every
        // config's guest addresses lie in the first 512 GiB). An x86
        // config's bound already counts the EPT's extra level.
        let extra_root = geometry.0 == Level::Zero && config.platform.arch == model::Arch::Aarch64;
        let bound = cell.stage2_table_bound(config) + usize::from(extra_root);
        let mappings = walk::<F>(&tables, &tables.cells[cell.id], bound, geometry)?;
        audit_cell(config, cell, &mappings)?;
    }
    Ok(())
}

fn audit<F: DescriptorFormat<Input = GuestPhysAddr>>(path: &Path, geometry: Geometry) {
    let config = load_config(path);
    let shown = path.file_name().unwrap().to_string_lossy().into_owned();
    if let Err(e) = audit_config::<F>(&config, geometry) {
        panic!("{shown}: {e}");
    }
}

#[test]
fn every_config_is_isolated_in_aarch64_stage2_format() {
    for path in config_files() {
        audit::<Stage2>(&path, STAGE2);
    }
}

#[test]
fn every_config_is_isolated_in_the_fake_format() {
    for path in config_files() {
        audit::<crate::mm::fake::FakeFormat<GuestPhysAddr, true>>(&path, STAGE2);
        audit::<crate::mm::fake::FakeFormat<GuestPhysAddr, true>>(&path, EPT);
    }
}

#[test]
fn every_config_is_isolated_in_ept_format() {
    for path in config_files() {
        audit::<Ept>(&path, EPT);
    }
}

/// The audit itself (F19): configs broken behind the checker's back (the
/// model edited after loading) are caught, each by the host side of a
/// mapping the old audit did not look at.
fn broken(edit: impl FnOnce(&mut Config)) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = load_config(&root.join("tests/configs/good/two-cells.toml"));
    edit(&mut config);
    let stage2 = audit_config::<Stage2>(&config, STAGE2).unwrap_err();
    let fake =
        audit_config::<crate::mm::fake::FakeFormat<GuestPhysAddr, true>>(&config, EPT).unwrap_err();
    assert_eq!(stage2, fake);
    stage2
}

/// A device window on the console UART, away from the console's own
/// address (F4's second probe): the host side reaches the console.
#[test]
fn f19_audit_catches_a_console_window_at_another_address() {
    let error = broken(|config| {
        let console = config.hypervisor.console;
        config.cells[0].memory.push(model::Region {
            gpa: 0x5100_0000,
            hpa: 0x0900_0000,
            size: 0x1000,
            perm: Perm::RW,
            device: Some(console),
        });
    });
    assert!(error.contains("cell alpha reaches device uart0"), "{error}");
}

/// A sub-page device widened onto its neighbour (F5b).
#[test]
fn f19_audit_catches_a_device_page_widened_onto_another_device() {
    let error = broken(|config| {
        let devices = &mut config.platform.devices;
        let rtc = devices.iter().position(|d| d.name == "rtc").unwrap();
        devices[rtc].mmio[0].size = 0x800;
        let mut neighbour = devices[rtc].clone();
        neighbour.name = "neighbour".into();
        neighbour.mmio = vec![Range::new(0x0901_0800, 0x800)];
        devices.push(neighbour);
    });
    assert!(
        error.contains("cell alpha reaches device neighbour"),
        "{error}"
    );
}

/// A device (here a window) over a GIC frame (F5c), a window on another
/// cell's device, another cell's RAM.
#[test]
fn f19_audit_catches_gic_frames_and_other_cells_devices() {
    let error = broken(|config| {
        let rtc = config.platform.device_index("rtc").unwrap();
        config.platform.devices[rtc]
            .mmio
            .push(Range::new(0x0800_0000, 0x1000));
        config.cells[0].memory.push(model::Region {
            gpa: 0x5100_0000,
            hpa: 0x0800_0000,
            size: 0x1000,
            perm: Perm::RW,
            device: Some(rtc),
        });
    });
    assert!(
        error.contains("reaches the GIC distributor (GICD)"),
        "{error}"
    );
    let error = broken(|config| {
        let gpio = config.platform.device_index("gpio").unwrap();
        config.cells[0].memory.push(model::Region {
            gpa: 0x5100_0000,
            hpa: 0x0903_0000,
            size: 0x1000,
            perm: Perm::RW,
            device: Some(gpio),
        });
    });
    assert!(error.contains("cell alpha reaches device gpio"), "{error}");
    let error = broken(|config| {
        let beta_ram = config.cells[1].memory[0].hpa;
        config.cells[0].memory.push(model::Region {
            gpa: 0x5100_0000,
            hpa: beta_ram,
            size: 0x1000,
            perm: Perm::RW,
            device: None,
        });
    });
    assert!(
        error.contains("cell alpha reaches cell beta's memory"),
        "{error}"
    );
}

/// x86 configs: a cell's I/O bitmap passes exactly the ports of the devices
/// it owns, less the hypervisor console's unless the cell owns that device
/// with a pass-through console.
#[test]
fn every_x86_config_isolates_io_ports() {
    let mut audited = 0;
    for path in config_files() {
        let config = load_config(&path);
        if config.platform.arch != model::Arch::X86_64 {
            continue;
        }
        let tables = lower(&config);
        let devices = &config.platform.devices;
        let in_ranges = |ranges: &[model::PortRange], port: u16| {
            ranges
                .iter()
                .any(|r| (u32::from(r.base)..r.end()).contains(&u32::from(port)))
        };
        for cell in &config.cells {
            let bitmaps = IoBitmaps::for_cell(&tables, &tables.cells[cell.id]);
            let console = config.hypervisor.console;
            let owns_console =
                cell.console == model::CellConsole::Passthrough && cell.devices.contains(&console);
            for port in 0..=u16::MAX {
                let owned = cell
                    .devices
                    .iter()
                    .any(|&d| in_ranges(&devices[d].ports, port));
                let console_port = in_ranges(&devices[console].ports, port);
                assert_eq!(
                    !bitmaps.traps(port),
                    owned && (owns_console || !console_port),
                    "{}: cell {}, port {port:#x}",
                    path.display(),
                    cell.name
                );
            }
        }
        audited += 1;
    }
    assert!(audited >= 2, "x86 configs audited: {audited}");
}

/// A small x86 machine built by hand: COM1 (ports only), an HPET-like
/// device at 0xfed0_0000, one cell with 16 MiB of RAM at guest 0 backed at
/// host 16 MiB, a 4 KiB device window and the HPET passed through.
fn x86_tables() -> Tables<'static> {
    let none = MemRange::new(PhysAddr::new(0), 0);
    let com1 = UartDesc {
        device: 0,
        kind: UartKind::Ns16550,
        base: PhysAddr::new(0),
        port: 0x3f8,
    };
    let platform = Box::leak(Box::new(PlatformDesc {
        name: "x86",
        arch: Arch::X86_64,
        load_address: PhysAddr::new(0x10_0000),
        ram: leak(vec![MemRange::new(PhysAddr::new(0), 1 << 30)]),
        intc: IntcDesc {
            version: 0,
            distributor: none,
            redistributor: none,
            cpu_interface: none,
            virtual_control: none,
            virtual_cpu: none,
            maintenance_irq: IrqNum(0),
            irq_count: 0,
            io_apic: MemRange::new(PhysAddr::new(0), 0),
        },
        console: com1,
    }));
    let hypervisor = Box::leak(Box::new(HypervisorDesc {
        memory: MemRange::new(PhysAddr::new(0x10_0000), 0xf0_0000),
        console: com1,
        log: LogTransport::None,
    }));
    let devices = leak(vec![
        DeviceDesc {
            name: "com1",
            compatible: "ns16550a",
            mmio: &[],
            irqs: &[],
            ports: leak(vec![PortRange::new(0x3f8, 8)]),
        },
        DeviceDesc {
            name: "hpet",
            compatible: "hpet",
            mmio: leak(vec![MemRange::new(PhysAddr::new(0xfed0_0000), 0x400)]),
            irqs: &[],
            ports: &[],
        },
    ]);
    let cells = leak(vec![CellDesc {
        id: CellId(0),
        name: "x86",
        cpus: leak(vec![CpuId(0)]),
        memory: leak(vec![
            RegionDesc {
                gpa: GuestPhysAddr::new(0),
                hpa: PhysAddr::new(0x100_0000),
                size: 16 << 20,
                perm: Perm::RWX,
                kind: RegionKind::Ram,
            },
            RegionDesc {
                gpa: GuestPhysAddr::new(0xfeb0_0000),
                hpa: PhysAddr::new(0xfeb0_0000),
                size: 0x1000,
                perm: Perm::RW,
                kind: RegionKind::Device(1),
            },
        ]),
        devices: leak(vec![1]),
        irqs: &[],
        image: ImageDesc {
            kind: ImageKind::Elf,
            name: "image",
            size: 0,
            segments: &[],
        },
        entry: GuestPhysAddr::new(0x20_0000),
        boot_arg: 0,
        console: CellConsole::Virtual,
        fault_policy: FaultPolicy::Halt,
        physical_timer: PhysicalTimer::Trap,
        virtual_counter: VirtualCounter::Physical,
    }]);
    Tables {
        name: "x86",
        platform,
        hypervisor,
        cpus: leak(vec![CpuDesc {
            hw_id: 0,
            cell: Some(CellId(0)),
        }]),
        devices,
        cells,
        channels: &[],
    }
}

#[test]
fn ept_of_an_x86_cell() {
    let tables = x86_tables();
    let cell = &tables.cells[0];
    let mut storage: Vec<Table> = (0..8).map(|_| Table::ZEROED).collect();
    let pool = TablePool::new(&mut storage, PhysAddr::new(0x20_0000)).unwrap();
    let map = build::<Ept>(&tables, cell, pool, ept::START_LEVEL, ept::INPUT_BITS).unwrap();
    assert_eq!(map.root(), PhysAddr::new(0x20_0000));
    assert_eq!(ept::eptp(map.root()), 0x20_001e);
    // RAM: eight 2 MiB write-back leaves, no 4 KiB pages for it; the
    // device window and the HPET page are one 4 KiB page each.
    assert_eq!(map.blocks_at(Level::One), 0);
    assert_eq!(map.blocks_at(Level::Two), 8);
    assert_eq!(map.blocks_at(Level::Three), 2);
    // PML4, PDPT, one PD for the first GiB, one for the fourth (device
    // window and HPET share it), and a PT for each of the two 2 MiB ranges
    // the device pages lie in.
    assert_eq!(map.tables_used(), 6);
    let t = |gpa: u64| map.translate(GuestPhysAddr::new(gpa));
    let ram = MemAttrs::normal(Perm::RWX);
    assert_eq!(t(0), Some((PhysAddr::new(0x100_0000), ram)));
    assert_eq!(t(0x1234), Some((PhysAddr::new(0x100_1234), ram)));
    assert_eq!(t(0xff_ffff), Some((PhysAddr::new(0x1ff_ffff), ram)));
    let device = MemAttrs::device(Perm::RW);
    assert_eq!(t(0xfeb0_0010), Some((PhysAddr::new(0xfeb0_0010), device)));
    assert_eq!(t(0xfed0_00f0), Some((PhysAddr::new(0xfed0_00f0), device)));
    // Everything else is unmapped: past RAM, around the device pages, the
    // hypervisor's own memory at its host address, the top of the space.
    for gpa in [
        0x100_0000,
        0x1ff_ffff,
        0xfeaf_f000,
        0xfeb0_1000,
        0xfecf_ffff,
        0xfed0_1000,
        0x1_0000_0000,
        (1 << 48) - 1,
        1 << 48,
    ] {
        assert_eq!(t(gpa), None, "{gpa:#x}");
    }
}

#[test]
fn ept_refuses_unreadable_regions() {
    let mut tables = x86_tables();
    let mut cell = tables.cells[0];
    cell.memory = leak(vec![RegionDesc {
        gpa: GuestPhysAddr::new(0),
        hpa: PhysAddr::new(0x100_0000),
        size: 0x1000,
        perm: Perm {
            read: false,
            write: true,
            execute: false,
        },
        kind: RegionKind::Ram,
    }]);
    cell.devices = &[];
    tables.cells = leak(vec![cell]);
    let mut storage: Vec<Table> = (0..8).map(|_| Table::ZEROED).collect();
    let pool = TablePool::new(&mut storage, PhysAddr::new(0x20_0000)).unwrap();
    let error = build::<Ept>(&tables, &cell, pool, ept::START_LEVEL, ept::INPUT_BITS)
        .err()
        .unwrap();
    assert_eq!(
        error,
        super::Stage2Error::Region {
            index: 0,
            error: MapError::UnsupportedAttrs
        }
    );
}

/// The arch-neutral placement helpers of `crate::cell`, on every config:
/// each owned CPU maps back to its cell and vCPU index, RAM translates
/// inside its regions only, and entry points are valid exactly in
/// executable RAM.
#[test]
fn placement_helpers_agree_with_every_config() {
    use crate::cell::{cpu_of, entry_is_valid, ram_host_address, vcpu_of};
    for path in config_files() {
        let config = load_config(&path);
        let tables = lower(&config);
        for (cpu, desc) in tables.cpus.iter().enumerate() {
            match vcpu_of(&tables, cpu) {
                Some((cell, index)) => {
                    assert_eq!(Some(cell.id), desc.cell, "{}", path.display());
                    assert_eq!(cpu_of(cell, index), Some(cpu));
                }
                None => assert_eq!(desc.cell, None, "{}", path.display()),
            }
        }
        assert!(vcpu_of(&tables, tables.cpus.len()).is_none());
        for cell in tables.cells {
            assert_eq!(cpu_of(cell, cell.cpus.len()), None);
            for region in cell.memory.iter().filter(|r| r.kind == RegionKind::Ram) {
                let (gpa, size) = (region.gpa.as_u64(), region.size);
                assert_eq!(ram_host_address(cell, gpa, size), Some(region.hpa.as_u64()));
                assert_eq!(
                    ram_host_address(cell, gpa + size - 8, 8),
                    Some(region.hpa.as_u64() + size - 8)
                );
                // Past the end, or wrapping, unless another region follows.
                if !cell.memory.iter().any(|r| r.gpa.as_u64() == gpa + size) {
                    assert_eq!(ram_host_address(cell, gpa + size - 8, 9), None);
                }
                assert_eq!(ram_host_address(cell, gpa, u64::MAX), None);
                assert_eq!(
                    entry_is_valid(cell, GuestPhysAddr::new(gpa)),
                    region.perm.execute,
                    "{}",
                    path.display()
                );
            }
            assert!(!entry_is_valid(cell, GuestPhysAddr::new(u64::MAX)));
        }
    }
}
