//! Host programs xtask runs: cargo, llvm-objcopy, and any command whose
//! failure should stop the task.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{paths, toolchain};

/// The pinned toolchain's cargo (`toolchain.toml`), in the workspace.
pub fn cargo() -> Command {
    let mut command = toolchain::pinned("cargo");
    command.current_dir(paths::workspace());
    command
}

/// Runs `command` to completion; an error if it cannot start or fails.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// `program args` as one shell-like line, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `llvm-objcopy` from the pinned toolchain's `llvm-tools` component.
pub fn objcopy() -> Result<PathBuf> {
    let sysroot = toolchain::pinned("rustc")
        .current_dir(paths::workspace())
        .args(["--print", "sysroot"])
        .output()
        .context("run rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    let host = toolchain::pinned("rustc")
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
            "{} is missing: run `rustup component add llvm-tools` (toolchain.toml lists it)",
            tool.display()
        );
    }
    Ok(tool)
}
