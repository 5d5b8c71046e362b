//! Per-vCPU virtual interrupt injection: list register bookkeeping and queue.
//!
//! A GIC virtual CPU interface signals to the guest whatever its list
//! registers (LRs) hold: GICv3 `ICH_LR<n>_EL2`, GICv2 `GICH_LR<n>`. There
//! are few of them (4 on GIC-400 and most GICv3 CPUs, at most 16 here), so
//! [`ListRegisters`] tracks which LR holds which INTID and in which state,
//! and keeps what does not fit in a [`PendingQueue`]: bounded (64 entries),
//! ordered by priority (lower value first, ties in arrival order) and
//! deduplicated by INTID. This module decides *what* goes where; the
//! register formats are the pure functions [`encode_v3`],
//! [`decode_v3_state`], [`encode_v2`] and [`decode_v2_state`], and the arch
//! layer does the register accesses.
//!
//! Protocol, on the vCPU's own core (LRs are per-core state):
//!
//! 1. On every exit, before anything is injected, call
//!    [`ListRegisters::refill`] with the live LR states. It frees the LRs
//!    whose interrupt the guest completed (state Invalid), records the
//!    others' current state, then moves the best queued interrupts into
//!    free LRs. While the queue still holds an interrupt that beats an LR
//!    holding a merely *Pending* one (not yet acknowledged, so nothing of
//!    the guest depends on it), the two swap: the queued one takes the LR
//!    and the displaced one goes back to the queue, ahead of the queued
//!    interrupts of its own priority (it arrived before them). Active and
//!    pending-and-active LRs are never displaced.
//! 2. [`ListRegisters::inject`] then places a new interrupt: into a free
//!    LR ([`InjectResult::Written`]: the caller writes that LR), or the
//!    queue ([`InjectResult::Queued`]), or nowhere because it is already
//!    pending ([`InjectResult::AlreadyPending`]) or the queue is full
//!    ([`InjectResult::Dropped`], counted). A purely virtual (not
//!    hardware-linked) interrupt that is Active in an LR becomes pending
//!    and active in the same LR (two LRs must never hold one INTID).
//!    Hardware-linked interrupts never need that: the physical interrupt
//!    stays active until the guest's EOI deactivates it, so it cannot be
//!    taken again meanwhile.
//! 3. Before resuming the guest, enable the underflow maintenance
//!    interrupt (`ICH_HCR_EL2.UIE` / `GICH_HCR.UIE`) exactly when
//!    [`ListRegisters::needs_underflow_maintenance`] says so (the queue is
//!    not empty). Underflow (at most one valid LR) is the right trigger
//!    with two or more LRs: the queue is only non-empty while every LR is
//!    in use, so it fires once the guest has completed enough of them. The
//!    "no pending" trigger (NPIE) would fire again and again while the
//!    guest handles active interrupts, and the guest would never run.
//!
//! Group: GICv3 LRs use Group 1 (the guest enables it with
//! ICC_IGRPEN1_EL1). GICv2 LRs use Group 0: Linux's GICv2 driver enables
//! only GICC_CTLR bit 0, which on GICV_CTLR is EnableGrp0, with FIQEn
//! clear, so Group 0 virtual interrupts arrive as vIRQ (the virtual
//! distributor's IGROUPR reads 0 on GICv2 to match).

use heapless::Vec;

/// Largest number of list registers tracked (`ICH_VTR_EL2.ListRegs` allows
/// up to 16).
pub(crate) const MAX_LIST_REGISTERS: usize = 16;
/// Capacity of a vCPU's pending queue.
pub(crate) const QUEUE_CAPACITY: usize = 64;

/// An interrupt to deliver to a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct VirtualIrq {
    /// The INTID the guest sees.
    pub(crate) intid: u32,
    /// Its priority (lower value = more urgent).
    pub(crate) priority: u8,
    /// For a hardware-linked interrupt, the physical INTID: the guest's
    /// EOI (or deactivation) of the virtual interrupt deactivates it.
    pub(crate) hw: Option<u32>,
    /// GICv2 SGIs only: the vCPU index of the sender, which the guest reads
    /// in GICC_IAR.CPUID. 0 otherwise.
    pub(crate) source: u8,
}

impl VirtualIrq {
    /// A purely virtual interrupt.
    pub(crate) const fn new(intid: u32, priority: u8) -> Self {
        Self {
            intid,
            priority,
            hw: None,
            source: 0,
        }
    }

    /// A hardware-linked interrupt backed by physical INTID `physical`.
    pub(crate) const fn hardware(intid: u32, priority: u8, physical: u32) -> Self {
        Self {
            intid,
            priority,
            hw: Some(physical),
            source: 0,
        }
    }

    /// A GICv2 SGI sent by vCPU `source`.
    pub(crate) const fn sgi(intid: u32, priority: u8, source: u8) -> Self {
        Self {
            intid,
            priority,
            hw: None,
            source,
        }
    }
}

/// State of a list register (the two-bit State field of both formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum LrState {
    /// Free: nothing for the guest (or the guest completed it).
    Invalid = 0b00,
    /// Pending, not yet acknowledged.
    Pending = 0b01,
    /// Acknowledged, being handled.
    Active = 0b10,
    /// Being handled and pending again.
    PendingActive = 0b11,
}

impl LrState {
    /// The state for a two-bit State field (higher bits ignored).
    pub(crate) const fn from_bits(bits: u64) -> Self {
        match bits & 0b11 {
            0b00 => Self::Invalid,
            0b01 => Self::Pending,
            0b10 => Self::Active,
            _ => Self::PendingActive,
        }
    }

    /// The two-bit State field.
    #[cfg(test)]
    pub(crate) const fn bits(self) -> u8 {
        self as u8
    }
}

/// Outcome of [`ListRegisters::inject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum InjectResult {
    /// The caller must write LR `lr` with `irq` in `state` (Pending, or
    /// PendingActive when merged into an LR holding it Active).
    Written {
        /// The list register to write.
        lr: usize,
        /// What to write.
        irq: VirtualIrq,
        /// In which state.
        state: LrState,
    },
    /// Queued until an LR frees up.
    Queued,
    /// The INTID is already queued or pending in an LR: nothing to do.
    AlreadyPending,
    /// The queue is full: the interrupt is lost (and counted).
    Dropped,
}

/// Outcome of [`PendingQueue::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PushResult {
    /// Inserted in priority order.
    Queued,
    /// The INTID is already queued.
    AlreadyPending,
    /// The queue is full.
    Full,
}

/// Interrupts waiting for a list register: at most [`QUEUE_CAPACITY`], at
/// most one per INTID, best first (lowest priority value; equal priorities
/// in arrival order).
#[derive(Clone, Debug, Default)]
pub(crate) struct PendingQueue {
    entries: Vec<VirtualIrq, QUEUE_CAPACITY>,
}

impl PendingQueue {
    /// An empty queue.
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Number of queued interrupts.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the queue is full.
    #[cfg(test)]
    pub(crate) fn is_full(&self) -> bool {
        self.entries.is_full()
    }

    /// Whether `intid` is queued.
    pub(crate) fn contains(&self, intid: u32) -> bool {
        self.entries.iter().any(|irq| irq.intid == intid)
    }

    /// The queued interrupts, best first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &VirtualIrq> {
        self.entries.iter()
    }

    /// The best queued interrupt.
    pub(crate) fn peek(&self) -> Option<&VirtualIrq> {
        self.entries.first()
    }

    /// Removes and returns the best queued interrupt.
    pub(crate) fn pop(&mut self) -> Option<VirtualIrq> {
        if self.entries.is_empty() {
            None
        } else {
            Some(self.entries.remove(0))
        }
    }

    /// Queues `irq` behind every queued interrupt of the same or better
    /// priority.
    pub(crate) fn push(&mut self, irq: VirtualIrq) -> PushResult {
        let index = self
            .entries
            .iter()
            .position(|queued| queued.priority > irq.priority)
            .unwrap_or(self.entries.len());
        self.insert(index, irq)
    }

    /// Queues `irq` ahead of the queued interrupts of the same priority
    /// (for one that was already delivered once and is being put back).
    pub(crate) fn push_front_of_priority(&mut self, irq: VirtualIrq) -> PushResult {
        let index = self
            .entries
            .iter()
            .position(|queued| queued.priority >= irq.priority)
            .unwrap_or(self.entries.len());
        self.insert(index, irq)
    }

    fn insert(&mut self, index: usize, irq: VirtualIrq) -> PushResult {
        if self.contains(irq.intid) {
            return PushResult::AlreadyPending;
        }
        match self.entries.insert(index, irq) {
            Ok(()) => PushResult::Queued,
            Err(_) => PushResult::Full,
        }
    }

    /// Removes `intid` from the queue (the guest cleared its pending state
    /// or disabled it); returns what was removed.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, intid: u32) -> Option<VirtualIrq> {
        let index = self.entries.iter().position(|irq| irq.intid == intid)?;
        Some(self.entries.remove(index))
    }

    /// Empties the queue.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// What one list register holds, as far as the bookkeeping knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Slot {
    irq: VirtualIrq,
    state: LrState,
}

/// List register bookkeeping and pending queue of one vCPU. Const
/// constructible, no heap.
#[derive(Clone, Debug)]
pub(crate) struct ListRegisters {
    count: usize,
    slots: [Option<Slot>; MAX_LIST_REGISTERS],
    queue: PendingQueue,
    dropped: u64,
}

impl ListRegisters {
    /// Bookkeeping for `count` list registers (clamped to
    /// [`MAX_LIST_REGISTERS`]), all free, with an empty queue.
    pub(crate) const fn new(count: usize) -> Self {
        Self {
            count: if count > MAX_LIST_REGISTERS {
                MAX_LIST_REGISTERS
            } else {
                count
            },
            slots: [None; MAX_LIST_REGISTERS],
            queue: PendingQueue::new(),
            dropped: 0,
        }
    }

    /// Forgets every LR and queued interrupt (vCPU reset; the caller clears
    /// the hardware LRs). The drop count is kept.
    #[cfg(test)]
    pub(crate) fn reset(&mut self) {
        self.slots = [None; MAX_LIST_REGISTERS];
        self.queue.clear();
    }

    /// Number of list registers managed.
    #[cfg(test)]
    pub(crate) const fn count(&self) -> usize {
        self.count
    }

    /// Interrupts lost because the queue was full.
    #[cfg(test)]
    pub(crate) const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The pending queue.
    #[cfg(test)]
    pub(crate) const fn queue(&self) -> &PendingQueue {
        &self.queue
    }

    /// What LR `lr` holds and its last known state (`None` when free or out
    /// of range).
    #[cfg(test)]
    pub(crate) fn lr(&self, lr: usize) -> Option<(VirtualIrq, LrState)> {
        self.live_slots()
            .get(lr)
            .copied()
            .flatten()
            .map(|slot| (slot.irq, slot.state))
    }

    /// The LR holding `intid`, if any.
    pub(crate) fn find(&self, intid: u32) -> Option<usize> {
        self.live_slots()
            .iter()
            .position(|slot| slot.is_some_and(|slot| slot.irq.intid == intid))
    }

    /// Whether the queue holds interrupts that wait for an LR: the arch
    /// layer then enables the underflow maintenance interrupt.
    pub(crate) fn needs_underflow_maintenance(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether the vCPU has an interrupt waiting to be taken: an LR in a
    /// pending state (as of the last `refill`) or a queued interrupt. A
    /// trapped WFI returns at once when this holds.
    pub(crate) fn has_pending(&self) -> bool {
        !self.queue.is_empty()
            || self
                .live_slots()
                .iter()
                .flatten()
                .any(|slot| matches!(slot.state, LrState::Pending | LrState::PendingActive))
    }

    /// Removes `intid` from the queue (see [`PendingQueue::remove`]).
    #[cfg(test)]
    pub(crate) fn remove_queued(&mut self, intid: u32) -> Option<VirtualIrq> {
        self.queue.remove(intid)
    }

    fn live_slots(&self) -> &[Option<Slot>] {
        self.slots.get(..self.count).unwrap_or(&[])
    }

    fn live_slots_mut(&mut self) -> &mut [Option<Slot>] {
        self.slots.get_mut(..self.count).unwrap_or(&mut [])
    }

    /// Places `irq` (see the module documentation). LR states are those
    /// recorded by the last [`ListRegisters::refill`].
    pub(crate) fn inject(&mut self, irq: VirtualIrq) -> InjectResult {
        if self.queue.contains(irq.intid) {
            return InjectResult::AlreadyPending;
        }
        if let Some(lr) = self.find(irq.intid) {
            let Some(Some(slot)) = self.slots.get_mut(lr) else {
                return InjectResult::AlreadyPending;
            };
            if slot.state == LrState::Active && slot.irq.hw.is_none() && irq.hw.is_none() {
                slot.irq = irq;
                slot.state = LrState::PendingActive;
                return InjectResult::Written {
                    lr,
                    irq,
                    state: LrState::PendingActive,
                };
            }
            return InjectResult::AlreadyPending;
        }
        if let Some(lr) = self.live_slots().iter().position(Option::is_none)
            && let Some(slot) = self.slots.get_mut(lr)
        {
            *slot = Some(Slot {
                irq,
                state: LrState::Pending,
            });
            return InjectResult::Written {
                lr,
                irq,
                state: LrState::Pending,
            };
        }
        match self.queue.push(irq) {
            PushResult::Queued => InjectResult::Queued,
            PushResult::AlreadyPending => InjectResult::AlreadyPending,
            PushResult::Full => {
                self.dropped = self.dropped.saturating_add(1);
                InjectResult::Dropped
            }
        }
    }

    /// Synchronises with the live LR states (`lr_states(n)` reads LR `n`),
    /// frees completed LRs, then fills and preempts (see the module
    /// documentation). `write(n, irq, state)` must write LR `n`; it is
    /// called once per LR that changes.
    pub(crate) fn refill(
        &mut self,
        lr_states: impl Fn(usize) -> LrState,
        write: &mut impl FnMut(usize, VirtualIrq, LrState),
    ) {
        for (lr, slot) in self.live_slots_mut().iter_mut().enumerate() {
            if let Some(held) = slot {
                match lr_states(lr) {
                    LrState::Invalid => *slot = None,
                    state => held.state = state,
                }
            }
        }
        while let Some(&best) = self.queue.peek() {
            let target = match self.live_slots().iter().position(Option::is_none) {
                Some(free) => Some((free, None)),
                None => self.worst_pending().and_then(|(lr, displaced)| {
                    (displaced.priority > best.priority).then_some((lr, Some(displaced)))
                }),
            };
            let Some((lr, displaced)) = target else {
                break;
            };
            self.queue.pop();
            if let Some(slot) = self.slots.get_mut(lr) {
                *slot = Some(Slot {
                    irq: best,
                    state: LrState::Pending,
                });
            }
            write(lr, best, LrState::Pending);
            if let Some(displaced) = displaced {
                // The pop made room, so this cannot fail; count it if it
                // somehow does.
                if self.queue.push_front_of_priority(displaced) != PushResult::Queued {
                    self.dropped = self.dropped.saturating_add(1);
                }
            }
        }
    }

    /// The LR holding the least urgent merely-pending interrupt (the
    /// highest-numbered LR among equals).
    fn worst_pending(&self) -> Option<(usize, VirtualIrq)> {
        let mut worst: Option<(usize, VirtualIrq)> = None;
        for (lr, slot) in self.live_slots().iter().enumerate() {
            if let Some(slot) = slot
                && slot.state == LrState::Pending
                && worst.is_none_or(|(_, irq)| slot.irq.priority >= irq.priority)
            {
                worst = Some((lr, slot.irq));
            }
        }
        worst
    }
}

// ICH_LR<n>_EL2 fields (GICv3).
const V3_VINTID_MASK: u64 = 0xffff_ffff; // vINTID, bits 31:0
const V3_PINTID_SHIFT: u32 = 32; // pINTID, bits 44:32 (HW = 1)
const V3_PINTID_MASK: u64 = 0x1fff;
const V3_PRIORITY_SHIFT: u32 = 48; // Priority, bits 55:48
const V3_GROUP: u64 = 1 << 60; // Group, bit 60
const V3_HW: u64 = 1 << 61; // HW, bit 61
const V3_STATE_SHIFT: u32 = 62; // State, bits 63:62

/// Encodes `ICH_LR<n>_EL2` for `irq` in `state`: vINTID in 31:0, pINTID in
/// 44:32 with HW (61) for a hardware-linked interrupt, Priority in 55:48,
/// Group (60) = 1, State in 63:62. The EOI bit (41, maintenance on EOI) is
/// never set.
pub(crate) const fn encode_v3(irq: &VirtualIrq, state: LrState) -> u64 {
    let mut lr = irq.intid as u64 & V3_VINTID_MASK;
    lr |= (irq.priority as u64) << V3_PRIORITY_SHIFT;
    lr |= V3_GROUP;
    if let Some(physical) = irq.hw {
        lr |= V3_HW | ((physical as u64 & V3_PINTID_MASK) << V3_PINTID_SHIFT);
    }
    lr | ((state as u64) << V3_STATE_SHIFT)
}

/// The State field (63:62) of an `ICH_LR<n>_EL2` value.
pub(crate) const fn decode_v3_state(lr: u64) -> LrState {
    LrState::from_bits(lr >> V3_STATE_SHIFT)
}

// GICH_LR<n> fields (GICv2).
const V2_VIRTUAL_ID_MASK: u32 = 0x3ff; // VirtualID, bits 9:0
const V2_PHYSICAL_ID_SHIFT: u32 = 10; // PhysicalID, bits 19:10 (HW = 1)
const V2_PHYSICAL_ID_MASK: u32 = 0x3ff;
const V2_CPUID_MASK: u32 = 0x7; // CPUID, bits 12:10 (HW = 0, SGIs)
const V2_PRIORITY_SHIFT: u32 = 23; // Priority, bits 27:23 (priority[7:3])
const V2_STATE_SHIFT: u32 = 28; // State, bits 29:28
const V2_HW: u32 = 1 << 31; // HW, bit 31
/// SGIs are INTIDs 0..15.
const SGI_LIMIT: u32 = 16;

/// Encodes `GICH_LR<n>` for `irq` in `state`: VirtualID in 9:0;
/// PhysicalID in 19:10 with HW (31) for a hardware-linked interrupt, else
/// for an SGI the sending CPU in 12:10; Priority 27:23 = the top five bits
/// of the priority; State in 29:28; Grp1 (30) = 0 (Group 0, see the module
/// documentation). The EOI bit (19 when HW = 0) is never set.
pub(crate) const fn encode_v2(irq: &VirtualIrq, state: LrState) -> u32 {
    let mut lr = irq.intid & V2_VIRTUAL_ID_MASK;
    if let Some(physical) = irq.hw {
        lr |= V2_HW | ((physical & V2_PHYSICAL_ID_MASK) << V2_PHYSICAL_ID_SHIFT);
    } else if irq.intid < SGI_LIMIT {
        lr |= (irq.source as u32 & V2_CPUID_MASK) << V2_PHYSICAL_ID_SHIFT;
    }
    lr |= ((irq.priority >> 3) as u32) << V2_PRIORITY_SHIFT;
    lr | ((state as u32) << V2_STATE_SHIFT)
}

/// The State field (29:28) of a `GICH_LR<n>` value.
pub(crate) const fn decode_v2_state(lr: u32) -> LrState {
    LrState::from_bits((lr >> V2_STATE_SHIFT) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake set of hardware LRs that `refill` reads and writes.
    struct Hardware {
        lrs: [(Option<VirtualIrq>, LrState); MAX_LIST_REGISTERS],
    }

    impl Hardware {
        fn new() -> Self {
            Self {
                lrs: [(None, LrState::Invalid); MAX_LIST_REGISTERS],
            }
        }

        fn apply(&mut self, result: InjectResult) {
            if let InjectResult::Written { lr, irq, state } = result {
                self.lrs[lr] = (Some(irq), state);
            }
        }

        fn refill(&mut self, list: &mut ListRegisters) -> std::vec::Vec<(usize, u32)> {
            let states: std::vec::Vec<LrState> = self.lrs.iter().map(|lr| lr.1).collect();
            let mut writes = std::vec::Vec::new();
            list.refill(|lr| states[lr], &mut |lr, irq, state| {
                self.lrs[lr] = (Some(irq), state);
                writes.push((lr, irq.intid));
            });
            writes
        }

        /// The guest acknowledges LR `lr` (pending -> active).
        fn ack(&mut self, lr: usize) {
            self.lrs[lr].1 = LrState::Active;
        }

        /// The guest EOIs LR `lr` (-> invalid, or pending if it was
        /// pending and active).
        fn eoi(&mut self, lr: usize) {
            self.lrs[lr].1 = match self.lrs[lr].1 {
                LrState::PendingActive => LrState::Pending,
                _ => LrState::Invalid,
            };
        }

        fn intid(&self, lr: usize) -> Option<u32> {
            match self.lrs[lr] {
                (Some(irq), state) if state != LrState::Invalid => Some(irq.intid),
                _ => None,
            }
        }
    }

    fn queued(list: &ListRegisters) -> std::vec::Vec<u32> {
        list.queue().iter().map(|irq| irq.intid).collect()
    }

    #[test]
    fn queue_orders_by_priority_then_arrival() {
        let mut queue = PendingQueue::new();
        for (intid, priority) in [(40, 0xa0), (41, 0x20), (42, 0xa0), (43, 0x20), (44, 0)] {
            assert_eq!(
                queue.push(VirtualIrq::new(intid, priority)),
                PushResult::Queued
            );
        }
        let order: std::vec::Vec<u32> = queue.iter().map(|irq| irq.intid).collect();
        assert_eq!(order, [44, 41, 43, 40, 42]);
        // Put back ahead of its peers.
        queue.remove(41);
        assert_eq!(
            queue.push_front_of_priority(VirtualIrq::new(41, 0x20)),
            PushResult::Queued
        );
        assert_eq!(queue.pop().map(|irq| irq.intid), Some(44));
        assert_eq!(queue.pop().map(|irq| irq.intid), Some(41));
        assert_eq!(queue.peek().map(|irq| irq.intid), Some(43));
        assert_eq!(queue.len(), 3);
    }

    #[test]
    fn queue_deduplicates_and_bounds() {
        let mut queue = PendingQueue::new();
        assert_eq!(queue.push(VirtualIrq::new(5, 0x80)), PushResult::Queued);
        assert_eq!(
            queue.push(VirtualIrq::new(5, 0x10)),
            PushResult::AlreadyPending
        );
        for intid in 100..100 + QUEUE_CAPACITY as u32 - 1 {
            assert_eq!(queue.push(VirtualIrq::new(intid, 0)), PushResult::Queued);
        }
        assert!(queue.is_full());
        assert_eq!(queue.push(VirtualIrq::new(7, 0)), PushResult::Full);
        assert_eq!(queue.remove(5).map(|irq| irq.priority), Some(0x80));
        assert_eq!(queue.remove(5), None);
        queue.clear();
        assert!(queue.is_empty());
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn inject_fills_lrs_then_queues() {
        let mut list = ListRegisters::new(2);
        let a = VirtualIrq::new(33, 0xa0);
        assert_eq!(
            list.inject(a),
            InjectResult::Written {
                lr: 0,
                irq: a,
                state: LrState::Pending
            }
        );
        assert_eq!(list.inject(a), InjectResult::AlreadyPending);
        assert!(matches!(
            list.inject(VirtualIrq::new(34, 0xa0)),
            InjectResult::Written { lr: 1, .. }
        ));
        assert!(!list.needs_underflow_maintenance());
        assert_eq!(list.inject(VirtualIrq::new(35, 0xa0)), InjectResult::Queued);
        assert_eq!(
            list.inject(VirtualIrq::new(35, 0x00)),
            InjectResult::AlreadyPending
        );
        assert!(list.needs_underflow_maintenance());
        assert_eq!(list.find(34), Some(1));
        assert_eq!(list.lr(0), Some((a, LrState::Pending)));
        assert_eq!(list.lr(2), None);
    }

    #[test]
    fn overflow_queue_then_refill_on_eoi() {
        let mut hw = Hardware::new();
        let mut list = ListRegisters::new(4);
        // Six interrupts, four LRs: two queued in priority order.
        for (intid, priority) in [
            (40, 0x80),
            (41, 0x80),
            (42, 0x80),
            (43, 0x80),
            (44, 0xa0),
            (45, 0x90),
        ] {
            let result = list.inject(VirtualIrq::new(intid, priority));
            hw.apply(result);
        }
        assert_eq!(queued(&list), [45, 44]);
        // Nothing changed: refill writes nothing.
        assert!(hw.refill(&mut list).is_empty());
        // The guest takes and completes LR 2 (INTID 42).
        hw.ack(2);
        assert!(hw.refill(&mut list).is_empty());
        assert_eq!(list.lr(2).map(|(_, state)| state), Some(LrState::Active));
        hw.eoi(2);
        assert_eq!(hw.refill(&mut list), [(2, 45)]);
        assert_eq!(queued(&list), [44]);
        assert!(list.needs_underflow_maintenance());
        // Underflow: three more completed.
        for lr in [0, 1, 3] {
            hw.ack(lr);
            hw.eoi(lr);
        }
        assert_eq!(hw.refill(&mut list), [(0, 44)]);
        assert!(!list.needs_underflow_maintenance());
        assert_eq!(list.find(40), None);
        assert_eq!(hw.intid(2), Some(45));
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let mut list = ListRegisters::new(1);
        list.inject(VirtualIrq::new(32, 0));
        for intid in 0..QUEUE_CAPACITY as u32 {
            assert_eq!(
                list.inject(VirtualIrq::new(100 + intid, 0)),
                InjectResult::Queued
            );
        }
        assert_eq!(list.inject(VirtualIrq::new(999, 0)), InjectResult::Dropped);
        assert_eq!(list.inject(VirtualIrq::new(998, 0)), InjectResult::Dropped);
        assert_eq!(list.dropped(), 2);
        // Already queued beats full.
        assert_eq!(
            list.inject(VirtualIrq::new(100, 0)),
            InjectResult::AlreadyPending
        );
        assert_eq!(list.remove_queued(100).map(|irq| irq.intid), Some(100));
        list.reset();
        assert!(list.queue().is_empty());
        assert_eq!(list.find(32), None);
        assert_eq!(list.dropped(), 2);
    }

    #[test]
    fn preemption_swaps_a_merely_pending_lr() {
        let mut hw = Hardware::new();
        let mut list = ListRegisters::new(2);
        hw.apply(list.inject(VirtualIrq::new(40, 0xa0)));
        hw.apply(list.inject(VirtualIrq::new(41, 0xc0)));
        // A more urgent interrupt is queued (no free LR)...
        assert_eq!(list.inject(VirtualIrq::new(42, 0x20)), InjectResult::Queued);
        // ...and takes the LR of the least urgent pending one (41).
        assert_eq!(hw.refill(&mut list), [(1, 42)]);
        assert_eq!(queued(&list), [41]);
        assert_eq!(list.find(41), None);
        // An active LR is never displaced: the guest acknowledges 42.
        hw.ack(1);
        assert_eq!(list.inject(VirtualIrq::new(43, 0x10)), InjectResult::Queued);
        // 43 beats 40 (pending in LR 0), not 42 (active in LR 1).
        assert_eq!(hw.refill(&mut list), [(0, 43)]);
        assert_eq!(queued(&list), [40, 41]);
        // Nothing left to preempt: 43 pending (more urgent), 42 active.
        assert!(hw.refill(&mut list).is_empty());
        // A displaced interrupt goes back ahead of its peers.
        let mut list = ListRegisters::new(1);
        let mut hw = Hardware::new();
        hw.apply(list.inject(VirtualIrq::new(50, 0x80)));
        list.inject(VirtualIrq::new(51, 0x80));
        list.inject(VirtualIrq::new(52, 0x00));
        assert_eq!(hw.refill(&mut list), [(0, 52)]);
        assert_eq!(queued(&list), [50, 51]);
    }

    #[test]
    fn active_virtual_interrupt_becomes_pending_and_active() {
        let mut hw = Hardware::new();
        let mut list = ListRegisters::new(4);
        let sgi = VirtualIrq::new(1, 0xa0);
        hw.apply(list.inject(sgi));
        hw.ack(0);
        hw.refill(&mut list);
        assert_eq!(
            list.inject(sgi),
            InjectResult::Written {
                lr: 0,
                irq: sgi,
                state: LrState::PendingActive
            }
        );
        assert_eq!(list.inject(sgi), InjectResult::AlreadyPending);
        // A hardware-linked interrupt active in an LR is not re-injected.
        let timer = VirtualIrq::hardware(27, 0xa0, 27);
        hw.apply(list.inject(timer));
        hw.ack(1);
        hw.refill(&mut list);
        assert_eq!(list.inject(timer), InjectResult::AlreadyPending);
    }

    #[test]
    fn zero_list_registers_only_queue() {
        let mut list = ListRegisters::new(0);
        assert_eq!(list.inject(VirtualIrq::new(1, 0)), InjectResult::Queued);
        list.refill(|_| LrState::Pending, &mut |_, _, _| panic!("no LRs"));
        assert_eq!(ListRegisters::new(100).count(), MAX_LIST_REGISTERS);
    }

    #[test]
    fn encode_v3_bit_exact() {
        let irq = VirtualIrq::new(0x1234, 0xa8);
        assert_eq!(
            encode_v3(&irq, LrState::Pending),
            0b01 << 62              // State: pending
                | 1 << 60           // Group 1
                | 0xa8 << 48        // Priority
                | 0x1234 // vINTID
        );
        assert_eq!(
            encode_v3(&irq, LrState::Active),
            0b10 << 62 | 1 << 60 | 0xa8 << 48 | 0x1234
        );
        assert_eq!(
            encode_v3(&irq, LrState::PendingActive),
            0xd0a8_0000_0000_1234
        );
        assert_eq!(encode_v3(&irq, LrState::Invalid), 0x10a8_0000_0000_1234);
        // HW: pINTID in 44:32, HW bit 61.
        let timer = VirtualIrq::hardware(27, 0x00, 27);
        assert_eq!(
            encode_v3(&timer, LrState::Pending),
            0b01 << 62              // State: pending
                | 1 << 61           // HW
                | 1 << 60           // Group 1
                | 27 << 32          // pINTID
                | 27 // vINTID
        );
        let spi = VirtualIrq::hardware(40, 0xf8, 0x1fff + 1 + 79);
        assert_eq!((encode_v3(&spi, LrState::Pending) >> 32) & 0x1fff, 79);
        for state in [
            LrState::Invalid,
            LrState::Pending,
            LrState::Active,
            LrState::PendingActive,
        ] {
            assert_eq!(decode_v3_state(encode_v3(&timer, state)), state);
        }
    }

    #[test]
    fn has_pending_follows_lr_states_and_queue() {
        let mut hw = Hardware::new();
        let mut list = ListRegisters::new(1);
        assert!(!list.has_pending());
        hw.apply(list.inject(VirtualIrq::new(27, 0x80)));
        assert!(list.has_pending());
        // The guest acknowledges it: active, nothing left to take.
        hw.lrs[0].1 = LrState::Active;
        hw.refill(&mut list);
        assert!(!list.has_pending());
        // Another one waits in the queue (the only LR is busy).
        assert_eq!(list.inject(VirtualIrq::new(40, 0x80)), InjectResult::Queued);
        assert!(list.has_pending());
    }

    #[test]
    fn encode_v2_bit_exact() {
        let irq = VirtualIrq::new(40, 0xa8);
        assert_eq!(
            encode_v2(&irq, LrState::Pending),
            0b01 << 28              // State: pending
                | (0xa8 >> 3) << 23 // Priority[7:3]
                | 40 // VirtualID; Grp1 = 0, HW = 0
        );
        assert_eq!(encode_v2(&irq, LrState::Pending), 0x1a80_0028);
        // SGI from vCPU 5: CPUID in 12:10.
        let sgi = VirtualIrq::sgi(3, 0x80, 5);
        assert_eq!(
            encode_v2(&sgi, LrState::PendingActive),
            0b11 << 28 | 0x10 << 23 | 5 << 10 | 3
        );
        // A non-SGI never carries a CPUID.
        let ppi = VirtualIrq::sgi(20, 0x80, 5);
        assert_eq!(encode_v2(&ppi, LrState::Pending) & (0x7 << 10), 0);
        // HW: PhysicalID in 19:10, HW bit 31.
        let hw = VirtualIrq::hardware(27, 0xf8, 30);
        assert_eq!(
            encode_v2(&hw, LrState::Active),
            1 << 31                 // HW
                | 0b10 << 28        // State: active
                | 0x1f << 23        // Priority[7:3]
                | 30 << 10          // PhysicalID
                | 27 // VirtualID
        );
        // Out-of-range INTIDs are truncated to their fields, not panics.
        let wide = VirtualIrq::hardware(0xffff_ffff, 0xff, 0xffff_ffff);
        assert_eq!(encode_v2(&wide, LrState::Invalid), 0x8f8f_ffff);
        for state in [
            LrState::Invalid,
            LrState::Pending,
            LrState::Active,
            LrState::PendingActive,
        ] {
            assert_eq!(decode_v2_state(encode_v2(&hw, state)), state);
        }
        assert_eq!(decode_v2_state(0x3000_0000), LrState::PendingActive);
    }
}
