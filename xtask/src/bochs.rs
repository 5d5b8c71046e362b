//! x86_64 images under Bochs: the host tools (installed like QEMU), the
//! GRUB ISO, the bochsrc, and interactive and captured runs.
//!
//! Bochs' pitfalls (docs/x86-prototype/NOTES.md) are handled here once:
//! Debian's Bochs has no headless display library, so the rfb one runs with
//! `timeout=0` (it does not wait for a VNC client); it is built with the
//! internal debugger, so it is started with `-rc dbg.rc` whose `c` continues
//! at once; a host without a sound card needs the dummy sound drivers; and a
//! machine that powers off through the "Shutdown" port 0x8900 makes Bochs
//! exit with status 1, which the log tells apart from a real failure.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bulkhead_config::Config;

use crate::build::Dist;
use crate::qemu::InstallPlan;

/// Where Debian's `bochsbios` and `vgabios` put the ROM images.
pub const BIOS: &str = "/usr/share/bochs/BIOS-bochs-latest";
/// The VGA BIOS (a link into the `vgabios` package, which `bochs` does not
/// pull in).
pub const VGA_BIOS: &str = "/usr/share/bochs/VGABIOS-lgpl-latest";

/// Bochs' message when the guest writes "Shutdown" to port 0x8900.
const SHUTDOWN_MESSAGE: &str = "Shutdown port: shutdown requested";

/// Files a run writes next to the ISO, in `target/dist/<config>/`.
pub const BOCHSRC: &str = "bochsrc";
/// The debugger script: `c` runs the machine at once; `quit` ends Bochs
/// when anything drops it into its debugger, such as a Ctrl-C (SIGINT).
pub const DEBUGGER_SCRIPT: &str = "dbg.rc";
/// COM1, written by Bochs as the guest sends it.
pub const SERIAL: &str = "serial.txt";
/// Bochs' own log.
pub const LOG: &str = "bochs.log";
/// Bochs' standard output: the port 0xe9 debug console (and debugger
/// chatter).
pub const STDOUT: &str = "bochs-stdout.txt";
/// Bochs' standard error: its start-up messages (plugins, config).
pub const STDERR: &str = "bochs-stderr.txt";
/// The GRUB ISO `cargo xtask build` makes for x86_64 configs.
pub const ISO: &str = "bulkhead.iso";

/// Something a host tool check looks for, and the Debian package with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// A program on `PATH` (no `/`) or a file (an absolute path).
    pub what: &'static str,
    /// The Debian/Ubuntu package that provides it.
    pub package: &'static str,
}

/// What making the ISO needs: GRUB's BIOS modules and tools, xorriso and
/// mtools (grub-mkrescue calls both).
pub const ISO_TOOLS: &[Tool] = &[
    Tool {
        what: "grub-mkrescue",
        package: "grub-common",
    },
    Tool {
        what: "grub-file",
        package: "grub-common",
    },
    Tool {
        what: "/usr/lib/grub/i386-pc/multiboot2.mod",
        package: "grub-pc-bin",
    },
    Tool {
        what: "xorriso",
        package: "xorriso",
    },
    Tool {
        what: "mformat",
        package: "mtools",
    },
];

/// What running Bochs needs: the emulator, its BIOS and the VGA BIOS.
pub const BOCHS_TOOLS: &[Tool] = &[
    Tool {
        what: "bochs",
        package: "bochs",
    },
    Tool {
        what: BIOS,
        package: "bochsbios",
    },
    Tool {
        what: VGA_BIOS,
        package: "vgabios",
    },
];

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

fn present(tool: &Tool) -> bool {
    if tool.what.starts_with('/') {
        Path::new(tool.what).exists()
    } else {
        on_path(tool.what)
    }
}

/// The packages of `tools` whose tool is missing, each once, in order.
pub fn missing_packages(tools: &[Tool]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for tool in tools.iter().filter(|t| !present(t)) {
        if !packages.contains(&tool.package) {
            packages.push(tool.package);
        }
    }
    packages
}

/// How to get `packages`: install them with apt when running as root on a
/// system with apt, otherwise the exact command to run.
pub fn install_plan(packages: &[&str], is_root: bool, has_apt: bool) -> InstallPlan {
    let list = packages.join(" ");
    let command = format!("apt-get update && apt-get install -y {list}");
    if is_root && has_apt {
        InstallPlan::Install(command)
    } else if has_apt {
        InstallPlan::Explain(format!(
            "{list} {} not installed; install with:\n    sudo sh -c '{command}'",
            if packages.len() == 1 { "is" } else { "are" }
        ))
    } else {
        InstallPlan::Explain(format!(
            "{list} {} not installed; install Bochs 2.7 (with its BIOS and the VGA BIOS), \
             GRUB's PC/BIOS modules, xorriso and mtools with your package manager \
             (Debian/Ubuntu: `sudo apt-get install {list}`)",
            if packages.len() == 1 { "is" } else { "are" }
        ))
    }
}

/// Makes sure every tool is there: installs the missing packages with apt
/// when running as root, otherwise explains how.
pub fn ensure_tools(tools: &[Tool]) -> Result<()> {
    let missing = missing_packages(tools);
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    match install_plan(&missing, is_root, on_path("apt-get")) {
        InstallPlan::Install(command) => {
            eprintln!("{} missing; installing: {command}", missing.join(", "));
            let status = Command::new("sh")
                .args(["-c", &command])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("run apt-get")?;
            let still = missing_packages(tools);
            if status.success() && still.is_empty() {
                return Ok(());
            }
            bail!(
                "installing {} failed; run `{command}` yourself",
                missing.join(" ")
            );
        }
        InstallPlan::Explain(text) => bail!("{text}"),
    }
}

/// Whether `bochs` and its ROMs are installed (for tests that must fail,
/// not skip, when they are missing).
pub fn available() -> bool {
    missing_packages(BOCHS_TOOLS).is_empty()
}

/// GRUB's configuration on the ISO: no menu, straight into the hypervisor.
pub const GRUB_CFG: &str = "set timeout=0\nmultiboot2 /boot/bulkhead.elf\nboot\n";

/// Checks that `elf` is a multiboot2 image and wraps it in a bootable GRUB
/// (BIOS) ISO `dir/bulkhead.iso`; returns its path.
pub fn make_iso(elf: &Path, dir: &Path) -> Result<PathBuf> {
    ensure_tools(ISO_TOOLS)?;
    let status = Command::new("grub-file")
        .arg("--is-x86-multiboot2")
        .arg(elf)
        .status()
        .context("run grub-file")?;
    if !status.success() {
        bail!(
            "{} is not a multiboot2 image (grub-file --is-x86-multiboot2): its `.multiboot2` \
             header must lie 8-aligned in the first 32 KiB of the file (linker/x86_64.ld puts \
             it first)",
            elf.display()
        );
    }
    let tree = dir.join("iso");
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("remove {}", tree.display()))?;
    }
    std::fs::create_dir_all(tree.join("boot/grub"))?;
    std::fs::copy(elf, tree.join("boot/bulkhead.elf"))?;
    std::fs::write(tree.join("boot/grub/grub.cfg"), GRUB_CFG)?;
    let iso = dir.join(ISO);
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&tree)
        .output()
        .context("run grub-mkrescue")?;
    let log = dir.join("grub-mkrescue.log");
    std::fs::write(&log, [output.stdout, output.stderr].concat())?;
    if !output.status.success() {
        bail!(
            "grub-mkrescue failed ({}); see {}",
            output.status,
            log.display()
        );
    }
    Ok(iso)
}

/// The Bochs settings of the config's platform.
fn settings(config: &Config) -> Result<&bulkhead_config::model::Bochs> {
    config.platform.bochs.as_ref().with_context(|| {
        format!(
            "platform `{}` has no [bochs] table: it cannot run under Bochs",
            config.platform.name
        )
    })
}

/// The bochsrc for booting `iso` with the config's platform; every other
/// file lives in `dir`.
pub fn bochsrc(config: &Config, iso: &Path, dir: &Path) -> Result<String> {
    let bochs = settings(config)?;
    let file = |name: &str| dir.join(name).display().to_string();
    let mut rc = String::new();
    let _ = writeln!(
        rc,
        "# @generated by `cargo xtask` for {} on {}: do not edit.",
        config.name, config.platform.name
    );
    let _ = writeln!(rc, "megs: {}", bochs.megs);
    // Triple faults stop the simulation (a panic in the log), never reset
    // the machine into the BIOS again.
    let _ = writeln!(
        rc,
        "cpu: model={}, count={}, ips={}, reset_on_triple_fault=0",
        bochs.cpu_model,
        config.platform.cpus.len(),
        bochs.ips
    );
    let _ = writeln!(rc, "romimage: file={BIOS}");
    let _ = writeln!(rc, "vgaromimage: file={VGA_BIOS}");
    let _ = writeln!(
        rc,
        "ata0-master: type=cdrom, path={}, status=inserted",
        iso.display()
    );
    let _ = writeln!(rc, "boot: cdrom");
    let _ = writeln!(rc, "com1: enabled=1, mode=file, dev={}", file(SERIAL));
    // Bytes written to port 0xe9 appear on Bochs' standard output.
    let _ = writeln!(rc, "port_e9_hack: enabled=1");
    // Debian's Bochs has no headless display: rfb without waiting for a
    // client. No sound card on a build machine: dummy drivers, or Bochs'
    // mixer thread aborts before the guest runs.
    let _ = writeln!(rc, "display_library: rfb, options=\"timeout=0\"");
    let _ = writeln!(rc, "speaker: enabled=0");
    let _ = writeln!(
        rc,
        "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy"
    );
    let _ = writeln!(rc, "log: {}", file(LOG));
    let _ = writeln!(rc, "panic: action=fatal");
    let _ = writeln!(rc, "error: action=report");
    let _ = writeln!(rc, "info: action=report");
    let _ = writeln!(rc, "debug: action=ignore");
    // Virtual time from the instruction count alone, and a fixed date
    // (2000-01-01): runs are repeatable.
    let _ = writeln!(rc, "clock: sync=none, time0=946684800");
    Ok(rc)
}

/// The files of one Bochs run.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// `target/dist/<config>/`.
    pub dir: PathBuf,
    /// The bochsrc.
    pub bochsrc: PathBuf,
    /// The debugger script.
    pub script: PathBuf,
    /// COM1's output.
    pub serial: PathBuf,
    /// Bochs' log.
    pub log: PathBuf,
    /// Bochs' standard output (port 0xe9).
    pub stdout: PathBuf,
    /// Bochs' standard error.
    pub stderr: PathBuf,
}

/// Writes the bochsrc and debugger script for a built x86_64 config and
/// clears the previous run's output.
pub fn prepare(dist: &Dist) -> Result<RunFiles> {
    let iso = dist.dir.join(ISO);
    if !iso.is_file() {
        bail!(
            "{} is missing: `cargo xtask build` makes it for x86_64 configs",
            iso.display()
        );
    }
    let files = RunFiles {
        dir: dist.dir.clone(),
        bochsrc: dist.dir.join(BOCHSRC),
        script: dist.dir.join(DEBUGGER_SCRIPT),
        serial: dist.dir.join(SERIAL),
        log: dist.dir.join(LOG),
        stdout: dist.dir.join(STDOUT),
        stderr: dist.dir.join(STDERR),
    };
    std::fs::write(&files.bochsrc, bochsrc(&dist.config, &iso, &dist.dir)?)?;
    std::fs::write(&files.script, "c\nquit\n")?;
    for old in [&files.serial, &files.log, &files.stdout, &files.stderr] {
        let _ = std::fs::remove_file(old);
    }
    Ok(files)
}

/// `bochs -q -f bochsrc -rc dbg.rc`, standard input closed, standard output
/// to `bochs-stdout.txt`, standard error to `bochs-stderr.txt`. It stays in the terminal's process
/// group: a Ctrl-C drops Bochs into its debugger, which reads `quit` from
/// the script and exits (status 0).
pub fn command(files: &RunFiles) -> Result<Command> {
    let create = |path: &Path| {
        std::fs::File::create(path).with_context(|| format!("create {}", path.display()))
    };
    let mut command = Command::new("bochs");
    command
        .current_dir(&files.dir)
        .arg("-q")
        .arg("-f")
        .arg(&files.bochsrc)
        .arg("-rc")
        .arg(&files.script)
        .stdin(Stdio::null())
        .stdout(create(&files.stdout)?)
        .stderr(create(&files.stderr)?);
    Ok(command)
}

/// How a Bochs run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The guest wrote "Shutdown" to port 0x8900 (Bochs exits with 1).
    PoweredOff,
    /// Bochs exited for another reason (a panic, a triple fault, ...).
    Exited(ExitStatus),
    /// `until` appeared on COM1 and Bochs was stopped.
    Stopped,
    /// The time limit ran out and Bochs was stopped.
    TimedOut,
}

/// Whether Bochs' log says the guest powered the machine off.
pub fn powered_off(log: &str) -> bool {
    log.contains(SHUTDOWN_MESSAGE)
}

/// Bochs' panics and errors from its log, for messages (the last few).
/// Log lines read `<tick><level>[<device>] ...`, level `i`, `d`, `e` or
/// `p`.
pub fn log_problems(log: &str) -> String {
    fn level(line: &str) -> Option<&str> {
        let bracket = line.find('[')?;
        let (tick, level) = line[..bracket].split_at(bracket.checked_sub(1)?);
        (!tick.is_empty() && tick.bytes().all(|b| b.is_ascii_digit())).then_some(level)
    }
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| matches!(level(l), Some("e" | "p")))
        .collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Reads what `file` got past `offset` (it may not exist yet).
fn read_new(file: &Path, offset: &mut u64) -> Vec<u8> {
    let Ok(mut f) = std::fs::File::open(file) else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(*offset)).is_ok() && f.read_to_end(&mut bytes).is_ok() {
        *offset += bytes.len() as u64;
    }
    bytes
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs Bochs until it exits, `done` returns true for COM1's text so far,
/// or `timeout` passes; `serial` gets COM1's bytes as they arrive.
fn supervise(
    files: &RunFiles,
    timeout: Duration,
    mut serial: impl FnMut(&[u8]),
    done: impl Fn(&str) -> bool,
) -> Result<(Ending, String)> {
    ensure_tools(BOCHS_TOOLS)?;
    let mut child = command(files)?.spawn().context("start bochs")?;
    let started = Instant::now();
    let mut offset = 0;
    let mut text = Vec::new();
    let poll = |offset: &mut u64, text: &mut Vec<u8>, serial: &mut dyn FnMut(&[u8])| {
        let new = read_new(&files.serial, offset);
        if !new.is_empty() {
            serial(&new);
            text.extend_from_slice(&new);
        }
    };
    let ending = loop {
        if let Some(status) = child.try_wait()? {
            poll(&mut offset, &mut text, &mut serial);
            let log = std::fs::read_to_string(&files.log).unwrap_or_default();
            break if powered_off(&log) {
                Ending::PoweredOff
            } else {
                Ending::Exited(status)
            };
        }
        poll(&mut offset, &mut text, &mut serial);
        if done(&String::from_utf8_lossy(&text)) {
            // Let the last lines arrive, then stop the machine.
            std::thread::sleep(Duration::from_millis(300));
            poll(&mut offset, &mut text, &mut serial);
            stop(&mut child);
            break Ending::Stopped;
        }
        if started.elapsed() > timeout {
            stop(&mut child);
            break Ending::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    poll(&mut offset, &mut text, &mut serial);
    Ok((ending, String::from_utf8_lossy(&text).into_owned()))
}

/// Boots a built x86_64 config under Bochs on this terminal: COM1 is
/// printed as it arrives; Ctrl-C stops Bochs (and xtask). Returns how it
/// ended.
pub fn run_interactive(dist: &Dist) -> Result<Ending> {
    let files = prepare(dist)?;
    ensure_tools(BOCHS_TOOLS)?;
    eprintln!(
        "running: {} (in {})",
        crate::qemu::describe(&command(&files)?),
        crate::paths::shown(&files.dir).display()
    );
    eprintln!(
        "(COM1 follows; Ctrl-C stops Bochs; port 0xe9 output and Bochs' own messages are in {})",
        crate::paths::shown(&files.stdout).display()
    );
    let mut out = std::io::stdout();
    let (ending, _) = supervise(
        &files,
        Duration::MAX,
        |bytes| {
            let _ = out.write_all(bytes);
            let _ = out.flush();
        },
        |_| false,
    )?;
    if let Ending::Exited(status) = ending
        && !status.success()
    {
        let log = std::fs::read_to_string(&files.log).unwrap_or_default();
        eprintln!("{}", log_problems(&log));
    }
    Ok(ending)
}

/// What a captured Bochs run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// COM1: the hypervisor's console, with the cells' tagged lines.
    pub serial: String,
    /// Bochs' standard output: port 0xe9 bytes, among the debugger's lines.
    pub bochs_stdout: String,
    /// Panics and errors from Bochs' log.
    pub log_problems: String,
    /// How the run ended.
    pub ending: Ending,
    /// The command line.
    pub command: String,
}

impl RunOutput {
    /// Everything, for assertion messages.
    pub fn transcript(&self) -> String {
        format!(
            "$ {}\n--- COM1 ---\n{}\n--- Bochs stdout (port 0xe9) ---\n{}\n--- Bochs log problems ---\n{}\n--- ending: {:?} ---",
            self.command, self.serial, self.bochs_stdout, self.log_problems, self.ending
        )
    }
}

/// Boots a built x86_64 config under Bochs until Bochs exits, `done`
/// returns true for COM1's text so far, or `timeout` passes (then Bochs is
/// killed).
pub fn run_captured(
    dist: &Dist,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> Result<RunOutput> {
    let files = prepare(dist)?;
    let line = crate::qemu::describe(&command(&files)?);
    let (ending, serial) = supervise(&files, timeout, |_| {}, done)?;
    let log = std::fs::read_to_string(&files.log).unwrap_or_default();
    Ok(RunOutput {
        serial,
        bochs_stdout: String::from_utf8_lossy(&std::fs::read(&files.stdout).unwrap_or_default())
            .into_owned(),
        log_problems: log_problems(&log),
        ending,
        command: line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_packages_are_installed_as_root_and_explained_otherwise() {
        let packages = ["bochs", "vgabios"];
        assert_eq!(
            install_plan(&packages, true, true),
            InstallPlan::Install("apt-get update && apt-get install -y bochs vgabios".into())
        );
        let InstallPlan::Explain(text) = install_plan(&packages, false, true) else {
            panic!("a normal user must not get an install");
        };
        assert!(
            text.contains("sudo sh -c 'apt-get update && apt-get install -y bochs vgabios'"),
            "{text}"
        );
        let InstallPlan::Explain(text) = install_plan(&["xorriso"], true, false) else {
            panic!("no apt, no install");
        };
        assert!(text.contains("sudo apt-get install xorriso"), "{text}");
    }

    #[test]
    fn every_needed_package_is_named() {
        let mut packages: Vec<&str> = ISO_TOOLS
            .iter()
            .chain(BOCHS_TOOLS)
            .map(|t| t.package)
            .collect();
        packages.sort_unstable();
        packages.dedup();
        assert_eq!(
            packages,
            [
                "bochs",
                "bochsbios",
                "grub-common",
                "grub-pc-bin",
                "mtools",
                "vgabios",
                "xorriso"
            ]
        );
    }

    fn load(config: &str) -> Config {
        let path = crate::paths::workspace().join(config);
        bulkhead_config::load(&path, &crate::check::options(false))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_bochsrc_follows_the_platform() {
        let dir = Path::new("/dist");
        let rc = bochsrc(&load("configs/bochs-demo.toml"), &dir.join(ISO), dir).unwrap();
        for line in [
            "megs: 256",
            "cpu: model=corei7_skylake_x, count=2, ips=10000000, reset_on_triple_fault=0",
            "romimage: file=/usr/share/bochs/BIOS-bochs-latest",
            "vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest",
            "ata0-master: type=cdrom, path=/dist/bulkhead.iso, status=inserted",
            "boot: cdrom",
            "com1: enabled=1, mode=file, dev=/dist/serial.txt",
            "port_e9_hack: enabled=1",
            "display_library: rfb, options=\"timeout=0\"",
            "speaker: enabled=0",
            "sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy",
            "log: /dist/bochs.log",
            "clock: sync=none, time0=946684800",
        ] {
            assert!(rc.lines().any(|l| l == line), "no `{line}` in\n{rc}");
        }
        let rc = bochsrc(
            &load("tests/configs/bochs/demo-4cpu.toml"),
            &dir.join(ISO),
            dir,
        )
        .unwrap();
        assert!(rc.contains("count=4,"), "{rc}");
        let err = bochsrc(&load("configs/qemu-virt-demo.toml"), &dir.join(ISO), dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no [bochs] table"), "{err}");
    }

    #[test]
    fn the_shutdown_port_is_told_apart_from_a_panic() {
        let shutdown = "00095563540p[UNMAP ] >>PANIC<< Shutdown port: shutdown requested\n\
                        00095563540i[SIM   ] quit_sim called with exit code 1\n";
        assert!(powered_off(shutdown));
        let triple =
            "00012345678p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution\n";
        assert!(!powered_off(triple));
        assert!(log_problems(triple).contains("3rd (13) exception"));
        let info = "00000326185i[BIOS  ] Shutdown flag 0\n00000000000e[DEV   ] oops\n";
        assert_eq!(log_problems(info), "00000000000e[DEV   ] oops");
    }
}
