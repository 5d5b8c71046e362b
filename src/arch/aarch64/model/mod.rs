//! AArch64 pure models: decoding and emulation with no register or memory
//! access, built on the host too so they are unit-tested there.
//!
//! `descriptors` encodes the EL2 stage-1 and stage-2 page-table entries;
//! `esr` decodes exception syndromes (data aborts); `exit_cause` names what
//! an exit was for (the counters); `id_registers` what a guest reads from
//! the trapped ID registers; `virtual_pl011` is the PL011 a cell with a
//! virtual console sees; `vgic` is the GIC a cell sees.

#![forbid(unsafe_code)]

pub(crate) mod descriptors;
pub(crate) mod esr;
pub(crate) mod exit_cause;
pub(crate) mod id_registers;
pub(crate) mod injection;
#[cfg(test)]
mod proptests;
pub(crate) mod trigger_config;
pub(crate) mod vgic;
pub(crate) mod virtual_pl011;
