//! `cargo xtask fuzz` and `cargo xtask soak`: a fuzzer cell (and, for the
//! soak, a restart storm) beside a victim and a witness, under QEMU (the
//! `catalogue` guest's groups 5 and 6, on GICv3 or GICv2) or Bochs (the
//! `x86-intruder`'s groups 8 and 9); what must hold afterwards is the
//! catalogue's invariants.
//!
//! Both write their config into `target/fuzz/` (the fuzzer's seed and
//! operation count travel in its cell's `boot-arg`), build it and boot it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::catalogue::{Invariants, invariant_violations, witness_windows};
use crate::dist::{BuildOptions, Dist, build};
use crate::{bochs, paths, qemu};

/// The machine a fuzz or soak run boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    /// QEMU `virt`, GICv3.
    Gicv3,
    /// QEMU `virt`, GICv2.
    Gicv2,
    /// Bochs, x86_64 with VT-x and EPT (`bochs-x86_64-4cpu`).
    Bochs,
}

impl Machine {
    fn platform(self) -> &'static str {
        match self {
            Machine::Gicv3 => "qemu-virt-aarch64",
            Machine::Gicv2 => "qemu-virt-aarch64-gicv2",
            Machine::Bochs => "bochs-x86_64-4cpu",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Machine::Gicv3 => "gicv3",
            Machine::Gicv2 => "gicv2",
            Machine::Bochs => "bochs",
        }
    }

    /// The fuzzer guest's group number (its boot-arg's low byte).
    fn fuzz_group(self) -> u64 {
        match self {
            Machine::Bochs => 8,
            _ => 5,
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

/// A cell of the generated configs: `ram` is (guest, host, size) of its
/// memory, `image` (guest, boot-arg, fault policy); x86 guests print
/// through their virtual COM1 (`virtual_console`).
fn cell(
    out: &mut String,
    name: &str,
    cpu: u32,
    ram: (u64, u64, &str),
    image: (&str, u64, &str),
    virtual_console: bool,
) {
    let (gpa, hpa, size) = ram;
    let (guest, boot_arg, policy) = image;
    let _ = write!(
        out,
        "\n[[cell]]\nname = \"{name}\"\ncpus = [{cpu}]\nfault-policy = \"{policy}\"\n\
         image = {{ guest = \"{guest}\", kind = \"elf\", boot-arg = {boot_arg:#x} }}\n"
    );
    if virtual_console {
        out.push_str("console = \"virtual\"\n");
    }
    let _ = write!(
        out,
        "\n[[cell.memory]]\ngpa = {gpa:#x}\nhpa = {hpa:#x}\nsize = \"{size}\"\nperm = \"rwx\"\n"
    );
}

/// The AArch64 config text: victim on CPU 0, witness on CPU 1 (`windows`
/// windows of 2 s), the fuzzer on CPU 2, and the storm on CPU 3 if asked.
fn aarch64_config(machine: Machine, fuzz_arg: u64, windows: u64, storm: bool) -> String {
    let mut text = format!(
        "# Written by `cargo xtask fuzz`/`soak` (xtask/src/fuzz.rs).\nplatform = \"{}\"\n\n\
         [hypervisor]\nmemory = {{ base = 0x4020_0000, size = \"14M\" }}\n",
        machine.platform()
    );
    let ram = |hpa| (0x4000_0000, hpa, "16M");
    cell(
        &mut text,
        "victim",
        0,
        ram(0x4100_0000),
        ("victim", 0, "halt"),
        false,
    );
    cell(
        &mut text,
        "witness",
        1,
        ram(0x4200_0000),
        ("ticker", windows, "halt"),
        false,
    );
    cell(
        &mut text,
        "fuzzer",
        2,
        ram(0x4300_0000),
        ("catalogue", fuzz_arg, "inject"),
        false,
    );
    if storm {
        cell(
            &mut text,
            "storm",
            3,
            ram(0x4400_0000),
            ("catalogue", 6, "inject"),
            false,
        );
    }
    text
}

/// The x86 config text (Bochs): the catalogue's victim (canary) on CPU 0,
/// its witness (1 kHz ticks) on CPU 1, the fuzzer (`x86-intruder` group 8)
/// on CPU 2 and the storm (group 9) on CPU 3 if asked. The fuzzer writes
/// `DONE` on the status channel when it has finished; the victim and the
/// witness then power off (they read it).
fn x86_config(fuzz_arg: u64, storm: bool) -> String {
    let mut text = format!(
        "# Written by `cargo xtask fuzz`/`soak` (xtask/src/fuzz.rs).\nplatform = \"{}\"\n\n\
         [hypervisor]\nmemory = {{ base = 0x10_0000, size = \"15M\" }}\nconsole = \"com1\"\nlog = \"none\"\n",
        Machine::Bochs.platform()
    );
    cell(
        &mut text,
        "victim",
        0,
        (0, 0x100_0000, "16M"),
        ("x86-victim", 1, "halt"),
        true,
    );
    cell(
        &mut text,
        "witness",
        1,
        (0, 0x300_0000, "4M"),
        ("x86-victim", 2, "halt"),
        true,
    );
    cell(
        &mut text,
        "fuzzer",
        2,
        (0, 0x200_0000, "4M"),
        ("x86-intruder", fuzz_arg, "inject"),
        true,
    );
    if storm {
        cell(
            &mut text,
            "storm",
            3,
            (0, 0x400_0000, "4M"),
            ("x86-intruder", 9, "inject"),
            true,
        );
    }
    text.push_str(
        "\n[[channel]]\nname = \"status\"\nhpa = 0x0600_0000\nsize = \"4K\"\nends = [\n    \
         { cell = \"fuzzer\", gpa = 0x1000_0000, perm = \"rw\" },\n    \
         { cell = \"victim\", gpa = 0x1000_0000, perm = \"r\" },\n    \
         { cell = \"witness\", gpa = 0x1000_0000, perm = \"r\" },\n]\n",
    );
    text
}

/// Writes the config of a run into `target/fuzz/`.
fn write_config(
    name: &str,
    machine: Machine,
    fuzz_arg: u64,
    windows: u64,
    storm: bool,
) -> Result<PathBuf> {
    let text = match machine {
        Machine::Bochs => x86_config(fuzz_arg, storm),
        _ => aarch64_config(machine, fuzz_arg, windows, storm),
    };
    let dir = paths::target_dir().join("fuzz");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}-{}.toml", machine.name()));
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// The fuzzer's boot-arg: its group, `seed` in bits 63:32, `ops` in 31:8.
fn fuzz_arg(machine: Machine, seed: u32, ops: u64) -> u64 {
    u64::from(seed) << 32 | (ops & MAX_OPS) << 8 | machine.fuzz_group()
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
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with("[fuzzer] fuzz: "))
        .find_map(|l| Some((number_before(l, " ops")?, number_before(l, " faults")?)))
        .unwrap_or((0, 0))
}

/// What a run printed: the console (cells' tagged lines and the
/// hypervisor's) and everything, for messages.
struct Run {
    console: String,
    transcript: String,
}

impl From<qemu::RunOutput> for Run {
    fn from(out: qemu::RunOutput) -> Self {
        let transcript = out.transcript();
        Run {
            console: out.console,
            transcript,
        }
    }
}

impl From<bochs::RunOutput> for Run {
    fn from(out: bochs::RunOutput) -> Self {
        let transcript = out.transcript();
        Run {
            console: out.serial,
            transcript,
        }
    }
}

/// Boots `dist` on `machine` until `done` holds for the console text or
/// `limit` passes.
fn boot(
    machine: Machine,
    dist: &Dist,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> Result<Run> {
    Ok(match machine {
        Machine::Bochs => bochs::run_captured(dist, limit, done)?.into(),
        _ => qemu::run_captured(dist, limit, done)?.into(),
    })
}

fn outcome(run: Run) -> Outcome {
    let console = &run.console;
    let (ops, faults) = fuzz_progress(console);
    let storm_boots = console
        .lines()
        .rev()
        .filter_map(|l| {
            l.trim_end_matches('\r')
                .strip_prefix("[storm] storm: boot ")
        })
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Outcome {
        ops,
        faults,
        windows: witness_windows(console, "witness"),
        canary_checks: console
            .lines()
            .filter(|l| l.starts_with("[victim] victim: canary ok "))
            .count(),
        storm_boots,
        transcript: run.transcript,
    }
}

/// Fails with every broken invariant, and the transcript.
fn require_invariants(run: &Run, may_power_off: bool) -> Result<()> {
    let violations = invariant_violations(
        &run.console,
        Invariants {
            victim: Some("victim"),
            witness: Some("witness"),
            may_power_off,
        },
    );
    if !violations.is_empty() {
        bail!("{}\n{}", violations.join("\n"), run.transcript);
    }
    Ok(())
}

/// Operations a second the fuzzer manages at least (for time limits):
/// about 75,000 under QEMU, about 1,000 under Bochs, on a loaded machine
/// fewer.
fn slowest_rate(machine: Machine) -> u64 {
    match machine {
        Machine::Bochs => 100,
        _ => 2_000,
    }
}

/// Runs the fuzzer for `ops` operations from `seed`: its final line must
/// come and the invariants must hold.
pub fn fuzz(seed: u32, ops: u64, machine: Machine) -> Result<Outcome> {
    if ops == 0 || ops > MAX_OPS {
        bail!("--ops must be 1..={MAX_OPS}");
    }
    // A few minutes more for the build, the boot and a loaded machine.
    let limit = Duration::from_secs(180 + ops / slowest_rate(machine));
    let windows = limit.as_secs() / 2 + 30;
    let path = write_config(
        "fuzz",
        machine,
        fuzz_arg(machine, seed, ops),
        windows,
        false,
    )?;
    let dist = build(&path, &BuildOptions::default())?;
    let run = boot(machine, &dist, limit, |text| match machine {
        // The victim and the witness power off after the fuzzer: the
        // machine stops by itself.
        Machine::Bochs => text.contains("bulkhead: every cell has stopped"),
        _ => text
            .find("[fuzzer] fuzz: done")
            .is_some_and(|at| text[at..].contains("[witness] ticker: window ")),
    })?;
    if !run.console.contains("[fuzzer] fuzz: done") {
        bail!(
            "the fuzzer did not finish in {} s:\n{}",
            limit.as_secs(),
            run.transcript
        );
    }
    require_invariants(&run, machine == Machine::Bochs)?;
    Ok(outcome(run))
}

/// Runs the fuzzer (for ever), the restart storm, the victim and the
/// witness together for `minutes`; the invariants must hold, and the
/// fuzzer and the storm must have kept going.
pub fn soak(minutes: u64, seed: u32, machine: Machine) -> Result<Outcome> {
    let windows = minutes * 30 + 60;
    let path = write_config("soak", machine, fuzz_arg(machine, seed, 0), windows, true)?;
    let dist = build(&path, &BuildOptions::default())?;
    let started = Instant::now();
    let length = Duration::from_secs(minutes * 60);
    let run = boot(machine, &dist, length + Duration::from_secs(600), |text| {
        text.contains("[witness] ticker: window ") && started.elapsed() >= length
    })?;
    require_invariants(&run, false)?;
    let outcome = outcome(run);
    if outcome.ops == 0 || outcome.storm_boots < 2 {
        bail!(
            "the fuzzer ({} ops) or the storm ({} boots) stopped:\n{}",
            outcome.ops,
            outcome.storm_boots,
            outcome.transcript
        );
    }
    // Under QEMU, at least half the windows the wall time allows (QEMU's
    // guest time is wall time; a loaded machine loses some). Bochs' time is
    // its instruction count: a few windows are enough.
    let expected = match machine {
        Machine::Bochs => 2,
        _ => minutes * 30 / 2,
    };
    if (outcome.windows.len() as u64) < expected {
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
        let arg = fuzz_arg(Machine::Gicv3, 0xdead_beef, 123_456);
        assert_eq!(arg & 0xff, 5);
        assert_eq!(fuzz_arg(Machine::Bochs, 1, 1) & 0xff, 8);
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
