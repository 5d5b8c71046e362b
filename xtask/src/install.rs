//! Installing the host programs xtask needs (QEMU, Bochs, GRUB's ISO
//! tools, dtc): with apt when running as root, otherwise by telling the
//! user the exact command. (The Rust toolchain: `toolchain`.)

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// What to do about a missing tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallPlan {
    /// Run this shell command (as root, with apt).
    Install(String),
    /// Stop and tell the user this.
    Explain(String),
}

/// Something a host tool check looks for, and the Debian package with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool<'a> {
    /// A program on `PATH` (no `/`) or a file (an absolute path).
    pub what: &'a str,
    /// The Debian/Ubuntu package that provides it.
    pub package: &'a str,
}

/// The device tree compiler: the generated device trees must also pass it.
pub const DTC: Tool<'static> = Tool {
    what: "dtc",
    package: "device-tree-compiler",
};

/// Whether `binary` is a file in one of `PATH`'s folders.
pub fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

/// Whether this process runs as root (and so may run apt).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn present(tool: &Tool<'_>) -> bool {
    if tool.what.starts_with('/') {
        Path::new(tool.what).exists()
    } else {
        on_path(tool.what)
    }
}

/// The packages of `tools` whose tool is missing, each once, in order.
pub fn missing_packages<'a>(tools: &[Tool<'a>]) -> Vec<&'a str> {
    let mut packages: Vec<&'a str> = Vec::new();
    for tool in tools.iter().filter(|t| !present(t)) {
        if !packages.contains(&tool.package) {
            packages.push(tool.package);
        }
    }
    packages
}

/// How to get `packages`: install them with apt when running as root on a
/// system with apt, otherwise the exact command to run. One package per
/// `apt-get install`: together, apt may refuse to downgrade a newer
/// dependency some images carry (seen with qemu-utils).
pub fn install_plan(packages: &[&str], is_root: bool, has_apt: bool) -> InstallPlan {
    let list = packages.join(" ");
    let command = std::iter::once("apt-get update".to_string())
        .chain(packages.iter().map(|p| format!("apt-get install -y {p}")))
        .collect::<Vec<_>>()
        .join(" && ");
    let verb = if packages.len() == 1 { "is" } else { "are" };
    if is_root && has_apt {
        InstallPlan::Install(command)
    } else if has_apt {
        InstallPlan::Explain(format!(
            "{list} {verb} not installed; install with:\n    sudo sh -c '{command}'"
        ))
    } else {
        InstallPlan::Explain(format!(
            "{list} {verb} not installed (Debian/Ubuntu package names); install the same \
             programs with your package manager: QEMU 7.2 or newer, Bochs 2.7 with its BIOS \
             and VGA BIOS, GRUB's PC/BIOS modules, xorriso, mtools, dtc"
        ))
    }
}

/// Makes sure every tool is there: installs the missing packages with apt
/// when running as root, otherwise explains how.
pub fn ensure_tools(tools: &[Tool<'_>]) -> Result<()> {
    let missing = missing_packages(tools);
    if missing.is_empty() {
        return Ok(());
    }
    match install_plan(&missing, is_root(), on_path("apt-get")) {
        InstallPlan::Install(command) => {
            eprintln!("{} missing; installing: {command}", missing.join(", "));
            let status = Command::new("sh")
                .args(["-c", &command])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("run apt-get")?;
            let still = missing_packages(tools);
            if status.success() && still.is_empty() {
                return Ok(());
            }
            bail!(
                "installing {} failed; run `{command}` yourself",
                missing.join(" ")
            );
        }
        InstallPlan::Explain(text) => bail!("{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_packages_are_installed_as_root_and_explained_otherwise() {
        let packages = ["bochs", "vgabios"];
        assert_eq!(
            install_plan(&packages, true, true),
            InstallPlan::Install(
                "apt-get update && apt-get install -y bochs && apt-get install -y vgabios".into()
            )
        );
        let InstallPlan::Explain(text) = install_plan(&packages, false, true) else {
            panic!("a normal user must not get an install");
        };
        assert!(
            text.contains(
                "sudo sh -c 'apt-get update && apt-get install -y bochs && apt-get install -y vgabios'"
            ),
            "{text}"
        );
        let InstallPlan::Explain(text) = install_plan(&["xorriso"], true, false) else {
            panic!("no apt, no install");
        };
        assert!(text.contains("xorriso is not installed"), "{text}");
    }
}
