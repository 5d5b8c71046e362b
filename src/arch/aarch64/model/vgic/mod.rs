//! Interrupt virtualisation models: what a cell's guest sees of the GIC.
//!
//! `distributor` and `redistributor` emulate the GICD and GICR frames the
//! guest programs (only its own interrupts are visible; changes to them
//! become actions on the physical GIC); `list` decides which virtual
//! interrupts sit in the list registers and which wait. `intid` holds the
//! interrupt numbering they share, `action` what they ask of the arch
//! layer, `private_irqs` one vCPU's SGIs and PPIs.

pub(crate) mod action;
pub(crate) mod distributor;
pub(crate) mod intid;
pub(crate) mod list;
pub(crate) mod private_irqs;
pub(crate) mod redistributor;
