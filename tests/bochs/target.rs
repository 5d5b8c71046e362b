//! Target tests for x86_64: build real images (hypervisor ELF in a GRUB
//! ISO) and boot them under Bochs (VT-x with EPT, `corei7_skylake_x`).
//!
//! Run by `cargo xtask test` as `cargo test -p xtask --test bochs`; a plain
//! `cargo test` leaves this target out (`test = false` in
//! xtask/Cargo.toml). Bochs missing is a failure, never a skip. Timeouts are
//! generous: Bochs emulates every instruction, machines are shared and
//! noisy, and nothing here measures time.
//!
//! The expected lines are the contract of docs/x86.md and the x86 guests
//! (tests/guests/x86-*); they are constants below so they change in one
//! place.

#[path = "../support/catalogue.rs"]
mod catalogue;
mod catalogue_x86;
mod fuzz_runs;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use xtask::bochs::{Ending, RunFiles, RunOutput, available, run_captured};
use xtask::dist::{BuildOptions, Dist, build};

// --- the contract ----------------------------------------------------------

/// The hypervisor's banner line starts with this.
const BANNER: &str = "Bulkhead";
/// `[<cell>] ` then this, then ` <vcpu> of <count>`: the first line each
/// vCPU of an x86-hello cell prints.
const HELLO: &str = "hello from vcpu";
/// A secondary vCPU's line: `[<cell>] hello from vcpu <i> (cell <id>)`.
fn hello_secondary(cell: &str, vcpu: usize, cell_id: usize) -> String {
    format!("[{cell}] {HELLO} {vcpu} (cell {cell_id})")
}
/// vCPU 0's line: `[<cell>] hello from vcpu 0 of <count>`.
fn hello_first(cell: &str, vcpus: usize) -> String {
    format!("[{cell}] {HELLO} 0 of {vcpus}")
}
/// The hypervisor's line when a cell powers itself off.
fn powered_off(cell: &str) -> String {
    format!("bulkhead: cell {cell} powered off (PSCI SYSTEM_OFF)")
}
/// What hello-a (which owns Bochs' debug console, `boot-arg = 0xe9`) writes
/// straight to port 0xe9: it reaches Bochs' standard output, not COM1.
const DEBUGCON_HELLO: &str = "passthrough: hello from cell 0 on port 0xe9";
/// The hypervisor's last line before it powers the machine off.
const ALL_STOPPED: &str = "bulkhead: every cell has stopped; powering off";

/// The intruder reads a port it does not own: all ones.
const INTRUDER_PORT_READ: &str = "[intruder] intruder: port 0x70 read -> 0xff";
/// The intruder reads an MSR outside the allow-list: #GP(0) injected.
const INTRUDER_MSR_READ: &str = "[intruder] intruder: rdmsr 0x3a -> #GP";
/// What each hypervisor report about the intruder contains (every part).
const REPORT_CELL: &str = "cell intruder";
const REPORT_PORT: &[&str] = &[REPORT_CELL, "port 0x70"];
const REPORT_MSR: &[&str] = &[REPORT_CELL, "MSR 0x3a"];
const REPORT_IPI: &[&str] = &[REPORT_CELL, "IPI", "APIC id 0"];
const REPORT_EPT: &[&str] = &[REPORT_CELL, "EPT violation (not the cell's memory) -> halt"];
/// The intruder's own IPI (shorthand self) is allowed and arrives.
const INTRUDER_SELF_IPI: &str = "[intruder] intruder: self IPI delivered 1 times";
/// Printed only if the write outside its memory did not stop the intruder.
const INTRUDER_NOT_CONTAINED: &str = "STILL RUNNING";
/// The INIT IPI to the victim's CPU is refused too.
const REPORT_INIT: &[&str] = &[REPORT_CELL, "INIT IPI", "dropped"];
/// The victim's closing line: its canary survived, no stray interrupts.
const VICTIM_CANARY: &[&str] = &["[victim] victim: canary intact", "0 foreign interrupts"];
/// PSCI CPU_ON of a vCPU the intruder's cell does not have: refused and
/// reported, INVALID_PARAMETERS (-2) returned.
const REPORT_CPU_ON: &[&str] =
    &["bulkhead: cell intruder vcpu 0: target MPIDR 0x7 is not in the cell -> -2"];
const INTRUDER_CPU_ON: &str = "[intruder] intruder: CPU_ON vcpu 7 -> INVALID_PARAMETERS";
/// A VMCALL with a function id nobody defines: reported, NOT_SUPPORTED (-1).
const REPORT_UNKNOWN_CALL: &[&str] =
    &["bulkhead: cell intruder vcpu 0: unknown function id 0xc60000ff -> -1"];
const INTRUDER_UNKNOWN_CALL: &str = "[intruder] intruder: VMCALL 0xc60000ff -> -1";

/// x86-faults in cell `faults` (fault policy restart): `[faults] faults:
/// boot <n>` on each run, from 1.
fn faults_boot(n: u32) -> String {
    format!("[faults] faults: boot {n}")
}
/// Run 1 ends with PSCI SYSTEM_RESET.
const FAULTS_RESET: &str = "bulkhead: cell faults restarting (PSCI SYSTEM_RESET)";
/// Run 2 ends with a triple fault (the rip between the parts varies).
const FAULTS_TRIPLE: &[&str] = &[
    "bulkhead: fault: cell faults vcpu 0 (cpu 0) rip 0x",
    ": triple fault -> restart",
];
/// Run 3 ends with a write outside its 4 MiB of RAM.
const FAULTS_EPT: &[&str] = &[
    "bulkhead: fault: cell faults vcpu 0 (cpu 0) rip 0x",
    ": write 0x800000: EPT violation (not the cell's memory) -> restart",
];
/// Run 4's last words before SYSTEM_OFF.
const FAULTS_DONE: &str = "[faults] faults: all restarts seen";
/// x86-faults in cell `inject` (fault policy inject, boot-arg 1): its read
/// outside its RAM gets #GP(0), which it survives.
const INJECT_EPT: &[&str] = &[
    "bulkhead: fault: cell inject vcpu 0 (cpu 1) rip 0x",
    ": read 0x900000: EPT violation (not the cell's memory) -> inject #GP",
];
const INJECT_GP: &str = "[inject] faults: read of gpa 0x900000 -> #GP(0x0)";
const INJECT_ALIVE: &str = "[inject] faults: #GP after the EPT violation, still running";

/// x86-echo in cell `echo`: ready for input (it polls its virtual COM1).
const ECHO_READY: &str = "[echo] echo: ready";
/// x86-echo's answer to a line: `[echo] echo: <line>`.
fn echo_of(line: &str) -> String {
    format!("[echo] echo: {line}")
}
/// x86-echo's last words after the line `off`, before SYSTEM_OFF.
const ECHO_BYE: &str = "[echo] echo: bye";
/// Ctrl-A three times: console input moves to the next target.
const SWITCH_INPUT: &[u8] = b"\x01\x01\x01";
/// The hypervisor's line when input moves to it.
const INPUT_TO_HYPERVISOR: &str = "bulkhead: console input now goes to the hypervisor";
/// The hypervisor's line when input moves to cell `cell`.
fn input_to_cell(cell: &str) -> String {
    format!("bulkhead: console input now goes to cell {cell}")
}
/// The hypervisor's console command that prints every cell's counters.
const COMMAND_COUNTERS: &[u8] = b"c";
/// How each cell's counters line starts (then `<n>: <kind> <n>, ...`).
fn counters_prefix(cell: &str) -> String {
    format!("bulkhead: counters of cell {cell}: exits ")
}

// --- the harness -----------------------------------------------------------

/// From reset to the last line: BIOS and GRUB take seconds, every
/// emulated instruction costs host time.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// Builds share `target/`: one at a time.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a boot produced.
struct Output {
    /// COM1: the hypervisor's console, with the cells' `[name]` lines.
    serial: String,
    /// Bochs' standard output: port 0xe9 bytes among its debugger's lines.
    bochs_stdout: String,
    /// How Bochs stopped.
    ending: Ending,
    /// Everything, for assertion messages.
    transcript: String,
}

fn require_bochs() {
    assert!(
        available(),
        "Bochs is not installed: `cargo xtask test` installs it as root, or run \
         `apt-get install bochs bochsbios vgabios grub-pc-bin grub-common xorriso mtools`"
    );
}

/// Builds `config` (a path relative to the workspace) with `cargo xtask
/// build` and boots it under Bochs until `until` appears on COM1, Bochs
/// exits by itself (the machine powered off: pass a string that never
/// appears to wait for that) or `timeout` passes (then Bochs is killed).
fn boot(config: &str, timeout: Duration, until: &str) -> Output {
    boot_with(config, &[], timeout, until)
}

/// [`boot`] with extra (test-only) hypervisor features.
fn boot_with(config: &str, features: &[&str], timeout: Duration, until: &str) -> Output {
    let until = until.to_string();
    boot_until(config, features, timeout, move |serial| {
        serial.contains(&until)
    })
}

/// [`boot_with`] that stops Bochs once `done` holds for COM1's text.
fn boot_until(
    config: &str,
    features: &[&str],
    timeout: Duration,
    done: impl Fn(&str) -> bool + Send + 'static,
) -> Output {
    require_bochs();
    let dist = build_config(config, features);
    let out: RunOutput = run_captured(&dist, timeout, done)
        .unwrap_or_else(|e| panic!("run Bochs for {config}: {e:#}"));
    Output {
        transcript: out.transcript(),
        serial: out.serial,
        bochs_stdout: out.bochs_stdout,
        ending: out.ending,
    }
}

/// Builds `config` (a path relative to the workspace) with `cargo xtask
/// build`, one build at a time.
fn build_config(config: &str, features: &[&str]) -> Dist {
    let _guard = lock();
    build(
        &xtask::paths::workspace().join(config),
        &BuildOptions {
            features: features.iter().map(|f| f.to_string()).collect(),
        },
    )
    .unwrap_or_else(|e| panic!("build {config}: {e:#}"))
}

/// The counters line the hypervisor prints for `cell` before powering off
/// (`exits N: kind n, ...`).
fn counters_of(out: &Output, cell: &str) -> String {
    let prefix = format!("bulkhead: counters of cell {cell}: ");
    out.serial
        .lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line:\n{}", out.transcript))
        .to_string()
}

/// The count of `kind` in a counters line (0 when it is not listed).
fn counter_value(line: &str, kind: &str) -> u64 {
    line.split([':', ','])
        .filter_map(|part| part.trim().strip_prefix(kind)?.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

/// Waits for the machine to power off by itself.
const NEVER: &str = "\u{0}never";

/// The first line of `text` that contains every one of `parts` and starts
/// with `bulkhead: ` (a hypervisor report, `hypervisor = true`) or with
/// `parts[0]` (a cell's tagged line): a guest can print any text inside
/// its own lines, never at the start of one (security review finding F8).
fn line_with<'a>(text: &'a str, parts: &[&str], hypervisor: bool) -> Option<&'a str> {
    text.lines().find(|line| {
        let line = line.trim_start_matches('\r').trim_end_matches('\r');
        let start = if hypervisor {
            "bulkhead: "
        } else {
            parts.first().copied().unwrap_or_default()
        };
        line.starts_with(start) && parts.iter().all(|p| line.contains(p))
    })
}

/// Byte offset of the first line of the serial output that starts with
/// `needle`, or a failure with the transcript.
fn position(out: &Output, needle: &str) -> usize {
    let mut at = 0;
    for line in out.serial.split_inclusive('\n') {
        if line.trim_start_matches('\r').starts_with(needle) {
            return at;
        }
        at += line.len();
    }
    panic!("missing `{needle}`:\n{}", out.transcript)
}

/// The hypervisor's line with every one of `parts`, or a failure with the
/// transcript.
fn report<'a>(out: &'a Output, parts: &[&str]) -> &'a str {
    line_with(&out.serial, parts, true)
        .unwrap_or_else(|| panic!("no hypervisor report with {parts:?}:\n{}", out.transcript))
}

/// Asserts that `needles` appear on COM1 in this order (each one searched
/// after the end of the one before).
fn assert_in_order(out: &Output, needles: &[&str]) {
    let mut from = 0;
    for (i, needle) in needles.iter().enumerate() {
        match out.serial[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!(
                "`{needle}` missing{}:\n{}",
                if i == 0 {
                    String::new()
                } else {
                    format!(" after `{}`", needles[i - 1])
                },
                out.transcript
            ),
        }
    }
}

fn assert_powered_off(out: &Output) {
    assert_eq!(
        out.ending,
        Ending::PoweredOff,
        "Bochs did not stop through the power-off port:\n{}",
        out.transcript
    );
    let all = position(out, ALL_STOPPED);
    assert!(
        out.serial[all..].lines().count() <= 2,
        "output after `{ALL_STOPPED}`:\n{}",
        out.transcript
    );
}

fn assert_banner(out: &Output) {
    assert!(
        out.serial
            .lines()
            .any(|l| l.trim_start_matches('\r').starts_with(BANNER)),
        "no line starts with `{BANNER}`:\n{}",
        out.transcript
    );
}

// --- the tests -------------------------------------------------------------

/// configs/bochs-demo.toml: two one-core cells on the two CPUs of the Bochs
/// PC. Banner, each cell's tagged hello, each cell powering itself off, and
/// the machine powering off when the last one has.
#[test]
fn two_cells_on_two_cores_print_tagged_banners() {
    let out = boot("configs/bochs-demo.toml", BOOT_TIMEOUT, NEVER);
    assert_banner(&out);
    for cell in ["hello-a", "hello-b"] {
        let hello = position(&out, &hello_first(cell, 1));
        let off = position(&out, &powered_off(cell));
        assert!(
            hello < off,
            "`{cell}` powered off before it said hello:\n{}",
            out.transcript
        );
    }
    assert_powered_off(&out);
    // The passed-through port reaches the device without the hypervisor:
    // on Bochs' standard output, once (hello-b owns no such port).
    assert_eq!(
        out.bochs_stdout.matches(DEBUGCON_HELLO).count(),
        1,
        "`{DEBUGCON_HELLO}` on port 0xe9:\n{}",
        out.transcript
    );
    assert!(
        !out.serial.contains(DEBUGCON_HELLO),
        "port 0xe9 output on COM1:\n{}",
        out.transcript
    );
}

/// tests/configs/bochs/demo-4cpu.toml: two two-core cells on a 4-CPU Bochs
/// PC; vCPU 0 of each cell starts vCPU 1 (PSCI CPU_ON through VMCALL), and
/// every vCPU says hello with its cell's id.
#[test]
fn four_cores_two_cells_every_vcpu_says_hello() {
    let out = boot("tests/configs/bochs/demo-4cpu.toml", BOOT_TIMEOUT, NEVER);
    assert_banner(&out);
    for (id, cell) in ["hello-a", "hello-b"].into_iter().enumerate() {
        let first = position(&out, &hello_first(cell, 2));
        let second = position(&out, &hello_secondary(cell, 1, id));
        assert!(
            first < second,
            "`{cell}` vCPU 1 spoke before vCPU 0 started it:\n{}",
            out.transcript
        );
        position(&out, &powered_off(cell));
    }
    assert_powered_off(&out);
}

/// configs/bochs-isolation.toml: the intruder's probes of a foreign port,
/// an MSR, an IPI to the victim's CPU, CPU_ON of a vCPU outside its cell,
/// an undefined VMCALL and memory outside its EPT are each reported by the
/// hypervisor and contained (all ones, #GP, dropped, INVALID_PARAMETERS,
/// NOT_SUPPORTED, the cell halted); the victim's canary survives and it
/// saw no foreign interrupt.
#[test]
fn intruder_is_contained_and_victim_canary_survives() {
    // Both cells end by themselves (the intruder halted by its fault
    // policy, the victim powering off after its checks): the machine
    // powers off.
    let out = boot("configs/bochs-isolation.toml", BOOT_TIMEOUT, NEVER);
    let transcript = &out.transcript;
    assert_banner(&out);
    position(&out, INTRUDER_PORT_READ);
    position(&out, INTRUDER_MSR_READ);
    position(&out, INTRUDER_SELF_IPI);
    for report in [REPORT_PORT, REPORT_MSR, REPORT_IPI, REPORT_INIT, REPORT_EPT] {
        assert!(
            line_with(&out.serial, report, true).is_some(),
            "no hypervisor report with {report:?}:\n{transcript}"
        );
    }
    assert!(
        !out.serial.contains(INTRUDER_NOT_CONTAINED),
        "the intruder ran on after writing outside its memory:\n{transcript}"
    );
    // Refused calls: each reported by the hypervisor before the guest
    // sees its answer, all before the write that ends the cell.
    assert_in_order(
        &out,
        &[
            INTRUDER_SELF_IPI,
            report(&out, REPORT_CPU_ON),
            INTRUDER_CPU_ON,
            report(&out, REPORT_UNKNOWN_CALL),
            INTRUDER_UNKNOWN_CALL,
            report(&out, REPORT_EPT),
        ],
    );
    let victim = line_with(&out.serial, VICTIM_CANARY, false).unwrap_or_else(|| {
        panic!(
            "no `{}` line with `{}`:\n{transcript}",
            VICTIM_CANARY[0], VICTIM_CANARY[1]
        )
    });
    // The canary was checked after the intruder's write, not only before.
    let ept = line_with(&out.serial, REPORT_EPT, true).unwrap_or_default();
    assert!(
        out.serial.find(ept) < out.serial.find(victim),
        "the victim finished before the intruder's write:\n{transcript}"
    );
    // The exit counters the hypervisor prints at the end: the intruder's
    // refused attempts, one each; the victim's 300 LAPIC timer interrupts
    // cost no exits (only its own HLTs between them, at most one per
    // wake-up), and it never hit a refusal or a fault.
    let intruder = counters_of(&out, "intruder");
    for kind in ["io-refused 2", "msr-refused 2", "ipi-refused 2", "fault 1"] {
        assert!(
            intruder.split([':', ',']).any(|part| part.trim() == kind),
            "intruder counters lack `{kind}`: {intruder}\n{transcript}"
        );
    }
    let victim = counters_of(&out, "victim");
    let hlt = counter_value(&victim, "hlt");
    assert!(
        (300..=302).contains(&hlt),
        "victim: {hlt} HLT exits for 300 ticks: {victim}\n{transcript}"
    );
    for kind in [
        "kick",
        "fault",
        "io-refused",
        "msr-refused",
        "ipi-refused",
        "other",
    ] {
        assert_eq!(
            counter_value(&victim, kind),
            0,
            "victim `{kind}`: {victim}\n{transcript}"
        );
    }
    assert_powered_off(&out);
}

/// tests/configs/bochs/faults.toml: x86-faults in cell `faults` (fault
/// policy restart) restarts three times, each time for another cause
/// (PSCI SYSTEM_RESET, a triple fault, an EPT violation), counting its
/// boots in RAM outside its image, and powers off on its fourth boot; in
/// cell `inject` (fault policy inject) its read outside its RAM gets
/// #GP(0), which it survives. Then the machine powers off.
#[test]
fn fault_policies_restart_and_inject_on_x86() {
    let out = boot("tests/configs/bochs/faults.toml", BOOT_TIMEOUT, NEVER);
    let transcript = &out.transcript;
    assert_banner(&out);
    let (boot1, boot2, boot3, boot4) = (
        faults_boot(1),
        faults_boot(2),
        faults_boot(3),
        faults_boot(4),
    );
    let faults_off = powered_off("faults");
    assert_in_order(
        &out,
        &[
            &boot1,
            FAULTS_RESET,
            &boot2,
            report(&out, FAULTS_TRIPLE),
            &boot3,
            report(&out, FAULTS_EPT),
            &boot4,
            FAULTS_DONE,
            &faults_off,
        ],
    );
    // Each run once, no fifth, and nothing ran on past its restart.
    for boot in [&boot1, &boot2, &boot3, &boot4] {
        assert_eq!(
            out.serial.lines().filter(|l| l.trim_end() == boot).count(),
            1,
            "`{boot}`:\n{transcript}"
        );
    }
    for never in [
        faults_boot(5).as_str(),
        "SYSTEM_RESET returned",
        "STILL RUNNING",
        "unexpected boot",
        "x86-rt:",
        "bulkhead: cell faults halted",
    ] {
        assert!(
            !out.serial.contains(never),
            "unexpected `{never}`:\n{transcript}"
        );
    }

    let inject_off = powered_off("inject");
    assert_in_order(
        &out,
        &[
            "[inject] faults: boot 1",
            report(&out, INJECT_EPT),
            INJECT_GP,
            INJECT_ALIVE,
            &inject_off,
        ],
    );
    for never in [
        "isolation broken",
        "bulkhead: cell inject halted",
        "bulkhead: cell inject restarting",
        "[inject] faults: boot 2",
    ] {
        assert!(
            !out.serial.contains(never),
            "unexpected `{never}`:\n{transcript}"
        );
    }
    assert_powered_off(&out);
}

/// tests/configs/bochs/isolation-4cpu.toml: the same intruder with two
/// vCPUs; vCPU 1 spins without a single VM exit. The EPT violation on
/// vCPU 0 halts the cell, and the hypervisor's NMI kick must take vCPU 1
/// out of the guest too (it reports the stop); the victim beside it is
/// untouched and the machine powers off.
#[test]
fn halting_a_cell_stops_its_vcpu_that_never_exits() {
    let out = boot(
        "tests/configs/bochs/isolation-4cpu.toml",
        BOOT_TIMEOUT,
        NEVER,
    );
    let transcript = &out.transcript;
    let spinning = position(&out, "[intruder] intruder: vcpu 1 spinning without exits");
    let ept = line_with(&out.serial, REPORT_EPT, true)
        .unwrap_or_else(|| panic!("no EPT violation report:\n{transcript}"));
    let ept = position(&out, ept);
    let stopped = position(&out, "bulkhead: cell intruder vcpu 1 (cpu 2) stopped");
    assert!(
        spinning < ept && ept < stopped,
        "expected spin, then the fault, then vCPU 1 stopped:\n{transcript}"
    );
    assert!(
        !out.serial.contains(INTRUDER_NOT_CONTAINED),
        "the intruder ran on after writing outside its memory:\n{transcript}"
    );
    assert!(
        line_with(&out.serial, VICTIM_CANARY, false).is_some(),
        "no `{}` line with `{}`:\n{transcript}",
        VICTIM_CANARY[0],
        VICTIM_CANARY[1]
    );
    assert_powered_off(&out);
}

/// tests/configs/bochs/no-ept.toml: a VT-x CPU without EPT (Core 2). The
/// hypervisor refuses to run cells, names the missing feature and powers
/// the machine off; no cell starts.
#[test]
fn a_cpu_without_ept_is_refused_with_the_missing_feature_named() {
    let out = boot("tests/configs/bochs/no-ept.toml", BOOT_TIMEOUT, NEVER);
    assert_banner(&out);
    position(
        &out,
        "bulkhead: this CPU cannot run cells: it lacks EPT (secondary controls bit 1)",
    );
    assert!(
        !out.serial.contains("starting on cpu"),
        "a cell started on a CPU without EPT:\n{}",
        out.transcript
    );
    assert_eq!(
        out.ending,
        Ending::PoweredOff,
        "Bochs did not stop through the power-off port:\n{}",
        out.transcript
    );
}

/// configs/bochs-demo.toml built with the test-only `panic-selftest`
/// feature: after every CPU is up, the boot CPU writes to the hypervisor's
/// own code. Its page tables map code read-execute, so the write faults
/// (#PF, error code 0x3: present, write), the exception is reported with
/// the faulting address, the panic names its location and every other CPU
/// stops; no cell starts.
#[test]
fn hypervisor_code_is_write_protected_and_a_panic_stops_every_cpu() {
    let out = boot_with(
        "configs/bochs-demo.toml",
        &["panic-selftest"],
        BOOT_TIMEOUT,
        "all cores stopped",
    );
    let transcript = &out.transcript;
    let selftest = line_with(
        &out.serial,
        &["panic-selftest: writing to the hypervisor's code at 0x"],
        false,
    )
    .unwrap_or_else(|| panic!("no selftest line:\n{transcript}"));
    let code = selftest
        .trim_end_matches('\r')
        .rsplit(' ')
        .next()
        .unwrap_or_default();
    let fault = line_with(
        &out.serial,
        &[
            "hypervisor exception 14 on cpu 0",
            "error 0x3",
            &format!("cr2 {code}"),
        ],
        false,
    );
    assert!(
        fault.is_some(),
        "no #PF report for the write to {code}:\n{transcript}"
    );
    assert!(
        line_with(
            &out.serial,
            &[
                "PANIC on cpu 0 at src/arch/x86_64/host_exceptions.rs:",
                "unexpected exception 14"
            ],
            false
        )
        .is_some(),
        "no panic line:\n{transcript}"
    );
    position(&out, "all cores stopped (1 others)");
    assert!(
        !out.serial.contains("starting on cpu") && !out.serial.contains("did not fault"),
        "the write did not fault, or cells started:\n{transcript}"
    );
}

// --- console input: COM1 on a socket ---------------------------------------

/// How long Bochs may take to open COM1's socket: it listens while it
/// initialises its devices and then waits for a client before the machine
/// runs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP port on the loopback interface that nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("no free TCP port: {e}"))
}

/// The bochsrc line that makes COM1 a TCP server on `port`.
fn com1_socket(port: u16) -> String {
    format!("com1: enabled=1, mode=socket-server, dev=localhost:{port}")
}

/// Replaces the `com1:` line of the bochsrc that `prepare` wrote (COM1 to
/// a file) with [`com1_socket`].
fn serial_to_socket(files: &RunFiles, port: u16) {
    let path = &files.bochsrc;
    let rc =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut replaced = 0;
    let mut socket_rc = String::new();
    for line in rc.lines() {
        if line.starts_with("com1:") {
            replaced += 1;
            socket_rc.push_str(&com1_socket(port));
        } else {
            socket_rc.push_str(line);
        }
        socket_rc.push('\n');
    }
    assert_eq!(replaced, 1, "expected one `com1:` line in\n{rc}");
    std::fs::write(path, socket_rc).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Where `needle` starts in `haystack`.
fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A Bochs run whose COM1 is a TCP connection: the test types into it,
/// and a thread collects everything Bochs sends. Expectations are met in
/// order: each is searched after the end of the one before. Any failure
/// kills Bochs and carries everything read so far; so does dropping it.
struct Console {
    child: Child,
    stream: TcpStream,
    received: Arc<Mutex<Vec<u8>>>,
    files: RunFiles,
    command: String,
    /// Where the next expectation is searched from.
    from: usize,
    ending: Option<Ending>,
    /// What was typed last, for failure messages.
    typed: Vec<u8>,
}

impl Console {
    /// Writes the run's files, points COM1 at a fresh loopback port,
    /// starts Bochs and connects to it.
    fn start(dist: &Dist) -> Self {
        let files =
            xtask::bochs::prepare(dist).unwrap_or_else(|e| panic!("prepare the Bochs run: {e:#}"));
        let port = free_port();
        serial_to_socket(&files, port);
        let mut command =
            xtask::bochs::command(&files).unwrap_or_else(|e| panic!("Bochs command: {e:#}"));
        let command_line = xtask::tools::describe(&command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start `{command_line}`: {e}"));
        let started = Instant::now();
        let stream = loop {
            match TcpStream::connect(("localhost", port)) {
                Ok(stream) => break stream,
                Err(e) => {
                    let exited = child.try_wait().ok().flatten();
                    if exited.is_some() || started.elapsed() > CONNECT_TIMEOUT {
                        let _ = child.kill();
                        let _ = child.wait();
                        let log = std::fs::read_to_string(&files.log).unwrap_or_default();
                        panic!(
                            "no connection to COM1 at localhost:{port} ({e}; Bochs {}):\n$ {command_line}\n{}",
                            exited.map_or("still running, killed".to_string(), |s| {
                                format!("exited: {s}")
                            }),
                            xtask::bochs::log_problems(&log)
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        let received = Arc::new(Mutex::new(Vec::new()));
        let mut reader = stream
            .try_clone()
            .unwrap_or_else(|e| panic!("clone the COM1 connection: {e}"));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            // Until Bochs closes the connection (it exited or was killed).
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Self {
            child,
            stream,
            received,
            files,
            command: command_line,
            from: 0,
            ending: None,
            typed: Vec::new(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything COM1 sent so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Whether Bochs has exited (and how), recorded once.
    fn poll_exit(&mut self) -> Option<Ending> {
        if self.ending.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            let log = std::fs::read_to_string(&self.files.log).unwrap_or_default();
            self.ending = Some(if xtask::bochs::powered_off(&log) {
                Ending::PoweredOff
            } else {
                Ending::Exited(status)
            });
        }
        self.ending
    }

    fn kill(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.ending = Some(Ending::TimedOut);
        }
    }

    /// Everything, for failure messages.
    fn transcript(&self) -> String {
        let log = std::fs::read_to_string(&self.files.log).unwrap_or_default();
        let stdout = std::fs::read(&self.files.stdout).unwrap_or_default();
        format!(
            "$ {}\n--- COM1 (socket) ---\n{}\n--- Bochs stdout (port 0xe9) ---\n{}\n--- Bochs log problems ---\n{}\n--- ending: {:?} ---",
            self.command,
            self.text(),
            String::from_utf8_lossy(&stdout),
            xtask::bochs::log_problems(&log),
            self.ending
        )
    }

    /// Kills Bochs and fails with `what` and the transcript.
    fn fail(&mut self, what: &str) -> ! {
        self.kill();
        // Let the reader thread take what was in flight.
        std::thread::sleep(Duration::from_millis(200));
        panic!(
            "{what} (last typed: \"{}\")\n{}",
            self.typed.escape_ascii(),
            self.transcript()
        )
    }

    /// Types `bytes` on COM1.
    fn send(&mut self, bytes: &[u8]) {
        self.typed = bytes.to_vec();
        if let Err(e) = self
            .stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
        {
            self.fail(&format!("typing {bytes:?} on COM1 failed: {e}"));
        }
    }

    /// Waits (at most [`BOOT_TIMEOUT`]) until `needle` arrives after the
    /// last expectation met; returns where it starts.
    fn expect(&mut self, needle: &str) -> usize {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            // Look once more after Bochs exited: its last bytes may have
            // arrived with the exit.
            let exited = self.poll_exit();
            let bytes = self.bytes();
            if let Some(at) = find_bytes(&bytes[self.from..], needle.as_bytes()) {
                let start = self.from + at;
                self.from = start + needle.len();
                return start;
            }
            if let Some(ending) = exited {
                std::thread::sleep(Duration::from_millis(200));
                if find_bytes(&self.bytes()[self.from..], needle.as_bytes()).is_some() {
                    continue;
                }
                self.fail(&format!(
                    "Bochs ended ({ending:?}) before `{needle}` arrived"
                ));
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "no `{needle}` within {} s; Bochs killed",
                    BOOT_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the next line starting with `prefix` (after the last
    /// expectation met) to be complete; returns the rest of it.
    fn expect_line(&mut self, prefix: &str) -> String {
        let start = self.expect(prefix);
        let end = self.expect("\n");
        let line = String::from_utf8_lossy(&self.bytes()[start..end]).into_owned();
        line.trim_end_matches('\r')[prefix.len()..].to_string()
    }

    /// Waits (at most [`BOOT_TIMEOUT`]) for Bochs to exit by itself.
    fn wait_exit(&mut self) -> Ending {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            if let Some(ending) = self.poll_exit() {
                return ending;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "Bochs still running {} s after the last expectation; killed",
                    BOOT_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.kill();
    }
}

/// tests/configs/bochs/console-input.toml with Bochs' COM1 on a TCP
/// socket: what is typed reaches the selected cell's virtual 16550
/// (x86-echo polls it and echoes the line); Ctrl-A three times moves input
/// to the hypervisor, whose `c` prints the cell's exit counters (its polls
/// of COM1 among them); Ctrl-A three times moves it back to the cell, whose
/// `off` powers it off, and with it the machine.
#[test]
fn console_input_reaches_the_cell_and_the_hypervisor_commands() {
    require_bochs();
    let dist = build_config("tests/configs/bochs/console-input.toml", &[]);
    let mut console = Console::start(&dist);
    console.expect(BANNER);
    console.expect(ECHO_READY);

    console.send(b"hello\r");
    let echoed = console.expect_line(&echo_of(""));
    if echoed != "hello" {
        console.fail(&format!("typed `hello`, the cell echoed `{echoed}`"));
    }

    console.send(SWITCH_INPUT);
    console.expect(INPUT_TO_HYPERVISOR);
    console.send(COMMAND_COUNTERS);
    let counters = console.expect_line(&counters_prefix("echo"));
    if counter_value(&counters, "io-console") == 0 {
        console.fail(&format!(
            "the cell polls its COM1, but no `io-console` exits: `{counters}`"
        ));
    }

    console.send(SWITCH_INPUT);
    console.expect(&input_to_cell("echo"));
    // Neither the Ctrl-As nor the command key reached the cell: its next
    // line is exactly what is typed now.
    console.send(b"off\r");
    let echoed = console.expect_line(&echo_of(""));
    if echoed != "off" {
        console.fail(&format!("typed `off`, the cell echoed `{echoed}`"));
    }
    console.expect(ECHO_BYE);
    console.expect(ALL_STOPPED);
    let ending = console.wait_exit();
    if ending != Ending::PoweredOff {
        console.fail("Bochs did not stop through the power-off port");
    }
}

/// tests/configs/bochs/restart-4cpu.toml: the two-vCPU intruder under the
/// `restart` fault policy. Every EPT violation of vCPU 0 restarts the
/// cell, which first needs vCPU 1 (spinning without exits) stopped by an
/// NMI kick; the cell then runs again from its pristine image. Three
/// restarts in a row prove the kick works every time, not just once (a VM
/// exit caused by an NMI leaves NMIs blocked until an IRET).
#[test]
fn a_cell_restarts_again_and_again_with_a_vcpu_that_never_exits() {
    const START: &str = "[intruder] intruder: start (cell 1, 2 vcpu";
    const RUNS: usize = 4;
    let out = boot_until(
        "tests/configs/bochs/restart-4cpu.toml",
        &[],
        BOOT_TIMEOUT,
        |serial| serial.matches(START).count() >= RUNS,
    );
    let transcript = &out.transcript;
    let mut from = 0;
    for run in 1..RUNS {
        for needle in [
            START,
            "[intruder] intruder: vcpu 1 spinning without exits",
            "EPT violation (not the cell's memory) -> restart",
            "bulkhead: cell intruder vcpu 1 (cpu 2) stopped",
        ] {
            let at = out.serial[from..].find(needle).unwrap_or_else(|| {
                panic!("run {run}: no `{needle}` after byte {from}:\n{transcript}")
            });
            from += at + needle.len();
        }
    }
    assert!(
        out.serial[from..].contains(START),
        "no run {RUNS} after the last restart:\n{transcript}"
    );
    assert!(
        !out.serial.contains(INTRUDER_NOT_CONTAINED) && !out.serial.contains("CANARY DAMAGED"),
        "isolation broken:\n{transcript}"
    );
}
