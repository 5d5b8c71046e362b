//! Random configs and platforms against the checker and the audit (item 11
//! of the security review's checker work).
//!
//! A structure-aware generator writes a platform file and a config from a
//! tape of random choices (proptest draws the tape, with a fixed seed and
//! case count; a failure shrinks it towards choice 0, the benign one). It
//! is biased towards near misses: ranges that overlap by one page, devices
//! that share a page, RAM on GIC frames and the console page, guest
//! addresses at the edge of the IPA space, CPUs with Aff0 = 15 and 16,
//! duplicate ids, write-only channel ends, so both outcomes are common.
//!
//! Invariants: the checker never panics; every rejection names a location
//! and a fix; every accepted config generates its tables (codegen), and
//! each cell's stage-2 / EPT tables build, in the architecture's format and
//! the adversarial fake one, and pass the isolation audit.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

use bulkhead_config::{LoadOptions, codegen, load};
use proptest::prelude::*;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};

use super::{EPT, STAGE2, audit_config};
use crate::arch::aarch64::model::descriptors::Stage2;
use crate::arch::x86_64::model::ept::Ept;
use crate::mm::fake::FakeFormat;

/// Cases per run, and the runner's seed: fixed, so CI runs the same cases.
const CASES: u32 = 2_000;
const SEED: [u8; 32] = *b"bulkhead checker generator seed!";

/// The choices a case is made of, consumed in order; past the end every
/// choice is 0.
struct Tape<'a> {
    choices: &'a [u32],
    next: usize,
}

impl Tape<'_> {
    fn draw(&mut self) -> u32 {
        let choice = self.choices.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        choice
    }

    /// A number below `n`.
    fn below(&mut self, n: u32) -> u32 {
        self.draw() % n.max(1)
    }

    /// True one time in `n` (never for choice 0).
    fn one_in(&mut self, n: u32) -> bool {
        let choice = self.draw();
        choice != 0 && choice.is_multiple_of(n)
    }

    /// One of `items`, the first for choice 0.
    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len() as u32) as usize]
    }
}

/// What the platform generator decided, for the config generator.
struct Board {
    x86: bool,
    cpus: u32,
    devices: Vec<(String, u64, u64)>,
    /// Interesting guest addresses: frames, the console, IPA edges.
    hot: Vec<u64>,
}

fn platform(t: &mut Tape<'_>) -> (String, Board) {
    if t.one_in(4) {
        x86_platform(t)
    } else {
        arm_platform(t)
    }
}

fn arm_platform(t: &mut Tape<'_>) -> (String, Board) {
    let v2 = t.one_in(3);
    let cpus = 1 + t.below(4);
    let mut out = String::from(
        "description = \"gen\"\narch = \"aarch64\"\nhypervisor-load-address = 0x4020_0000\ncpus = [\n",
    );
    for i in 0..cpus {
        let mut mpidr = u64::from(i);
        if t.one_in(12) {
            mpidr = *t.pick(&[15, 16, 0x100, 0]);
        }
        let core = if t.one_in(6) {
            format!(", core = {}", i / 2)
        } else {
            String::new()
        };
        let _ = writeln!(out, "    {{ mpidr = {mpidr:#x}{core} }},");
    }
    out.push_str("]\n");
    let ram2 = if t.one_in(8) {
        format!(
            ", {{ base = {:#x}, size = \"64M\" }}",
            *t.pick(&[0x8000_0000u64, 0x7fff_f000, 0x0800_f000])
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "ram = [{{ base = 0x4000_0000, size = \"1G\" }}{ram2}]\nconsole = \"uart0\"\n"
    );
    let gicd = if t.one_in(15) {
        *t.pick(&[0x4800_0000u64, 0x0901_0000])
    } else {
        0x0800_0000
    };
    let _ = writeln!(
        out,
        "[interrupt-controller]\nkind = \"gic\"\nmaintenance-irq = 25\nirq-count = 288\ndistributor = {{ base = {gicd:#x}, size = 0x1_0000 }}"
    );
    let mut hot = vec![gicd, 0x0900_0000, (1 << 39) - 0x1000, 1 << 39];
    if v2 {
        out.push_str("version = 2\ncpu-interface = { base = 0x0801_0000, size = 0x1_0000 }\nvirtual-control = { base = 0x0803_0000, size = 0x1_0000 }\nvirtual-cpu = { base = 0x0804_0000, size = 0x1_0000 }\n");
        hot.push(0x0801_0000);
    } else {
        let size = if t.one_in(10) {
            u64::from(cpus) * 0x2_0000 - 0x1000
        } else {
            0xf6_0000
        };
        let _ = writeln!(
            out,
            "version = 3\nredistributor = {{ base = 0x080a_0000, size = {size:#x} }}"
        );
        hot.push(0x080a_0000);
        if t.one_in(5) {
            out.push_str("its = { base = 0x0808_0000, size = 0x2_0000 }\n");
        }
    }
    let devices = arm_devices(t, &mut out);
    (
        out,
        Board {
            x86: false,
            cpus,
            devices,
            hot,
        },
    )
}

/// The console and a few devices packed near each other: sub-page sizes,
/// shared pages and overlaps come up often.
fn arm_devices(t: &mut Tape<'_>, out: &mut String) -> Vec<(String, u64, u64)> {
    let console_size = if t.one_in(6) { 0x200 } else { 0x1000 };
    let mut devices = vec![("uart0".to_string(), 0x0900_0000, console_size)];
    let count = t.below(5);
    for i in 0..count {
        let size = *t.pick(&[0x1000u64, 0x800, 0x2000, 0x200]);
        let (_, prev_base, prev_size) = devices[devices.len() - 1];
        let base = if t.one_in(3) {
            // Right after the previous one: sub-page neighbours share a page.
            prev_base + prev_size
        } else if t.one_in(25) {
            *t.pick(&[0x0800_0000u64, 0x080a_0000, 0x0801_0000, 0x4100_0000])
        } else {
            0x0901_0000 + u64::from(i) * 0x1_0000 + u64::from(t.below(4)) * 0x800
        };
        devices.push((format!("dev{i}"), base, size));
    }
    for (i, (name, base, size)) in devices.iter().enumerate() {
        let irq = if t.one_in(40) { 27 } else { 33 + i as u32 };
        let dma = if t.one_in(4) { "dma = true\n" } else { "" };
        let _ = writeln!(
            out,
            "\n[[device]]\nname = \"{name}\"\ncompatible = \"arm,pl011\"\nmmio = [{{ base = {base:#x}, size = {size:#x} }}]\nirqs = [{irq}]\n{dma}"
        );
    }
    devices
}

fn x86_platform(t: &mut Tape<'_>) -> (String, Board) {
    let cpus = 1 + t.below(3);
    let mut out = String::from(
        "description = \"gen\"\narch = \"x86_64\"\nhypervisor-load-address = 0x10_0000\ncpus = [\n",
    );
    for i in 0..cpus {
        let id = if t.one_in(12) { 0 } else { i };
        let _ = writeln!(out, "    {{ apic-id = {id} }},");
    }
    out.push_str("]\nram = [{ base = 0x10_0000, size = \"255M\" }]\nconsole = \"com1\"\n\n[interrupt-controller]\nkind = \"apic\"\nirq-count = 24\nio-apic = { base = 0xfec0_0000, size = 0x1000 }\n\n[[device]]\nname = \"com1\"\ncompatible = \"ns16550a\"\nports = [{ base = 0x3f8, size = 8 }]\nirqs = [4]\n");
    let mut devices = vec![("com1".to_string(), 0, 0)];
    for i in 0..t.below(4) {
        let base = if t.one_in(8) {
            *t.pick(&[0xfec0_0000u64, 0xfee0_0000, 0xfed0_0800, 0xfec0_0800])
        } else if t.one_in(4) {
            // Right after the previous device: sub-page neighbours.
            let (_, prev_base, prev_size) = devices[devices.len() - 1];
            if prev_size == 0 {
                0xfed0_0000
            } else {
                prev_base + prev_size
            }
        } else {
            0xfed0_0000 + u64::from(i) * 0x1_0000
        };
        let size = *t.pick(&[0x1000u64, 0x400, 0x2000]);
        let ports = if t.one_in(3) {
            format!("ports = [{{ base = {:#x}, size = 4 }}]\n", 0x60 + i * 4)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n[[device]]\nname = \"dev{i}\"\ncompatible = \"test\"\nmmio = [{{ base = {base:#x}, size = {size:#x} }}]\nirqs = [{}]\n{ports}",
            5 + i
        );
        devices.push((format!("dev{i}"), base, size));
    }
    let hot = vec![0xfee0_0000, 0xfec0_0000, (1 << 48) - 0x1000, 1 << 48, 0x3f8];
    (
        out,
        Board {
            x86: true,
            cpus,
            devices,
            hot,
        },
    )
}

/// A config for `board`: cells with RAM from a host allocator (sometimes
/// off by a page), device windows, passthrough devices, interrupts,
/// channels.
fn config(t: &mut Tape<'_>, board: &Board) -> String {
    let (hv_base, hv_size, first_gpa) = if board.x86 {
        (0x10_0000u64, 15u64 << 20, 0u64)
    } else {
        (0x4020_0000, 14 << 20, 0x4000_0000)
    };
    let hv_size = if t.one_in(20) {
        hv_size + 0x1000
    } else {
        hv_size
    };
    let mut out = format!(
        "platform = \"gen\"\n\n[hypervisor]\nmemory = {{ base = {hv_base:#x}, size = {hv_size:#x} }}\n"
    );
    let mut next_host = hv_base + (16 << 20);
    let cells = 1 + t.below(board.cpus.min(3));
    for c in 0..cells {
        let cpu = if t.one_in(15) { 0 } else { c };
        let console = *t.pick(&["virtual", "virtual", "none"]);
        let _ = writeln!(
            out,
            "\n[[cell]]\nname = \"c{c}\"\ncpus = [{cpu}]\nconsole = \"{console}\"\nimage = {{ path = \"tiny.bin\", kind = \"raw\" }}"
        );
        cell_devices(t, board, &mut out);
        for r in 0..1 + t.below(3) {
            let size: u64 = if r == 0 {
                4 << 20
            } else {
                *t.pick(&[0x1000u64, 0x10000, 0x20_0000])
            };
            let mut hpa = next_host;
            next_host += size.next_multiple_of(0x20_0000);
            if t.one_in(15) {
                hpa -= 0x1000;
            }
            let gpa = if r == 0 {
                first_gpa
            } else if t.one_in(4) {
                *t.pick(&board.hot) & !0xfff
            } else {
                first_gpa + (16 << 20) * u64::from(r)
            };
            let perm = if t.one_in(25) {
                "w"
            } else if r == 0 {
                "rwx"
            } else {
                *t.pick(&["rw", "r", "rwx", "rx"])
            };
            let _ = writeln!(
                out,
                "\n[[cell.memory]]\ngpa = {gpa:#x}\nhpa = {hpa:#x}\nsize = {size:#x}\nperm = \"{perm}\""
            );
        }
        if !board.x86 && t.one_in(3) {
            window(t, board, &mut out);
        }
    }
    channels(t, cells, board, &mut out, &mut next_host);
    out
}

fn cell_devices(t: &mut Tape<'_>, board: &Board, out: &mut String) {
    let mut names = Vec::new();
    for (name, _, _) in &board.devices[1..] {
        if t.one_in(3) {
            names.push(format!("\"{name}\""));
        }
    }
    if t.one_in(30) {
        names.push(format!("\"{}\"", board.devices[0].0));
    }
    let _ = writeln!(out, "devices = [{}]", names.join(", "));
    if t.one_in(4) {
        let irq = if board.x86 {
            *t.pick(&[4u32, 9, 10, 30])
        } else {
            *t.pick(&[40u32, 33, 25, 50, 287, 288])
        };
        let _ = writeln!(out, "irqs = [{irq}]");
    }
}

/// A device window, usually inside its device, sometimes a page off.
fn window(t: &mut Tape<'_>, board: &Board, out: &mut String) {
    let choices = if board.devices.len() > 1 && !t.one_in(8) {
        &board.devices[1..]
    } else {
        &board.devices[..]
    };
    let (name, base, _) = t.pick(choices).clone();
    let hpa = (base & !0xfff) + if t.one_in(6) { 0x1000 } else { 0 };
    let gpa = if t.one_in(2) {
        hpa
    } else {
        *t.pick(&board.hot) & !0xfff
    };
    let _ = writeln!(
        out,
        "\n[[cell.memory]]\ngpa = {gpa:#x}\nhpa = {hpa:#x}\nsize = 0x1000\nperm = \"rw\"\ndevice = \"{name}\""
    );
}

fn channels(t: &mut Tape<'_>, cells: u32, board: &Board, out: &mut String, next_host: &mut u64) {
    if cells < 2 {
        return;
    }
    for k in 0..t.below(3) {
        let size = 0x1_0000u64;
        let mut hpa = *next_host;
        *next_host += 0x20_0000;
        if t.one_in(15) {
            hpa -= 0x20_0000;
        }
        let mut ends = Vec::new();
        for e in 0..2 + t.below(cells - 1) {
            let cell = if t.one_in(15) { 0 } else { e };
            let gpa = if t.one_in(6) {
                *t.pick(&board.hot) & !0xfff
            } else {
                0x5000_0000 + u64::from(k) * size
            };
            let perm = if t.one_in(20) {
                "w"
            } else {
                *t.pick(&["rw", "r", "rwx", "rx"])
            };
            ends.push(format!(
                "{{ cell = \"c{cell}\", gpa = {gpa:#x}, perm = \"{perm}\" }}"
            ));
        }
        let _ = writeln!(
            out,
            "\n[[channel]]\nname = \"ch{k}\"\nhpa = {hpa:#x}\nsize = {size:#x}\nends = [{}]",
            ends.join(", ")
        );
    }
}

/// Where a case's files go.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bulkhead-generator-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("platforms")).unwrap();
    std::fs::create_dir_all(dir.join("guests")).unwrap();
    dir
}

/// Whether the case was accepted; an error if an invariant broke.
fn run_case(dir: &std::path::Path, choices: &[u32]) -> Result<bool, TestCaseError> {
    let mut tape = Tape { choices, next: 0 };
    let (platform_text, board) = platform(&mut tape);
    let config_text = config(&mut tape, &board);
    std::fs::write(dir.join("platforms/gen.toml"), &platform_text).unwrap();
    std::fs::write(dir.join("config.toml"), &config_text).unwrap();
    let options = LoadOptions {
        platforms_dir: dir.join("platforms"),
        guests_dir: dir.join("guests"),
        target_dir: dir.join("target"),
        require_images: false,
        display_root: dir.to_path_buf(),
    };
    let shown = || format!("\n--- platform\n{platform_text}\n--- config\n{config_text}");
    let loaded = std::panic::catch_unwind(|| load(&dir.join("config.toml"), &options))
        .map_err(|_| TestCaseError::fail(format!("the checker panicked{}", shown())))?;
    let config = match loaded {
        Err(errors) => {
            for d in &errors.0 {
                prop_assert!(
                    d.help.is_some() && d.location.line >= 1,
                    "{d} has no fix{}",
                    shown()
                );
            }
            return Ok(false);
        }
        Ok(config) => config,
    };
    let generated = std::panic::catch_unwind(|| codegen::generate(&config));
    prop_assert!(generated.is_ok(), "codegen panicked{}", shown());
    let audits = if board.x86 {
        [
            audit_config::<Ept>(&config, EPT),
            audit_config::<FakeFormat<_, true>>(&config, EPT),
        ]
    } else {
        [
            audit_config::<Stage2>(&config, STAGE2),
            audit_config::<FakeFormat<_, true>>(&config, STAGE2),
        ]
    };
    for audit in audits {
        if let Err(e) = audit {
            return Err(TestCaseError::fail(format!(
                "accepted, but the audit failed: {e}{}",
                shown()
            )));
        }
    }
    Ok(true)
}

#[test]
fn random_configs_never_panic_the_checker_and_accepted_ones_pass_the_audit() {
    let dir = scratch();
    let runner_config = RunnerConfig {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 500,
        ..RunnerConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(
        runner_config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &SEED),
    );
    let counts = std::cell::Cell::new((0u32, 0u32));
    let start = Instant::now();
    let result = runner.run(
        &proptest::collection::vec(any::<u32>(), 0..160),
        |choices| {
            let accepted = run_case(&dir, &choices)?;
            let (a, r) = counts.get();
            counts.set(if accepted { (a + 1, r) } else { (a, r + 1) });
            Ok(())
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("{e}");
    }
    let (accepted, rejected) = counts.get();
    println!(
        "config generator: {} cases, {accepted} accepted, {rejected} rejected, {:.1} s",
        accepted + rejected,
        start.elapsed().as_secs_f64()
    );
    // Both paths are exercised (the seed is fixed: this is deterministic).
    assert!(
        accepted >= CASES / 5 && rejected >= CASES / 5,
        "{accepted} accepted, {rejected} rejected"
    );
}
