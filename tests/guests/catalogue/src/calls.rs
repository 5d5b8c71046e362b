//! Catalogue 4.5 item 42 (SMC) and 4.6: hypercalls (attempts 47-50).

use rt::psci::{INVALID_PARAMETERS, NOT_SUPPORTED};

use crate::attempt::{Id, expect_status, report};
use crate::memory::CHANNEL;

/// A call by SMC (trapped and answered by the hypervisor), `x0`.
fn smc(id: u32, a1: u64) -> i64 {
    // SAFETY: the ids used start no code and write no memory of this
    // program (unknown ids, queries, a refused workaround).
    unsafe { rt::smc(id, a1, 0, 0)[0] as i64 }
}

/// A call by HVC, `x0`.
fn hvc(id: u32, a1: u64, a2: u64) -> i64 {
    // SAFETY: Bulkhead calls: unknown ids, queries, CONSOLE_WRITE (which
    // only reads memory).
    unsafe { rt::hvc(id, a1, a2, 0)[0] as i64 }
}

pub(crate) fn run() {
    smc_ids();
    vendor_range_sample();
    console_write_buffers();
    console_write_forgery();
    counters();
}

/// Pseudo-random function ids that are not PSCI (xorshift64, fixed seed).
pub(crate) fn random_ids(seed: u64) -> impl Iterator<Item = u32> {
    let mut state = seed;
    core::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 32) as u32
    })
    .filter(|&id| !rt::psci::is_psci(id) && id >> 24 != 0xc6 && id >> 24 != 0x86)
}

/// 42: SMC with random ids, SMCCC queries, TRNG, SOC_ID and the
/// workarounds: answered by the hypervisor, never passed to firmware
/// except the workarounds on firmware that has them (QEMU has none).
fn smc_ids() {
    for (k, id) in random_ids(0x2545_f491_4f6c_dd1d).take(6).enumerate() {
        expect_status(
            Id(42, k + 1),
            format_args!("smc {id:#010x}"),
            smc(id, 0),
            NOT_SUPPORTED,
        );
    }
    let version = smc(0x8000_0000, 0);
    report(
        Id(42, 7),
        format_args!("smc smccc_version"),
        version >= 0x1_0000,
        format_args!("{version:#x}"),
    );
    for (k, (what, id, a1)) in [
        ("trng_version", 0x8400_0050u32, 0u64),
        ("smccc_arch_soc_id", 0x8000_0002, 0),
        ("arch_features(workaround_3)", 0x8000_0001, 0x8000_3fff),
        ("workaround_2(disable)", 0x8000_7fff, 0),
    ]
    .into_iter()
    .enumerate()
    {
        expect_status(
            Id(42, k + 8),
            format_args!("smc {what}"),
            smc(id, a1),
            NOT_SUPPORTED,
        );
    }
}

/// 47: ids in the vendor hypervisor range that Bulkhead does not define
/// (a sample here; the whole range in the denial-of-service group, where
/// the reports no longer reach the console).
fn vendor_range_sample() {
    let mut k = 0;
    for id in (0xc600_0004..=0xc600_000fu32)
        .chain(0x8600_0000..=0x8600_0003)
        .chain([0xc600_fe00, 0xc6ff_0000])
    {
        k += 1;
        expect_status(
            Id(47, k),
            format_args!("hvc {id:#010x}"),
            hvc(id, 0, 0),
            NOT_SUPPORTED,
        );
    }
    let count = hvc(0xc600_ff00, 0, 0);
    expect_status(Id(47, k + 1), format_args!("hvc call_count"), count, 4);
}

/// 255 printable bytes and a newline.
static TEXT: [u8; 256] = {
    let mut text = [b'x'; 256];
    text[255] = b'\n';
    text
};

/// 48: `CONSOLE_WRITE` of buffers that run past own RAM, wrap the address
/// space, lie in a channel or in another cell: refused, nothing printed;
/// a huge length prints at most 256 bytes of own memory.
fn console_write_buffers() {
    let end = rt::RAM_BASE + crate::memory::OWN_RAM_SIZE;
    for (k, (what, gpa, len)) in [
        ("straddling the end of RAM", end - 16, 32u64),
        ("at the top of the address space", u64::MAX, 1),
        ("wrapping the address space", u64::MAX - 7, 16),
        ("in a channel", CHANNEL, 16),
        ("in another cell", 0x4100_0000, 16),
    ]
    .into_iter()
    .enumerate()
    {
        let status = hvc(rt::HC_CONSOLE_WRITE, gpa, len);
        expect_status(
            Id(48, k + 1),
            format_args!("console_write {what} {gpa:#x}+{len}"),
            status,
            INVALID_PARAMETERS,
        );
    }
    let taken = hvc(rt::HC_CONSOLE_WRITE, TEXT.as_ptr() as u64, u64::MAX);
    report(
        Id(48, 6),
        format_args!("console_write length 2^64-1"),
        taken == 256,
        format_args!("took {taken}"),
    );
}

/// What 49 prints: erase the line, go to column 1, print a forged report
/// of another cell, ask the terminal for the cursor position, C1 CSI.
pub(crate) const FORGERY: &[u8] =
    b"\x1b[2K\x1b[1Gbulkhead: fault: cell victim vcpu 0 (cpu 0) pc 0x0: forged -> halt \x1b[6n \xc2\x9b2J\n";

/// 49: `CONSOLE_WRITE` of control sequences and a forged hypervisor
/// report: taken whole (the harness checks it shows escaped, tagged, and
/// forges no report).
fn console_write_forgery() {
    let result = rt::console_write(FORGERY);
    report(
        Id(49, 1),
        format_args!("console_write escape sequences and a forged report"),
        result == Ok(FORGERY.len()),
        format_args!("{result:?}"),
    );
}

/// 50: `COUNTER` of every index up to 63, and of 2^64-1: the cell's own
/// counters for the defined indices, INVALID_PARAMETERS beyond.
fn counters() {
    let mut defined = 0;
    let mut first_undefined = None;
    let mut gaps = 0;
    for index in 0..64u64 {
        let [status, ..] =
            // SAFETY: a query.
            unsafe { rt::hvc(rt::HC_COUNTER, index, 0, 0) };
        match (status as i64, first_undefined) {
            (0, None) => defined += 1,
            (0, Some(_)) => gaps += 1,
            (INVALID_PARAMETERS, None) => first_undefined = Some(index),
            (INVALID_PARAMETERS, Some(_)) => {}
            _ => gaps += 1,
        }
    }
    report(
        Id(50, 1),
        format_args!("counter 0..=63"),
        defined > 0 && first_undefined.is_some() && gaps == 0,
        format_args!("{defined} defined, then invalid_parameters"),
    );
    let status = hvc(rt::HC_COUNTER, u64::MAX, 0);
    expect_status(
        Id(50, 2),
        format_args!("counter 2^64-1"),
        status,
        INVALID_PARAMETERS,
    );
}
