//! A virtual 16550 UART as a cell sees it at the console's I/O ports (x86
//! COM1): enough for polled output and for drivers that program it.
//!
//! Writes of THR emit the byte; LSR always reads "transmitter empty"
//! (THRE | TEMT) and "data ready" when input is queued; LCR, IER, MCR, SCR
//! and the divisor latch keep what was written; IIR reads "no interrupt
//! pending" with FIFOs enabled; MSR reads CTS | DSR | DCD. Input bytes
//! queue in a 16-byte receive FIFO, as on a 16550A, and are read through
//! RBR; a byte arriving at a full FIFO is dropped and sets the overrun bit
//! (LSR bit 1), which reading LSR clears. Arch-neutral and host-tested.

use crate::cell::access::AccessSize;
use crate::console::virtual_uart::VirtualUart;

/// Register block size in ports.
pub(crate) const PORTS: u16 = 8;

/// Depth of the receive FIFO (a 16550A's).
pub(crate) const RX_FIFO: usize = 16;

const LSR_DR: u8 = 1 << 0;
const LSR_OE: u8 = 1 << 1;
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;
const LCR_DLAB: u8 = 1 << 7;

/// One cell's virtual 16550.
#[derive(Debug, Clone)]
pub(crate) struct Virtual16550 {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    input: heapless::Deque<u8, RX_FIFO>,
    overrun: bool,
}

impl Default for Virtual16550 {
    fn default() -> Self {
        Self::new()
    }
}

impl Virtual16550 {
    /// Reset state.
    pub(crate) const fn new() -> Self {
        Virtual16550 {
            ier: 0,
            lcr: 0x03,
            mcr: 0,
            scr: 0,
            dll: 1,
            dlm: 0,
            input: heapless::Deque::new(),
            overrun: false,
        }
    }

    /// Reads register `offset` (0..8).
    pub(crate) fn read(&mut self, offset: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.dll,
            0 => self.input.pop_front().unwrap_or(0),
            1 if dlab => self.dlm,
            1 => self.ier,
            2 => 0xc1, // no interrupt pending, FIFOs enabled
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let overrun = core::mem::take(&mut self.overrun);
                LSR_THRE
                    | LSR_TEMT
                    | if self.input.is_empty() { 0 } else { LSR_DR }
                    | if overrun { LSR_OE } else { 0 }
            }
            6 => 0xb0, // DCD | DSR | CTS
            7 => self.scr,
            _ => 0xff,
        }
    }

    /// Writes `value` to register `offset`; a transmitted byte goes to
    /// `emit`.
    pub(crate) fn write(&mut self, offset: u16, value: u8, emit: &mut impl FnMut(u8)) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.dll = value,
            0 => emit(value),
            1 if dlab => self.dlm = value,
            1 => self.ier = value & 0x0f,
            3 => self.lcr = value,
            4 => self.mcr = value & 0x1f,
            7 => self.scr = value,
            _ => {} // FCR, LSR, MSR: ignored
        }
    }

    /// Queues one input byte; with the FIFO full it is dropped and the
    /// overrun bit is set.
    pub(crate) fn push_input(&mut self, byte: u8) {
        if self.input.push_back(byte).is_err() {
            self.overrun = true;
        }
    }
}

impl VirtualUart for Virtual16550 {
    const RESET: Self = Self::new();
    const WINDOW: u64 = PORTS as u64;

    /// Port I/O reaches it a byte at a time.
    fn read(&mut self, offset: u64, _size: AccessSize) -> u32 {
        u32::from(Virtual16550::read(self, offset as u16))
    }

    fn write(&mut self, offset: u64, value: u32, transmit: &mut dyn FnMut(u8)) {
        Virtual16550::write(self, offset as u16, value as u8, &mut |byte| transmit(byte));
    }

    fn receive(&mut self, byte: u8) {
        self.push_input(byte);
    }

    /// Guests poll it: it raises no interrupt.
    fn interrupt_pending(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thr_writes_emit_and_lsr_says_empty() {
        let mut uart = Virtual16550::new();
        let mut out = heapless::Vec::<u8, 8>::new();
        uart.write(0, b'h', &mut |b| out.push(b).unwrap());
        uart.write(0, b'i', &mut |b| out.push(b).unwrap());
        assert_eq!(&out[..], b"hi");
        assert_eq!(uart.read(5), 0x60);
    }

    #[test]
    fn divisor_latch_does_not_emit() {
        let mut uart = Virtual16550::new();
        let mut emitted = 0;
        uart.write(3, 0x80, &mut |_| emitted += 1);
        uart.write(0, 0x01, &mut |_| emitted += 1);
        uart.write(1, 0x00, &mut |_| emitted += 1);
        assert_eq!(uart.read(0), 0x01);
        uart.write(3, 0x03, &mut |_| emitted += 1);
        assert_eq!(emitted, 0);
        assert_eq!(uart.read(3), 0x03);
    }

    #[test]
    fn input_is_read_once_with_data_ready() {
        let mut uart = Virtual16550::new();
        uart.push_input(b'x');
        assert_eq!(uart.read(5) & LSR_DR, LSR_DR);
        assert_eq!(uart.read(0), b'x');
        assert_eq!(uart.read(5) & LSR_DR, 0);
        assert_eq!(uart.read(0), 0);
    }

    #[test]
    fn a_burst_queues_in_order_and_overflow_sets_overrun_once() {
        let mut uart = Virtual16550::new();
        for byte in 0..RX_FIFO as u8 + 3 {
            uart.push_input(b'a' + byte);
        }
        assert_eq!(uart.read(5), 0x60 | LSR_DR | LSR_OE);
        assert_eq!(uart.read(5), 0x60 | LSR_DR, "reading LSR clears overrun");
        for byte in 0..RX_FIFO as u8 {
            assert_eq!(uart.read(0), b'a' + byte);
        }
        assert_eq!(uart.read(5), 0x60);
        assert_eq!(uart.read(0), 0);
    }

    #[test]
    fn scratch_and_control_registers_keep_values() {
        let mut uart = Virtual16550::new();
        uart.write(7, 0x5a, &mut |_| {});
        uart.write(1, 0xff, &mut |_| {});
        uart.write(4, 0xff, &mut |_| {});
        assert_eq!(uart.read(7), 0x5a);
        assert_eq!(uart.read(1), 0x0f);
        assert_eq!(uart.read(4), 0x1f);
        assert_eq!(uart.read(2), 0xc1);
        assert_eq!(uart.read(9), 0xff);
    }
}
