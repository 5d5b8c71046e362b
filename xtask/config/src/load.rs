//! Loading and cross-checking: TOML text in, a checked [`Config`] out.
//!
//! Every rule here rejects a configuration a hypervisor could not honour or
//! that would break isolation. Each rejection names the place, the other
//! party when there is one, and a fix. All problems are collected, not just
//! the first.

use std::collections::BTreeMap;
use std::ops::Range as Span;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics, Location, Source, suggestion};
use crate::model::{
    Arch, Bochs, Cell, Channel, ChannelEnd, Config, Cpu, Device, Hypervisor, Image, ImageSource,
    Intc, IntcKind, LinuxBoot, LogTransport, Platform, PortRange, Qemu, Range, Region, Segment,
    SegmentOrigin, X86_BOOT_AREA_SIZE, X86_MIN_FIRST_REGION, X86_VIRTUAL_COM1, human_size,
};
use crate::schema::{ImageKind, RawConfig, RawPlatform, RawPortRange, RawRange};

/// Smallest mapping granule: every region is a multiple of this.
pub const PAGE_SIZE: u64 = 4096;

/// First INTID a cell may own (SGIs and PPIs are per core, not assignable).
pub const FIRST_SPI: u32 = 32;

/// I/O APIC inputs (GSIs) of an APIC platform that does not say otherwise.
pub const DEFAULT_IOAPIC_INPUTS: u32 = 24;

/// Where to find platforms and guest builds, and how strict to be about
/// image files.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Folder holding `<platform>.toml` files.
    pub platforms_dir: PathBuf,
    /// Folder holding guest crates (`tests/guests/<name>/`).
    pub guests_dir: PathBuf,
    /// Cargo target folder where guest builds land.
    pub target_dir: PathBuf,
    /// Whether image files must exist and are read (target builds, `xtask
    /// check`), or are not read at all (host builds of the core, which embed
    /// no images).
    pub require_images: bool,
    /// Paths in messages are shown relative to this folder.
    pub display_root: PathBuf,
}

impl LoadOptions {
    /// The standard layout of a Bulkhead checkout rooted at `root`.
    pub fn for_workspace(root: &Path) -> Self {
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        LoadOptions {
            platforms_dir: root.join("platforms"),
            guests_dir: root.join("tests").join("guests"),
            target_dir,
            require_images: true,
            display_root: root.to_path_buf(),
        }
    }

    /// Where `cargo xtask build` puts guest crate `name` for `arch`.
    pub fn guest_image_path(&self, arch: Arch, name: &str) -> PathBuf {
        let triple = match arch {
            Arch::Aarch64 => "aarch64-unknown-none",
            Arch::X86_64 => "x86_64-unknown-none",
        };
        self.target_dir
            .join(triple)
            .join("release")
            .join(format!("guest-{name}"))
    }
}

fn read_source(path: &Path, options: &LoadOptions) -> Result<Source, String> {
    let shown = crate::diag::display_path(path, &options.display_root);
    std::fs::read_to_string(path)
        .map(|text| Source::new(shown.clone(), text))
        .map_err(|e| format!("{}: error: cannot read: {e}", shown.display()))
}

fn parse<T: serde::de::DeserializeOwned>(source: &Source) -> Result<T, Diagnostics> {
    toml::from_str::<T>(&source.text).map_err(|e| {
        let location = e.span().map_or_else(|| source.start(), |s| source.at(s));
        let message = e.message().trim().to_string();
        let help = if message.starts_with("unknown field") {
            "remove the key or fix its spelling; every key is documented in the commented \
             examples under platforms/ and configs/"
        } else if message.starts_with("missing field") {
            "add the key; see the commented examples under platforms/ and configs/"
        } else {
            "see the commented examples under platforms/ and configs/ for the expected form"
        };
        Diagnostic::new(location, message).help(help).into()
    })
}

/// Loads, parses and checks the product configuration at `path`.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Config, Diagnostics> {
    let source = read_source(path, options).map_err(|message| {
        Diagnostic::new(
            Location {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
            },
            message,
        )
    })?;
    let raw: RawConfig = parse(&source)?;

    // Find and check the platform first: everything else refers to it.
    let platform_name = raw.platform.get_ref().clone();
    let platform_path = options.platforms_dir.join(format!("{platform_name}.toml"));
    if platform_name.contains(['/', '\\']) || !platform_path.is_file() {
        let known = known_names(&options.platforms_dir, "toml");
        return Err(Diagnostic::new(
            source.at(raw.platform.span()),
            format!("unknown platform `{platform_name}`"),
        )
        .help(format!(
            "{} (platforms are the files in {}/)",
            suggestion(&platform_name, known.iter().map(String::as_str)),
            crate::diag::display_path(&options.platforms_dir, &options.display_root).display()
        ))
        .into());
    }
    let platform_source = read_source(&platform_path, options)
        .map_err(|m| Diagnostic::new(source.at(raw.platform.span()), m))?;
    let raw_platform: RawPlatform = parse(&platform_source)?;
    let platform = check_platform(&platform_name, &platform_source, &raw_platform)?;

    let mut checker = Checker {
        source: &source,
        platform_source: &platform_source,
        raw_platform: &raw_platform,
        platform: &platform,
        options,
        errors: Diagnostics::default(),
        linux_images: Vec::new(),
    };
    let (hypervisor, cells, channels) = checker.check(&raw);
    if !checker.errors.is_empty() {
        return Err(checker.errors);
    }
    let linux_images = checker.linux_images;
    let mut config = Config {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        platform_path,
        platform,
        hypervisor,
        cells,
        channels,
    };
    let mut errors = finish_linux_cells(&mut config, &linux_images);
    if let Some(error) = check_payload(&config, source.at(raw.hypervisor.memory.span())) {
        errors.push(error);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(config)
}

/// Largest device tree a Linux cell may get: the 2 MiB block reserved for
/// it (the arm64 boot protocol's limit, too).
pub const DTB_SLOT: u64 = 2 << 20;

/// What the hypervisor needs besides the cells' images: code, tables,
/// stacks (the linker checks the exact figure; this catches a config whose
/// images alone cannot fit, with a location).
const HYPERVISOR_OWN_MEMORY: u64 = 4 << 20;

/// Generates (or takes the hand-written) device tree of every Linux cell
/// whose files were read, now that the whole config is known.
fn finish_linux_cells(config: &mut Config, locations: &[(String, Location)]) -> Diagnostics {
    let mut errors = Diagnostics::default();
    for index in 0..config.cells.len() {
        let Some(linux) = config.cells[index].image.linux.clone() else {
            continue;
        };
        let name = config.cells[index].name.clone();
        let location = locations
            .iter()
            .find(|(cell, _)| *cell == name)
            .map(|(_, location)| location.clone())
            .unwrap_or_else(|| Location {
                path: config.path.clone(),
                line: 1,
                column: 1,
            });
        let dtb = if linux.dtb_file.is_some() {
            linux.dtb.clone()
        } else {
            let boot = crate::dtb::BootInfo {
                bootargs: linux.bootargs.clone(),
                initrd: linux.initrd.as_ref().map(|(_, range)| *range),
            };
            match crate::dtb::generate(config, &config.cells[index], &boot) {
                Ok(dtb) => dtb,
                Err(e) => {
                    errors.push(
                        Diagnostic::new(
                            location,
                            format!("cell `{name}`: cannot generate its device tree: {e}"),
                        )
                        .help("give a hand-written one with `dtb = \"file.dtb\"`"),
                    );
                    continue;
                }
            }
        };
        if dtb.len() as u64 > DTB_SLOT {
            errors.push(
                Diagnostic::new(
                    location,
                    format!(
                        "cell `{name}`: its device tree is {} (at most 2 MiB)",
                        human_size(dtb.len() as u64)
                    ),
                )
                .help("the arm64 boot protocol limits the device tree to 2 MiB"),
            );
            continue;
        }
        let image = &mut config.cells[index].image;
        for segment in &mut image.segments {
            if segment.origin == SegmentOrigin::DeviceTree {
                segment.size = dtb.len() as u64;
                segment.file_size = dtb.len() as u64;
            }
        }
        if let Some(linux) = image.linux.as_mut() {
            linux.dtb = dtb;
        }
    }
    errors
}

/// The cells' images are copied into the hypervisor's image (their pristine
/// copies): they must fit in its memory.
fn check_payload(config: &Config, at: Location) -> Option<Diagnostic> {
    let payload: u64 = config
        .cells
        .iter()
        .flat_map(|cell| &cell.image.segments)
        .map(|segment| segment.file_size)
        .sum();
    let room = config
        .hypervisor
        .memory
        .end()
        .saturating_sub(config.platform.load_address);
    (payload + HYPERVISOR_OWN_MEMORY > room).then(|| {
        Diagnostic::new(
            at,
            format!(
                "the cells' images ({}) do not fit in the hypervisor's memory ({} from its load address)",
                human_size(payload),
                human_size(room)
            ),
        )
        .help(format!(
            "the hypervisor image carries every cell's pristine image: grow `memory` to at least {:#x} bytes",
            (payload + HYPERVISOR_OWN_MEMORY + config.platform.load_address
                - config.hypervisor.memory.base)
                .next_multiple_of(2 << 20)
        ))
    })
}

/// Stems of the files with extension `ext` (or folder names when `ext` is
/// empty) in `dir`, sorted.
pub fn known_names(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            if ext.is_empty() {
                p.is_dir()
            } else {
                p.extension().is_some_and(|e| e == ext)
            }
        })
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

fn range(raw: &RawRange) -> Range {
    Range::new(*raw.base.get_ref(), raw.size.get_ref().0)
}

fn span_of(raw: &RawRange) -> Span<usize> {
    raw.base.span().start..raw.size.span().end
}

/// The port range, if it lies inside the 64 Ki-port I/O space and is not
/// empty.
fn port_range(raw: &RawPortRange) -> Option<PortRange> {
    let base = *raw.base.get_ref();
    let size = *raw.size.get_ref();
    ((1..=0xffff).contains(&size) && base.checked_add(size).is_some_and(|end| end <= 0x1_0000))
        .then(|| PortRange::new(base as u16, size as u16))
}

fn port_span(raw: &RawPortRange) -> Span<usize> {
    raw.base.span().start..raw.size.span().end
}

fn check_platform(name: &str, source: &Source, raw: &RawPlatform) -> Result<Platform, Diagnostics> {
    let mut errors = Diagnostics::default();
    let at = |span: Span<usize>| source.at(span);

    let cpus: Vec<Cpu> = raw
        .cpus
        .get_ref()
        .iter()
        .map(|c| Cpu {
            hw_id: c.mpidr.or(c.apic_id.map(u64::from)).unwrap_or(0),
        })
        .collect();
    if cpus.is_empty() {
        errors.push(
            Diagnostic::new(at(raw.cpus.span()), "the platform lists no CPUs")
                .help("add one `{ mpidr = ... }` (or `{ apic-id = ... }`) entry per core"),
        );
    }
    for (i, cpu) in raw.cpus.get_ref().iter().enumerate() {
        let wanted = match raw.arch.get_ref() {
            Arch::Aarch64 => cpu.mpidr.is_some() && cpu.apic_id.is_none(),
            Arch::X86_64 => cpu.apic_id.is_some() && cpu.mpidr.is_none(),
        };
        if !wanted {
            errors.push(
                Diagnostic::new(
                    at(raw.cpus.span()),
                    format!("CPU {i} has the wrong id kind"),
                )
                .help("AArch64 CPUs take `mpidr`, x86_64 CPUs take `apic-id`, one each"),
            );
        }
    }

    let ram: Vec<Range> = raw.ram.get_ref().iter().map(range).collect();
    if ram.is_empty() {
        errors.push(
            Diagnostic::new(at(raw.ram.span()), "the platform lists no RAM")
                .help("add `ram = [{ base = ..., size = ... }]`"),
        );
    }

    let platform_name = name;
    let mut devices = Vec::new();
    // Every port range seen so far: owner, range, where it is declared.
    let mut port_claims: Vec<(String, PortRange, Span<usize>)> = Vec::new();
    for device in &raw.devices {
        if devices
            .iter()
            .any(|d: &Device| d.name == *device.name.get_ref())
        {
            errors.push(
                Diagnostic::new(
                    at(device.name.span()),
                    format!("device name `{}` is used twice", device.name.get_ref()),
                )
                .help("give every device a unique name"),
            );
        }
        for mmio in &device.mmio {
            let r = range(mmio);
            if let Some(overlap) = ram.iter().find(|ram| ram.overlaps(&r)) {
                errors.push(
                    Diagnostic::new(
                        at(span_of(mmio)),
                        format!(
                            "device `{}` MMIO {r} overlaps RAM {overlap}",
                            device.name.get_ref()
                        ),
                    )
                    .help("fix the device's base or the RAM ranges"),
                );
            }
        }
        let mut ports = Vec::new();
        for raw_ports in &device.ports {
            let name = device.name.get_ref();
            let span = port_span(raw_ports);
            if *raw.arch.get_ref() != Arch::X86_64 {
                errors.push(
                    Diagnostic::new(
                        at(span),
                        format!("device `{name}` has I/O ports, but platform `{platform_name}` is AArch64"),
                    )
                    .help("I/O ports exist on x86_64 only: describe the device's registers with `mmio = [{ base = ..., size = ... }]`"),
                );
                continue;
            }
            let Some(r) = port_range(raw_ports) else {
                errors.push(
                    Diagnostic::new(
                        at(span),
                        format!(
                            "device `{name}` ports base {:#x} size {:#x} are not inside the I/O space 0x0..=0xffff",
                            raw_ports.base.get_ref(),
                            raw_ports.size.get_ref()
                        ),
                    )
                    .help("give a size of 1..=0xffff and a base so that the range ends at or below 0x10000"),
                );
                continue;
            };
            if let Some((other, other_range, other_span)) =
                port_claims.iter().find(|(_, p, _)| p.overlaps(&r))
            {
                errors.push(
                    Diagnostic::new(
                        at(span),
                        format!(
                            "device `{name}` ports {r} overlap device `{other}` ports {other_range}"
                        ),
                    )
                    .note(at(other_span.clone()), format!("device `{other}` ports declared here"))
                    .help("a port belongs to one device: fix the bases and sizes (a device may list several ranges)"),
                );
                continue;
            }
            port_claims.push((name.clone(), r, span));
            ports.push(r);
        }
        devices.push(Device {
            name: device.name.get_ref().clone(),
            compatible: device.compatible.clone(),
            mmio: device.mmio.iter().map(range).collect(),
            irqs: device.irqs.iter().map(|i| *i.get_ref()).collect(),
            ports,
        });
    }

    let console_name = raw.console.get_ref();
    let console = devices.iter().position(|d| d.name == *console_name);
    if console.is_none() {
        errors.push(
            Diagnostic::new(
                at(raw.console.span()),
                format!("unknown console device `{console_name}`"),
            )
            .help(suggestion(
                console_name,
                devices.iter().map(|d| d.name.as_str()),
            )),
        );
    }

    let load_address = *raw.hypervisor_load_address.get_ref();
    if !ram.iter().any(|r| r.contains(load_address)) {
        errors.push(
            Diagnostic::new(
                at(raw.hypervisor_load_address.span()),
                format!("hypervisor load address {load_address:#x} is not in RAM"),
            )
            .help("pick an address inside one of the `ram` ranges"),
        );
    }

    let ic = &raw.interrupt_controller;
    let kind = *ic.kind.get_ref();
    let arch = *raw.arch.get_ref();
    let expected_kind = match arch {
        Arch::Aarch64 => IntcKind::Gic,
        Arch::X86_64 => IntcKind::Apic,
    };
    if kind != expected_kind {
        errors.push(
            Diagnostic::new(
                at(ic.kind.span()),
                match arch {
                    Arch::Aarch64 => "an AArch64 platform's interrupt controller is a GIC",
                    Arch::X86_64 => "an x86_64 platform's interrupt controller is an APIC",
                },
            )
            .help(match arch {
                Arch::Aarch64 => "write `kind = \"gic\"`",
                Arch::X86_64 => {
                    "write `kind = \"apic\"` (local APICs in x2APIC mode and the I/O APIC)"
                }
            }),
        );
    }
    let mut irq_count = ic.irq_count.as_ref().map(|c| *c.get_ref());
    let mut version = 0;
    let mut maintenance = 0;
    if kind == IntcKind::Gic {
        let intc_span = ic.kind.span();
        for (key, present) in [
            ("version", ic.version.is_some()),
            ("maintenance-irq", ic.maintenance_irq.is_some()),
            ("irq-count", ic.irq_count.is_some()),
        ] {
            if !present {
                errors.push(
                    Diagnostic::new(
                        at(intc_span.clone()),
                        format!("a GIC needs `interrupt-controller.{key}`"),
                    )
                    .help(format!(
                        "add `{key} = ...`; platforms/qemu-virt-aarch64.toml documents it"
                    )),
                );
            }
        }
        if let Some(io_apic) = &ic.io_apic {
            errors.push(
                Diagnostic::new(
                    at(span_of(io_apic)),
                    "`io-apic` is an APIC key; this controller is a GIC",
                )
                .help("remove it: the I/O APIC exists on x86 platforms only"),
            );
        }
        let needs: &[(&str, bool)] = match &ic.version {
            None => &[],
            Some(v) => {
                version = *v.get_ref();
                match version {
                    2 => &[
                        ("distributor", ic.distributor.is_some()),
                        ("cpu-interface", ic.cpu_interface.is_some()),
                        ("virtual-control", ic.virtual_control.is_some()),
                        ("virtual-cpu", ic.virtual_cpu.is_some()),
                    ],
                    3 => &[
                        ("distributor", ic.distributor.is_some()),
                        ("redistributor", ic.redistributor.is_some()),
                    ],
                    _ => {
                        errors.push(
                            Diagnostic::new(at(v.span()), format!("unknown GIC version {version}"))
                                .help("write `version = 2` or `version = 3`"),
                        );
                        &[]
                    }
                }
            }
        };
        for (key, present) in needs {
            if !present {
                errors.push(
                    Diagnostic::new(
                        at(ic.version.as_ref().map_or(intc_span.clone(), Spanned::span)),
                        format!("a GICv{version} needs `interrupt-controller.{key}`"),
                    )
                    .help(format!("add `{key} = {{ base = ..., size = ... }}`")),
                );
            }
        }
        if let Some(count) = &ic.irq_count {
            let count = *count.get_ref();
            if !(FIRST_SPI..=1020).contains(&count) || !count.is_multiple_of(32) {
                errors.push(
                    Diagnostic::new(
                        at(ic.irq_count.as_ref().map_or(intc_span.clone(), Spanned::span)),
                        format!("`irq-count = {count}` is not a GIC INTID count"),
                    )
                    .help("a GIC implements a multiple of 32 INTIDs, at most 1020 (GICD_TYPER.ITLinesNumber)"),
                );
            }
        }
        if let Some(irq) = &ic.maintenance_irq {
            maintenance = *irq.get_ref();
            if !(16..32).contains(&maintenance) {
                errors.push(
                    Diagnostic::new(
                        at(irq.span()),
                        format!("maintenance interrupt {maintenance} is not a PPI"),
                    )
                    .help(
                        "the GIC maintenance interrupt is a PPI, INTID 16..31 (25 on most boards)",
                    ),
                );
            }
        }
    } else {
        // APIC: the GIC's keys make no sense; say so instead of ignoring them.
        let gic_keys = [
            ("version", ic.version.as_ref().map(Spanned::span)),
            (
                "maintenance-irq",
                ic.maintenance_irq.as_ref().map(Spanned::span),
            ),
            ("distributor", ic.distributor.as_ref().map(span_of)),
            ("redistributor", ic.redistributor.as_ref().map(span_of)),
            ("cpu-interface", ic.cpu_interface.as_ref().map(span_of)),
            ("virtual-control", ic.virtual_control.as_ref().map(span_of)),
            ("virtual-cpu", ic.virtual_cpu.as_ref().map(span_of)),
        ];
        for (key, span) in gic_keys {
            if let Some(span) = span {
                errors.push(
                    Diagnostic::new(at(span), format!("`{key}` is a GIC key; this controller is an APIC"))
                        .help("remove it: an APIC platform has `kind = \"apic\"` and optionally `irq-count` (I/O APIC inputs)"),
                );
            }
        }
        let count = *irq_count.get_or_insert(DEFAULT_IOAPIC_INPUTS);
        if !(1..=240).contains(&count) {
            errors.push(
                Diagnostic::new(
                    at(ic.irq_count.as_ref().map_or(ic.kind.span(), Spanned::span)),
                    format!("`irq-count = {count}` is not an I/O APIC input count"),
                )
                .help("an APIC platform's `irq-count` is the number of I/O APIC inputs (GSIs), 24 on a PC"),
            );
        }
    }
    let irq_count = irq_count.unwrap_or(0);

    if let (Some(bochs), Some(span)) = (&raw.bochs, raw.bochs.as_ref().map(|b| b.megs.span())) {
        if arch != Arch::X86_64 {
            errors.push(
                Diagnostic::new(at(span), "Bochs emulates x86 PCs only")
                    .help("remove the [bochs] table; AArch64 boards run under QEMU (`[qemu]`)"),
            );
        } else {
            let megs = *bochs.megs.get_ref();
            let top = ram.iter().map(Range::end).max().unwrap_or(0);
            if megs.checked_mul(1 << 20).is_none_or(|bytes| bytes < top) {
                errors.push(
                    Diagnostic::new(
                        at(bochs.megs.span()),
                        format!("Bochs `megs = {megs}` does not cover the platform's RAM (up to {top:#x})"),
                    )
                    .help(format!("write `megs = {}` or more", top.div_ceil(1 << 20))),
                );
            }
            if *bochs.ips.get_ref() == 0 {
                errors.push(
                    Diagnostic::new(at(bochs.ips.span()), "Bochs `ips` is 0")
                        .help("give an instruction rate, e.g. `ips = 10_000_000`"),
                );
            }
        }
    }
    if arch == Arch::X86_64
        && let Some(index) = console
    {
        let device = &devices[index];
        if device.ports.is_empty() && device.mmio.is_empty() {
            errors.push(
                Diagnostic::new(
                    at(raw.console.span()),
                    format!("console device `{}` has neither I/O ports nor MMIO", device.name),
                )
                .help("give the UART its registers, e.g. `ports = [{ base = 0x3f8, size = 8 }]` for COM1"),
            );
        }
    }
    for device in &raw.devices {
        for irq in &device.irqs {
            if *irq.get_ref() >= irq_count {
                errors.push(
                    Diagnostic::new(
                        at(irq.span()),
                        format!(
                            "device `{}` interrupt {} is beyond the controller's {irq_count} INTIDs",
                            device.name.get_ref(),
                            irq.get_ref()
                        ),
                    )
                    .help(match kind {
                        IntcKind::Gic => "INTIDs here are GIC numbers: an SPI written `<0 N 4>` in a DT is 32 + N",
                        IntcKind::Apic => "interrupts here are I/O APIC inputs (GSIs): ISA IRQ N is GSI N; raise `irq-count` if the board has more inputs",
                    }),
                );
            }
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Platform {
        name: name.to_string(),
        description: raw.description.clone(),
        arch: *raw.arch.get_ref(),
        load_address,
        cpus,
        ram,
        intc: Intc {
            kind,
            version,
            distributor: ic.distributor.as_ref().map(range),
            redistributor: ic.redistributor.as_ref().map(range),
            cpu_interface: ic.cpu_interface.as_ref().map(range),
            virtual_control: ic.virtual_control.as_ref().map(range),
            virtual_cpu: ic.virtual_cpu.as_ref().map(range),
            maintenance_irq: maintenance,
            io_apic: ic.io_apic.as_ref().map(range),
            irq_count,
        },
        console: console.unwrap_or(0),
        devices,
        qemu: raw.qemu.as_ref().map(|q| Qemu {
            binary: q.binary.clone(),
            machine: q.machine.clone(),
            cpu: q.cpu.clone(),
            memory_mib: q.memory_mib,
            devices: q.devices.clone(),
        }),
        bochs: raw.bochs.as_ref().map(|b| Bochs {
            cpu_model: b.cpu_model.clone(),
            megs: *b.megs.get_ref(),
            ips: *b.ips.get_ref(),
        }),
    })
}

/// Who owns a piece of host memory, for overlap messages.
struct HostClaim {
    owner: String,
    range: Range,
    location: Location,
}

struct Checker<'a> {
    source: &'a Source,
    platform_source: &'a Source,
    raw_platform: &'a RawPlatform,
    platform: &'a Platform,
    options: &'a LoadOptions,
    errors: Diagnostics,
    /// Where each Linux cell's image is named (for errors found once the
    /// whole config is known: its device tree).
    linux_images: Vec<(String, Location)>,
}

impl Checker<'_> {
    fn at(&self, span: Span<usize>) -> Location {
        self.source.at(span)
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    /// Checks alignment, size and RAM placement of a host range; returns
    /// whether it is usable for further checks.
    fn check_host_range(
        &mut self,
        what: &str,
        host: Range,
        span: Span<usize>,
        size_span: Span<usize>,
    ) -> bool {
        if host.size == 0 {
            self.error(
                Diagnostic::new(self.at(size_span), format!("{what} has size 0"))
                    .help("give it a size of at least 4 KiB, or remove it"),
            );
            return false;
        }
        if !host.base.is_multiple_of(PAGE_SIZE) || !host.size.is_multiple_of(PAGE_SIZE) {
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!("{what} {host} is not aligned to 4 KiB"),
                )
                .help(format!(
                    "use a base and size that are multiples of 0x1000, e.g. {:#x}..{:#x}",
                    host.base & !(PAGE_SIZE - 1),
                    (host.end() + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
                )),
            );
            return false;
        }
        if host.end() == u64::MAX || host.base.checked_add(host.size).is_none() {
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!("{what} wraps around the address space"),
                )
                .help("shrink it"),
            );
            return false;
        }
        true
    }

    fn check_in_ram(&mut self, what: &str, host: Range, span: Span<usize>) {
        if !self.platform.ram.iter().any(|r| r.contains_range(&host)) {
            let ram: Vec<String> = self.platform.ram.iter().map(ToString::to_string).collect();
            let location = self.platform_source.at(self.raw_platform.ram.span());
            self.error(
                Diagnostic::new(
                    self.at(span),
                    format!("{what} {host} is outside the platform's RAM"),
                )
                .note(
                    location,
                    format!(
                        "platform `{}` RAM is {}",
                        self.platform.name,
                        ram.join(", ")
                    ),
                )
                .help("move it inside one RAM range (it may not straddle two)"),
            );
        }
    }

    fn check_overlap(&mut self, claims: &mut Vec<HostClaim>, claim: HostClaim) {
        if let Some(other) = claims.iter().find(|c| c.range.overlaps(&claim.range)) {
            let message = format!(
                "{} {} overlaps {} {}",
                claim.owner, claim.range, other.owner, other.range
            );
            let help = if other.owner == "hypervisor memory" || claim.owner == "hypervisor memory" {
                "hypervisor memory is never mapped into cells: move the region past the \
                 hypervisor's range"
                    .to_string()
            } else {
                format!(
                    "move or shrink one of them; to share memory on purpose declare a \
                     [[channel]] instead (first free address after both: {:#x})",
                    claim.range.end().max(other.range.end())
                )
            };
            let note = format!("{} declared here", other.owner);
            let other_location = other.location.clone();
            self.error(
                Diagnostic::new(claim.location.clone(), message)
                    .note(other_location, note)
                    .help(help),
            );
        }
        claims.push(claim);
    }

    fn device_index(&mut self, name: &Spanned<String>, what: &str) -> Option<usize> {
        let found = self.platform.device_index(name.get_ref());
        if found.is_none() {
            let help = suggestion(
                name.get_ref(),
                self.platform.devices.iter().map(|d| d.name.as_str()),
            );
            self.error(
                Diagnostic::new(
                    self.at(name.span()),
                    format!(
                        "{what}: unknown device `{}` on platform `{}`",
                        name.get_ref(),
                        self.platform.name
                    ),
                )
                .help(help),
            );
        }
        found
    }

    fn check(&mut self, raw: &RawConfig) -> (Hypervisor, Vec<Cell>, Vec<Channel>) {
        let mut claims: Vec<HostClaim> = Vec::new();

        // Hypervisor.
        let hv = raw.hypervisor.memory.get_ref();
        let hv_range = range(hv);
        let hv_span = raw.hypervisor.memory.span();
        if self.check_host_range(
            "hypervisor memory",
            hv_range,
            hv_span.clone(),
            hv.size.span(),
        ) {
            self.check_in_ram("hypervisor memory", hv_range, hv_span.clone());
            let load = self.platform.load_address;
            if !hv_range.contains(load) {
                let location = self
                    .platform_source
                    .at(self.raw_platform.hypervisor_load_address.span());
                self.error(
                    Diagnostic::new(
                        self.at(hv_span.clone()),
                        format!(
                            "hypervisor memory {hv_range} does not contain the platform's \
                             load address {load:#x}"
                        ),
                    )
                    .note(location, "the boot loader places the hypervisor here")
                    .help(format!("start the hypervisor memory at or below {load:#x}")),
                );
            }
            claims.push(HostClaim {
                owner: "hypervisor memory".into(),
                range: hv_range,
                location: self.at(hv_span),
            });
        }
        let console = match &raw.hypervisor.console {
            Some(name) => self.device_index(name, "hypervisor console"),
            None => Some(self.platform.console),
        };
        let log = match (&raw.hypervisor.log, self.platform.arch) {
            (Some(log), Arch::X86_64) if *log.get_ref() == LogTransport::Semihosting => {
                self.error(
                    Diagnostic::new(
                        self.at(log.span()),
                        "`log = \"semihosting\"`: x86_64 has no semihosting",
                    )
                    .help("write `log = \"ring\"` (an in-memory ring buffer) or `log = \"none\"`"),
                );
                LogTransport::None
            }
            (Some(log), _) => *log.get_ref(),
            (None, Arch::Aarch64) => LogTransport::Semihosting,
            (None, Arch::X86_64) => LogTransport::None,
        };
        let hypervisor = Hypervisor {
            memory: hv_range,
            console: console.unwrap_or(self.platform.console),
            log,
        };

        // Cells.
        let mut names: BTreeMap<String, Location> = BTreeMap::new();
        let mut cpu_owner: BTreeMap<u32, (String, Location)> = BTreeMap::new();
        let mut device_owner: BTreeMap<usize, (String, Location)> = BTreeMap::new();
        let mut irq_owner: BTreeMap<u32, (String, Location)> = BTreeMap::new();
        let mut cells = Vec::new();
        if raw.cells.is_empty() {
            self.error(
                Diagnostic::new(self.source.start(), "the configuration has no cells")
                    .help("add at least one [[cell]] table"),
            );
        }
        for (id, raw_cell) in raw.cells.iter().enumerate() {
            let cell_span = raw_cell.span();
            let raw_cell = raw_cell.get_ref();
            let name = raw_cell.name.get_ref().clone();
            let name_location = self.at(raw_cell.name.span());
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.error(
                    Diagnostic::new(name_location.clone(), format!("invalid cell name `{name}`"))
                        .help("use letters, digits, `-` and `_` only"),
                );
            }
            if let Some(first) = names.get(&name) {
                let first = first.clone();
                self.error(
                    Diagnostic::new(
                        name_location.clone(),
                        format!("two cells are named `{name}`"),
                    )
                    .note(first, "first cell of that name")
                    .help("give every cell a unique name"),
                );
            }
            names.insert(name.clone(), name_location.clone());

            // CPUs.
            let mut cpus = Vec::new();
            if raw_cell.cpus.get_ref().is_empty() {
                self.error(
                    Diagnostic::new(
                        self.at(raw_cell.cpus.span()),
                        format!("cell `{name}` has no CPU"),
                    )
                    .help(format!(
                        "give it at least one of the platform's CPUs 0..{}",
                        self.platform.cpus.len()
                    )),
                );
            }
            for cpu in raw_cell.cpus.get_ref() {
                let index = *cpu.get_ref();
                let location = self.at(cpu.span());
                if index as usize >= self.platform.cpus.len() {
                    self.error(
                        Diagnostic::new(
                            location,
                            format!(
                                "cell `{name}` claims CPU {index}, but platform `{}` has CPUs 0..{}",
                                self.platform.name,
                                self.platform.cpus.len()
                            ),
                        )
                        .help("use a CPU index below the platform's CPU count"),
                    );
                    continue;
                }
                if let Some((owner, first)) = cpu_owner.get(&index).cloned() {
                    self.error(
                        Diagnostic::new(
                            location,
                            format!(
                                "CPU {index} is claimed by cell `{name}` and by cell `{owner}`"
                            ),
                        )
                        .note(first, format!("cell `{owner}` claims it here"))
                        .help("cells own whole cores: give each CPU to one cell only"),
                    );
                    continue;
                }
                cpu_owner.insert(index, (name.clone(), location));
                if !cpus.contains(&index) {
                    cpus.push(index);
                }
            }
            cpus.sort_unstable();

            // Devices and interrupts.
            let mut devices = Vec::new();
            let mut irqs: Vec<(u32, Location)> = Vec::new();
            for device in &raw_cell.devices {
                let location = self.at(device.span());
                let Some(index) = self.device_index(device, &format!("cell `{name}`")) else {
                    continue;
                };
                if index == hypervisor.console {
                    self.error(
                        Diagnostic::new(
                            location,
                            format!("device `{}` is the hypervisor's console", device.get_ref()),
                        )
                        .help("cells get a virtual console by default (`console = \"virtual\"`); pass through another UART, or move the hypervisor console with `[hypervisor] console`"),
                    );
                    continue;
                }
                if let Some((owner, first)) = device_owner.get(&index).cloned() {
                    self.error(
                        Diagnostic::new(
                            location,
                            format!(
                                "device `{}` is passed through to cell `{name}` and to cell `{owner}`",
                                device.get_ref()
                            ),
                        )
                        .note(first, format!("cell `{owner}` claims it here"))
                        .help("a device belongs to one cell; remove it from one of them"),
                    );
                    continue;
                }
                device_owner.insert(index, (name.clone(), location.clone()));
                devices.push(index);
                for irq in &self.platform.devices[index].irqs {
                    irqs.push((*irq, location.clone()));
                }
            }
            let irq_count = self.platform.intc.irq_count;
            // GIC: SPIs only; APIC: any I/O APIC input (GSI).
            let first = match self.platform.intc.kind {
                IntcKind::Gic => FIRST_SPI,
                IntcKind::Apic => 0,
            };
            for irq in &raw_cell.irqs {
                let number = *irq.get_ref();
                let location = self.at(irq.span());
                if number < first || number >= irq_count {
                    let help = match self.platform.intc.kind {
                        IntcKind::Gic => format!(
                            "cells own shared peripheral interrupts (SPIs), INTID {FIRST_SPI}..{} on this {}; \
                             SGIs and PPIs (0..31) are per core and virtualised for every cell",
                            irq_count.saturating_sub(1),
                            self.intc_name()
                        ),
                        IntcKind::Apic => format!(
                            "cells own I/O APIC inputs (GSIs) 0..{} on this platform; local APIC \
                             vectors are the cell's own",
                            irq_count.saturating_sub(1)
                        ),
                    };
                    self.error(
                        Diagnostic::new(
                            location,
                            format!(
                                "interrupt {number} of cell `{name}` is outside the assignable range {first}..{irq_count}"
                            ),
                        )
                        .help(help),
                    );
                    continue;
                }
                irqs.push((number, location));
            }
            let mut owned = Vec::new();
            for (irq, location) in irqs {
                if let Some((owner, first)) = irq_owner.get(&irq).cloned() {
                    if owner != name {
                        self.error(
                            Diagnostic::new(
                                location,
                                format!("interrupt {irq} is claimed by cell `{name}` and by cell `{owner}`"),
                            )
                            .note(first, format!("cell `{owner}` claims it here"))
                            .help("an interrupt belongs to one cell; remove it from one of them"),
                        );
                    }
                    continue;
                }
                irq_owner.insert(irq, (name.clone(), location));
                owned.push(irq);
            }
            owned.sort_unstable();

            // Memory.
            let mut memory = Vec::new();
            let mut guest_claims: Vec<(Range, Location)> = Vec::new();
            if raw_cell.memory.is_empty() {
                self.error(
                    Diagnostic::new(
                        self.at(cell_span.clone()),
                        format!("cell `{name}` has no memory"),
                    )
                    .help("add a [[cell.memory]] region with gpa, hpa, size and perm"),
                );
            }
            for (i, region) in raw_cell.memory.iter().enumerate() {
                let span = region.span();
                let region = region.get_ref();
                let what = format!("cell `{name}` memory[{i}]");
                let host = Range::new(*region.hpa.get_ref(), region.size.get_ref().0);
                let guest = Range::new(*region.gpa.get_ref(), region.size.get_ref().0);
                if !self.check_host_range(&what, host, span.clone(), region.size.span()) {
                    continue;
                }
                if region.gpa.get_ref() % PAGE_SIZE != 0 {
                    self.error(
                        Diagnostic::new(
                            self.at(region.gpa.span()),
                            format!(
                                "{what} guest address {:#x} is not aligned to 4 KiB",
                                guest.base
                            ),
                        )
                        .help("use a gpa that is a multiple of 0x1000"),
                    );
                    continue;
                }
                let device = match &region.device {
                    Some(device_name) => {
                        let Some(index) = self.device_index(device_name, &what) else {
                            continue;
                        };
                        let dev = &self.platform.devices[index];
                        if !dev.mmio.iter().any(|m| m.contains_range(&host)) {
                            let ranges: Vec<String> =
                                dev.mmio.iter().map(ToString::to_string).collect();
                            self.error(
                                Diagnostic::new(
                                    self.at(span.clone()),
                                    format!(
                                        "{what} {host} is outside device `{}` ({})",
                                        dev.name,
                                        if ranges.is_empty() {
                                            "no MMIO".to_string()
                                        } else {
                                            ranges.join(", ")
                                        }
                                    ),
                                )
                                .help(
                                    "map a window that lies inside one of the device's MMIO ranges",
                                ),
                            );
                            continue;
                        }
                        if let Some((owner, first)) = device_owner.get(&index).cloned() {
                            if owner != name {
                                self.error(
                                    Diagnostic::new(
                                        self.at(device_name.span()),
                                        format!(
                                            "{what} maps device `{}`, which cell `{owner}` owns",
                                            dev.name
                                        ),
                                    )
                                    .note(first, format!("cell `{owner}` claims it here"))
                                    .help("a device belongs to one cell"),
                                );
                                continue;
                            }
                        } else {
                            device_owner.insert(index, (name.clone(), self.at(device_name.span())));
                        }
                        Some(index)
                    }
                    None => {
                        self.check_in_ram(&what, host, span.clone());
                        let claim = HostClaim {
                            owner: what.clone(),
                            range: host,
                            location: self.at(span.clone()),
                        };
                        self.check_overlap(&mut claims, claim);
                        None
                    }
                };
                if let Some((_, first)) = guest_claims.iter().find(|(g, _)| g.overlaps(&guest)) {
                    let first = first.clone();
                    self.error(
                        Diagnostic::new(
                            self.at(region.gpa.span()),
                            format!("{what} guest range {guest} overlaps another region of cell `{name}`"),
                        )
                        .note(first, "the other region")
                        .help("give each region of a cell its own guest-physical range"),
                    );
                }
                guest_claims.push((guest, self.at(span.clone())));
                memory.push(Region {
                    gpa: guest.base,
                    hpa: host.base,
                    size: host.size,
                    perm: *region.perm.get_ref(),
                    device,
                });
            }

            // Image and entry.
            let image = self.check_image(&name, raw_cell, &memory);
            if self.platform.arch == Arch::X86_64 {
                self.check_x86_cell(&name, raw_cell, &memory, &image, &devices);
            }
            let entry = raw_cell
                .entry
                .as_ref()
                .map(|e| *e.get_ref())
                .or(image.entry);
            if let Some(address) = entry {
                let executable = memory
                    .iter()
                    .any(|r| r.device.is_none() && r.perm.execute && r.guest().contains(address));
                if !executable {
                    let span = raw_cell
                        .entry
                        .as_ref()
                        .map_or_else(|| raw_cell.image.span(), Spanned::span);
                    let ranges: Vec<String> = memory
                        .iter()
                        .filter(|r| r.perm.execute && r.device.is_none())
                        .map(|r| r.guest().to_string())
                        .collect();
                    self.error(
                        Diagnostic::new(
                            self.at(span),
                            format!(
                                "entry point {address:#x} of cell `{name}` is outside its executable memory"
                            ),
                        )
                        .help(if ranges.is_empty() {
                            "give the cell a region with perm containing `x`".to_string()
                        } else {
                            format!("use an address in {}", ranges.join(", "))
                        }),
                    );
                }
            }

            cells.push(Cell {
                id,
                name,
                cpus,
                memory,
                devices,
                irqs: owned,
                image,
                entry,
                console: raw_cell.console,
                fault_policy: raw_cell.fault_policy,
                physical_timer: raw_cell.physical_timer,
                virtual_counter: raw_cell.virtual_counter,
            });
            if raw_cell.console == crate::schema::CellConsole::Passthrough {
                let has_uart = cells.last().is_some_and(|c| {
                    c.devices.iter().any(|&d| {
                        self.platform.devices[d].compatible.contains("pl011")
                            || self.platform.devices[d].compatible.contains("16550")
                    })
                });
                if !has_uart {
                    self.error(
                        Diagnostic::new(
                            self.at(cell_span.clone()),
                            format!(
                                "cell `{}` has `console = \"passthrough\"` but owns no UART",
                                cells.last().map_or("", |c| c.name.as_str())
                            ),
                        )
                        .help("add a UART to its `devices`, or use `console = \"virtual\"`"),
                    );
                }
            }
        }

        let channels = self.check_channels(raw, &cells, &mut claims);
        (hypervisor, cells, channels)
    }

    /// What an x86_64 cell needs beyond the common rules (docs/x86.md):
    /// a first RAM region that can hold the guest boot area (its top 32
    /// KiB) and is executable, an image that leaves the boot area alone, no
    /// arm64 Linux image, and no passthrough device on the virtual COM1's
    /// ports when the console is virtual.
    fn check_x86_cell(
        &mut self,
        name: &str,
        raw_cell: &crate::schema::RawCell,
        memory: &[Region],
        image: &Image,
        devices: &[usize],
    ) {
        let raw_image = raw_cell.image.get_ref();
        let image_span = raw_image
            .guest
            .as_ref()
            .or(raw_image.path.as_ref())
            .map_or_else(|| raw_cell.image.span(), Spanned::span);
        if image.kind == ImageKind::Linux {
            self.error(
                Diagnostic::new(
                    self.at(raw_image.kind.span()),
                    format!("cell `{name}`: `kind = \"linux\"` boots an arm64 kernel Image, not on x86_64"),
                )
                .help("x86_64 cells run `elf` or `raw` images"),
            );
        }
        let raw_first = raw_cell
            .memory
            .iter()
            .find(|r| r.get_ref().device.is_none());
        let (Some(raw_first), Some(first)) =
            (raw_first, memory.iter().find(|r| r.device.is_none()))
        else {
            if !memory.is_empty() {
                self.error(
                    Diagnostic::new(
                        self.at(raw_cell.name.span()),
                        format!("x86_64 cell `{name}` has no RAM region"),
                    )
                    .help("add a [[cell.memory]] RAM region (no `device`) of at least 64 KiB: the guest boot area lies at its top"),
                );
            }
            return;
        };
        let span = raw_first.span();
        if first.size < X86_MIN_FIRST_REGION {
            self.error(
                Diagnostic::new(
                    self.at(span.clone()),
                    format!(
                        "cell `{name}`: its first RAM region {} is {}; on x86_64 it holds the 32 KiB guest boot area and must be at least 64 KiB",
                        first.guest(),
                        human_size(first.size)
                    ),
                )
                .help("grow it to at least `size = \"64K\"`, or list a larger RAM region first"),
            );
            return;
        }
        if !first.perm.execute {
            self.error(
                Diagnostic::new(
                    self.at(span.clone()),
                    format!(
                        "cell `{name}`: its first RAM region {} is not executable (perm {})",
                        first.guest(),
                        first.perm
                    ),
                )
                .help("give it `perm = \"rwx\"`: x86_64 vCPUs start with their page tables and stack in its boot area, and the image usually runs from it"),
            );
        }
        let area = Range::new(first.guest().end() - X86_BOOT_AREA_SIZE, X86_BOOT_AREA_SIZE);
        for segment in &image.segments {
            let placed = Range::new(segment.gpa, segment.size);
            if placed.overlaps(&area) {
                let needed =
                    (placed.end() - first.gpa + X86_BOOT_AREA_SIZE).next_multiple_of(PAGE_SIZE);
                self.error(
                    Diagnostic::new(
                        self.at(image_span.clone()),
                        format!(
                            "cell `{name}`: image segment {placed} ({}) overlaps the guest boot area {area} (the top 32 KiB of its first RAM region)",
                            human_size(segment.size)
                        ),
                    )
                    .note(self.at(span.clone()), "the first RAM region")
                    .help(format!(
                        "the hypervisor writes the boot area at every start: enlarge the region to at least {needed:#x} bytes, or link the image lower"
                    )),
                );
            }
        }
        if raw_cell.console == crate::schema::CellConsole::Virtual {
            for &device in devices {
                let device = &self.platform.devices[device];
                if let Some(ports) = device.ports.iter().find(|p| p.overlaps(&X86_VIRTUAL_COM1)) {
                    let location = raw_cell
                        .devices
                        .iter()
                        .find(|d| *d.get_ref() == device.name)
                        .map_or_else(|| self.at(raw_cell.name.span()), |d| self.at(d.span()));
                    self.error(
                        Diagnostic::new(
                            location,
                            format!(
                                "cell `{name}` has a virtual console on COM1 (ports {X86_VIRTUAL_COM1}) and owns device `{}` on ports {ports}",
                                device.name
                            ),
                        )
                        .help("give the cell `console = \"passthrough\"` to drive that UART itself, or remove the device"),
                    );
                }
            }
        }
    }

    fn intc_name(&self) -> String {
        match self.platform.intc.kind {
            IntcKind::Gic => format!("GICv{}", self.platform.intc.version),
            IntcKind::Apic => "APIC".into(),
        }
    }

    /// Places an arm64 Linux `Image` (`data`), its initrd and its device
    /// tree in the cell's first RAM region by the arm64 boot protocol: the
    /// kernel `text_offset` above the region's first 2 MiB boundary, the
    /// device tree in the region's last 2 MiB block, the initrd just below
    /// it. The device tree itself is built once the whole config is known.
    fn place_linux(
        &mut self,
        cell: &str,
        raw: &crate::schema::RawImage,
        memory: &[Region],
        data: &[u8],
    ) -> Result<LinuxBoot, Diagnostic> {
        const TWO_MIB: u64 = 2 << 20;
        let path_span = raw
            .path
            .as_ref()
            .map_or_else(|| raw.kind.span(), |p| p.span());
        let header = LinuxHeader::parse(data).map_err(|e| {
            Diagnostic::new(
                self.at(path_span.clone()),
                format!("cell `{cell}`: not an arm64 Linux Image: {e}"),
            )
            .help("give the raw `Image` (not vmlinuz.efi or a compressed file); tests/linux/fetch-arm64.sh extracts one")
        })?;
        let Some(ram) = memory.iter().find(|r| r.device.is_none()) else {
            return Err(Diagnostic::new(
                self.at(path_span),
                format!("cell `{cell}`: a Linux cell needs a RAM region"),
            )
            .help("add a [[cell.memory]] region of at least 64 MiB"));
        };
        let base = ram.gpa.next_multiple_of(TWO_MIB);
        let kernel = Range::new(base + header.text_offset, header.image_size);
        let dtb_slot = Range::new(
            (ram.guest().end() / TWO_MIB * TWO_MIB).saturating_sub(TWO_MIB),
            TWO_MIB,
        );
        let dir = self
            .options
            .display_root
            .join(self.source.path.parent().unwrap_or(Path::new("")));
        let read_size = |checker: &mut Self, value: &Spanned<String>, what: &str| {
            let path = normalize(&dir.join(value.get_ref()));
            match std::fs::metadata(&path) {
                Ok(meta) => Ok((path, meta.len())),
                Err(e) => Err(Diagnostic::new(
                    checker.at(value.span()),
                    format!(
                        "cell `{cell}`: cannot read {what} {}: {e}",
                        crate::diag::display_path(&path, &checker.options.display_root).display()
                    ),
                )
                .help("check the path; it is relative to the config file's folder")),
            }
        };
        let initrd = match &raw.initrd {
            Some(value) => {
                let (path, size) = read_size(self, value, "initrd")?;
                let start = dtb_slot.base.saturating_sub(size) / PAGE_SIZE * PAGE_SIZE;
                Some((path, Range::new(start, size)))
            }
            None => None,
        };
        let (dtb_file, dtb) = match &raw.dtb {
            Some(value) => {
                let (path, _) = read_size(self, value, "device tree")?;
                let bytes = std::fs::read(&path).map_err(|e| {
                    Diagnostic::new(
                        self.at(value.span()),
                        format!("cell `{cell}`: cannot read device tree: {e}"),
                    )
                })?;
                (Some(path), bytes)
            }
            None => (None, Vec::new()),
        };
        let lowest_above_kernel = initrd
            .as_ref()
            .map_or(dtb_slot.base, |(_, range)| range.base);
        if dtb_slot.base < kernel.base || kernel.end() > lowest_above_kernel {
            let needed = header.text_offset
                + header.image_size
                + initrd
                    .as_ref()
                    .map_or(0, |(_, r)| r.size.next_multiple_of(PAGE_SIZE))
                + TWO_MIB
                + (base - ram.gpa);
            return Err(Diagnostic::new(
                self.at(path_span),
                format!(
                    "cell `{cell}`: the kernel ({}), {}and the device tree (2 MiB) do not fit in its first RAM region {}",
                    human_size(header.image_size),
                    initrd
                        .as_ref()
                        .map_or(String::new(), |(_, r)| format!("the initrd ({}) ", human_size(r.size))),
                    ram.guest(),
                ),
            )
            .help(format!(
                "grow that region to at least {:#x} bytes (Linux itself wants far more: 64 MiB or more)",
                needed.next_multiple_of(TWO_MIB)
            )));
        }
        Ok(LinuxBoot {
            kernel,
            initrd,
            bootargs: raw
                .bootargs
                .as_ref()
                .map_or_else(String::new, |b| b.get_ref().clone()),
            dtb_slot,
            dtb_file,
            dtb,
        })
    }

    fn check_image(
        &mut self,
        cell: &str,
        raw_cell: &crate::schema::RawCell,
        memory: &[Region],
    ) -> Image {
        let image_span = raw_cell.image.span();
        let raw = raw_cell.image.get_ref();
        let kind = *raw.kind.get_ref();
        let (source, path, path_span) = match (&raw.path, &raw.guest) {
            (Some(path), None) => {
                let base = self
                    .options
                    .display_root
                    .join(self.source.path.parent().unwrap_or(Path::new("")));
                (
                    ImageSource::File,
                    normalize(&base.join(path.get_ref())),
                    path.span(),
                )
            }
            (None, Some(guest)) => {
                let known = known_names(&self.options.guests_dir, "");
                if !known.contains(guest.get_ref()) {
                    self.error(
                        Diagnostic::new(
                            self.at(guest.span()),
                            format!("cell `{cell}`: unknown guest crate `{}`", guest.get_ref()),
                        )
                        .help(format!(
                            "{} (guest crates are the folders in tests/guests/)",
                            suggestion(guest.get_ref(), known.iter().map(String::as_str))
                        )),
                    );
                }
                (
                    ImageSource::Guest(guest.get_ref().clone()),
                    self.options
                        .guest_image_path(self.platform.arch, guest.get_ref()),
                    guest.span(),
                )
            }
            _ => {
                self.error(
                    Diagnostic::new(
                        self.at(image_span.clone()),
                        format!("cell `{cell}`: the image needs exactly one of `path` or `guest`"),
                    )
                    .help("write `path = \"file\"` for a prebuilt image or `guest = \"crate\"` for a guest under tests/guests/"),
                );
                (ImageSource::File, PathBuf::new(), image_span.clone())
            }
        };
        let mut image = Image {
            source,
            path: path.clone(),
            kind,
            file_size: None,
            segments: Vec::new(),
            entry: None,
            linux: None,
            boot_arg: raw.boot_arg.as_ref().map(|b| *b.get_ref()),
        };
        if kind != ImageKind::Linux {
            for (key, value) in [
                ("initrd", &raw.initrd),
                ("bootargs", &raw.bootargs),
                ("dtb", &raw.dtb),
            ] {
                if let Some(value) = value {
                    self.error(
                        Diagnostic::new(
                            self.at(value.span()),
                            format!("`{key}` is for Linux images only"),
                        )
                        .help("write `kind = \"linux\"` for an arm64 kernel Image, or remove it"),
                    );
                }
            }
        } else {
            if let ImageSource::Guest(_) = image.source {
                self.error(
                    Diagnostic::new(
                        self.at(image_span.clone()),
                        format!("cell `{cell}`: a Linux image is a kernel file, not a guest crate"),
                    )
                    .help("write `path = \"Image\"` (see tests/linux/ for fetching one)"),
                );
            }
            if raw.load.is_some() {
                self.error(
                    Diagnostic::new(
                        self.at(image_span.clone()),
                        "`load` is not for Linux images",
                    )
                    .help("the boot protocol places the kernel: remove `load`"),
                );
            }
            if let Some(boot_arg) = &raw.boot_arg {
                self.error(
                    Diagnostic::new(
                        self.at(boot_arg.span()),
                        "`boot-arg` is not for Linux images",
                    )
                    .help("a Linux cell's boot argument is its device tree address: remove `boot-arg`"),
                );
            }
            self.linux_images
                .push((cell.to_string(), self.at(path_span.clone())));
        }
        if kind == ImageKind::Elf && raw.load.is_some() {
            self.error(
                Diagnostic::new(self.at(image_span.clone()), "`load` is for raw images only")
                    .help("an ELF image is placed by its own program headers; remove `load`"),
            );
        }
        // Without `require_images` (host builds of the core, snapshot and
        // audit tests) image files are not read at all, so nothing depends
        // on whether or how a guest was built.
        if path.as_os_str().is_empty() || !self.options.require_images {
            return image;
        }
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(e) => {
                if self.options.require_images {
                    let shown = crate::diag::display_path(&path, &self.options.display_root);
                    let help = match &image.source {
                        ImageSource::Guest(_) => {
                            "`cargo xtask build CONFIG` builds guest crates before the hypervisor"
                                .to_string()
                        }
                        ImageSource::File => {
                            "check the path; it is relative to the config file's folder".to_string()
                        }
                    };
                    self.error(
                        Diagnostic::new(
                            self.at(path_span),
                            format!("cell `{cell}`: cannot read image {}: {e}", shown.display()),
                        )
                        .help(help),
                    );
                }
                return image;
            }
        };
        image.file_size = Some(data.len() as u64);
        match kind {
            ImageKind::Raw => {
                let load = raw
                    .load
                    .as_ref()
                    .map(|l| *l.get_ref())
                    .or_else(|| memory.first().map(|r| r.gpa));
                if let Some(load) = load {
                    image.segments.push(Segment {
                        gpa: load,
                        size: data.len() as u64,
                        file_offset: 0,
                        file_size: data.len() as u64,
                        origin: SegmentOrigin::Image,
                    });
                    image.entry = Some(load);
                }
            }
            ImageKind::Linux => match self.place_linux(cell, raw, memory, &data) {
                Ok(linux) => {
                    image.entry = Some(linux.kernel.base);
                    image.segments.push(Segment {
                        gpa: linux.kernel.base,
                        size: linux.kernel.size,
                        file_offset: 0,
                        file_size: data.len() as u64,
                        origin: SegmentOrigin::Image,
                    });
                    if let Some((_, range)) = &linux.initrd {
                        image.segments.push(Segment {
                            gpa: range.base,
                            size: range.size,
                            file_offset: 0,
                            file_size: range.size,
                            origin: SegmentOrigin::Initrd,
                        });
                    }
                    image.segments.push(Segment {
                        gpa: linux.dtb_slot.base,
                        size: linux.dtb.len() as u64,
                        file_offset: 0,
                        file_size: linux.dtb.len() as u64,
                        origin: SegmentOrigin::DeviceTree,
                    });
                    image.linux = Some(linux);
                }
                Err(diagnostic) => {
                    self.error(diagnostic);
                    return image;
                }
            },
            ImageKind::Elf => match parse_elf(&data) {
                Ok((machine, entry, segments)) => {
                    let expected = match self.platform.arch {
                        Arch::Aarch64 => object::elf::EM_AARCH64,
                        Arch::X86_64 => object::elf::EM_X86_64,
                    };
                    if machine != expected {
                        self.error(
                            Diagnostic::new(
                                self.at(path_span.clone()),
                                format!("cell `{cell}`: the image is an ELF for another architecture (e_machine {machine:?})"),
                            )
                            .help(format!("build it for {}", self.platform.target_triple())),
                        );
                    }
                    image.segments = segments;
                    image.entry = Some(entry);
                }
                Err(e) => {
                    self.error(
                        Diagnostic::new(
                            self.at(path_span.clone()),
                            format!("cell `{cell}`: the image is not a valid ELF executable: {e}"),
                        )
                        .help("use `kind = \"raw\"` for flat binaries"),
                    );
                    return image;
                }
            },
        }
        for segment in &image.segments {
            let placed = Range::new(segment.gpa, segment.size);
            let region = memory
                .iter()
                .filter(|r| r.device.is_none())
                .find(|r| r.guest().contains(segment.gpa));
            match region {
                Some(region) if region.guest().contains_range(&placed) => {}
                Some(region) => self.error(
                    Diagnostic::new(
                        self.at(path_span.clone()),
                        format!(
                            "cell `{cell}`: image {} does not fit: {} at {:#x} runs past the end of its region {}",
                            crate::diag::display_path(&path, &self.options.display_root).display(),
                            human_size(segment.size),
                            segment.gpa,
                            region.guest(),
                        ),
                    )
                    .help(format!(
                        "grow the region to at least {:#x} bytes, or load the image lower",
                        (placed.end() - region.gpa).next_multiple_of(PAGE_SIZE)
                    )),
                ),
                None => self.error(
                    Diagnostic::new(
                        self.at(path_span.clone()),
                        format!(
                            "cell `{cell}`: image part {placed} lies outside the cell's memory"
                        ),
                    )
                    .help("link or load the image inside one of the cell's memory regions"),
                ),
            }
        }
        image
    }

    fn check_channels(
        &mut self,
        raw: &RawConfig,
        cells: &[Cell],
        claims: &mut Vec<HostClaim>,
    ) -> Vec<Channel> {
        let mut channels = Vec::new();
        for channel in &raw.channels {
            let span = channel.span();
            let channel = channel.get_ref();
            let name = channel.name.get_ref().clone();
            let what = format!("channel `{name}`");
            let memory = Range::new(*channel.hpa.get_ref(), channel.size.get_ref().0);
            if !self.check_host_range(&what, memory, span.clone(), channel.size.span()) {
                continue;
            }
            self.check_in_ram(&what, memory, span.clone());
            self.check_overlap(
                claims,
                HostClaim {
                    owner: what.clone(),
                    range: memory,
                    location: self.at(span.clone()),
                },
            );
            if channel.ends.get_ref().len() < 2 {
                self.error(
                    Diagnostic::new(
                        self.at(channel.ends.span()),
                        format!("{what} has fewer than two ends"),
                    )
                    .help("a channel connects two or more cells; list each in `ends`"),
                );
            }
            let mut ends = Vec::new();
            for end in channel.ends.get_ref() {
                let cell_name = end.cell.get_ref();
                let Some(cell) = cells.iter().find(|c| c.name == *cell_name) else {
                    self.error(
                        Diagnostic::new(
                            self.at(end.cell.span()),
                            format!("{what}: `{cell_name}` is not a cell"),
                        )
                        .help(suggestion(cell_name, cells.iter().map(|c| c.name.as_str()))),
                    );
                    continue;
                };
                let gpa = *end.gpa.get_ref();
                let window = Range::new(gpa, memory.size);
                if gpa % PAGE_SIZE != 0 {
                    self.error(
                        Diagnostic::new(
                            self.at(end.gpa.span()),
                            format!("{what}: guest address {gpa:#x} in cell `{cell_name}` is not aligned to 4 KiB"),
                        )
                        .help("use a gpa that is a multiple of 0x1000"),
                    );
                } else if let Some(region) =
                    cell.memory.iter().find(|r| r.guest().overlaps(&window))
                {
                    self.error(
                        Diagnostic::new(
                            self.at(end.gpa.span()),
                            format!(
                                "{what}: window {window} in cell `{cell_name}` overlaps its memory {}",
                                region.guest()
                            ),
                        )
                        .help("map the channel at a guest address the cell does not use yet"),
                    );
                }
                ends.push(ChannelEnd {
                    cell: cell.id,
                    gpa,
                    perm: *end.perm.get_ref(),
                });
            }
            channels.push(Channel { name, memory, ends });
        }
        channels
    }
}

/// Machine, entry and load segments (physical addresses) of an ELF64 file.
fn parse_elf(data: &[u8]) -> Result<(object::elf::Machine, u64, Vec<Segment>), String> {
    use object::Endianness;
    use object::elf::{FileHeader64, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};

    let header = FileHeader64::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let mut segments = Vec::new();
    for ph in header
        .program_headers(endian, data)
        .map_err(|e| e.to_string())?
    {
        if ph.p_type(endian) == PT_LOAD && ph.p_memsz(endian) > 0 {
            let file_offset = ph.p_offset(endian);
            let file_size = ph.p_filesz(endian).min(ph.p_memsz(endian));
            if file_offset.saturating_add(file_size) > data.len() as u64 {
                return Err("a load segment lies beyond the end of the file".into());
            }
            segments.push(Segment {
                gpa: ph.p_paddr(endian),
                size: ph.p_memsz(endian),
                file_offset,
                file_size,
                origin: SegmentOrigin::Image,
            });
        }
    }
    if segments.is_empty() {
        return Err("it has no loadable segment".into());
    }
    Ok((header.e_machine(endian), header.e_entry(endian), segments))
}

/// Removes `.` and `dir/..` components without touching the file system.
/// The fields of an arm64 Linux `Image` header the boot protocol needs
/// (Documentation/arch/arm64/booting.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinuxHeader {
    /// Offset of the image above a 2 MiB aligned base.
    pub text_offset: u64,
    /// Memory the kernel needs from its start, BSS included.
    pub image_size: u64,
}

impl LinuxHeader {
    /// Reads the 64-byte header: `text_offset` at 8, `image_size` at 16,
    /// magic "ARMd" at 56; little-endian.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let u64_at = |offset: usize| -> Option<u64> {
            data.get(offset..offset + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if data.get(56..60) != Some(b"ARMd".as_slice()) {
            return Err("no \"ARMd\" magic at offset 0x38".into());
        }
        let (Some(text_offset), Some(image_size)) = (u64_at(8), u64_at(16)) else {
            return Err("header too short".into());
        };
        if image_size == 0 {
            return Err("image_size is 0 (a kernel older than 3.17): not supported".into());
        }
        if image_size < data.len() as u64 {
            return Err(format!(
                "image_size {image_size:#x} is smaller than the file ({:#x} bytes)",
                data.len()
            ));
        }
        if text_offset % PAGE_SIZE != 0 || text_offset >= 2 << 20 {
            return Err(format!(
                "text_offset {text_offset:#x} is not a page offset inside 2 MiB"
            ));
        }
        Ok(Self {
            text_offset,
            image_size,
        })
    }
}

fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
