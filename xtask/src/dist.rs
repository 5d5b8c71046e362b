//! `cargo xtask build`: guests, hypervisor, bootable image and layout map
//! in `target/dist/<config>/`.
//!
//! AArch64: the flat image `bulkhead.bin` a loader places at the platform's
//! load address. x86_64: the multiboot2 ELF wrapped in a GRUB ISO
//! `bulkhead.iso` (see [`crate::iso`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bulkhead_config::Config;
use bulkhead_config::model::{Arch, ImageSource};

use crate::check::{CheckError, load_and_build_guests};
use crate::layout::layout_map;
use crate::paths;
use crate::tools::{cargo, objcopy, run};

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
    let config = match load_and_build_guests(config_path) {
        Ok(config) => config,
        Err(CheckError::Config(errors)) => bail!("{errors}"),
        Err(CheckError::Other(e)) => return Err(e),
    };
    let (built, variant) = build_hypervisor(&config, options)?;
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
        Arch::X86_64 => crate::iso::make_iso(&elf, &dir)?,
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

/// Builds the hypervisor for `config` (release, the platform's target):
/// the ELF cargo wrote, and the dist folder name (the config's, plus any
/// test-only features, which get a folder of their own).
fn build_hypervisor(config: &Config, options: &BuildOptions) -> Result<(PathBuf, String)> {
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
    Ok((built, variant))
}
