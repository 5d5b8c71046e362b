//! Address and identifier newtypes, so guest and host values never mix.
//!
//! They are part of the configuration's types and live in `bulkhead-tables`
//! (`tables/src/addr.rs`, with their tests); this module keeps the names
//! where the hypervisor has always found them.

#[allow(unused_imports, reason = "not every back end uses every type")]
pub(crate) use bulkhead_tables::{CellId, CpuId, GuestPhysAddr, IrqNum, PhysAddr, VirtAddr};
