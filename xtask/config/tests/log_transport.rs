//! The hypervisor's log transport (security review finding F3).

use std::path::{Path, PathBuf};

use bulkhead_config::{LoadOptions, load};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// F3: semihosting lets every guest at EL1 call the host too (QEMU answers
/// it from any privileged EL), so it is no log transport at all: the
/// checker refuses it, pointing at the key, and offers the ring.
#[test]
fn f3_semihosting_log_transport_is_refused() {
    let path = workspace().join("tests/configs/bad/26-f3-semihosting.toml");
    let options = LoadOptions {
        require_images: false,
        ..LoadOptions::for_workspace(&workspace())
    };
    let errors = load(&path, &options).expect_err("semihosting must be refused");
    let text = errors.to_string();
    assert!(
        text.contains(":9:7: error: unknown variant `semihosting`, expected `ring` or `none`"),
        "{text}"
    );
}

/// F3: every shipped configuration logs to the ring or nowhere.
#[test]
fn f3_no_shipped_config_asks_for_semihosting() {
    let mut checked = 0;
    for dir in [
        "configs",
        "tests/configs/good",
        "tests/configs/qemu",
        "tests/configs/bench",
    ] {
        for entry in std::fs::read_dir(workspace().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !text.contains("semihosting\""),
                    "{} asks for semihosting",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} configs found");
}
