//! The figures of a bench run: the guest's `bench:` lines (and the
//! hypervisor's stage-2 log line) turned into instruction counts.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::report::{Report, X86_COLUMN};

/// Instructions per counter tick under `-icount shift=0` (1 ns per
/// instruction, 62.5 MHz counter).
pub const INSTRUCTIONS_PER_TICK: f64 = 16.0;

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
pub(super) fn per_repetition(pairs: &BTreeMap<String, String>) -> Option<f64> {
    let ticks = number(pairs, "ticks")?;
    let n = number(pairs, "n").unwrap_or(1.0).max(1.0);
    Some((ticks * INSTRUCTIONS_PER_TICK / n * 10.0).round() / 10.0)
}

/// The figures a run of the bench guest gives, into `report` under
/// `column`.
pub(super) fn record_run(report: &mut Report, column: &str, console: &str) -> Result<()> {
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

/// The figures of an x86-bench run (TSC ticks, calibrated to
/// instructions) into `report` under [`X86_COLUMN`].
pub(super) fn record_x86_run(report: &mut Report, console: &str) -> Result<()> {
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

/// Stage-2 figures from the hypervisor log line `cell C: stage-2 root R,
/// T of M tables, A 1 GiB blocks, B 2 MiB blocks, P pages`.
pub(super) fn stage2_figures(log: &[String]) -> Option<[f64; 4]> {
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
