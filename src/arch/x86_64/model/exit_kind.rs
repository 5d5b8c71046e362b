//! What an x86_64 VM exit was for ([`X86Exit`]), counted per cell by the
//! core's `cell::counters`.
//!
//! A cell reads its own with the `COUNTER` hypercall (index = the position
//! in [`X86Exit::ALL`]). Interrupts a guest takes directly (its LAPIC timer,
//! IPIs from its own CPUs) never exit, so they appear nowhere here: that is
//! the point.

use crate::calls::dispatch::Call;
use crate::cell::counters::ExitKind;

/// What an exit was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum X86Exit {
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
    /// Anything else (`XSETBV` carried out, `WBINVD` as a no-op, ...).
    Other,
    /// An instruction refused with an exception: the VMX instructions,
    /// `GETSEC` and `INVD` (`#UD`), `RDPMC`, a refused `XSETBV` and a
    /// write to CR4.VMXE (`#GP`).
    InstructionRefused,
}

impl X86Exit {
    /// Number of kinds.
    pub(crate) const COUNT: usize = 12;

    /// Every kind, in counter order (the `COUNTER` index).
    pub(crate) const ALL: [Self; Self::COUNT] = [
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
        Self::InstructionRefused,
    ];

    /// Short name for printouts.
    pub(crate) const fn name(self) -> &'static str {
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
            Self::InstructionRefused => "insn-refused",
        }
    }
}

impl ExitKind for X86Exit {
    const ALL: &'static [Self] = &Self::ALL;
    const FAULT: Self = Self::Fault;

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        X86Exit::name(self)
    }

    /// Every call is a `VMCALL`.
    fn of_call(_: &Call) -> Self {
        Self::Vmcall
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::counters::CellCounters;

    #[test]
    fn indices_follow_the_table_and_names_are_unique() {
        for (i, kind) in X86Exit::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let mut names: Vec<_> = X86Exit::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), X86Exit::COUNT);
    }

    #[test]
    fn counts_print_only_non_zero_kinds_and_no_deliveries() {
        let counters = CellCounters::<X86Exit>::new();
        for _ in 0..3 {
            counters.count(X86Exit::Hlt);
        }
        counters.count(X86Exit::Vmcall);
        assert_eq!(counters.by_index(X86Exit::Hlt as u64, 0, |_| 0), Some(3));
        assert_eq!(counters.by_index(X86Exit::COUNT as u64, 0, |_| 0), None);
        let mut line = String::new();
        counters.write_summary(&mut line, &[], |_| 0).unwrap();
        assert_eq!(line, "exits 4: vmcall 1, hlt 3");
    }
}
