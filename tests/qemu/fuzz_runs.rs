//! Guest-driven fuzzing and the soak in CI (issue 13): fixed seeds for a
//! bounded number of operations, and two minutes of soak. Longer runs:
//! `cargo xtask fuzz --seed S --ops N`, `cargo xtask soak --minutes M`.

use xtask::fuzz::{Machine, fuzz, soak};

use super::require_qemu;

/// The seeds CI runs.
const SEEDS: [u32; 3] = [1, 0x5eed, 0xdead_beef];
/// Operations per seed.
const OPS: u64 = 100_000;

fn fixed_seeds(machine: Machine) {
    require_qemu();
    for seed in SEEDS {
        let outcome = fuzz(seed, OPS, machine).unwrap_or_else(|e| panic!("seed {seed:#x}: {e:#}"));
        assert_eq!(outcome.ops, OPS, "seed {seed:#x}:\n{}", outcome.transcript);
        // The fuzzer really made the hypervisor refuse things.
        assert!(
            outcome.faults > OPS / 20,
            "seed {seed:#x}:\n{}",
            outcome.transcript
        );
    }
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn fuzz_fixed_seeds_gicv3() {
    fixed_seeds(Machine::Gicv3);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn fuzz_fixed_seeds_gicv2() {
    fixed_seeds(Machine::Gicv2);
}

#[test]
#[ignore = "needs QEMU; run by `cargo xtask test`"]
fn soak_two_minutes_gicv3() {
    require_qemu();
    let outcome = soak(2, 1, Machine::Gicv3).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(outcome.windows.len() >= 30, "{}", outcome.transcript);
    assert!(outcome.storm_boots >= 10, "{}", outcome.transcript);
}
