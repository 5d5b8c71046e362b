//! The UART each cell with a virtual console sees, and the per-cell state
//! behind it.
//!
//! An architecture supplies the model ([`VirtualUart`]: a PL011 on AArch64,
//! a 16550 on x86_64); [`VirtualConsoles`] holds one per cell plus the
//! shared [`ConsoleHub`] (output tagging, input switching, report budgets).
//! What the hypervisor does with them (claiming guest accesses, typed input,
//! console commands, resets on restart) is in `cell_consoles`.

use spin::Mutex;

use super::hub::ConsoleHub;
use crate::cell::access::AccessSize;

/// Longest output line of a cell before it is split.
pub(crate) const LINE_LENGTH: usize = 160;

/// An emulated UART. Pure state machine: it never panics on any guest
/// input and touches nothing but itself.
pub(crate) trait VirtualUart: Send {
    /// The state at reset (power-on, cell restart).
    const RESET: Self;
    /// Bytes of guest address space (AArch64 MMIO) or ports (x86) it
    /// occupies from its base.
    const WINDOW: u64;

    /// A guest read of `size` at `offset` from its base.
    fn read(&mut self, offset: u64, size: AccessSize) -> u32;
    /// A guest write of `value` at `offset`; bytes it transmits go to
    /// `transmit`.
    fn write(&mut self, offset: u64, value: u32, transmit: &mut dyn FnMut(u8));
    /// A byte typed on the console for this cell.
    fn receive(&mut self, byte: u8);
    /// Whether its interrupt line is high (a cause is present and enabled).
    fn interrupt_pending(&self) -> bool;
}

/// Every cell's virtual UART and the console hub they share.
pub(crate) struct VirtualConsoles<U, const CELLS: usize> {
    pub(crate) uarts: [Mutex<U>; CELLS],
    pub(crate) hub: ConsoleHub<CELLS, LINE_LENGTH>,
}

impl<U: VirtualUart, const CELLS: usize> VirtualConsoles<U, CELLS> {
    /// Every UART at reset; `names` tag each cell's lines.
    pub(crate) const fn new(names: &'static [&'static str]) -> Self {
        Self {
            uarts: [const { Mutex::new(U::RESET) }; CELLS],
            hub: ConsoleHub::new(names),
        }
    }
}
