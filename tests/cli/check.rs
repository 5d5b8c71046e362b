//! `cargo xtask check` on every bad config under tests/configs/bad fails
//! with the message its `# expect:` lines give, and succeeds on the good
//! ones, through the real command-line tool.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn configs(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn xtask_check(config: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(workspace())
        .arg("check")
        .arg(config.strip_prefix(workspace()).unwrap())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_rejects_every_bad_config_with_its_message() {
    let bad = configs("tests/configs/bad");
    assert!(bad.len() >= 12);
    for path in bad {
        let shown = path
            .strip_prefix(workspace())
            .unwrap()
            .display()
            .to_string();
        let (ok, _, stderr) = xtask_check(&path);
        assert!(!ok, "{shown}: `cargo xtask check` accepted it");
        let text = std::fs::read_to_string(&path).unwrap();
        for expect in text.lines().filter_map(|l| l.strip_prefix("# expect: ")) {
            let expect = expect.replace("$FILE", &shown);
            assert!(
                stderr.contains(&expect),
                "{shown}: expected\n  {expect}\nin stderr:\n{stderr}"
            );
        }
        assert!(
            stderr.contains("help: "),
            "{shown}: no fix given:\n{stderr}"
        );
    }
}

#[test]
fn check_accepts_good_configs_and_prints_the_table() {
    for path in configs("tests/configs/good") {
        let (ok, stdout, stderr) = xtask_check(&path);
        assert!(ok, "{}: {stderr}", path.display());
        assert!(
            stdout.contains("alpha") && stdout.contains("beta"),
            "{stdout}"
        );
        assert!(
            stdout.contains("0x40000000 -> 0x41000000 (16 MiB rwx)"),
            "{stdout}"
        );
        assert!(stdout.contains("channel link"), "{stdout}");
    }
}

/// Warnings are printed with their location and fix, and do not fail the
/// check (tests/configs/good/warnings.toml: F17 and F5d).
#[test]
fn check_prints_warnings_and_succeeds() {
    let path = workspace().join("tests/configs/good/warnings.toml");
    let (ok, stdout, stderr) = xtask_check(&path);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("ok: tests/configs/good/warnings.toml is valid"),
        "{stdout}"
    );
    for wanted in [
        "tests/configs/good/warnings.toml:25:20: warning: cell `beta` owns device `virtio-mmio`, which can master DMA",
        "warning: channel `link`: cell `beta` can execute what cell `alpha` writes",
        "help: one cell then runs code another chose",
    ] {
        assert!(
            stderr.contains(wanted),
            "expected\n  {wanted}\nin stderr:\n{stderr}"
        );
    }
}
