//! COM1 (a polled 16550) and `println!`'s line lock.
//!
//! RAM is write-back, so the lock is an ordinary spin lock (the owner's
//! vCPU index + 1 in an atomic); it is held with interrupts off, so an
//! interrupt handler that prints cannot deadlock its own vCPU.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::cpu::{inb, irq_restore, irq_save, outb};
use crate::{LINE_MAX, LineBuf, vcpu_index};

/// COM1's transmit holding register.
const COM1_THR: u16 = 0x3f8;
/// COM1's line status register.
const COM1_LSR: u16 = 0x3fd;
/// LSR: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;

/// Writes `bytes` to COM1 without taking the console lock (for panic and
/// fatal-exception reports, or when the caller holds it).
pub fn write_raw(bytes: &[u8]) {
    for &byte in bytes {
        while inb(COM1_LSR) & LSR_THRE == 0 {
            core::hint::spin_loop();
        }
        outb(COM1_THR, byte);
    }
}

/// 0 = free, otherwise the holder's vCPU index + 1.
static OWNER: AtomicUsize = AtomicUsize::new(0);

fn lock(me: usize) {
    while OWNER
        .compare_exchange_weak(0, me + 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
}

fn unlock() {
    OWNER.store(0, Ordering::Release);
}

fn write_line(line: &LineBuf<LINE_MAX>) {
    write_raw(line.as_bytes());
    write_raw(b"\n");
}

/// Formats `args` and prints it as one line (what [`println!`](crate::println)
/// expands to). Text beyond [`LINE_MAX`] bytes is cut.
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut line = LineBuf::<LINE_MAX>::new();
    let _ = fmt::write(&mut line, args);
    let flags = irq_save();
    lock(vcpu_index());
    write_line(&line);
    unlock();
    irq_restore(flags);
}

/// Prints a fatal report (exception, panic) with interrupts off: takes the
/// lock unless this vCPU already holds it (the fault interrupted its own
/// `println!`), and never gives it back if it was held (the vCPU parks).
pub(crate) fn print_fatal(args: fmt::Arguments<'_>) {
    let mut line = LineBuf::<LINE_MAX>::new();
    let _ = fmt::write(&mut line, args);
    let me = vcpu_index();
    let held = OWNER.load(Ordering::Relaxed) == me + 1;
    if !held {
        lock(me);
    }
    write_line(&line);
    if !held {
        unlock();
    }
}
