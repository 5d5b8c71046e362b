//! Boot argument 2: the catalogue's witness, a 1 kHz tick counted in
//! windows of TSC time.
//!
//! The LAPIC timer ticks every 10,000 bus clocks (a millisecond of Bochs'
//! virtual time at 10 M instructions per second; nominal elsewhere). The
//! TSC length of a tick is measured over the first 100 ticks; then every
//! window starts at a tick and lasts 2000 ticks' worth of TSC, counting
//! the ticks that arrive in it, and ends with a line:
//!
//! ```text
//! ticker: window <n>: <ticks> ticks in 2000 ms
//! ```
//!
//! A tick lost (an interrupt held back longer than a period, say because
//! the core was kept in the hypervisor) or a core slowed shows as a window
//! below 2000. The line is printed between windows, so the witness's own
//! console exits are never inside one. When the intruder is done, the
//! witness finishes its window and powers off.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use rt::println;

/// The LAPIC timer's vector.
const TIMER_VECTOR: u8 = 0x31;
/// LAPIC timer period in bus clocks (divide by 1).
const TIMER_COUNT: u32 = 10_000;
/// Ticks the calibration measures.
const CALIBRATION_TICKS: u64 = 100;
/// Ticks (milliseconds) in a window.
const WINDOW_TICKS: u64 = 2000;

static TICKS: AtomicU64 = AtomicU64::new(0);

fn on_timer(_vector: u8) {
    TICKS.fetch_add(1, Relaxed);
}

/// Waits for the next tick; returns the tick count and the TSC right
/// after it.
fn next_tick() -> (u64, u64) {
    let seen = TICKS.load(Relaxed);
    while TICKS.load(Relaxed) == seen {
        rt::enable_and_wait();
    }
    (TICKS.load(Relaxed), rt::rdtsc())
}

/// The witness's main loop.
pub(crate) fn run() -> ! {
    rt::set_handler(TIMER_VECTOR, on_timer);
    rt::timer_periodic(TIMER_VECTOR, TIMER_COUNT);
    rt::enable_interrupts();
    let (first, start) = next_tick();
    let mut end = start;
    while TICKS.load(Relaxed) < first + CALIBRATION_TICKS {
        (_, end) = next_tick();
    }
    let per_tick = (end - start) / CALIBRATION_TICKS;
    println!("ticker: {per_tick} TSC ticks a millisecond, windows of {WINDOW_TICKS} ms");
    let mut window = 0u64;
    loop {
        let (from, t0) = next_tick();
        let deadline = t0 + WINDOW_TICKS * per_tick;
        while rt::rdtsc() < deadline {
            rt::enable_and_wait();
        }
        let ticks = TICKS.load(Relaxed) - from;
        let done = crate::intruder_done();
        println!("ticker: window {window}: {ticks} ticks in {WINDOW_TICKS} ms");
        window += 1;
        if done {
            rt::disable_interrupts();
            rt::timer_stop();
            println!("ticker: the intruder is done");
            let status = rt::system_off();
            println!("ticker: SYSTEM_OFF returned {status}");
            rt::park();
        }
    }
}
