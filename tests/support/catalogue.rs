//! The intruder catalogue (security review, section 4): 74 escape and
//! robustness attempts, and how a test run proves them.
//!
//! A guest that makes attempts prints one line per attempt, tagged by the
//! hypervisor with its cell name:
//!
//! ```text
//! [intruder] attempt 12.1 read rtc data 0x9010000: contained (fault esr=0x96000010 far=0x9010000)
//! [intruder] attempt 33.3 cpu_on mpidr 0x100: contained (-2)
//! [intruder] attempt 52.2 xsetbv 0x5: NOT CONTAINED (accepted)
//! ```
//!
//! `<n>.<k>`: catalogue number and variant; then what was tried (never
//! containing `": "`, which ends it; nor does what was observed); then the
//! guest's verdict, `contained` or `NOT CONTAINED`, judged from what it
//! observed (in parentheses). The harness checks that every attempt a
//! group owes appears, contained, exactly once; that no line anywhere says
//! `NOT CONTAINED`; the hypervisor's reports (matched from the line start,
//! which a guest cannot forge: finding F8); and the global invariants
//! (`assert_invariants`).

#![allow(dead_code, reason = "each test crate uses its architecture's part")]

/// Where an attempt runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// QEMU `virt`, GICv3 and GICv2.
    Aarch64,
    /// Bochs.
    X86,
    /// Both architectures.
    Both,
    /// A host test (config checker, stage-2 audit).
    Host,
}

/// The catalogue: number, what it tries, where it runs.
pub(crate) const CATALOGUE: [(u8, &str, Where); 74] = [
    (1, "other cells' RAM", Where::Both),
    (2, "own-RAM boundary", Where::Both),
    (3, "write to a read-only region", Where::Both),
    (4, "execute from a non-executable region", Where::Both),
    (
        5,
        "stage-1 walk into an unmapped or emulated IPA",
        Where::Aarch64,
    ),
    (
        6,
        "cache maintenance and AT on foreign or emulated addresses",
        Where::Aarch64,
    ),
    (
        7,
        "accesses that cannot be emulated (pair, writeback, SIMD, atomics)",
        Where::Aarch64,
    ),
    (8, "set/way cache maintenance", Where::Aarch64),
    (9, "addresses at the IPA limit", Where::Both),
    (10, "guest page tables reaching foreign GPAs", Where::X86),
    (11, "an IPA equal to the hypervisor's HPA", Where::Both),
    (12, "unassigned devices", Where::Both),
    (13, "GIC frames not given to guests, fw_cfg", Where::Aarch64),
    (
        14,
        "the physical console with a virtual console",
        Where::Aarch64,
    ),
    (15, "vPL011 register sweep", Where::Aarch64),
    (
        16,
        "vPL011 loopback, overrun and TX interrupt",
        Where::Aarch64,
    ),
    (17, "GICD/GICR register sweep", Where::Aarch64),
    (18, "all I/O ports", Where::X86),
    (19, "string I/O", Where::X86),
    (20, "dangerous I/O ports", Where::X86),
    (
        21,
        "foreign SPIs through every GICD register",
        Where::Aarch64,
    ),
    (
        22,
        "INTIDs outside the cell through every register",
        Where::Aarch64,
    ),
    (
        23,
        "SGIs to absent vCPUs and other clusters",
        Where::Aarch64,
    ),
    (24, "ICC_SGI0R_EL1 and ICC_ASGI1R_EL1", Where::Aarch64),
    (25, "SGI storm", Where::Aarch64),
    (
        26,
        "ICFGR toggling beside another cell's SPI",
        Where::Aarch64,
    ),
    (27, "own SPI active and never ended", Where::Aarch64),
    (28, "stopped inside a handler, then reset", Where::Aarch64),
    (29, "pending PPIs 25, 26, 30", Where::Aarch64),
    (30, "list-register queue overflow", Where::Aarch64),
    (31, "forbidden x2APIC IPIs", Where::X86),
    (32, "local APIC registers", Where::X86),
    (33, "CPU_ON for foreign MPIDRs", Where::Both),
    (34, "CPU_ON at bad entry points", Where::Both),
    (35, "CPU_ON races", Where::Both),
    (36, "AFFINITY_INFO foreign and at other levels", Where::Both),
    (
        37,
        "concurrent SYSTEM_OFF, SYSTEM_RESET and CPU_ON",
        Where::Both,
    ),
    (38, "a vCPU spinning while its cell stops", Where::Both),
    (39, "other PSCI functions and forms", Where::Both),
    (
        40,
        "debug, PMU, ACTLR and IMPLEMENTATION DEFINED registers",
        Where::Aarch64,
    ),
    (41, "EL1 physical timer", Where::Aarch64),
    (
        42,
        "SMC ids: random, PSCI, SMCCC, TRNG, SOC_ID, workarounds",
        Where::Aarch64,
    ),
    (43, "AArch32 EL0 coprocessor accesses", Where::Aarch64),
    (44, "SVE and SME", Where::Aarch64),
    (45, "RAS, trace, AMU and SPE registers", Where::Aarch64),
    (46, "the guest's own GIC CPU interface", Where::Aarch64),
    (47, "the vendor hypervisor call range", Where::Both),
    (48, "CONSOLE_WRITE with hostile buffers", Where::Both),
    (
        49,
        "CONSOLE_WRITE with control sequences and forged reports",
        Where::Both,
    ),
    (50, "COUNTER indices", Where::Both),
    (
        51,
        "VMCALL from CPL 3, real mode, compatibility mode",
        Where::X86,
    ),
    (52, "XSETBV", Where::X86),
    (53, "VMX instructions, GETSEC, INVD", Where::X86),
    (54, "MSR sweep", Where::X86),
    (55, "control registers", Where::X86),
    (56, "CPUID sweep", Where::X86),
    (57, "a refused instruction in real mode", Where::X86),
    (
        58,
        "triple fault and EPT violations under each policy",
        Where::X86,
    ),
    (59, "report budget under fault and reset loops", Where::Both),
    (60, "console flood", Where::Both),
    (61, "UART polling from every vCPU", Where::Both),
    (62, "restart storm", Where::Both),
    (63, "cache maintenance storm", Where::Both),
    (64, "a vCPU spinning without exits", Where::Both),
    (65, "the existing rejection cases", Where::Host),
    (66, "a device window on the console", Where::Host),
    (67, "the console's interrupt in a cell", Where::Host),
    (68, "devices sharing a page", Where::Host),
    (
        69,
        "platform devices over interrupt controller frames",
        Where::Host,
    ),
    (
        70,
        "cell IPAs over emulated frames or the IPA limit",
        Where::Host,
    ),
    (71, "executable channels another cell writes", Where::Host),
    (72, "GICv3 affinity 0 of 16 or more", Where::Host),
    (73, "DMA without an SMMU, split SMT siblings", Where::Host),
    (74, "the isolation audit over every config", Where::Host),
];

/// The catalogue numbers an architecture's runs must cover.
pub(crate) fn required(arch: Where) -> Vec<u8> {
    CATALOGUE
        .iter()
        .filter(|(_, _, at)| *at == arch || *at == Where::Both)
        .map(|(n, _, _)| *n)
        .collect()
}

/// One attempt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt<'a> {
    /// `<n>.<k>`.
    pub(crate) id: &'a str,
    /// What was tried.
    pub(crate) what: &'a str,
    /// `contained` or `NOT CONTAINED`.
    pub(crate) verdict: &'a str,
    /// What the guest observed.
    pub(crate) observed: &'a str,
}

/// The attempt lines `cell` printed, in order.
pub(crate) fn attempts<'a>(console: &'a str, cell: &str) -> Vec<Attempt<'a>> {
    let prefix = format!("[{cell}] attempt ");
    console
        .lines()
        .filter_map(|line| {
            let rest = line.trim_end_matches('\r').strip_prefix(prefix.as_str())?;
            let (id, rest) = rest.split_once(' ')?;
            let (what, verdict_and_observed) = rest.rsplit_once(": ")?;
            let (verdict, observed) = verdict_and_observed
                .split_once(" (")
                .map_or((verdict_and_observed, ""), |(v, o)| {
                    (v, o.strip_suffix(')').unwrap_or(o))
                });
            Some(Attempt {
                id,
                what,
                verdict,
                observed,
            })
        })
        .collect()
}

/// The catalogue numbers of `ids` (`"12.1"` -> 12).
pub(crate) fn numbers(ids: &[&str]) -> Vec<u8> {
    let mut numbers: Vec<u8> = ids
        .iter()
        .filter_map(|id| id.split('.').next()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

/// Every attempt in `ids` appears exactly once for `cell`, contained; no
/// line anywhere says `NOT CONTAINED`. Returns the attempts, for checks of
/// what was observed.
pub(crate) fn assert_contained<'a>(
    console: &'a str,
    cell: &str,
    ids: &[&str],
    transcript: &str,
) -> Vec<Attempt<'a>> {
    let seen = attempts(console, cell);
    for id in ids {
        let matching: Vec<&Attempt<'_>> = seen.iter().filter(|a| a.id == *id).collect();
        assert_eq!(
            matching.len(),
            1,
            "attempt {id}: expected one line, found {matching:?}\n{transcript}"
        );
        assert_eq!(
            matching[0].verdict, "contained",
            "attempt {id}: {:?}\n{transcript}",
            matching[0]
        );
    }
    assert!(
        !console.contains("NOT CONTAINED"),
        "something was not contained:\n{transcript}"
    );
    seen
}

/// The observed part of attempt `id`.
pub(crate) fn observed<'a>(seen: &[Attempt<'a>], id: &str) -> &'a str {
    seen.iter().find(|a| a.id == id).map_or("", |a| a.observed)
}

/// A hypervisor line starting with `start` and ending with `end` exists
/// (a report: matched from the line start, never forgeable by a guest).
pub(crate) fn has_report(console: &str, start: &str, end: &str) -> bool {
    console.lines().any(|l| {
        let l = l.trim_end_matches('\r');
        l.starts_with(start) && l.ends_with(end)
    })
}

/// What every catalogue run must show when it is over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invariants<'a> {
    /// The cell holding the canary, which checks it (AArch64 `victim:
    /// canary ok <checksum> ...` lines), if the run has one.
    pub(crate) victim: Option<&'a str>,
    /// The cell ticking at 1 kHz (`<cell>: window N: T ticks in 2000 ms`),
    /// if the run has one: every window within 1 %.
    pub(crate) witness: Option<&'a str>,
    /// Whether the machine may power off (every cell stopped).
    pub(crate) may_power_off: bool,
}

/// The global invariants: no panic, nothing not contained, no corrupted
/// canary, the canary's checksum constant, the witness's windows within
/// 1 % of 2,000 ticks, no power-off unless allowed.
pub(crate) fn assert_invariants(console: &str, invariants: Invariants<'_>, transcript: &str) {
    let violations = invariant_violations(console, invariants);
    assert!(
        violations.is_empty(),
        "{}\n{transcript}",
        violations.join("\n")
    );
}

/// What of the global invariants `console` breaks (empty: none).
pub(crate) fn invariant_violations(console: &str, invariants: Invariants<'_>) -> Vec<String> {
    let lines: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut violations = Vec::new();
    if lines.iter().any(|l| l.starts_with("PANIC")) {
        violations.push("the hypervisor panicked".to_string());
    }
    if console.contains("NOT CONTAINED") {
        violations.push("something was not contained".to_string());
    }
    if !invariants.may_power_off
        && lines
            .iter()
            .any(|l| l.starts_with("bulkhead: every cell has stopped"))
    {
        violations.push("the machine powered off".to_string());
    }
    if let Some(victim) = invariants.victim {
        let prefix = format!("[{victim}] victim: canary ok ");
        let sums: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        if sums.len() < 2 {
            violations.push(format!(
                "the victim checked its canary {} times",
                sums.len()
            ));
        }
        if sums.iter().any(|s| *s != sums[0]) {
            violations.push(format!("the canary changed: {sums:?}"));
        }
        if console.contains("CANARY") {
            violations.push("the victim reported its canary corrupted".to_string());
        }
    }
    if let Some(witness) = invariants.witness {
        let windows = witness_windows(console, witness);
        if windows.is_empty() {
            violations.push("no witness window".to_string());
        }
        if windows.iter().any(|ticks| !(1980..=2020).contains(ticks)) {
            violations.push(format!(
                "a witness window off by more than 1 % of 2000 ticks: {windows:?}"
            ));
        }
    }
    violations
}

/// The tick counts of `witness`'s 2 s windows (`ticker: window N: T ticks
/// in 2000 ms`), in order.
pub(crate) fn witness_windows(console: &str, witness: &str) -> Vec<u64> {
    let prefix = format!("[{witness}] ticker: window ");
    console
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split(": ").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_numbered_1_to_74() {
        for (i, (n, _, _)) in CATALOGUE.iter().enumerate() {
            assert_eq!(usize::from(*n), i + 1);
        }
    }

    #[test]
    fn attempt_lines_parse_and_a_forged_one_in_another_cell_does_not_count() {
        let console = "[intruder] attempt 12.1 read rtc 0x9010000: contained (fault esr=0x96000010 far=0x9010000)\n\
            [victim] [intruder] attempt 12.2 write gpio: contained (x)\n\
            [intruder] attempt 33.3 cpu_on mpidr 0x100: contained (-2)\r\n";
        let seen = attempts(console, "intruder");
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].id, "12.1");
        assert_eq!(seen[0].what, "read rtc 0x9010000");
        assert_eq!(seen[0].observed, "fault esr=0x96000010 far=0x9010000");
        assert_eq!(seen[1].observed, "-2");
        assert_eq!(numbers(&["12.1", "12.2", "33.3"]), [12, 33]);
    }
}
