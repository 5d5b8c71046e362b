//! The I/O APIC: every input masked, except the console UART's receive
//! interrupt, which arrives as an NMI at a CPU of a running cell.
//!
//! The hypervisor takes no interrupts of its own (guests own their CPUs'
//! interrupt flow: no external-interrupt exiting). An NMI, though, exits
//! the guest (NMI exiting) without being an interrupt the guest sees, so
//! typed input costs the chosen cell one exit per burst, and nothing when
//! nobody types.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

use crate::config::PLATFORM;

register_structs! {
    /// The I/O APIC's two memory-mapped registers.
    IoApicRegisters {
        /// Selects the indirect register.
        (0x00 => select: ReadWrite<u32>),
        (0x04 => _reserved),
        /// Reads or writes the selected register.
        (0x10 => window: ReadWrite<u32>),
        (0x14 => @END),
    }
}

/// Indirect register: version (bits 23:16 = last redirection entry).
const VERSION: u32 = 0x01;
/// Indirect register: low half of redirection entry 0.
const REDIRECTION: u32 = 0x10;
/// Redirection entry: masked.
const MASKED: u32 = 1 << 16;
/// Redirection entry: delivery mode NMI (edge, physical destination).
const DELIVERY_NMI: u32 = 0b100 << 8;

fn registers() -> Option<&'static IoApicRegisters> {
    let window = PLATFORM.intc.io_apic;
    if window.is_empty() {
        return None;
    }
    // SAFETY: the platform's I/O APIC window, identity-mapped as device
    // memory by the hypervisor's page tables; only the boot CPU and
    // `route` (under the console's input lock) touch it.
    Some(unsafe { &*(window.base.as_u64() as *const IoApicRegisters) })
}

fn read(regs: &IoApicRegisters, index: u32) -> u32 {
    regs.select.set(index);
    regs.window.get()
}

fn write(regs: &IoApicRegisters, index: u32, value: u32) {
    regs.select.set(index);
    regs.window.set(value);
}

/// Masks every input. Boot CPU, before any guest runs.
pub(crate) fn mask_all() {
    let Some(regs) = registers() else {
        return;
    };
    let entries = ((read(regs, VERSION) >> 16) & 0xff) + 1;
    for pin in 0..entries {
        write(regs, REDIRECTION + 2 * pin, MASKED);
        write(regs, REDIRECTION + 2 * pin + 1, 0);
    }
}

/// Routes input `pin` as an NMI to the CPU with APIC id `apic_id`, or
/// masks it (`None`). Returns whether the platform has an I/O APIC.
pub(crate) fn route_nmi(pin: u32, apic_id: Option<u32>) -> bool {
    let Some(regs) = registers() else {
        return false;
    };
    match apic_id {
        Some(id) => {
            write(regs, REDIRECTION + 2 * pin, MASKED);
            write(regs, REDIRECTION + 2 * pin + 1, (id & 0xff) << 24);
            write(regs, REDIRECTION + 2 * pin, DELIVERY_NMI);
        }
        None => write(regs, REDIRECTION + 2 * pin, MASKED),
    }
    true
}
