//! Memory management: translation tables built from static table pools.
//!
//! `page_table` holds the arch-neutral builder and the `DescriptorFormat`
//! trait; each architecture supplies its descriptor encodings (AArch64:
//! `arch::aarch64::model::descriptors`; x86_64: `arch::x86_64::model::ept`
//! and `host_paging`). `hypervisor_map` is the plan of the hypervisor's own
//! map, the same on every architecture. Tests also run the builder against
//! an adversarial fake format (`fake`).

#![forbid(unsafe_code)]

pub(crate) mod hypervisor_map;
pub(crate) mod page_table;

#[cfg(test)]
pub(crate) mod fake;

#[cfg_attr(not(target_os = "none"), allow(unused_imports))]
pub(crate) use page_table::Table;
pub(crate) use page_table::{
    DescriptorFormat, Level, MapError, MemAttrs, PAGE_SIZE, PageTable, Perm, SetupError, TablePool,
};
