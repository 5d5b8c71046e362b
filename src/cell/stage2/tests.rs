//! Isolation audit: for every config in `configs/` (and the good test
//! configs), build each cell's stage-2 tables (AArch64 format and the
//! adversarial fake format) and walk *everything* they map. The tables
//! come from `bulkhead_config::lower`, the mapping codegen prints: the
//! audit checks what the hypervisor is compiled with.

use std::path::{Path, PathBuf};

use bulkhead_config::model::{self, Config};
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
use crate::mm::{DescriptorFormat, Level, MapError, MemAttrs, PAGE_SIZE, Perm, Table, TablePool};

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

pub(crate) fn config_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["configs", "tests/configs/good", "tests/configs/bochs"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 3);
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

fn walk<F: DescriptorFormat<Input = GuestPhysAddr>>(
    tables: &Tables<'static>,
    cell: &CellDesc,
    pool_size: usize,
    (start, input_bits): Geometry,
) -> Vec<Mapping> {
    let mut storage: Vec<Table> = (0..pool_size).map(|_| Table::ZEROED).collect();
    let pool = TablePool::new(&mut storage, PhysAddr::new(0x10_0000_0000)).unwrap();
    let map = build::<F>(tables, cell, pool, start, input_bits)
        .unwrap_or_else(|e| panic!("cell {}: {e:?}", cell.id));
    let mut found = Vec::new();
    map.for_each_mapping(|input, output, size, attrs| {
        found.push(Mapping {
            input,
            output: output.as_u64(),
            size,
            attrs,
        })
    });
    found
}

/// What a cell may reach, as (guest range start, host start, size, perm,
/// kind) grants.
fn grants(config: &Config, cell: &model::Cell) -> Vec<(u64, u64, u64, Perm, MemKind)> {
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
            let base = mmio.base & !(PAGE_SIZE - 1);
            let size = (mmio.end().next_multiple_of(PAGE_SIZE)) - base;
            grants.push((base, base, size, Perm::RW, MemKind::Device));
        }
    }
    let intc = &config.platform.intc;
    if let (2, Some(gicc), Some(gicv)) = (intc.version, intc.cpu_interface, intc.virtual_cpu) {
        grants.push((
            gicc.base,
            gicv.base,
            gicc.size.min(gicv.size),
            Perm::RW,
            MemKind::Device,
        ));
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

fn at_most(have: Perm, granted: Perm) -> bool {
    (!have.read || granted.read)
        && (!have.write || granted.write)
        && (!have.execute || granted.execute)
}

fn audit<F: DescriptorFormat<Input = GuestPhysAddr>>(path: &Path, geometry: Geometry) {
    let config = load_config(path);
    let tables = lower(&config);
    let shown = path.file_name().unwrap().to_string_lossy().into_owned();
    for cell in &config.cells {
        // An AArch64 config's bound counts a level-1 root; walked from
        // level 0 (EPT geometry) it needs the level-0 root too (every
        // config's guest addresses lie in the first 512 GiB). An x86
        // config's bound already counts the EPT's extra level.
        let extra_root = geometry.0 == Level::Zero && config.platform.arch == model::Arch::Aarch64;
        let bound = cell.stage2_table_bound(&config) + usize::from(extra_root);
        let mappings = walk::<F>(&tables, &tables.cells[cell.id], bound, geometry);
        let grants = grants(&config, cell);
        let mut mapped_bytes = 0;
        for m in &mappings {
            mapped_bytes += m.size;
            // Every mapped byte comes from one grant, at the granted offset,
            // with no more permission and the granted memory type.
            let grant = grants
                .iter()
                .find(|g| m.input >= g.0 && m.input + m.size <= g.0 + g.2)
                .unwrap_or_else(|| {
                    panic!("{shown}: cell {} maps {m:x?} without a grant", cell.name)
                });
            assert_eq!(m.output, grant.1 + (m.input - grant.0), "{shown}: {m:x?}");
            assert!(
                at_most(m.attrs.perm, grant.3),
                "{shown}: {m:x?} exceeds {grant:x?}"
            );
            assert_eq!(m.attrs.kind, grant.4, "{shown}: {m:x?}");
            // And it never reaches the hypervisor or another cell's memory.
            let out = model::Range::new(m.output, m.size);
            assert!(
                !out.overlaps(&config.hypervisor.memory),
                "{shown}: {m:x?} reaches the hypervisor"
            );
            for other in config.cells.iter().filter(|c| c.id != cell.id) {
                for region in &other.memory {
                    assert!(
                        !out.overlaps(&region.host()),
                        "{shown}: cell {} reaches cell {}'s memory via {m:x?}",
                        cell.name,
                        other.name
                    );
                }
            }
        }
        // And everything granted is mapped: nothing more, nothing less.
        let granted: u64 = grants.iter().map(|g| g.2).sum();
        assert_eq!(mapped_bytes, granted, "{shown}: cell {}", cell.name);
        // The console page of a virtual console is never mapped, so its
        // accesses trap (a port-mapped console has none).
        if let Some(console) = config.platform.devices[config.hypervisor.console]
            .mmio
            .first()
            .map(|m| m.base)
        {
            assert!(
                mappings
                    .iter()
                    .all(|m| console < m.input || console >= m.input + m.size)
            );
        }
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
