//! Panic handler: report, stop every other CPU, halt.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use super::console::{self, emergency_println};
use super::cpu;
use super::mmu;
use super::platform::MAX_CPUS;
use super::smp::{self, StopOutcome};

/// Per-CPU "already panicking" flags (recursive panic detection).
static PANICKING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cpu::mask_all_exceptions();
    let me = cpu::current_index();
    let (file, line, column) = info
        .location()
        .map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));

    if !mmu::is_enabled() {
        // Early boot: only this CPU runs, and atomic read-modify-write
        // (exclusives) is not reliable on the Device memory we see with the
        // MMU off. Print without the lock and stop.
        emergency_println!(
            "PANIC on cpu {me} at {file}:{line}:{column}: {} (MMU off)",
            info.message()
        );
        console::flush();
        cpu::halt();
    }

    if PANICKING[me].swap(true, Ordering::Relaxed) {
        emergency_println!(
            "PANIC on cpu {me} while panicking, at {file}:{line}:{column}: {}",
            info.message()
        );
        console::flush();
        cpu::halt();
    }

    emergency_println!(
        "PANIC on cpu {me} at {file}:{line}:{column}: {}",
        info.message()
    );

    match smp::stop_other_cpus(me) {
        StopOutcome::Coordinated { others, stopped } if stopped >= others => {
            emergency_println!("all cores stopped ({others} others)");
        }
        StopOutcome::Coordinated { others, stopped } => {
            emergency_println!("{} of {others} cores did not stop", others - stopped);
        }
        StopOutcome::AlreadyInProgress => {
            // Another CPU panicked first and is collecting acknowledgements.
            console::flush();
            smp::stop_this_cpu();
        }
    }
    console::flush();
    cpu::halt()
}
