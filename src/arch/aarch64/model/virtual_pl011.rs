//! Emulated Arm PL011 UART: the register model behind a cell's virtual console.
//!
//! Good enough for Linux's `amba-pl011` driver and `earlycon=pl011`: the
//! PrimeCell ID registers identify an r1p5 PL011 (revision 3, 32-byte
//! FIFOs), transmit never back-pressures (every byte written to UARTDR is
//! handed to the caller at once), and received bytes wait in a 32-byte FIFO
//! filled with [`VirtualPl011::push_input`].
//!
//! Register accesses follow the trapped access: only word-aligned offsets
//! name registers; any other offset, an unknown register and a write-only
//! register read as 0, and writes to them or to read-only registers are
//! ignored. A sub-word read returns the low bits of the register; a write
//! stores the (already size-masked) value, so a byte write zeroes the upper
//! bits, as a 32-bit APB register would.
//!
//! Interrupts (for the virtual interrupt controller): RXRIS and RTRIS are
//! raised while the receive FIFO holds data, TXRIS is always raised (the
//! transmit FIFO always has room), and OERIS latches when a received byte is
//! dropped because the FIFO is full, until UARTICR clears it.
//! [`VirtualPl011::interrupt_pending`] is the level of the UART's interrupt line.
//!
//! Not modelled: baud rates, line settings, FIFO trigger levels, modem
//! lines, DMA, IrDA and framing/parity/break errors. The values written to
//! those registers are stored and read back.

use heapless::Deque;

use super::esr::AccessSize;
use crate::console::virtual_uart::VirtualUart;

/// Receive FIFO depth of a PL011 r1p5.
pub(crate) const RX_FIFO_DEPTH: usize = 32;

/// Size of the register window the guest sees (one 4 KiB page).
pub(crate) const MMIO_SIZE: u64 = 0x1000;

// Register offsets.
const UARTDR: u64 = 0x000;
const UARTRSR_ECR: u64 = 0x004;
const UARTFR: u64 = 0x018;
const UARTILPR: u64 = 0x020;
const UARTIBRD: u64 = 0x024;
const UARTFBRD: u64 = 0x028;
const UARTLCR_H: u64 = 0x02c;
const UARTCR: u64 = 0x030;
const UARTIFLS: u64 = 0x034;
const UARTIMSC: u64 = 0x038;
const UARTRIS: u64 = 0x03c;
const UARTMIS: u64 = 0x040;
const UARTICR: u64 = 0x044;
const UARTDMACR: u64 = 0x048;
const ID_REGISTERS: u64 = 0xfe0;

/// UARTPeriphID0..3 then UARTPCellID0..3 (0xFE0..=0xFFC): part 0x011,
/// designer 0x41 (Arm), revision 3 (r1p5), PrimeCell ID 0xB105F00D.
const ID_VALUES: [u32; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

// UARTFR bits. TXFF and BUSY are never set; the tests check that.
impl VirtualUart for VirtualPl011 {
    const RESET: Self = Self::new();
    const WINDOW: u64 = MMIO_SIZE;

    fn read(&mut self, offset: u64, size: AccessSize) -> u32 {
        VirtualPl011::read(self, offset, size)
    }

    fn write(&mut self, offset: u64, value: u32, transmit: &mut dyn FnMut(u8)) {
        VirtualPl011::write(self, offset, value, &mut |byte| transmit(byte));
    }

    fn receive(&mut self, byte: u8) {
        // A full FIFO drops the byte and flags the overrun for the guest.
        let _ = self.push_input(byte);
    }

    fn interrupt_pending(&self) -> bool {
        VirtualPl011::interrupt_pending(self)
    }
}

#[cfg(test)]
const FR_BUSY: u32 = 1 << 3;
const FR_RXFE: u32 = 1 << 4;
#[cfg(test)]
const FR_TXFF: u32 = 1 << 5;
const FR_RXFF: u32 = 1 << 6;
const FR_TXFE: u32 = 1 << 7;

// UARTCR bits.
const CR_LBE: u32 = 1 << 7;
const CR_RESET: u32 = 0x300; // TXE | RXE
const CR_WRITABLE: u32 = 0xff87; // bits 3..=6 are reserved

// UARTRSR bits.
const RSR_OE: u32 = 1 << 3;

// Interrupt bits, shared by UARTIMSC, UARTRIS, UARTMIS and UARTICR.
/// Receive interrupt bit (RXRIS/RXIM/RXIC).
pub(crate) const INT_RX: u32 = 1 << 4;
/// Transmit interrupt bit (TXRIS/TXIM/TXIC).
pub(crate) const INT_TX: u32 = 1 << 5;
/// Receive timeout interrupt bit (RTRIS/RTIM/RTIC).
pub(crate) const INT_RT: u32 = 1 << 6;
/// Overrun error interrupt bit (OERIS/OEIM/OEIC).
pub(crate) const INT_OE: u32 = 1 << 10;
const INT_ALL: u32 = 0x7ff;

const IFLS_RESET: u32 = 0x12; // both trigger levels at half full

/// The state of one emulated PL011.
#[derive(Debug)]
pub(crate) struct VirtualPl011 {
    rx_fifo: Deque<u8, RX_FIFO_DEPTH>,
    receive_status: u32,
    latched_interrupts: u32,
    irda_low_power: u32,
    integer_baud: u32,
    fractional_baud: u32,
    line_control: u32,
    control: u32,
    fifo_levels: u32,
    interrupt_mask: u32,
    dma_control: u32,
}

impl Default for VirtualPl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualPl011 {
    /// A UART in its reset state, receive FIFO empty.
    pub(crate) const fn new() -> Self {
        Self {
            rx_fifo: Deque::new(),
            receive_status: 0,
            latched_interrupts: 0,
            irda_low_power: 0,
            integer_baud: 0,
            fractional_baud: 0,
            line_control: 0,
            control: CR_RESET,
            fifo_levels: IFLS_RESET,
            interrupt_mask: 0,
            dma_control: 0,
        }
    }

    /// Emulates a guest read of `size` at `offset` into the register window.
    ///
    /// Reading UARTDR pops the oldest received byte (0 when none is queued).
    /// Never fails: see the module docs for the value of odd accesses.
    pub(crate) fn read(&mut self, offset: u64, size: AccessSize) -> u32 {
        if !offset.is_multiple_of(4) {
            return 0;
        }
        let value = match offset {
            UARTDR => self.rx_fifo.pop_front().map_or(0, u32::from),
            UARTRSR_ECR => self.receive_status,
            UARTFR => self.flags(),
            UARTILPR => self.irda_low_power,
            UARTIBRD => self.integer_baud,
            UARTFBRD => self.fractional_baud,
            UARTLCR_H => self.line_control,
            UARTCR => self.control,
            UARTIFLS => self.fifo_levels,
            UARTIMSC => self.interrupt_mask,
            UARTRIS => self.raw_interrupts(),
            UARTMIS => self.masked_interrupts(),
            UARTDMACR => self.dma_control,
            ID_REGISTERS..MMIO_SIZE => {
                let index = (offset - ID_REGISTERS) / 4;
                ID_VALUES.get(index as usize).copied().unwrap_or(0)
            }
            _ => 0,
        };
        // `mask()` fits a u32 for every size below a doubleword; a doubleword
        // read of a 32-bit register gets the whole register.
        value & u32::try_from(size.mask()).unwrap_or(u32::MAX)
    }

    /// Emulates a guest write of `value` at `offset` into the register
    /// window; a byte written to UARTDR is passed to `out`.
    ///
    /// Bytes are transmitted whatever UARTCR says (UARTEN, TXE): Linux's
    /// `earlycon=pl011` and many boot loaders write UARTDR without enabling
    /// the UART, and dropping their output would hide early boot failures.
    /// The one exception is loopback (UARTCR.LBE), where the byte goes to the
    /// receive FIFO instead, as on the real part.
    pub(crate) fn write(&mut self, offset: u64, value: u32, out: &mut impl FnMut(u8)) {
        if !offset.is_multiple_of(4) {
            return;
        }
        match offset {
            UARTDR => {
                let byte = (value & 0xff) as u8;
                if self.control & CR_LBE != 0 {
                    self.receive(byte);
                } else {
                    out(byte);
                }
            }
            UARTRSR_ECR => self.receive_status = 0,
            UARTILPR => self.irda_low_power = value & 0xff,
            UARTIBRD => self.integer_baud = value & 0xffff,
            UARTFBRD => self.fractional_baud = value & 0x3f,
            UARTLCR_H => self.line_control = value & 0xff,
            UARTCR => self.control = value & CR_WRITABLE,
            UARTIFLS => self.fifo_levels = value & 0x3f,
            UARTIMSC => self.interrupt_mask = value & INT_ALL,
            UARTICR => self.latched_interrupts &= !value,
            UARTDMACR => self.dma_control = value & 0x7,
            _ => {}
        }
    }

    /// Queues a byte typed on the console for the guest to read from
    /// UARTDR. Returns `false`, drops the byte and flags an overrun
    /// (UARTRSR.OE, OERIS) when the FIFO already holds
    /// [`RX_FIFO_DEPTH`] bytes.
    pub(crate) fn push_input(&mut self, byte: u8) -> bool {
        self.receive(byte)
    }

    /// Whether the UART's interrupt line is asserted: some raw interrupt
    /// (UARTRIS) is enabled in UARTIMSC.
    pub(crate) fn interrupt_pending(&self) -> bool {
        self.masked_interrupts() != 0
    }

    /// Number of received bytes waiting for the guest.
    #[cfg(test)]
    pub(crate) fn pending_input(&self) -> usize {
        self.rx_fifo.len()
    }

    fn receive(&mut self, byte: u8) -> bool {
        if self.rx_fifo.push_back(byte).is_ok() {
            true
        } else {
            self.receive_status |= RSR_OE;
            self.latched_interrupts |= INT_OE;
            false
        }
    }

    fn flags(&self) -> u32 {
        // The transmit FIFO is always empty and never busy: bytes leave the
        // UART as soon as they are written.
        let mut flags = FR_TXFE;
        if self.rx_fifo.is_empty() {
            flags |= FR_RXFE;
        }
        if self.rx_fifo.is_full() {
            flags |= FR_RXFF;
        }
        flags
    }

    fn raw_interrupts(&self) -> u32 {
        let mut raw = self.latched_interrupts | INT_TX;
        if !self.rx_fifo.is_empty() {
            raw |= INT_RX | INT_RT;
        }
        raw
    }

    fn masked_interrupts(&self) -> u32 {
        self.raw_interrupts() & self.interrupt_mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_word(uart: &mut VirtualPl011, offset: u64) -> u32 {
        uart.read(offset, AccessSize::Word)
    }

    fn write_word(uart: &mut VirtualPl011, offset: u64, value: u32) -> Vec<u8> {
        let mut sent = Vec::new();
        uart.write(offset, value, &mut |byte| sent.push(byte));
        sent
    }

    #[test]
    fn id_registers_identify_an_arm_pl011_r1p5() {
        let mut uart = VirtualPl011::new();
        // The AMBA bus reads the eight ID words and keeps the low bytes.
        let mut periph_id = 0u32;
        let mut cell_id = 0u32;
        for i in 0..4 {
            periph_id |= (read_word(&mut uart, 0xfe0 + 4 * i) & 0xff) << (8 * i);
            cell_id |= (read_word(&mut uart, 0xff0 + 4 * i) & 0xff) << (8 * i);
        }
        assert_eq!(cell_id, 0xb105_f00d);
        // Linux's amba-pl011 matches id 0x00041011 under mask 0x000fffff.
        assert_eq!(periph_id & 0x000f_ffff, 0x0004_1011);
        // Revision (bits [23:20]) 3: Linux then assumes 32-byte FIFOs.
        assert_eq!((periph_id >> 20) & 0xf, 3);
        assert_eq!(
            [0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc]
                .map(|o| read_word(&mut uart, o)),
            [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]
        );
        // The ID registers are read-only.
        write_word(&mut uart, 0xfe0, 0xff);
        assert_eq!(read_word(&mut uart, 0xfe0), 0x11);
    }

    #[test]
    fn reset_values() {
        let mut uart = VirtualPl011::new();
        assert_eq!(read_word(&mut uart, UARTCR), 0x300);
        assert_eq!(read_word(&mut uart, UARTIFLS), 0x12);
        assert_eq!(read_word(&mut uart, UARTIMSC), 0);
        assert_eq!(read_word(&mut uart, UARTLCR_H), 0);
        assert_eq!(read_word(&mut uart, UARTRSR_ECR), 0);
        assert!(!uart.interrupt_pending());
    }

    #[test]
    fn flags_follow_the_receive_fifo() {
        let mut uart = VirtualPl011::new();
        assert_eq!(read_word(&mut uart, UARTFR), FR_TXFE | FR_RXFE);
        assert!(uart.push_input(b'a'));
        assert_eq!(read_word(&mut uart, UARTFR), FR_TXFE);
        for _ in 1..RX_FIFO_DEPTH {
            assert!(uart.push_input(b'b'));
        }
        assert_eq!(read_word(&mut uart, UARTFR), FR_TXFE | FR_RXFF);
        // TXFF and BUSY are never set.
        assert_eq!(read_word(&mut uart, UARTFR) & (FR_TXFF | FR_BUSY), 0);
    }

    #[test]
    fn data_writes_emit_bytes_even_when_disabled() {
        let mut uart = VirtualPl011::new();
        write_word(&mut uart, UARTCR, 0); // UARTEN, TXE off
        assert_eq!(write_word(&mut uart, UARTDR, u32::from(b'h')), b"h");
        // Only the low 8 bits are data.
        assert_eq!(write_word(&mut uart, UARTDR, 0xf00 | u32::from(b'i')), b"i");
        // Other registers never transmit.
        assert!(write_word(&mut uart, UARTLCR_H, 0x70).is_empty());
    }

    #[test]
    fn loopback_feeds_the_receive_fifo() {
        let mut uart = VirtualPl011::new();
        write_word(&mut uart, UARTCR, 0x301 | CR_LBE);
        assert!(write_word(&mut uart, UARTDR, u32::from(b'x')).is_empty());
        assert_eq!(read_word(&mut uart, UARTDR), u32::from(b'x'));
    }

    #[test]
    fn data_reads_pop_in_order() {
        let mut uart = VirtualPl011::new();
        assert_eq!(read_word(&mut uart, UARTDR), 0);
        uart.push_input(b'o');
        uart.push_input(b'k');
        assert_eq!(uart.pending_input(), 2);
        assert_eq!(read_word(&mut uart, UARTDR), u32::from(b'o'));
        assert_eq!(read_word(&mut uart, UARTDR), u32::from(b'k'));
        assert_eq!(read_word(&mut uart, UARTDR), 0);
        assert_eq!(read_word(&mut uart, UARTFR) & FR_RXFE, FR_RXFE);
    }

    #[test]
    fn full_fifo_drops_and_flags_overrun() {
        let mut uart = VirtualPl011::new();
        for i in 0..RX_FIFO_DEPTH {
            assert!(uart.push_input(i as u8));
        }
        assert!(!uart.push_input(0xff));
        assert_eq!(uart.pending_input(), RX_FIFO_DEPTH);
        assert_eq!(read_word(&mut uart, UARTRSR_ECR), RSR_OE);
        assert_ne!(read_word(&mut uart, UARTRIS) & INT_OE, 0);
        // Any write to UARTECR clears the error flags.
        write_word(&mut uart, UARTRSR_ECR, 0);
        assert_eq!(read_word(&mut uart, UARTRSR_ECR), 0);
        // The queued bytes are intact.
        assert_eq!(read_word(&mut uart, UARTDR), 0);
        assert_eq!(read_word(&mut uart, UARTDR), 1);
    }

    #[test]
    fn interrupt_mask_raw_masked_and_clear() {
        let mut uart = VirtualPl011::new();
        // TX always has room; RX/RT only while data is queued.
        assert_eq!(read_word(&mut uart, UARTRIS), INT_TX);
        assert_eq!(read_word(&mut uart, UARTMIS), 0);

        write_word(&mut uart, UARTIMSC, INT_RX | INT_RT);
        assert_eq!(read_word(&mut uart, UARTIMSC), INT_RX | INT_RT);
        assert!(!uart.interrupt_pending());

        uart.push_input(b'z');
        assert_eq!(read_word(&mut uart, UARTRIS), INT_TX | INT_RX | INT_RT);
        assert_eq!(read_word(&mut uart, UARTMIS), INT_RX | INT_RT);
        assert!(uart.interrupt_pending());

        // RX is a level: clearing it does not help while data is queued ...
        write_word(&mut uart, UARTICR, INT_ALL);
        assert!(uart.interrupt_pending());
        // ... reading the data does.
        read_word(&mut uart, UARTDR);
        assert!(!uart.interrupt_pending());
        assert_eq!(read_word(&mut uart, UARTMIS), 0);

        // Enabling TX raises the line at once.
        write_word(&mut uart, UARTIMSC, INT_TX);
        assert!(uart.interrupt_pending());
        assert_eq!(read_word(&mut uart, UARTMIS), INT_TX);
        write_word(&mut uart, UARTIMSC, 0);
        assert!(!uart.interrupt_pending());

        // The latched overrun bit is cleared by UARTICR, and only its bit.
        write_word(&mut uart, UARTIMSC, INT_OE);
        for _ in 0..=RX_FIFO_DEPTH {
            uart.push_input(0);
        }
        assert!(uart.interrupt_pending());
        write_word(&mut uart, UARTICR, INT_RX);
        assert!(uart.interrupt_pending());
        write_word(&mut uart, UARTICR, INT_OE);
        assert!(!uart.interrupt_pending());
        assert_eq!(read_word(&mut uart, UARTRIS) & INT_OE, 0);

        // RIS, MIS and the write-only ICR ignore writes / read as 0.
        write_word(&mut uart, UARTRIS, INT_ALL);
        write_word(&mut uart, UARTMIS, INT_ALL);
        assert_eq!(read_word(&mut uart, UARTRIS) & INT_OE, 0);
        assert_eq!(read_word(&mut uart, UARTICR), 0);
    }

    #[test]
    fn configuration_registers_store_their_bits() {
        let mut uart = VirtualPl011::new();
        let cases = [
            (UARTILPR, 0xffff_ffff, 0xff),
            (UARTIBRD, 0xffff_ffff, 0xffff),
            (UARTFBRD, 0xffff_ffff, 0x3f),
            (UARTLCR_H, 0xffff_ffff, 0xff),
            (UARTCR, 0xffff_ffff, 0xff87),
            (UARTIFLS, 0xffff_ffff, 0x3f),
            (UARTIMSC, 0xffff_ffff, 0x7ff),
            (UARTDMACR, 0xffff_ffff, 0x7),
        ];
        for (offset, written, expected) in cases {
            write_word(&mut uart, offset, written);
            assert_eq!(read_word(&mut uart, offset), expected, "offset {offset:#x}");
        }
        // Linux's set_termios for 115200 baud at 24 MHz.
        write_word(&mut uart, UARTIBRD, 13);
        write_word(&mut uart, UARTFBRD, 1);
        write_word(&mut uart, UARTLCR_H, 0x70);
        assert_eq!(read_word(&mut uart, UARTIBRD), 13);
        assert_eq!(read_word(&mut uart, UARTFBRD), 1);
        assert_eq!(read_word(&mut uart, UARTLCR_H), 0x70);
    }

    #[test]
    fn unknown_and_odd_offsets() {
        let mut uart = VirtualPl011::new();
        uart.push_input(b'q');
        for offset in [
            0x008,
            0x00c,
            0x014,
            0x01c,
            0x04c,
            0x100,
            0xfdc,
            0x1000,
            u64::MAX - 3,
        ] {
            assert_eq!(read_word(&mut uart, offset), 0, "offset {offset:#x}");
            assert!(write_word(&mut uart, offset, 0x41).is_empty());
        }
        // Odd offsets read as 0 and have no side effect: the byte stays.
        for offset in [0x001, 0x002, 0x003, 0x019, 0xfe1, u64::MAX] {
            assert_eq!(uart.read(offset, AccessSize::Byte), 0);
            assert!(write_word(&mut uart, offset, 0x41).is_empty());
        }
        assert_eq!(uart.pending_input(), 1);
        assert_eq!(read_word(&mut uart, UARTCR), 0x300);
    }

    #[test]
    fn byte_and_halfword_accesses() {
        let mut uart = VirtualPl011::new();
        // earlycon: byte writes to DR, halfword reads of FR.
        let mut sent = Vec::new();
        uart.write(UARTDR, u32::from(b'E'), &mut |b| sent.push(b));
        assert_eq!(sent, b"E");
        assert_eq!(uart.read(UARTFR, AccessSize::Half), FR_TXFE | FR_RXFE);
        assert_eq!(uart.read(UARTFR, AccessSize::Byte), FR_TXFE | FR_RXFE);
        // A byte read returns the low byte of the register.
        write_word(&mut uart, UARTIBRD, 0x1234);
        assert_eq!(uart.read(UARTIBRD, AccessSize::Byte), 0x34);
        assert_eq!(uart.read(UARTIBRD, AccessSize::Half), 0x1234);
        assert_eq!(uart.read(UARTIBRD, AccessSize::Double), 0x1234);
        // A byte read of DR pops too.
        uart.push_input(b'r');
        assert_eq!(uart.read(UARTDR, AccessSize::Byte), u32::from(b'r'));
        assert_eq!(uart.pending_input(), 0);
        // A byte write stores the byte as the whole register.
        uart.write(UARTCR, 0x01, &mut |_| {});
        assert_eq!(read_word(&mut uart, UARTCR), 0x01);
    }
}
