//! `cargo xtask build`: guests, hypervisor, bootable image and layout map.
//!
//! AArch64: the flat image `bulkhead.bin` a loader places at the platform's
//! load address. x86_64: the multiboot2 ELF wrapped in a GRUB ISO
//! `bulkhead.iso` (see [`crate::bochs`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bulkhead_config::Config;
use bulkhead_config::model::{Arch, ImageSource, human_size};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::paths;

/// Cargo, as the one running xtask (respects `CARGO`).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(paths::workspace());
    command
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Builds every guest crate the config names, for the platform's target.
pub fn build_guests(config: &Config) -> Result<()> {
    let mut guests: Vec<&str> = config
        .cells
        .iter()
        .filter_map(|c| match &c.image.source {
            ImageSource::Guest(name) => Some(name.as_str()),
            ImageSource::File => None,
        })
        .collect();
    guests.sort_unstable();
    guests.dedup();
    if guests.is_empty() {
        return Ok(());
    }
    let mut command = cargo();
    command
        .args([
            "build",
            "--quiet",
            "--target",
            config.platform.target_triple(),
        ])
        // Guest images are always built optimised: the config model's image
        // paths point at the release folder.
        .arg("--release");
    for guest in guests {
        command.args(["-p", &format!("guest-{guest}")]);
    }
    run(&mut command)
}

/// Options of a hypervisor build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Extra cargo features of the hypervisor (test-only features).
    pub features: Vec<String>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Dist {
    /// `target/dist/<config>/` (or a features-specific sibling).
    pub dir: PathBuf,
    /// The hypervisor ELF (with symbols; what the log decoder reads).
    pub elf: PathBuf,
    /// What boots: the flat image to load at the platform's load address
    /// (AArch64, `bulkhead.bin`) or the GRUB ISO (x86_64, `bulkhead.iso`).
    pub image: PathBuf,
    /// Bytes in `image`.
    pub image_size: u64,
    /// The checked configuration.
    pub config: Config,
    /// Wall time of the build.
    pub elapsed: Duration,
}

/// Builds `config_path` into `target/dist/<config>/`.
pub fn build(config_path: &Path, options: &BuildOptions) -> Result<Dist> {
    let started = Instant::now();
    let config = match crate::check::load_and_build_guests(config_path) {
        Ok(config) => config,
        Err(crate::check::CheckError::Config(errors)) => bail!("{errors}"),
        Err(crate::check::CheckError::Other(e)) => return Err(e),
    };
    let triple = config.platform.hypervisor_target_triple();
    let mut command = cargo();
    command
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "bulkhead",
            "--target",
            triple,
        ])
        .env("BULKHEAD_CONFIG", &config.path)
        .env(
            "DEFMT_LOG",
            std::env::var("DEFMT_LOG").unwrap_or_else(|_| "info".into()),
        );
    // Test-only feature builds go to their own dist folder.
    let mut variant = config.name.clone();
    if !options.features.is_empty() {
        command.args(["--features", &options.features.join(",")]);
        variant = format!("{variant}+{}", options.features.join("+"));
    }
    run(&mut command)?;
    let built = paths::target_dir()
        .join(triple)
        .join("release")
        .join("bulkhead");

    let dir = paths::target_dir().join("dist").join(&variant);
    std::fs::create_dir_all(&dir)?;
    let elf = dir.join("bulkhead.elf");
    std::fs::copy(&built, &elf).with_context(|| format!("copy {}", built.display()))?;
    let image = match config.platform.arch {
        Arch::Aarch64 => {
            let image = dir.join("bulkhead.bin");
            run(Command::new(objcopy()?)
                .args(["-O", "binary"])
                .arg(&elf)
                .arg(&image))?;
            image
        }
        // GRUB loads the ELF itself; the ISO carries it.
        Arch::X86_64 => crate::bochs::make_iso(&elf, &dir)?,
    };
    for cell in &config.cells {
        if let ImageSource::Guest(name) = &cell.image.source {
            std::fs::copy(&cell.image.path, dir.join(format!("guest-{name}.elf")))?;
        }
    }
    let image_size = std::fs::metadata(&image)?.len();
    let map = layout_map(&config, &elf, image_size)?;
    std::fs::write(dir.join("layout.txt"), &map)?;
    Ok(Dist {
        dir,
        elf,
        image,
        image_size,
        config,
        elapsed: started.elapsed(),
    })
}

/// `llvm-objcopy` from the pinned toolchain's `llvm-tools` component.
pub fn objcopy() -> Result<PathBuf> {
    let sysroot = Command::new("rustc")
        .current_dir(paths::workspace())
        .args(["--print", "sysroot"])
        .output()
        .context("run rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    let host = Command::new("rustc")
        .current_dir(paths::workspace())
        .arg("-vV")
        .output()
        .context("run rustc -vV")?;
    let host = String::from_utf8(host.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host")?;
    let tool = sysroot
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-objcopy");
    if !tool.exists() {
        bail!(
            "{} is missing: run `rustup component add llvm-tools` (rust-toolchain.toml lists it)",
            tool.display()
        );
    }
    Ok(tool)
}

/// The layout map: where every section and cell ends up.
fn layout_map(config: &Config, elf: &Path, image_size: u64) -> Result<String> {
    let data = std::fs::read(elf)?;
    let file = object::File::parse(&*data)?;
    let mut out = String::new();
    let hv = config.hypervisor.memory;
    writeln!(
        out,
        "# Bulkhead layout for {} on {}",
        config.name, config.platform.name
    )?;
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
            loaded_bytes(&file),
            file.entry()
        )?,
    }
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
    for symbol in [
        "__bss_start",
        "__bss_end",
        "__stacks_start",
        "__stacks_end",
        "__page_tables_start",
        "__hv_end",
        "__image_end",
    ] {
        if let Some(s) = file.symbols().find(|s| s.name() == Ok(symbol)) {
            writeln!(out, "{symbol:<16} {:>#12x}", s.address())?;
        }
    }
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
    if config.platform.arch == Arch::X86_64 {
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
    }
    Ok(out)
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
