//! Bulkhead's host tool as a library: the `cargo xtask` subcommands and the
//! helpers the QEMU and Bochs integration tests under `tests/` use.

pub mod bench;
pub mod bochs;
#[path = "../../tests/support/catalogue.rs"]
pub mod catalogue;
pub mod check;
pub mod dist;
pub mod fuzz;
pub mod guests;
pub mod hvlog;
pub mod install;
pub mod iso;
pub mod layout;
pub mod linux;
pub mod log_ring;
pub mod map;
pub mod paths;
pub mod progress;
pub mod qemu;
pub mod separation;
pub mod structure;
pub mod toolchain;
pub mod tools;
