//! The run-time life of cells and their vCPUs, shared by every
//! architecture: which vCPUs are on, off or starting, which cells have
//! stopped for good, and the epochs that tell a vCPU its cell was stopped
//! or restarted under it.
//!
//! Each physical CPU has one vCPU slot (a cell owns whole CPUs). A start
//! request (a cell's start, PSCI `CPU_ON`) turns an off slot "starting"
//! with an entry point and a context; the CPU takes it ([`Lifecycle::take_start`])
//! and runs the guest. Stopping a cell bumps its epoch and cancels pending
//! starts; a vCPU whose recorded epoch is old is stale and parks at its
//! next exit ([`Lifecycle::stale`]). Every start request carries the epoch
//! it was made in, and a CPU drops a request from an older epoch instead of
//! taking it, so a `CPU_ON` that was being written while its cell stopped
//! can never start a vCPU in the cell's next life (finding F12a). The
//! architecture supplies only how to pull a running CPU out of its guest
//! (an SGI on AArch64, an NMI on x86_64), for the CPUs [`Lifecycle::stop`]
//! names.
//!
//! Each cell is running, restarting or stopped for good, and moves between
//! those states by compare-and-swap only: one restarter at a time, and a
//! cell stopped for good is never started again, whatever runs
//! concurrently on its other vCPUs (findings F12b and F12c).
//!
//! Atomics only: no locks, so a CPU can use it from its trap path.

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The power state of a vCPU, as a guest's `AFFINITY_INFO` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Power {
    /// Running guest code (or in the hypervisor on its behalf).
    On,
    /// Parked: never started, `CPU_OFF`, or its cell stopped.
    Off,
    /// A start was accepted, the vCPU has not entered yet.
    OnPending,
}

/// The slot states behind [`Power`] (PSCI `AFFINITY_INFO` numbering).
mod state {
    pub(super) const ON: u8 = 0;
    pub(super) const OFF: u8 = 1;
    pub(super) const ON_PENDING: u8 = 2;
    /// A start request is writing the entry and context (seen as
    /// `ON_PENDING`).
    pub(super) const CLAIMED: u8 = 3;

    /// What a state reads as from outside.
    pub(super) const fn visible(state: u8) -> super::Power {
        match state {
            ON => super::Power::On,
            OFF => super::Power::Off,
            _ => super::Power::OnPending,
        }
    }
}

/// A cell's states.
mod cell_state {
    /// Running (or all its vCPUs off, ready to be started by `CPU_ON`).
    pub(super) const RUNNING: u8 = 0;
    /// One CPU is restarting it.
    pub(super) const RESTARTING: u8 = 1;
    /// Stopped for good.
    pub(super) const STOPPED: u8 = 2;
}

/// A physical CPU's vCPU slot.
#[derive(Debug)]
struct VcpuSlot {
    power: AtomicU8,
    entry: AtomicU64,
    context: AtomicU64,
    /// The cell epoch the pending start was requested in.
    requested_in: AtomicU32,
    /// The cell epoch this vCPU was started in.
    epoch: AtomicU32,
}

/// A start a CPU took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    /// Guest entry point.
    pub(crate) entry: u64,
    /// The context argument (`x0` / `RDI`).
    pub(crate) context: u64,
}

/// What [`Lifecycle::mark_stopped`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The cell had stopped for good already.
    Already,
    /// The cell stopped now; other cells still run.
    Now,
    /// The cell stopped now and was the last one: power the machine off.
    Last,
}

/// The life-cycle state of `CPUS` CPUs and `CELLS` cells.
#[derive(Debug)]
pub(crate) struct Lifecycle<const CPUS: usize, const CELLS: usize> {
    slots: [VcpuSlot; CPUS],
    epochs: [AtomicU32; CELLS],
    /// Each cell's `cell_state`.
    cells: [AtomicU8; CELLS],
    stopped_count: AtomicUsize,
}

impl<const CPUS: usize, const CELLS: usize> Default for Lifecycle<CPUS, CELLS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CPUS: usize, const CELLS: usize> Lifecycle<CPUS, CELLS> {
    /// Every vCPU off, every cell running, epochs 0.
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const {
                VcpuSlot {
                    power: AtomicU8::new(state::OFF),
                    entry: AtomicU64::new(0),
                    context: AtomicU64::new(0),
                    requested_in: AtomicU32::new(0),
                    epoch: AtomicU32::new(0),
                }
            }; CPUS],
            epochs: [const { AtomicU32::new(0) }; CELLS],
            cells: [const { AtomicU8::new(cell_state::RUNNING) }; CELLS],
            stopped_count: AtomicUsize::new(0),
        }
    }

    /// Power state of the vCPU on `cpu`.
    pub(crate) fn power(&self, cpu: usize) -> Power {
        self.slots.get(cpu).map_or(Power::Off, |s| {
            state::visible(s.power.load(Ordering::Acquire))
        })
    }

    /// The current epoch of cell `cell` (what a start requested by the
    /// hypervisor itself belongs to).
    pub(crate) fn epoch(&self, cell: usize) -> u32 {
        self.epochs
            .get(cell)
            .map_or(0, |epoch| epoch.load(Ordering::Acquire))
    }

    /// The epoch the vCPU on `cpu` was started in (what a start it asks
    /// for, by `CPU_ON`, belongs to).
    pub(crate) fn vcpu_epoch(&self, cpu: usize) -> u32 {
        self.slots
            .get(cpu)
            .map_or(0, |slot| slot.epoch.load(Ordering::Acquire))
    }

    /// Asks the vCPU on `cpu` to start at `entry` with `context`, on behalf
    /// of epoch `epoch` of its cell. Fails with its current state unless it
    /// is off; a failed request leaves a pending start alone. A request
    /// whose epoch is over when the CPU looks is dropped ([`take_start`]).
    ///
    /// [`take_start`]: Self::take_start
    pub(crate) fn request_start(
        &self,
        cpu: usize,
        epoch: u32,
        entry: u64,
        context: u64,
    ) -> Result<(), Power> {
        let slot = self.slots.get(cpu).ok_or(Power::Off)?;
        slot.power
            .compare_exchange(
                state::OFF,
                state::CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map_err(state::visible)?;
        slot.entry.store(entry, Ordering::Relaxed);
        slot.context.store(context, Ordering::Relaxed);
        slot.requested_in.store(epoch, Ordering::Relaxed);
        slot.power.store(state::ON_PENDING, Ordering::Release);
        Ok(())
    }

    /// The CPU `cpu` of cell `cell` takes its pending start, if there is
    /// one: the vCPU is on from here, in the cell's current epoch. A start
    /// requested in an earlier epoch (its cell stopped or restarted while
    /// the request was being made) is dropped: the vCPU is off.
    pub(crate) fn take_start(&self, cpu: usize, cell: usize) -> Option<Start> {
        let slot = self.slots.get(cpu)?;
        // Read the epoch before taking the start: a stop after this point
        // makes the vCPU stale at its first exit; a stop before it has
        // cancelled the pending start already.
        let epoch = self.epochs.get(cell)?.load(Ordering::Acquire);
        slot.power
            .compare_exchange(
                state::ON_PENDING,
                state::ON,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .ok()?;
        if slot.requested_in.load(Ordering::Relaxed) != epoch {
            slot.power.store(state::OFF, Ordering::Release);
            return None;
        }
        slot.epoch.store(epoch, Ordering::Release);
        Some(Start {
            entry: slot.entry.load(Ordering::Relaxed),
            context: slot.context.load(Ordering::Relaxed),
        })
    }

    /// Whether the vCPU on `cpu` was started before its cell `cell` was
    /// last stopped or restarted (it must park instead of resuming).
    #[inline]
    pub(crate) fn stale(&self, cpu: usize, cell: usize) -> bool {
        match (self.slots.get(cpu), self.epochs.get(cell)) {
            (Some(slot), Some(epoch)) => {
                slot.epoch.load(Ordering::Relaxed) != epoch.load(Ordering::Acquire)
            }
            _ => true,
        }
    }

    /// The vCPU on `cpu` parks if it is on (a start a restart already
    /// requested for it stays pending).
    pub(crate) fn park(&self, cpu: usize) {
        if let Some(slot) = self.slots.get(cpu) {
            let _ = slot.power.compare_exchange(
                state::ON,
                state::OFF,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// The vCPU on `cpu` is off, whatever it was.
    pub(crate) fn set_off(&self, cpu: usize) {
        if let Some(slot) = self.slots.get(cpu) {
            slot.power.store(state::OFF, Ordering::Release);
        }
    }

    /// Stops every vCPU of cell `cell` (on `cpus`): a new epoch, pending
    /// starts cancelled. Calls `kick` for each CPU other than `me` whose
    /// vCPU is still running guest code, so it exits and notices.
    pub(crate) fn stop(
        &self,
        cell: usize,
        cpus: impl IntoIterator<Item = usize>,
        me: usize,
        mut kick: impl FnMut(usize),
    ) {
        if let Some(epoch) = self.epochs.get(cell) {
            epoch.fetch_add(1, Ordering::AcqRel);
        }
        for cpu in cpus {
            let Some(slot) = self.slots.get(cpu) else {
                continue;
            };
            let _ = slot.power.compare_exchange(
                state::ON_PENDING,
                state::OFF,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if cpu != me && slot.power.load(Ordering::Acquire) == state::ON {
                kick(cpu);
            }
        }
    }

    /// Records that cell `cell` stopped for good (`SYSTEM_OFF`, policy
    /// `halt`), also while another CPU restarts it (the restart then starts
    /// nothing). Exactly one caller ever sees [`Stopped::Last`], even when
    /// the last cells stop at the same moment.
    pub(crate) fn mark_stopped(&self, cell: usize) -> Stopped {
        let Some(state) = self.cells.get(cell) else {
            return Stopped::Already;
        };
        if state.swap(cell_state::STOPPED, Ordering::AcqRel) == cell_state::STOPPED {
            return Stopped::Already;
        }
        if self.stopped_count.fetch_add(1, Ordering::AcqRel) + 1 == CELLS {
            Stopped::Last
        } else {
            Stopped::Now
        }
    }

    /// Whether cell `cell` stopped for good.
    pub(crate) fn is_stopped(&self, cell: usize) -> bool {
        self.cells
            .get(cell)
            .is_some_and(|s| s.load(Ordering::Acquire) == cell_state::STOPPED)
    }

    /// Makes the caller cell `cell`'s one restarter: false if the cell is
    /// being restarted already or stopped for good (then the caller only
    /// parks its vCPU).
    pub(crate) fn begin_restart(&self, cell: usize) -> bool {
        self.cells.get(cell).is_some_and(|state| {
            state
                .compare_exchange(
                    cell_state::RUNNING,
                    cell_state::RESTARTING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        })
    }

    /// Ends the restart of cell `cell`: true if it runs again (the caller
    /// starts its first vCPU), false if it was stopped for good meanwhile.
    pub(crate) fn finish_restart(&self, cell: usize) -> bool {
        self.cells.get(cell).is_some_and(|state| {
            state
                .compare_exchange(
                    cell_state::RESTARTING,
                    cell_state::RUNNING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Two = Lifecycle<4, 2>;

    #[test]
    fn a_start_is_taken_once_and_only_when_requested() {
        let life = Two::new();
        assert_eq!(life.power(1), Power::Off);
        assert_eq!(life.take_start(1, 0), None);
        life.request_start(1, life.epoch(0), 0x20_0000, 7).unwrap();
        assert_eq!(life.power(1), Power::OnPending);
        assert_eq!(
            life.request_start(1, life.epoch(0), 0, 0),
            Err(Power::OnPending)
        );
        assert_eq!(
            life.take_start(1, 0),
            Some(Start {
                entry: 0x20_0000,
                context: 7
            })
        );
        assert_eq!(life.power(1), Power::On);
        assert_eq!(life.take_start(1, 0), None);
        assert_eq!(life.request_start(1, life.epoch(0), 0, 0), Err(Power::On));
        assert!(!life.stale(1, 0));
        life.park(1);
        assert_eq!(life.power(1), Power::Off);
    }

    #[test]
    fn stopping_a_cell_makes_its_running_vcpus_stale_and_kicks_them() {
        let life = Two::new();
        for cpu in [0, 1] {
            life.request_start(cpu, life.epoch(0), 1, 0).unwrap();
            life.take_start(cpu, 0).unwrap();
        }
        life.request_start(2, life.epoch(1), 1, 0).unwrap(); // cell 1, still pending
        let mut kicked = Vec::new();
        life.stop(0, [0, 1], 0, |cpu| kicked.push(cpu));
        assert_eq!(kicked, [1], "only the other running CPU is kicked");
        assert!(life.stale(0, 0) && life.stale(1, 0));
        assert!(!life.stale(2, 1), "another cell is untouched");
        assert_eq!(life.power(2), Power::OnPending);
    }

    #[test]
    fn stopping_cancels_a_pending_start_and_a_restart_survives_park() {
        let life = Two::new();
        life.request_start(1, life.epoch(0), 1, 0).unwrap();
        let mut kicked = 0;
        life.stop(0, [0, 1], 0, |_| kicked += 1);
        assert_eq!(kicked, 0);
        assert_eq!(life.power(1), Power::Off);
        // A restart on CPU 0: its own slot goes off, vCPU 0 is asked again,
        // and the exit path's park must not undo that.
        life.set_off(0);
        life.request_start(0, life.epoch(0), 2, 3).unwrap();
        life.park(0);
        assert_eq!(life.power(0), Power::OnPending);
        assert_eq!(
            life.take_start(0, 0),
            Some(Start {
                entry: 2,
                context: 3
            })
        );
        assert!(!life.stale(0, 0), "started in the new epoch");
    }

    #[test]
    fn exactly_one_last_stop_and_out_of_range_is_harmless() {
        let life = Two::new();
        assert_eq!(life.mark_stopped(1), Stopped::Now);
        assert_eq!(life.mark_stopped(1), Stopped::Already);
        assert!(life.is_stopped(1) && !life.is_stopped(0));
        assert_eq!(life.mark_stopped(0), Stopped::Last);
        assert_eq!(life.mark_stopped(0), Stopped::Already);
        assert_eq!(life.mark_stopped(9), Stopped::Already);
        assert_eq!(life.request_start(9, life.epoch(0), 0, 0), Err(Power::Off));
        assert_eq!(life.take_start(9, 0), None);
        assert!(life.stale(9, 0) && life.stale(0, 9));
        assert_eq!(life.power(9), Power::Off);
    }

    /// F12a: a `CPU_ON` being written while its cell stops (a restart on
    /// another vCPU) belongs to the old epoch: the target CPU drops it and
    /// the vCPU stays off, so it never runs in the cell's next life.
    #[test]
    fn f12_a_start_requested_before_a_stop_is_dropped_after_it() {
        let life = Two::new();
        life.request_start(0, life.epoch(0), 0x10, 0).unwrap();
        life.take_start(0, 0).unwrap();
        // vCPU 0 (cpu 0) asks for cpu 1 in epoch 0, but the restart on
        // another CPU stops the cell before the request is published.
        let asked_in = life.vcpu_epoch(0);
        life.stop(0, [0, 1], 2, |_| {});
        life.request_start(1, asked_in, 0x666, 1).unwrap();
        assert_eq!(life.take_start(1, 0), None, "dropped");
        assert_eq!(life.power(1), Power::Off, "and the restart's wait ends");
        // A start of the new epoch is taken.
        life.request_start(1, life.epoch(0), 0x10, 2).unwrap();
        assert_eq!(life.take_start(1, 0).map(|s| s.entry), Some(0x10));
    }

    /// F12b: `SYSTEM_OFF` on one vCPU while another restarts the cell, in
    /// either order: the cell ends stopped and the restart starts nothing.
    #[test]
    fn f12_a_halt_during_or_before_a_restart_wins() {
        let life = Two::new();
        assert!(life.begin_restart(0));
        assert_eq!(life.mark_stopped(0), Stopped::Now);
        assert!(!life.finish_restart(0), "halted meanwhile: start nothing");
        assert!(life.is_stopped(0));
        assert!(!life.begin_restart(0), "a stopped cell is not restarted");
        assert!(life.is_stopped(0));
        assert_eq!(life.mark_stopped(1), Stopped::Last, "counted once");
    }

    /// F12c: of two simultaneous restarts, one restarts the cell; the other
    /// only parks its vCPU.
    #[test]
    fn f12_one_restarter_at_a_time() {
        let life = Two::new();
        assert!(life.begin_restart(1));
        assert!(!life.begin_restart(1), "the second restart stands back");
        assert!(life.finish_restart(1));
        assert!(life.begin_restart(1), "and a later one goes ahead");
        assert!(life.finish_restart(1));
        assert!(!life.is_stopped(1));
    }
}
