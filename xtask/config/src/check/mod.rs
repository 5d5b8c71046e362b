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
//! | `options.rs`, `checker.rs` | (no rule) where files are; the `Checker` the passes share: claims so far, diagnostics |
//! | `platform.rs` | the platform file: RAM, console, load address, Bochs settings |
//! | `address_map.rs` | the platform's RAM, device MMIO and controller frames do not overlap |
//! | `cpus.rs` | CPU ids of the platform; the CPUs each cell owns |
//! | `devices.rs` | platform devices and their I/O ports; passthrough devices and device windows |
//! | `irqs.rs` | the interrupt controller; the interrupts devices raise and cells own |
//! | `memory.rs` | host ranges (alignment, RAM, overlap), the hypervisor's memory, cell regions |
//! | `hypervisor.rs` | the `[hypervisor]` table: memory, console, log transport |
//! | `cells.rs` | the cell list, names, and the order of the per-cell passes |
//! | `files.rs` | files are read only when regular, and never past a size limit |
//! | `images.rs` | ELF and raw images: source, reading, placement, entry point, payload size |
//! | `linux.rs` | arm64 Linux images: boot-protocol placement, initrd, device tree |
//! | `x86.rs` | what an x86_64 cell needs beyond the common rules |
//! | `channels.rs` | shared-memory channels |
//! | `hazards.rs` | warnings: DMA-capable devices without an IOMMU, SMT siblings in two cells |
//! | `guest_space.rs` | each cell's guest-physical space (overlaps, emulated frames, IPA size), host overlaps in one sweep, passthrough device pages |
//!
//! [`load`] runs them in this order: parse the config, find and check the
//! platform (a broken platform stops there: everything else refers to it),
//! then the hypervisor, each cell in turn, the channels, and last, once the
//! whole config is known, the Linux cells' device trees and the size of the
//! images the hypervisor carries.

mod address_map;
mod cells;
mod channels;
mod checker;
mod cpus;
mod devices;
pub(crate) mod files;
mod guest_space;
mod hazards;
mod hypervisor;
mod images;
mod irqs;
mod linux;
mod memory;
mod options;
mod platform;
mod x86;

use std::path::{Path, PathBuf};

use checker::Checker;
pub use checker::{DEFAULT_IOAPIC_INPUTS, FIRST_SPI, PAGE_SIZE, known_names};
pub use linux::{DTB_SLOT, LinuxHeader};
pub use options::LoadOptions;

use crate::diag::{Diagnostic, Diagnostics, Location, Source, suggestion};
use crate::model::Config;
use crate::schema::{RawConfig, RawPlatform};

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
    let warnings = checker.warnings;
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
        warnings,
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
    files::read_text(path)
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
