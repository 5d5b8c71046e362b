//! Property tests of the x86_64 models (issue 13): whatever a guest or the
//! CPU feeds them, they never panic, and what they let through stays within
//! the cell.
//!
//! - `exit_decode`: every exit reason, exit qualification and
//!   interruption-information value decodes, against a reference;
//! - `bitmaps`: the I/O and MSR bitmaps pass exactly the allowed ports and
//!   MSRs, bit for bit where the SDM puts them;
//! - `x2apic`: no ICR value sends an IPI outside the cell, or anything but a
//!   fixed physical IPI;
//! - `cpuid`: VMX and SMX stay hidden, the hypervisor bit set, the topology
//!   the cell's;
//! - `uart16550`: the virtual 16550 against a reference model.
//!
//! Determinism, as in the AArch64 models' property tests: a fixed number of
//! cases from a fixed seed ([`config`]), no failure persistence;
//! `PROPTEST_RNG_SEED` explores other cases locally.

mod bitmaps;
mod cpuid;
mod exit_decode;
mod uart16550;
mod x2apic;

use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// The seed of every property in this folder, unless `PROPTEST_RNG_SEED`
/// names another.
const SEED: u64 = 0x0b01_c4ea_d086;

/// The configuration of a property that runs `cases` cases: a fixed seed
/// (see the module docs), no failure persistence.
pub(super) fn config(cases: u32) -> Config {
    let default = Config::default();
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: match default.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            chosen => chosen,
        },
        ..default
    }
}
