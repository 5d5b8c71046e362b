//! Isolation audit: for every config in `configs/` (and the good test
//! configs), build each cell's stage-2 tables (AArch64 format and the
//! adversarial fake format) and walk *everything* they map.

use std::path::{Path, PathBuf};

use bulkhead_config::model::{self, Config};
use bulkhead_config::{LoadOptions, load};

use super::{IPA_BITS, build};
use crate::addr::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr};
use crate::arch::aarch64::descriptors::Stage2;
use crate::config::{
    Arch, CellConsole, CellDesc, ChannelDesc, ChannelEndDesc, CpuDesc, DeviceDesc, FaultPolicy,
    HypervisorDesc, ImageDesc, ImageKind, IntcDesc, LogTransport, MemRange, PhysicalTimer,
    PlatformDesc, RegionDesc, RegionKind, Tables, UartDesc, UartKind, VirtualCounter,
};
use crate::mm::{DescriptorFormat, MemAttrs, MemKind, PAGE_SIZE, Perm, Table, TablePool};

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

fn range(r: model::Range) -> MemRange {
    MemRange::new(PhysAddr::new(r.base), r.size)
}

fn perm(p: model::Perm) -> Perm {
    Perm {
        read: p.read,
        write: p.write,
        execute: p.execute,
    }
}

/// The generated tables of `config`, built at run time (as codegen would).
fn tables(config: &Config) -> Tables<'static> {
    let p = &config.platform;
    let none = MemRange::new(PhysAddr::new(0), 0);
    let uart = |device: usize| UartDesc {
        device,
        kind: UartKind::Pl011,
        base: PhysAddr::new(p.devices[device].mmio[0].base),
        port: 0,
    };
    let platform = Box::leak(Box::new(PlatformDesc {
        name: "test",
        arch: Arch::Aarch64,
        load_address: PhysAddr::new(p.load_address),
        ram: leak(p.ram.iter().map(|r| range(*r)).collect()),
        intc: IntcDesc {
            version: p.intc.version,
            distributor: p.intc.distributor.map_or(none, range),
            redistributor: p.intc.redistributor.map_or(none, range),
            cpu_interface: p.intc.cpu_interface.map_or(none, range),
            virtual_control: p.intc.virtual_control.map_or(none, range),
            virtual_cpu: p.intc.virtual_cpu.map_or(none, range),
            maintenance_irq: IrqNum(p.intc.maintenance_irq),
            irq_count: p.intc.irq_count,
        },
        console: uart(p.console),
    }));
    let hypervisor = Box::leak(Box::new(HypervisorDesc {
        memory: range(config.hypervisor.memory),
        console: uart(config.hypervisor.console),
        log: LogTransport::None,
    }));
    let devices = leak(
        p.devices
            .iter()
            .map(|d| DeviceDesc {
                name: "device",
                compatible: "test",
                mmio: leak(d.mmio.iter().map(|m| range(*m)).collect()),
                irqs: leak(d.irqs.iter().map(|&i| IrqNum(i)).collect()),
                ports: &[],
            })
            .collect(),
    );
    let cells = leak(
        config
            .cells
            .iter()
            .map(|c| CellDesc {
                id: CellId(c.id as u16),
                name: "cell",
                cpus: leak(c.cpus.iter().map(|&i| CpuId(i as u16)).collect()),
                memory: leak(
                    c.memory
                        .iter()
                        .map(|r| RegionDesc {
                            gpa: GuestPhysAddr::new(r.gpa),
                            hpa: PhysAddr::new(r.hpa),
                            size: r.size,
                            perm: perm(r.perm),
                            kind: r.device.map_or(RegionKind::Ram, RegionKind::Device),
                        })
                        .collect(),
                ),
                devices: leak(c.devices.clone()),
                irqs: leak(c.irqs.iter().map(|&i| IrqNum(i)).collect()),
                image: ImageDesc {
                    kind: ImageKind::Elf,
                    name: "image",
                    size: 0,
                    segments: &[],
                },
                entry: GuestPhysAddr::new(c.entry.unwrap_or(0)),
                boot_arg: c.image.boot_argument(),
                console: CellConsole::Virtual,
                fault_policy: FaultPolicy::Halt,
                physical_timer: PhysicalTimer::Trap,
                virtual_counter: VirtualCounter::Physical,
            })
            .collect(),
    );
    let channels = leak(
        config
            .channels
            .iter()
            .map(|ch| ChannelDesc {
                name: "channel",
                memory: range(ch.memory),
                ends: leak(
                    ch.ends
                        .iter()
                        .map(|e| ChannelEndDesc {
                            cell: CellId(e.cell as u16),
                            gpa: GuestPhysAddr::new(e.gpa),
                            perm: perm(e.perm),
                        })
                        .collect(),
                ),
            })
            .collect(),
    );
    let cpus = leak(vec![
        CpuDesc {
            hw_id: 0,
            cell: None
        };
        p.cpus.len()
    ]);
    Tables {
        name: "test",
        platform,
        hypervisor,
        cpus,
        devices,
        cells,
        channels,
    }
}

fn config_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["configs", "tests/configs/good"] {
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

fn load_config(path: &Path) -> Config {
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

fn walk<F: DescriptorFormat<Input = GuestPhysAddr>>(
    tables: &Tables<'static>,
    cell: &CellDesc,
    pool_size: usize,
) -> Vec<Mapping> {
    let mut storage: Vec<Table> = (0..pool_size).map(|_| Table::ZEROED).collect();
    let pool = TablePool::new(&mut storage, PhysAddr::new(0x10_0000_0000)).unwrap();
    let map = build::<F>(tables, cell, pool).unwrap_or_else(|e| panic!("cell {}: {e:?}", cell.id));
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
        grants.push((region.gpa, region.hpa, region.size, perm(region.perm), kind));
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
                perm(end.perm),
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

fn audit<F: DescriptorFormat<Input = GuestPhysAddr>>(path: &Path) {
    let config = load_config(path);
    let tables = tables(&config);
    let shown = path.file_name().unwrap().to_string_lossy().into_owned();
    for cell in &config.cells {
        let bound = cell.stage2_table_bound(&config);
        let mappings = walk::<F>(&tables, &tables.cells[cell.id], bound);
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
        // accesses trap.
        let console = config.platform.devices[config.hypervisor.console].mmio[0].base;
        assert!(
            mappings
                .iter()
                .all(|m| console < m.input || console >= m.input + m.size)
        );
    }
}

#[test]
fn every_config_is_isolated_in_aarch64_stage2_format() {
    for path in config_files() {
        audit::<Stage2>(&path);
    }
}

#[test]
fn every_config_is_isolated_in_the_fake_format() {
    for path in config_files() {
        audit::<crate::mm::fake::FakeFormat<GuestPhysAddr, true>>(&path);
    }
}

#[test]
fn ipa_space_is_39_bits() {
    assert_eq!(IPA_BITS, 39);
}
