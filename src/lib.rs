//! Bulkhead: a static partitioning hypervisor.
//!
//! Design principles:
//! - **Static configuration.** Cells, cores, memory, devices and interrupts
//!   are fixed at build time from a TOML file that is checked on the host;
//!   the image carries generated `static` tables ([`config`]), never a parser.
//! - **No heap.** Sizes come from the configuration; bounded collections
//!   come from `heapless`.
//! - **One core, thin arches.** Policy (the cell life cycle, guest calls,
//!   fault containment, counters, consoles, the boot sequence, the panic
//!   report) is written once, in the arch-neutral core, as methods of
//!   [`hypervisor::Hypervisor`]; it reaches the machine only through the
//!   written contract [`arch::Arch`]. Each back end's pure decoders and
//!   device models sit in its own `model` folder.
//! - **A host-tested core.** The core and every model build on the host and
//!   are unit-tested there with `cargo test`, the policy against an
//!   adversarial fake architecture (`arch::fake`).
//! - **Contained guests.** Bad input from a guest gets a defined answer and a
//!   log line, never a hypervisor crash.
//!
//! `docs/code-structure.md` maps each concept to its file.
#![cfg_attr(not(test), no_std)]
// Every module is crate-private: the docs are read with
// `--document-private-items`, where these links resolve.
#![allow(rustdoc::private_intra_doc_links)]
// On the host the library only serves its unit tests (the back ends, which
// use everything, build for the target only); dead code is found by the
// two bare-metal builds, which CI lints with `-D warnings`.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

mod addr;
mod arch;
mod boot_sequence;
mod calls;
mod cell;
mod config;
mod console;
#[cfg(target_os = "none")]
mod host_memory;
mod hypervisor;
mod log;
#[cfg(target_os = "none")]
mod logger;
mod mm;
mod partition_table;
mod stop;
mod stop_flags;
mod sync;
