//! Panic handler, stopping other CPUs, and powering the machine off.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use super::console::{self, emergency_println};
use super::cpu;
use crate::config::CPUS;

/// Set once some CPU panicked: every other CPU halts at its next look.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether the system is being stopped after a panic.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::Acquire)
}

/// Halts this CPU if another one panicked.
pub fn stop_if_requested() {
    if stopping() {
        cpu::halt_forever();
    }
}

/// Powers the machine off: Bochs' shutdown port (the only x86 platform so
/// far), after the console has drained.
pub fn power_off() -> ! {
    console::flush();
    for &byte in b"Shutdown" {
        cpu::outb(0x8900, byte);
    }
    cpu::halt_forever()
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let me = cpu::current_index();
    let (file, line, column) = info
        .location()
        .map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
    let first = !STOPPING.swap(true, Ordering::AcqRel);
    emergency_println!(
        "PANIC on cpu {me} at {file}:{line}:{column}: {}",
        info.message()
    );
    if first {
        let mut others = 0;
        for (index, desc) in CPUS.iter().enumerate() {
            if index != me {
                cpu::send_nmi(desc.hw_id as u32);
                others += 1;
            }
        }
        emergency_println!("all cores stopped ({others} others)");
    }
    console::flush();
    cpu::halt_forever()
}
