//! The distributor's shared interrupts, the same on both GIC versions:
//! enable, pending, active, priority, trigger.

use super::registers::{DistributorRegisters, frame};
use crate::arch::aarch64::model::trigger_config::{ConfigWord, TriggerConfig};
use crate::config::PLATFORM;

/// The distributor.
pub(crate) fn registers() -> &'static DistributorRegisters {
    // SAFETY: the GICD frame of the generated platform table, mapped as
    // Device memory at EL2 (`registers::frame`).
    unsafe { frame(PLATFORM.intc.distributor.base.as_u64()) }
}

/// Register index and bit of `intid` in a one-bit-per-interrupt bank.
fn bit(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

/// Sets (`on`) through `set` or clears through `clear`, the bit of `intid`.
fn set_or_clear(
    set: &[tock_registers::registers::ReadWrite<u32>; 32],
    clear: &[tock_registers::registers::ReadWrite<u32>; 32],
    intid: u32,
    on: bool,
) {
    use tock_registers::interfaces::Writeable;
    let (word, mask) = bit(intid);
    if let (Some(set), Some(clear)) = (set.get(word), clear.get(word)) {
        if on { set.set(mask) } else { clear.set(mask) }
    }
}

/// Enables or disables shared interrupt `intid`.
pub(crate) fn spi_enable(intid: u32, on: bool) {
    let gicd = registers();
    set_or_clear(&gicd.isenabler, &gicd.icenabler, intid, on);
}

/// Sets or clears the pending state of shared interrupt `intid`.
pub(crate) fn spi_pending(intid: u32, on: bool) {
    let gicd = registers();
    set_or_clear(&gicd.ispendr, &gicd.icpendr, intid, on);
}

/// Sets or clears the active state of shared interrupt `intid`.
pub(crate) fn spi_active(intid: u32, on: bool) {
    let gicd = registers();
    set_or_clear(&gicd.isactiver, &gicd.icactiver, intid, on);
}

/// Sets the priority of shared interrupt `intid`.
pub(crate) fn spi_priority(intid: u32, priority: u8) {
    use tock_registers::interfaces::Writeable;
    if let Some(register) = registers().ipriorityr.get(intid as usize) {
        register.set(priority);
    }
}

/// Every ICFGR read-modify-write takes this lock: one word holds 16
/// interrupts, possibly of different cells (`model::trigger_config`, F6).
static TRIGGER_CONFIG: TriggerConfig = TriggerConfig::new();

/// An ICFGR word of the physical distributor.
struct Icfgr(&'static tock_registers::registers::ReadWrite<u32>);

impl ConfigWord for Icfgr {
    fn get(&self) -> u32 {
        use tock_registers::interfaces::Readable;
        self.0.get()
    }
    fn set(&self, value: u32) {
        use tock_registers::interfaces::Writeable;
        self.0.set(value);
    }
}

/// Makes shared interrupt `intid` edge- (true) or level-triggered.
pub(crate) fn spi_config(intid: u32, edge: bool) {
    if let Some(register) = registers().icfgr.get((intid / 16) as usize) {
        TRIGGER_CONFIG.set_edge(&Icfgr(register), intid, edge);
    }
}

/// Disables every shared interrupt (words 1.. of the enable bank).
pub(crate) fn disable_all_spis() {
    use tock_registers::interfaces::Writeable;
    let words = (PLATFORM.intc.irq_count / 32) as usize;
    for word in 1..words.min(32) {
        registers().icenabler[word].set(u32::MAX);
    }
}
