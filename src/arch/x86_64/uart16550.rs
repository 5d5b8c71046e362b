//! The hypervisor's console UART on x86: a polled 16550 at an I/O port
//! (COM1). The core adds the lock, the emergency path and `\r\n`.

use super::cpu;
use crate::arch::ConsoleUart;
use crate::config::HYPERVISOR;

/// I/O port base of the console UART.
const BASE: u16 = HYPERVISOR.console.port;
/// Registers (offsets from [`BASE`]) and bits.
const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
const LSR_TRANSMITTER_EMPTY: u8 = 1 << 6;
/// How long a write or a drain polls before giving up (a wedged UART must
/// not hang the panic path).
const SPIN_LIMIT: u32 = 1_000_000;

/// The 16550 at [`BASE`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Uart16550;

impl Uart16550 {
    /// 115200 baud 8N1, FIFOs on, no interrupts. Boot CPU, once.
    pub(super) fn init(self) {
        cpu::outb(BASE + INTERRUPT_ENABLE, 0x00);
        cpu::outb(BASE + LINE_CONTROL, 0x80); // DLAB: divisor follows
        cpu::outb(BASE + DATA, 0x01); // 115200 baud
        cpu::outb(BASE + INTERRUPT_ENABLE, 0x00);
        cpu::outb(BASE + LINE_CONTROL, 0x03); // 8N1
        cpu::outb(BASE + FIFO_CONTROL, 0xc7); // FIFOs on, cleared
        cpu::outb(BASE + MODEM_CONTROL, 0x03); // DTR | RTS
    }

    fn put(self, byte: u8) {
        let mut spins = 0u32;
        while cpu::inb(BASE + LINE_STATUS) & LSR_THR_EMPTY == 0 && spins < SPIN_LIMIT {
            spins += 1;
            core::hint::spin_loop();
        }
        cpu::outb(BASE + DATA, byte);
    }
}

impl ConsoleUart for Uart16550 {
    fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.put(byte);
        }
    }

    fn read_byte(&mut self) -> Option<u8> {
        (cpu::inb(BASE + LINE_STATUS) & LSR_DATA_READY != 0).then(|| cpu::inb(BASE + DATA))
    }

    fn drain(&mut self) {
        for _ in 0..SPIN_LIMIT {
            if cpu::inb(BASE + LINE_STATUS) & LSR_TRANSMITTER_EMPTY != 0 {
                return;
            }
            core::hint::spin_loop();
        }
    }

    /// IER: data available; MCR: OUT2, which gates the interrupt line on a
    /// PC.
    fn enable_receive_interrupt(&mut self) {
        cpu::outb(BASE + MODEM_CONTROL, 0x0b); // DTR | RTS | OUT2
        cpu::outb(BASE + INTERRUPT_ENABLE, 0x01);
    }
}
