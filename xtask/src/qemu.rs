//! Running a built image under QEMU: the machine line, installing QEMU,
//! interactive and captured runs.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::dist::Dist;
use crate::hvlog::{LogDecoder, lost_line};
use crate::install::{Tool, ensure_tools, on_path};
use crate::log_ring::{RAM_BACKEND_ID, RingLocation, RingReader, fresh_ram_file, ram_file_of};
use crate::tools::describe;

/// The Debian/Ubuntu package that provides a QEMU binary.
fn package_of(binary: &str) -> &'static str {
    if binary.contains("x86_64") {
        "qemu-system-x86"
    } else {
        "qemu-system-arm"
    }
}

/// Makes sure `binary` is installed: installs its package with apt when
/// running as root on a Debian-like system, otherwise explains how.
pub fn ensure_installed(binary: &str) -> Result<()> {
    ensure_tools(&[Tool {
        what: binary,
        package: package_of(binary),
    }])
}

/// The QEMU command line for a built image.
pub fn command(dist: &Dist) -> Result<Command> {
    let platform = &dist.config.platform;
    let qemu = platform
        .qemu
        .as_ref()
        .with_context(|| format!("platform `{}` has no [qemu] section", platform.name))?;
    let load = format!("{:#x}", platform.load_address);
    let mut command = Command::new(&qemu.binary);
    command
        .current_dir(&dist.dir)
        .args([
            "-machine",
            &format!("{},memory-backend={RAM_BACKEND_ID}", qemu.machine),
        ])
        .args(["-cpu", &qemu.cpu])
        .args(["-smp", &platform.cpus.len().to_string()])
        .args(["-m", &qemu.memory_mib.to_string()])
        // The machine's RAM in a shared file, so the host reads the
        // hypervisor's log ring while it runs (`log_ring`).
        .args([
            "-object",
            &format!(
                "memory-backend-file,id={RAM_BACKEND_ID},size={}M,mem-path={},share=on",
                qemu.memory_mib,
                fresh_ram_file().display()
            ),
        ])
        .arg("-nographic")
        // QEMU's own escape key becomes Ctrl-] so that Ctrl-A, Bulkhead's
        // console switch, reaches the board (Ctrl-] X quits QEMU).
        .args(["-echr", "0x1d"])
        // The flat image, placed like a boot loader would, and the boot
        // core's PC; the other cores start powered off (PSCI CPU_ON).
        .args([
            "-device",
            &format!("loader,file=bulkhead.bin,addr={load},force-raw=on"),
        ])
        .args(["-device", &format!("loader,addr={load},cpu-num=0")]);
    for device in &qemu.devices {
        command.args(["-device", device]);
    }
    Ok(command)
}

/// Runs QEMU attached to the terminal, decoding hypervisor log records live
/// to stderr.
pub fn run_interactive(dist: &Dist) -> Result<ExitStatus> {
    let mut command = command(dist)?;
    ensure_installed(&command.get_program().to_string_lossy())?;
    eprintln!("running: {}", describe(&command));
    eprintln!(
        "(Ctrl-] X quits QEMU, Ctrl-A three times switches the console; hypervisor log records are shown as [hv] lines)"
    );
    let running = Arc::new(AtomicBool::new(true));
    let follower = match (ring_reader(&command, dist), LogDecoder::new(&dist.elf)) {
        (Ok(Some(ring)), Ok(decoder)) => Some(decoder.follow(ring, running.clone())),
        (Ok(None), _) => None,
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("note: log records will not be decoded: {e}");
            None
        }
    };
    let status = command.status().context("start QEMU");
    running.store(false, Ordering::Release);
    if let Some(follower) = follower {
        let _ = follower.join();
    }
    remove_ram_file(&command);
    status
}

/// A reader of the hypervisor's log ring in the machine `command` starts
/// (`None` if the image keeps no ring).
fn ring_reader(command: &Command, dist: &Dist) -> Result<Option<RingReader>> {
    let (Some(ram), Some(bank)) = (ram_file_of(command), dist.config.platform.ram.first()) else {
        return Ok(None);
    };
    Ok(RingLocation::find(&dist.elf, bank.base)?.map(|at| RingReader::new(ram, at)))
}

/// Deletes the machine's RAM file once QEMU has exited.
fn remove_ram_file(command: &Command) {
    if let Some(ram) = ram_file_of(command) {
        let _ = std::fs::remove_file(ram);
    }
}

/// What a captured run printed.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Everything on the console (the physical UART).
    pub console: String,
    /// Decoded hypervisor log records.
    pub log: Vec<String>,
    /// QEMU's exit status, if it exited by itself.
    pub status: Option<ExitStatus>,
    /// Whether the time limit ran out.
    pub timed_out: bool,
    /// The command line.
    pub command: String,
}

impl RunOutput {
    /// Console and log, for assertion messages.
    pub fn transcript(&self) -> String {
        format!(
            "$ {}\n--- console ---\n{}\n--- hypervisor log ---\n{}\n--- status: {:?}{} ---",
            self.command,
            self.console,
            self.log.join("\n"),
            self.status,
            if self.timed_out { ", timed out" } else { "" }
        )
    }
}

/// One step of scripted console input: once `after` appears on the console
/// (after the point where the previous step typed), type `input`.
#[derive(Debug, Clone, Copy)]
pub struct Typing<'a> {
    /// Console text to wait for.
    pub after: &'a str,
    /// Bytes typed then.
    pub input: &'a [u8],
}

/// Runs QEMU with its console captured until it exits, `done` returns true
/// for the console text so far, or `timeout` passes; then decodes the log.
pub fn run_captured(
    dist: &Dist,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> Result<RunOutput> {
    run_scripted(dist, timeout, &[], done)
}

/// [`run_captured`], typing each step of `script` on the console in order,
/// each once its text has appeared since the previous step typed.
pub fn run_scripted(
    dist: &Dist,
    timeout: Duration,
    script: &[Typing<'_>],
    done: impl Fn(&str) -> bool,
) -> Result<RunOutput> {
    let command = command(dist)?;
    capture(command, Some(dist), timeout, script, done)
}

/// Runs `command` (a QEMU command line) like [`run_scripted`]; with `dist`,
/// its hypervisor log is decoded too.
pub fn capture(
    mut command: Command,
    dist: Option<&Dist>,
    timeout: Duration,
    script: &[Typing<'_>],
    done: impl Fn(&str) -> bool,
) -> Result<RunOutput> {
    ensure_installed(&command.get_program().to_string_lossy())?;
    let mut log = LogCollector {
        ring: match dist {
            Some(dist) => ring_reader(&command, dist)?,
            None => None,
        },
        bytes: Vec::new(),
        lost: Vec::new(),
        dropped: 0,
    };
    let line = describe(&command);
    let mut child = command
        .stdin(if script.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start QEMU")?;
    let console = Arc::new(Mutex::new(String::new()));
    let pump = pump_text(child.stdout.take().context("QEMU stdout")?, console.clone());
    let mut stdin = child.stdin.take();
    let mut steps = script.iter().peekable();
    // Console text before this offset is older than the last typed step.
    let mut typed_at = 0;
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        let text = console.lock().unwrap();
        if let (Some(step), Some(input)) = (steps.peek(), stdin.as_mut())
            && text
                .get(typed_at..)
                .is_some_and(|new| new.contains(step.after))
        {
            input
                .write_all(step.input)
                .context("type on QEMU's console")?;
            input.flush().context("type on QEMU's console")?;
            typed_at = text.len();
            steps.next();
        }
        log.poll();
        let finished = done(&text);
        drop(text);
        if finished {
            // Let the last lines arrive, then stop the machine.
            std::thread::sleep(Duration::from_millis(200));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if started.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = pump.join();
    log.poll();
    remove_ram_file(&command);
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let mut console = std::mem::take(&mut *console.lock().unwrap());
    if !stderr.is_empty() {
        console.push_str("\n[qemu stderr] ");
        console.push_str(&stderr);
    }
    let log = log.decode(dist)?;
    Ok(RunOutput {
        console,
        log,
        status,
        timed_out,
        command: line,
    })
}

/// Reads `source` into `text` as it arrives, decoding UTF-8 incrementally
/// (a character split between reads waits for its end; invalid bytes
/// become U+FFFD), so a long run costs linear time.
fn pump_text(
    mut source: impl Read + Send + 'static,
    text: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            decode_into(&mut pending, &mut text.lock().unwrap());
        }
        text.lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&pending));
    })
}

/// Moves the decodable prefix of `pending` into `text`.
fn decode_into(pending: &mut Vec<u8>, text: &mut String) {
    loop {
        match std::str::from_utf8(pending) {
            Ok(valid) => {
                text.push_str(valid);
                pending.clear();
                return;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                text.push_str(&String::from_utf8_lossy(&pending[..valid]));
                match e.error_len() {
                    Some(bad) => {
                        text.push('\u{fffd}');
                        pending.drain(..valid + bad);
                    }
                    None => {
                        pending.drain(..valid);
                        return;
                    }
                }
            }
        }
    }
}

/// Log bytes a captured run keeps (the latest): a long soak logs far more,
/// and decoding all of it would take minutes.
const LOG_BYTES_KEPT: usize = 4 << 20;

/// The hypervisor's log records of a captured run, read from its ring.
struct LogCollector {
    ring: Option<RingReader>,
    bytes: Vec<u8>,
    /// Lines saying bytes were lost.
    lost: Vec<String>,
    /// Older bytes dropped to stay within [`LOG_BYTES_KEPT`].
    dropped: usize,
}

impl LogCollector {
    /// Takes what the hypervisor appended since the last poll.
    fn poll(&mut self) {
        if let Some(ring) = &mut self.ring {
            let polled = ring.poll();
            self.lost.extend(lost_line(&polled));
            self.bytes.extend_from_slice(&polled.bytes);
            if self.bytes.len() > LOG_BYTES_KEPT {
                let excess = self.bytes.len() - LOG_BYTES_KEPT / 2;
                self.bytes.drain(..excess);
                self.dropped += excess;
            }
        }
    }

    /// The decoded lines (loss notices first).
    fn decode(self, dist: Option<&Dist>) -> Result<Vec<String>> {
        let mut lines = self.lost;
        if self.dropped > 0 {
            lines.push(format!("[hv] ({} older log bytes not kept)", self.dropped));
        }
        if let Some(dist) = dist
            && !self.bytes.is_empty()
        {
            lines.extend(LogDecoder::new(&dist.elf)?.decode_all(&self.bytes));
        }
        Ok(lines)
    }
}

/// Whether a QEMU binary is available (for tests that must fail, not skip,
/// when it is missing in CI).
pub fn available(binary: &str) -> bool {
    on_path(binary)
}

/// Path helper for tests: the console text between two markers.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)?;
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_text_is_decoded_across_reads() {
        let mut text = String::new();
        let mut pending = "a€".as_bytes()[..3].to_vec();
        decode_into(&mut pending, &mut text);
        assert_eq!(
            (text.as_str(), pending.len()),
            ("a", 2),
            "the euro sign waits"
        );
        pending.extend_from_slice(&"€".as_bytes()[2..]);
        pending.extend_from_slice(b"\xffb");
        decode_into(&mut pending, &mut text);
        assert_eq!(text, "a€\u{fffd}b");
        assert!(pending.is_empty());
    }
}
