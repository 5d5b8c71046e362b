//! `cargo xtask fuzz` and `cargo xtask soak`: the catalogue guest's fuzzer
//! (and, for the soak, its restart storm) beside a victim and a witness,
//! under QEMU; what must hold afterwards is the catalogue's invariants.
//!
//! Both write their config into `target/fuzz/` (the fuzzer's seed and
//! operation count travel in its cell's `boot-arg`), build it and boot it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::catalogue::{Invariants, invariant_violations, witness_windows};
use crate::dist::{BuildOptions, build};
use crate::{paths, qemu};

/// Which interrupt controller the machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gic {
    /// QEMU `virt`, GICv3.
    V3,
    /// QEMU `virt`, GICv2.
    V2,
}

impl Gic {
    fn platform(self) -> &'static str {
        match self {
            Gic::V3 => "qemu-virt-aarch64",
            Gic::V2 => "qemu-virt-aarch64-gicv2",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Gic::V3 => "gicv3",
            Gic::V2 => "gicv2",
        }
    }
}

/// Most operations one run can be asked for (24 bits of the boot-arg).
pub const MAX_OPS: u64 = 0xff_ffff;

/// What a fuzz or soak run showed.
#[derive(Debug)]
pub struct Outcome {
    /// Operations the fuzzer executed (from its last progress line).
    pub ops: u64,
    /// Its own faults among them (survived by policy `inject`).
    pub faults: u64,
    /// The witness's 2 s windows, in ticks.
    pub windows: Vec<u64>,
    /// The victim's canary checks.
    pub canary_checks: usize,
    /// The storm cell's boots (soak only).
    pub storm_boots: u64,
    /// Console, log, status.
    pub transcript: String,
}

/// A cell of the generated configs.
fn cell(
    out: &mut String,
    name: &str,
    cpu: u32,
    hpa: u32,
    guest: &str,
    boot_arg: u64,
    policy: &str,
) {
    let _ = write!(
        out,
        "\n[[cell]]\nname = \"{name}\"\ncpus = [{cpu}]\nfault-policy = \"{policy}\"\n\
         image = {{ guest = \"{guest}\", kind = \"elf\", boot-arg = {boot_arg:#x} }}\n\n\
         [[cell.memory]]\ngpa = 0x4000_0000\nhpa = {hpa:#x}\nsize = \"16M\"\nperm = \"rwx\"\n"
    );
}

/// Writes a config: victim on CPU 0, witness on CPU 1 (`windows` windows
/// of 2 s), the fuzzer on CPU 2, and the storm on CPU 3 if asked.
fn write_config(name: &str, gic: Gic, fuzz_arg: u64, windows: u64, storm: bool) -> Result<PathBuf> {
    let mut text = format!(
        "# Written by `cargo xtask fuzz`/`soak` (xtask/src/fuzz.rs).\nplatform = \"{}\"\n\n\
         [hypervisor]\nmemory = {{ base = 0x4020_0000, size = \"14M\" }}\n",
        gic.platform()
    );
    cell(&mut text, "victim", 0, 0x4100_0000, "victim", 0, "halt");
    cell(
        &mut text,
        "witness",
        1,
        0x4200_0000,
        "ticker",
        windows,
        "halt",
    );
    cell(
        &mut text,
        "fuzzer",
        2,
        0x4300_0000,
        "catalogue",
        fuzz_arg,
        "inject",
    );
    if storm {
        cell(&mut text, "storm", 3, 0x4400_0000, "catalogue", 6, "inject");
    }
    let dir = paths::target_dir().join("fuzz");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}-{}.toml", gic.name()));
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// The fuzzer's boot-arg: group 5, `seed` in bits 63:32, `ops` in 31:8.
fn fuzz_arg(seed: u32, ops: u64) -> u64 {
    u64::from(seed) << 32 | (ops & MAX_OPS) << 8 | 5
}

/// The numbers in the fuzzer's last progress or final line.
fn fuzz_progress(console: &str) -> (u64, u64) {
    let number_before = |line: &str, word: &str| -> Option<u64> {
        let at = line.find(word)?;
        line[..at]
            .split_whitespace()
            .last()?
            .trim_start_matches('(')
            .parse()
            .ok()
    };
    console
        .lines()
        .rev()
        .filter(|l| l.starts_with("[fuzzer] fuzz: "))
        .find_map(|l| Some((number_before(l, " ops")?, number_before(l, " faults")?)))
        .unwrap_or((0, 0))
}

fn outcome(out: &qemu::RunOutput) -> Outcome {
    let (ops, faults) = fuzz_progress(&out.console);
    let storm_boots = out
        .console
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("[storm] storm: boot "))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Outcome {
        ops,
        faults,
        windows: witness_windows(&out.console, "witness"),
        canary_checks: out
            .console
            .lines()
            .filter(|l| l.starts_with("[victim] victim: canary ok "))
            .count(),
        storm_boots,
        transcript: out.transcript(),
    }
}

/// Fails with every broken invariant, and the transcript.
fn require_invariants(out: &qemu::RunOutput) -> Result<()> {
    let violations = invariant_violations(
        &out.console,
        Invariants {
            victim: Some("victim"),
            witness: Some("witness"),
            may_power_off: false,
        },
    );
    if !violations.is_empty() {
        bail!("{}\n{}", violations.join("\n"), out.transcript());
    }
    Ok(())
}

/// Runs the fuzzer for `ops` operations from `seed`: its final line must
/// come and the invariants must hold.
pub fn fuzz(seed: u32, ops: u64, gic: Gic) -> Result<Outcome> {
    if ops == 0 || ops > MAX_OPS {
        bail!("--ops must be 1..={MAX_OPS}");
    }
    // About 20,000 operations a second under QEMU; a minute more for boot
    // and a loaded machine.
    let limit = Duration::from_secs(60 + ops / 2_000);
    let windows = limit.as_secs() / 2 + 30;
    let path = write_config("fuzz", gic, fuzz_arg(seed, ops), windows, false)?;
    let dist = build(&path, &BuildOptions::default())?;
    let out = qemu::run_captured(&dist, limit, |text| {
        text.find("[fuzzer] fuzz: done")
            .is_some_and(|at| text[at..].contains("[witness] ticker: window "))
    })?;
    if !out.console.contains("[fuzzer] fuzz: done") {
        bail!(
            "the fuzzer did not finish in {} s:\n{}",
            limit.as_secs(),
            out.transcript()
        );
    }
    require_invariants(&out)?;
    Ok(outcome(&out))
}

/// Runs the fuzzer (for ever), the restart storm, the victim and the
/// witness together for `minutes`; the invariants must hold, and the
/// fuzzer and the storm must have kept going.
pub fn soak(minutes: u64, seed: u32, gic: Gic) -> Result<Outcome> {
    let windows = minutes * 30 + 60;
    let path = write_config("soak", gic, fuzz_arg(seed, 0), windows, true)?;
    let dist = build(&path, &BuildOptions::default())?;
    let started = Instant::now();
    let length = Duration::from_secs(minutes * 60);
    let out = qemu::run_captured(&dist, length + Duration::from_secs(60), |_| {
        started.elapsed() >= length
    })?;
    require_invariants(&out)?;
    let outcome = outcome(&out);
    if outcome.ops == 0 || outcome.storm_boots < 2 {
        bail!(
            "the fuzzer ({} ops) or the storm ({} boots) stopped:\n{}",
            outcome.ops,
            outcome.storm_boots,
            outcome.transcript
        );
    }
    // At least half the windows the wall time allows (QEMU's guest time is
    // wall time; a loaded machine loses some).
    let expected = minutes * 30;
    if (outcome.windows.len() as u64) < expected / 2 {
        bail!(
            "{} witness windows in {minutes} minutes:\n{}",
            outcome.windows.len(),
            outcome.transcript
        );
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_arg_carries_group_seed_and_count() {
        let arg = fuzz_arg(0xdead_beef, 123_456);
        assert_eq!(arg & 0xff, 5);
        assert_eq!(arg >> 32, 0xdead_beef);
        assert_eq!((arg >> 8) & MAX_OPS, 123_456);
    }

    #[test]
    fn progress_is_read_from_the_last_fuzzer_line() {
        let console = "[fuzzer] fuzz: seed 0x1, 5 ops (0: for ever)\n\
            [fuzzer] fuzz: 20000 ops, 17 faults\n\
            [victim] fuzz: 99999 ops, 0 faults\n\
            [fuzzer] fuzz: done seed 0x1: 40000 ops (1 calls, 2 mmio, 3 sysregs), 33 faults\n";
        assert_eq!(fuzz_progress(console), (40_000, 33));
        assert_eq!(fuzz_progress(""), (0, 0));
    }
}
