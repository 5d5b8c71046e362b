//! How long steps show: a spinner with the step and its time on a terminal
//! (the step's own output kept in a log, shown if it fails), plain
//! `==> step` lines with the output passing through in CI or with `-v`,
//! nothing but failures with `-q`.

use std::io::IsTerminal;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::paths;

/// How much xtask says (`-q`, default, `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Only failures.
    Quiet,
    /// Steps (a spinner on a terminal).
    Normal,
    /// Steps and everything they print.
    Verbose,
}

static VERBOSITY: AtomicU8 = AtomicU8::new(1);

/// Sets how much xtask says, for the whole process.
pub fn set_verbosity(verbosity: Verbosity) {
    VERBOSITY.store(verbosity as u8, Ordering::Relaxed);
}

fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// How a step is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A spinner; the step's output goes to a log file.
    Spinner,
    /// `==> step` and the step's output as it comes.
    Plain,
    /// Nothing; the step's output goes to a log file.
    Silent,
}

/// How to show steps: on a terminal outside CI a spinner, `-v` or CI
/// (or no terminal) plain lines, `-q` nothing.
pub fn display(terminal: bool, ci: bool, verbosity: Verbosity) -> Display {
    match verbosity {
        Verbosity::Quiet => Display::Silent,
        Verbosity::Verbose => Display::Plain,
        Verbosity::Normal if terminal && !ci => Display::Spinner,
        Verbosity::Normal => Display::Plain,
    }
}

/// Announces a step xtask does itself (unless `-q`).
pub fn heading(name: &str) {
    if verbosity() != Verbosity::Quiet {
        eprintln!("\n==> {name}");
    }
}

/// Runs `command` as the step `name`, shown as [`display`] decides for
/// this process (stderr a terminal, `CI` set, `-q`/`-v`).
pub fn step(name: &str, command: &mut Command) -> Result<()> {
    let how = display(
        std::io::stderr().is_terminal(),
        std::env::var_os("CI").is_some(),
        verbosity(),
    );
    let started = Instant::now();
    if how == Display::Plain {
        eprintln!("\n==> {name}");
        let status = command
            .status()
            .with_context(|| format!("cannot start {name}"))?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        eprintln!(
            "    {name}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let dir = paths::target_dir().join("xtask-logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let log = dir.join(format!("{}.log", slug(name)));
    let file = std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
    let spinner = (how == Display::Spinner).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let status = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("cannot start {name}"));
    let seconds = started.elapsed().as_secs_f64();
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let status = status?;
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
        bail!(
            "{name} failed ({status}); its whole output: {}",
            paths::shown(&log).display()
        );
    }
    if spinner.is_some() {
        eprintln!("done: {name} ({seconds:.1} s)");
    }
    Ok(())
}

/// `name` as a file name.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug.split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_gets_a_spinner_ci_and_verbose_get_lines_quiet_nothing() {
        assert_eq!(display(true, false, Verbosity::Normal), Display::Spinner);
        assert_eq!(display(true, true, Verbosity::Normal), Display::Plain);
        assert_eq!(display(false, false, Verbosity::Normal), Display::Plain);
        assert_eq!(display(true, false, Verbosity::Verbose), Display::Plain);
        assert_eq!(display(true, false, Verbosity::Quiet), Display::Silent);
        assert_eq!(display(false, true, Verbosity::Quiet), Display::Silent);
    }

    #[test]
    fn step_names_become_file_names() {
        assert_eq!(
            slug("clippy (hypervisor, x86_64-unknown-none)"),
            "clippy-hypervisor-x86-64-unknown-none"
        );
    }

    #[test]
    fn a_failing_quiet_step_fails_with_its_log() {
        set_verbosity(Verbosity::Quiet);
        let err = step(
            "xtask progress selftest",
            Command::new("sh").args(["-c", "echo boom; exit 3"]),
        )
        .unwrap_err()
        .to_string();
        set_verbosity(Verbosity::Normal);
        assert!(err.contains("xtask progress selftest failed"), "{err}");
        let log = paths::target_dir().join("xtask-logs/xtask-progress-selftest.log");
        assert_eq!(std::fs::read_to_string(log).unwrap(), "boom\n");
    }
}
