//! Bulkhead's host tool as a library: the `cargo xtask` subcommands and the
//! helpers the QEMU and Bochs integration tests under `tests/` use.

pub mod bench;
pub mod bochs;
pub mod build;
pub mod check;
pub mod hvlog;
pub mod linux;
pub mod paths;
pub mod qemu;
