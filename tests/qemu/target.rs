//! Target tests: build real images and boot them under QEMU.
//!
//! Run by `cargo xtask test` (they are `#[ignore]`d for a plain host
//! `cargo test`). QEMU missing is a failure, never a skip. Timeouts are
//! generous: machines are shared and noisy; nothing here measures time.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use xtask::build::{BuildOptions, Dist, build};
use xtask::qemu::{RunOutput, available, run_captured};

/// Builds share `target/`: one at a time.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn build_config(config: &str, features: &[&str]) -> Dist {
    let _guard = lock();
    let path = xtask::paths::workspace().join(config);
    build(
        &path,
        &BuildOptions {
            features: features.iter().map(|f| f.to_string()).collect(),
        },
    )
    .unwrap_or_else(|e| panic!("build {config}: {e:#}"))
}

fn require_qemu() {
    assert!(
        available("qemu-system-aarch64"),
        "qemu-system-aarch64 is not installed: `cargo xtask test` installs it as root, \
         or run `apt-get install qemu-system-arm`"
    );
}

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn boot(dist: &Dist, until: &str) -> RunOutput {
    require_qemu();
    let until = until.to_string();
    run_captured(dist, BOOT_TIMEOUT, move |text| text.contains(&until))
        .unwrap_or_else(|e| panic!("run QEMU: {e:#}"))
}

/// First light on one config: banner, partition table, every core online,
/// log records decoded, and a clean stop (QEMU exits by itself, status 0).
fn first_light(config: &str, gic: &str) {
    let dist = build_config(config, &[]);
    let out = boot(&dist, "\u{0}never");
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "QEMU did not stop by itself:\n{transcript}");
    assert!(
        out.status.is_some_and(|s| s.success()),
        "QEMU exit status:\n{transcript}"
    );
    assert!(
        console.contains("Bulkhead 0.1.0: static partitioning hypervisor"),
        "no banner:\n{transcript}"
    );
    assert!(
        console.contains(&format!("({gic}, ")) || console.contains(&format!("aarch64, {gic}")),
        "wrong GIC in the table:\n{transcript}"
    );
    // The partition table lists what the config says.
    for cell in &dist.config.cells {
        let cpus: Vec<String> = cell.cpus.iter().map(u32::to_string).collect();
        let line = format!("cell {} {}: cpus {}", cell.id, cell.name, cpus.join(","));
        assert!(console.contains(&line), "missing `{line}`:\n{transcript}");
        for region in &cell.memory {
            let line = format!(
                "  memory gpa {:#x}..{:#x} -> hpa {:#x}",
                region.gpa,
                region.gpa + region.size,
                region.hpa
            );
            assert!(console.contains(&line), "missing `{line}`:\n{transcript}");
        }
    }
    let cpu_count = dist.config.platform.cpus.len();
    for cpu in 1..cpu_count {
        let line = format!(
            "cpu {cpu} online (MPIDR {:#x})",
            dist.config.platform.cpus[cpu].hw_id
        );
        assert!(console.contains(&line), "missing `{line}`:\n{transcript}");
    }
    assert!(
        console.contains(&format!("all {cpu_count} CPUs online")),
        "{transcript}"
    );
    assert!(
        console.contains("stopping: PSCI SYSTEM_OFF"),
        "{transcript}"
    );
    // Log records travelled over semihosting, not the console.
    assert!(
        out.log
            .iter()
            .any(|l| l.contains("INFO") && l.contains("EL2 MMU on")),
        "no decoded log record:\n{transcript}"
    );
    assert!(
        !console.contains("[hv]"),
        "log records on the console:\n{transcript}"
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn first_light_gicv3() {
    first_light("configs/qemu-virt-demo.toml", "GICv3");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn first_light_gicv2() {
    first_light("configs/qemu-virt-gicv2-demo.toml", "GICv2");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn panic_prints_location_and_stops_every_core() {
    let dist = build_config("configs/qemu-virt-demo.toml", &["panic-selftest"]);
    let out = boot(&dist, "cores stopped");
    let transcript = out.transcript();
    let console = &out.console;
    let panic_line = console
        .lines()
        .find(|l| l.starts_with("PANIC on cpu 0 at "))
        .unwrap_or_else(|| panic!("no panic line:\n{transcript}"));
    assert!(
        panic_line.contains("src/") && panic_line.contains(".rs:"),
        "no location in `{panic_line}`"
    );
    assert!(
        panic_line.ends_with("panic-selftest: deliberate panic after boot"),
        "{panic_line}"
    );
    assert!(
        console.contains("all cores stopped (3 others)"),
        "{transcript}"
    );
    // Nothing runs after the panic: the normal stop never comes.
    assert!(
        !console.contains("stopping: PSCI SYSTEM_OFF"),
        "{transcript}"
    );
}

fn symbols(elf: &Path) -> Vec<String> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(elf).unwrap();
    let file = object::File::parse(&*data).unwrap();
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect()
}

#[test]
#[ignore = "needs the bare-metal toolchain; run by `cargo xtask test`"]
fn image_has_no_toml_parser_and_no_allocator() {
    let dist = build_config("configs/qemu-virt-demo.toml", &[]);
    let symbols = symbols(&dist.elf);
    assert!(symbols.len() > 50, "the ELF lost its symbols");
    assert!(
        symbols
            .iter()
            .any(|s| s.contains("rust_entry") || s.contains("boot"))
    );
    for needle in [
        "toml",
        "serde",
        "__rust_alloc",
        "__rg_alloc",
        "__rust_no_alloc_shim",
        "GlobalAlloc",
        "alloc..vec",
        "alloc..string",
    ] {
        let found: Vec<&String> = symbols.iter().filter(|s| s.contains(needle)).collect();
        assert!(found.is_empty(), "image contains `{needle}`: {found:?}");
    }
    // The dependency tree of the target build agrees.
    let _guard = lock();
    let tree = xtask::build::cargo()
        .args([
            "tree",
            "-p",
            "bulkhead",
            "--target",
            "aarch64-unknown-none-softfloat",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .unwrap();
    assert!(tree.status.success());
    let tree = String::from_utf8_lossy(&tree.stdout);
    for forbidden in ["toml", "serde", "bulkhead-config"] {
        assert!(
            !tree.lines().any(|l| l.starts_with(forbidden)),
            "target dependency tree has `{forbidden}`:\n{tree}"
        );
    }
    assert!(tree.lines().any(|l| l.starts_with("defmt")), "{tree}");
}

#[test]
#[ignore = "needs the bare-metal toolchain; run by `cargo xtask test`"]
fn build_writes_elf_image_and_layout_map() {
    let dist = build_config("configs/qemu-virt-demo.toml", &[]);
    assert!(dist.elf.is_file() && dist.image.is_file());
    let load = dist.config.platform.load_address;
    assert!(dist.image_size > 0);
    assert!(
        dist.image_size < dist.config.hypervisor.memory.size,
        "image larger than hypervisor memory"
    );
    let layout = std::fs::read_to_string(dist.dir.join("layout.txt")).unwrap();
    assert!(
        layout.contains(&format!("load address {load:#x}")),
        "{layout}"
    );
    assert!(layout.contains(".text"), "{layout}");
    assert!(layout.contains("sensor"), "{layout}");
    assert!(dist.dir.join("guest-hello.elf").is_file());
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn xtask_run_boots_the_default_config_and_decodes_log_records() {
    require_qemu();
    let _guard = lock();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("run")
        .current_dir(xtask::paths::workspace())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let transcript = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(output.status.success(), "{transcript}");
    assert!(
        stdout.contains("Bulkhead 0.1.0: static partitioning hypervisor"),
        "{transcript}"
    );
    assert!(
        stdout.contains("config qemu-virt-demo on qemu-virt-aarch64"),
        "{transcript}"
    );
    assert!(stdout.contains("cell 0 sensor: cpus 0"), "{transcript}");
    assert!(stdout.contains("all 4 CPUs online"), "{transcript}");
    // Log records are decoded live, on stderr, with their source location.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[hv] ") && l.contains("INFO") && l.contains("start.rs:")),
        "{transcript}"
    );
}
