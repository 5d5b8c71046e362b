//! List registers and the pending queue under arbitrary inject /
//! acknowledge / EOI / exit sequences, following the documented protocol
//! (refill on every exit before injecting), against a fake set of hardware
//! list registers that the guest drives.
//!
//! Invariants checked after every step: nothing panics; the queue holds at
//! most `QUEUE_CAPACITY` entries, at most one per INTID, none of them also
//! in a list register, and no two list registers hold one INTID; the queue
//! is ordered by priority, an interrupt is queued behind every queued one
//! of the same or better priority, queued interrupts keep their relative
//! order, and one put back by a preemption goes ahead of its priority's
//! queued ones; drops are counted; after a refill the queue is only
//! non-empty when every list register is in use and no queued interrupt
//! beats one merely pending in a list register; and no interrupt is lost:
//! whatever was accepted and not yet completed by the guest is in a list
//! register or in the queue.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::config;
use crate::arch::aarch64::model::vgic::list::{
    InjectResult, ListRegisters, LrState, MAX_LIST_REGISTERS, QUEUE_CAPACITY, VirtualIrq,
    decode_v2_state, decode_v3_state, encode_v2, encode_v3,
};

/// What the guest's virtual CPU interface holds: LR contents and states.
struct Hardware {
    lrs: [(Option<VirtualIrq>, LrState); MAX_LIST_REGISTERS],
}

impl Hardware {
    fn new() -> Self {
        Self {
            lrs: [(None, LrState::Invalid); MAX_LIST_REGISTERS],
        }
    }

    /// The INTIDs the guest still has to handle.
    fn live(&self) -> impl Iterator<Item = u32> + '_ {
        self.lrs.iter().filter_map(|&(irq, state)| match irq {
            Some(irq) if state != LrState::Invalid => Some(irq.intid),
            _ => None,
        })
    }
}

#[derive(Clone, Debug)]
enum Step {
    Inject(VirtualIrq),
    /// The guest acknowledges LR n (Pending -> Active).
    Ack(usize),
    /// The guest EOIs LR n (Active -> Invalid, PendingActive -> Pending).
    Eoi(usize),
    /// Any exit, the underflow maintenance interrupt included.
    Exit,
    /// vCPU reset.
    Reset,
}

fn irq() -> impl Strategy<Value = VirtualIrq> {
    let priority = prop_oneof![
        3 => prop::sample::select(vec![0x00u8, 0x20, 0x80, 0xa0, 0xf8]),
        1 => any::<u8>(),
    ];
    (
        prop_oneof![4 => 0u32..24, 1 => any::<u32>()],
        priority,
        prop::option::weighted(0.3, any::<u32>()),
        any::<u8>(),
    )
        .prop_map(|(intid, priority, hw, source)| VirtualIrq {
            intid,
            priority,
            hw,
            source,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => irq().prop_map(Step::Inject),
        3 => (0..MAX_LIST_REGISTERS + 2).prop_map(Step::Ack),
        3 => (0..MAX_LIST_REGISTERS + 2).prop_map(Step::Eoi),
        2 => Just(Step::Exit),
        1 => Just(Step::Reset),
    ]
}

/// The test's side of the protocol and its bookkeeping.
struct Run {
    list: ListRegisters,
    hw: Hardware,
    count: usize,
    /// The guest ran since the last refill.
    guest_ran: bool,
    /// INTIDs accepted (written or queued) and not yet completed.
    outstanding: BTreeSet<u32>,
    dropped: u64,
}

impl Run {
    fn queue(&self) -> Vec<VirtualIrq> {
        self.list.queue().iter().copied().collect()
    }

    fn exit(&mut self) -> Result<(), TestCaseError> {
        let before = self.queue();
        let states: Vec<LrState> = self.hw.lrs.iter().map(|lr| lr.1).collect();
        let mut written = Vec::new();
        let hw = &mut self.hw;
        self.list.refill(
            |lr| states.get(lr).copied().unwrap_or(LrState::Invalid),
            &mut |lr, irq, state| {
                written.push(lr);
                hw.lrs[lr] = (Some(irq), state);
            },
        );
        self.guest_ran = false;
        for lr in written {
            prop_assert!(lr < self.count, "refill wrote LR {lr} of {}", self.count);
        }
        let after = self.queue();
        check_kept_order(&before, &after)?;
        // Put back by a preemption: ahead of the queued ones of its priority.
        for (index, irq) in after.iter().enumerate() {
            if !before.iter().any(|old| old.intid == irq.intid) {
                let peers_ahead = after[..index]
                    .iter()
                    .any(|old| old.priority == irq.priority && before.contains(old));
                prop_assert!(!peers_ahead, "{irq:?} put back behind its peers");
            }
        }
        self.check_after_refill()
    }

    fn inject(&mut self, irq: VirtualIrq) -> Result<(), TestCaseError> {
        if self.guest_ran {
            self.exit()?;
        }
        let before = self.queue();
        let result = self.list.inject(irq);
        let after = self.queue();
        check_kept_order(&before, &after)?;
        match result {
            InjectResult::Written {
                lr,
                irq: written,
                state,
            } => {
                prop_assert!(lr < self.count);
                prop_assert_eq!(written, irq);
                prop_assert!(matches!(state, LrState::Pending | LrState::PendingActive));
                self.hw.lrs[lr] = (Some(written), state);
                self.outstanding.insert(irq.intid);
            }
            InjectResult::Queued => {
                let index = after.iter().position(|queued| *queued == irq);
                prop_assert!(index.is_some(), "queued {irq:?} is not in the queue");
                let index = index.unwrap_or_default();
                prop_assert!(after[..index].iter().all(|q| q.priority <= irq.priority));
                prop_assert!(after[index + 1..].iter().all(|q| q.priority > irq.priority));
                self.outstanding.insert(irq.intid);
            }
            InjectResult::AlreadyPending => {
                prop_assert!(self.outstanding.contains(&irq.intid));
                prop_assert_eq!(&before, &after);
            }
            InjectResult::Dropped => {
                prop_assert_eq!(before.len(), QUEUE_CAPACITY);
                self.dropped += 1;
            }
        }
        Ok(())
    }

    fn guest(&mut self, lr: usize, eoi: bool) {
        if lr >= self.count {
            return;
        }
        let state = &mut self.hw.lrs[lr].1;
        *state = match (*state, eoi) {
            (LrState::Pending, false) => LrState::Active,
            (LrState::Active, true) => LrState::Invalid,
            (LrState::PendingActive, true) => LrState::Pending,
            (other, _) => other,
        };
        if *state == LrState::Invalid
            && let Some(irq) = self.hw.lrs[lr].0.take()
        {
            self.outstanding.remove(&irq.intid);
        }
        self.guest_ran = true;
    }

    /// Invariants that hold after every step.
    fn check(&self) -> Result<(), TestCaseError> {
        let queue = self.queue();
        prop_assert!(queue.len() <= QUEUE_CAPACITY);
        let queued: BTreeSet<u32> = queue.iter().map(|irq| irq.intid).collect();
        prop_assert_eq!(queued.len(), queue.len(), "duplicate queue entries");
        prop_assert!(
            queue
                .windows(2)
                .all(|pair| pair[0].priority <= pair[1].priority)
        );
        let mut held = BTreeSet::new();
        for lr in 0..MAX_LIST_REGISTERS + 2 {
            if let Some((irq, _)) = self.list.lr(lr) {
                prop_assert!(lr < self.count);
                prop_assert!(held.insert(irq.intid), "two LRs hold {}", irq.intid);
                prop_assert!(
                    !queued.contains(&irq.intid),
                    "{} queued and in an LR",
                    irq.intid
                );
                prop_assert_eq!(self.list.find(irq.intid), Some(lr));
            }
        }
        prop_assert_eq!(self.list.needs_underflow_maintenance(), !queue.is_empty());
        prop_assert_eq!(self.list.dropped(), self.dropped);
        Ok(())
    }

    fn check_after_refill(&self) -> Result<(), TestCaseError> {
        let queue = self.queue();
        if let Some(best) = queue.first() {
            for lr in 0..self.count {
                let slot = self.list.lr(lr);
                prop_assert!(slot.is_some(), "LR {lr} free with a queue");
                if let Some((irq, LrState::Pending)) = slot {
                    prop_assert!(
                        irq.priority <= best.priority,
                        "{best:?} waits behind {irq:?}"
                    );
                }
            }
        }
        // No interrupt lost: what the guest has not completed is in an LR
        // (as the hardware shows) or queued.
        let mut present: BTreeSet<u32> = self.hw.live().collect();
        present.extend(queue.iter().map(|irq| irq.intid));
        prop_assert_eq!(&present, &self.outstanding);
        for lr in 0..self.count {
            let live = self.hw.lrs[lr]
                .0
                .filter(|_| self.hw.lrs[lr].1 != LrState::Invalid);
            prop_assert_eq!(
                self.list.lr(lr).map(|(irq, _)| irq.intid),
                live.map(|irq| irq.intid)
            );
        }
        let pending = !queue.is_empty()
            || (0..self.count)
                .any(|lr| matches!(self.hw.lrs[lr].1, LrState::Pending | LrState::PendingActive));
        prop_assert_eq!(self.list.has_pending(), pending);
        Ok(())
    }
}

/// Entries present before and after keep their relative order.
fn check_kept_order(before: &[VirtualIrq], after: &[VirtualIrq]) -> Result<(), TestCaseError> {
    let kept_before: Vec<u32> = before
        .iter()
        .filter(|irq| after.contains(irq))
        .map(|irq| irq.intid)
        .collect();
    let kept_after: Vec<u32> = after
        .iter()
        .filter(|irq| before.contains(irq))
        .map(|irq| irq.intid)
        .collect();
    prop_assert_eq!(kept_before, kept_after, "queued interrupts were reordered");
    Ok(())
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn queue_and_list_registers_keep_their_invariants(
        count in 0usize..=MAX_LIST_REGISTERS + 2,
        steps in prop::collection::vec(step(), 1..200),
    ) {
        let mut run = Run {
            list: ListRegisters::new(count),
            hw: Hardware::new(),
            count: count.min(MAX_LIST_REGISTERS),
            guest_ran: false,
            outstanding: BTreeSet::new(),
            dropped: 0,
        };
        for step in &steps {
            match *step {
                Step::Inject(irq) => run.inject(irq)?,
                Step::Ack(lr) => run.guest(lr, false),
                Step::Eoi(lr) => run.guest(lr, true),
                Step::Exit => run.exit()?,
                Step::Reset => {
                    run.list.reset();
                    run.hw = Hardware::new();
                    run.outstanding.clear();
                    run.guest_ran = false;
                }
            }
            run.check()?;
        }
    }

    /// Both LR encodings carry the state they were given.
    #[test]
    fn lr_encodings_keep_the_state(irq in irq(), bits in 0u64..4) {
        let state = LrState::from_bits(bits);
        prop_assert_eq!(decode_v3_state(encode_v3(&irq, state)), state);
        prop_assert_eq!(decode_v2_state(encode_v2(&irq, state)), state);
        prop_assert_eq!(u64::from(state.bits()), bits);
    }
}
