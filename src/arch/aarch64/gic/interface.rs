//! What differs between GIC versions, as one trait: acknowledging and
//! ending interrupts, SGIs, routing, a core's private interrupts, and the
//! virtual CPU interface's list registers. `GicV2` and `GicV3` implement
//! it; the platform's version picks one at compile time (`gic::Gic`).

use crate::arch::aarch64::model::vgic::intid::GicVersion;
use crate::arch::aarch64::model::vgic::list::{LrState, VirtualIrq};

/// The SGI the hypervisor uses to kick a core.
pub(crate) const KICK_SGI: u32 = 15;
/// The SGI telling a core it has virtual interrupts to inject.
pub(crate) const INJECT_SGI: u32 = 14;
/// INTIDs at or above this are special (spurious).
pub(crate) const SPURIOUS: u32 = 1020;

/// One GIC version's operations. Associated functions only: the version is
/// a type, chosen once.
pub(crate) trait GicOps {
    /// The version cells see.
    const VERSION: GicVersion;
    /// Whether a guest's WFI must trap so the hypervisor waits on its
    /// behalf (delivering what arrives in the same exit, so an idle guest
    /// still costs one exit per interrupt; see `GicV2::refresh`).
    const TRAPS_WFI: bool;

    /// Distributor set-up, once, on the boot core: every shared interrupt
    /// disabled until a cell enables its own.
    fn init_distributor();
    /// Per-core set-up: the kick and inject SGIs enabled, the CPU
    /// interface on with EOI split into priority drop and deactivation.
    fn init_cpu();
    /// Makes the GIC re-evaluate which interrupt this core should take,
    /// where the model needs it (see `GicV2`).
    fn refresh();
    /// Sends SGI `intid` to physical CPU `cpu`.
    fn send_sgi(intid: u32, cpu: usize);
    /// Acknowledges the highest-priority pending interrupt; its INTID, or
    /// `None` for a spurious one.
    fn acknowledge() -> Option<u32>;
    /// Drops the running priority of `intid` (it stays active until
    /// [`deactivate`](Self::deactivate) or a guest's EOI of a HW-linked
    /// interrupt).
    fn end_of_interrupt(intid: u32);
    /// Deactivates `intid`.
    fn deactivate(intid: u32);
    /// Routes shared interrupt `intid` to physical CPU `cpu`.
    fn spi_route(intid: u32, cpu: usize);
    /// Clears SGI `intid` (from every sender) if it is pending at this core.
    fn clear_pending_sgi(intid: u32);
    /// Clears private interrupt `intid`'s active and pending state on this
    /// core (a vCPU stopped inside its timer handler never deactivated it).
    fn ppi_reset_state(intid: u32);
    /// Enables or disables private interrupt `intid` on this core.
    fn ppi_enable(intid: u32, on: bool);

    /// Number of list registers of this core's virtual CPU interface.
    fn list_register_count() -> usize;
    /// List register `n`'s state.
    fn read_lr(n: usize) -> LrState;
    /// Writes `irq` in `state` to list register `n`.
    fn write_lr(n: usize, irq: &VirtualIrq, state: LrState);
    /// Resets the virtual CPU interface for a vCPU about to start.
    fn reset_virtual_interface();
    /// Switches the underflow maintenance interrupt (raised when at most
    /// one list register holds an interrupt, so queued ones can follow).
    fn set_underflow_maintenance(on: bool);
}
