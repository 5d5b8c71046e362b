//! Where `load` finds platforms, guest crates and guest builds, and how
//! strict it is about image files.

use std::path::{Path, PathBuf};

use crate::model::Arch;

/// Where to find platforms and guest builds, and how strict to be about
/// image files.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Folder holding `<platform>.toml` files.
    pub platforms_dir: PathBuf,
    /// Folder holding guest crates (`tests/guests/<name>/`).
    pub guests_dir: PathBuf,
    /// Cargo target folder where guest builds land.
    pub target_dir: PathBuf,
    /// Whether image files must exist and are read (target builds, `xtask
    /// check`), or are not read at all (host builds of the core, which embed
    /// no images).
    pub require_images: bool,
    /// Paths in messages are shown relative to this folder.
    pub display_root: PathBuf,
}

impl LoadOptions {
    /// The standard layout of a Bulkhead checkout rooted at `root`.
    pub fn for_workspace(root: &Path) -> Self {
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        LoadOptions {
            platforms_dir: root.join("platforms"),
            guests_dir: root.join("tests").join("guests"),
            target_dir,
            require_images: true,
            display_root: root.to_path_buf(),
        }
    }

    /// Where `cargo xtask build` puts guest crate `name` for `arch`.
    pub fn guest_image_path(&self, arch: Arch, name: &str) -> PathBuf {
        let triple = match arch {
            Arch::Aarch64 => "aarch64-unknown-none",
            Arch::X86_64 => "x86_64-unknown-none",
        };
        self.target_dir
            .join(triple)
            .join("release")
            .join(format!("guest-{name}"))
    }
}
