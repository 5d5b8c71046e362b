//! Group 6, availability: catalogue items 60 (console floods), 61 (UART
//! polling), 63 (cache maintenance storms: `WBINVD`, finding F11), 64 (a
//! vCPU spinning without exits), 59 (the report budget under refusal and
//! reset loops) and 62 (a restart storm), from both vCPUs, while the
//! witness beside it counts its ticks (the Bochs test checks every window
//! within 1 %) and the victim checks its canary. It counts its boots in
//! its RAM outside its image: boot 1 makes the attempts and starts the
//! restart storm, every boot up to [`RESTARTS`] restarts again (its vCPU 1
//! spinning), the last reports the storm, exceeds the report budget and is
//! done.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rt::println;

use crate::common::{attempt, counter, counters, done};

/// The boot counter: `[MAGIC, boots]`, above the image, below the boot
/// area.
const COUNTER_GPA: u64 = 0x38_0000;
const MAGIC: u64 = 0xd05_0b00_7000_0006;
/// Restarts in the storm.
const RESTARTS: u64 = 10;
/// Per vCPU: lines written by `CONSOLE_WRITE`, bytes through the UART,
/// LSR reads, `WBINVD`s.
const FLOOD_LINES: u64 = 48;
const FLOOD_BYTES: u64 = 2048;
const POLLS: u64 = 20_000;
const WBINVDS: u64 = 5000;
/// Refused `RDMSR`s for the budget (more than the budget of 256).
const REFUSALS: u64 = 300;

/// What vCPU 1 is asked to do next (0: nothing yet).
static PHASE: AtomicU64 = AtomicU64::new(0);
/// What vCPU 1 finished (the phase number).
static FINISHED: AtomicU64 = AtomicU64::new(0);
/// vCPU 1's spin iterations.
static SPINS: AtomicU64 = AtomicU64::new(0);

const FLOOD: u64 = 1;
const UART: u64 = 2;
const POLL: u64 = 3;
const CACHE: u64 = 4;
const SPIN: u64 = 5;

fn count_boot() -> u64 {
    // SAFETY: two words of this cell's RAM used by nothing else (the
    // image ends below 0x30_0000, the boot area starts at 0x3f_8000).
    unsafe { rt::count_boot(COUNTER_GPA, MAGIC) }
}

/// A 256-byte line (255 characters and a newline).
static LINE: [u8; 256] = {
    let mut line = [b'~'; 256];
    line[255] = b'\n';
    line
};

fn flood() -> u64 {
    let mut taken = 0;
    for _ in 0..FLOOD_LINES {
        // SAFETY: CONSOLE_WRITE of this program's own bytes.
        taken += unsafe { rt::hypercall(rt::HC_CONSOLE_WRITE, LINE.as_ptr() as u64, 256, 0) }[0];
    }
    taken
}

fn uart() {
    for i in 0..FLOOD_BYTES {
        rt::outb(0x3f8, if i % 128 == 127 { b'\n' } else { b'=' });
    }
}

fn poll() {
    for _ in 0..POLLS {
        rt::inb(0x3fd);
    }
}

fn wbinvd() {
    for _ in 0..WBINVDS {
        // SAFETY: WBINVD writes back and invalidates caches (under
        // Bulkhead: an exit, a no-op); no memory effect for the program.
        unsafe { core::arch::asm!("wbinvd", options(nostack)) };
    }
}

/// vCPU 1: each phase vCPU 0 asks for, then spinning without exits.
pub(crate) fn secondary(_context: u64) -> ! {
    let mut done_phase = 0;
    loop {
        let phase = PHASE.load(Relaxed);
        if phase == done_phase {
            core::hint::spin_loop();
            continue;
        }
        match phase {
            FLOOD => {
                flood();
            }
            UART => uart(),
            POLL => poll(),
            CACHE => wbinvd(),
            _ => loop {
                SPINS.fetch_add(1, Relaxed);
            },
        }
        done_phase = phase;
        FINISHED.store(phase, Relaxed);
    }
}

/// Runs `phase` on both vCPUs; vCPU 0's part is `mine`.
fn both<T>(phase: u64, mine: impl FnOnce() -> T) -> T {
    PHASE.store(phase, Relaxed);
    let result = mine();
    while FINISHED.load(Relaxed) != phase {
        core::hint::spin_loop();
    }
    result
}

pub(crate) fn run() -> ! {
    let boot = count_boot();
    println!("intruder: group dos, boot {boot}");
    if rt::start_vcpu(1, 0) != rt::psci::SUCCESS {
        println!("intruder: vcpu 1 did not start");
    }
    if boot > 1 {
        restart_storm(boot);
    }
    let taken = both(FLOOD, flood);
    attempt(
        "60.1",
        format_args!("console_write floods of {FLOOD_LINES} 256-byte lines from both vcpus"),
        taken == FLOOD_LINES * 256,
        format_args!("{taken} bytes taken here"),
    );
    both(UART, uart);
    attempt(
        "60.2",
        format_args!("{FLOOD_BYTES} bytes through the uart from both vcpus"),
        true,
        format_args!("written"),
    );
    both(POLL, poll);
    attempt(
        "61.1",
        format_args!("{POLLS} lsr reads from both vcpus"),
        true,
        format_args!("answered"),
    );
    let before = counter(counters::OTHER).unwrap_or(0);
    both(CACHE, wbinvd);
    let after = counter(counters::OTHER).unwrap_or(0);
    attempt(
        "63.1",
        format_args!("{WBINVDS} wbinvds from both vcpus"),
        after - before == 2 * WBINVDS,
        format_args!("{} exits, each a no-op", after - before),
    );
    PHASE.store(SPIN, Relaxed);
    // Two windows of the witness (4 s of its time), vCPU 1 spinning.
    let start = rt::rdtsc();
    while rt::rdtsc() - start < 40_000_000 {
        rt::delay_spins(1000);
    }
    let spins = SPINS.load(Relaxed);
    attempt(
        "64.1",
        format_args!("vcpu 1 spinning without exits"),
        spins > 0,
        format_args!("{spins} iterations without an exit"),
    );
    restart_storm(boot)
}

/// Restarts the cell (its vCPU 1 spinning, to be stopped each time) until
/// the storm is over; then reports it and is done.
fn restart_storm(boot: u64) -> ! {
    if boot <= RESTARTS {
        PHASE.store(SPIN, Relaxed);
        let status = rt::system_reset();
        println!("intruder: SYSTEM_RESET returned {status}");
        rt::park();
    }
    let mut refused = 0;
    for _ in 0..REFUSALS {
        if rt::try_rdmsr(0x3a).is_err() {
            refused += 1;
        }
    }
    attempt(
        "59.1",
        format_args!("{REFUSALS} refused rdmsrs after the restart storm"),
        refused == REFUSALS,
        format_args!("{refused} #GP; reports within the budget"),
    );
    attempt(
        "62.1",
        format_args!("a storm of {RESTARTS} restarts with a spinning vcpu"),
        boot == RESTARTS + 1,
        format_args!("boot {boot}"),
    );
    attempt(
        "59.2",
        format_args!("system_reset loop with a spinning vcpu"),
        true,
        format_args!("restarted {RESTARTS} times; reports within the budget"),
    );
    done("dos")
}
