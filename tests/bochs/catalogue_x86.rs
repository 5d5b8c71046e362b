//! The security review's catalogue of escape and robustness attempts on
//! x86 (tests/support/catalogue.rs, `Where::X86` and `Where::Both`), in
//! groups: one Bochs boot each, `x86-intruder` with the group's boot
//! argument beside the catalogue victim (`x86-victim`, boot argument 1:
//! its canary) and, where the machine has a CPU left, the witness
//! (`x86-victim`, boot argument 2: its 1 kHz tick). Configs:
//! tests/configs/bochs/catalogue-*.toml.
//!
//! Each group's test asserts that every attempt the group owes appears
//! once, contained (the guest's verdict from what it observed), the
//! hypervisor's reports (from the line start: a guest cannot forge them),
//! the exit counters the hypervisor prints at power-off, and the global
//! invariants: no panic, nothing `NOT CONTAINED`, the canary's checksum
//! constant and checked after the last attempt, every witness window
//! within 1 %, and the machine powering off only when every cell is done.
//!
//! Witness tolerance: Bochs runs with `clock: sync=none`, so virtual time
//! is instruction-count based and the LAPIC timer and the TSC advance
//! together: an undisturbed window is 2000 ticks, give or take the one at
//! each edge. 1 % (20 ticks) is far above that jitter and far below what
//! a real disturbance costs (the witness's core held in the hypervisor, or
//! interrupts from elsewhere, lose or add whole ticks per period).
//!
//! Boots are shared: the findings' tests (`f1_...`, `f2_...`) look at the
//! same run as their group's test ([`run`] boots each group once per
//! test process).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::catalogue::{self, Invariants, Where};
use super::{Output, assert_powered_off, boot_until, counter_value, counters_of};

/// A group's boot may take longer than the plain tests': sweeps of every
/// port and MSR.
const GROUP_TIMEOUT: Duration = Duration::from_secs(420);

/// A report's start for the intruder's vCPU `v`, up to its RIP.
const INTRUDER_RIP: &str = "bulkhead: cell intruder vcpu 0: rip 0x";

/// One group: its config and what it owes.
struct Group {
    /// A short name, for messages.
    name: &'static str,
    /// The config, relative to the workspace.
    config: &'static str,
    /// The attempt ids each cell owes.
    attempts: &'static [(&'static str, &'static [&'static str])],
    /// Hypervisor reports that must appear: (start, end) of a line.
    reports: &'static [(&'static str, &'static str)],
    /// Whether a witness cell runs beside it.
    witness: bool,
}

/// The boots of the groups, once per process.
fn run(group: &Group) -> &'static Output {
    static RUNS: [OnceLock<Output>; GROUPS.len()] = [const { OnceLock::new() }; GROUPS.len()];
    let index = GROUPS
        .iter()
        .position(|g| g.name == group.name)
        .expect("a group of GROUPS");
    RUNS[index].get_or_init(|| {
        let started = Instant::now();
        // Until the machine powers off, or something went so wrong that
        // it never will.
        let out = boot_until(group.config, &[], GROUP_TIMEOUT, |serial| {
            serial.lines().any(|l| {
                l.starts_with("PANIC")
                    || (l.starts_with("bulkhead: cell intruder") && l.ends_with(" halted"))
                    || l.contains("VM entry failed")
            })
        });
        eprintln!(
            "catalogue group {}: Bochs run {:.1} s",
            group.name,
            started.elapsed().as_secs_f64()
        );
        out
    })
}

/// Everything a group's test asserts, on its run.
fn assert_group(group: &Group) -> &'static Output {
    let out = run(group);
    let transcript = &out.transcript;
    for (cell, ids) in group.attempts {
        catalogue::assert_contained(&out.serial, cell, ids, transcript);
    }
    for (start, end) in group.reports {
        assert!(
            catalogue::has_report(&out.serial, start, end),
            "group {}: no report `{start}...{end}`:\n{transcript}",
            group.name
        );
    }
    catalogue::assert_invariants(
        &out.serial,
        Invariants {
            victim: Some("victim"),
            witness: group.witness.then_some("witness"),
            may_power_off: true,
        },
        transcript,
    );
    for never in [
        "VM entry failed",
        "x86-rt:",
        "unexpected VM exit",
        "STILL RUNNING",
    ] {
        assert!(
            !out.serial.contains(never),
            "group {}: `{never}`:\n{transcript}",
            group.name
        );
    }
    // The victim (and the witness) saw the intruder's last attempt: their
    // last lines come after the intruder said it was done.
    let done = position_of(
        out,
        &format!("[intruder] intruder: group {} done", group.name),
    );
    let last_canary = out
        .serial
        .rfind("[victim] victim: canary ok ")
        .unwrap_or_default();
    assert!(
        done < last_canary,
        "group {}: the canary was not checked after the last attempt:\n{transcript}",
        group.name
    );
    // The neighbours never hit a refusal, a fault or a kick.
    let mut neighbours = vec!["victim"];
    if group.witness {
        neighbours.push("witness");
    }
    for cell in neighbours {
        let counters = counters_of(out, cell);
        for kind in [
            "fault",
            "kick",
            "io-refused",
            "msr-refused",
            "ipi-refused",
            "insn-refused",
        ] {
            assert_eq!(
                counter_value(&counters, kind),
                0,
                "group {}: {cell} `{kind}`: {counters}\n{transcript}",
                group.name
            );
        }
    }
    assert_powered_off(out);
    out
}

/// Byte offset of the first line starting with `prefix`.
fn position_of(out: &Output, prefix: &str) -> usize {
    let mut at = 0;
    for line in out.serial.split_inclusive('\n') {
        if line.trim_start_matches('\r').starts_with(prefix) {
            return at;
        }
        at += line.len();
    }
    panic!("no line starts with `{prefix}`:\n{}", out.transcript)
}

/// The attempt line `id` of `cell`'s, observed part.
fn observed<'a>(out: &'a Output, cell: &str, id: &str) -> &'a str {
    let seen = catalogue::attempts(&out.serial, cell);
    catalogue::observed(&seen, id)
}

/// The fault report of `cell`'s vCPU 0 on `cpu`, up to its RIP.
macro_rules! fault_of {
    ($cell:literal, $cpu:literal) => {
        concat!(
            "bulkhead: fault: cell ",
            $cell,
            " vcpu 0 (cpu ",
            $cpu,
            ") rip 0x"
        )
    };
}

// --- group 1: memory ----------------------------------------------------------

/// Attempts of group 1 (memory), by the intruder.
const MEMORY_IDS: &[&str] = &[
    "1.1", "1.2", "1.3", "1.4", "58.1", "2.1", "2.2", "2.3", "3.1", "3.2", "4.1", "4.2", "4.3",
    "9.1", "9.2", "9.3", "10.1", "11.1", "11.2", "11.3",
];
/// Attempts of group 7 (the phoenix), beside group 1.
const PHOENIX_IDS: &[&str] = &["58.2", "58.3", "10.2"];

const MEMORY: Group = Group {
    name: "memory",
    config: "tests/configs/bochs/catalogue-memory.toml",
    attempts: &[("intruder", MEMORY_IDS), ("phoenix", PHOENIX_IDS)],
    reports: &[
        (
            fault_of!("intruder", "1"),
            ": read 0x1300000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": write 0x1300000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": read 0x3000000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": write 0x4200000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": read 0x400000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": write 0x400000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": write 0x800000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": write 0x10100000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": execute 0xa00000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": execute 0x800000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": execute 0x10100000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": read 0x7ffffffff8: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": read 0x8000000000: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("intruder", "1"),
            ": read 0xfffff8: EPT violation (not the cell's memory) -> inject #GP",
        ),
        (
            fault_of!("phoenix", "3"),
            ": write 0x800000: EPT violation (not the cell's memory) -> restart",
        ),
        (fault_of!("phoenix", "3"), ": triple fault -> restart"),
        (
            fault_of!("phoenix", "3"),
            " 0x80000000: EPT violation (not the cell's memory) -> restart",
        ),
    ],
    witness: true,
};

#[test]
fn catalogue_x86_memory() {
    let out = assert_group(&MEMORY);
    // One EPT violation for each refused access (9.3 is the guest's own
    // #PF where the address is beyond its MAXPHYADDR), no more.
    let intruder = counters_of(out, "intruder");
    let faults = counter_value(&intruder, "fault");
    assert!(
        (17..=18).contains(&faults),
        "intruder faults {faults}: {intruder}\n{}",
        out.transcript
    );
    let phoenix = counters_of(out, "phoenix");
    assert_eq!(counter_value(&phoenix, "fault"), 3, "{phoenix}");
    assert_eq!(
        out.serial.matches("[phoenix] phoenix: boot ").count(),
        4,
        "{}",
        out.transcript
    );
}

// --- group 2: devices and interrupts -----------------------------------------

/// Attempts of group 2 (devices and interrupts).
const DEVICES_IDS: &[&str] = &[
    "12.1", "12.2", "12.3", "12.4", "12.5", "19.1", "19.2", "19.3", "20.1", "20.2", "20.3", "20.4",
    "20.5", "31.1", "31.2", "31.3", "31.4", "31.5", "31.6", "31.7", "31.8", "31.9", "31.10",
    "31.11", "31.12", "31.13", "31.14", "32.1", "32.2", "32.3", "32.4", "32.5", "32.6", "32.7",
    "32.8", "32.9", "32.10", "18.1", "18.2", "18.3",
];

const DEVICES: Group = Group {
    name: "devices",
    config: "tests/configs/bochs/catalogue-devices.toml",
    attempts: &[("intruder", DEVICES_IDS)],
    reports: &[
        (
            INTRUDER_RIP,
            ": read of I/O port 0x70 (1 byte) refused: not assigned to the cell -> 0xff",
        ),
        (
            INTRUDER_RIP,
            ": write of 0xfe to I/O port 0x64 refused: not assigned to the cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": string I/O at port 0x70 is not emulated -> skipped",
        ),
        (
            INTRUDER_RIP,
            ": string I/O at port 0x3f8 is not emulated -> skipped",
        ),
        (
            INTRUDER_RIP,
            ": string I/O at port 0xffff is not emulated -> skipped",
        ),
        (
            INTRUDER_RIP,
            ": write of 0x6 to I/O port 0xcf9 refused: not assigned to the cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": write of 0x1 to I/O port 0x92 refused: not assigned to the cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": write of 0x0 to I/O port 0xb2 refused: not assigned to the cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": write of 0x80000000 to I/O port 0xcf8 refused: not assigned to the cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": read of I/O port 0xcfc (4 bytes) refused: not assigned to the cell -> 0xffffffff",
        ),
        (
            INTRUDER_RIP,
            ": write of 0x53 to I/O port 0x8900 refused: not assigned to the cell -> dropped",
        ),
        (INTRUDER_RIP, ": NMI IPI -> dropped"),
        (INTRUDER_RIP, ": SMI IPI -> dropped"),
        (INTRUDER_RIP, ": INIT IPI -> dropped"),
        (INTRUDER_RIP, ": start-up IPI -> dropped"),
        (INTRUDER_RIP, ": lowest-priority IPI -> dropped"),
        (INTRUDER_RIP, ": IPI in logical destination mode -> dropped"),
        (INTRUDER_RIP, ": broadcast IPI -> dropped"),
        (INTRUDER_RIP, ": IPI with illegal vector 5 -> dropped"),
        (
            INTRUDER_RIP,
            ": IPI to APIC id 0, which is not in this cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": IPI to APIC id 2, which is not in this cell -> dropped",
        ),
        (
            INTRUDER_RIP,
            ": wrmsr MSR 0x835 (x2APIC LVT LINT0) value 0x400 refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": wrmsr MSR 0x836 (x2APIC LVT LINT1) value 0x400 refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": wrmsr MSR 0x834 (x2APIC LVT performance) value 0x400 refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": wrmsr MSR 0x833 (x2APIC LVT thermal) value 0x400 refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": wrmsr MSR 0x82f (x2APIC LVT CMCI) value 0x400 refused -> #GP",
        ),
        (
            "bulkhead: cell intruder keeps misbehaving",
            "go to the hypervisor log only",
        ),
    ],
    witness: true,
};

#[test]
fn catalogue_x86_devices_and_interrupts() {
    let out = assert_group(&DEVICES);
    let intruder = counters_of(out, "intruder");
    // Every port read and written once (but the console's), the string
    // I/O, the probes before.
    let io = counter_value(&intruder, "io-refused");
    assert!(
        (2 * 65_528..2 * 65_528 + 10_000).contains(&io),
        "intruder io-refused {io}: {intruder}\n{}",
        out.transcript
    );
    assert_eq!(counter_value(&intruder, "ipi-refused"), 13, "{intruder}");
    assert_eq!(counter_value(&intruder, "msr-refused"), 5, "{intruder}");
    // The victim saw no foreign interrupt, in any of its lines.
    assert!(
        out.serial
            .lines()
            .filter(|l| l.starts_with("[victim] victim: canary ok "))
            .all(|l| l.trim_end().ends_with(" 0 foreign interrupts")),
        "{}",
        out.transcript
    );
}

// --- group 3: CPUs and PSCI ----------------------------------------------------

/// Attempts of group 3 (CPUs and PSCI), over the intruder's three boots.
const CPUS_IDS: &[&str] = &[
    "33.1", "33.2", "33.3", "33.4", "33.5", "33.6", "33.7", "34.1", "34.2", "34.3", "34.4", "34.5",
    "36.1", "36.2", "36.3", "36.4", "39.1", "39.2", "39.3", "39.4", "39.5", "39.6", "39.7", "39.8",
    "39.9", "35.1", "35.2", "35.3", "37.1", "38.1", "37.2",
];

const CPUS: Group = Group {
    name: "cpus",
    config: "tests/configs/bochs/catalogue-cpus.toml",
    attempts: &[("intruder", CPUS_IDS)],
    reports: &[
        (
            "bulkhead: cell intruder vcpu 0: target MPIDR 0x3 is not in the cell",
            " -> -2",
        ),
        (
            "bulkhead: cell intruder vcpu 0: target MPIDR 0x100000000 is not in the cell",
            " -> -2",
        ),
        (
            "bulkhead: cell intruder vcpu 0: entry point GPA:0x800000 is outside the cell",
            " -> -9",
        ),
        (
            "bulkhead: cell intruder vcpu 0: entry point GPA:0xa00000 is outside the cell",
            " -> -9",
        ),
        (
            "bulkhead: cell intruder vcpu 0: entry point GPA:0x10000000 is outside the cell",
            " -> -9",
        ),
        ("bulkhead: cell intruder restarting (PSCI SYSTEM_RESET)", ""),
        ("bulkhead: cell intruder vcpu 0 (cpu 1) stopped", ""),
    ],
    witness: false,
};

#[test]
fn catalogue_x86_cpus_and_psci() {
    let out = assert_group(&CPUS);
    let transcript = &out.transcript;
    // Exactly two restarts: the two simultaneous SYSTEM_RESETs made one,
    // CPU_ON racing the second did not make another.
    let boots: Vec<usize> = (1..=4)
        .filter(|n| {
            let line = format!("[intruder] intruder: group cpus, boot {n}");
            out.serial.lines().any(|l| l.trim_end() == line)
        })
        .collect();
    assert_eq!(boots, [1, 2, 3], "{transcript}");
    // (Each SYSTEM_RESET caller's line is printed, also the one whose
    // restart lost the race to the other's.)
    let resets = out
        .serial
        .lines()
        .filter(|l| l.starts_with("bulkhead: cell intruder restarting (PSCI SYSTEM_RESET)"))
        .count();
    assert!((2..=3).contains(&resets), "{transcript}");
}

// --- group 4: hypercalls ---------------------------------------------------------

/// Attempts of group 4 (hypercalls).
const CALLS_IDS: &[&str] = &[
    "50.1", "50.2", "48.1", "48.2", "48.3", "48.4", "48.5", "48.6", "49.1", "49.2", "49.3", "49.4",
    "51.1", "47.1",
];

const CALLS: Group = Group {
    name: "calls",
    config: "tests/configs/bochs/catalogue-calls.toml",
    attempts: &[("intruder", CALLS_IDS)],
    reports: &[
        (INTRUDER_RIP, ": VMCALL from CPL 3 refused -> -1"),
        (
            "bulkhead: cell intruder vcpu 0: unknown function id 0xc6000004",
            " -> -1",
        ),
        (
            "bulkhead: cell intruder keeps misbehaving",
            "go to the hypervisor log only",
        ),
    ],
    witness: true,
};

/// The forged reports the intruder writes (group 4, attempts 49.x): none
/// may start a line; each must appear in the intruder's tagged lines.
const FORGED: [&str; 4] = [
    "bulkhead: fault: cell victim vcpu 0 (cpu 0) rip 0x0: forged by the intruder -> halt",
    "bulkhead: cell victim powered off (PSCI SYSTEM_OFF) forged",
    "bulkhead: every cell has stopped; forged",
    "bulkhead: fault: cell witness forged through the uart",
];

#[test]
fn catalogue_x86_hypercalls() {
    let out = assert_group(&CALLS);
    let transcript = &out.transcript;
    for forged in FORGED {
        assert!(
            !out.serial
                .lines()
                .any(|l| l.trim_start_matches('\r').starts_with(forged)),
            "a forged line starts a line: `{forged}`\n{transcript}"
        );
        assert!(
            out.serial
                .lines()
                .any(|l| l.starts_with("[intruder] ") && l.contains(forged)),
            "`{forged}` is not among the intruder's tagged lines:\n{transcript}"
        );
    }
    assert!(
        !out.serial.contains('\u{1b}'),
        "a raw ESC reached the console:\n{transcript}"
    );
    // The 256 bytes CONSOLE_WRITE took of a huge length: 255 `x`s (in
    // lines the console cuts) and the newline, tagged; nothing more.
    let xs: usize = out
        .serial
        .lines()
        .filter_map(|l| l.trim_end_matches(['\r', '\\']).strip_prefix("[intruder] "))
        .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b == b'x'))
        .map(str::len)
        .sum();
    assert_eq!(xs, 255, "{transcript}");
    // Every call of the sweep was a VMCALL, counted once.
    let intruder = counters_of(out, "intruder");
    let calls = counter_value(&intruder, "vmcall");
    assert!(
        (131_079..131_300).contains(&calls),
        "intruder vmcall {calls}: {intruder}\n{transcript}"
    );
}

// --- group 6: availability -------------------------------------------------------

/// Attempts of group 6 (availability).
const DOS_IDS: &[&str] = &[
    "60.1", "60.2", "61.1", "63.1", "64.1", "59.1", "62.1", "59.2",
];

/// The intruder's vCPU 1 stopped by a restart.
const STOPPED: &str = "bulkhead: cell intruder vcpu 1 (cpu 2) stopped";

const DOS: Group = Group {
    name: "dos",
    config: "tests/configs/bochs/catalogue-dos.toml",
    attempts: &[("intruder", DOS_IDS)],
    reports: &[
        (
            "bulkhead: cell intruder keeps misbehaving",
            "go to the hypervisor log only",
        ),
        ("bulkhead: cell intruder restarting (PSCI SYSTEM_RESET)", ""),
        (STOPPED, ""),
    ],
    witness: true,
};

#[test]
fn catalogue_x86_availability() {
    let out = assert_group(&DOS);
    let transcript = &out.transcript;
    // F7, item 59: the cell's reports (refusals, resets, stopped vCPUs)
    // stay within its budget of 256 and one notice.
    let reports = out
        .serial
        .lines()
        .filter(|l| {
            l.starts_with("bulkhead: ")
                && l.contains("cell intruder")
                && !l.contains("starting on cpu")
                && !l.starts_with("bulkhead: counters of cell intruder")
        })
        .count();
    assert!(
        (250..=257).contains(&reports),
        "{reports} reports of the intruder:\n{transcript}"
    );
    // Ten restarts, each a new boot.
    let boots = out
        .serial
        .lines()
        .filter(|l| l.starts_with("[intruder] intruder: group dos, boot "))
        .count();
    assert_eq!(boots, 11, "{transcript}");
    // Each restart stopped the spinning vCPU 1 first.
    assert_eq!(
        out.serial
            .lines()
            .filter(|l| l.starts_with(STOPPED))
            .count(),
        10,
        "{transcript}"
    );
    // The victim's own lines kept coming through the floods.
    let flood = position_of(out, "[intruder] attempt 60.1 ");
    let spin = position_of(out, "[intruder] attempt 64.1 ");
    assert!(
        out.serial[flood..spin].contains("\n[victim] victim: canary ok "),
        "no victim line during the floods:\n{transcript}"
    );
    // The witness ticked through all of it: several windows.
    let windows = out
        .serial
        .lines()
        .filter(|l| l.starts_with("[witness] ticker: window "))
        .count();
    assert!(windows >= 2, "{windows} witness windows:\n{transcript}");
    // F11: every WBINVD exited (and was a no-op).
    let intruder = counters_of(out, "intruder");
    assert!(
        counter_value(&intruder, "other") >= 10_000,
        "{intruder}\n{transcript}"
    );
}

/// F11: WBINVD exits (emulated as a no-op, so a guest cannot flush the
/// caches every cell shares); 10,000 of them from two vCPUs cost the
/// witness beside them no tick.
#[test]
fn f11_wbinvd_exits_and_is_a_no_op() {
    let out = run(&DOS);
    catalogue::assert_contained(&out.serial, "intruder", &["63.1"], &out.transcript);
    assert!(
        observed(out, "intruder", "63.1").starts_with("10000 exits"),
        "{}",
        out.transcript
    );
    catalogue::assert_invariants(
        &out.serial,
        Invariants {
            victim: Some("victim"),
            witness: Some("witness"),
            may_power_off: true,
        },
        &out.transcript,
    );
}

// --- group 5: x86 instructions and modes ------------------------------------

/// Attempts of group 5 (instructions): CPUID, control registers, XSETBV,
/// the VMX instructions, GETSEC and INVD at CPL 0 and 3, real and
/// compatibility mode, MSRs.
const INSTRUCTIONS_IDS: &[&str] = &[
    "56.1", "56.2", "56.3", "56.4", "55.1", "55.2", "55.3", "55.4", "55.5", "55.6", "52.1", "52.2",
    "52.3", "52.4", "52.5", "52.6", "52.7", "52.8", "52.9", "52.10", "53.1", "53.2", "53.3",
    "53.4", "53.5", "53.6", "53.7", "53.8", "53.9", "53.10", "53.11", "53.12", "53.13", "53.14",
    "53.15", "53.16", "53.17", "53.18", "53.19", "53.20", "57.1", "57.2", "57.3", "57.4", "51.2",
    "51.3", "54.1", "54.2", "54.3", "54.4", "54.5", "54.6",
];

const INSTRUCTIONS: Group = Group {
    name: "instructions",
    config: "tests/configs/bochs/catalogue-instructions.toml",
    attempts: &[("intruder", INSTRUCTIONS_IDS)],
    reports: &[
        (INTRUDER_RIP, ": write to CR4.VMXE refused -> #GP"),
        (
            INTRUDER_RIP,
            ": XSETBV 0x5 (AVX without SSE) refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": XSETBV 0xe5 (AVX without SSE) refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": XSETBV 0x3 (XCR1 is not writable) refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": XSETBV 0x0 (x87 (bit 0) clear) refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": XSETBV 0x27 (AVX-512 bits 5-7 not all equal) refused -> #GP",
        ),
        (
            INTRUDER_RIP,
            ": XSETBV 0xb (MPX bits 3 and 4 differ) refused -> #GP",
        ),
        (INTRUDER_RIP, ": VMXON at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": VMCLEAR at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": VMREAD at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": VMLAUNCH at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": INVEPT at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": INVVPID at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": INVD at CPL 0 refused -> #UD"),
        (INTRUDER_RIP, ": VMCLEAR at CPL 3 refused -> #UD"),
        (INTRUDER_RIP, ": VMXON at CPL 3 refused -> #UD"),
        (INTRUDER_RIP, ": VMXOFF at CPL 3 refused -> #UD"),
        (INTRUDER_RIP, ": RDPMC refused -> #GP"),
        (
            INTRUDER_RIP,
            ": rdmsr MSR 0x3a (IA32_FEATURE_CONTROL) refused -> #GP",
        ),
        (
            "bulkhead: cell intruder keeps misbehaving",
            "go to the hypervisor log only",
        ),
    ],
    witness: true,
};

/// The groups, in the order they run.
const GROUPS: [&Group; 6] = [&MEMORY, &DEVICES, &CPUS, &CALLS, &INSTRUCTIONS, &DOS];

#[test]
fn catalogue_x86_instructions_and_modes() {
    let out = assert_group(&INSTRUCTIONS);
    let intruder = counters_of(out, "intruder");
    // 13 at CPL 0, 6 at CPL 3 (INVD there is the CPU's own #GP), 4 in
    // real mode, 8 XSETBVs, CR4.VMXE twice, RDPMC: each an exit refused.
    let refused = counter_value(&intruder, "insn-refused");
    assert!(
        (30..=40).contains(&refused),
        "intruder insn-refused {refused}: {intruder}\n{}",
        out.transcript
    );
    // The MSR sweep: about 16,000 refused reads and as many writes.
    let msrs = counter_value(&intruder, "msr-refused");
    assert!(
        msrs >= 32_000,
        "intruder msr-refused {msrs}: {intruder}\n{}",
        out.transcript
    );
    assert_eq!(counter_value(&intruder, "fault"), 0, "{intruder}");
}

/// F1: XSETBV from a guest: valid values are loaded (and XSAVE works),
/// every value the SDM refuses gets #GP in the guest (at CPL 3 too), the
/// hypervisor never panics (it did at the first XSETBV: its own `xsetbv`
/// raised #UD in VMX root), and the refusals are reported.
#[test]
fn f1_xsetbv_is_checked_and_never_panics_the_hypervisor() {
    let out = run(&INSTRUCTIONS);
    let ids: Vec<&str> = INSTRUCTIONS_IDS
        .iter()
        .copied()
        .filter(|id| id.starts_with("52."))
        .collect();
    catalogue::assert_contained(&out.serial, "intruder", &ids, &out.transcript);
    assert!(
        observed(out, "intruder", "52.1").contains("xsave ok"),
        "{}",
        out.transcript
    );
    assert!(
        !out.serial.lines().any(|l| l.starts_with("PANIC")),
        "{}",
        out.transcript
    );
    for (start, end) in &INSTRUCTIONS.reports[1..7] {
        assert!(
            catalogue::has_report(&out.serial, start, end),
            "no `{end}`:\n{}",
            out.transcript
        );
    }
}

/// F2: the VMX instructions, GETSEC and INVD get #UD in the guest, at CPL
/// 0 and at CPL 3, and the cell runs on (they went to the fault policy,
/// which halted the cell even for a user process).
#[test]
fn f2_vmx_instructions_getsec_and_invd_get_ud_even_from_user_mode() {
    let out = run(&INSTRUCTIONS);
    let ids: Vec<&str> = INSTRUCTIONS_IDS
        .iter()
        .copied()
        .filter(|id| id.starts_with("53."))
        .collect();
    catalogue::assert_contained(&out.serial, "intruder", &ids, &out.transcript);
    for (start, end) in &INSTRUCTIONS.reports[7..17] {
        assert!(
            catalogue::has_report(&out.serial, start, end),
            "no `{end}`:\n{}",
            out.transcript
        );
    }
    assert!(
        !out.serial.contains("bulkhead: cell intruder halted")
            && !out.serial.contains("bulkhead: cell intruder restarting"),
        "{}",
        out.transcript
    );
}

/// F14: in real mode (unrestricted guest), a refused RDMSR, XSETBV and
/// CR4.VMXE write get #GP without an error code and INVD gets #UD; the
/// cell is not halted by a failed VM entry (an injected error code made
/// it fail).
#[test]
fn f14_a_refused_instruction_in_real_mode_gets_an_exception_without_error_code() {
    let out = run(&INSTRUCTIONS);
    catalogue::assert_contained(
        &out.serial,
        "intruder",
        &["57.1", "57.2", "57.3", "57.4", "51.2", "51.3"],
        &out.transcript,
    );
    assert!(
        !out.serial.contains("VM entry failed"),
        "{}",
        out.transcript
    );
}

/// F11 (x86): RDPMC exits and gets #GP; the speculation-control MSRs work
/// exactly when CPUID advertises them; a guest's write breakpoint still
/// fires after an exit (DR7 is saved and loaded).
#[test]
fn f11_rdpmc_speculation_msrs_and_breakpoints_across_exits() {
    let out = run(&INSTRUCTIONS);
    catalogue::assert_contained(
        &out.serial,
        "intruder",
        &["54.1", "54.2", "54.3"],
        &out.transcript,
    );
    assert!(
        catalogue::has_report(&out.serial, INTRUDER_RIP, ": RDPMC refused -> #GP"),
        "{}",
        out.transcript
    );
    assert!(
        out.serial.lines().any(|l| l
            .trim_end_matches('\r')
            .starts_with("[intruder] intruder: breakpoint after an exit: dr7 0x")
            && l.trim_end_matches('\r').ends_with("write -> #DB")),
        "the breakpoint did not survive the exit:\n{}",
        out.transcript
    );
    assert!(
        out.serial.lines().any(|l| l.starts_with(
            "VMX hardening (WBINVD and RDPMC exiting, debug-control switching) lacking: none"
        )),
        "{}",
        out.transcript
    );
}

/// The x86 groups cover exactly the catalogue's x86 attempts.
#[test]
fn the_x86_groups_cover_the_x86_catalogue() {
    let mut ids: Vec<&str> = Vec::new();
    for group in GROUPS {
        let mut mine: Vec<&str> = Vec::new();
        for (_, owed) in group.attempts {
            mine.extend_from_slice(owed);
        }
        // The counts the closing notes and docs/security.md quote.
        eprintln!(
            "x86 group {}: {} catalogue attempts, {} attempt lines",
            group.name,
            catalogue::numbers(&mine).len(),
            mine.len()
        );
        ids.extend(mine);
    }
    let covered = catalogue::numbers(&ids);
    eprintln!("x86: {} catalogue attempts in all", covered.len());
    assert_eq!(covered, catalogue::required(Where::X86));
}
