//! GICv2 virtual CPU interface of this core's vCPU: the GICH control frame.
//!
//! The guest drives the GICV frame, mapped by its stage-2 where it expects
//! its GICC; the hypervisor fills GICH's list registers. Interrupts injected
//! with the HW bit are deactivated by the guest's EOI, without an exit.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use crate::config::PLATFORM;

register_structs! {
    /// GICH, the virtual interface control frame (banked per core).
    GichRegisters {
        (0x000 => hcr: ReadWrite<u32>),
        (0x004 => vtr: ReadOnly<u32>),
        (0x008 => vmcr: ReadWrite<u32>),
        (0x00c => _reserved0),
        (0x100 => lr: [ReadWrite<u32>; 64]),
        (0x200 => @END),
    }
}

fn gich() -> &'static GichRegisters {
    // SAFETY: the GICH frame from the generated platform table, identity-
    // mapped as Device memory at EL2 for the hypervisor's whole life; the
    // register struct only allows volatile accesses.
    unsafe { &*(PLATFORM.intc.virtual_control.base.as_u64() as *const GichRegisters) }
}

const HCR_EN: u32 = 1;
const HCR_UIE: u32 = 1 << 1;

/// Reads list register `n`.
pub(crate) fn read_lr(n: usize) -> u32 {
    gich().lr.get(n).map_or(0, Readable::get)
}

/// Writes list register `n`.
pub(crate) fn write_lr(n: usize, value: u32) {
    if let Some(lr) = gich().lr.get(n) {
        lr.set(value);
    }
}

/// Number of list registers (GICH_VTR.ListRegs + 1).
pub(crate) fn list_register_count() -> usize {
    ((gich().vtr.get() & 0x3f) + 1) as usize
}

/// Resets the virtual CPU interface for a vCPU that is about to start.
pub(crate) fn reset() {
    for n in 0..list_register_count() {
        write_lr(n, 0);
    }
    gich().vmcr.set(0);
    gich().hcr.set(HCR_EN);
}

/// Enables or disables the underflow maintenance interrupt.
pub(crate) fn set_underflow_maintenance(on: bool) {
    gich().hcr.set(if on { HCR_EN | HCR_UIE } else { HCR_EN });
}
