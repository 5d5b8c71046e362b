//! The hypervisor console: a polled 16550 at an I/O port (COM1), behind a
//! spin lock, plus a lock-bypassing path for panics and exceptions.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use super::cpu;
use crate::config::HYPERVISOR;

/// I/O port base of the console UART.
const BASE: u16 = HYPERVISOR.console.port;
/// Line status register offset and its bits.
const LSR: u16 = 5;
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;
const LSR_DR: u8 = 1 << 0;

/// A 16550 at [`BASE`].
struct Uart;

impl Uart {
    fn init(&self) {
        cpu::outb(BASE + 1, 0x00); // no interrupts
        cpu::outb(BASE + 3, 0x80); // DLAB
        cpu::outb(BASE, 0x01); // 115200 baud
        cpu::outb(BASE + 1, 0x00);
        cpu::outb(BASE + 3, 0x03); // 8N1
        cpu::outb(BASE + 2, 0xc7); // FIFOs on, cleared
        cpu::outb(BASE + 4, 0x03); // DTR | RTS
    }

    fn put(&self, byte: u8) {
        let mut spins = 0u32;
        while cpu::inb(BASE + LSR) & LSR_THRE == 0 && spins < 1_000_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        cpu::outb(BASE, byte);
    }

    fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

static CONSOLE: Mutex<()> = Mutex::new(());
const NO_OWNER: usize = usize::MAX;
static OWNER: AtomicUsize = AtomicUsize::new(NO_OWNER);

/// Initialises the UART (boot CPU, once).
pub fn init() {
    Uart.init();
}

/// Normal output path: one call is one uninterrupted chunk.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let _guard = CONSOLE.lock();
    OWNER.store(cpu::current_index(), Ordering::Relaxed);
    let _ = Uart.write_fmt(args);
    OWNER.store(NO_OWNER, Ordering::Relaxed);
}

/// Runs `f` with the console locked, giving it a byte sink.
pub fn with_sink(f: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    let _guard = CONSOLE.lock();
    OWNER.store(cpu::current_index(), Ordering::Relaxed);
    f(&mut |bytes| Uart.write_bytes(bytes));
    OWNER.store(NO_OWNER, Ordering::Relaxed);
}

/// Output for panics and exceptions: takes the lock if it can within a
/// bounded wait, else writes anyway.
#[doc(hidden)]
pub fn _print_emergency(args: fmt::Arguments<'_>) {
    if OWNER.load(Ordering::Relaxed) != cpu::current_index() {
        for _ in 0..10_000_000u32 {
            if let Some(_guard) = CONSOLE.try_lock() {
                let _ = Uart.write_fmt(args);
                return;
            }
            core::hint::spin_loop();
        }
    }
    let _ = Uart.write_fmt(args);
}

/// Lets received bytes raise the UART's interrupt (IER: data available;
/// MCR: OUT2, which gates the interrupt line on a PC).
pub fn enable_input_interrupt() {
    let _guard = CONSOLE.lock();
    cpu::outb(BASE + 4, 0x0b); // DTR | RTS | OUT2
    cpu::outb(BASE + 1, 0x01);
}

/// A byte typed on the console, if any.
pub fn poll_input() -> Option<u8> {
    (cpu::inb(BASE + LSR) & LSR_DR != 0).then(|| cpu::inb(BASE))
}

/// Waits (bounded) until the UART has sent everything.
pub fn flush() {
    for _ in 0..1_000_000u32 {
        if cpu::inb(BASE + LSR) & LSR_TEMT != 0 {
            return;
        }
        core::hint::spin_loop();
    }
}

/// `println!` for the hypervisor console.
macro_rules! println {
    () => {
        $crate::arch::x86_64::console::_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::arch::x86_64::console::_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `println!` that cannot deadlock on the console lock.
macro_rules! emergency_println {
    ($($arg:tt)*) => {
        $crate::arch::x86_64::console::_print_emergency(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {emergency_println, println};
