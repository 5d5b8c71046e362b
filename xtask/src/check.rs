//! `cargo xtask check`: validate a config and print its partition table.

use std::fmt::Write;
use std::path::Path;

use bulkhead_config::model::{Arch, Cell, Config, ImageSource, human_size};
use bulkhead_config::{Diagnostics, load};

use crate::guests::build_guests;
use crate::paths;

/// Loads `path`: first the structure (no image files needed), then builds
/// the guest crates it names, then loads again with every image checked.
pub fn load_and_build_guests(path: &Path) -> Result<Config, CheckError> {
    crate::linux::prepare_for(path).map_err(CheckError::Other)?;
    let structure = load(path, &paths::load_options(false)).map_err(CheckError::Config)?;
    build_guests(&structure).map_err(CheckError::Other)?;
    load(path, &paths::load_options(true)).map_err(CheckError::Config)
}

/// Why a check failed.
#[derive(Debug)]
pub enum CheckError {
    /// The configuration is wrong: print the diagnostics.
    Config(Diagnostics),
    /// Something else failed (a guest build, I/O).
    Other(anyhow::Error),
}

/// The partition table as a text table.
pub fn table(config: &Config) -> String {
    let p = &config.platform;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "config    {} ({})\nplatform  {}: {}",
        config.name,
        paths::shown(&config.path).display(),
        p.name,
        p.description
    );
    let hv = config.hypervisor.memory;
    let _ = writeln!(
        out,
        "hypervisor {hv} ({}), console {}, log {}\n",
        human_size(hv.size),
        p.devices[config.hypervisor.console].name,
        lower(config.hypervisor.log)
    );
    let _ = writeln!(
        out,
        "{:<4} {:<12} {:<8} {:<44} {:<16} {:<14} image",
        "id", "cell", "cpus", "memory gpa -> hpa (size perm)", "devices", "irqs"
    );
    for cell in &config.cells {
        cell_rows(&mut out, config, cell);
    }
    channels(&mut out, config);
    let free: Vec<String> = (0..p.cpus.len() as u32)
        .filter(|c| config.cell_of_cpu(*c).is_none())
        .map(|c| c.to_string())
        .collect();
    if !free.is_empty() {
        let _ = writeln!(out, "\nunassigned CPUs: {}", free.join(", "));
    }
    out
}

/// A cell's lines: one per memory region (the first with the cell's CPUs,
/// devices, interrupts and image), then its entry and policies.
fn cell_rows(out: &mut String, config: &Config, cell: &Cell) {
    let p = &config.platform;
    let cpus = join(cell.cpus.iter());
    let devices = join(cell.devices.iter().map(|&d| &p.devices[d].name));
    let irqs = join(cell.irqs.iter());
    let image = image_column(cell);
    for (i, region) in cell.memory.iter().enumerate() {
        let memory = format!(
            "{:#x} -> {:#x} ({} {})",
            region.gpa,
            region.hpa,
            human_size(region.size),
            region.perm
        );
        if i == 0 {
            let _ = writeln!(
                out,
                "{:<4} {:<12} {:<8} {:<44} {:<16} {:<14} {image}",
                cell.id, cell.name, cpus, memory, devices, irqs
            );
        } else {
            let _ = writeln!(out, "{:<4} {:<12} {:<8} {memory}", "", "", "");
        }
    }
    if let Some(entry) = cell.entry {
        // x86_64: where the hypervisor writes the guest's GDT, page
        // tables and stack (docs/x86.md).
        let boot_area = match (p.arch, cell.x86_boot_area()) {
            (Arch::X86_64, Some(area)) => format!(", boot area {area}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<12} entry {entry:#x}{boot_area}, console {}, fault-policy {}",
            "",
            "",
            lower(cell.console),
            lower(cell.fault_policy)
        );
    }
}

/// `guest NAME (kind, SIZE B)` or the image file.
fn image_column(cell: &Cell) -> String {
    let image = match &cell.image.source {
        ImageSource::Guest(g) => format!("guest {g}"),
        ImageSource::File => paths::shown(&cell.image.path).display().to_string(),
    };
    let kind = lower(cell.image.kind);
    match cell.image.file_size {
        Some(size) => format!("{image} ({kind}, {size} B)"),
        None => format!("{image} ({kind})"),
    }
}

fn channels(out: &mut String, config: &Config) {
    for channel in &config.channels {
        let ends = channel
            .ends
            .iter()
            .map(|e| format!("{}@{:#x} {}", config.cells[e.cell].name, e.gpa, e.perm))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "\nchannel {} hpa {} ({}): {ends}",
            channel.name,
            channel.memory,
            human_size(channel.memory.size)
        );
    }
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let text = items.map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    if text.is_empty() { "-".into() } else { text }
}

/// A one-word value's name in lower case, as the config spells it.
fn lower(value: impl std::fmt::Debug) -> String {
    format!("{value:?}").to_lowercase()
}
