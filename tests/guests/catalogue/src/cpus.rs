//! Catalogue 4.4: CPUs and PSCI (attempts 33-36, 39), and vCPU 1 as a
//! worker the other groups give jobs to.
//!
//! The intruder cell has two vCPUs; vCPU 1 starts only by `CPU_ON`
//! (context [`WORKER`]) and then runs jobs from [`MAILBOX`].

use core::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};

use rt::psci::{
    ALREADY_ON, INVALID_ADDRESS, INVALID_PARAMETERS, NOT_SUPPORTED, ON_PENDING, SUCCESS,
};

use crate::attempt::{Id, expect_status, report};
use crate::memory::{CHANNEL, GPIO, NO_EXEC, READ_ONLY};

/// `CPU_ON` context that makes vCPU 1 a worker.
pub(crate) const WORKER: u64 = 0x35;
/// Times vCPU 1 came up (one writer: vCPU 1).
pub(crate) static CAME_UP: AtomicU64 = AtomicU64::new(0);
/// A job for vCPU 1: `sequence << 8 | job` (one writer: vCPU 0).
pub(crate) static MAILBOX: AtomicU64 = AtomicU64::new(0);
/// The sequence number of the last job vCPU 1 finished (one writer).
pub(crate) static DONE: AtomicU64 = AtomicU64::new(0);

/// PSCI function ids the attempts use beyond `rt::psci`.
const CPU_SUSPEND_64: u32 = 0xc400_0001;
const MIGRATE_64: u32 = 0xc400_0005;
const SYSTEM_SUSPEND_64: u32 = 0xc400_000e;
const SYSTEM_RESET2_64: u32 = 0xc400_0012;
const MEM_PROTECT: u32 = 0x8400_0013;
const AFFINITY_INFO_32: u32 = 0x8400_0004;

/// A PSCI call by HVC, `x0` as a status.
fn call(id: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: the attempts only make calls that cannot start code in this
    // program except at its secondary entry, nor write its memory.
    unsafe { rt::hvc(id, a1, a2, a3)[0] as i64 }
}

/// The same call by SMC (trapped by the hypervisor, answered the same).
fn call_smc(id: u32, a1: u64) -> i64 {
    // SAFETY: as for `call`.
    unsafe { rt::smc(id, a1, 0, 0)[0] as i64 }
}

pub(crate) fn run() {
    foreign_mpidrs();
    bad_entries();
    races();
    affinity_info();
    other_functions();
}

/// 33: `CPU_ON` for cores outside the cell, however the MPIDR is spelled.
fn foreign_mpidrs() {
    let entry = rt::secondary_entry();
    for (k, mpidr) in [
        2u64,
        0x100,
        0x1_0000,
        0x1_0000_0000,
        0x4000_0001,
        0x0100_0001,
        0x8000_0001,
        u64::MAX,
    ]
    .into_iter()
    .enumerate()
    {
        let status = call(rt::psci::CPU_ON, mpidr, entry, 0x33);
        expect_status(
            Id(33, k + 1),
            format_args!("cpu_on mpidr {mpidr:#x}"),
            status,
            INVALID_PARAMETERS,
        );
    }
}

/// 34: `CPU_ON` of the cell's own vCPU 1 at entry points that are not
/// executable RAM of the cell.
fn bad_entries() {
    for (k, (what, entry)) in [
        ("outside RAM", 0x1000u64),
        ("non-executable region", NO_EXEC),
        ("read-only region", READ_ONLY),
        ("device window", GPIO),
        ("channel", CHANNEL),
    ]
    .into_iter()
    .enumerate()
    {
        let status = call(rt::psci::CPU_ON, 1, entry, 0x34);
        expect_status(
            Id(34, k + 1),
            format_args!("cpu_on vcpu 1 at {what} {entry:#x}"),
            status,
            INVALID_ADDRESS,
        );
    }
}

/// 35: `CPU_ON` of itself, then of vCPU 1 twice in a row: one start only.
fn races() {
    let status = call(rt::psci::CPU_ON, 0, rt::secondary_entry(), 0x35);
    expect_status(Id(35, 1), format_args!("cpu_on self"), status, ALREADY_ON);
    let first = call(rt::psci::CPU_ON, 1, rt::secondary_entry(), WORKER);
    let second = call(rt::psci::CPU_ON, 1, rt::secondary_entry(), WORKER);
    expect_status(Id(35, 2), format_args!("cpu_on vcpu 1"), first, SUCCESS);
    report(
        Id(35, 3),
        format_args!("cpu_on vcpu 1 again at once"),
        second == ALREADY_ON || second == ON_PENDING,
        format_args!("{second}"),
    );
    let mut waited = 0;
    while CAME_UP.load(Acquire) == 0 && waited < 2000 {
        rt::delay_ms(1);
        waited += 1;
    }
    rt::delay_ms(20);
    let up = CAME_UP.load(Acquire);
    report(
        Id(35, 4),
        format_args!("vcpu 1 started once"),
        up == 1,
        format_args!("came up {up} times"),
    );
}

/// 36: `AFFINITY_INFO` of a foreign core and at a level other than 0.
fn affinity_info() {
    let foreign = call(rt::psci::AFFINITY_INFO, 2, 0, 0);
    expect_status(
        Id(36, 1),
        format_args!("affinity_info mpidr 0x2"),
        foreign,
        INVALID_PARAMETERS,
    );
    let level = call(rt::psci::AFFINITY_INFO, 0, 1, 0);
    expect_status(
        Id(36, 2),
        format_args!("affinity_info level 1"),
        level,
        INVALID_PARAMETERS,
    );
    let own = call(rt::psci::AFFINITY_INFO, 1, 0, 0);
    expect_status(Id(36, 3), format_args!("affinity_info own vcpu 1"), own, 0);
}

/// 39: the PSCI functions Bulkhead does not offer, a vendor reset type,
/// PSCI by SMC, and an SMC32 call with junk in its upper halves.
fn other_functions() {
    let mut k = 0;
    for (what, id, a1) in [
        ("cpu_suspend", CPU_SUSPEND_64, 0u64),
        ("system_suspend", SYSTEM_SUSPEND_64, rt::secondary_entry()),
        ("migrate", MIGRATE_64, 1),
        ("mem_protect", MEM_PROTECT, 1),
    ] {
        k += 1;
        let status = call(id, a1, 0, 0);
        expect_status(Id(39, k), format_args!("{what}"), status, NOT_SUPPORTED);
    }
    let status = call(SYSTEM_RESET2_64, 0x8000_0000, 0, 0);
    expect_status(
        Id(39, 5),
        format_args!("system_reset2 vendor type"),
        status,
        INVALID_PARAMETERS,
    );
    let version = call_smc(rt::psci::VERSION, 0);
    expect_status(
        Id(39, 6),
        format_args!("psci_version by smc"),
        version,
        0x1_0001,
    );
    let junk = call(
        AFFINITY_INFO_32,
        0xdead_beef_0000_0000,
        0xdead_beef_0000_0000,
        0,
    );
    expect_status(
        Id(39, 7),
        format_args!("affinity_info smc32, junk upper halves"),
        junk,
        0,
    );
}

/// vCPU 1: counts its start, then runs jobs until told to stop.
pub(crate) fn worker() -> ! {
    CAME_UP.store(CAME_UP.load(Acquire) + 1, Release);
    let mut last = 0;
    loop {
        let mail = MAILBOX.load(Acquire);
        let sequence = mail >> 8;
        if sequence != last {
            last = sequence;
            crate::jobs::run((mail & 0xff) as u8);
            DONE.store(sequence, Release);
        }
        core::hint::spin_loop();
    }
}

/// Starts vCPU 1 as the worker (for groups that do not start it as an
/// attempt) and waits until it runs.
pub(crate) fn start_worker() {
    let _ = call(rt::psci::CPU_ON, 1, rt::secondary_entry(), WORKER);
    for _ in 0..2000 {
        if CAME_UP.load(Acquire) > 0 {
            return;
        }
        rt::delay_ms(1);
    }
}

/// Gives vCPU 1 `job`; returns its sequence number for [`wait`].
pub(crate) fn give_async(job: u8) -> u64 {
    let sequence = (MAILBOX.load(Acquire) >> 8) + 1;
    MAILBOX.store(sequence << 8 | u64::from(job), Release);
    sequence
}

/// Waits (bounded) until vCPU 1 finished job `sequence`; false if it did
/// not in `timeout_ms`.
pub(crate) fn wait(sequence: u64, timeout_ms: u64) -> bool {
    for _ in 0..timeout_ms {
        if DONE.load(Acquire) == sequence {
            return true;
        }
        rt::delay_ms(1);
    }
    DONE.load(Acquire) == sequence
}

/// Gives vCPU 1 `job` and waits (bounded) until it is done.
pub(crate) fn give(job: u8, timeout_ms: u64) -> bool {
    wait(give_async(job), timeout_ms)
}
