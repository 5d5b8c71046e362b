//! Guest-driven fuzzing and the soak on x86 in CI (issue 13): the
//! `x86-intruder`'s fuzzer (group 8: VMCALL, CPUID, MSRs, port I/O,
//! XSETBV, control registers, VMX instructions, foreign addresses) for
//! fixed seeds and a bounded number of operations, then two minutes of
//! soak (the fuzzer for ever, the restart storm, the victim, the
//! witness). Longer runs: `cargo xtask fuzz --machine bochs --seed S
//! --ops N`, `cargo xtask soak --machine bochs --minutes M`.

use xtask::fuzz::{Machine, fuzz, soak};

use super::require_bochs;

/// The seeds CI runs (the same as on QEMU).
const SEEDS: [u32; 3] = [1, 0x5eed, 0xdead_beef];
/// Operations per seed (about 10 s of Bochs each).
const OPS: u64 = 50_000;

#[test]
fn fuzz_fixed_seeds_bochs() {
    require_bochs();
    for seed in SEEDS {
        let outcome =
            fuzz(seed, OPS, Machine::Bochs).unwrap_or_else(|e| panic!("seed {seed:#x}: {e:#}"));
        assert_eq!(outcome.ops, OPS, "seed {seed:#x}:\n{}", outcome.transcript);
        // The fuzzer really made the hypervisor refuse things, and the
        // victim checked its canary while it did.
        assert!(
            outcome.faults > OPS / 20,
            "seed {seed:#x}:\n{}",
            outcome.transcript
        );
        assert!(
            outcome.canary_checks >= 2,
            "seed {seed:#x}:\n{}",
            outcome.transcript
        );
    }
}

#[test]
fn soak_two_minutes_bochs() {
    require_bochs();
    let outcome = soak(2, 1, Machine::Bochs).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(outcome.windows.len() >= 10, "{}", outcome.transcript);
    assert!(outcome.storm_boots >= 10, "{}", outcome.transcript);
    assert!(outcome.canary_checks >= 10, "{}", outcome.transcript);
}
