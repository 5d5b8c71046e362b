//! `cargo xtask bench`: what Bulkhead costs its guests, in instructions.
//!
//! The `bench` guest (tests/guests/bench) measures each figure with the
//! virtual counter and prints `bench: <figure> key=value ...` lines. It runs
//! twice per GIC version in the same `cargo xtask bench`: in a Bulkhead cell
//! (tests/configs/bench/) and directly on QEMU at EL1 (bare), both under
//! `-icount shift=0,sleep=off`, where QEMU's virtual clock advances one
//! nanosecond per instruction and the 62.5 MHz counter one tick per 16
//! instructions: the figures are instruction counts (the hypervisor's own
//! instructions included in a cell) and read the same on every machine.
//! Boot wall time is measured separately without `-icount` (median of 5)
//! and is the only figure that varies between runs.
//!
//! x86_64 figures come from the `x86-bench` guest in a cell under Bochs
//! (tests/configs/bench/bochs-bench.toml, one run): Bochs has no `-icount`,
//! but with `clock: sync=none` its TSC advances one tick per emulated
//! instruction (the guest calibrates it with a loop of known length, and
//! runs are identical), so these are instruction counts too. There is no
//! bare x86 run: the guest needs the hypervisor's entry state.
//!
//! The report is printed as a table and written as JSON to
//! `target/bench/latest.json`; `--compare OLD.json` flags every
//! deterministic figure that got worse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::build::{BuildOptions, Dist, build, section_sizes};
use crate::paths;
use crate::qemu;

/// Instructions per counter tick under `-icount shift=0` (1 ns per
/// instruction, 62.5 MHz counter).
pub const INSTRUCTIONS_PER_TICK: f64 = 16.0;

/// How long one bench run may take (wall time) before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// What `cargo xtask bench` does.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// GICv3 only and one boot-time sample (what CI runs); the x86_64 run
    /// (deterministic, a few seconds) is in both modes.
    pub quick: bool,
}

/// One GIC version's configs.
struct Variant {
    /// Column prefix: `gicv3`, `gicv2`.
    name: &'static str,
    /// The bench config (a cell running the bench guest).
    config: &'static str,
    /// QEMU `-machine` for the bare run.
    bare_machine: &'static str,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        name: "gicv3",
        config: "tests/configs/bench/bench.toml",
        bare_machine: "virt,gic-version=3",
    },
    Variant {
        name: "gicv2",
        config: "tests/configs/bench/bench-gicv2.toml",
        bare_machine: "virt,gic-version=2",
    },
];

/// `-icount` and a virtual-clock RTC: every run sees the same machine.
const DETERMINISTIC: [&str; 4] = [
    "-icount",
    "shift=0,sleep=off",
    "-rtc",
    "base=2020-01-01T00:00:00,clock=vm",
];

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Figure name.
    pub figure: String,
    /// Unit of the values.
    pub unit: String,
    /// Whether the figure is the same on every run (instruction counts,
    /// counters, sizes); wall times are not.
    pub deterministic: bool,
    /// What we aim at, if anything.
    pub target: String,
    /// Values by column (`gicv3 cell`, `gicv3 bare`, ...).
    pub values: BTreeMap<String, f64>,
    /// The smallest change the measurement can show (one counter tick
    /// spread over the repetitions); 0 for exact counts.
    #[serde(default)]
    pub resolution: f64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Columns in display order.
    pub columns: Vec<String>,
    /// Rows in display order.
    pub rows: Vec<Row>,
}

impl Report {
    fn row(&mut self, figure: &str, unit: &str, deterministic: bool, target: &str) -> &mut Row {
        if let Some(index) = self.rows.iter().position(|r| r.figure == figure) {
            return &mut self.rows[index];
        }
        self.rows.push(Row {
            figure: figure.into(),
            unit: unit.into(),
            deterministic,
            target: target.into(),
            values: BTreeMap::new(),
            resolution: 0.0,
        });
        self.rows.last_mut().expect("just pushed")
    }

    fn set(&mut self, figure: &str, unit: &str, target: &str, column: &str, value: f64) {
        let deterministic = unit != "ms wall";
        self.row(figure, unit, deterministic, target)
            .values
            .insert(column.into(), value);
        if !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.into());
        }
    }

    /// The value of `figure` in `column`.
    pub fn get(&self, figure: &str, column: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.figure == figure)?
            .values
            .get(column)
            .copied()
    }

    /// The deterministic figures only (what must match between runs).
    pub fn deterministic(&self) -> Vec<(String, String, f64)> {
        self.rows
            .iter()
            .filter(|r| r.deterministic)
            .flat_map(|r| {
                r.values
                    .iter()
                    .map(|(c, v)| (r.figure.clone(), c.clone(), *v))
            })
            .collect()
    }

    /// The report as a text table: the AArch64 columns, then the x86_64
    /// ones in a block of their own (each block lists only its rows).
    pub fn table(&self) -> String {
        let (x86, aarch64): (Vec<&String>, Vec<&String>) =
            self.columns.iter().partition(|c| c.starts_with(X86_PREFIX));
        let mut out = self.block(&aarch64);
        if !x86.is_empty() {
            out.push_str("\nx86_64 (Bochs)\n");
            out.push_str(&self.block(&x86));
        }
        out
    }

    /// The rows with a value in one of `columns`, under a header line.
    fn block(&self, columns: &[&String]) -> String {
        let mut out = String::new();
        let width = self
            .rows
            .iter()
            .map(|r| r.figure.len())
            .max()
            .unwrap_or(6)
            .max(6);
        out.push_str(&format!("{:<width$}  {:<14}", "figure", "unit"));
        for column in columns {
            out.push_str(&format!("  {column:>12}"));
        }
        out.push_str("  target\n");
        for row in &self.rows {
            if !columns.iter().any(|c| row.values.contains_key(*c)) {
                continue;
            }
            out.push_str(&format!("{:<width$}  {:<14}", row.figure, row.unit));
            for column in columns {
                match row.values.get(*column) {
                    Some(v) if v.fract() == 0.0 => out.push_str(&format!("  {v:>12.0}")),
                    Some(v) => out.push_str(&format!("  {v:>12.1}")),
                    None => out.push_str(&format!("  {:>12}", "-")),
                }
            }
            out.push_str(&format!("  {}\n", row.target));
        }
        out
    }

    /// Deterministic figures of `self` that are worse (higher) than in
    /// `old`, as `figure column: old -> new` lines. Every figure is "lower
    /// is better"; wall times are not compared (they vary).
    pub fn worse_than(&self, old: &Report) -> Vec<String> {
        let mut worse = Vec::new();
        for (figure, column, value) in self.deterministic() {
            // A change within one counter tick is the sampling moving, not
            // the code getting slower.
            let resolution = self
                .rows
                .iter()
                .find(|r| r.figure == figure)
                .map_or(0.0, |r| r.resolution);
            if let Some(before) = old.get(&figure, &column)
                && value > before + resolution + 1e-6
            {
                worse.push(format!("{figure} ({column}): {before} -> {value}"));
            }
        }
        worse
    }
}

/// `bench: <figure> key=value ...` lines of a run, by figure.
pub fn parse(console: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut figures = BTreeMap::new();
    for line in console.lines() {
        let Some(at) = line.find("bench: ") else {
            continue;
        };
        let mut words = line[at + "bench: ".len()..].split_whitespace();
        let Some(figure) = words.next() else {
            continue;
        };
        let pairs = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        figures.insert(figure.to_string(), pairs);
    }
    figures
}

fn number(pairs: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    pairs.get(key)?.parse().ok()
}

/// Instructions per repetition of a `ticks=T n=N` figure, to 0.1.
fn per_repetition(pairs: &BTreeMap<String, String>) -> Option<f64> {
    let ticks = number(pairs, "ticks")?;
    let n = number(pairs, "n").unwrap_or(1.0).max(1.0);
    Some((ticks * INSTRUCTIONS_PER_TICK / n * 10.0).round() / 10.0)
}

/// The figures a run of the bench guest gives, into `report` under
/// `column`.
fn record_run(report: &mut Report, column: &str, console: &str) -> Result<()> {
    let figures = parse(console);
    if !figures.contains_key("done") {
        bail!("the bench guest did not finish ({column}):\n{console}");
    }
    let instructions = [
        (
            "first_instruction",
            "first guest instruction after reset",
            "<= 50000 (cell)",
        ),
        ("gic_setup", "guest GIC set-up", "<= 2x bare"),
        ("null_call", "null call (HVC) round trip", "<= 150 (cell)"),
        ("mmio_read", "trapped MMIO read (UART FR)", ""),
        ("timer_latency", "timer deadline -> handler", ""),
        ("sgi_latency", "SGI send -> handler", ""),
        ("device_latency", "device IRQ (PL031) -> handler", ""),
        ("compute", "compute workload", "= bare"),
        ("memory_walk", "8 MiB memory walk", "= bare"),
    ];
    for (key, name, target) in instructions {
        if let Some(pairs) = figures.get(key)
            && let Some(value) = per_repetition(pairs)
        {
            report.set(name, "instructions", target, column, value);
            let n = number(pairs, "n").unwrap_or(1.0).max(1.0);
            let row = report.row(name, "instructions", true, target);
            // Figures are rounded to 0.1: round the resolution up to match.
            let tick = (INSTRUCTIONS_PER_TICK / n * 10.0).ceil() / 10.0;
            row.resolution = row.resolution.max(tick);
        }
    }
    if let Some(exits) = figures.get("idle_exits").and_then(|p| number(p, "exits")) {
        let seconds = figures["idle_exits"]
            .get("seconds")
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(1.0);
        report.set("exits/s, idle guest", "exits", "", column, exits / seconds);
    }
    if let Some(pairs) = figures.get("tick_exits")
        && let (Some(exits), Some(ticks)) = (number(pairs, "exits"), number(pairs, "ticks"))
    {
        let seconds = number(pairs, "seconds").unwrap_or(1.0);
        report.set(
            "exits/s, 1 kHz timer guest",
            "exits",
            "",
            column,
            exits / seconds,
        );
        if ticks > 0.0 {
            report.set(
                "exits per timer interrupt",
                "exits",
                "<= 1",
                column,
                (exits / ticks * 100.0).round() / 100.0,
            );
        }
    }
    Ok(())
}

/// The x86_64 bench config (run under Bochs).
const X86_CONFIG: &str = "tests/configs/bench/bochs-bench.toml";
/// Columns of x86_64 figures start with this (a block of their own).
const X86_PREFIX: &str = "x86_64";
/// The one x86_64 column: the bench guest in a cell under Bochs.
const X86_COLUMN: &str = "x86_64 cell";

/// The figures of an x86-bench run (TSC ticks, calibrated to
/// instructions) into `report` under [`X86_COLUMN`].
fn record_x86_run(report: &mut Report, console: &str) -> Result<()> {
    let figures = parse(console);
    let calibration = figures.get("tsc_empty").zip(figures.get("compute"));
    let (Some((empty, compute)), true) = (calibration, figures.contains_key("done")) else {
        bail!("the x86 bench guest did not finish");
    };
    let (Some(empty), Some(ticks), Some(instructions)) = (
        number(empty, "ticks"),
        number(compute, "ticks"),
        number(compute, "instructions"),
    ) else {
        bail!("unreadable x86 calibration lines");
    };
    // The loop's known instructions over the ticks they took (the ticks of
    // two back-to-back RDTSCs subtracted).
    let loop_ticks = ticks - empty;
    if loop_ticks <= 0.0 || instructions <= 0.0 {
        bail!("the TSC did not advance over the x86 calibration loop");
    }
    let per_instruction = loop_ticks / instructions;
    report.set(
        "compute loop (calibration)",
        "TSC ticks",
        &format!("= {instructions} (instructions)"),
        X86_COLUMN,
        loop_ticks,
    );
    report
        .row("compute loop (calibration)", "TSC ticks", true, "")
        .resolution = 1.0;
    report.set(
        "TSC ticks per instruction",
        "ticks",
        "",
        X86_COLUMN,
        (per_instruction * 1000.0).round() / 1000.0,
    );
    report
        .row("TSC ticks per instruction", "ticks", true, "")
        .resolution = 0.001;
    let instructions = [
        ("null_call", "null call (VMCALL) round trip"),
        ("cpuid", "CPUID leaf 0 (filtered, exits)"),
        ("io_read", "trapped I/O read (COM1 LSR)"),
        ("msr_read", "x2APIC ID read (MSR, no exit)"),
    ];
    for (key, name) in instructions {
        let Some(pairs) = figures.get(key) else {
            bail!("no x86 `{key}` figure");
        };
        let (Some(ticks), n) = (number(pairs, "ticks"), number(pairs, "n").unwrap_or(1.0)) else {
            bail!("unreadable x86 `{key}` figure");
        };
        let n = n.max(1.0);
        let value = (ticks / per_instruction / n * 10.0).round() / 10.0;
        report.set(name, "instructions", "", X86_COLUMN, value);
        // One tick over the repetitions, rounded up to the 0.1 shown.
        let tick = (1.0 / per_instruction / n * 10.0).ceil() / 10.0;
        report.row(name, "instructions", true, "").resolution = tick;
    }
    Ok(())
}

/// Builds and runs the x86 bench guest under Bochs once; its figures go
/// into `report`.
fn run_x86(report: &mut Report) -> Result<()> {
    let dist = build(
        &paths::workspace().join(X86_CONFIG),
        &BuildOptions::default(),
    )
    .with_context(|| format!("build {X86_CONFIG}"))?;
    let out = crate::bochs::run_captured(&dist, RUN_TIMEOUT, |text| text.contains("bench: done"))?;
    record_x86_run(report, &out.serial).with_context(|| out.transcript())
}

/// The bench guest's ELF (built by the cell build).
fn guest_elf() -> PathBuf {
    paths::workspace().join("target/aarch64-unknown-none/release/guest-bench")
}

/// Runs the bench guest in a cell under `-icount`.
fn run_cell(dist: &Dist) -> Result<qemu::RunOutput> {
    let mut command = qemu::command(dist)?;
    command.args(DETERMINISTIC);
    qemu::capture(command, Some(dist), RUN_TIMEOUT, &[], |text| {
        text.contains("bench: done")
    })
}

/// The bare QEMU command: the guest ELF at EL1, 2 CPUs, PSCI over HVC.
fn bare_command(machine: &str) -> Command {
    let mut command = Command::new("qemu-system-aarch64");
    command
        .current_dir(paths::workspace())
        .args(["-machine", machine, "-cpu", "cortex-a57", "-smp", "2"])
        .args(["-m", "1024", "-nographic", "-kernel"])
        .arg(guest_elf());
    command
}

fn run_bare(machine: &str) -> Result<qemu::RunOutput> {
    let mut command = bare_command(machine);
    command.args(DETERMINISTIC);
    qemu::capture(command, None, RUN_TIMEOUT, &[], |text| {
        text.contains("bench: done")
    })
}

/// Wall time from starting QEMU (without `-icount`) to the guest's first
/// `bench:` line, median of `samples` runs.
fn wall_to_first_line(mut make: impl FnMut() -> Result<Command>, samples: usize) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..samples {
        let command = make()?;
        let started = Instant::now();
        let seen = std::sync::Mutex::new(None);
        let out = qemu::capture(command, None, RUN_TIMEOUT, &[], |text| {
            if text.contains("bench: ") {
                let mut seen = seen.lock().expect("not poisoned");
                if seen.is_none() {
                    *seen = Some(started.elapsed());
                }
                true
            } else {
                false
            }
        })?;
        let Some(elapsed) = *seen.lock().expect("not poisoned") else {
            bail!("no guest line within the time limit:\n{}", out.console);
        };
        times.push(elapsed.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2].round())
}

/// Stage-2 figures from the hypervisor log line `cell C: stage-2 root R,
/// T of M tables, A 1 GiB blocks, B 2 MiB blocks, P pages`.
fn stage2_figures(log: &[String]) -> Option<[f64; 4]> {
    let line = log.iter().find(|l| l.contains("stage-2 root"))?;
    let numbers: Vec<f64> = line
        .split(", ")
        .skip(1)
        .filter_map(|part| part.split_whitespace().next()?.parse().ok())
        .collect();
    match numbers[..] {
        [tables, gib, mib, pages] => Some([tables, gib, mib, pages]),
        _ => None,
    }
}

/// Runs every measurement and returns the report.
pub fn run(options: &Options) -> Result<Report> {
    let mut report = Report {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    let variants = if options.quick {
        &VARIANTS[..1]
    } else {
        &VARIANTS[..]
    };
    let samples = if options.quick { 1 } else { 5 };
    for variant in variants {
        let dist = build(
            &paths::workspace().join(variant.config),
            &BuildOptions::default(),
        )
        .with_context(|| format!("build {}", variant.config))?;
        let cell_column = format!("{} cell", variant.name);
        let bare_column = format!("{} bare", variant.name);
        let cell = run_cell(&dist)?;
        record_run(&mut report, &cell_column, &cell.console)?;
        let bare = run_bare(variant.bare_machine)?;
        record_run(&mut report, &bare_column, &bare.console)?;
        // Sizes and stage-2 tables of the cell build.
        for (name, size) in section_sizes(&dist.elf)? {
            if matches!(name.as_str(), ".text" | ".data" | ".bss") {
                report.set(
                    &format!("hypervisor {name}"),
                    "bytes",
                    "",
                    &cell_column,
                    size as f64,
                );
            }
        }
        report.set(
            "hypervisor image (with the cell's)",
            "bytes",
            "",
            &cell_column,
            dist.image_size as f64,
        );
        if let Some([tables, gib, mib, pages]) = stage2_figures(&cell.log) {
            report.set(
                "stage-2 tables (bench cell)",
                "tables",
                "",
                &cell_column,
                tables,
            );
            report.set("stage-2 1 GiB blocks", "blocks", "", &cell_column, gib);
            report.set("stage-2 2 MiB blocks", "blocks", "", &cell_column, mib);
            report.set("stage-2 4 KiB pages", "pages", "", &cell_column, pages);
        }
        // Boot wall time, no -icount.
        let cell_wall = wall_to_first_line(|| qemu::command(&dist), samples)?;
        let bare_wall = wall_to_first_line(|| Ok(bare_command(variant.bare_machine)), samples)?;
        report.set(
            "boot: QEMU start -> first guest line",
            "ms wall",
            "<= 1.2x bare",
            &cell_column,
            cell_wall,
        );
        report.set(
            "boot: QEMU start -> first guest line",
            "ms wall",
            "<= 1.2x bare",
            &bare_column,
            bare_wall,
        );
    }
    // The hypervisor's boot with a single core (a one-core QEMU virt).
    let dist = build(
        &paths::workspace().join(ONE_CORE_CONFIG),
        &BuildOptions::default(),
    )
    .with_context(|| format!("build {ONE_CORE_CONFIG}"))?;
    let one_core = run_cell(&dist)?;
    let figures = parse(&one_core.console);
    if let Some(value) = figures.get("first_instruction").and_then(per_repetition) {
        report.set(
            "first guest instruction after reset, 1 core",
            "instructions",
            "<= 50000 (cell)",
            "gicv3 cell",
            value,
        );
    }
    // x86_64 under Bochs: deterministic and about 5 s, so --quick too.
    run_x86(&mut report)?;
    Ok(report)
}

/// A one-core machine with a one-core bench cell (boot cost only).
const ONE_CORE_CONFIG: &str = "tests/configs/bench/bench-1core.toml";

/// Writes `report` as JSON to `path` (folders created).
pub fn save(report: &Report, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("write {}", path.display()))
}

/// Reads a report written by [`save`].
pub fn load(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// Where reports go.
pub fn output_dir() -> PathBuf {
    paths::workspace().join("target/bench")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_lines_are_parsed_and_converted_to_instructions() {
        let console = "noise\n[bench] bench: null_call ticks=6250 n=1000\nbench: compute ticks=100 n=1 check=abcd\nbench: idle_exits exits=n/a\nbench: done\n";
        let figures = parse(console);
        assert_eq!(figures["null_call"]["ticks"], "6250");
        assert_eq!(figures["compute"]["check"], "abcd");
        // 6250 ticks x 16 instructions / 1000 calls = 100 instructions.
        assert_eq!(per_repetition(&figures["null_call"]), Some(100.0));
        let mut report = Report {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        record_run(&mut report, "gicv3 cell", console).unwrap();
        assert_eq!(
            report.get("null call (HVC) round trip", "gicv3 cell"),
            Some(100.0)
        );
        assert_eq!(report.get("exits/s, idle guest", "gicv3 cell"), None);
        assert!(record_run(&mut report, "x", "bench: null_call ticks=1 n=1").is_err());
    }

    #[test]
    fn comparison_flags_only_worse_deterministic_figures() {
        let mut old = Report {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        old.set("null call", "instructions", "", "gicv3 cell", 100.0);
        old.set("boot", "ms wall", "", "gicv3 cell", 1000.0);
        let mut new = old.clone();
        assert!(new.worse_than(&old).is_empty());
        // Within one tick of resolution: the sampling moved, not flagged.
        new.row("null call", "instructions", true, "").resolution = 16.0;
        new.set("null call", "instructions", "", "gicv3 cell", 116.0);
        assert!(new.worse_than(&old).is_empty());
        new.set("null call", "instructions", "", "gicv3 cell", 117.0);
        new.set("boot", "ms wall", "", "gicv3 cell", 5000.0);
        assert_eq!(new.worse_than(&old), ["null call (gicv3 cell): 100 -> 117"]);
        assert!(old.worse_than(&new).is_empty());
        assert!(new.table().contains("null call"));
    }

    #[test]
    fn x86_lines_are_calibrated_to_instructions_in_their_own_block() {
        let console = "[bench] bench: tsc_empty ticks=5\n\
                       [bench] bench: compute ticks=800005 n=1 instructions=400000\n\
                       [bench] bench: null_call ticks=372000 n=1000\n\
                       [bench] bench: cpuid ticks=288000 n=1000\n\
                       [bench] bench: io_read ticks=522000 n=1000\n\
                       [bench] bench: msr_read ticks=14000 n=1000\n\
                       [bench] bench: done\n";
        let mut report = Report {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        report.set(
            "null call (HVC) round trip",
            "instructions",
            "",
            "gicv3 cell",
            491.0,
        );
        record_x86_run(&mut report, console).unwrap();
        // 2 ticks per instruction: every figure is halved.
        assert_eq!(
            report.get("TSC ticks per instruction", X86_COLUMN),
            Some(2.0)
        );
        assert_eq!(
            report.get("compute loop (calibration)", X86_COLUMN),
            Some(800000.0)
        );
        assert_eq!(
            report.get("null call (VMCALL) round trip", X86_COLUMN),
            Some(186.0)
        );
        assert_eq!(
            report.get("trapped I/O read (COM1 LSR)", X86_COLUMN),
            Some(261.0)
        );
        assert_eq!(
            report.get("x2APIC ID read (MSR, no exit)", X86_COLUMN),
            Some(7.0)
        );
        assert!(
            report
                .deterministic()
                .iter()
                .any(|(_, c, _)| c == X86_COLUMN)
        );
        let table = report.table();
        let (aarch64, x86) = table.split_once("x86_64 (Bochs)").unwrap();
        assert!(aarch64.contains("null call (HVC)") && !aarch64.contains("VMCALL"));
        assert!(x86.contains("VMCALL") && !x86.contains("HVC") && !x86.contains("gicv3"));
        // A run that stopped early is an error, not missing figures.
        let cut = &console[..console.find("bench: cpuid").unwrap()];
        assert!(record_x86_run(&mut report, cut).is_err());
    }

    #[test]
    fn stage2_line_is_read() {
        let log = vec![
            "INFO  cell bench: stage-2 root 0x4023c000, 4 of 7 tables, 0 1 GiB blocks, 8 2 MiB blocks, 17 pages (cells.rs:109)".to_string(),
        ];
        assert_eq!(stage2_figures(&log), Some([4.0, 0.0, 8.0, 17.0]));
    }
}
