//! Every file in `tests/configs/bad/` is rejected with the message its
//! `# expect:` line gives (file:line:col included); every file in
//! `tests/configs/good/`, `configs/` and the QEMU, Bochs and benchmark test
//! configs is accepted.

use std::path::{Path, PathBuf};

use bulkhead_config::{LoadOptions, load};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn options(require_images: bool) -> LoadOptions {
    LoadOptions {
        require_images,
        ..LoadOptions::for_workspace(&workspace())
    }
}

/// The `# expect:` lines of a bad config.
fn expectations(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_bad_config_is_rejected_with_its_message() {
    let bad = files("tests/configs/bad");
    assert!(
        bad.len() >= 12,
        "expected at least 12 rejection classes, found {}",
        bad.len()
    );
    let mut failures = Vec::new();
    for path in &bad {
        let shown = path
            .strip_prefix(workspace())
            .unwrap()
            .display()
            .to_string();
        let wanted = expectations(path);
        assert!(!wanted.is_empty(), "{shown} has no `# expect:` line");
        match load(path, &options(true)) {
            Ok(_) => failures.push(format!("{shown}: accepted, but should be rejected")),
            Err(errors) => {
                let text = errors.to_string();
                for expect in &wanted {
                    let expect = expect.replace("$FILE", &shown);
                    if !text.contains(&expect) {
                        failures.push(format!("{shown}: expected\n    {expect}\n  in\n{text}"));
                    }
                }
                // Every diagnostic has a location and a fix.
                for diagnostic in &errors.0 {
                    assert!(
                        diagnostic.help.is_some(),
                        "{shown}: no help in {diagnostic}"
                    );
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn good_configs_are_accepted() {
    for path in files("tests/configs/good") {
        if let Err(e) = load(&path, &options(true)) {
            panic!("{}: {e}", path.display());
        }
    }
}

/// Every config the repository ships: products, QEMU and Bochs test
/// configs, benchmark configs.
#[test]
fn product_configs_are_accepted() {
    let configs: Vec<PathBuf> = [
        "configs",
        "tests/configs/qemu",
        "tests/configs/bochs",
        "tests/configs/bench",
    ]
    .iter()
    .flat_map(|dir| files(dir))
    .collect();
    assert!(configs.len() > 30, "{}", configs.len());
    for path in configs {
        // Guest images are built by `cargo xtask build`; the structure is
        // checked here without them.
        if let Err(e) = load(&path, &options(false)) {
            panic!("{}: {e}", path.display());
        }
    }
}
