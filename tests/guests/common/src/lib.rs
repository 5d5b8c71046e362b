//! What Bulkhead's test guests share across architectures: PSCI ids and
//! return codes, and a heap-free line buffer. The runtimes (`rt`, `x86-rt`)
//! re-export them.
#![cfg_attr(not(test), no_std)]

mod line;
pub mod psci;

pub use line::LineBuf;
