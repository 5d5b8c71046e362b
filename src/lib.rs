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

pub mod addr;
pub mod arch;
pub mod calls;
pub mod cell;
pub mod config;
pub mod console;
pub mod log;
pub mod mm;
pub mod partition_table;
