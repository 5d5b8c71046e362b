//! Per-cell VM-exit counters on x86_64, by what the exit was for.
//!
//! A cell reads its own with the `COUNTER` hypercall (index = the position
//! in [`X86Exit::ALL`]); the hypervisor prints them all when every cell has
//! stopped. Interrupts a guest takes directly (its LAPIC timer, IPIs from
//! its own CPUs) never exit, so they appear nowhere here: that is the point.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

/// What an exit was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X86Exit {
    /// `VMCALL`: PSCI or a Bulkhead hypercall.
    Vmcall,
    /// `CPUID`.
    Cpuid,
    /// A port of the cell's virtual console (COM1).
    IoConsole,
    /// A port the cell does not own (refused).
    IoRefused,
    /// An `RDMSR`/`WRMSR` outside the allow-list (refused, #GP).
    MsrRefused,
    /// An IPI within the cell, sent on the guest's behalf.
    IpiSent,
    /// An IPI refused (foreign target, INIT, NMI, ...).
    IpiRefused,
    /// `HLT` (the vCPU then waits in the HLT state, or turns off).
    Hlt,
    /// An NMI from the hypervisor (a stop request) or the NMI window.
    Kick,
    /// An EPT violation, triple fault or other fault for the fault policy.
    Fault,
    /// Anything else (CR4.VMXE writes, `XSETBV`, ...).
    Other,
}

impl X86Exit {
    /// Number of kinds.
    pub const COUNT: usize = 11;

    /// Every kind, in counter order (the `COUNTER` index).
    pub const ALL: [Self; Self::COUNT] = [
        Self::Vmcall,
        Self::Cpuid,
        Self::IoConsole,
        Self::IoRefused,
        Self::MsrRefused,
        Self::IpiSent,
        Self::IpiRefused,
        Self::Hlt,
        Self::Kick,
        Self::Fault,
        Self::Other,
    ];

    /// Short name for printouts.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vmcall => "vmcall",
            Self::Cpuid => "cpuid",
            Self::IoConsole => "io-console",
            Self::IoRefused => "io-refused",
            Self::MsrRefused => "msr-refused",
            Self::IpiSent => "ipi-sent",
            Self::IpiRefused => "ipi-refused",
            Self::Hlt => "hlt",
            Self::Kick => "kick",
            Self::Fault => "fault",
            Self::Other => "other",
        }
    }
}

/// One cell's exit counters.
#[derive(Debug)]
pub struct ExitCounters {
    counts: [AtomicU64; X86Exit::COUNT],
}

impl Default for ExitCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl ExitCounters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; X86Exit::COUNT],
        }
    }

    /// Counts one exit of `kind`.
    pub fn count(&self, kind: X86Exit) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counter with `COUNTER` index `index`, if there is one.
    pub fn get(&self, index: u64) -> Option<u64> {
        let index = usize::try_from(index).ok()?;
        self.counts.get(index).map(|c| c.load(Ordering::Relaxed))
    }

    /// Sum of all counters.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `exits <total>: <name> <n>, ...` with the non-zero kinds.
    pub fn write_summary(&self, out: &mut impl Write) -> fmt::Result {
        write!(out, "exits {}", self.total())?;
        let mut separator = ": ";
        for kind in X86Exit::ALL {
            let n = self.counts[kind as usize].load(Ordering::Relaxed);
            if n != 0 {
                write!(out, "{separator}{} {n}", kind.name())?;
                separator = ", ";
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_the_table_and_names_are_unique() {
        for (i, kind) in X86Exit::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
        let mut names: Vec<_> = X86Exit::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), X86Exit::COUNT);
    }

    #[test]
    fn counts_sum_and_print_only_non_zero_kinds() {
        let counters = ExitCounters::new();
        for _ in 0..3 {
            counters.count(X86Exit::Hlt);
        }
        counters.count(X86Exit::Vmcall);
        assert_eq!(counters.get(X86Exit::Hlt as u64), Some(3));
        assert_eq!(counters.get(X86Exit::Kick as u64), Some(0));
        assert_eq!(counters.get(X86Exit::COUNT as u64), None);
        assert_eq!(counters.get(u64::MAX), None);
        assert_eq!(counters.total(), 4);
        let mut line = String::new();
        counters.write_summary(&mut line).unwrap();
        assert_eq!(line, "exits 4: vmcall 1, hlt 3");
    }
}
