//! Helpers shared by the integration tests: a throw-away folder holding a
//! platform file and a config, loaded like `cargo xtask check` would.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_config::{Config, Diagnostics, LoadOptions, load};

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The text of `platforms/<name>.toml`.
pub fn real_platform(name: &str) -> String {
    std::fs::read_to_string(workspace().join("platforms").join(format!("{name}.toml"))).unwrap()
}

/// A fresh, empty folder under the system's temporary folder, removed when
/// dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bulkhead-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("platforms")).unwrap();
        for guest in ["hello", "x86-hello"] {
            std::fs::create_dir_all(dir.join("guests").join(guest)).unwrap();
        }
        Scratch(dir)
    }

    /// Options that find `platforms/` and `guests/` here and show paths
    /// relative to this folder.
    pub fn options(&self, require_images: bool) -> LoadOptions {
        LoadOptions {
            platforms_dir: self.0.join("platforms"),
            guests_dir: self.0.join("guests"),
            target_dir: self.0.join("target"),
            require_images,
            display_root: self.0.clone(),
        }
    }

    /// Writes `platforms/test.toml` and `config.toml` and loads the config.
    pub fn load(
        &self,
        platform: &str,
        config: &str,
        require_images: bool,
    ) -> Result<Config, Diagnostics> {
        std::fs::write(self.0.join("platforms/test.toml"), platform).unwrap();
        std::fs::write(self.0.join("config.toml"), config).unwrap();
        load(&self.0.join("config.toml"), &self.options(require_images))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `platform` (text of a platform file) and `config` (a config naming
/// platform `test`), loaded without reading images.
pub fn load_pair(platform: &str, config: &str) -> Result<Config, Diagnostics> {
    Scratch::new("pair").load(platform, config, false)
}

/// The error text of a rejected pair; every diagnostic must give a fix.
pub fn rejected(platform: &str, config: &str) -> String {
    match load_pair(platform, config) {
        Ok(_) => panic!("accepted, but should be rejected:\n{config}"),
        Err(errors) => {
            for diagnostic in &errors.0 {
                assert!(diagnostic.help.is_some(), "no help in {diagnostic}");
            }
            errors.to_string()
        }
    }
}

/// The config, which must be accepted.
pub fn accepted(platform: &str, config: &str) -> Config {
    load_pair(platform, config).unwrap_or_else(|e| panic!("rejected:\n{e}\n{config}"))
}

pub fn assert_contains(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "expected\n  {wanted}\nin\n{text}");
}

/// Two cells on the QEMU `virt` board (GICv3), `alpha` on CPU 0 with
/// `rtc`, `beta` on CPU 1 with `gpio`; `extra_alpha` is added to alpha's
/// table (before its memory), `tail` at the end of the file.
pub fn arm_config(extra_alpha: &str, tail: &str) -> String {
    format!(
        r#"platform = "test"

[hypervisor]
memory = {{ base = 0x4020_0000, size = "14M" }}

[[cell]]
name = "alpha"
cpus = [0]
devices = ["rtc"]
image = {{ path = "tiny.bin", kind = "raw" }}
{extra_alpha}
[[cell.memory]]
gpa = 0x4000_0000
hpa = 0x4100_0000
size = "16M"
perm = "rwx"

[[cell]]
name = "beta"
cpus = [1]
devices = ["gpio"]
image = {{ path = "tiny.bin", kind = "raw" }}

[[cell.memory]]
gpa = 0x4000_0000
hpa = 0x4200_0000
size = "16M"
perm = "rwx"
{tail}"#
    )
}

/// The 1-based line of the first line of `text` that contains `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in\n{text}"))
        + 1
}
