//! What Bulkhead's test guests share across architectures: PSCI ids and
//! return codes, a heap-free line buffer and the fuzzers' seeded
//! generator. The runtimes (`rt`, `x86-rt`)
//! re-export them.
#![cfg_attr(not(test), no_std)]

mod line;
pub mod psci;
mod rng;

pub use line::LineBuf;
pub use rng::Rng;
