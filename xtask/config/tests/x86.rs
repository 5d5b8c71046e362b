//! x86_64 rules that need their own platform files (the rejection cases in
//! tests/configs/bad/ can only name the real platforms): I/O ports, the
//! APIC, the `[bochs]` table; plus what an accepted x86_64 config turns
//! into (log default, ports and UART port in the tables, the EPT bound,
//! `boot-arg`, the boot area).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_config::model::{Arch, LogTransport, PortRange, Range};
use bulkhead_config::{Config, Diagnostics, LoadOptions, codegen, load};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn real_platform(name: &str) -> String {
    std::fs::read_to_string(workspace().join("platforms").join(format!("{name}.toml"))).unwrap()
}

/// A folder with `platforms/test.toml` = `platform` and `config.toml` =
/// `config`, loaded without reading images.
fn load_pair(platform: &str, config: &str) -> Result<Config, Diagnostics> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bulkhead-x86-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("platforms")).unwrap();
    std::fs::create_dir_all(dir.join("guests/x86-hello")).unwrap();
    std::fs::write(dir.join("platforms/test.toml"), platform).unwrap();
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let options = LoadOptions {
        platforms_dir: dir.join("platforms"),
        guests_dir: dir.join("guests"),
        target_dir: dir.join("target"),
        require_images: false,
        display_root: dir.clone(),
    };
    let result = load(&dir.join("config.toml"), &options);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

const X86_CONFIG: &str = r#"platform = "test"

[hypervisor]
memory = { base = 0x10_0000, size = "15M" }

[[cell]]
name = "alpha"
cpus = [0]
image = { guest = "x86-hello", kind = "elf" }

[[cell.memory]]
gpa = 0x0
hpa = 0x0100_0000
size = "16M"
perm = "rwx"
"#;

const ARM_CONFIG: &str = r#"platform = "test"

[hypervisor]
memory = { base = 0x4020_0000, size = "14M" }

[[cell]]
name = "alpha"
cpus = [0]
image = { path = "tiny.bin", kind = "raw" }

[[cell.memory]]
gpa = 0x4000_0000
hpa = 0x4100_0000
size = "16M"
perm = "rwx"
"#;

/// The error text of a rejected pair, which must give a fix for each
/// problem.
fn rejected(platform: &str, config: &str) -> String {
    match load_pair(platform, config) {
        Ok(_) => panic!("accepted, but should be rejected:\n{platform}"),
        Err(errors) => {
            for diagnostic in &errors.0 {
                assert!(diagnostic.help.is_some(), "no help in {diagnostic}");
            }
            errors.to_string()
        }
    }
}

fn assert_contains(text: &str, wanted: &str) {
    assert!(text.contains(wanted), "expected\n  {wanted}\nin\n{text}");
}

#[test]
fn ports_on_an_aarch64_platform_are_rejected_with_their_location() {
    let platform = real_platform("qemu-virt-aarch64").replace(
        "compatible = \"arm,pl031\"\n",
        "compatible = \"arm,pl031\"\nports = [{ base = 0x70, size = 2 }]\n",
    );
    let line = platform
        .lines()
        .position(|l| l.starts_with("ports = "))
        .unwrap()
        + 1;
    let text = rejected(&platform, ARM_CONFIG);
    assert_contains(
        &text,
        &format!(
            "platforms/test.toml:{line}:19: error: device `rtc` has I/O ports, but platform `test` is AArch64"
        ),
    );
    assert_contains(&text, "help: I/O ports exist on x86_64 only");
}

#[test]
fn overlapping_port_ranges_name_both_devices() {
    let platform = real_platform("bochs-x86_64").replace(
        "ports = [{ base = 0x40, size = 4 }]",
        "ports = [{ base = 0x40, size = 4 }, { base = 0x71, size = 1 }]",
    );
    let text = rejected(&platform, X86_CONFIG);
    assert_contains(
        &text,
        "error: device `pit` ports 0x71 overlap device `cmos` ports 0x70..=0x71",
    );
    assert_contains(&text, "note: device `cmos` ports declared here");
}

#[test]
fn port_ranges_stay_inside_the_io_space() {
    for bad in [
        "{ base = 0xfffe, size = 4 }",
        "{ base = 0x40, size = 0 }",
        "{ base = 0x1_0000, size = 1 }",
    ] {
        let platform = real_platform("bochs-x86_64").replace("{ base = 0x40, size = 4 }", bad);
        let text = rejected(&platform, X86_CONFIG);
        assert_contains(&text, "are not inside the I/O space 0x0..=0xffff");
    }
}

#[test]
fn the_interrupt_controller_matches_the_architecture() {
    let platform =
        real_platform("bochs-x86_64").replace("kind = \"apic\"", "kind = \"apic\"\nversion = 3");
    assert_contains(
        &rejected(&platform, X86_CONFIG),
        "error: `version` is a GIC key; this controller is an APIC",
    );
    let platform = real_platform("bochs-x86_64").replace("kind = \"apic\"", "kind = \"gic\"");
    assert_contains(
        &rejected(&platform, X86_CONFIG),
        "error: an x86_64 platform's interrupt controller is an APIC",
    );
    let platform = real_platform("qemu-virt-aarch64").replace("irq-count = 288\n", "");
    assert_contains(
        &rejected(&platform, ARM_CONFIG),
        "error: a GIC needs `interrupt-controller.irq-count`",
    );
    let platform = real_platform("bochs-x86_64").replace("irq-count = 24", "irq-count = 0");
    assert_contains(
        &rejected(&platform, X86_CONFIG),
        "error: `irq-count = 0` is not an I/O APIC input count",
    );
    let platform = real_platform("qemu-virt-aarch64").replace(
        "irq-count = 288\n",
        "irq-count = 288\nio-apic = { base = 0xfec0_0000, size = 0x1000 }\n",
    );
    assert_contains(
        &rejected(&platform, ARM_CONFIG),
        "error: `io-apic` is an APIC key; this controller is a GIC",
    );
}

#[test]
fn the_bochs_table_is_for_x86_boards_that_it_covers() {
    let platform = real_platform("bochs-x86_64").replace("megs = 256", "megs = 128");
    assert_contains(
        &rejected(&platform, X86_CONFIG),
        "error: Bochs `megs = 128` does not cover the platform's RAM (up to 0x10000000)",
    );
    let platform = format!(
        "{}\n[bochs]\ncpu-model = \"corei7_skylake_x\"\nmegs = 1024\nips = 1\n",
        real_platform("qemu-virt-aarch64")
    );
    assert_contains(
        &rejected(&platform, ARM_CONFIG),
        "error: Bochs emulates x86 PCs only",
    );
}

#[test]
fn x86_cells_run_no_arm64_linux_and_linux_takes_no_boot_arg() {
    let config = X86_CONFIG.replace(
        "image = { guest = \"x86-hello\", kind = \"elf\" }",
        "image = { path = \"vmlinuz\", kind = \"linux\" }",
    );
    assert_contains(
        &rejected(&real_platform("bochs-x86_64"), &config),
        "error: cell `alpha`: `kind = \"linux\"` boots an arm64 kernel Image, not on x86_64",
    );
    let config = ARM_CONFIG.replace(
        "image = { path = \"tiny.bin\", kind = \"raw\" }",
        "image = { path = \"Image\", kind = \"linux\", boot-arg = 1 }",
    );
    assert_contains(
        &rejected(&real_platform("qemu-virt-aarch64"), &config),
        "error: `boot-arg` is not for Linux images",
    );
}

#[test]
fn an_accepted_x86_config_becomes_port_tables() {
    let config = X86_CONFIG.replace("kind = \"elf\" }", "kind = \"elf\", boot-arg = 0x1234 }");
    let config =
        load_pair(&real_platform("bochs-x86_64"), &config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.platform.arch, Arch::X86_64);
    // Bochs gives no way to read the ring: no `log` means none on x86_64.
    assert_eq!(config.hypervisor.log, LogTransport::None);
    let com1 = &config.platform.devices[config.platform.console];
    assert_eq!(com1.ports, [PortRange::new(0x3f8, 8)]);
    let cell = &config.cells[0];
    assert_eq!(cell.image.boot_argument(), 0x1234);
    assert_eq!(
        cell.x86_boot_area(),
        Some(Range::new(0x00ff_8000, 0x8000)),
        "the top 32 KiB of 0..16 MiB"
    );
    // EPT: PML4 + PDPT + PD + two page tables at the region's ends; one
    // table more than the AArch64 walk from level 1.
    assert_eq!(cell.stage2_table_bound(&config), 5);
    let tables = codegen::generate(&config);
    for wanted in [
        "console: UartDesc { device: 0, kind: UartKind::Ns16550, base: PhysAddr::new(0x0), port: 0x3f8 },",
        "ports: &[PortRange::new(0x3f8, 8)],",
        "ports: &[PortRange::new(0x60, 1), PortRange::new(0x64, 1)],",
        "boot_arg: 0x1234,",
        "log: LogTransport::None,",
        "pub const STAGE2_TABLES_PER_CELL: usize = 5;",
        "        version: 0,",
        "        irq_count: 24,",
    ] {
        assert_contains(&tables, wanted);
    }
}

#[test]
fn aarch64_logs_to_the_ring_by_default_and_takes_a_boot_arg() {
    let config = ARM_CONFIG.replace("kind = \"raw\" }", "kind = \"raw\", boot-arg = 7 }");
    let config =
        load_pair(&real_platform("qemu-virt-aarch64"), &config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.hypervisor.log, LogTransport::Ring);
    assert_eq!(config.cells[0].image.boot_argument(), 7);
    assert_eq!(config.cells[0].stage2_table_bound(&config), 4);
    assert!(config.cells[0].x86_boot_area().is_some());
    assert_contains(&codegen::generate(&config), "ports: &[],");
}
