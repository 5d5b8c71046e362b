//! ARM PrimeCell PL011 UART driver (polled, transmit only in practice).

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use super::platform::{CONSOLE_BAUD_RATE, CONSOLE_UART_BASE, CONSOLE_UART_CLOCK_HZ};
use crate::arch::ConsoleUart;

register_bitfields! [u32,
    /// Data register.
    DR [
        DATA OFFSET(0) NUMBITS(8) []
    ],
    /// Flag register.
    FR [
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) [],
        /// Receive FIFO full.
        RXFF OFFSET(6) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting (including the shift register).
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Integer baud rate divisor.
    IBRD [
        BAUD_DIVINT OFFSET(0) NUMBITS(16) []
    ],
    /// Fractional baud rate divisor.
    FBRD [
        BAUD_DIVFRAC OFFSET(0) NUMBITS(6) []
    ],
    /// Line control register. Writing it latches IBRD/FBRD.
    LCR_H [
        SPS OFFSET(7) NUMBITS(1) [],
        WLEN OFFSET(5) NUMBITS(2) [
            FiveBit = 0b00,
            SixBit = 0b01,
            SevenBit = 0b10,
            EightBit = 0b11
        ],
        FEN OFFSET(4) NUMBITS(1) [
            FifosDisabled = 0,
            FifosEnabled = 1
        ],
        STP2 OFFSET(3) NUMBITS(1) [],
        EPS OFFSET(2) NUMBITS(1) [],
        PEN OFFSET(1) NUMBITS(1) [],
        BRK OFFSET(0) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        CTSEN OFFSET(15) NUMBITS(1) [],
        RTSEN OFFSET(14) NUMBITS(1) [],
        RTS OFFSET(11) NUMBITS(1) [],
        DTR OFFSET(10) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        LBE OFFSET(7) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt mask set/clear register (1 = interrupt enabled).
    IMSC [
        OEIM OFFSET(10) NUMBITS(1) [],
        BEIM OFFSET(9) NUMBITS(1) [],
        PEIM OFFSET(8) NUMBITS(1) [],
        FEIM OFFSET(7) NUMBITS(1) [],
        RTIM OFFSET(6) NUMBITS(1) [],
        TXIM OFFSET(5) NUMBITS(1) [],
        RXIM OFFSET(4) NUMBITS(1) [],
        DSRMIM OFFSET(3) NUMBITS(1) [],
        DCDMIM OFFSET(2) NUMBITS(1) [],
        CTSMIM OFFSET(1) NUMBITS(1) [],
        RIMIM OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt clear register (write 1 to clear).
    ICR [
        ALL OFFSET(0) NUMBITS(11) []
    ]
];

register_structs! {
    /// PL011 register block (only the registers this driver uses are named).
    pub(super) Pl011Registers {
        (0x000 => dr: ReadWrite<u32, DR::Register>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x024 => ibrd: ReadWrite<u32, IBRD::Register>),
        (0x028 => fbrd: ReadWrite<u32, FBRD::Register>),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _reserved2),
        (0x038 => imsc: ReadWrite<u32, IMSC::Register>),
        (0x03c => _reserved3),
        (0x044 => icr: WriteOnly<u32, ICR::Register>),
        (0x048 => @END),
    }
}

/// Reasons [`Pl011::init`] can refuse a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pl011Error {
    /// The requested baud rate cannot be derived from the reference clock.
    UnsupportedBaudRate {
        /// UARTCLK in Hz.
        clock_hz: u32,
        /// Requested rate.
        baud: u32,
    },
}

/// Upper bound on polling iterations while waiting for the transmitter to
/// drain. Keeps a wedged UART from hanging boot or the panic path forever.
const DRAIN_SPIN_LIMIT: u32 = 1_000_000;

/// A PL011 instance.
pub(crate) struct Pl011 {
    regs: &'static Pl011Registers,
}

// SAFETY: `Pl011` only holds a reference to MMIO registers, which are accessed
// exclusively through volatile reads/writes. Moving that reference to another
// CPU is fine; mutual exclusion of concurrent *use* is the console lock's job.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// Create a driver for the PL011 at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the physical (== virtual) address of a PL011 register
    /// block that stays accessible (mapped as Device memory, or MMU off) for
    /// the rest of the program. Several instances for the same device may
    /// exist; callers must serialise their use or accept interleaved output.
    pub(super) const unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` points at a live PL011 register
        // block; `Pl011Registers` is `repr(C)` and only contains
        // interior-mutable (volatile) register cells.
        let regs = unsafe { &*(base as *const Pl011Registers) };
        Self { regs }
    }

    /// Integer and fractional divisor for `baud` with reference clock `clock_hz`.
    ///
    /// BAUDDIV = UARTCLK / (16 * baud) = IBRD + FBRD / 64, computed in 64ths and
    /// rounded to nearest.
    pub(super) const fn divisors(clock_hz: u32, baud: u32) -> Result<(u32, u32), Pl011Error> {
        let err = Pl011Error::UnsupportedBaudRate { clock_hz, baud };
        if baud == 0 {
            return Err(err);
        }
        let div64 = (clock_hz as u64 * 4 + baud as u64 / 2) / baud as u64;
        let ibrd = div64 >> 6;
        let fbrd = div64 & 0x3f;
        // IBRD must be 1..=0xffff, and FBRD must be 0 when IBRD is 0xffff.
        if ibrd == 0 || ibrd > 0xffff || (ibrd == 0xffff && fbrd != 0) {
            return Err(err);
        }
        Ok((ibrd as u32, fbrd as u32))
    }

    /// Program the UART for `baud` 8N1 with FIFOs, all UART interrupts masked,
    /// transmitter and receiver enabled.
    pub(super) fn init(&self, clock_hz: u32, baud: u32) -> Result<(), Pl011Error> {
        let (ibrd, fbrd) = Self::divisors(clock_hz, baud)?;

        // Let a character that firmware may still be shifting out finish, then
        // disable the UART before reprogramming it (required by the TRM).
        self.drain();
        self.regs.cr.set(0);
        // Disabling the FIFOs flushes them.
        self.regs.lcr_h.modify(LCR_H::FEN::FifosDisabled);

        self.regs.imsc.set(0);
        self.regs.icr.write(ICR::ALL.val(0x7ff));

        self.regs.ibrd.write(IBRD::BAUD_DIVINT.val(ibrd));
        self.regs.fbrd.write(FBRD::BAUD_DIVFRAC.val(fbrd));
        // The LCR_H write also latches IBRD/FBRD into the baud generator.
        self.regs
            .lcr_h
            .write(LCR_H::WLEN::EightBit + LCR_H::FEN::FifosEnabled);

        self.regs
            .cr
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        Ok(())
    }

    /// Raises the UART's interrupt while received data waits (receive and
    /// receive-timeout interrupts); reading the data clears it.
    pub(super) fn enable_receive_interrupt(&self) {
        self.regs.imsc.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
    }

    /// Write one byte, waiting while the transmit FIFO is full.
    pub(super) fn putc(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.write(DR::DATA.val(u32::from(byte)));
    }

    /// One received byte, if the receive FIFO holds any.
    pub(super) fn try_getc(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            return None;
        }
        Some((self.regs.dr.get() & 0xff) as u8)
    }

    /// Writes raw bytes.
    pub(super) fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.putc(byte);
        }
    }

    /// Wait (bounded) until everything written so far has left the UART.
    pub(super) fn drain(&self) {
        let mut spins = 0;
        while self.regs.fr.is_set(FR::BUSY) && spins < DRAIN_SPIN_LIMIT {
            core::hint::spin_loop();
            spins += 1;
        }
    }
}

/// The console PL011 (the platform's; identity-mapped as Device memory
/// by the EL2 map, and reachable as Device memory while the MMU is off).
pub(super) fn console() -> Pl011 {
    // SAFETY: the console UART from the generated platform table; see above.
    unsafe { Pl011::new(CONSOLE_UART_BASE) }
}

/// Programs the console's line rate. Boot core, once.
pub(super) fn init_console() -> Result<(), Pl011Error> {
    console().init(CONSOLE_UART_CLOCK_HZ, CONSOLE_BAUD_RATE)
}

impl ConsoleUart for Pl011 {
    fn write_bytes(&mut self, bytes: &[u8]) {
        Pl011::write_bytes(self, bytes);
    }

    fn read_byte(&mut self) -> Option<u8> {
        self.try_getc()
    }

    fn drain(&mut self) {
        Pl011::drain(self);
    }

    fn enable_receive_interrupt(&mut self) {
        Pl011::enable_receive_interrupt(self);
    }
}
