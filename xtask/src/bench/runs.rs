//! The runs a bench makes: the bench guest in a cell and bare under QEMU
//! (`-icount`), boot wall times, and the x86 guest under Bochs.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::figures::record_x86_run;
use super::report::Report;
use crate::dist::{BuildOptions, Dist, build};
use crate::{paths, qemu};

/// How long one bench run may take (wall time) before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// One GIC version's configs.
pub(super) struct Variant {
    /// Column prefix: `gicv3`, `gicv2`.
    pub(super) name: &'static str,
    /// The bench config (a cell running the bench guest).
    pub(super) config: &'static str,
    /// QEMU `-machine` for the bare run.
    pub(super) bare_machine: &'static str,
}

pub(super) const VARIANTS: [Variant; 2] = [
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

/// The x86_64 bench config (run under Bochs).
const X86_CONFIG: &str = "tests/configs/bench/bochs-bench.toml";

/// Builds and runs the x86 bench guest under Bochs once; its figures go
/// into `report`.
pub(super) fn run_x86(report: &mut Report) -> Result<()> {
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
pub(super) fn run_cell(dist: &Dist) -> Result<qemu::RunOutput> {
    let mut command = qemu::command(dist)?;
    command.args(DETERMINISTIC);
    qemu::capture(command, Some(dist), RUN_TIMEOUT, &[], |text| {
        text.contains("bench: done")
    })
}

/// The bare QEMU command: the guest ELF at EL1, 2 CPUs, PSCI over HVC.
pub(super) fn bare_command(machine: &str) -> Command {
    let mut command = Command::new("qemu-system-aarch64");
    command
        .current_dir(paths::workspace())
        .args(["-machine", machine, "-cpu", "cortex-a57", "-smp", "2"])
        .args(["-m", "1024", "-nographic", "-kernel"])
        .arg(guest_elf());
    command
}

pub(super) fn run_bare(machine: &str) -> Result<qemu::RunOutput> {
    let mut command = bare_command(machine);
    command.args(DETERMINISTIC);
    qemu::capture(command, None, RUN_TIMEOUT, &[], |text| {
        text.contains("bench: done")
    })
}

/// Wall time from starting QEMU (without `-icount`) to the guest's first
/// `bench:` line, median of `samples` runs.
pub(super) fn wall_to_first_line(
    mut make: impl FnMut() -> Result<Command>,
    samples: usize,
) -> Result<f64> {
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
