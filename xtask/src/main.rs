//! `cargo xtask`: check, build, run and test Bulkhead.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use bulkhead_config::model::Arch;
use clap::{Parser, Subcommand};
use xtask::bochs::{BOCHS_TOOLS, Ending};
use xtask::check::{CheckError, load_and_build_guests, table};
use xtask::dist::{BuildOptions, Dist, build};
use xtask::guests::{build_all_guests, guest_packages};
use xtask::install::ensure_tools;
use xtask::iso::ISO_TOOLS;
use xtask::layout::section_sizes;
use xtask::progress::heading;
use xtask::tools::cargo;
use xtask::{bochs, paths, qemu};

/// Bulkhead's build tool.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    /// Say only what fails.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Show everything each step prints (no spinners).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Validate a product config and print its partition table.
    ///
    /// Builds the guest crates the config names (their sizes are checked
    /// against the cells' memory), then prints cells, cores, memory, devices,
    /// interrupts and channels. Exits non-zero with `file:line:col` messages
    /// on the first build-breaking problems found.
    Check {
        /// The product config, e.g. configs/qemu-virt-demo.toml.
        config: PathBuf,
    },
    /// Draw the partition: target/dist/<config>/map.svg.
    ///
    /// Cores coloured by cell, the host physical memory map (RAM, the
    /// hypervisor, each cell's regions with their guest addresses, channels
    /// with every end, devices and their owners, interrupt controller
    /// frames), each cell's interrupts and a legend. `check` writes it too.
    Map {
        /// The product config, e.g. configs/qemu-virt-demo.toml.
        config: PathBuf,
    },
    /// Build the hypervisor and its guests into target/dist/<config>/.
    ///
    /// Outputs: bulkhead.elf (with symbols), layout.txt (where every section
    /// and cell lives), the guest ELFs, and what boots: on AArch64
    /// bulkhead.bin (the flat image to load at the platform's
    /// hypervisor-load-address), on x86_64 bulkhead.iso (GRUB, multiboot2).
    Build {
        /// The product config.
        config: PathBuf,
        /// Extra hypervisor cargo features (test-only, e.g. panic-selftest).
        #[arg(long, value_delimiter = ',')]
        features: Vec<String>,
    },
    /// Build a config and boot it under QEMU (AArch64) or Bochs (x86_64) on
    /// this terminal.
    ///
    /// Without CONFIG boots configs/qemu-virt-demo.toml. Installs QEMU, or
    /// Bochs and GRUB, with apt when missing and this runs as root;
    /// otherwise prints the command to install them. QEMU: hypervisor log
    /// records appear as `[hv]` lines. Bochs: COM1 is printed as it arrives
    /// (target/dist/<config>/serial.txt), Ctrl-C stops Bochs.
    Run {
        /// The product config.
        config: Option<PathBuf>,
    },
    /// Measure what Bulkhead costs its guests, in instructions.
    ///
    /// Runs the bench guest in a cell and directly on QEMU (bare), on GICv3
    /// and GICv2, under `-icount` (1 instruction = 1 ns, so the figures are
    /// instruction counts and read the same on every machine), plus boot
    /// wall time; and the x86-bench guest in a cell under Bochs, whose time
    /// stamp counter advances one tick per emulated instruction. Prints a
    /// table and writes target/bench/latest.json.
    Bench {
        /// GICv3 and x86_64 only, one boot-time sample (CI).
        #[arg(long)]
        quick: bool,
        /// A previous report: flag every figure that got worse (exit 1).
        #[arg(long)]
        compare: Option<PathBuf>,
    },
    /// Fuzz the hypervisor from a guest: seeded random hypercalls, SMC/HVC
    /// ids, PSCI calls, emulated MMIO (also forms no syndrome describes),
    /// trapped system registers, set/way operands and foreign addresses
    /// under QEMU; on Bochs (x86) VMCALL, CPUID, MSRs, port I/O, XSETBV,
    /// control registers, VMX instructions and foreign addresses; from a
    /// cell beside a victim (canary) and a witness (1 kHz ticks).
    ///
    /// Passes when the fuzzer finishes and the hypervisor and the other
    /// cells ran unaffected (no panic, canary intact, witness windows within
    /// 1 %). Prints operations, the fuzzer's own faults and the windows.
    Fuzz {
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u32,
        /// Operations (at most 16,777,215).
        #[arg(long, default_value_t = 100_000)]
        ops: u64,
        /// The machine: QEMU `virt` with GICv3 or GICv2, or Bochs (x86).
        #[arg(long, value_enum, default_value = "gicv3")]
        machine: xtask::fuzz::Machine,
    },
    /// Run the fuzzer (for ever), a restart storm, a victim and a witness
    /// together for MINUTES, then check the invariants.
    Soak {
        /// How long.
        #[arg(long, default_value_t = 2)]
        minutes: u64,
        /// The fuzzer's seed.
        #[arg(long, default_value_t = 1)]
        seed: u32,
        /// The machine: QEMU `virt` with GICv3 or GICv2, or Bochs (x86).
        #[arg(long, value_enum, default_value = "gicv3")]
        machine: xtask::fuzz::Machine,
    },
    /// Check the code's structure: no file over 600 lines of non-test code,
    /// no function over 100 lines, no files importing each other in a
    /// circle.
    ///
    /// Reads the Rust sources under each ROOT (default: src tables xtask;
    /// `tests/` folders left out) and prints `file:line` for each problem,
    /// every import circle with the names that tie it, and a summary.
    /// Exits non-zero on any problem.
    Structure {
        /// Folders (relative to the workspace) to check.
        #[arg(default_values = STRUCTURE_ROOTS)]
        roots: Vec<String>,
    },
    /// Run every check CI runs: format, structure, clippy (host and
    /// bare-metal targets), host unit and integration tests, the QEMU
    /// integration tests, then the Bochs (x86_64) integration tests.
    Test {
        /// Skip the QEMU and Bochs integration tests (for a quick local loop).
        #[arg(long)]
        host_only: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    xtask::progress::set_verbosity(match (cli.quiet, cli.verbose) {
        (true, _) => xtask::progress::Verbosity::Quiet,
        (_, true) => xtask::progress::Verbosity::Verbose,
        _ => xtask::progress::Verbosity::Normal,
    });
    // Before any thread starts (it sets this process's environment).
    if let Err(e) = xtask::toolchain::ensure() {
        eprintln!("{e:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Task::Check { config } => check(&config),
        Task::Map { config } => map(&config),
        Task::Build { config, features } => build_task(&config, features),
        Task::Run { config } => run(config),
        Task::Test { host_only } => test(host_only),
        Task::Bench { quick, compare } => bench(quick, compare),
        Task::Structure { roots } => structure(&roots),
        Task::Fuzz { seed, ops, machine } => {
            xtask::fuzz::fuzz(seed, ops, machine).map(|o| report_run("fuzz", &o))
        }
        Task::Soak {
            minutes,
            seed,
            machine,
        } => xtask::fuzz::soak(minutes, seed, machine).map(|o| report_run("soak", &o)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: &std::path::Path) -> Result<()> {
    let path = paths::config_path(config);
    let config = load_checked(&path)?;
    // Warnings do not fail the check; they go to stderr like errors.
    for warning in &config.warnings {
        eprintln!("{warning}");
    }
    print!("{}", table(&config));
    let map = write_map(&config)?;
    println!("\nmap: {}", paths::shown(&map).display());
    println!("ok: {} is valid", paths::shown(&path).display());
    Ok(())
}

fn map(config: &std::path::Path) -> Result<()> {
    let config = load_checked(&paths::config_path(config))?;
    println!("{}", paths::shown(&write_map(&config)?).display());
    Ok(())
}

/// The checked config at `path` (its guest crates built first), or its
/// `file:line:col` errors.
fn load_checked(path: &std::path::Path) -> Result<bulkhead_config::Config> {
    match load_and_build_guests(path) {
        Ok(config) => Ok(config),
        Err(CheckError::Config(errors)) => bail!("{errors}"),
        Err(CheckError::Other(e)) => Err(e),
    }
}

/// Writes `target/dist/<product>/map.svg`; its path.
fn write_map(config: &bulkhead_config::Config) -> Result<PathBuf> {
    let dir = paths::dist_dir(&config.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join("map.svg");
    std::fs::write(&path, xtask::map::render(config).svg)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

fn build_task(config: &std::path::Path, features: Vec<String>) -> Result<()> {
    let dist = build(&paths::config_path(config), &BuildOptions { features })?;
    println!(
        "built {} in {:.1} s",
        dist.config.name,
        dist.elapsed.as_secs_f64()
    );
    for (name, size) in section_sizes(&dist.elf)? {
        println!("  {name:<8} {size:>8} bytes");
    }
    let what = match dist.config.platform.arch {
        Arch::Aarch64 => "image",
        Arch::X86_64 => "iso",
    };
    println!(
        "  {what:<8} {:>8} bytes  {}",
        dist.image_size,
        paths::shown(&dist.image).display()
    );
    println!("  elf               {}", paths::shown(&dist.elf).display());
    println!(
        "  layout            {}",
        paths::shown(&dist.dir.join("layout.txt")).display()
    );
    Ok(())
}

fn run(config: Option<PathBuf>) -> Result<()> {
    let config = config.unwrap_or_else(|| PathBuf::from(paths::DEFAULT_CONFIG));
    let dist = build(&paths::config_path(&config), &BuildOptions::default())?;
    eprintln!(
        "built {} ({} bytes) in {:.1} s",
        paths::shown(&dist.image).display(),
        dist.image_size,
        dist.elapsed.as_secs_f64()
    );
    if dist.config.platform.arch == Arch::X86_64 {
        return run_bochs(&dist);
    }
    let status = qemu::run_interactive(&dist)?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}

fn run_bochs(dist: &Dist) -> Result<()> {
    let log = paths::shown(&dist.dir.join(bochs::LOG))
        .display()
        .to_string();
    match bochs::run_interactive(dist)? {
        Ending::PoweredOff => {
            eprintln!(
                "\nBochs exited: the machine powered off (\"Shutdown\" on port 0x8900; Bochs' exit status 1 means success here)"
            );
            Ok(())
        }
        Ending::Exited(status) if status.success() => {
            eprintln!("\nBochs stopped (Ctrl-C)");
            Ok(())
        }
        Ending::Exited(status) => {
            bail!("Bochs exited with {status} without a power-off; see {log}")
        }
        ending => bail!("Bochs run ended unexpectedly ({ending:?}); see {log}"),
    }
}

fn bench(quick: bool, compare: Option<PathBuf>) -> Result<()> {
    let old = compare.as_deref().map(xtask::bench::load).transpose()?;
    let report = xtask::bench::run(&xtask::bench::Options { quick })?;
    print!("{}", report.table());
    let path = xtask::bench::output_dir().join("latest.json");
    xtask::bench::save(&report, &path)?;
    println!("\nreport: {}", paths::shown(&path).display());
    if let Some(old) = old {
        let worse = report.worse_than(&old);
        if !worse.is_empty() {
            for line in &worse {
                println!("WORSE: {line}");
            }
            bail!("{} figure(s) got worse", worse.len());
        }
        println!(
            "no figure got worse than {}",
            compare.unwrap_or_default().display()
        );
    }
    Ok(())
}

fn step(name: &str, command: &mut Command) -> Result<()> {
    xtask::progress::step(name, command)
}

/// The config the x86_64 hypervisor is linted with (its tables and embedded
/// guest images).
const X86_LINT_CONFIG: &str = "configs/bochs-demo.toml";

/// What `cargo xtask structure` checks by default, and `test` always.
const STRUCTURE_ROOTS: [&str; 3] = ["src", "tables", "xtask"];

fn structure(roots: &[String]) -> Result<()> {
    let report = xtask::structure::check(&paths::workspace(), roots)?;
    print!("{report}");
    if !report.is_clean() {
        bail!("the structure check failed in {}", roots.join(", "));
    }
    Ok(())
}

fn test(host_only: bool) -> Result<()> {
    step("format", cargo().args(["fmt", "--all", "--check"]))?;
    heading(&format!("structure ({})", STRUCTURE_ROOTS.join(", ")));
    structure(&STRUCTURE_ROOTS.map(String::from))?;
    // Linux cells (configs/ and the QEMU tests) need the prepared guest.
    xtask::linux::prepare()?;
    // Bare-metal builds of the hypervisor check and embed their images.
    heading("guests of every config in configs/");
    build_all_guests()?;
    clippy()?;
    docs()?;
    heading("each hypervisor image compiles only its own back end");
    xtask::separation::check(&paths::workspace())?;
    // The host tests run the generated device trees through dtc.
    ensure_tools(&[xtask::install::DTC])?;
    step("host tests", cargo().args(["test", "--workspace"]))?;
    if host_only {
        return Ok(());
    }
    integration_tests()
}

/// `cargo clippy -- -D warnings` over everything CI builds: the host
/// workspace, the hypervisor for both architectures, the guests.
fn clippy() -> Result<()> {
    const DENY: [&str; 3] = ["--", "-D", "warnings"];
    step(
        "clippy (host)",
        cargo()
            .args(["clippy", "--workspace", "--all-targets"])
            .args(DENY),
    )?;
    step(
        "clippy (hypervisor, aarch64-unknown-none-softfloat)",
        clippy_hypervisor("aarch64-unknown-none-softfloat").args(DENY),
    )?;
    step(
        "clippy (guests, aarch64-unknown-none)",
        clippy_guests(Arch::Aarch64, "aarch64-unknown-none")?.args(DENY),
    )?;
    // The x86_64 hypervisor (lib and bin) with an x86 config's tables; it
    // also keeps the core no_std: a host `cargo test` would not notice std
    // creeping in, a bare-metal build does.
    step(
        "clippy (hypervisor, x86_64-unknown-none)",
        clippy_hypervisor("x86_64-unknown-none")
            .args(DENY)
            .env("BULKHEAD_CONFIG", X86_LINT_CONFIG),
    )?;
    step(
        "clippy (guests, x86_64-unknown-none)",
        clippy_guests(Arch::X86_64, "x86_64-unknown-none")?.args(DENY),
    )?;
    // `--all-targets` leaves out test targets with `test = false`.
    step(
        "clippy (Bochs tests)",
        cargo()
            .args(["clippy", "-p", "xtask", "--test", "bochs"])
            .args(DENY),
    )
}

/// `cargo doc` with warnings denied (broken intra-doc links, bad HTML):
/// the host crates, and the hypervisor for each architecture, private items
/// included (every module of the hypervisor is crate-private).
fn docs() -> Result<()> {
    step(
        "docs (host crates)",
        cargo()
            .args(["doc", "--no-deps", "--document-private-items"])
            .args([
                "-p",
                "bulkhead",
                "-p",
                "bulkhead-tables",
                "-p",
                "bulkhead-config",
            ])
            .args(["-p", "xtask"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    for build in &xtask::separation::BUILDS {
        step(
            &format!("docs (hypervisor, {})", build.triple),
            cargo()
                .args([
                    "doc",
                    "--no-deps",
                    "--document-private-items",
                    "-p",
                    "bulkhead",
                ])
                .args(["--target", build.triple])
                .env("BULKHEAD_CONFIG", build.config)
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
    }
    Ok(())
}

/// `cargo clippy -p bulkhead --target TRIPLE`.
fn clippy_hypervisor(triple: &str) -> Command {
    let mut command = cargo();
    command.args(["clippy", "-p", "bulkhead", "--target", triple]);
    command
}

/// `cargo clippy --target TRIPLE -p guest-...` for every guest of `arch`.
fn clippy_guests(arch: Arch, triple: &str) -> Result<Command> {
    let mut guests = cargo();
    guests.args(["clippy", "--target", triple]);
    for guest in guest_packages(arch)? {
        guests.args(["-p", &guest]);
    }
    Ok(guests)
}

/// The QEMU integration tests, then the Bochs ones.
fn integration_tests() -> Result<()> {
    qemu::ensure_installed("qemu-system-aarch64")?;
    step(
        "QEMU integration tests",
        cargo().args([
            "test",
            "-p",
            "xtask",
            "--test",
            "target",
            "--",
            "--ignored",
            "--test-threads=1",
        ]),
    )?;
    // Bochs and GRUB missing is a failure (installed here as root), never a
    // skip. The test target is left out of plain `cargo test` (test = false
    // in xtask/Cargo.toml): it boots a PC emulator for minutes.
    ensure_tools(ISO_TOOLS)?;
    ensure_tools(BOCHS_TOOLS)?;
    step(
        "Bochs integration tests (x86_64)",
        cargo().args([
            "test",
            "-p",
            "xtask",
            "--test",
            "bochs",
            "--",
            "--test-threads=1",
        ]),
    )
}

/// The numbers of a fuzz or soak run.
fn report_run(what: &str, outcome: &xtask::fuzz::Outcome) {
    let windows = &outcome.windows;
    println!(
        "{what}: ok: {} operations, {} of them faulted in the fuzzer (survived); victim canary checked {} times, unchanged; {} witness windows of {}..={} ticks (2000 +- 1 %); storm boots {}",
        outcome.ops,
        outcome.faults,
        outcome.canary_checks,
        windows.len(),
        windows.iter().min().unwrap_or(&0),
        windows.iter().max().unwrap_or(&0),
        outcome.storm_boots
    );
}
