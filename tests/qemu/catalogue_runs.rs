//! The intruder catalogue on QEMU `virt`, GICv3 and GICv2: four runs of
//! the catalogue guest (tests/guests/catalogue), each beside a victim
//! (canary) and a witness (1 kHz ticks), checked by the rules of
//! tests/support/catalogue.rs.

use super::catalogue::{
    Invariants, Where, assert_contained, assert_invariants, has_report, numbers, required,
};
use super::*;

use std::sync::OnceLock;

/// Attempt ids as `(number, variants)`: `(7, 10)` is 7.1..=7.10.
type Owed = &'static [(u8, usize)];

fn ids(owed: Owed) -> Vec<String> {
    owed.iter()
        .flat_map(|&(n, count)| (1..=count).map(move |k| format!("{n}.{k}")))
        .collect()
}

/// The containment run (boot-arg 1), both GIC versions.
const CONTAIN: Owed = &[
    (1, 6),
    (2, 4),
    (3, 4),
    (4, 4),
    (5, 2),
    (6, 5),
    (7, 10),
    (9, 3),
    (11, 1),
    (33, 8),
    (34, 5),
    (35, 4),
    (36, 3),
    (39, 7),
    (12, 4),
    (13, 5),
    (14, 1),
    (15, 1),
    (16, 1),
    (17, 2),
    (21, 2),
    (22, 2),
    (25, 1),
    (27, 1),
    (29, 1),
    (30, 1),
    (46, 1),
    (8, 3),
    (40, 9),
    (41, 1),
    (43, 3),
    (44, 4),
    (45, 7),
    (42, 11),
    (47, 19),
    (48, 6),
    (49, 1),
    (50, 2),
];
/// GICv3 only: SGIs by affinity, RS and Aff3; ICC_SGI0R/ASGI1R.
const CONTAIN_V3: Owed = &[(23, 4), (24, 3)];
/// GICv2: SGIR's target list and filter; only the control of 24.
const CONTAIN_V2: Owed = &[(23, 2)];
const CONTAIN_V2_24: &str = "24.3";
/// The availability run (boot-arg 2).
const DOS: Owed = &[(59, 1), (47, 1), (60, 1), (61, 1), (63, 1), (64, 1)];
/// The life-cycle run (boot-arg 3); 37.2 prints only if the reset won.
const LIFECYCLE: Owed = &[(28, 1), (62, 1), (38, 1), (37, 1)];
/// The trigger-register run (boot-arg 4).
const ICFGR: Owed = &[(26, 1)];

/// Runs `config` until the intruder says it is done and the witness
/// finished one more window (or `until` holds instead). Also returns the
/// folder QEMU ran in.
fn catalogue_run(config: &str, until: impl Fn(&str) -> bool) -> (RunOutput, String) {
    let dist = build_config(config, &[]);
    require_qemu();
    // F3: what a semihosting call from a guest would create.
    let _ = std::fs::remove_file(dist.dir.join(F3_ESCAPE));
    let out = run_captured(&dist, Duration::from_secs(600), |text| {
        until(text)
            || text.find("[intruder] catalogue: done").is_some_and(|at| {
                has_line(&text[at..], "[witness] ticker: window ")
                    || has_line(&text[at..], "[alarm] alarm: ")
            })
    })
    .unwrap_or_else(|e| panic!("run QEMU: {e:#}"));
    let transcript = out.transcript();
    assert!(!out.timed_out, "{transcript}");
    (out, transcript)
}

/// The file the catalogue guest's semihosting call would open (F3).
const F3_ESCAPE: &str = "bulkhead-f3-escape";

/// One containment run per GIC version, shared by the tests that read it.
fn contain_run(v3: bool) -> &'static (RunOutput, String) {
    static V3: OnceLock<(RunOutput, String)> = OnceLock::new();
    static V2: OnceLock<(RunOutput, String)> = OnceLock::new();
    let (cell, config) = if v3 {
        (&V3, "tests/configs/qemu/catalogue-contain.toml")
    } else {
        (&V2, "tests/configs/qemu/catalogue-contain-gicv2.toml")
    };
    cell.get_or_init(|| catalogue_run(config, |_| false))
}

/// F3: the guest's semihosting call is an Undefined Instruction in its own
/// cell, and QEMU's folder holds no file it could have opened.
fn semihosting(v3: bool) {
    let (out, transcript) = contain_run(v3);
    assert!(
        has_line(
            &out.console,
            "[intruder] catalogue: f3 semihosting sys_open: undefined instruction"
        ),
        "{transcript}"
    );
    let config = if v3 {
        "catalogue-contain"
    } else {
        "catalogue-contain-gicv2"
    };
    let dir = xtask::paths::workspace().join("target/dist").join(config);
    assert!(!dir.join(F3_ESCAPE).exists(), "a guest created a host file");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn f3_a_guest_semihosting_call_is_undefined_and_opens_no_host_file_gicv3() {
    semihosting(true);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn f3_a_guest_semihosting_call_is_undefined_and_opens_no_host_file_gicv2() {
    semihosting(false);
}

fn contain(v3: bool) {
    let (out, transcript) = contain_run(v3);
    let console = &out.console;
    let mut owed = ids(CONTAIN);
    if v3 {
        owed.extend(ids(CONTAIN_V3));
    } else {
        owed.extend(ids(CONTAIN_V2));
        owed.push(CONTAIN_V2_24.to_string());
    }
    let owed: Vec<&str> = owed.iter().map(String::as_str).collect();
    assert_contained(console, "intruder", &owed, transcript);
    // The hypervisor's side of some of them.
    let fault = "bulkhead: fault: cell intruder vcpu 0 (cpu 2) pc ";
    for end in [
        ": read 0x41000000: stage-2 translation fault (not the cell's memory) -> inject external abort",
        ": write 0x50000000: stage-2 permission fault -> inject external abort",
        ": execute 0x50100000: stage-2 permission fault -> inject external abort",
        ": read 0x8000000: device access that cannot be emulated -> inject external abort",
        ": read 0x9000000: device access without a valid syndrome (pair/writeback load or store) -> inject external abort",
    ] {
        assert!(has_report(console, fault, end), "no `{end}`:\n{transcript}");
    }
    for line in [
        "bulkhead: cell intruder vcpu 0: target MPIDR 0x40000001 is not in the cell -> -2",
        "bulkhead: cell intruder vcpu 0: entry point GPA:0x9030000 is outside the cell -> -9",
        "bulkhead: cell intruder vcpu 0: unsupported function 0xc4000001 -> -1",
        "bulkhead: cell intruder powered off (PSCI SYSTEM_OFF)",
    ] {
        assert!(has_line(console, line), "no `{line}`:\n{transcript}");
    }
    // 49: the forged report stays in the intruder's line, escaped.
    assert!(
        !has_line(console, "bulkhead: fault: cell victim"),
        "a forged report:\n{transcript}"
    );
    assert!(
        has_line(
            console,
            "[intruder] \\x1b[2K\\x1b[1Gbulkhead: fault: cell victim vcpu 0 (cpu 0) pc 0x0: forged -> halt \\x1b[6n \\xc2\\x9b2J"
        ),
        "{transcript}"
    );
    // 14: the console stayed readable after the intruder disabled "its"
    // UART: every later attempt line was seen (above) and so was this.
    assert!(
        has_line(console, "[intruder] catalogue: done"),
        "{transcript}"
    );
    assert_invariants(
        console,
        Invariants {
            victim: Some("victim"),
            witness: Some("witness"),
            may_power_off: false,
        },
        transcript,
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_containment_gicv3() {
    contain(true);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_containment_gicv2() {
    contain(false);
}

/// Reports about the intruder on the console (the budget counts them).
fn intruder_reports(console: &str) -> usize {
    line_count(console, "bulkhead: fault: cell intruder ")
        + line_count(console, "bulkhead: cell intruder vcpu ")
}

fn dos(config: &str) {
    let (out, transcript) = catalogue_run(config, |_| false);
    let console = &out.console;
    let owed = ids(DOS);
    let owed: Vec<&str> = owed.iter().map(String::as_str).collect();
    assert_contained(console, "intruder", &owed, &transcript);
    // 59: 256 reports, one notice, then the log only.
    assert_eq!(intruder_reports(console), 256, "{transcript}");
    assert_eq!(
        line_count(
            console,
            "bulkhead: cell intruder keeps misbehaving; its further reports go to the hypervisor log only"
        ),
        1,
        "{transcript}"
    );
    // 64: the spinning vCPU 1 was stopped when the cell powered off (the
    // lines are over budget: the log has them).
    for record in [
        "cell intruder vcpu 1 (cpu 3) stopped",
        "cell intruder powered off (PSCI SYSTEM_OFF)",
    ] {
        assert!(
            out.log.iter().any(|l| l.contains(record)),
            "no `{record}` in the log:\n{transcript}"
        );
    }
    assert_invariants(
        console,
        Invariants {
            victim: Some("victim"),
            witness: Some("witness"),
            may_power_off: false,
        },
        &transcript,
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_availability_gicv3() {
    dos("tests/configs/qemu/catalogue-dos.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_availability_gicv2() {
    dos("tests/configs/qemu/catalogue-dos-gicv2.toml");
}

const RACE: &str = "[intruder] catalogue: racing system_off and system_reset";

/// One life-cycle run per GIC version, shared by the tests that read it.
fn lifecycle_run(v3: bool) -> &'static (RunOutput, String) {
    static V3: OnceLock<(RunOutput, String)> = OnceLock::new();
    static V2: OnceLock<(RunOutput, String)> = OnceLock::new();
    let (cell, config) = if v3 {
        (&V3, "tests/configs/qemu/catalogue-lifecycle.toml")
    } else {
        (&V2, "tests/configs/qemu/catalogue-lifecycle-gicv2.toml")
    };
    // Done, or, if SYSTEM_OFF won the race, three witness windows later.
    cell.get_or_init(|| {
        catalogue_run(config, |text| {
            text.find(RACE)
                .is_some_and(|at| line_count(&text[at..], "[witness] ticker: window ") >= 3)
        })
    })
}

/// F13: a cell reset while its vCPU was inside an interrupt handler
/// (acknowledged, never ended) takes that interrupt again after the reset:
/// the virtual interface's active priorities were cleared.
fn reset_in_handler(v3: bool) {
    let (out, transcript) = lifecycle_run(v3);
    assert_contained(&out.console, "intruder", &["28.1"], transcript);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn f13_a_cell_reset_inside_its_timer_handler_gets_timer_interrupts_again_gicv3() {
    reset_in_handler(true);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn f13_a_cell_reset_inside_its_timer_handler_gets_timer_interrupts_again_gicv2() {
    reset_in_handler(false);
}

fn lifecycle(v3: bool) {
    let (out, transcript) = lifecycle_run(v3);
    let console = &out.console;
    let owed = ids(LIFECYCLE);
    let owed: Vec<&str> = owed.iter().map(String::as_str).collect();
    let seen = assert_contained(console, "intruder", &owed, transcript);
    // 37.2: either the reset won (the restarted cell says so and ends),
    // or SYSTEM_OFF did: then the cell stopped for good and nothing of it
    // ran after the race.
    let at = console.find(RACE).expect("the race was run");
    if seen.iter().any(|a| a.id == "37.2") {
        assert!(
            has_line(&console[at..], "[intruder] catalogue: done"),
            "{transcript}"
        );
    } else {
        assert!(
            !has_line(&console[at + RACE.len()..], "[intruder] "),
            "{transcript}"
        );
        assert!(
            out.log
                .iter()
                .any(|l| l.contains("cell intruder powered off")),
            "{transcript}"
        );
    }
    // Every restart announced once (the two of 37.1 make one); a reset
    // that lost the race to SYSTEM_OFF was announced but started nothing.
    let restarts = line_count(
        console,
        "bulkhead: cell intruder restarting (PSCI SYSTEM_RESET)",
    );
    let boots = line_count(console, "[intruder] catalogue: lifecycle step ");
    let reset_won = seen.iter().any(|a| a.id == "37.2");
    assert!(
        restarts + 1 == boots || (!reset_won && restarts == boots),
        "{restarts} restarts, {boots} boots:\n{transcript}"
    );
    assert_invariants(
        console,
        Invariants {
            victim: Some("victim"),
            witness: Some("witness"),
            may_power_off: false,
        },
        transcript,
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_life_cycle_gicv3() {
    lifecycle(true);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_life_cycle_gicv2() {
    lifecycle(false);
}

fn icfgr(config: &str) {
    let (out, transcript) = catalogue_run(config, |_| false);
    let console = &out.console;
    assert_contained(console, "intruder", &["26.1"], &transcript);
    // The alarm cell, whose SPI 34 shares the ICFGR word, got every alarm.
    assert!(
        has_line(console, "[alarm] alarm: 3 rtc interrupts, "),
        "{transcript}"
    );
    assert!(
        has_line(console, "[alarm] alarm: 3 device interrupts delivered"),
        "{transcript}"
    );
    assert_invariants(
        console,
        Invariants {
            victim: None,
            witness: Some("witness"),
            may_power_off: false,
        },
        &transcript,
    );
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_shared_trigger_register_gicv3() {
    icfgr("tests/configs/qemu/catalogue-icfgr.toml");
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn catalogue_shared_trigger_register_gicv2() {
    icfgr("tests/configs/qemu/catalogue-icfgr-gicv2.toml");
}

/// Every catalogue number that runs on AArch64 is owed by these runs, on
/// both GIC versions.
#[test]
fn the_aarch64_runs_cover_the_aarch64_catalogue() {
    let runs = |extra: Owed| {
        let mut all: Vec<String> = [CONTAIN, DOS, LIFECYCLE, ICFGR, extra]
            .iter()
            .flat_map(|owed| ids(owed))
            .collect();
        all.push(CONTAIN_V2_24.to_string());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        numbers(&all)
    };
    let wanted = required(Where::Aarch64);
    // The counts the closing notes and docs/security.md quote.
    for (name, owed) in [
        ("contain (GICv3)", [CONTAIN, CONTAIN_V3]),
        ("contain (GICv2)", [CONTAIN, CONTAIN_V2]),
        ("dos", [DOS, &[]]),
        ("lifecycle", [LIFECYCLE, &[]]),
        ("icfgr", [ICFGR, &[]]),
    ] {
        let mut lines: Vec<String> = owed.iter().flat_map(|o| ids(o)).collect();
        if name == "contain (GICv2)" {
            lines.push(CONTAIN_V2_24.to_string());
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        eprintln!(
            "aarch64 group {name}: {} catalogue attempts, {} attempt lines",
            numbers(&lines).len(),
            lines.len()
        );
    }
    eprintln!("aarch64: {} catalogue attempts in all", wanted.len());
    assert_eq!(runs(CONTAIN_V3), wanted);
    assert_eq!(runs(CONTAIN_V2), wanted);
}
