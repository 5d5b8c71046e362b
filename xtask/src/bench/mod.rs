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

mod figures;
mod report;
mod runs;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::dist::{BuildOptions, Dist, build};
use crate::layout::section_sizes;
use crate::{paths, qemu};
pub use figures::{INSTRUCTIONS_PER_TICK, parse};
use figures::{per_repetition, record_run, stage2_figures};
pub use report::{Report, Row};
use runs::{VARIANTS, Variant, bare_command, run_bare, run_cell, run_x86, wall_to_first_line};

/// What `cargo xtask bench` does.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// GICv3 only and one boot-time sample (what CI runs); the x86_64 run
    /// (deterministic, a few seconds) is in both modes.
    pub quick: bool,
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
        run_variant(&mut report, variant, samples)?;
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

/// One GIC version: the bench guest in a cell and bare (figures, then boot
/// wall time over `samples` runs each), and the cell build's sizes.
fn run_variant(report: &mut Report, variant: &Variant, samples: usize) -> Result<()> {
    let dist = build(
        &paths::workspace().join(variant.config),
        &BuildOptions::default(),
    )
    .with_context(|| format!("build {}", variant.config))?;
    let cell_column = format!("{} cell", variant.name);
    let bare_column = format!("{} bare", variant.name);
    let cell = run_cell(&dist)?;
    record_run(report, &cell_column, &cell.console)?;
    let bare = run_bare(variant.bare_machine)?;
    record_run(report, &bare_column, &bare.console)?;
    record_build(report, &dist, &cell_column, &cell.log)?;
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
    Ok(())
}

/// Sizes and stage-2 tables of the cell build (`log`: its hypervisor log).
fn record_build(report: &mut Report, dist: &Dist, column: &str, log: &[String]) -> Result<()> {
    for (name, size) in section_sizes(&dist.elf)? {
        if matches!(name.as_str(), ".text" | ".data" | ".bss") {
            report.set(
                &format!("hypervisor {name}"),
                "bytes",
                "",
                column,
                size as f64,
            );
        }
    }
    report.set(
        "hypervisor image (with the cell's)",
        "bytes",
        "",
        column,
        dist.image_size as f64,
    );
    if let Some([tables, gib, mib, pages]) = stage2_figures(log) {
        report.set("stage-2 tables (bench cell)", "tables", "", column, tables);
        report.set("stage-2 1 GiB blocks", "blocks", "", column, gib);
        report.set("stage-2 2 MiB blocks", "blocks", "", column, mib);
        report.set("stage-2 4 KiB pages", "pages", "", column, pages);
    }
    Ok(())
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
