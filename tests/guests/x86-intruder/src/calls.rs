//! Group 4, hypercalls: catalogue items 50 (`COUNTER` indices), 48
//! (`CONSOLE_WRITE` with hostile buffers), 49 (control sequences and
//! forged hypervisor lines), 51.1 (`VMCALL` from CPL 3) and, last because
//! its refusals use up the report budget, 47 (the whole vendor hypervisor
//! call range and more).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::println;

use crate::common::{attempt, counter, counters, done};

/// `NOT_SUPPORTED`, `INVALID_PARAMETERS` as registers.
const NOT_SUPPORTED: u64 = u64::MAX;
const INVALID_PARAMETERS: u64 = (-2i64) as u64;
/// The cell's RAM ends here; the status channel; the victim's canary as a
/// guest address here.
const RAM_END: u64 = 0x40_0000;
const CHANNEL: u64 = 0x1000_0000;
const VICTIM_CANARY: u64 = 0x130_0000;

fn call(function: u64, a1: u64, a2: u64, a3: u64) -> [u64; 4] {
    let (r0, r1, r2, r3): (u64, u64, u64, u64);
    // SAFETY: Bulkhead calls that only answer, read this cell's memory
    // or print; a full 64-bit function id (upper-half junk included).
    unsafe {
        core::arch::asm!(
            "vmcall",
            inout("rax") function => r0,
            inout("rdi") a1 => r1,
            inout("rsi") a2 => r2,
            inout("rdx") a3 => r3,
            options(nostack)
        )
    };
    [r0, r1, r2, r3]
}

fn console_write(gpa: u64, len: u64) -> u64 {
    call(u64::from(rt::HC_CONSOLE_WRITE), gpa, len, 0)[0]
}

pub(crate) fn run() -> ! {
    println!("intruder: group calls (counters, console writes, cpl 3, the call ranges)");
    counter_indices();
    hostile_buffers();
    forged_lines();
    user_mode_call();
    call_ranges();
    done("calls")
}

fn counter_indices() {
    let mut valid = 0;
    let mut refused = 0;
    for index in (0..=64).chain([u64::MAX, 1 << 32]) {
        match call(u64::from(rt::HC_COUNTER), index, 0, 0)[0] {
            0 => valid += 1,
            INVALID_PARAMETERS => refused += 1,
            _ => {}
        }
    }
    attempt(
        "50.1",
        format_args!("counter indices 0..=64, 2^32, 2^64-1"),
        valid == counters::COUNT && refused == 67 - counters::COUNT,
        format_args!("{valid} answered, {refused} invalid_parameters"),
    );
    // The counters are this cell's own: three refused port reads add
    // three, two calls add two.
    let io = counter(counters::IO_REFUSED).unwrap_or(0);
    for _ in 0..3 {
        rt::inb(0x71);
    }
    let io_after = counter(counters::IO_REFUSED).unwrap_or(0);
    let calls = counter(counters::VMCALL).unwrap_or(0);
    let calls_after = counter(counters::VMCALL).unwrap_or(0);
    attempt(
        "50.2",
        format_args!("counter values are the cell's own"),
        io_after == io + 3 && calls_after == calls + 1,
        format_args!("io-refused {io} -> {io_after}, vmcall {calls} -> {calls_after}"),
    );
}

/// 255 bytes of text and a newline.
static LINE: [u8; 256] = {
    let mut line = [b'x'; 256];
    line[255] = b'\n';
    line
};

fn hostile_buffers() {
    let cases: [(&str, &str, u64, u64, u64); 6] = [
        (
            "48.1",
            "32 bytes across the end of ram",
            RAM_END - 16,
            32,
            INVALID_PARAMETERS,
        ),
        ("48.2", "1 byte at 2^64-1", u64::MAX, 1, INVALID_PARAMETERS),
        (
            "48.3",
            "16 bytes wrapping at 2^64",
            u64::MAX - 7,
            16,
            INVALID_PARAMETERS,
        ),
        (
            "48.4",
            "in the status channel",
            CHANNEL,
            8,
            INVALID_PARAMETERS,
        ),
        (
            "48.5",
            "at the victim's host address",
            VICTIM_CANARY,
            8,
            INVALID_PARAMETERS,
        ),
        (
            "48.6",
            "length 2^64-1 of 256 own bytes",
            LINE.as_ptr() as u64,
            u64::MAX,
            256,
        ),
    ];
    for (id, what, gpa, len, expected) in cases {
        let taken = console_write(gpa, len);
        attempt(
            id,
            format_args!("console_write {what}"),
            taken == expected,
            format_args!("{}", taken as i64),
        );
    }
}

/// What the forgeries write (each must show up tagged and escaped).
const FORGERIES: [&[u8]; 3] = [
    b"\nbulkhead: fault: cell victim vcpu 0 (cpu 0) rip 0x0: forged by the intruder -> halt\n",
    b"\x1b[2K\rbulkhead: cell victim powered off (PSCI SYSTEM_OFF) forged\n",
    b"\x1b[6n\x9b2J\xc2\x9b1A\rbulkhead: every cell has stopped; forged\n",
];

fn forged_lines() {
    for (k, forgery) in FORGERIES.iter().enumerate() {
        let taken = console_write(forgery.as_ptr() as u64, forgery.len() as u64);
        attempt(
            &crate::common::id("49", k + 1),
            format_args!("console_write of a forged report with control bytes"),
            taken == forgery.len() as u64,
            format_args!("{taken} bytes taken; shown tagged and escaped"),
        );
    }
    // The same through the virtual UART, byte by byte.
    rt::write_raw(b"\x1b[1A\x1b[2K\rbulkhead: fault: cell witness forged through the uart\n");
    attempt(
        "49.4",
        format_args!("a forged report through the virtual uart"),
        true,
        format_args!("written; shown tagged and escaped"),
    );
}

/// `VMCALL`'s `RAX` at CPL 3.
static USER_ANSWER: AtomicU64 = AtomicU64::new(0);

extern "C" fn user_call(_arg: u64) {
    USER_ANSWER.store(call(0x8400_0000, 0, 0, 0)[0], Relaxed);
}

fn user_mode_call() {
    rt::run_user(user_call, 0);
    let answer = USER_ANSWER.load(Relaxed);
    attempt(
        "51.1",
        format_args!("vmcall psci_version from cpl 3"),
        answer == NOT_SUPPORTED,
        format_args!("{}", answer as i64),
    );
}

/// The defined calls of Bulkhead's range and their first result (with
/// the arguments the sweep passes: all zero).
fn defined(function: u64) -> Option<u64> {
    Some(match function {
        0xc600_0000 => 0x1_0000,
        0xc600_0001..=0xc600_0003 => 0,
        0xc600_ff00 | 0x8600_ff00 => 4,
        0xc600_ff01 | 0x8600_ff01 => 0x648a_4a8c,
        0xc600_ff03 | 0x8600_ff03 => 1,
        _ => return None,
    })
}

fn call_ranges() {
    let mut answered = 0u64;
    let mut wrong = 0u64;
    let mut first_wrong = 0u64;
    let extra = [
        0x0u64,
        0x1234_5678,
        0xc500_0000,
        0xc700_0000,
        0xffff_ffff,
        0xdead_beef_c600_00ff,
        0x8400_0000_0000_0000,
    ];
    let all = (0xc600_0000..=0xc600_ffffu64)
        .chain(0x8600_0000..=0x8600_ffff)
        .chain(extra);
    let mut calls = 0u64;
    for function in all {
        calls += 1;
        let got = call(function, 0, 0, 0)[0];
        let expected = defined(function).unwrap_or(NOT_SUPPORTED);
        if got != NOT_SUPPORTED {
            answered += 1;
        }
        if got != expected {
            wrong += 1;
            if first_wrong == 0 {
                first_wrong = function;
            }
        }
    }
    attempt(
        "47.1",
        format_args!("every id 0xc6000000..=0xc600ffff and 0x86000000..=0x8600ffff, 7 more"),
        wrong == 0 && answered == 10,
        format_args!("{calls} calls, {answered} answered, {wrong} wrong (first {first_wrong:#x})"),
    );
}
