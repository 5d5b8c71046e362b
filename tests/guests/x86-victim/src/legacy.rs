//! Boot argument 0: the isolation demo's victim (see the crate documentation).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use rt::println;

/// Guest-physical address of the canary (below the boot area, above
/// the image: link.ld keeps images below it).
const CANARY_GPA: u64 = 0x30_0000;
/// Canary words (4 KiB).
const WORDS: usize = 4096 / 8;
/// The LAPIC timer's vector.
const TIMER_VECTOR: u8 = 0x30;
/// The vector `x86-intruder` sends to this core.
const FOREIGN_VECTOR: u8 = 0x40;
/// LAPIC timer period in bus clocks (divide by 1); rough under Bochs.
const TIMER_COUNT: u32 = 100_000;
/// A progress line every this many ticks.
const REPORT_EVERY: u64 = 50;
/// Ticks before the summary and power-off.
const TOTAL_TICKS: u64 = 300;
/// Checks needed before the summary (one per wake-up at least).
const MIN_CHECKS: u64 = 10;

static TICKS: AtomicU64 = AtomicU64::new(0);
static FOREIGN: AtomicU64 = AtomicU64::new(0);

fn pattern(index: usize) -> u64 {
    0x5afe_c0de_0000_0000 | index as u64
}

fn word(index: usize) -> *mut u64 {
    (CANARY_GPA + 8 * index as u64) as *mut u64
}

/// The first canary word that does not hold its pattern.
fn damaged() -> Option<usize> {
    (0..WORDS).find(|&i| {
        // SAFETY: the canary page is this cell's RAM, used by nothing
        // else of this program (identity-mapped, 8-byte aligned).
        let value = unsafe { word(i).read_volatile() };
        value != pattern(i)
    })
}

fn on_timer(_vector: u8) {
    TICKS.fetch_add(1, Relaxed);
}

fn on_foreign(_vector: u8) {
    FOREIGN.fetch_add(1, Relaxed);
}

fn power_off() -> ! {
    rt::disable_interrupts();
    rt::timer_stop();
    let status = rt::system_off();
    println!("victim: SYSTEM_OFF returned {status}");
    rt::park()
}

pub(crate) fn run() -> ! {
    for i in 0..WORDS {
        // SAFETY: as in `damaged`.
        unsafe { word(i).write_volatile(pattern(i)) };
    }
    rt::set_handler(TIMER_VECTOR, on_timer);
    rt::set_handler(FOREIGN_VECTOR, on_foreign);
    println!("victim: canary at {CANARY_GPA:#x}, timer vector {TIMER_VECTOR:#x}");
    rt::timer_periodic(TIMER_VECTOR, TIMER_COUNT);
    rt::enable_interrupts();
    let mut checks = 0u64;
    let mut next_report = REPORT_EVERY;
    loop {
        if let Some(i) = damaged() {
            println!("victim: CANARY DAMAGED at {:#x}", word(i) as u64);
            power_off();
        }
        checks += 1;
        let ticks = TICKS.load(Relaxed);
        if ticks >= next_report {
            println!("victim: {ticks} ticks, canary intact after {checks} checks");
            next_report = (ticks / REPORT_EVERY + 1) * REPORT_EVERY;
        }
        if ticks >= TOTAL_TICKS && checks >= MIN_CHECKS {
            rt::disable_interrupts();
            println!(
                "victim: canary intact after {checks} checks; {} foreign interrupts; {} timer ticks",
                FOREIGN.load(Relaxed),
                TICKS.load(Relaxed)
            );
            power_off();
        }
        rt::enable_and_wait();
    }
}
