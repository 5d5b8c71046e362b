//! Per-cell statistics: guest exits by cause and interrupts delivered.
//!
//! Every vCPU of a cell bumps the same counters from its own core, so they
//! are relaxed atomics: each count is exact, a snapshot taken while the
//! cell runs is not a consistent cut across counters (good enough for
//! statistics, never used for decisions). Everything is const-constructible
//! so a cell's counters live in a `static`.

use core::sync::atomic::{AtomicU64, Ordering};

use super::vgic::distributor::{SGI_COUNT, SPI_BASE, is_timer_ppi};

/// Why a vCPU left its guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(usize)]
pub enum ExitCause {
    /// A Bulkhead hypercall (HVC or SMC).
    Hypercall,
    /// A PSCI call.
    Psci,
    /// Another SMCCC call (version, features, unknown function IDs).
    Smccc,
    /// An access to the virtual console's UART.
    MmioConsole,
    /// An access to the virtual GIC distributor.
    MmioDistributor,
    /// An access to a virtual GICv3 redistributor.
    MmioRedistributor,
    /// A trapped SGI send: an ICC_SGI1R_EL1 write (GICv3) or a GICD_SGIR
    /// write (GICv2).
    SgiSend,
    /// Any other trapped system register (debug, PMU, IMPLEMENTATION
    /// DEFINED, ACTLR_EL1, ...).
    SysregOther,
    /// A trapped data-cache set/way operation.
    SetWay,
    /// A physical IRQ taken while the guest ran.
    Irq,
    /// A trapped WFI (GICv2 platforms): the hypervisor waited on the
    /// guest's behalf and delivered what arrived in the same exit.
    Wfi,
    /// A GIC maintenance interrupt (list register underflow, EOI, ...).
    Maintenance,
    /// A fault handled by the cell's fault policy (stage-2 fault,
    /// unemulatable access, SError, unexpected exception).
    Fault,
    /// Anything not listed above.
    Other,
}

impl ExitCause {
    /// Number of causes.
    pub const COUNT: usize = 14;

    /// Every cause, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Hypercall,
        Self::Psci,
        Self::Smccc,
        Self::MmioConsole,
        Self::MmioDistributor,
        Self::MmioRedistributor,
        Self::SgiSend,
        Self::SysregOther,
        Self::SetWay,
        Self::Irq,
        Self::Wfi,
        Self::Maintenance,
        Self::Fault,
        Self::Other,
    ];

    /// A short name for statistics printouts.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hypercall => "hypercall",
            Self::Psci => "psci",
            Self::Smccc => "smccc",
            Self::MmioConsole => "mmio-console",
            Self::MmioDistributor => "mmio-gicd",
            Self::MmioRedistributor => "mmio-gicr",
            Self::SgiSend => "sgi-send",
            Self::SysregOther => "sysreg-other",
            Self::SetWay => "set-way",
            Self::Irq => "irq",
            Self::Wfi => "wfi",
            Self::Maintenance => "maintenance",
            Self::Fault => "fault",
            Self::Other => "other",
        }
    }
}

/// Exit counters of one cell, one per [`ExitCause`].
#[derive(Debug)]
pub struct ExitCounters {
    counts: [AtomicU64; ExitCause::COUNT],
}

impl ExitCounters {
    /// All counters at zero.
    pub const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; ExitCause::COUNT],
        }
    }

    /// Counts one exit for `cause`.
    pub fn count(&self, cause: ExitCause) {
        if let Some(counter) = self.counts.get(cause as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exits counted for `cause`.
    pub fn get(&self, cause: ExitCause) -> u64 {
        self.counts
            .get(cause as usize)
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// Every counter, indexed by `cause as usize` (see [`ExitCause::ALL`]).
    pub fn snapshot(&self) -> [u64; ExitCause::COUNT] {
        ExitCause::ALL.map(|cause| self.get(cause))
    }

    /// Total exits.
    pub fn total(&self) -> u64 {
        self.snapshot()
            .iter()
            .fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// Sets every counter to zero (cell restart).
    pub fn reset(&self) {
        for counter in &self.counts {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

impl Default for ExitCounters {
    fn default() -> Self {
        Self::new()
    }
}

/// Interrupts delivered (injected into a list register or queued for one)
/// to one cell's vCPUs, by kind.
#[derive(Debug, Default)]
pub struct InterruptCounters {
    /// Architected timer PPIs (26..=30).
    pub injected_timer: AtomicU64,
    /// SGIs (0..15).
    pub injected_sgi: AtomicU64,
    /// Other PPIs (16..31 except the timers).
    pub injected_ppi: AtomicU64,
    /// SPIs (32 and up).
    pub injected_spi: AtomicU64,
}

impl InterruptCounters {
    /// All counters at zero.
    pub const fn new() -> Self {
        Self {
            injected_timer: AtomicU64::new(0),
            injected_sgi: AtomicU64::new(0),
            injected_ppi: AtomicU64::new(0),
            injected_spi: AtomicU64::new(0),
        }
    }

    /// Counts one delivery of `intid` under its kind.
    pub fn record(&self, intid: u32) {
        let counter = if intid < SGI_COUNT {
            &self.injected_sgi
        } else if is_timer_ppi(intid) {
            &self.injected_timer
        } else if intid < SPI_BASE {
            &self.injected_ppi
        } else {
            &self.injected_spi
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `[timer, sgi, ppi, spi]`.
    pub fn snapshot(&self) -> [u64; 4] {
        [
            &self.injected_timer,
            &self.injected_sgi,
            &self.injected_ppi,
            &self.injected_spi,
        ]
        .map(|counter| counter.load(Ordering::Relaxed))
    }

    /// Sets every counter to zero (cell restart).
    pub fn reset(&self) {
        for counter in [
            &self.injected_timer,
            &self.injected_sgi,
            &self.injected_ppi,
            &self.injected_spi,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Names of the delivered-interrupt counters, in [`InterruptCounters::snapshot`]
/// order.
pub const INTERRUPT_KINDS: [&str; 4] = ["timer", "sgi", "ppi", "spi"];

/// All statistics of one cell.
#[derive(Debug, Default)]
pub struct CellCounters {
    /// Exits by cause.
    pub exits: ExitCounters,
    /// Interrupts delivered by kind.
    pub interrupts: InterruptCounters,
}

impl CellCounters {
    /// All counters at zero.
    pub const fn new() -> Self {
        Self {
            exits: ExitCounters::new(),
            interrupts: InterruptCounters::new(),
        }
    }

    /// One line of statistics: total exits, the non-zero causes, then the
    /// delivered interrupts by kind, e.g.
    /// `exits 4003: hypercall 3, irq 4000; delivered timer 4000, sgi 0, ppi 0, spi 0`.
    pub fn write_summary(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let exits = self.exits.snapshot();
        write!(out, "exits {}", self.exits.total())?;
        let mut separator = ": ";
        for (cause, count) in ExitCause::ALL.iter().zip(exits) {
            if count != 0 {
                write!(out, "{separator}{} {count}", cause.name())?;
                separator = ", ";
            }
        }
        let mut separator = "; delivered ";
        for (kind, count) in INTERRUPT_KINDS.iter().zip(self.interrupts.snapshot()) {
            write!(out, "{separator}{kind} {count}")?;
            separator = ", ";
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    static CELL: CellCounters = CellCounters::new();

    #[test]
    fn causes_are_numbered_in_order() {
        for (index, cause) in ExitCause::ALL.iter().enumerate() {
            assert_eq!(*cause as usize, index);
            assert!(!cause.name().is_empty());
        }
        assert_eq!(ExitCause::Other as usize, ExitCause::COUNT - 1);
    }

    #[test]
    fn summary_lists_nonzero_causes_and_every_kind() {
        let cell = CellCounters::new();
        let mut line = String::new();
        cell.write_summary(&mut line).unwrap();
        assert_eq!(line, "exits 0; delivered timer 0, sgi 0, ppi 0, spi 0");
        cell.exits.count(ExitCause::Hypercall);
        cell.exits.count(ExitCause::Wfi);
        cell.exits.count(ExitCause::Wfi);
        cell.interrupts.record(27);
        cell.interrupts.record(40);
        line.clear();
        cell.write_summary(&mut line).unwrap();
        assert_eq!(
            line,
            "exits 3: hypercall 1, wfi 2; delivered timer 1, sgi 0, ppi 0, spi 1"
        );
    }

    #[test]
    fn exit_counts() {
        let counters = ExitCounters::new();
        counters.count(ExitCause::Irq);
        counters.count(ExitCause::Irq);
        counters.count(ExitCause::MmioDistributor);
        assert_eq!(counters.get(ExitCause::Irq), 2);
        assert_eq!(counters.get(ExitCause::Fault), 0);
        let snapshot = counters.snapshot();
        assert_eq!(snapshot[ExitCause::Irq as usize], 2);
        assert_eq!(snapshot[ExitCause::MmioDistributor as usize], 1);
        assert_eq!(counters.total(), 3);
        counters.reset();
        assert_eq!(counters.total(), 0);
    }

    #[test]
    fn interrupt_counts_by_kind() {
        CELL.interrupts.record(1);
        CELL.interrupts.record(27);
        CELL.interrupts.record(30);
        CELL.interrupts.record(23);
        CELL.interrupts.record(33);
        CELL.interrupts.record(u32::MAX);
        assert_eq!(CELL.interrupts.snapshot(), [2, 1, 1, 2]);
        CELL.exits.count(ExitCause::Maintenance);
        assert_eq!(CELL.exits.get(ExitCause::Maintenance), 1);
        CELL.interrupts.reset();
        assert_eq!(CELL.interrupts.snapshot(), [0; 4]);
    }
}
