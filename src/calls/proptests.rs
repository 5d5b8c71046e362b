//! Property tests of guest calls (issue 13): decoding any `x0..x3` never
//! panics and SMC32 calls only see the low halves of their arguments;
//! answering any sequence of calls through the recording fake cell
//! ([`FakeCell`], which panics on a vCPU index outside the cell, on
//! starting a running vCPU and on an unchecked entry point) never panics,
//! never starts a vCPU outside the cell or at an entry outside its RAM,
//! never hands a guest argument to firmware, and writes to the console
//! exactly the bytes of the cell's RAM that were asked for.
//!
//! Determinism: a fixed number of cases from a fixed seed ([`config`]), no
//! failure persistence, as in the arch models' property tests;
//! `PROPTEST_RNG_SEED` explores other cases locally.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use super::dispatch::{Call, decode, handle};
use super::fake_cell::{FakeCell, RAM_BASE, RAM_SIZE};
use super::hypercall::{self, CONSOLE_WRITE_MAX};
use super::outcome::Outcome;
use super::psci::{self, PsciError};
use super::smccc::{self, Convention};
use crate::cell::lifecycle::Power;

/// The seed of every property here, unless `PROPTEST_RNG_SEED` names
/// another.
const SEED: u64 = 0x0b01_c4ea_dca1;

fn config(cases: u32) -> Config {
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

/// The affinity fields of an MPIDR (Aff3 39:32, Aff2 23:16, Aff1 15:8, Aff0
/// 7:0), from the Arm ARM rather than the model.
const AFFINITY: u64 = 0xff_00ff_ffff;

/// Every function id Bulkhead answers.
const KNOWN: [u32; 48] = [
    psci::PSCI_VERSION,
    psci::CPU_SUSPEND_32,
    psci::CPU_SUSPEND_64,
    psci::CPU_OFF,
    psci::CPU_ON_32,
    psci::CPU_ON_64,
    psci::AFFINITY_INFO_32,
    psci::AFFINITY_INFO_64,
    psci::MIGRATE_32,
    psci::MIGRATE_64,
    psci::MIGRATE_INFO_TYPE,
    psci::MIGRATE_INFO_UP_CPU_32,
    psci::MIGRATE_INFO_UP_CPU_64,
    psci::SYSTEM_OFF,
    psci::SYSTEM_RESET,
    psci::PSCI_FEATURES,
    psci::CPU_FREEZE,
    psci::CPU_DEFAULT_SUSPEND_32,
    psci::CPU_DEFAULT_SUSPEND_64,
    psci::NODE_HW_STATE_32,
    psci::NODE_HW_STATE_64,
    psci::SYSTEM_SUSPEND_32,
    psci::SYSTEM_SUSPEND_64,
    psci::PSCI_SET_SUSPEND_MODE,
    psci::PSCI_STAT_RESIDENCY_32,
    psci::PSCI_STAT_RESIDENCY_64,
    psci::PSCI_STAT_COUNT_32,
    psci::PSCI_STAT_COUNT_64,
    psci::SYSTEM_RESET2_32,
    psci::SYSTEM_RESET2_64,
    psci::MEM_PROTECT,
    psci::MEM_PROTECT_CHECK_RANGE_32,
    psci::MEM_PROTECT_CHECK_RANGE_64,
    smccc::SMCCC_VERSION,
    smccc::SMCCC_ARCH_FEATURES,
    smccc::SMCCC_ARCH_SOC_ID,
    smccc::TRNG_VERSION,
    smccc::ARCH_WORKAROUND_1,
    smccc::ARCH_WORKAROUND_2,
    smccc::ARCH_WORKAROUND_3,
    hypercall::ABI_VERSION,
    hypercall::CELL_INFO,
    hypercall::CONSOLE_WRITE,
    hypercall::COUNTER,
    hypercall::CALL_COUNT_32,
    hypercall::CALL_UID_64,
    hypercall::REVISION_32,
    hypercall::REVISION_64,
];

/// The workaround calls firmware may see.
const WORKAROUNDS: [u32; 3] = [
    smccc::ARCH_WORKAROUND_1,
    smccc::ARCH_WORKAROUND_2,
    smccc::ARCH_WORKAROUND_3,
];

/// `x0` values: known ids (with garbage in the upper half or a bit
/// flipped), fast calls of the services Bulkhead answers, anything.
fn function_id() -> impl Strategy<Value = u64> {
    let known = prop::sample::select(KNOWN.to_vec());
    let service = (
        prop::sample::select(vec![0u8, 4, 6, 5, 63]),
        any::<bool>(),
        prop_oneof![0u16..0x20, 0xff00u16..=0xff03, any::<u16>()],
    )
        .prop_map(|(owner, smc64, number)| {
            let convention = if smc64 {
                Convention::Smc64
            } else {
                Convention::Smc32
            };
            u64::from(smccc::fast_call(convention, owner, number))
        });
    prop_oneof![
        4 => known.clone().prop_map(u64::from),
        2 => (known.clone(), any::<u32>())
            .prop_map(|(id, high)| u64::from(high) << 32 | u64::from(id)),
        1 => (known, 0u32..32).prop_map(|(id, bit)| u64::from(id ^ 1 << bit)),
        2 => service,
        1 => any::<u64>(),
    ]
}

/// An argument: an MPIDR-like value, an address near the cell's RAM, a
/// length, anything; often with garbage in the upper half.
fn argument() -> impl Strategy<Value = u64> {
    let low = prop_oneof![
        3 => 0u64..10,
        2 => (0u64..10, any::<u64>()).prop_map(|(aff0, noise)| aff0 | noise & !AFFINITY),
        // A CPU of another cluster: Aff1, Aff2 or Aff3 not zero.
        1 => (0u64..10, prop::sample::select(vec![8u32, 16, 32]), 1u64..4)
            .prop_map(|(aff0, shift, upper)| aff0 | upper << shift),
        3 => (RAM_BASE - 0x20)..(RAM_BASE + RAM_SIZE as u64 + 0x20),
        1 => (u64::MAX - 0x20)..=u64::MAX,
        2 => 0u64..0x140,
        2 => any::<u64>(),
    ];
    (low, any::<u32>(), prop::bool::weighted(0.25)).prop_map(|(low, high, dirty)| {
        if dirty {
            low ^ u64::from(high) << 32
        } else {
            low
        }
    })
}

fn arguments() -> impl Strategy<Value = [u64; 3]> {
    [argument(), argument(), argument()]
}

fn power() -> impl Strategy<Value = Power> {
    prop_oneof![Just(Power::On), Just(Power::Off), Just(Power::OnPending)]
}

/// A fake cell: 1 to 8 vCPUs in arbitrary power states, and whether its
/// starts succeed (built in the test: [`FakeCell`] has no `Debug`).
#[derive(Clone, Debug)]
struct CellSpec {
    power: Vec<Power>,
    start_result: Result<(), PsciError>,
}

impl CellSpec {
    fn build(&self) -> FakeCell {
        let mut cell = FakeCell::new(self.power.len());
        cell.power = self.power.clone();
        cell.start_result = self.start_result;
        cell.firmware = |id, _| [0xdead_beef_0000_0000 | u64::from(id), 1, 2, 3];
        cell
    }
}

fn fake_cell() -> impl Strategy<Value = CellSpec> {
    let start_result = prop_oneof![
        3 => Just(Ok(())),
        1 => Just(Err(PsciError::AlreadyOn)),
        1 => Just(Err(PsciError::InternalFailure)),
    ];
    (prop::collection::vec(power(), 1..=8), start_result).prop_map(|(power, start_result)| {
        CellSpec {
            power,
            start_result,
        }
    })
}

/// What a call did to the fake cell, for comparing two runs.
fn effects(cell: &FakeCell) -> impl PartialEq + core::fmt::Debug {
    (
        cell.power.clone(),
        cell.started.clone(),
        cell.firmware_calls.clone(),
        cell.console.clone(),
    )
}

/// Checks what answering `raw, args` by `caller` did to `cell`, which held
/// `power` before.
fn check_effects(
    cell: &FakeCell,
    before: &Effects,
    (raw, args, caller): (u64, [u64; 3], usize),
    outcome: Outcome,
) -> Result<(), TestCaseError> {
    let id = raw as u32;
    let [x1, x2, _] = smccc::narrow_args(id, args);
    // vCPU starts: only CPU_ON, only a vCPU of the cell that was off, only
    // at an entry inside the cell's RAM.
    let new_starts = &cell.started[before.started..];
    prop_assert!(new_starts.len() <= 1);
    for &(vcpu, entry, _) in new_starts {
        prop_assert!(
            id == psci::CPU_ON_32 || id == psci::CPU_ON_64,
            "{id:#x} started a vCPU"
        );
        prop_assert!(vcpu < cell.power.len(), "vCPU {vcpu} is not in the cell");
        prop_assert_eq!(vcpu as u64, x1 & AFFINITY);
        prop_assert_eq!(before.power[vcpu], Power::Off);
        let offset = entry.as_u64().wrapping_sub(RAM_BASE);
        prop_assert!(
            entry.as_u64() >= RAM_BASE && offset < RAM_SIZE as u64,
            "entry {entry:?}"
        );
        prop_assert_eq!(outcome, Outcome::Return1(0));
    }
    // Firmware: only the workaround ids and their discovery, never a guest
    // argument.
    for &(function, fw_args) in &cell.firmware_calls[before.firmware..] {
        if function == smccc::SMCCC_ARCH_FEATURES {
            prop_assert!(WORKAROUNDS.contains(&(fw_args[0] as u32)));
            prop_assert_eq!(fw_args, [fw_args[0], 0, 0]);
            prop_assert_eq!(fw_args[0], x1, "asked firmware about another id");
        } else {
            prop_assert!(
                WORKAROUNDS.contains(&function),
                "firmware got {function:#x}"
            );
            prop_assert_eq!(function, id);
            let enable = u64::from(function == smccc::ARCH_WORKAROUND_2);
            prop_assert_eq!(fw_args, [enable, 0, 0]);
        }
    }
    // Console: exactly the requested bytes of the cell's RAM.
    let written = &cell.console[before.console..];
    if !written.is_empty() {
        prop_assert_eq!(id, hypercall::CONSOLE_WRITE);
        let start = x1.wrapping_sub(RAM_BASE);
        let count = x2.min(CONSOLE_WRITE_MAX as u64);
        prop_assert!(
            x1 >= RAM_BASE && start + count <= RAM_SIZE as u64,
            "{x1:#x}+{x2:#x}"
        );
        prop_assert_eq!(written, &cell.ram[start as usize..(start + count) as usize]);
        prop_assert_eq!(outcome, Outcome::Return1(count));
    }
    if id == hypercall::CELL_INFO {
        let expected = [
            0,
            u64::from(cell.id.0),
            cell.power.len() as u64,
            caller as u64,
        ];
        prop_assert_eq!(outcome, Outcome::Return4(expected));
    }
    Ok(())
}

/// Where the fake cell's records stood before a call.
struct Effects {
    power: Vec<Power>,
    started: usize,
    firmware: usize,
    console: usize,
}

#[derive(Clone, Debug)]
enum Step {
    Call {
        raw: u64,
        args: [u64; 3],
        caller: usize,
    },
    /// A vCPU that was started enters the guest.
    Enter(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (function_id(), arguments(), 0usize..8)
            .prop_map(|(raw, args, caller)| Step::Call { raw, args, caller }),
        1 => (0usize..8).prop_map(Step::Enter),
    ]
}

proptest! {
    #![proptest_config(config(10_000))]

    /// Decoding never panics, keeps the function id, and an SMC32 call
    /// decodes (and is answered) the same whatever the upper halves of its
    /// argument registers hold.
    #[test]
    fn smc32_calls_see_only_32_bit_arguments(
        raw in function_id(),
        args in arguments(),
        cell in fake_cell(),
        caller in 0usize..8,
    ) {
        let call = decode(raw, args);
        prop_assert_eq!(call.function_id(), raw as u32);
        if let Call::Unknown(unknown) = call {
            prop_assert_eq!(unknown, raw);
        }
        if smccc::is_smc64(raw as u32) {
            return Ok(());
        }
        let narrow = args.map(|arg| arg & 0xffff_ffff);
        prop_assert_eq!(decode(raw, narrow), call);
        let caller = caller % cell.power.len();
        let mut twin = cell.build();
        let mut cell = cell.build();
        let outcome = handle(&call, caller, &mut cell);
        let narrow_outcome = handle(&decode(raw, narrow), caller, &mut twin);
        prop_assert_eq!(outcome, narrow_outcome);
        prop_assert_eq!(effects(&cell), effects(&twin));
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Sequences of calls from any vCPU of a cell: the fake cell's checks
    /// never fire, and every effect stays inside the cell.
    #[test]
    fn calls_never_reach_outside_the_cell(
        cell in fake_cell(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let mut cell = cell.build();
        for step in steps {
            let (raw, args, caller) = match step {
                Step::Enter(vcpu) => {
                    if let Some(power) = cell.power.get_mut(vcpu)
                        && *power == Power::OnPending
                    {
                        *power = Power::On;
                    }
                    continue;
                }
                Step::Call { raw, args, caller } => (raw, args, caller % cell.power.len()),
            };
            let before = Effects {
                power: cell.power.clone(),
                started: cell.started.len(),
                firmware: cell.firmware_calls.len(),
                console: cell.console.len(),
            };
            let outcome = handle(&decode(raw, args), caller, &mut cell);
            check_effects(&cell, &before, (raw, args, caller), outcome)?;
            if outcome == Outcome::CpuOff {
                cell.power[caller] = Power::Off;
            }
        }
    }
}

/// `COUNTER(u64::MAX)` is `INVALID_PARAMETERS` for the fake cell too (it
/// once computed `100 + index` before checking the index).
#[test]
fn fake_cell_counter_answers_a_huge_index() {
    let mut cell = FakeCell::new(1);
    let outcome = handle(
        &decode(u64::from(hypercall::COUNTER), [u64::MAX, 0, 0]),
        0,
        &mut cell,
    );
    assert_eq!(
        outcome,
        Outcome::Return1(hypercall::HypercallError::InvalidParameters.to_register())
    );
}
