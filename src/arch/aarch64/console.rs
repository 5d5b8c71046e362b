//! The hypervisor console: a PL011 behind a spin lock, plus a lock-bypassing
//! emergency path for exception and panic reports.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use super::cpu;
use super::mmu;
use super::pl011::{Pl011, Pl011Error};
use super::platform::{CONSOLE_BAUD_RATE, CONSOLE_UART_BASE, CONSOLE_UART_CLOCK_HZ};

static CONSOLE: Mutex<Option<Pl011>> = Mutex::new(None);

const NO_OWNER: usize = usize::MAX;
/// CPU index currently holding [`CONSOLE`]'s lock (or [`NO_OWNER`]). Only the
/// owner ever stores its own index, so a CPU comparing against its own index
/// never needs stronger ordering than `Relaxed`.
static OWNER: AtomicUsize = AtomicUsize::new(NO_OWNER);

/// How long the emergency path waits for another CPU to release the lock
/// before bypassing it: long enough for a ~200 character line at 115200 baud.
const EMERGENCY_LOCK_TIMEOUT_US: u64 = 50_000;
/// Backstop for the same wait in case the system counter does not tick.
const EMERGENCY_LOCK_SPIN_LIMIT: u32 = 10_000_000;

/// Initialise the console UART. Call once, on the boot CPU, with the MMU on
/// (the lock uses exclusive load/store, which need cacheable memory).
pub fn init() -> Result<(), Pl011Error> {
    let uart = raw_uart();
    uart.init(CONSOLE_UART_CLOCK_HZ, CONSOLE_BAUD_RATE)?;
    *CONSOLE.lock() = Some(uart);
    Ok(())
}

/// A driver instance for the console UART that bypasses the lock.
fn raw_uart() -> Pl011 {
    // SAFETY: CONSOLE_UART_BASE is the console PL011 from the platform config;
    // it is identity-mapped as Device memory by the boot page tables (or
    // reachable as Device memory while the MMU is off).
    unsafe { Pl011::new(CONSOLE_UART_BASE) }
}

/// Normal output path: serialised by the console lock, one call == one
/// uninterrupted chunk of output.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut guard = CONSOLE.lock();
    OWNER.store(cpu::current_index(), Ordering::Relaxed);
    if let Some(uart) = guard.as_mut() {
        let _ = uart.write_fmt(args);
    }
    OWNER.store(NO_OWNER, Ordering::Relaxed);
}

/// Runs `f` with the console locked, giving it a byte sink: everything it
/// emits comes out as one uninterrupted chunk (a cell's tagged line).
pub fn with_sink(f: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    let mut guard = CONSOLE.lock();
    OWNER.store(cpu::current_index(), Ordering::Relaxed);
    if let Some(uart) = guard.as_mut() {
        f(&mut |bytes| uart.write_bytes(bytes));
    }
    OWNER.store(NO_OWNER, Ordering::Relaxed);
}

/// Lets typed bytes raise the console UART's interrupt (the hypervisor
/// takes it and moves the input to its target, see `vconsole`).
pub fn enable_input_interrupt() {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        uart.enable_receive_interrupt();
    }
}

/// A byte typed on the console, if any.
pub fn poll_input() -> Option<u8> {
    CONSOLE.lock().as_ref().and_then(Pl011::try_getc)
}

/// Output path for exception and panic reports. Never deadlocks:
/// * MMU off: no atomics at all (exclusives may not work on Device memory),
///   write straight to the UART;
/// * this CPU already holds the lock (we faulted/panicked while printing):
///   bypass it;
/// * another CPU holds it: retry for a bounded time, then bypass it.
#[doc(hidden)]
pub fn _print_emergency(args: fmt::Arguments<'_>) {
    if !mmu::is_enabled() || OWNER.load(Ordering::Relaxed) == cpu::current_index() {
        let _ = raw_uart().write_fmt(args);
        return;
    }
    let deadline = cpu::Deadline::after_micros(EMERGENCY_LOCK_TIMEOUT_US);
    for _ in 0..EMERGENCY_LOCK_SPIN_LIMIT {
        if let Some(mut guard) = CONSOLE.try_lock() {
            OWNER.store(cpu::current_index(), Ordering::Relaxed);
            let _ = match guard.as_mut() {
                Some(uart) => uart.write_fmt(args),
                None => raw_uart().write_fmt(args),
            };
            OWNER.store(NO_OWNER, Ordering::Relaxed);
            return;
        }
        if deadline.expired() {
            break;
        }
        core::hint::spin_loop();
    }
    let _ = raw_uart().write_fmt(args);
}

/// Wait (bounded) until all console output has left the UART.
pub fn flush() {
    raw_uart().drain();
}

/// `println!` for the hypervisor console.
macro_rules! println {
    () => {
        $crate::arch::aarch64::console::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::arch::aarch64::console::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `println!` that cannot deadlock on the console lock (panic/exception paths).
macro_rules! emergency_println {
    ($($arg:tt)*) => {
        $crate::arch::aarch64::console::_print_emergency(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {emergency_println, println};
