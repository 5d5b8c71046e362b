//! The pinned Rust toolchain (`toolchain.toml`): checking that it is there
//! with every component and target it lists, installing what is missing
//! with rustup, and pinning every cargo, rustc and rustdoc xtask spawns to
//! it (`RUSTUP_TOOLCHAIN`).
//!
//! `cargo xtask` itself runs on whatever toolchain rustup picks (its
//! default), which sets `RUSTUP_TOOLCHAIN` to that one for its children:
//! left alone, every nested cargo would build with it instead of the pin.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::install::on_path;
use crate::paths;

/// The file that pins the toolchain, relative to the workspace.
pub const PIN_FILE: &str = "toolchain.toml";

/// What `toolchain.toml` pins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// A version (`1.95.0`) or a dated channel.
    pub channel: String,
    /// rustup components (`rust-src`, `llvm-tools`, ...).
    #[serde(default)]
    pub components: Vec<String>,
    /// Extra targets (`aarch64-unknown-none`, ...).
    #[serde(default)]
    pub targets: Vec<String>,
    /// rustup's install profile.
    #[serde(default = "minimal")]
    pub profile: String,
}

fn minimal() -> String {
    "minimal".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    toolchain: Pin,
}

impl Pin {
    /// Parses the text of a pin file.
    pub fn parse(text: &str) -> Result<Pin> {
        let file: PinFile = toml::from_str(text)?;
        Ok(file.toolchain)
    }

    /// The arguments of `rustup` that install this toolchain with its
    /// components and targets (adding only what is missing when the
    /// toolchain is already there).
    pub fn install_args(&self) -> Vec<String> {
        let mut args = vec![
            "toolchain".to_string(),
            "install".into(),
            self.channel.clone(),
            "--profile".into(),
            self.profile.clone(),
        ];
        for component in &self.components {
            args.extend(["--component".to_string(), component.clone()]);
        }
        for target in &self.targets {
            args.extend(["--target".to_string(), target.clone()]);
        }
        args
    }

    /// What is missing, given what `rustup toolchain list` and (for the
    /// pinned toolchain) `rustup component list --installed` print. An
    /// empty component listing means the toolchain is not there.
    pub fn missing(&self, toolchains: &str, installed: &str) -> Missing {
        // `1.95.0-x86_64-unknown-linux-gnu (active)`: the host triple is
        // what rustup appends to a host component's name (`clippy-<host>`).
        let prefix = format!("{}-", self.channel);
        let Some(host) = toolchains.lines().find_map(|l| {
            l.strip_prefix(&prefix)
                .and_then(|rest| rest.split_whitespace().next())
        }) else {
            return Missing {
                toolchain: true,
                components: self.components.clone(),
                targets: self.targets.clone(),
            };
        };
        let has = |name: String| installed.lines().any(|l| l.trim() == name);
        Missing {
            toolchain: false,
            components: self
                .components
                .iter()
                .filter(|c| !has(c.to_string()) && !has(format!("{c}-{host}")))
                .cloned()
                .collect(),
            targets: self
                .targets
                .iter()
                .filter(|t| !has(format!("rust-std-{t}")))
                .cloned()
                .collect(),
        }
    }
}

/// What of the pin is not installed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Missing {
    /// The toolchain itself.
    pub toolchain: bool,
    /// Components (all of them when the toolchain is missing).
    pub components: Vec<String>,
    /// Targets (all of them when the toolchain is missing).
    pub targets: Vec<String>,
}

impl Missing {
    /// Whether nothing is missing.
    pub fn is_empty(&self) -> bool {
        !self.toolchain && self.components.is_empty() && self.targets.is_empty()
    }

    /// "the toolchain", or the missing components and targets, for a
    /// message.
    pub fn describe(&self) -> String {
        if self.toolchain {
            return "is not installed".into();
        }
        let mut parts = Vec::new();
        if !self.components.is_empty() {
            parts.push(format!("lacks component(s) {}", self.components.join(", ")));
        }
        if !self.targets.is_empty() {
            parts.push(format!("lacks target(s) {}", self.targets.join(", ")));
        }
        parts.join(" and ")
    }
}

/// The pin in the workspace's `toolchain.toml` (read once).
pub fn pin() -> &'static Pin {
    static PIN: OnceLock<Pin> = OnceLock::new();
    PIN.get_or_init(|| {
        let path = paths::workspace().join(PIN_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Pin::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// `program` (cargo, rustc, rustdoc) of the pinned toolchain: rustup's
/// proxy with `RUSTUP_TOOLCHAIN` set, and without the `CARGO` of the
/// toolchain that runs xtask.
pub fn pinned(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env("RUSTUP_TOOLCHAIN", &pin().channel)
        .env_remove("RUSTUP_TOOLCHAIN_SOURCE")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    command
}

fn rustup(args: &[&str]) -> Result<String> {
    let output = Command::new("rustup")
        .args(args)
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .with_context(|| format!("cannot run rustup {}", args.join(" ")))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What of `pin` rustup does not have now (a missing toolchain lists no
/// components).
fn missing_now(pin: &Pin) -> Result<Missing> {
    let toolchains = rustup(&["toolchain", "list"])?;
    let installed = rustup(&[
        "component",
        "list",
        "--installed",
        "--toolchain",
        &pin.channel,
    ])
    .unwrap_or_default();
    Ok(pin.missing(&toolchains, &installed))
}

/// Makes sure the pinned toolchain with its components and targets is
/// installed, installing what is missing with rustup (and saying so).
/// Then pins this process's children to it.
pub fn ensure() -> Result<()> {
    let pin = pin();
    if !on_path("rustup") {
        bail!(
            "rustup is not installed: Bulkhead builds with Rust {} and its bare-metal targets \
             (pinned in {PIN_FILE}), which rustup installs; get it from https://rustup.rs \
             (or `apt-get install rustup` on Debian 13 and Ubuntu 24.04)",
            pin.channel
        );
    }
    let missing = missing_now(pin)?;
    if !missing.is_empty() {
        let args = pin.install_args();
        eprintln!(
            "xtask: Rust {} (pinned in {PIN_FILE}) {}; installing: rustup {}",
            pin.channel,
            missing.describe(),
            args.join(" ")
        );
        let status = Command::new("rustup")
            .args(&args)
            .env_remove("RUSTUP_TOOLCHAIN")
            .status()
            .context("cannot run rustup")?;
        if !status.success() {
            bail!(
                "installing Rust {} failed ({status}); run `rustup {}` yourself",
                pin.channel,
                args.join(" ")
            );
        }
        let still = missing_now(pin)?;
        if !still.is_empty() {
            bail!(
                "after `rustup {}`, Rust {} still {}",
                args.join(" "),
                pin.channel,
                still.describe()
            );
        }
    }
    // SAFETY: called from `main` before xtask starts any thread, so no
    // other thread reads the environment while it changes.
    unsafe {
        std::env::set_var("RUSTUP_TOOLCHAIN", &pin.channel);
        std::env::remove_var("RUSTUP_TOOLCHAIN_SOURCE");
        std::env::remove_var("CARGO");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> Pin {
        Pin::parse(
            r#"[toolchain]
channel = "1.95.0"
components = ["rust-src", "llvm-tools", "clippy"]
targets = ["aarch64-unknown-none", "x86_64-unknown-none"]
profile = "minimal"
"#,
        )
        .unwrap()
    }

    const HOST: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn the_workspace_pin_parses_and_lists_the_bare_metal_targets() {
        let text = std::fs::read_to_string(paths::workspace().join(PIN_FILE)).unwrap();
        let pin = Pin::parse(&text).unwrap();
        for target in [
            "aarch64-unknown-none",
            "aarch64-unknown-none-softfloat",
            "x86_64-unknown-none",
        ] {
            assert!(pin.targets.iter().any(|t| t == target), "{target}");
        }
        assert!(pin.components.iter().any(|c| c == "llvm-tools"));
        assert!(
            !paths::workspace().join("rust-toolchain.toml").exists(),
            "a rust-toolchain.toml would stop rustup from starting xtask without the pin"
        );
    }

    #[test]
    fn a_missing_toolchain_misses_everything() {
        let toolchains = format!("stable-{HOST} (active, default)\nnightly-{HOST}\n");
        let missing = pin().missing(&toolchains, "");
        assert!(missing.toolchain);
        assert_eq!(missing.components.len(), 3);
        assert_eq!(missing.targets.len(), 2);
        assert_eq!(missing.describe(), "is not installed");
    }

    #[test]
    fn missing_targets_and_components_are_found_by_name() {
        let toolchains = format!("stable-{HOST} (default)\n1.95.0-{HOST} (active)\n");
        let installed = format!(
            "cargo-{HOST}\nclippy-{HOST}\nrust-src\nrust-std-{HOST}\nrust-std-x86_64-unknown-none\nrustc-{HOST}\n"
        );
        let missing = pin().missing(&toolchains, &installed);
        assert!(!missing.toolchain);
        assert_eq!(missing.components, ["llvm-tools"]);
        assert_eq!(missing.targets, ["aarch64-unknown-none"]);
        assert_eq!(
            missing.describe(),
            "lacks component(s) llvm-tools and lacks target(s) aarch64-unknown-none"
        );
        let complete = format!("{installed}llvm-tools-{HOST}\nrust-std-aarch64-unknown-none\n");
        assert!(pin().missing(&toolchains, &complete).is_empty());
    }

    #[test]
    fn a_component_is_not_mistaken_for_a_longer_one() {
        // `rust-src` must not count as installed because `rust-std-...` is.
        let toolchains = format!("1.95.0-{HOST}\n");
        let installed = format!("rust-std-{HOST}\nclippy-preview-{HOST}\n");
        let missing = pin().missing(&toolchains, &installed);
        assert!(missing.components.contains(&"rust-src".to_string()));
        assert!(missing.components.contains(&"clippy".to_string()));
    }

    #[test]
    fn the_install_command_names_every_component_and_target() {
        assert_eq!(
            pin().install_args().join(" "),
            "toolchain install 1.95.0 --profile minimal --component rust-src \
             --component llvm-tools --component clippy --target aarch64-unknown-none \
             --target x86_64-unknown-none"
        );
    }
}
