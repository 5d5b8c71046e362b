//! Bulkhead: a static partitioning hypervisor.
//!
//! Design principles:
//! - **Static configuration.** Cells, cores, memory, devices and interrupts
//!   are fixed at build time from a TOML file that is checked on the host;
//!   the image carries generated `static` tables ([`config`]), never a parser.
//! - **No heap.** Sizes come from the configuration; bounded collections
//!   come from `heapless`.
//! - **A host-tested core.** Everything that is not register or instruction
//!   access (configuration tables, page-table building, the partition table
//!   printout, ...) builds and is unit-tested on the host with `cargo test`.
//!   Architecture code lives under [`arch`] and is built for the target only.
//! - **Contained guests.** Bad input from a guest gets a defined answer and a
//!   log line, never a hypervisor crash.
#![cfg_attr(not(test), no_std)]

pub(crate) mod addr;
pub(crate) mod arch;
mod boot;
pub(crate) mod calls;
pub(crate) mod cell;
pub(crate) mod config;
pub(crate) mod console;
#[cfg(target_os = "none")]
mod host_memory;
mod hypervisor;
pub(crate) mod log;
pub(crate) mod mm;
pub(crate) mod partition_table;
mod stop;
mod sync;
