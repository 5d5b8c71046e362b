//! The PL011 console and `println!`'s line lock.
//!
//! Lines from different vCPUs must not interleave, but with the MMU off
//! every access is Device-nGnRnE, where exclusives (and thus ordinary spin
//! locks) are not architecturally guaranteed to work. The lock is therefore
//! Lamport's bakery: only load-acquire/store-release (`LDAR`/`STLR`,
//! sequentially consistent on AArch64), one slot per vCPU.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

use crate::{LINE_MAX, LineBuf, MAX_VCPUS, vcpu_index};

const UART_BASE: usize = 0x0900_0000;
const UART_DR: *mut u32 = UART_BASE as *mut u32;
const UART_FR: *const u32 = (UART_BASE + 0x018) as *const u32;
const FR_TXFF: u32 = 1 << 5;

/// Writes `bytes` to the PL011 without taking the console lock (for panic
/// and fatal-exception reports).
pub fn write_raw(bytes: &[u8]) {
    for &byte in bytes {
        // SAFETY: the cell's console PL011 is at this guest-physical address
        // (emulated by the hypervisor or QEMU); 32-bit accesses to FR and DR
        // have no effect on this program's memory.
        unsafe {
            while UART_FR.read_volatile() & FR_TXFF != 0 {
                core::hint::spin_loop();
            }
            UART_DR.write_volatile(u32::from(byte));
        }
    }
}

static CHOOSING: [AtomicBool; MAX_VCPUS] = [const { AtomicBool::new(false) }; MAX_VCPUS];
static TICKET: [AtomicU32; MAX_VCPUS] = [const { AtomicU32::new(0) }; MAX_VCPUS];

fn lock(me: usize) {
    CHOOSING[me].store(true, SeqCst);
    let mine = TICKET.iter().map(|t| t.load(SeqCst)).max().unwrap_or(0) + 1;
    TICKET[me].store(mine, SeqCst);
    CHOOSING[me].store(false, SeqCst);
    for other in (0..MAX_VCPUS).filter(|&j| j != me) {
        while CHOOSING[other].load(SeqCst) {
            core::hint::spin_loop();
        }
        loop {
            let theirs = TICKET[other].load(SeqCst);
            if theirs == 0 || (theirs, other) > (mine, me) {
                break;
            }
            core::hint::spin_loop();
        }
    }
}

/// Drops this vCPU's place in the console lock (held or queued).
pub(crate) fn release_lock() {
    TICKET[vcpu_index()].store(0, SeqCst);
}

/// Formats `args` and prints it as one line (what [`println!`](crate::println)
/// expands to). Text beyond [`LINE_MAX`] bytes is cut.
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut line = LineBuf::<LINE_MAX>::new();
    let _ = fmt::write(&mut line, args);
    lock(vcpu_index());
    write_raw(line.as_bytes());
    write_raw(b"\n");
    release_lock();
}
