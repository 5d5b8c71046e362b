//! Boot argument 1 (0x101 with the shared page): the catalogue's victim.
//!
//! A 4 KiB canary at guest-physical 0x30_0000 and, with the shared page,
//! the page it shares with the intruder (writable here, read-only there)
//! at 0x1010_0000, both filled with a pattern once. Every 50 LAPIC timer
//! ticks (10 ms each, nominal) both are checked word by word and a line
//! with their checksum is printed:
//!
//! ```text
//! victim: canary ok <checksum> after <checks> checks, <ticks> ticks, <foreign> foreign interrupts
//! ```
//!
//! Any interrupt vector but the timer's counts as foreign. A damaged word
//! is reported (`victim: CANARY DAMAGED at <address>`) and ends the cell.
//! When the intruder is done, one last check and line, then `SYSTEM_OFF`.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use rt::println;

/// Guest-physical address of the canary.
const CANARY_GPA: u64 = 0x30_0000;
/// The page shared read-only with the intruder (this end writable).
const SHARED_GPA: u64 = 0x1010_0000;
/// Words in each page.
const WORDS: usize = 4096 / 8;
/// The LAPIC timer's vector.
const TIMER_VECTOR: u8 = 0x30;
/// LAPIC timer period in bus clocks (divide by 1): 10 ms under Bochs.
const TIMER_COUNT: u32 = 100_000;
/// A line every this many ticks.
const REPORT_EVERY: u64 = 50;

static TICKS: AtomicU64 = AtomicU64::new(0);
static FOREIGN: AtomicU64 = AtomicU64::new(0);

/// The pages to guard, with their patterns' tags.
fn pages(shared: bool) -> impl Iterator<Item = (u64, u64)> {
    [(CANARY_GPA, 0x5afe_c0de), (SHARED_GPA, 0x5eed_da7a)]
        .into_iter()
        .take(if shared { 2 } else { 1 })
}

fn pattern(tag: u64, index: usize) -> u64 {
    tag << 32 | index as u64
}

fn word(page: u64, index: usize) -> *mut u64 {
    (page + 8 * index as u64) as *mut u64
}

/// Checks every word; the checksum, or the first damaged address.
fn check(shared: bool) -> Result<u64, u64> {
    let mut sum: u64 = 0xcbf2_9ce4_8422_2325;
    for (page, tag) in pages(shared) {
        for i in 0..WORDS {
            // SAFETY: the canary is this cell's RAM, the shared page its
            // writable channel end; both identity-mapped and aligned, and
            // used by nothing else of this program.
            let value = unsafe { word(page, i).read_volatile() };
            if value != pattern(tag, i) {
                return Err(word(page, i) as u64);
            }
            sum = (sum ^ value).wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(sum)
}

fn on_timer(_vector: u8) {
    TICKS.fetch_add(1, Relaxed);
}

fn on_foreign(_vector: u8) {
    FOREIGN.fetch_add(1, Relaxed);
}

fn report(shared: bool, checks: u64) {
    match check(shared) {
        Ok(sum) => println!(
            "victim: canary ok {sum:#x} after {checks} checks, {} ticks, {} foreign interrupts",
            TICKS.load(Relaxed),
            FOREIGN.load(Relaxed)
        ),
        Err(address) => {
            println!("victim: CANARY DAMAGED at {address:#x}");
            power_off();
        }
    }
}

fn power_off() -> ! {
    rt::disable_interrupts();
    rt::timer_stop();
    let status = rt::system_off();
    println!("victim: SYSTEM_OFF returned {status}");
    rt::park()
}

/// The catalogue victim's main loop.
pub(crate) fn run(shared: bool) -> ! {
    for (page, tag) in pages(shared) {
        for i in 0..WORDS {
            // SAFETY: as in `check`.
            unsafe { word(page, i).write_volatile(pattern(tag, i)) };
        }
    }
    for vector in 32..=254u8 {
        rt::set_handler(vector, on_foreign);
    }
    rt::set_handler(TIMER_VECTOR, on_timer);
    println!(
        "victim: canary at {CANARY_GPA:#x}{}, timer vector {TIMER_VECTOR:#x}",
        if shared { " and 0x10100000" } else { "" }
    );
    report(shared, 0);
    rt::timer_periodic(TIMER_VECTOR, TIMER_COUNT);
    rt::enable_interrupts();
    let mut checks = 1u64;
    let mut next_report = REPORT_EVERY;
    loop {
        rt::enable_and_wait();
        if TICKS.load(Relaxed) < next_report {
            continue;
        }
        next_report += REPORT_EVERY;
        checks += 1;
        let done = crate::intruder_done();
        report(shared, checks);
        if done {
            println!("victim: the intruder is done");
            power_off();
        }
    }
}
