//! Group 3, CPUs and PSCI over `VMCALL`: catalogue items 33 (`CPU_ON` of
//! CPUs the cell does not have), 34 (bad entry points), 35 (`CPU_ON` of
//! itself and races), 36 (`AFFINITY_INFO`), 39 (other PSCI functions and
//! 32-bit forms), 37 (concurrent `SYSTEM_RESET`s, `CPU_ON` racing a
//! restart) and 38 (a vCPU spinning while its cell restarts). The cell has
//! three vCPUs and restarts twice on purpose; it counts its boots in its
//! RAM outside its image:
//!
//! 1. the answers (33-36, 39), then vCPUs 1 and 2 call `SYSTEM_RESET` at
//!    once while vCPU 0 spins without exits;
//! 2. one restart happened (37.1, 38.1); then vCPU 1 calls `SYSTEM_RESET`
//!    while vCPU 0 calls `CPU_ON` for vCPU 2 again and again;
//! 3. the restart left no vCPU of the old life running (37.2); done.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use rt::println;
use rt::psci::{self, status_name};

use crate::common::{attempt, done};

/// The boot counter: `[MAGIC, boots]`, above the image, below the boot
/// area.
const COUNTER_GPA: u64 = 0x38_0000;
const MAGIC: u64 = 0xc9a5_0b00_7000_0003;
/// vCPUs of the cell.
const VCPUS: u64 = 3;
/// A guest address outside RAM, one in RAM but not executable, the status
/// channel, another cell's host address.
const OUTSIDE: u64 = 0x80_0000;
const NOT_EXECUTABLE: u64 = 0xa0_0000;
const CHANNEL: u64 = 0x1000_0000;
const VICTIM_HPA: u64 = 0x120_0000;

/// What a started vCPU does (its `CPU_ON` context).
const RACER: u64 = 1;
const TARGET: u64 = 2;
const RESETTER: u64 = 3;

/// The start signal of a race.
static GO: AtomicU64 = AtomicU64::new(0);
/// vCPU 1's answer in the `CPU_ON` race.
static RACER_STATUS: AtomicI64 = AtomicI64::new(i64::MIN);
/// Times vCPU 2 started in this life.
static TARGET_STARTS: AtomicU64 = AtomicU64::new(0);
/// vCPUs that reached their race line.
static READY: AtomicU64 = AtomicU64::new(0);

fn count_boot() -> u64 {
    // SAFETY: two words of this cell's RAM used by nothing else (the
    // image ends below 0x30_0000, the boot area starts at 0x3f_8000).
    unsafe { rt::count_boot(COUNTER_GPA, MAGIC) }
}

fn call(function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: PSCI calls that can only be refused, or start vCPUs at
    // this program's secondary entry.
    let [status, ..] = unsafe { rt::hypercall(function, a1, a2, a3) };
    status as i64
}

fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    call(psci::CPU_ON, target, entry, context)
}

/// Every vCPU but 0.
pub(crate) fn secondary(context: u64) -> ! {
    match context {
        RACER => {
            READY.fetch_add(1, Relaxed);
            while GO.load(Relaxed) == 0 {
                core::hint::spin_loop();
            }
            RACER_STATUS.store(cpu_on(2, rt::secondary_entry(), TARGET), Relaxed);
            rt::park()
        }
        TARGET => {
            TARGET_STARTS.fetch_add(1, Relaxed);
            rt::park()
        }
        _ => {
            READY.fetch_add(1, Relaxed);
            while GO.load(Relaxed) == 0 {
                core::hint::spin_loop();
            }
            let status = rt::system_reset();
            println!("intruder: SYSTEM_RESET returned {status}");
            rt::park()
        }
    }
}

pub(crate) fn run() -> ! {
    let boot = count_boot();
    println!("intruder: group cpus, boot {boot}");
    match boot {
        1 => {
            foreign_cpus();
            bad_entries();
            affinity();
            other_functions();
            races();
            // 37.1, 38.1: two resets at once while vCPU 0 spins.
            wait_off(1);
            wait_off(2);
            READY.store(0, Relaxed);
            for vcpu in [1, 2] {
                let status = rt::start_vcpu(vcpu, RESETTER);
                println!(
                    "intruder: vcpu {vcpu} started to reset: {}",
                    status_name(status)
                );
            }
            while READY.load(Relaxed) < 2 {
                core::hint::spin_loop();
            }
            GO.store(1, Relaxed);
            let mut turns: u64 = 0;
            loop {
                turns = turns.wrapping_add(1);
                core::hint::black_box(turns);
            }
        }
        2 => {
            attempt(
                "37.1",
                format_args!("system_reset from vcpus 1 and 2 at once"),
                true,
                format_args!("one restart, boot 2"),
            );
            attempt(
                "38.1",
                format_args!("vcpu 0 spinning without exits while its cell restarts"),
                true,
                format_args!("stopped and restarted"),
            );
            // 37.2: CPU_ON racing a restart.
            READY.store(0, Relaxed);
            let status = rt::start_vcpu(1, RESETTER);
            println!("intruder: vcpu 1 started to reset: {}", status_name(status));
            while READY.load(Relaxed) < 1 {
                core::hint::spin_loop();
            }
            GO.store(1, Relaxed);
            loop {
                cpu_on(2, rt::secondary_entry(), TARGET);
            }
        }
        _ => {
            let one = rt::affinity_info(1);
            let two = rt::affinity_info(2);
            attempt(
                "37.2",
                format_args!("cpu_on of vcpu 2 racing a system_reset"),
                boot == 3 && one == psci::AFFINITY_OFF && two == psci::AFFINITY_OFF,
                format_args!("boot {boot} starts clean, affinity_info 1 {one}, 2 {two}"),
            );
            done("cpus")
        }
    }
}

/// Waits until vCPU `vcpu` is off.
fn wait_off(vcpu: u64) {
    while rt::affinity_info(vcpu) != psci::AFFINITY_OFF {
        rt::delay_spins(1000);
    }
}

fn foreign_cpus() {
    let entry = rt::secondary_entry();
    let targets: [(&str, &str, u64); 7] = [
        ("33.1", "aff0 3 (one past the last)", VCPUS),
        ("33.2", "aff0 7", 7),
        ("33.3", "aff1 1", 0x100),
        ("33.4", "aff2 1", 0x1_0000),
        ("33.5", "aff3 1", 0x1_0000_0000),
        ("33.6", "u and mt bits, aff0 5", 0x4100_0005),
        ("33.7", "all ones", u64::MAX),
    ];
    for (id, what, target) in targets {
        let status = cpu_on(target, entry, TARGET);
        attempt(
            id,
            format_args!("cpu_on {what} ({target:#x})"),
            status == psci::INVALID_PARAMETERS,
            format_args!("{}", status_name(status)),
        );
    }
}

fn bad_entries() {
    let entries: [(&str, &str, u64); 5] = [
        ("34.1", "outside ram", OUTSIDE),
        ("34.2", "in ram that is not executable", NOT_EXECUTABLE),
        ("34.3", "in the status channel", CHANNEL),
        ("34.4", "at the victim's host address", VICTIM_HPA),
        ("34.5", "at 2^64-1", u64::MAX),
    ];
    for (id, what, entry) in entries {
        let status = cpu_on(1, entry, TARGET);
        attempt(
            id,
            format_args!("cpu_on vcpu 1 with an entry {what} ({entry:#x})"),
            status == psci::INVALID_ADDRESS && rt::affinity_info(1) == psci::AFFINITY_OFF,
            format_args!("{}, vcpu 1 still off", status_name(status)),
        );
    }
}

fn affinity() {
    let cases: [(&str, &str, u64, u64, i64); 4] = [
        ("36.1", "vcpu 7", 7, 0, psci::INVALID_PARAMETERS),
        ("36.2", "aff1 1", 0x100, 0, psci::INVALID_PARAMETERS),
        (
            "36.3",
            "vcpu 1 at lowest level 1",
            1,
            1,
            psci::INVALID_PARAMETERS,
        ),
        ("36.4", "vcpu 1 (own, off)", 1, 0, psci::AFFINITY_OFF),
    ];
    for (id, what, target, level, expected) in cases {
        let status = call(psci::AFFINITY_INFO, target, level, 0);
        attempt(
            id,
            format_args!("affinity_info {what}"),
            status == expected,
            format_args!("{status}"),
        );
    }
}

fn other_functions() {
    let cases: [(&str, &str, u64, u64, u64, i64); 9] = [
        (
            "39.1",
            "cpu_suspend",
            0xc400_0001,
            0,
            0,
            psci::NOT_SUPPORTED,
        ),
        (
            "39.2",
            "system_suspend",
            0xc400_000e,
            0,
            0,
            psci::NOT_SUPPORTED,
        ),
        ("39.3", "migrate", 0xc400_0005, 1, 0, psci::NOT_SUPPORTED),
        (
            "39.4",
            "mem_protect",
            0x8400_0013,
            1,
            0,
            psci::NOT_SUPPORTED,
        ),
        (
            "39.5",
            "system_reset2 vendor type 0x80000000",
            0xc400_0012,
            0x8000_0000,
            0,
            psci::INVALID_PARAMETERS,
        ),
        (
            "39.6",
            "cpu_on (32-bit) with junk above target 7",
            0xdead_beef_8400_0003,
            0xdead_beef_0000_0007,
            0,
            psci::INVALID_PARAMETERS,
        ),
        (
            "39.7",
            "psci_version with junk in rax's upper half",
            0xdead_beef_8400_0000,
            0,
            0,
            0x1_0001,
        ),
        (
            "39.8",
            "affinity_info (32-bit) with junk above target 1",
            0x8400_0004,
            0xffff_ffff_0000_0001,
            0,
            psci::AFFINITY_OFF,
        ),
        (
            "39.9",
            "psci function 0xff",
            0x8400_00ff,
            0,
            0,
            psci::NOT_SUPPORTED,
        ),
    ];
    for (id, what, function, a1, a2, expected) in cases {
        let status: u64;
        // SAFETY: every call here can only be answered or refused (the
        // CPU_ON targets a vCPU the cell lacks).
        unsafe {
            core::arch::asm!(
                "vmcall",
                inout("rax") function => status,
                inout("rdi") a1 => _,
                inout("rsi") a2 => _,
                inout("rdx") 0u64 => _,
                options(nostack)
            )
        };
        let status = status as i64;
        attempt(
            id,
            format_args!("{what}"),
            status == expected,
            format_args!("{status:#x}"),
        );
    }
}

fn races() {
    let status = cpu_on(0, rt::secondary_entry(), TARGET);
    attempt(
        "35.1",
        format_args!("cpu_on of itself"),
        status == psci::ALREADY_ON,
        format_args!("{}", status_name(status)),
    );
    let status = rt::start_vcpu(1, RACER);
    while READY.load(Relaxed) < 1 {
        core::hint::spin_loop();
    }
    let again = cpu_on(1, rt::secondary_entry(), RACER);
    attempt(
        "35.2",
        format_args!("cpu_on of vcpu 1 twice"),
        status == psci::SUCCESS && again == psci::ALREADY_ON,
        format_args!("{}, then {}", status_name(status), status_name(again)),
    );
    GO.store(1, Relaxed);
    let mine = cpu_on(2, rt::secondary_entry(), TARGET);
    while RACER_STATUS.load(Relaxed) == i64::MIN {
        core::hint::spin_loop();
    }
    let theirs = RACER_STATUS.load(Relaxed);
    let mut waited = 0;
    while TARGET_STARTS.load(Relaxed) == 0 && waited < 10_000 {
        rt::delay_spins(100);
        waited += 1;
    }
    rt::delay_spins(100_000);
    let starts = TARGET_STARTS.load(Relaxed);
    let one_won = (mine == psci::SUCCESS) != (theirs == psci::SUCCESS);
    let loser = if mine == psci::SUCCESS { theirs } else { mine };
    attempt(
        "35.3",
        format_args!("cpu_on of vcpu 2 from vcpus 0 and 1 at once"),
        one_won && (loser == psci::ALREADY_ON || loser == psci::ON_PENDING) && starts == 1,
        format_args!(
            "{} and {}, vcpu 2 started {starts} times",
            status_name(mine),
            status_name(theirs)
        ),
    );
    GO.store(0, Relaxed);
}
