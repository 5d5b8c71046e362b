//! How many reports a cell gets on the shared console before it is muted.
//!
//! Faults and refused calls of a cell are reported on the console. A cell
//! that misbehaves in a loop must not drown the other cells' output, so each
//! cell has a budget: reports past it go to the hypervisor log only, and
//! the first one past it says so on the console once.

use core::sync::atomic::{AtomicU32, Ordering};

/// What to do with one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// Print it.
    Print,
    /// Print that further reports are muted (this is the first one over).
    Mute,
    /// Log only.
    Quiet,
}

/// A per-cell report budget (const-constructible, lock-free).
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u32,
    used: AtomicU32,
}

impl Budget {
    /// A budget of `limit` printed reports.
    pub(crate) const fn new(limit: u32) -> Self {
        Budget {
            limit,
            used: AtomicU32::new(0),
        }
    }

    /// Takes one report from the budget.
    pub(crate) fn take(&self) -> Report {
        let used = self.used.fetch_add(1, Ordering::Relaxed);
        match used {
            n if n < self.limit => Report::Print,
            n if n == self.limit => Report::Mute,
            _ => {
                // Stay saturated rather than wrapping around to `Print`.
                self.used.store(self.limit + 1, Ordering::Relaxed);
                Report::Quiet
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_up_to_the_limit_then_mutes_once_then_stays_quiet() {
        let budget = Budget::new(3);
        let reports: Vec<Report> = (0..6).map(|_| budget.take()).collect();
        assert_eq!(
            reports,
            [
                Report::Print,
                Report::Print,
                Report::Print,
                Report::Mute,
                Report::Quiet,
                Report::Quiet
            ]
        );
    }

    #[test]
    fn never_wraps_around() {
        let budget = Budget::new(1);
        budget.used.store(u32::MAX, Ordering::Relaxed);
        assert_eq!(budget.take(), Report::Quiet);
        assert_eq!(budget.take(), Report::Quiet);
    }
}
