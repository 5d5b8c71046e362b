//! Loading and cross-checking: TOML text in, a checked [`Config`] out.
//!
//! This is the host half of the isolation argument. The hypervisor builds
//! each cell's stage-2 (or EPT) tables, interrupt routing and I/O bitmaps
//! from the generated tables and trusts them: it does not re-check at boot
//! that two cells do not share RAM, a device, an interrupt or a CPU, or
//! that no cell reaches the hypervisor's own memory. Those rules are
//! enforced here, before any table is generated, and a plain `cargo build`
//! runs them too (`build.rs`). Each rejection names the place, the other
//! party when there is one, and a fix; all problems are collected, not just
//! the first.
//!
//! One file per concern, each listing the rules it enforces:
//!
//! | pass | what it checks |
//! | --- | --- |
//! | this file | parsing (unknown keys, malformed values, via `schema`), the platform named exists |
//! | `platform.rs` | the platform file: RAM, console, load address, Bochs settings |
//! | `cpus.rs` | CPU ids of the platform; the CPUs each cell owns |
//! | `devices.rs` | platform devices and their I/O ports; passthrough devices and device windows |
//! | `irqs.rs` | the interrupt controller; the interrupts devices raise and cells own |
//! | `memory.rs` | host ranges (alignment, RAM, overlap), the hypervisor's memory, cell regions |
//! | `hypervisor.rs` | the `[hypervisor]` table: memory, console, log transport |
//! | `cells.rs` | the cell list, names, and the order of the per-cell passes |
//! | `images.rs` | ELF and raw images: source, reading, placement, entry point, payload size |
//! | `linux.rs` | arm64 Linux images: boot-protocol placement, initrd, device tree |
//! | `x86.rs` | what an x86_64 cell needs beyond the common rules |
//! | `channels.rs` | shared-memory channels |
//!
//! [`load`] runs them in this order: parse the config, find and check the
//! platform (a broken platform stops there: everything else refers to it),
//! then the hypervisor, each cell in turn, the channels, and last, once the
//! whole config is known, the Linux cells' device trees and the size of the
//! images the hypervisor carries.

mod cells;
mod channels;
mod cpus;
mod devices;
mod hypervisor;
mod images;
mod irqs;
mod linux;
mod memory;
mod platform;
mod x86;

use std::collections::BTreeMap;
use std::ops::Range as Span;
use std::path::{Path, PathBuf};

pub use linux::{DTB_SLOT, LinuxHeader};

use crate::diag::{Diagnostic, Diagnostics, Location, Source, suggestion};
use crate::model::{Arch, Cell, Channel, Config, Hypervisor, Platform, Range};
use crate::schema::{RawConfig, RawPlatform, RawRange};

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
    let (platform_path, platform_source) = find_platform(&raw, &source, options)?;
    let raw_platform: RawPlatform = parse(&platform_source)?;
    let platform_name = raw.platform.get_ref();
    let platform = platform::check_platform(platform_name, &platform_source, &raw_platform)?;

    let mut checker = Checker::new(&source, &platform_source, &raw_platform, &platform, options);
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
    // Only now is the whole config known: what a Linux cell's device tree
    // describes, and how much the hypervisor image carries.
    let mut errors = linux::finish_linux_cells(&mut config, &linux_images);
    if let Some(error) = images::check_payload(&config, source.at(raw.hypervisor.memory.span())) {
        errors.push(error);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(config)
}

fn read_source(path: &Path, options: &LoadOptions) -> Result<Source, String> {
    let shown = crate::diag::display_path(path, &options.display_root);
    std::fs::read_to_string(path)
        .map(|text| Source::new(shown.clone(), text))
        .map_err(|e| format!("{}: error: cannot read: {e}", shown.display()))
}

/// Parses a TOML file into its schema type: unknown keys, missing keys,
/// wrong types and values that are not one of a key's spellings (enums,
/// permissions, sizes) are all rejected here, at their location.
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

/// The platform file the config names, read: `platforms/<name>.toml`. A
/// name with a path separator is refused, so a config cannot pick a file
/// outside the platforms folder.
fn find_platform(
    raw: &RawConfig,
    source: &Source,
    options: &LoadOptions,
) -> Result<(PathBuf, Source), Diagnostics> {
    let platform_name = raw.platform.get_ref();
    let platform_path = options.platforms_dir.join(format!("{platform_name}.toml"));
    if platform_name.contains(['/', '\\']) || !platform_path.is_file() {
        let known = known_names(&options.platforms_dir, "toml");
        return Err(Diagnostic::new(
            source.at(raw.platform.span()),
            format!("unknown platform `{platform_name}`"),
        )
        .help(format!(
            "{} (platforms are the files in {}/)",
            suggestion(platform_name, known.iter().map(String::as_str)),
            crate::diag::display_path(&options.platforms_dir, &options.display_root).display()
        ))
        .into());
    }
    let platform_source = read_source(&platform_path, options)
        .map_err(|m| Diagnostic::new(source.at(raw.platform.span()), m))?;
    Ok((platform_path, platform_source))
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

/// Who owns a piece of host memory, for overlap messages.
struct HostClaim {
    owner: String,
    range: Range,
    location: Location,
}

/// The cell that claimed a CPU, device or interrupt, and where.
type Owner = (String, Location);

/// The checks of a product config against its checked platform, with what
/// the cells checked so far have claimed.
struct Checker<'a> {
    source: &'a Source,
    platform_source: &'a Source,
    raw_platform: &'a RawPlatform,
    platform: &'a Platform,
    options: &'a LoadOptions,
    errors: Diagnostics,
    /// Host memory claimed so far: the hypervisor's, cells' RAM regions,
    /// channels. No two may overlap.
    claims: Vec<HostClaim>,
    /// Cell names seen so far, where each is declared.
    cell_names: BTreeMap<String, Location>,
    /// Owner of each platform CPU index claimed so far.
    cpu_owner: BTreeMap<u32, Owner>,
    /// Owner of each platform device index claimed so far.
    device_owner: BTreeMap<usize, Owner>,
    /// Owner of each interrupt claimed so far.
    irq_owner: BTreeMap<u32, Owner>,
    /// Where each Linux cell's image is named (for errors found once the
    /// whole config is known: its device tree).
    linux_images: Vec<(String, Location)>,
}

impl<'a> Checker<'a> {
    fn new(
        source: &'a Source,
        platform_source: &'a Source,
        raw_platform: &'a RawPlatform,
        platform: &'a Platform,
        options: &'a LoadOptions,
    ) -> Self {
        Checker {
            source,
            platform_source,
            raw_platform,
            platform,
            options,
            errors: Diagnostics::default(),
            claims: Vec::new(),
            cell_names: BTreeMap::new(),
            cpu_owner: BTreeMap::new(),
            device_owner: BTreeMap::new(),
            irq_owner: BTreeMap::new(),
            linux_images: Vec::new(),
        }
    }

    /// The hypervisor, then each cell, then the channels (which refer to
    /// the cells).
    fn check(&mut self, raw: &RawConfig) -> (Hypervisor, Vec<Cell>, Vec<Channel>) {
        let hypervisor = self.check_hypervisor(&raw.hypervisor);
        let cells = self.check_cells(raw, &hypervisor);
        let channels = self.check_channels(raw, &cells);
        (hypervisor, cells, channels)
    }

    /// A location in the config file.
    fn at(&self, span: Span<usize>) -> Location {
        self.source.at(span)
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }
}
