//! Guest crates: the ones under `tests/guests/`, and building those a
//! config names (bare-metal builds of the hypervisor check and embed their
//! images, so guests are built first).

use std::path::PathBuf;

use anyhow::Result;
use bulkhead_config::Config;
use bulkhead_config::model::{Arch, ImageSource};

use crate::paths;
use crate::tools::cargo;

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
    for guest in &guests {
        command.args(["-p", &format!("guest-{guest}")]);
    }
    crate::progress::step(
        &format!("building guests {} for {}", guests.join(", "), config.name),
        &mut command,
    )
}

/// Builds the guest crates every product config in `configs/` names.
pub fn build_all_guests() -> Result<()> {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(paths::workspace().join("configs"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    for path in configs {
        let config = bulkhead_config::load(&path, &paths::load_options(false))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        build_guests(&config)?;
    }
    Ok(())
}

/// Package names of the guest crates (with a binary) under tests/guests/
/// for `arch`: folders named `x86-*` hold x86_64 guests, the others AArch64
/// ones.
pub fn guest_packages(arch: Arch) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(paths::workspace().join("tests/guests"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file() && p.join("src/main.rs").is_file())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|name| name.starts_with("x86-") == (arch == Arch::X86_64))
        .map(|name| format!("guest-{name}"))
        .collect();
    names.sort();
    Ok(names)
}
