//! What a built hypervisor ELF holds, and where: section sizes and the
//! layout map `cargo xtask build` writes (`layout.txt`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use bulkhead_config::Config;
use bulkhead_config::model::{Arch, human_size};
use object::{Object, ObjectSection, ObjectSymbol};

/// Symbols of the linker scripts that mark where the image's parts end.
const MARKERS: [&str; 7] = [
    "__bss_start",
    "__bss_end",
    "__stacks_start",
    "__stacks_end",
    "__page_tables_start",
    "__hv_end",
    "__image_end",
];

/// The layout map: where every section and cell ends up.
pub fn layout_map(config: &Config, elf: &Path, image_size: u64) -> Result<String> {
    let data = std::fs::read(elf)?;
    let file = object::File::parse(&*data)?;
    let mut out = String::new();
    writeln!(
        out,
        "# Bulkhead layout for {} on {}",
        config.name, config.platform.name
    )?;
    summary(&mut out, config, &file, image_size)?;
    sections(&mut out, &file)?;
    cells(&mut out, config)?;
    if config.platform.arch == Arch::X86_64 {
        x86(&mut out, config)?;
    }
    Ok(out)
}

/// The hypervisor's memory, load address and image size.
fn summary(
    out: &mut String,
    config: &Config,
    file: &object::File<'_>,
    image_size: u64,
) -> Result<()> {
    let hv = config.hypervisor.memory;
    match config.platform.arch {
        Arch::Aarch64 => writeln!(
            out,
            "hypervisor memory {hv} ({}), load address {:#x}, image {image_size} bytes",
            human_size(hv.size),
            config.platform.load_address
        )?,
        Arch::X86_64 => writeln!(
            out,
            "hypervisor memory {hv} ({}), load address {:#x}, ELF load segments {} bytes, \
             entry {:#x}, ISO {image_size} bytes",
            human_size(hv.size),
            config.platform.load_address,
            loaded_bytes(file),
            file.entry()
        )?,
    }
    Ok(())
}

/// Every allocated section, then the marker symbols.
fn sections(out: &mut String, file: &object::File<'_>) -> Result<()> {
    writeln!(out, "\n{:<16} {:>12} {:>12}", "section", "address", "size")?;
    for section in file.sections() {
        let name = section.name().unwrap_or("?");
        if section.address() == 0 || name.is_empty() {
            continue;
        }
        writeln!(
            out,
            "{name:<16} {:>#12x} {:>12}",
            section.address(),
            section.size()
        )?;
    }
    for symbol in MARKERS {
        if let Some(s) = file.symbols().find(|s| s.name() == Ok(symbol)) {
            writeln!(out, "{symbol:<16} {:>#12x}", s.address())?;
        }
    }
    Ok(())
}

/// The cells' regions and the channels.
fn cells(out: &mut String, config: &Config) -> Result<()> {
    writeln!(out, "\ncells (guest-physical -> host-physical):")?;
    for cell in &config.cells {
        for region in &cell.memory {
            writeln!(
                out,
                "  {:<12} {:#x}..{:#x} -> {:#x} {} {}",
                cell.name,
                region.gpa,
                region.gpa + region.size,
                region.hpa,
                human_size(region.size),
                region.perm
            )?;
        }
    }
    for channel in &config.channels {
        writeln!(out, "  channel {:<4} {}", channel.name, channel.memory)?;
    }
    Ok(())
}

/// x86_64: the guest boot areas and who owns each device's I/O ports.
fn x86(out: &mut String, config: &Config) -> Result<()> {
    writeln!(
        out,
        "\nguest boot areas (top 32 KiB of the first RAM region):"
    )?;
    for cell in &config.cells {
        if let Some(area) = cell.x86_boot_area() {
            writeln!(out, "  {:<12} {area}", cell.name)?;
        }
    }
    writeln!(out, "\nI/O ports:")?;
    for (index, device) in config.platform.devices.iter().enumerate() {
        if device.ports.is_empty() {
            continue;
        }
        let ports: Vec<String> = device.ports.iter().map(ToString::to_string).collect();
        let owner = if index == config.hypervisor.console {
            "hypervisor console (virtual COM1 for the cells)".to_string()
        } else {
            config
                .cells
                .iter()
                .find(|c| c.devices.contains(&index))
                .map_or("unassigned (accesses exit)".to_string(), |c| {
                    format!("cell {}", c.name)
                })
        };
        writeln!(
            out,
            "  {:<12} {:<24} {owner}",
            device.name,
            ports.join(", ")
        )?;
    }
    Ok(())
}

/// Bytes the ELF's load segments take in the file: what the boot loader
/// copies.
fn loaded_bytes(file: &object::File<'_>) -> u64 {
    use object::ObjectSegment;
    file.segments().map(|s| s.file_range().1).sum()
}

/// Section sizes of the hypervisor ELF: `.text`, `.rodata`, `.data`, `.bss`.
pub fn section_sizes(elf: &Path) -> Result<Vec<(String, u64)>> {
    let data = std::fs::read(elf)?;
    let file = object::File::parse(&*data)?;
    Ok([".text", ".rodata", ".data", ".bss"]
        .iter()
        .filter_map(|name| {
            file.section_by_name(name)
                .map(|s| (name.to_string(), s.size()))
        })
        .collect())
}
