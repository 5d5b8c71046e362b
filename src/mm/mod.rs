//! Memory management: translation tables built from static table pools.
//!
//! `page_table` holds the arch-neutral builder and the `DescriptorFormat`
//! trait; each architecture supplies its descriptor encodings (for AArch64
//! see `crate::arch::aarch64::model::descriptors`). Tests also run the builder
//! against an adversarial fake format (`fake`).

pub(crate) mod hypervisor_map;
pub(crate) mod page_table;

#[cfg(test)]
pub(crate) mod fake;

pub(crate) use page_table::{
    Decoded, DescriptorFormat, ENTRIES_PER_TABLE, InputAddress, Level, MapError, MemAttrs, MemKind,
    PAGE_SIZE, PageTable, Perm, SetupError, Table, TablePool,
};
