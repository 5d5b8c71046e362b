//! The hypervisor's own console: one lock for every CPU's output, and an
//! emergency path for panic reports that never deadlocks.
//!
//! The UART itself is the architecture's ([`ConsoleUart`]); here a call is
//! one uninterrupted chunk of output, `\n` becomes `\r\n`, and a CPU that
//! panics while it holds the lock (or before locks work) still gets its
//! report out.

use core::fmt;
use core::sync::atomic::Ordering;

use super::console_lock::{EMERGENCY_LOCK_TRIES, NO_OWNER};
use crate::arch::{Arch, ConsoleUart};
use crate::hypervisor::Hypervisor;

/// Writes through a UART, `\n` as `\r\n`.
struct Lines<U>(U);

impl<U: ConsoleUart> Lines<U> {
    fn write(&mut self, bytes: &[u8]) {
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            match line.split_last() {
                Some((b'\n', text)) => {
                    self.0.write_bytes(text);
                    self.0.write_bytes(b"\r\n");
                }
                _ => self.0.write_bytes(line),
            }
        }
    }
}

impl<U: ConsoleUart> fmt::Write for Lines<U> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// Runs `f` with the console locked: whatever it writes comes out as
    /// one uninterrupted chunk.
    fn with_console<R>(&self, f: impl FnOnce(&mut Lines<A::ConsoleUart>) -> R) -> R {
        let console = &self.console;
        let _guard = console.lock.lock();
        console
            .owner
            .store(self.arch.current_cpu(), Ordering::Relaxed);
        let result = f(&mut Lines(self.arch.console_uart()));
        console.owner.store(NO_OWNER, Ordering::Relaxed);
        result
    }

    /// Prints `args` (use [`hv_println!`](crate::hv_println)).
    pub(crate) fn print(&self, args: fmt::Arguments<'_>) {
        self.with_console(|out| {
            let _ = fmt::write(out, args);
        });
    }

    /// Runs `f` with the console locked and a byte sink into it (a cell's
    /// tagged line comes out whole).
    pub(crate) fn with_console_sink(&self, f: impl FnOnce(&mut dyn FnMut(&[u8]))) {
        self.with_console(|out| f(&mut |bytes| out.write(bytes)));
    }

    /// A byte typed on the console, if any. (A short, printless critical
    /// section: it needs no owner for the emergency path.)
    pub(crate) fn read_console_byte(&self) -> Option<u8> {
        let _guard = self.console.lock.lock();
        self.arch.console_uart().read_byte()
    }

    /// Lets typed bytes raise the console's interrupt.
    pub(crate) fn enable_console_input(&self) {
        self.with_console(|out| out.0.enable_receive_interrupt());
    }

    /// Waits (bounded) until everything printed has left the UART.
    pub(crate) fn drain_console(&self) {
        self.arch.console_uart().drain();
    }

    /// Prints `args` for a panic or exception report (use
    /// [`hv_emergency_println!`](crate::hv_emergency_println)). Never
    /// deadlocks: before locks work, or when this CPU already holds the
    /// lock (it faulted while printing), it writes straight away; when
    /// another CPU holds it, it waits a bounded time and then writes anyway.
    pub(crate) fn print_emergency(&self, args: fmt::Arguments<'_>) {
        let me = self.arch.current_cpu();
        let console = &self.console;
        if self.arch.locks_usable() && console.owner.load(Ordering::Relaxed) != me {
            for _ in 0..EMERGENCY_LOCK_TRIES {
                if let Some(_guard) = console.lock.try_lock() {
                    console.owner.store(me, Ordering::Relaxed);
                    let _ = fmt::write(&mut Lines(self.arch.console_uart()), args);
                    console.owner.store(NO_OWNER, Ordering::Relaxed);
                    return;
                }
                core::hint::spin_loop();
            }
        }
        let _ = fmt::write(&mut Lines(self.arch.console_uart()), args);
    }
}

/// `println!` on the hypervisor console: `hv_println!(hv, "...", ...)`.
#[macro_export]
#[doc(hidden)]
macro_rules! hv_println {
    ($hv:expr, $($arg:tt)*) => {
        $hv.print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `println!` for panic and exception reports (never deadlocks):
/// `hv_emergency_println!(hv, "...", ...)`.
#[macro_export]
#[doc(hidden)]
macro_rules! hv_emergency_println {
    ($hv:expr, $($arg:tt)*) => {
        $hv.print_emergency(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use crate::arch::fake::{FakeArch, TestHv};

    #[test]
    fn newlines_reach_the_uart_as_crlf_and_a_print_is_one_chunk() {
        let hv = TestHv::over(FakeArch::two_cells());
        crate::hv_println!(hv, "one\ntwo");
        assert_eq!(hv.arch.console_text(), "one\r\ntwo\r\n");
    }

    #[test]
    fn emergency_output_gets_out_while_this_cpu_holds_the_lock() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.with_console_sink(|sink| {
            sink(b"half a line ");
            // A fault while printing: the report must not deadlock.
            crate::hv_emergency_println!(hv, "PANIC");
        });
        assert_eq!(hv.arch.console_text(), "half a line PANIC\r\n");
    }

    #[test]
    fn emergency_output_before_locks_work_bypasses_the_lock() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.set_locks_usable(false);
        crate::hv_emergency_println!(hv, "early");
        assert_eq!(hv.arch.console_text(), "early\r\n");
    }
}
