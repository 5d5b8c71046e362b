//! Per-cell statistics: guest exits by kind and interrupts delivered.
//!
//! Each architecture names its exit kinds ([`ExitKind`]: `ExitCause` on
//! AArch64, `X86Exit` on x86_64); the counting, the `COUNTER` hypercall's
//! index space and the printed summary are the same everywhere. Every vCPU
//! of a cell bumps the same counters from its own CPU, so they are relaxed
//! atomics: each count is exact, a snapshot taken while the cell runs is
//! not a consistent cut across counters (good enough for statistics, never
//! used for decisions).

use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::calls::dispatch::Call;

/// Most exit kinds an architecture may name.
pub(crate) const MAX_EXIT_KINDS: usize = 16;

/// What an exit was for, as one architecture tells them apart.
pub(crate) trait ExitKind: Copy + Eq + 'static {
    /// Every kind, in counter (and `COUNTER` index) order; at most
    /// [`MAX_EXIT_KINDS`].
    const ALL: &'static [Self];
    /// A fault handled by the cell's fault policy.
    const FAULT: Self;

    /// The kind's position in [`ALL`](Self::ALL).
    fn index(self) -> usize;
    /// A short name for printouts.
    fn name(self) -> &'static str;
    /// The kind a guest call counts as.
    fn of_call(call: &Call) -> Self;
}

/// One cell's counters: exits by kind `K`, and deliveries by kind (as many
/// kinds as the architecture names, at most four).
#[derive(Debug)]
pub(crate) struct CellCounters<K> {
    exits: [AtomicU64; MAX_EXIT_KINDS],
    kinds: PhantomData<K>,
}

impl<K: ExitKind> Default for CellCounters<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: ExitKind> CellCounters<K> {
    /// All zero.
    pub(crate) const fn new() -> Self {
        assert!(K::ALL.len() <= MAX_EXIT_KINDS, "too many exit kinds");
        Self {
            exits: [const { AtomicU64::new(0) }; MAX_EXIT_KINDS],
            kinds: PhantomData,
        }
    }

    /// Counts one exit of `kind`.
    #[inline]
    pub(crate) fn count(&self, kind: K) {
        if let Some(counter) = self.exits.get(kind.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exits counted for `kind`.
    pub(crate) fn get(&self, kind: K) -> u64 {
        self.exits
            .get(kind.index())
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// Every exit, all kinds.
    pub(crate) fn total(&self) -> u64 {
        K::ALL
            .iter()
            .fold(0, |sum, &kind| sum.saturating_add(self.get(kind)))
    }

    /// The counter a guest reads with `COUNTER(index)`: the exit kinds in
    /// [`ExitKind::ALL`] order, then the delivered interrupts
    /// (`delivered(kind)` for `kind < delivery_kinds`).
    pub(crate) fn by_index(
        &self,
        index: u64,
        delivery_kinds: usize,
        delivered: impl Fn(usize) -> u64,
    ) -> Option<u64> {
        let index = usize::try_from(index).ok()?;
        match K::ALL.get(index) {
            Some(&kind) => Some(self.get(kind)),
            None => {
                let kind = index - K::ALL.len();
                (kind < delivery_kinds).then(|| delivered(kind))
            }
        }
    }

    /// One line: the total, the non-zero kinds, then each delivery kind,
    /// e.g. `exits 4003: hypercall 3, irq 4000; delivered timer 4000, sgi 0`.
    pub(crate) fn write_summary(
        &self,
        out: &mut impl fmt::Write,
        delivery_kinds: &[&str],
        delivered: impl Fn(usize) -> u64,
    ) -> fmt::Result {
        write!(out, "exits {}", self.total())?;
        let mut separator = ": ";
        for &kind in K::ALL {
            let count = self.get(kind);
            if count != 0 {
                write!(out, "{separator}{} {count}", kind.name())?;
                separator = ", ";
            }
        }
        let mut separator = "; delivered ";
        for (index, name) in delivery_kinds.iter().enumerate() {
            write!(out, "{separator}{name} {}", delivered(index))?;
            separator = ", ";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::fake::FakeExit as TestExit;

    #[test]
    fn summary_lists_nonzero_kinds_then_every_delivery_kind() {
        let counters = CellCounters::<TestExit>::new();
        let mut line = String::new();
        counters
            .write_summary(&mut line, &["timer", "spi"], |_| 0)
            .unwrap();
        assert_eq!(line, "exits 0; delivered timer 0, spi 0");
        counters.count(TestExit::Io);
        counters.count(TestExit::Io);
        counters.count(TestExit::Fault);
        line.clear();
        counters
            .write_summary(&mut line, &["timer", "spi"], |k| [7, 9][k])
            .unwrap();
        assert_eq!(line, "exits 3: io 2, fault 1; delivered timer 7, spi 9");
        line.clear();
        counters.write_summary(&mut line, &[], |_| 0).unwrap();
        assert_eq!(line, "exits 3: io 2, fault 1");
    }

    #[test]
    fn counter_indices_are_exit_kinds_then_deliveries_and_nothing_beyond() {
        let counters = CellCounters::<TestExit>::new();
        counters.count(TestExit::Call);
        counters.count(TestExit::Fault);
        let delivered = |kind: usize| 100 + kind as u64;
        assert_eq!(counters.by_index(0, 2, delivered), Some(1));
        assert_eq!(counters.by_index(1, 2, delivered), Some(0));
        assert_eq!(counters.by_index(2, 2, delivered), Some(1));
        assert_eq!(counters.by_index(3, 2, delivered), Some(100));
        assert_eq!(counters.by_index(4, 2, delivered), Some(101));
        assert_eq!(counters.by_index(5, 2, delivered), None);
        assert_eq!(counters.by_index(3, 0, delivered), None);
        assert_eq!(counters.by_index(u64::MAX, 2, delivered), None);
    }
}
