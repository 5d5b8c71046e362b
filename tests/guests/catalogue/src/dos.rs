//! Catalogue 4.8: availability (attempts 59-61, 63, 64) and the whole
//! vendor hypervisor range (47), which overruns the report budget.
//!
//! The harness checks the other cells' side: the witness's ticks within
//! 1 %, the victim's canary, exactly 256 reports of this cell and one
//! notice, nothing powered off but this cell.

use core::arch::asm;

use rt::psci::NOT_SUPPORTED;

use crate::attempt::{Id, report};
use crate::{cpus, jobs};

/// Bulkhead's defined function ids (their SMC64 and SMC32 forms).
const DEFINED: [u32; 10] = [
    0xc600_0000,
    0xc600_0001,
    0xc600_0002,
    0xc600_0003,
    0xc600_ff00,
    0xc600_ff01,
    0xc600_ff03,
    0x8600_ff00,
    0x8600_ff01,
    0x8600_ff03,
];

pub(crate) fn run() {
    cpus::start_worker();
    fault_loop();
    vendor_range();
    console_flood();
    uart_polling();
    cache_storm();
    spinning_vcpu();
}

/// 59: 300 faulting reads: the hypervisor reports 256, then says once that
/// the rest go to its log only (the harness counts them).
fn fault_loop() {
    let mut faults = 0;
    for _ in 0..300 {
        faults += u32::from(rt::probe_read(0x4100_0000).is_err());
    }
    report(
        Id(59, 1),
        format_args!("300 foreign reads in a row"),
        faults == 300,
        format_args!("{faults} faults"),
    );
}

/// 47: every id of the vendor hypervisor range, both conventions: -1 but
/// for the defined ones.
fn vendor_range() {
    let mut answered = 0u32;
    let mut wrong = 0u32;
    for id in (0xc600_0000..=0xc600_ffffu32).chain(0x8600_0000..=0x8600_ffff) {
        if DEFINED.contains(&id) {
            continue;
        }
        // SAFETY: an undefined id: answered without any effect, or it is a
        // containment failure this attempt reports.
        let status = unsafe { rt::hvc(id, 0, 0, 0)[0] } as i64;
        answered += 1;
        wrong += u32::from(status != NOT_SUPPORTED);
    }
    report(
        Id(47, 1),
        format_args!("every undefined id of 0xc600xxxx and 0x8600xxxx"),
        wrong == 0,
        format_args!("{answered} answered, {wrong} not -1"),
    );
}

/// 60: both vCPUs flood the console: vCPU 1 with `CONSOLE_WRITE`s, vCPU 0
/// byte by byte through its virtual UART.
fn console_flood() {
    let started = cpus::give_async(jobs::CONSOLE_FLOOD);
    for i in 0..20_000u32 {
        let byte = if i % 100 == 99 { b'\n' } else { b'u' };
        // SAFETY: the virtual UART's data register.
        let _ = unsafe { rt::probe_write32(crate::memory::UART, u32::from(byte)) };
    }
    let finished = cpus::wait(started, 120_000);
    report(
        Id(60, 1),
        format_args!("console flood from both vcpus"),
        finished,
        format_args!("{} bytes", 20_000 + 256 * jobs::FLOOD_WRITES),
    );
}

/// 61: UARTFR polled by both vCPUs at once.
fn uart_polling() {
    let started = cpus::give_async(jobs::UART_POLL);
    for _ in 0..jobs::POLLS {
        let _ = rt::probe_read32(crate::memory::UART + 0x18);
    }
    let finished = cpus::wait(started, 120_000);
    report(
        Id(61, 1),
        format_args!("uartfr polled by both vcpus"),
        finished,
        format_args!("{} reads each", jobs::POLLS),
    );
}

/// 63: set/way clean+invalidate of the whole cache, ten times over.
fn cache_storm() {
    let mut operations = 0u64;
    let mut faults = 0u64;
    for _ in 0..10 {
        for operand in 0..(1u64 << 16) {
            let operand = (operand & 0x3ff) << 6 | (operand >> 10) << 31 | (operand & 1) << 1;
            // SAFETY: set/way maintenance selects a line by position; with
            // the MMU off this guest holds no dirty lines; a fault is
            // skipped.
            let result = unsafe {
                rt::probe(
                    || asm!("dc cisw, {}", in(reg) operand, options(nostack), clobber_abi("C")),
                )
            };
            operations += 1;
            faults += u64::from(result.is_err());
        }
    }
    report(
        Id(63, 1),
        format_args!("dc cisw storm"),
        faults == 0,
        format_args!("{operations} operations, {faults} faults"),
    );
}

/// 64: vCPU 1 spins without ever trapping; vCPU 0 powers the cell off:
/// the kick stops vCPU 1 (the harness checks the log).
fn spinning_vcpu() {
    let _ = cpus::give_async(jobs::SPIN);
    rt::delay_ms(50);
    let spun = jobs::SPINS.load(core::sync::atomic::Ordering::Relaxed);
    report(
        Id(64, 1),
        format_args!("vcpu 1 spinning, then system_off"),
        spun > 0,
        format_args!("spun {spun} times"),
    );
    rt::println!("catalogue: done");
    rt::system_off();
}
