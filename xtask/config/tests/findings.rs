//! One regression test per finding of the security review
//! (`shared/docs/security-review.md`, section 3 and items 65-74), named
//! after it: `cargo test f4` runs F4's. Each builds a config (and where
//! needed a platform file) that the checker accepted before the fix.

mod common;

use common::{arm_config, assert_contains, line_of, real_platform, rejected};

/// F4: `[[cell.memory]] device = "uart0"` handed the cell the physical
/// console UART, at its own address or anywhere else.
#[test]
fn f4_device_window_on_the_console_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64");
    for gpa in ["0x0900_0000", "0x5000_0000"] {
        let window = format!(
            "\n[[cell.memory]]\ngpa = {gpa}\nhpa = 0x0900_0000\nsize = \"4K\"\nperm = \"rw\"\ndevice = \"uart0\"\n"
        );
        let config = arm_config(&window, "");
        let text = rejected(&platform, &config);
        let line = line_of(&config, "device = \"uart0\"");
        assert_contains(
            &text,
            &format!(
                "config.toml:{line}:10: error: cell `alpha` memory[0] maps device `uart0`, the hypervisor's console"
            ),
        );
        assert_contains(&text, "help: the hypervisor prints its messages");
    }
}

/// F4, second half: a window on a device another cell passes through is
/// refused whichever cell comes first.
#[test]
fn f4_device_window_on_another_cells_device_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64");
    let window = "\n[[cell.memory]]\ngpa = 0x0903_0000\nhpa = 0x0903_0000\nsize = \"4K\"\nperm = \"rw\"\ndevice = \"gpio\"\n";
    // alpha's window first, beta's `devices = ["gpio"]` second.
    let text = rejected(&platform, &arm_config(window, ""));
    assert_contains(
        &text,
        "device `gpio` is passed through to cell `beta` and to cell `alpha`",
    );
    // alpha's `devices = ["gpio"]` first, beta's window second.
    let config = arm_config("", window)
        .replace("devices = [\"rtc\"]", "devices = [\"@\"]")
        .replace("devices = [\"gpio\"]", "devices = [\"rtc\"]")
        .replace("devices = [\"@\"]", "devices = [\"gpio\"]");
    let text = rejected(&platform, &config);
    assert_contains(
        &text,
        "cell `beta` memory[1] maps device `gpio`, which cell `alpha` owns",
    );
}

/// F5a: the console UART's SPI (33 on QEMU `virt`) as a cell interrupt.
#[test]
fn f5a_console_interrupt_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64");
    let config = arm_config("irqs = [40, 33]\n", "");
    let text = rejected(&platform, &config);
    let line = line_of(&config, "irqs = [40, 33]");
    assert_contains(
        &text,
        &format!(
            "config.toml:{line}:13: error: interrupt 33 of cell `alpha` is the hypervisor console's (device `uart0`)"
        ),
    );
    // Also through a device that shares the console's line.
    let platform = platform.replace("irqs = [34]", "irqs = [34, 33]");
    let text = rejected(&platform, &arm_config("", ""));
    assert_contains(
        &text,
        "interrupt 33 of cell `alpha` is the hypervisor console's",
    );
}

/// F5a: the maintenance PPI (25) and every other non-SPI were already
/// refused as cell interrupts (bad config 23); kept here so `cargo test
/// f5a` shows the whole rule.
#[test]
fn f5a_maintenance_ppi_and_other_non_spis_are_rejected() {
    let platform = real_platform("qemu-virt-aarch64");
    for irq in [25, 0, 15, 31] {
        let text = rejected(&platform, &arm_config(&format!("irqs = [{irq}]\n"), ""));
        assert_contains(
            &text,
            &format!("interrupt {irq} of cell `alpha` is outside the assignable range 32..288"),
        );
    }
}

/// A one-cell x86_64 config on platform `test`.
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

/// A platform device named `name` at `base` (4 KiB, SPI 40), appended to
/// the platform text.
fn with_device(platform: &str, name: &str, base: &str) -> String {
    format!(
        "{platform}\n[[device]]\nname = \"{name}\"\ncompatible = \"test\"\nmmio = [{{ base = {base}, size = 0x1000 }}]\nirqs = [40]\n"
    )
}

/// F5c: two devices at one address.
#[test]
fn f5c_device_overlapping_another_device_is_rejected() {
    let platform = with_device(&real_platform("qemu-virt-aarch64"), "shadow", "0x0901_0800");
    let text = rejected(&platform, &arm_config("", ""));
    let line = line_of(&platform, "base = 0x0901_0800");
    assert_contains(
        &text,
        &format!(
            "platforms/test.toml:{line}:18: error: device `shadow` MMIO 0x9010800..0x9011800 overlaps device `rtc` MMIO 0x9010000..0x9011000"
        ),
    );
    assert_contains(&text, "note: device `rtc` MMIO declared here");
    assert_contains(&text, "help: every physical address belongs to one thing");
}

/// F5c: a device on any GIC frame (GICv3 GICD, GICR, ITS; GICv2 GICC,
/// GICH, GICV) or a GIC frame inside RAM.
#[test]
fn f5c_device_on_a_gic_frame_or_a_frame_in_ram_is_rejected() {
    let v3 = real_platform("qemu-virt-aarch64").replace(
        "irq-count = 288",
        "irq-count = 288\nits = { base = 0x0808_0000, size = 0x2_0000 }",
    );
    for (base, frame) in [
        ("0x0800_0000", "the GIC distributor (GICD)"),
        ("0x080a_0000", "the GIC redistributors (GICR)"),
        ("0x0808_1000", "the GIC ITS"),
    ] {
        let text = rejected(&with_device(&v3, "evil", base), &arm_config("", ""));
        assert_contains(&text, &format!("device `evil` MMIO {:#x}", parse(base)));
        assert_contains(&text, &format!("overlaps {frame}"));
    }
    let v2 = real_platform("qemu-virt-aarch64-gicv2");
    for (base, frame) in [
        ("0x0801_0000", "the GIC CPU interface (GICC)"),
        ("0x0803_0000", "the GIC virtual interface control (GICH)"),
        ("0x0804_0000", "the GIC virtual CPU interface (GICV)"),
    ] {
        let text = rejected(&with_device(&v2, "evil", base), &arm_config("", ""));
        assert_contains(&text, &format!("overlaps {frame}"));
    }
    let in_ram = v3.replace(
        "distributor = { base = 0x0800_0000",
        "distributor = { base = 0x7000_0000",
    );
    let text = rejected(&in_ram, &arm_config("", ""));
    assert_contains(
        &text,
        "error: the GIC distributor (GICD) 0x70000000..0x70010000 overlaps RAM 0x40000000..0x80000000",
    );
    let its_on_v2 = v2.replace(
        "irq-count = 288",
        "irq-count = 288\nits = { base = 0x0808_0000, size = 0x2_0000 }",
    );
    assert_contains(
        &rejected(&its_on_v2, &arm_config("", "")),
        "a GICv2 has no ITS",
    );
}

fn parse(hex: &str) -> u64 {
    u64::from_str_radix(&hex.trim_start_matches("0x").replace('_', ""), 16).unwrap()
}

/// F5c on x86: a device on the I/O APIC window or the local APIC page.
#[test]
fn f5c_device_on_the_io_apic_or_local_apic_is_rejected() {
    let platform = real_platform("bochs-x86_64");
    for (base, frame) in [
        ("0xfec0_0000", "the I/O APIC"),
        ("0xfee0_0000", "the local APIC page"),
    ] {
        let text = rejected(
            &with_device(&platform, "evil", base).replace("irqs = [40]", "irqs = [9]"),
            X86_CONFIG,
        );
        assert_contains(&text, &format!("device `evil` MMIO {:#x}", parse(base)));
        assert_contains(&text, &format!("overlaps {frame}"));
    }
}

/// F5c: RAM banks that overlap.
#[test]
fn f5c_overlapping_ram_banks_are_rejected() {
    let platform = real_platform("qemu-virt-aarch64").replace(
        "ram = [{ base = 0x4000_0000, size = \"1G\" }]",
        "ram = [{ base = 0x4000_0000, size = \"1G\" }, { base = 0x7fff_f000, size = \"1G\" }]",
    );
    let text = rejected(&platform, &arm_config("", ""));
    assert_contains(
        &text,
        "error: RAM 0x7ffff000..0xbffff000 overlaps RAM 0x40000000..0x80000000",
    );
}

/// F5c: two CPUs with one MPIDR or one APIC id.
#[test]
fn f5c_duplicate_mpidr_or_apic_id_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64").replace("{ mpidr = 0x3 }", "{ mpidr = 0x1 }");
    let text = rejected(&platform, &arm_config("", ""));
    let line = line_of(&platform, "{ mpidr = 0x1 }");
    let dup = line_of(&platform, "{ mpidr = 0x2 }") + 1;
    assert_contains(
        &text,
        &format!("platforms/test.toml:{dup}:5: error: CPU 3 has the same MPIDR (0x1) as CPU 1"),
    );
    assert_contains(&text, &format!("platforms/test.toml:{line}:5: note: CPU 1"));
    let platform = real_platform("bochs-x86_64").replace("{ apic-id = 1 }", "{ apic-id = 0 }");
    let text = rejected(&platform, X86_CONFIG);
    assert_contains(&text, "CPU 1 has the same APIC id (0x0) as CPU 0");
}

/// F5c: a PPI as a device's interrupt.
#[test]
fn f5c_ppi_as_device_interrupt_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64").replace("irqs = [34]", "irqs = [27]");
    let text = rejected(&platform, &arm_config("", ""));
    let line = line_of(&platform, "irqs = [27]");
    assert_contains(
        &text,
        &format!("platforms/test.toml:{line}:9: error: device `rtc` interrupt 27 is not an SPI"),
    );
}

/// F5c: a GICv3 redistributor region without a 128 KiB frame pair per CPU.
#[test]
fn f5c_redistributor_region_too_small_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64").replace(
        "redistributor = { base = 0x080a_0000, size = 0xf6_0000 }",
        "redistributor = { base = 0x080a_0000, size = 0x6_0000 }",
    );
    let text = rejected(&platform, &arm_config("", ""));
    assert_contains(
        &text,
        "error: the GICv3 redistributor region 0x80a0000..0x8100000 (384 KiB) is too small for 4 CPUs",
    );
    assert_contains(&text, "the region needs at least 0x80000 bytes");
}

/// F5e: an MPIDR with Aff0 >= 16 on a GICv3 (the hypervisor's SGIs use a
/// 16-bit target list with RS = 0).
#[test]
fn f5e_mpidr_aff0_of_16_or_more_on_gicv3_is_rejected() {
    let platform =
        real_platform("qemu-virt-aarch64").replace("{ mpidr = 0x3 }", "{ mpidr = 0x10 }");
    let text = rejected(&platform, &arm_config("", ""));
    let line = line_of(&platform, "{ mpidr = 0x10 }");
    assert_contains(
        &text,
        &format!(
            "platforms/test.toml:{line}:5: error: CPU 3 has MPIDR 0x10, Aff0 = 16: the hypervisor can only send SGIs to Aff0 0..15 on a GICv3"
        ),
    );
    // Aff1 may be anything: 0x100 is core 0 of cluster 1.
    let platform =
        real_platform("qemu-virt-aarch64").replace("{ mpidr = 0x3 }", "{ mpidr = 0x100 }");
    common::accepted(&platform, &arm_config("", ""));
}

/// A `[[cell.memory]]` table for alpha (RAM unless `device` is given).
fn region(gpa: &str, hpa: &str, size: &str, perm: &str, device: Option<&str>) -> String {
    let device = device.map_or(String::new(), |d| format!("device = \"{d}\"\n"));
    format!(
        "\n[[cell.memory]]\ngpa = {gpa}\nhpa = {hpa}\nsize = {size}\nperm = \"{perm}\"\n{device}"
    )
}

/// F15: RAM, a device window or a channel end on a frame the hypervisor
/// emulates: the virtual GICD, the GICv3 GICR region, the GICv2 GICC
/// address (GICV is mapped there) and the virtual console page.
#[test]
fn f15_cell_ipa_on_an_emulated_frame_is_rejected() {
    let v3 = real_platform("qemu-virt-aarch64");
    for (gpa, frame) in [
        (
            "0x0800_0000",
            "the virtual GIC distributor (GICD) 0x8000000..0x8010000",
        ),
        (
            "0x080b_0000",
            "the virtual GIC redistributors (GICR) 0x80a0000..0x9000000",
        ),
        (
            "0x0900_0000",
            "the virtual console (PL011) 0x9000000..0x9001000",
        ),
    ] {
        let ram = region(gpa, "0x4300_0000", "0x1000", "rw", None);
        let config = arm_config(&ram, "");
        let text = rejected(&v3, &config);
        let line = line_of(&config, &format!("gpa = {gpa}"));
        assert_contains(
            &text,
            &format!(
                "config.toml:{}:1: error: cell `alpha` memory[0] at guest address {:#x}..{:#x} overlaps {frame} of cell `alpha`",
                line - 1,
                parse(gpa),
                parse(gpa) + 0x1000
            ),
        );
        assert_contains(
            &text,
            "help: the hypervisor emulates that frame in every cell",
        );
    }
    // The console page is only emulated for a virtual console.
    let ram = region("0x0900_0000", "0x4300_0000", "0x1000", "rw", None);
    common::accepted(&v3, &arm_config(&format!("console = \"none\"\n{ram}"), ""));
    // GICv2: RAM where the guest's GICC (the GICV frame) is mapped.
    let v2 = real_platform("qemu-virt-aarch64-gicv2");
    let ram = region("0x0801_0000", "0x4300_0000", "0x1000", "rw", None);
    assert_contains(
        &rejected(&v2, &arm_config(&ram, "")),
        "overlaps the GICv2 CPU interface (GICV mapped at the GICC address) 0x8010000..0x8020000",
    );
    // A device window and a channel end on the GICD.
    let window = region("0x0800_0000", "0x0903_0000", "0x1000", "rw", Some("gpio"));
    let text = rejected(&v3, &arm_config("", &window));
    assert_contains(
        &text,
        "cell `beta` memory[1] at guest address 0x8000000..0x8001000 overlaps the virtual GIC distributor",
    );
    let channel = "\n[[channel]]\nname = \"link\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x0800_0000, perm = \"rw\" }, { cell = \"beta\", gpa = 0x5000_0000, perm = \"r\" }]\n";
    let text = rejected(&v3, &arm_config("", channel));
    assert_contains(
        &text,
        "channel `link` end at guest address 0x8000000..0x8010000 overlaps the virtual GIC distributor",
    );
}

/// F15: a guest address past the stage-2 IPA size (39 bits on AArch64, 48
/// on x86_64).
#[test]
fn f15_cell_ipa_beyond_the_stage2_size_is_rejected() {
    let platform = real_platform("qemu-virt-aarch64");
    let ram = region("0x80_0000_0000", "0x4300_0000", "0x1000", "rw", None);
    let config = arm_config(&ram, "");
    let text = rejected(&platform, &config);
    assert_contains(
        &text,
        &format!(
            "config.toml:{}:1: error: cell `alpha` memory[0] at guest address 0x8000000000..0x8000001000 is beyond the 39-bit guest-physical space of cell `alpha`",
            line_of(&config, "gpa = 0x80_0000_0000") - 1
        ),
    );
    // The last page below 2^39 is fine.
    let ram = region("0x7f_ffff_f000", "0x4300_0000", "0x1000", "rw", None);
    common::accepted(&platform, &arm_config(&ram, ""));
    let x86 = X86_CONFIG.replace("gpa = 0x0", "gpa = 0xffff_ffff_0000");
    let text = rejected(&real_platform("bochs-x86_64"), &x86);
    assert_contains(
        &text,
        "is beyond the 48-bit guest-physical space of cell `alpha`",
    );
}

/// Two things of one cell at one guest address: regions, a region and a
/// passthrough device, two channels, a channel and a region.
#[test]
fn guest_ranges_of_one_cell_may_not_overlap() {
    let platform = real_platform("qemu-virt-aarch64");
    // A RAM region over the cell's own passthrough RTC.
    let ram = region("0x0901_0000", "0x4300_0000", "0x1000", "rw", None);
    let text = rejected(&platform, &arm_config(&ram, ""));
    assert_contains(
        &text,
        "cell `alpha` memory[0] at guest address 0x9010000..0x9011000 overlaps device `rtc` (passed through at its own address) at 0x9010000..0x9011000",
    );
    // Two channels at one address in alpha.
    let channels = "\n[[channel]]\nname = \"one\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x5000_0000, perm = \"rw\" }, { cell = \"beta\", gpa = 0x5000_0000, perm = \"r\" }]\n\n[[channel]]\nname = \"two\"\nhpa = 0x4500_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x5000_f000, perm = \"rw\" }, { cell = \"beta\", gpa = 0x5100_0000, perm = \"r\" }]\n";
    let text = rejected(&platform, &arm_config("", channels));
    assert_contains(
        &text,
        "error: channel `two` end at guest address 0x5000f000..0x5001f000 overlaps channel `one` end at 0x50000000..0x50010000",
    );
    assert_contains(&text, "note: channel `one` end declared here");
    // A channel end over a region of the cell.
    let channel = "\n[[channel]]\nname = \"one\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x40ff_0000, perm = \"rw\" }, { cell = \"beta\", gpa = 0x5000_0000, perm = \"r\" }]\n";
    let text = rejected(&platform, &arm_config("", channel));
    assert_contains(
        &text,
        "channel `one` end at guest address 0x40ff0000..0x41000000 overlaps cell `alpha` memory[0]",
    );
}

/// Channels: a cell named by two ends; an end that cannot read.
#[test]
fn channel_ends_name_a_cell_once_and_can_read() {
    let platform = real_platform("qemu-virt-aarch64");
    let twice = "\n[[channel]]\nname = \"one\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x5000_0000, perm = \"rw\" }, { cell = \"alpha\", gpa = 0x5100_0000, perm = \"r\" }]\n";
    let text = rejected(&platform, &arm_config("", twice));
    assert_contains(
        &text,
        "error: channel `one`: cell `alpha` is listed twice as an end",
    );
    assert_contains(&text, "note: its first end");
    for (perm, shown) in [("w", "-w-"), ("wx", "-wx"), ("x", "--x")] {
        let end = format!(
            "\n[[channel]]\nname = \"one\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{{ cell = \"alpha\", gpa = 0x5000_0000, perm = \"rw\" }}, {{ cell = \"beta\", gpa = 0x5000_0000, perm = \"{perm}\" }}]\n"
        );
        let text = rejected(&platform, &arm_config("", &end));
        assert_contains(
            &text,
            &format!(
                "error: channel `one`: the end of cell `beta` has perm `{shown}`, which cannot read"
            ),
        );
    }
    // RAM regions too.
    let ram = region("0x5000_0000", "0x4300_0000", "0x1000", "w", None);
    assert_contains(
        &rejected(&platform, &arm_config(&ram, "")),
        "cell `alpha` memory[0] has perm `-w-`, which cannot read",
    );
}

/// F5d: `x` on an end another cell can write is accepted with a warning
/// (at the executing end, the writer as a note).
#[test]
fn f5d_executable_channel_end_another_cell_writes_is_a_warning() {
    let platform = real_platform("qemu-virt-aarch64");
    let channel = "\n[[channel]]\nname = \"code\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x5000_0000, perm = \"rwx\" }, { cell = \"beta\", gpa = 0x5000_0000, perm = \"rwx\" }]\n";
    let config = arm_config("", channel);
    let accepted = common::accepted(&platform, &config);
    let warnings: Vec<String> = accepted.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    let line = line_of(&config, "ends = [");
    let ends = config.lines().nth(line - 1).unwrap();
    let first = ends.find("\"rwx\"").unwrap() + 1;
    let second = ends.rfind("\"rwx\"").unwrap() + 1;
    assert_contains(
        &warnings[0],
        &format!(
            "config.toml:{line}:{first}: warning: channel `code`: cell `alpha` can execute what cell `beta` writes (perm `rwx` here, `rwx` there)"
        ),
    );
    assert_contains(
        &warnings[0],
        &format!("config.toml:{line}:{second}: note: cell `beta`'s end"),
    );
    assert_contains(&warnings[0], "help: one cell then runs code another chose");
    // Read-only on the other side: nothing to warn about.
    let quiet = common::accepted(
        &platform,
        &config.replacen("perm = \"rwx\" }]", "perm = \"r\" }]", 1),
    );
    assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
}

/// F5b: a sub-page device shares its 4 KiB page with another device: a
/// cell that gets it would reach bytes it does not own, whether the other
/// device is another cell's, unassigned, the console, or its own (the page
/// would be mapped twice).
#[test]
fn f5b_device_sharing_a_page_is_rejected() {
    // uart1 in the second half of the RTC's page, which shrinks to 0x800.
    let platform = real_platform("qemu-virt-aarch64").replace(
        "mmio = [{ base = 0x0901_0000, size = 0x1000 }]",
        "mmio = [{ base = 0x0901_0000, size = 0x800 }]",
    );
    let platform = format!(
        "{platform}\n[[device]]\nname = \"uart1\"\ncompatible = \"arm,pl011\"\nmmio = [{{ base = 0x0901_0800, size = 0x800 }}]\nirqs = [41]\n"
    );
    // alpha owns the RTC, uart1 unassigned.
    let config = arm_config("", "");
    let text = rejected(&platform, &config);
    let line = line_of(&config, "devices = [\"rtc\"]");
    assert_contains(
        &text,
        &format!(
            "config.toml:{line}:12: error: device `rtc` MMIO 0x9010000..0x9010800 is mapped into cell `alpha` as whole 4 KiB pages 0x9010000..0x9011000, which also hold device `uart1` MMIO 0x9010800..0x9011000"
        ),
    );
    // uart1 given to beta: both cells are refused.
    let text = rejected(
        &platform,
        &arm_config("", "").replace("devices = [\"gpio\"]", "devices = [\"gpio\", \"uart1\"]"),
    );
    assert_contains(
        &text,
        "device `rtc` MMIO 0x9010000..0x9010800 is mapped into cell `alpha`",
    );
    assert_contains(
        &text,
        "device `uart1` MMIO 0x9010800..0x9011000 is mapped into cell `beta` as whole 4 KiB pages 0x9010000..0x9011000, which also hold device `rtc` MMIO",
    );
    // Both given to alpha: still refused (one page, mapped twice).
    let text = rejected(
        &platform,
        &arm_config("", "").replace("devices = [\"rtc\"]", "devices = [\"rtc\", \"uart1\"]"),
    );
    assert_contains(&text, "which also hold device `uart1`");
    // The console in the same page.
    let console = real_platform("qemu-virt-aarch64").replace(
        "mmio = [{ base = 0x0900_0000, size = 0x1000 }]",
        "mmio = [{ base = 0x0900_0000, size = 0x200 }]",
    );
    let console = format!(
        "{console}\n[[device]]\nname = \"uart1\"\ncompatible = \"arm,pl011\"\nmmio = [{{ base = 0x0900_0800, size = 0x200 }}]\nirqs = [41]\n"
    );
    let text = rejected(
        &console,
        &arm_config("", "").replace("devices = [\"rtc\"]", "devices = [\"rtc\", \"uart1\"]"),
    );
    assert_contains(
        &text,
        "which also hold device `uart0` (the hypervisor's console) MMIO 0x9000000..0x9000200",
    );
    // A sub-page device alone in its page is fine.
    let alone = real_platform("qemu-virt-aarch64").replace(
        "mmio = [{ base = 0x0901_0000, size = 0x1000 }]",
        "mmio = [{ base = 0x0901_0000, size = 0x800 }]",
    );
    common::accepted(&alone, &arm_config("", ""));
}

/// F17: a DMA-capable device (`dma = true`: virtio-mmio on QEMU `virt`)
/// owned by a cell, through `devices` or a window, is a warning.
#[test]
fn f17_dma_capable_passthrough_device_is_a_warning() {
    let platform = real_platform("qemu-virt-aarch64");
    let config = arm_config("", "").replace(
        "devices = [\"gpio\"]",
        "devices = [\"gpio\", \"virtio-mmio\"]",
    );
    let accepted = common::accepted(&platform, &config);
    let warnings: Vec<String> = accepted.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let line = line_of(&config, "\"virtio-mmio\"");
    assert_contains(
        &warnings[0],
        &format!(
            "config.toml:{line}:20: warning: cell `beta` owns device `virtio-mmio`, which can master DMA, and the hypervisor programs no SMMU/IOMMU"
        ),
    );
    assert_contains(
        &warnings[0],
        "help: the device can read and write any memory",
    );
    let window = region(
        "0x0a00_0000",
        "0x0a00_0000",
        "0x1000",
        "rw",
        Some("virtio-mmio"),
    );
    let accepted = common::accepted(&platform, &arm_config(&window, ""));
    assert_eq!(accepted.warnings.len(), 1, "{:?}", accepted.warnings);
    assert!(
        accepted.warnings[0]
            .message
            .contains("cell `alpha` owns device `virtio-mmio`")
    );
    // Without `dma`, nothing to say.
    let quiet = platform.replace("dma = true\n", "");
    assert!(common::accepted(&quiet, &config).warnings.is_empty());
}

/// F5f: SMT siblings (`core` in the platform) in two cells are a warning;
/// in one cell they are not.
#[test]
fn f5f_smt_siblings_in_two_cells_are_a_warning() {
    let platform = real_platform("qemu-virt-aarch64")
        .replace("{ mpidr = 0x0 }", "{ mpidr = 0x0, core = 0 }")
        .replace("{ mpidr = 0x1 }", "{ mpidr = 0x1, core = 0 }");
    let config = arm_config("", "");
    let accepted = common::accepted(&platform, &config);
    let warnings: Vec<String> = accepted.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let beta_cpus = line_of(&config, "cpus = [1]");
    let alpha_cpus = line_of(&config, "cpus = [0]");
    assert_contains(
        &warnings[0],
        &format!(
            "config.toml:{beta_cpus}:9: warning: CPU 1 of cell `beta` and CPU 0 of cell `alpha` are SMT threads of one core (0)"
        ),
    );
    assert_contains(
        &warnings[0],
        &format!("config.toml:{alpha_cpus}:9: note: cell `alpha` claims CPU 0 here"),
    );
    let together = config
        .replace("cpus = [0]", "cpus = [0, 1]")
        .replace("cpus = [1]", "cpus = [2]");
    assert!(common::accepted(&platform, &together).warnings.is_empty());
}

/// Item 10 (F8's checker side): a name or file name with control
/// characters is refused where it would be printed at boot, and every
/// message prints it escaped, so a config cannot forge terminal output.
#[test]
fn control_characters_in_names_are_escaped_in_every_message() {
    let platform = real_platform("qemu-virt-aarch64");
    let check = |platform: &str, config: &str, wanted: &[&str]| {
        let text = rejected(platform, config);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "raw control character in {text:?}"
        );
        for wanted in wanted {
            assert_contains(&text, wanted);
        }
    };
    // A cell name (already refused; now printed escaped).
    let config = arm_config("", "").replace("name = \"alpha\"", "name = \"\\u001b[2J\"");
    check(&platform, &config, &["error: invalid cell name `\\x1b[2J`"]);
    // An unknown device (an OSC title sequence ending in BEL).
    let config = arm_config("", "").replace(
        "devices = [\"rtc\"]",
        "devices = [\"\\u001b]0;pwned\\u0007\"]",
    );
    check(
        &platform,
        &config,
        &["unknown device `\\x1b]0;pwned\\x07` on platform `test`"],
    );
    // A platform device name.
    let evil = platform.replace("name = \"gpio\"", "name = \"gp\\u001b[31mio\"");
    let config =
        arm_config("", "").replace("devices = [\"gpio\"]", "devices = [\"gp\\u001b[31mio\"]");
    check(
        &evil,
        &config,
        &["device name `gp\\x1b[31mio` is empty or has control characters"],
    );
    // A channel name, with a bidi override.
    let channel = "\n[[channel]]\nname = \"li\\u202enk\"\nhpa = 0x4400_0000\nsize = \"64K\"\nends = [{ cell = \"alpha\", gpa = 0x5000_0000, perm = \"rw\" }, { cell = \"beta\", gpa = 0x5000_0000, perm = \"r\" }]\n";
    check(
        &platform,
        &arm_config("", channel),
        &["channel `li\\u{202e}nk`: the name is empty or has control characters"],
    );
    // An image file name.
    let config = arm_config("", "").replacen("tiny.bin", "ti\\rny.bin", 1);
    check(
        &platform,
        &config,
        &["cell `alpha`: the file name `ti\\x0dny.bin` has control characters"],
    );
    // The platform's description.
    let evil = platform.replacen("description = \"", "description = \"\\u009b2J", 1);
    check(
        &evil,
        &arm_config("", ""),
        &["the platform description `\\x9b2JQEMU virt"],
    );
}

/// F16: an x86_64 cell's interrupts are accepted with a warning, since the
/// back end delivers none to cells yet (the review found them silently
/// accepted and never routed).
#[test]
fn f16_x86_cell_interrupts_are_a_warning_until_they_are_delivered() {
    let platform = real_platform("bochs-x86_64");
    let config = X86_CONFIG.replace("cpus = [0]\n", "cpus = [0]\nirqs = [9]\n");
    let accepted = common::accepted(&platform, &config);
    let warnings: Vec<String> = accepted.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_contains(
        &warnings[0],
        "warning: interrupt 9 of cell `alpha` is not delivered: the x86_64 back end routes no device interrupts to cells yet",
    );
    assert!(common::accepted(&platform, X86_CONFIG).warnings.is_empty());
}
