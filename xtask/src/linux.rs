//! The Linux guest for arm64 cells: Debian's kernel and a busybox
//! initramfs, prepared by `tests/linux/fetch-arm64.sh` into
//! `target/linux/arm64/` (cached; see tests/linux/README.md).
//!
//! A config with a `kind = "linux"` image gets the guest prepared before it
//! is checked or built, so `cargo xtask run configs/qemu-linux-demo.toml`
//! works on a fresh machine. The script's up-to-date check makes this a
//! two-second no-op once it has run; building the guest the first time
//! needs root (apt, mknod), and the script says so otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::paths;

/// Where the arm64 Linux guest is prepared, relative to the workspace.
pub const ARM64_DIR: &str = "target/linux/arm64";

/// The fetch script.
fn script() -> PathBuf {
    paths::workspace().join("tests/linux/fetch-arm64.sh")
}

/// Whether the config at `config` boots a Linux image (a `kind = "linux"`
/// line; the checker validates the rest).
pub fn uses_linux(config: &Path) -> bool {
    std::fs::read_to_string(config).is_ok_and(|text| {
        text.lines()
            .map(|line| line.split('#').next().unwrap_or("").replace(' ', ""))
            .any(|line| line.contains("kind=\"linux\""))
    })
}

/// Prepares the arm64 Linux guest if the config at `config` uses one.
pub fn prepare_for(config: &Path) -> Result<()> {
    if uses_linux(config) {
        prepare()?;
    }
    Ok(())
}

/// Runs the fetch script for `target/linux/arm64` (a no-op when current).
pub fn prepare() -> Result<()> {
    let out = paths::workspace().join(ARM64_DIR);
    crate::progress::step(
        "Linux guest (Debian's arm64 kernel and busybox: fetched once, then cached)",
        Command::new("bash").arg(script()).arg(&out),
    )
    .with_context(|| {
        format!(
            "preparing the Linux guest failed; run `sudo tests/linux/fetch-arm64.sh {ARM64_DIR}` and see tests/linux/README.md"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_configs_are_recognised_by_their_image_kind() {
        let root = paths::workspace();
        assert!(uses_linux(&root.join("configs/qemu-linux-demo.toml")));
        assert!(uses_linux(
            &root.join("tests/configs/qemu/linux-gicv2.toml")
        ));
        assert!(!uses_linux(&root.join("configs/qemu-virt-demo.toml")));
        assert!(!uses_linux(&root.join("does/not/exist.toml")));
    }
}
