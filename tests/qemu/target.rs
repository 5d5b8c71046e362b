//! Target tests: build real images and boot them under QEMU.
//!
//! Run by `cargo xtask test` (they are `#[ignore]`d for a plain host
//! `cargo test`). QEMU missing is a failure, never a skip. Timeouts are
//! generous: machines are shared and noisy; nothing here measures time.

#[path = "../support/catalogue.rs"]
mod catalogue;
mod catalogue_runs;
mod fuzz_runs;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use xtask::dist::{BuildOptions, Dist, build};
use xtask::qemu::{RunOutput, Typing, available, run_captured, run_scripted};

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
        has_line(console, "Bulkhead 0.1.0: static partitioning hypervisor"),
        "no banner:\n{transcript}"
    );
    assert!(
        console.lines().any(|l| l.starts_with("config ")
            && (l.contains(&format!("({gic}, ")) || l.contains(&format!("aarch64, {gic}")))),
        "wrong GIC in the table:\n{transcript}"
    );
    // The partition table lists what the config says.
    for cell in &dist.config.cells {
        let cpus: Vec<String> = cell.cpus.iter().map(u32::to_string).collect();
        let line = format!("cell {} {}: cpus {}", cell.id, cell.name, cpus.join(","));
        assert!(has_line(console, &line), "missing `{line}`:\n{transcript}");
        for region in &cell.memory {
            let line = format!(
                "  memory gpa {:#x}..{:#x} -> hpa {:#x}",
                region.gpa,
                region.gpa + region.size,
                region.hpa
            );
            assert!(has_line(console, &line), "missing `{line}`:\n{transcript}");
        }
    }
    let cpu_count = dist.config.platform.cpus.len();
    for cpu in 1..cpu_count {
        let line = format!(
            "cpu {cpu} online (MPIDR {:#x})",
            dist.config.platform.cpus[cpu].hw_id
        );
        assert!(has_line(console, &line), "missing `{line}`:\n{transcript}");
    }
    assert!(
        has_line(console, &format!("all {cpu_count} CPUs online")),
        "{transcript}"
    );
    // Every core of every cell ran the guest (tagged output); each cell then
    // powered itself off, and with the last one the machine.
    for cell in &dist.config.cells {
        for vcpu in 0..cell.cpus.len() {
            let line = format!("[{}] hello from vcpu {vcpu} ", cell.name);
            assert!(has_line(console, &line), "missing `{line}`:\n{transcript}");
        }
        let line = format!("bulkhead: cell {} powered off (PSCI SYSTEM_OFF)", cell.name);
        assert!(has_line(console, &line), "missing `{line}`:\n{transcript}");
    }
    assert!(
        has_line(console, "bulkhead: every cell has stopped; powering off"),
        "{transcript}"
    );
    // Log records travelled through the ring (read from the machine's RAM
    // file), not the console.
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
        has_line(console, "all cores stopped (3 others)"),
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
    let tree = xtask::tools::cargo()
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
        has_line(&stdout, "Bulkhead 0.1.0: static partitioning hypervisor"),
        "{transcript}"
    );
    assert!(
        has_line(&stdout, "config qemu-virt-demo on qemu-virt-aarch64"),
        "{transcript}"
    );
    assert!(has_line(&stdout, "cell 0 sensor: cpus 0"), "{transcript}");
    assert!(has_line(&stdout, "all 4 CPUs online"), "{transcript}");
    // The cells' output, tagged with their names.
    for line in [
        "[sensor] hello from vcpu 0 of 1 (cell 0)",
        "[control] hello from vcpu 0 of 3 (cell 1)",
        "[control] hello from vcpu 2 (cell 1)",
    ] {
        assert!(has_line(&stdout, line), "missing `{line}`:\n{transcript}");
    }
    // Log records are decoded live, on stderr, with their source location.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[hv] ") && l.contains("INFO") && l.contains("cpu_entry.rs:")),
        "{transcript}"
    );
}

/// Lines a cell printed (its tag stripped). A QEMU monitor prompt left on
/// the line by a test typing monitor commands (`(qemu) `) is skipped.
/// Whether `console` has a line that starts with `start`. Hypervisor lines
/// and a cell's tagged lines are matched from the line start: a guest can
/// print any text inside its own line, never at the start of one
/// (security review finding F8).
fn has_line(console: &str, start: &str) -> bool {
    console.lines().any(|l| l.starts_with(start))
}

/// Whether `console` has a line that starts with `start` and ends with
/// `end` (a hypervisor report about one cell, say).
fn has_report(console: &str, start: &str, end: &str) -> bool {
    console
        .lines()
        .any(|l| l.starts_with(start) && l.trim_end().ends_with(end))
}

/// How many lines of `console` start with `start`.
fn line_count(console: &str, start: &str) -> usize {
    console.lines().filter(|l| l.starts_with(start)).count()
}

fn cell_lines<'a>(console: &'a str, cell: &str) -> Vec<&'a str> {
    let tag = format!("[{cell}] ");
    console
        .lines()
        .map(|l| l.trim_start_matches("(qemu) "))
        .filter_map(|l| l.strip_prefix(tag.as_str()))
        .collect()
}

/// The numbers in the first line `cell` printed that starts with `prefix`
/// (the rest of the line), with that rest for messages.
fn numbers_after<'a>(lines: &[&'a str], prefix: &str, transcript: &str) -> (Vec<u64>, &'a str) {
    let rest = lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line\n{transcript}"));
    let numbers = rest
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers, rest)
}

/// The canary checksums the victim reported.
fn canary_checksums(console: &str) -> Vec<String> {
    cell_lines(console, "victim")
        .iter()
        .filter_map(|l| l.strip_prefix("victim: canary ok "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn three_cells_print_from_every_core_and_the_intruder_is_contained() {
    let dist = build_config("configs/qemu-virt-isolation.toml", &[]);
    // Run until the intruder has powered itself off and the victim has
    // checked its canary five more times after that.
    require_qemu();
    let out = run_captured(&dist, BOOT_TIMEOUT, |text| {
        text.find("bulkhead: cell intruder powered off")
            .is_some_and(|at| {
                line_count(&text[at..], "[victim] victim: canary ok") >= 5
                    && text.contains("multi: vcpu 0 tick 2")
                    && text.contains("multi: vcpu 1 tick 2")
            })
    })
    .unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");

    // Three cells (2 + 1 + 1 cores) print from every one of their cores.
    let multi = cell_lines(console, "multi");
    for vcpu in 0..2 {
        let hello = format!("multi: hello from vcpu {vcpu} of 2 (cell 0)");
        assert!(
            multi.contains(&hello.as_str()),
            "missing `{hello}`:\n{transcript}"
        );
        let tick = format!("multi: vcpu {vcpu} tick 2");
        assert!(
            multi.contains(&tick.as_str()),
            "missing `{tick}`:\n{transcript}"
        );
    }
    assert!(
        cell_lines(console, "victim")
            .iter()
            .any(|l| l.ends_with("armed")),
        "{transcript}"
    );
    assert!(
        cell_lines(console, "intruder")
            .contains(&"intruder: start (bulkhead abi 0x10000, cell 2, 1 vcpu)"),
        "{transcript}"
    );

    // Every memory and device probe is reported by the hypervisor and comes
    // back to the intruder as an injected abort (policy `inject`).
    let intruder = cell_lines(console, "intruder");
    for (access, address) in [
        ("read", "0x43000000"),
        ("read", "0x41000000"),
        ("write", "0x43000000"),
        ("write", "0x41000000"),
        ("read", "0x40800000"),
        ("read", "0x9010000"),
        ("write", "0x9030000"),
    ] {
        let report = format!(
            ": {access} {address}: stage-2 translation fault (not the cell's memory) -> inject external abort"
        );
        assert!(
            console.lines().any(|l| l
                .starts_with("bulkhead: fault: cell intruder vcpu 0 (cpu 3) pc ")
                && l.ends_with(&report)),
            "no report `{report}`:\n{transcript}"
        );
        let answer = format!("intruder: {access} {address} -> fault esr=0x960000");
        assert!(
            intruder.iter().any(|l| l.starts_with(&answer)),
            "missing `{answer}`:\n{transcript}"
        );
    }
    // Foreign cores: CPU_ON refused, and reported.
    for target in ["0x1", "0x2", "0x3", "0x100"] {
        let report = format!(
            "bulkhead: cell intruder vcpu 0: target MPIDR {target} is not in the cell -> -2"
        );
        assert!(
            has_line(console, &report),
            "missing `{report}`:\n{transcript}"
        );
        let answer = format!("intruder: cpu_on mpidr {target} -> -2 (INVALID_PARAMETERS)");
        assert!(
            intruder.contains(&answer.as_str()),
            "missing `{answer}`:\n{transcript}"
        );
    }
    // Set/way maintenance is emulated, not fatal.
    for op in ["cisw", "isw", "csw"] {
        let line = format!("intruder: dc {op} ok");
        assert!(
            intruder.contains(&line.as_str()),
            "missing `{line}`:\n{transcript}"
        );
    }
    // Random SMC and HVC ids: each answered NOT_SUPPORTED and reported.
    let random_calls = intruder
        .iter()
        .filter(|l| {
            (l.starts_with("intruder: smc ") || l.starts_with("intruder: hvc "))
                && l.ends_with("-> x0=-1")
        })
        .count();
    assert_eq!(random_calls, 24, "{transcript}");
    assert!(
        line_count(
            console,
            "bulkhead: cell intruder vcpu 0: unknown function id "
        ) >= 24,
        "{transcript}"
    );
    // SMCCC workaround queries are answered (QEMU has no SMCCC 1.1
    // firmware: NOT_SUPPORTED), never fatal.
    for what in [
        "arch_features(workaround_1)",
        "arch_features(workaround_2)",
        "workaround_2(disable)",
    ] {
        let line = format!("intruder: smccc {what} -> x0=-1");
        assert!(
            intruder.contains(&line.as_str()),
            "missing `{line}`:\n{transcript}"
        );
    }
    // Nothing got through.
    assert!(!console.contains("NOT CONTAINED"), "{transcript}");
    // SYSTEM_OFF stopped the intruder only: the others keep running.
    assert!(
        has_line(
            console,
            "bulkhead: cell intruder powered off (PSCI SYSTEM_OFF)"
        ),
        "{transcript}"
    );
    assert!(!console.contains("every cell has stopped"), "{transcript}");

    // The victim's canary never changed.
    let sums = canary_checksums(console);
    assert!(sums.len() >= 5, "{transcript}");
    assert!(
        sums.iter().all(|s| *s == sums[0]),
        "canary changed: {sums:?}"
    );
    assert!(!console.contains("CANARY CORRUPTED"), "{transcript}");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn fault_policy_halt_stops_only_the_faulting_cell() {
    let dist = build_config("tests/configs/qemu/isolation-halt.toml", &[]);
    require_qemu();
    let out = run_captured(&dist, BOOT_TIMEOUT, |text| {
        text.find("bulkhead: cell intruder halted")
            .is_some_and(|at| line_count(&text[at..], "[victim] victim: canary ok") >= 5)
    })
    .unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");
    assert!(
        has_report(
            console,
            "bulkhead: fault: cell intruder ",
            ": read 0x43000000: stage-2 translation fault (not the cell's memory) -> halt"
        ),
        "{transcript}"
    );
    // Halted at the first fault: the guest never saw an answer, never
    // printed again.
    let intruder = cell_lines(console, "intruder");
    assert_eq!(
        intruder.len(),
        1,
        "the intruder printed after being halted:\n{transcript}"
    );
    assert_eq!(line_count(console, "bulkhead: fault: "), 1, "{transcript}");
    // The others run on, canary intact.
    let at = console.find("bulkhead: cell intruder halted").unwrap();
    assert!(
        has_line(&console[at..], "[multi] multi: vcpu 0 tick"),
        "{transcript}"
    );
    let sums = canary_checksums(console);
    assert!(
        sums.iter().all(|s| *s == sums[0]),
        "canary changed: {sums:?}"
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn fault_policy_restart_reloads_the_cell_which_prints_its_banner_again() {
    let dist = build_config("tests/configs/qemu/isolation-restart.toml", &[]);
    require_qemu();
    let banner = "[intruder] intruder: start (bulkhead abi 0x10000, cell 2, 1 vcpu)";
    let out = run_captured(&dist, BOOT_TIMEOUT, |text| {
        line_count(text, banner) >= 3
            && line_count(text, "[victim] victim: canary ok") >= 2
            && text.contains("multi: vcpu 1 tick")
    })
    .unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");
    assert!(
        line_count(console, "bulkhead: cell intruder restarting") >= 2,
        "{transcript}"
    );
    assert!(
        has_report(console, "bulkhead: fault: cell intruder ", "-> restart"),
        "{transcript}"
    );
    // Each run gets as far as its first probe, then is restarted from its
    // pristine image and prints its banner again.
    assert!(line_count(console, banner) >= 3, "{transcript}");
    let sums = canary_checksums(console);
    assert!(
        !sums.is_empty() && sums.iter().all(|s| *s == sums[0]),
        "{transcript}"
    );
    assert!(
        has_line(console, "[multi] multi: vcpu 1 tick"),
        "{transcript}"
    );
}

/// A reset of a two-core cell completes although its second core spins
/// without ever trapping: the hypervisor kicks it out of the guest (SGI).
fn reset_kicks_a_spinning_vcpu(config: &str) {
    let dist = build_config(config, &[]);
    require_qemu();
    let spinning = "[reset] reset: vcpu 1 spinning";
    let out = run_captured(&dist, BOOT_TIMEOUT, |text| {
        line_count(text, spinning) >= 3 && has_line(text, "[victim] victim: canary ok")
    })
    .unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");
    assert!(
        line_count(
            console,
            "bulkhead: cell reset restarting (PSCI SYSTEM_RESET)"
        ) >= 2,
        "{transcript}"
    );
    assert!(line_count(console, spinning) >= 3, "{transcript}");
    let sums = canary_checksums(console);
    assert!(sums.iter().all(|s| *s == sums[0]), "{transcript}");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn reset_kicks_a_spinning_vcpu_gicv3() {
    reset_kicks_a_spinning_vcpu("tests/configs/qemu/reset-spinning.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn reset_kicks_a_spinning_vcpu_gicv2() {
    reset_kicks_a_spinning_vcpu("tests/configs/qemu/reset-spinning-gicv2.toml");
}

/// Builds `config`, boots it under QEMU until it powers itself off (every
/// cell stopped) and checks it did not time out; returns the run and its
/// transcript for assertion messages.
fn run_until_power_off(config: &str) -> (RunOutput, String) {
    let dist = build_config(config, &[]);
    require_qemu();
    let out = run_captured(&dist, BOOT_TIMEOUT, |_| false).unwrap();
    let transcript = out.transcript();
    assert!(!out.timed_out, "{transcript}");
    (out, transcript)
}

/// Every 2 s window a ticker cell reported has 2000 ticks within 1 %.
fn assert_ticks_at_1khz(console: &str, cell: &str, transcript: &str) {
    for (window, ticks) in tick_windows(console, cell) {
        assert!(
            (1980..=2020).contains(&ticks),
            "{cell} window {window}: {ticks}\n{transcript}"
        );
    }
}

/// `(window, ticks)` pairs a ticker cell reported.
fn tick_windows(console: &str, cell: &str) -> Vec<(u32, u64)> {
    cell_lines(console, cell)
        .iter()
        .filter_map(|l| l.strip_prefix("ticker: window "))
        .filter_map(|l| {
            let (window, rest) = l.split_once(": ")?;
            let ticks = rest.split_whitespace().next()?;
            Some((window.parse().ok()?, ticks.parse().ok()?))
        })
        .collect()
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn virtual_timer_ticks_at_1khz_in_two_cells_gicv3() {
    virtual_timer_ticks_at_1khz_in_two_cells("tests/configs/qemu/ticker.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn virtual_timer_ticks_at_1khz_in_two_cells_gicv2() {
    virtual_timer_ticks_at_1khz_in_two_cells("tests/configs/qemu/ticker-gicv2.toml");
}

fn virtual_timer_ticks_at_1khz_in_two_cells(config: &str) {
    let (out, transcript) = run_until_power_off(config);
    assert!(
        console_has(
            &out.console,
            "bulkhead: every cell has stopped; powering off"
        ),
        "{transcript}"
    );
    for cell in ["tick-a", "tick-b"] {
        let windows = tick_windows(&out.console, cell);
        assert_eq!(windows.len(), 2, "{cell}: {windows:?}\n{transcript}");
        for (window, ticks) in windows {
            // 2 s of guest time at 1 kHz: 2000 ticks, within 1 %.
            assert!(
                (1980..=2020).contains(&ticks),
                "{cell} window {window}: {ticks} ticks\n{transcript}"
            );
        }
        assert_one_exit_per_tick(&out.console, cell, &transcript);
    }
}

fn console_has(console: &str, line: &str) -> bool {
    console.lines().any(|l| l == line)
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn sgi_ping_pong_10000_round_trips_none_lost_gicv3() {
    sgi_ping_pong_10000_round_trips_none_lost("tests/configs/qemu/pingpong.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn sgi_ping_pong_10000_round_trips_none_lost_gicv2() {
    sgi_ping_pong_10000_round_trips_none_lost("tests/configs/qemu/pingpong-gicv2.toml");
}

fn sgi_ping_pong_10000_round_trips_none_lost(config: &str) {
    let (out, transcript) = run_until_power_off(config);
    let pingpong = cell_lines(&out.console, "pingpong");
    assert!(
        pingpong.contains(&"pingpong: 10000 round trips, 10000 pings received, 0 lost"),
        "{transcript}"
    );
    // At most one exit per delivered SGI at the receiver (an IRQ exit, or
    // on GICv2 the trapped WFI it waited in); the trapped send is the
    // sender's one exit.
    let (numbers, exits) = numbers_after(&pingpong, "pingpong: exits: ", &transcript);
    let [sends, irq_exits, wfi_exits, delivered] = numbers[..] else {
        panic!("unexpected `{exits}`");
    };
    assert_eq!(sends, 20_000, "{exits}");
    assert_eq!(delivered, 20_000, "{exits}");
    assert!(irq_exits + wfi_exits <= delivered, "{exits}");
    // The timer cell beside it stays exact, one exit per tick.
    assert_ticks_at_1khz(&out.console, "ticker", &transcript);
    assert_one_exit_per_tick(&out.console, "ticker", &transcript);
}

/// The ticker's exit counters: at most one exit per delivered timer
/// interrupt (an IRQ exit, or on GICv2 the trapped WFI it waited in) and
/// none for its EOI.
fn assert_one_exit_per_tick(console: &str, cell: &str, transcript: &str) {
    let (numbers, line) = numbers_after(&cell_lines(console, cell), "ticker: exits: ", transcript);
    let [irq_exits, wfi_exits, delivered] = numbers[..] else {
        panic!("unexpected `{line}`");
    };
    assert!((3960..=4040).contains(&delivered), "{cell}: {line}");
    assert!(irq_exits + wfi_exits <= delivered, "{cell}: {line}");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn device_interrupt_reaches_its_owner_and_a_hostile_cell_changes_nothing_gicv3() {
    device_interrupt_reaches_its_owner_and_a_hostile_cell_changes_nothing(
        "tests/configs/qemu/hostile.toml",
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn device_interrupt_reaches_its_owner_and_a_hostile_cell_changes_nothing_gicv2() {
    device_interrupt_reaches_its_owner_and_a_hostile_cell_changes_nothing(
        "tests/configs/qemu/hostile-gicv2.toml",
    );
}

fn device_interrupt_reaches_its_owner_and_a_hostile_cell_changes_nothing(config: &str) {
    let dist = build_config(config, &[]);
    require_qemu();
    let out = run_captured(&dist, BOOT_TIMEOUT, |_| false).unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");
    // The hostile cell sees nothing of interrupts it does not own and
    // receives nothing (no SGI from its own attempts reached anyone).
    let hostile = cell_lines(console, "hostile");
    for intid in [34, 48] {
        let line = format!("hostile: intid {intid}: reads enable 0x0 pending 0x0 priority 0x0");
        assert!(
            hostile.contains(&line.as_str()),
            "missing `{line}`:\n{transcript}"
        );
    }
    assert!(
        hostile.contains(&"hostile: received 0 interrupts"),
        "{transcript}"
    );
    // The RTC's interrupt reaches its owner (three alarms), its timer stays
    // exact (1 kHz within 1 %), and nothing else arrives.
    let alarm = cell_lines(console, "alarm");
    let line = alarm
        .iter()
        .find_map(|l| l.strip_prefix("alarm: "))
        .filter(|l| l.contains("rtc interrupts"))
        .unwrap_or_else(|| panic!("no alarm report:\n{transcript}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [alarms, ticks, elapsed_ms, other] = numbers[..] else {
        panic!("unexpected `{line}`");
    };
    assert_eq!(alarms, 3, "{line}");
    assert_eq!(other, 0, "{line}");
    assert!(
        ticks * 100 >= elapsed_ms * 99 && ticks * 100 <= elapsed_ms * 101,
        "{line}"
    );
    assert!(
        alarm.contains(&"alarm: 3 device interrupts delivered"),
        "{transcript}"
    );
    // The ping-pong cell is exact as well.
    assert!(
        cell_lines(console, "pingpong")
            .contains(&"pingpong: 10000 round trips, 10000 pings received, 0 lost"),
        "{transcript}"
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn a_cell_faulting_in_a_loop_is_muted_on_the_console_after_its_budget() {
    // The intruder with policy `restart` faults at once after every start:
    // two reports per run (the fault, the restart) until its budget of 256.
    let dist = build_config("tests/configs/qemu/isolation-restart.toml", &[]);
    require_qemu();
    let notice = "bulkhead: cell intruder keeps misbehaving; its further reports go to the hypervisor log only";
    let out = run_captured(&dist, Duration::from_secs(600), |text| {
        text.find(notice).is_some_and(|at| {
            line_count(&text[at..], "[intruder] intruder: start") >= 5
                && text[at..].contains("victim: canary ok")
        })
    })
    .unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");
    let (before, after) = console.split_at(console.find(notice).unwrap());
    assert_eq!(
        line_count(before, "bulkhead: fault: cell intruder")
            + line_count(before, "bulkhead: cell intruder restarting"),
        256,
        "reports before the notice"
    );
    // After it: the cell keeps being restarted (its banner), but the console
    // carries no more reports about it; the others run on.
    assert_eq!(line_count(after, notice), 1);
    assert!(
        !after.contains("bulkhead: fault: cell intruder"),
        "{transcript}"
    );
    assert!(
        !after.contains("bulkhead: cell intruder restarting"),
        "{transcript}"
    );
    assert!(
        line_count(after, "[intruder] intruder: start") >= 5,
        "{transcript}"
    );
    let sums = canary_checksums(console);
    assert!(sums.iter().all(|s| *s == sums[0]), "canary changed");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn timer_policies_physical_timer_and_virtual_counter_gicv3() {
    timer_policies("tests/configs/qemu/clocks.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn timer_policies_physical_timer_and_virtual_counter_gicv2() {
    timer_policies("tests/configs/qemu/clocks-gicv2.toml");
}

/// `(virtual counter at start, physical - virtual)` in ms, and `(enable
/// readback, interrupts)` of the physical timer, as a `clocks` cell printed.
fn clock_report(console: &str, cell: &str, transcript: &str) -> ((u64, u64), (u64, u64)) {
    let lines = cell_lines(console, cell);
    let numbers = |prefix: &str| -> Vec<u64> {
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{cell}: no `{prefix}` line\n{transcript}"));
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect()
    };
    let counter = numbers("clocks: virtual counter at start ");
    let timer = numbers("clocks: physical timer enable reads ");
    let (&[start, difference], &[enable, interrupts]) = (&counter[..], &timer[..]) else {
        panic!("{cell}: unexpected clock report\n{transcript}");
    };
    ((start, difference), (enable, interrupts))
}

fn timer_policies(config: &str) {
    let (out, transcript) = run_until_power_off(config);
    // Defaults: the virtual counter is the physical one; the physical timer
    // traps, reads back disabled, never fires, and is reported once.
    let ((_, difference), (enable, interrupts)) = clock_report(&out.console, "strict", &transcript);
    assert_eq!(difference, 0, "{transcript}");
    assert_eq!((enable, interrupts), (0, 0), "{transcript}");
    assert_eq!(
        line_count(
            &out.console,
            "bulkhead: cell strict vcpu 0: EL1 physical timer refused"
        ),
        1,
        "{transcript}"
    );
    // `virtual-counter = "cell-start"`: the cell's count starts near zero
    // (the hypervisor booted for a while before: the offset shows);
    // `physical-timer = "allow"`: the timer works and its PPI 30 arrives.
    let ((start, difference), (enable, interrupts)) =
        clock_report(&out.console, "loose", &transcript);
    assert!(start < 1000, "{transcript}");
    assert!(difference > 0, "{transcript}");
    assert_eq!(enable, 1, "{transcript}");
    assert!(interrupts >= 1, "{transcript}");
    assert!(
        !out.console
            .contains("bulkhead: cell loose vcpu 0: EL1 physical timer refused")
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn console_switches_to_the_hypervisor_which_prints_counters_on_request() {
    let dist = build_config("tests/configs/qemu/ticker.toml", &[]);
    require_qemu();
    // While both tickers run: Ctrl-A x3 twice (tick-a -> tick-b -> the
    // hypervisor), then `c`. Nobody polls a UART: the input interrupt
    // brings the keys in.
    let script = [
        Typing {
            after: "[tick-a] ticker: virtual GIC ready",
            input: b"\x01\x01\x01",
        },
        Typing {
            after: "bulkhead: console input now goes to cell tick-b",
            input: b"\x01\x01\x01",
        },
        Typing {
            after: "bulkhead: console input now goes to the hypervisor",
            input: b"c",
        },
    ];
    let out = run_scripted(&dist, BOOT_TIMEOUT, &script, |text| {
        has_line(text, "bulkhead: counters of cell tick-b")
    })
    .unwrap();
    let transcript = out.transcript();
    assert!(!out.timed_out, "{transcript}");
    for cell in ["tick-a", "tick-b"] {
        let prefix = format!("bulkhead: counters of cell {cell}: exits ");
        let line = out
            .console
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no counters for {cell}\n{transcript}"));
        // `N: cause n, ...; delivered timer T, sgi S, ppi P, spi Q`, taken
        // while the cell ticks: it has had exits and timer interrupts.
        let (exits, delivered) = line.split_once("; delivered ").unwrap();
        let total: u64 = exits.split(':').next().unwrap().parse().unwrap();
        let timer: u64 = delivered
            .strip_prefix("timer ")
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected `{line}`"));
        assert!(total > 0 && timer > 0, "{cell}: `{line}`\n{transcript}");
    }
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn gpio_edge_interrupt_reaches_its_owner_only_gicv3() {
    gpio_edge_interrupt_reaches_its_owner_only("tests/configs/qemu/gpio.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn gpio_edge_interrupt_reaches_its_owner_only_gicv2() {
    gpio_edge_interrupt_reaches_its_owner_only("tests/configs/qemu/gpio-gicv2.toml");
}

/// Presses QEMU's power button twice through the monitor (Ctrl-] c toggles
/// between the console and the monitor): the PL061's pin 3 rises twice.
fn gpio_edge_interrupt_reaches_its_owner_only(config: &str) {
    let dist = build_config(config, &[]);
    require_qemu();
    let press = b"\x1dcsystem_powerdown\n\x1dc";
    // The second press once the first edge was seen and the line is low
    // again (the button's pulse lasts 100 ms; the guest waits 300 ms).
    let presses = [
        Typing {
            after: "[buttons] gpio: armed",
            input: press,
        },
        Typing {
            after: "[buttons] gpio: edge 1, ready",
            input: press,
        },
    ];
    let out = run_scripted(&dist, BOOT_TIMEOUT, &presses, |_| false).unwrap();
    let transcript = out.transcript();
    assert!(!out.timed_out, "{transcript}");
    let buttons = cell_lines(&out.console, "buttons");
    assert!(
        buttons.contains(&"gpio: 2 rising edges on pin 3, 0 other interrupts"),
        "{transcript}"
    );
    // One exit per delivered device interrupt, none on EOI.
    let (numbers, line) = numbers_after(&buttons, "gpio: exits: ", &transcript);
    let [irq_exits, wfi_exits, delivered] = numbers[..] else {
        panic!("unexpected `{line}`");
    };
    assert_eq!(delivered, 2, "{line}");
    assert!(irq_exits + wfi_exits <= delivered, "{line}");
    // The hostile cell read nothing of the GPIO's interrupt and received
    // nothing.
    let hostile = cell_lines(&out.console, "hostile");
    assert!(
        hostile.contains(&"hostile: intid 39: reads enable 0x0 pending 0x0 priority 0x0"),
        "{transcript}"
    );
    assert!(
        hostile.contains(&"hostile: received 0 interrupts"),
        "{transcript}"
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn virtio_mmio_device_and_its_interrupt_work_in_a_cell_gicv3() {
    virtio_mmio_device_and_its_interrupt_work_in_a_cell("tests/configs/qemu/entropy.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn virtio_mmio_device_and_its_interrupt_work_in_a_cell_gicv2() {
    virtio_mmio_device_and_its_interrupt_work_in_a_cell("tests/configs/qemu/entropy-gicv2.toml");
}

/// A virtio-rng device on a passthrough virtio-mmio transport: three
/// requests, each completed with the transport's interrupt (INTID 79); the
/// ticker beside it stays exact.
fn virtio_mmio_device_and_its_interrupt_work_in_a_cell(config: &str) {
    let (out, transcript) = run_until_power_off(config);
    let entropy = cell_lines(&out.console, "entropy");
    for line in [
        "entropy: virtio-rng at 0x0a003e00 (version 1, device 4)",
        "entropy: request 1: 16 bytes, interrupt",
        "entropy: request 2: 16 bytes, interrupt",
        "entropy: request 3: 16 bytes, interrupt",
        "entropy: 3 requests, 3 interrupts, 0 other",
    ] {
        assert!(entropy.contains(&line), "missing `{line}`\n{transcript}");
    }
    assert_ticks_at_1khz(&out.console, "ticker", &transcript);
}

#[test]
#[ignore = "needs QEMU and the Linux guest; run by `cargo xtask test`"]
fn linux_cell_boots_reboots_and_powers_off_beside_a_bare_metal_cell_gicv3() {
    linux_cell_boots_reboots_and_powers_off_beside_a_bare_metal_cell(
        "tests/configs/qemu/linux.toml",
        "GICv3",
    );
}

#[test]
#[ignore = "needs QEMU and the Linux guest; run by `cargo xtask test`"]
fn linux_cell_boots_reboots_and_powers_off_beside_a_bare_metal_cell_gicv2() {
    linux_cell_boots_reboots_and_powers_off_beside_a_bare_metal_cell(
        "tests/configs/qemu/linux-gicv2.toml",
        "GIC-0",
    );
}

/// Debian's arm64 Linux in a 2-core, 256 MiB cell that owns the PL031, beside
/// a bare-metal heartbeat cell: Linux sees exactly its cores, memory and
/// devices; its shell reads the console; `reboot` restarts only its cell
/// from the pristine image (same init output again), `poweroff` stops only
/// its cell; the heartbeat never misses a beat.
fn linux_cell_boots_reboots_and_powers_off_beside_a_bare_metal_cell(config: &str, gic: &str) {
    xtask::linux::prepare().expect("the Linux guest (tests/linux/fetch-arm64.sh)");
    let dist = build_config(config, &[]);
    require_qemu();
    let shell = "[linux] linux-init: shell on the console";
    let script = [
        Typing {
            after: shell,
            input: b"echo shell-$((6*7))\n",
        },
        Typing {
            after: "shell-42",
            input: b"reboot\n",
        },
        Typing {
            after: shell,
            input: b"poweroff\n",
        },
    ];
    let powered_off = "bulkhead: cell linux powered off (PSCI SYSTEM_OFF)";
    let out = run_scripted(&dist, Duration::from_secs(600), &script, |text| {
        text.find(powered_off)
            .is_some_and(|at| line_count(&text[at..], "[rt] heartbeat: ") >= 3)
    })
    .unwrap();
    let transcript = out.transcript();
    let console = &out.console;
    assert!(!out.timed_out, "{transcript}");
    let linux = cell_lines(console, "linux");
    // Two boots, each seeing exactly the cell: 2 CPUs, 256 MiB (the
    // kernel's own count; MemTotal is that minus what the kernel keeps),
    // the virtual console, the timer and its RTC, nothing else.
    let expected = [
        "linux-init: cpus=2".to_string(),
        format!(
            "linux-init: interrupts: {gic} 27 Level arch_timer | {gic} 33 Level uart-pl011 | {gic} 34 Level rtc-pl031"
        ),
        "linux-init: devices: apb-pclk chosen cpus intc@8000000 memory@40000000 pl011@9000000 pl031@9010000 psci timer".to_string(),
        "linux-init: compatible: linux,dummy-virt".to_string(),
        "linux-init: ready".to_string(),
    ];
    for line in &expected {
        let count = linux
            .iter()
            .filter(|l| l.starts_with(line.as_str()))
            .count();
        assert_eq!(
            count, 2,
            "`{line}` should appear once per boot\n{transcript}"
        );
    }
    let kernel_total = linux
        .iter()
        .filter(|l| l.contains("] Memory: ") && l.contains("K/262144K available"))
        .count();
    assert_eq!(kernel_total, 2, "kernel memory line\n{transcript}");
    for memtotal in linux
        .iter()
        .filter_map(|l| l.strip_prefix("linux-init: cpus=2 memtotal="))
    {
        let kib: u64 = memtotal.parse().unwrap();
        assert!(
            (200_000..=262_144).contains(&kib),
            "MemTotal {kib} kB\n{transcript}"
        );
    }
    // The shell read the console; reboot restarted the cell, poweroff
    // stopped only it.
    assert!(linux.contains(&"shell-42"), "{transcript}");
    let reboot = console
        .find("bulkhead: cell linux restarting (PSCI SYSTEM_RESET)")
        .unwrap_or_else(|| panic!("no restart\n{transcript}"));
    let off = console.find(powered_off).unwrap();
    assert!(reboot < off, "{transcript}");
    assert!(!console.contains("bulkhead: every cell has stopped"));
    assert!(!console.contains("bulkhead: fault"), "{transcript}");
    // The heartbeat kept going throughout, without a gap: before the
    // reboot, between reboot and poweroff, after poweroff.
    let beats: Vec<u64> = cell_lines(console, "rt")
        .iter()
        .filter_map(|l| l.strip_prefix("heartbeat: "))
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        beats.windows(2).all(|w| w[1] == w[0] + 1),
        "heartbeat skipped: {beats:?}"
    );
    for (from, to) in [(0, reboot), (reboot, off), (off, console.len())] {
        assert!(
            has_line(&console[from..to], "[rt] heartbeat: "),
            "no heartbeat in {from}..{to}\n{transcript}"
        );
    }
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn bench_quick_mode_gives_identical_instruction_counts_twice() {
    require_qemu();
    let options = xtask::bench::Options { quick: true };
    let first = xtask::bench::run(&options).unwrap();
    let second = xtask::bench::run(&options).unwrap();
    let table = first.table();
    // Every instruction count, counter and size is the same on both runs.
    assert_eq!(first.deterministic(), second.deterministic(), "{table}");
    // The figures mean something: a trapped call or MMIO read costs the
    // cell more than the bare run; the guest's own compute does not.
    let cell = |figure: &str| first.get(figure, "gicv3 cell").unwrap_or(f64::NAN);
    let bare = |figure: &str| first.get(figure, "gicv3 bare").unwrap_or(f64::NAN);
    for figure in ["null call (HVC) round trip", "trapped MMIO read (UART FR)"] {
        assert!(cell(figure) > bare(figure), "{figure}\n{table}");
    }
    // The same within one counter tick (the figure's resolution: where a
    // tick boundary falls depends on the code before the loop).
    assert!(
        (cell("compute workload") - bare("compute workload")).abs()
            <= xtask::bench::INSTRUCTIONS_PER_TICK,
        "{table}"
    );
    assert!(cell("first guest instruction after reset") > 0.0, "{table}");
    assert!(cell("exits per timer interrupt") <= 1.0, "{table}");
}
