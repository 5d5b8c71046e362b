//! Group 7, the phoenix: faults that end a run, under `fault-policy =
//! "restart"` (catalogue items 58.2, 58.3 and 10.2). It counts its boots
//! in its RAM outside its image (a restart reloads only the image), does
//! one deadly thing per run, and reports the previous run's on the next:
//!
//! 1. a write outside its RAM (an EPT violation);
//! 2. a triple fault (an IDT with limit 0, then `ud2`);
//! 3. CR3 pointing outside its RAM (the next page walk is an EPT
//!    violation);
//! 4. `SYSTEM_OFF`.

use core::arch::asm;

use rt::println;

use crate::common::attempt;

/// The boot counter: `[MAGIC, boots]`, above the image, below the boot
/// area.
const COUNTER_GPA: u64 = 0x38_0000;
const MAGIC: u64 = 0x9b0e_41c5_0000_0001;
/// Outside the cell's 4 MiB of RAM.
const OUTSIDE: u64 = 0x80_0000;
/// A CR3 outside the cell's RAM.
const BAD_CR3: u64 = 0x8000_0000;

/// Counts this boot; returns its number (1 on the first).
fn count_boot() -> u64 {
    // SAFETY: two words of this cell's RAM used by nothing else (the
    // image ends below 0x30_0000, the boot area starts at 0x3f_8000).
    unsafe { rt::count_boot(COUNTER_GPA, MAGIC) }
}

pub(crate) fn run() -> ! {
    let boot = count_boot();
    println!("phoenix: boot {boot}");
    match boot {
        1 => {
            // SAFETY: outside the cell: the fault policy restarts it.
            unsafe { (OUTSIDE as *mut u64).write_volatile(0xdead_beef) };
        }
        2 => {
            attempt(
                "58.2",
                format_args!("write outside ram under the restart policy"),
                true,
                format_args!("restarted, boot {boot}"),
            );
            triple_fault();
        }
        3 => {
            attempt(
                "58.3",
                format_args!("triple fault under the restart policy"),
                true,
                format_args!("restarted, boot {boot}"),
            );
            // SAFETY: deliberately fatal: the next page walk reads the
            // PML4 at a guest-physical address outside the cell.
            unsafe { asm!("mov cr3, {}", "mov rax, [0x1000]", in(reg) BAD_CR3, out("rax") _) };
        }
        _ => {
            attempt(
                "10.2",
                format_args!("cr3 outside ram"),
                boot == 4,
                format_args!("restarted by the fault policy, boot {boot}"),
            );
            let status = rt::system_off();
            println!("phoenix: SYSTEM_OFF returned {status}");
        }
    }
    println!("phoenix: STILL RUNNING after boot {boot}'s fault");
    rt::park()
}

/// An IDT with limit 0 and `ud2`: `#UD`, `#GP`, `#DF` cannot be delivered.
fn triple_fault() {
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let idtr = Idtr { limit: 0, base: 0 };
    // SAFETY: deliberately unrecoverable (the fault policy restarts the
    // cell); nothing after it runs.
    unsafe { asm!("cli", "lidt [{}]", "ud2", in(reg) &raw const idtr, options(nostack)) };
}
