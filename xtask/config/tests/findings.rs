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
