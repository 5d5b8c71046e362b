//! Where things are in a checkout and under `target/`.

use std::path::{Path, PathBuf};

use bulkhead_config::LoadOptions;

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Cargo's target folder.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// `target/dist/<config>/`: what `cargo xtask build` produces.
pub fn dist_dir(config_name: &str) -> PathBuf {
    target_dir().join("dist").join(config_name)
}

/// The config `cargo xtask run` boots when none is given.
pub const DEFAULT_CONFIG: &str = "configs/qemu-virt-demo.toml";

/// Resolves a config argument: as given if it exists, else relative to the
/// workspace (so `cargo xtask` works from any folder).
pub fn config_path(arg: &Path) -> PathBuf {
    if arg.exists() {
        arg.canonicalize().unwrap_or_else(|_| arg.to_path_buf())
    } else {
        workspace().join(arg)
    }
}

/// The path of `path` relative to the workspace, for messages.
pub fn shown(path: &Path) -> PathBuf {
    path.strip_prefix(workspace())
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

/// How `bulkhead-config` finds platforms, guest crates and guest builds in
/// this checkout; `require_images` says whether image files must exist
/// (and are read).
pub fn load_options(require_images: bool) -> LoadOptions {
    LoadOptions {
        require_images,
        ..LoadOptions::for_workspace(&workspace())
    }
}
