//! What an AArch64 exit was for ([`ExitCause`], counted per cell by the
//! core's `cell::counters`), and the interrupts delivered to a cell by kind
//! ([`InterruptCounters`]).

use core::sync::atomic::{AtomicU64, Ordering};

use super::vgic::intid::{SGI_COUNT, SPI_BASE, is_timer_ppi};
use crate::calls::dispatch::Call;
use crate::calls::smccc;
use crate::cell::counters::ExitKind;

/// Why a vCPU left its guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(usize)]
pub(crate) enum ExitCause {
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
    pub(crate) const COUNT: usize = 14;

    /// Every cause, in counter order.
    pub(crate) const ALL: [Self; Self::COUNT] = [
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
    pub(crate) const fn name(self) -> &'static str {
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

impl ExitKind for ExitCause {
    const ALL: &'static [Self] = &Self::ALL;
    const FAULT: Self = Self::Fault;

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        ExitCause::name(self)
    }

    /// Bulkhead hypercalls, PSCI, other SMCCC calls, and unknown ids.
    fn of_call(call: &Call) -> Self {
        match call {
            Call::Hypercall(_) => Self::Hypercall,
            Call::Unknown(_) => Self::Other,
            _ if smccc::owner(call.function_id()) == smccc::OWNER_STANDARD_SECURE => Self::Psci,
            _ => Self::Smccc,
        }
    }
}

/// Interrupts delivered (injected into a list register or queued for one)
/// to one cell's vCPUs, by kind.
#[derive(Debug, Default)]
pub(crate) struct InterruptCounters {
    /// Architected timer PPIs (26..=30).
    pub(crate) injected_timer: AtomicU64,
    /// SGIs (0..15).
    pub(crate) injected_sgi: AtomicU64,
    /// Other PPIs (16..31 except the timers).
    pub(crate) injected_ppi: AtomicU64,
    /// SPIs (32 and up).
    pub(crate) injected_spi: AtomicU64,
}

impl InterruptCounters {
    /// All counters at zero.
    pub(crate) const fn new() -> Self {
        Self {
            injected_timer: AtomicU64::new(0),
            injected_sgi: AtomicU64::new(0),
            injected_ppi: AtomicU64::new(0),
            injected_spi: AtomicU64::new(0),
        }
    }

    /// Counts one delivery of `intid` under its kind.
    pub(crate) fn record(&self, intid: u32) {
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
    pub(crate) fn snapshot(&self) -> [u64; 4] {
        [
            &self.injected_timer,
            &self.injected_sgi,
            &self.injected_ppi,
            &self.injected_spi,
        ]
        .map(|counter| counter.load(Ordering::Relaxed))
    }
}

/// Names of the delivered-interrupt counters, in [`InterruptCounters::snapshot`]
/// order.
pub(crate) const INTERRUPT_KINDS: [&str; 4] = ["timer", "sgi", "ppi", "spi"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::dispatch::decode;
    use crate::calls::{hypercall, psci, smccc};
    use crate::cell::counters::CellCounters;

    #[test]
    fn causes_are_numbered_in_order() {
        for (index, cause) in ExitCause::ALL.iter().enumerate() {
            assert_eq!(cause.index(), index);
            assert!(!ExitKind::name(*cause).is_empty());
        }
        assert_eq!(ExitCause::Other as usize, ExitCause::COUNT - 1);
    }

    #[test]
    fn calls_count_by_service() {
        for (id, cause) in [
            (u64::from(hypercall::CELL_INFO), ExitCause::Hypercall),
            (u64::from(psci::CPU_ON_64), ExitCause::Psci),
            (u64::from(smccc::SMCCC_VERSION), ExitCause::Smccc),
            (0xc600_00ff, ExitCause::Other),
        ] {
            assert_eq!(ExitCause::of_call(&decode(id, [0; 3])), cause, "{id:#x}");
        }
    }

    #[test]
    fn summary_lists_nonzero_causes_and_every_delivery_kind() {
        let cell = CellCounters::<ExitCause>::new();
        let interrupts = InterruptCounters::new();
        cell.count(ExitCause::Hypercall);
        cell.count(ExitCause::Wfi);
        cell.count(ExitCause::Wfi);
        interrupts.record(27);
        interrupts.record(40);
        let mut line = String::new();
        cell.write_summary(&mut line, &INTERRUPT_KINDS, |k| interrupts.snapshot()[k])
            .unwrap();
        assert_eq!(
            line,
            "exits 3: hypercall 1, wfi 2; delivered timer 1, sgi 0, ppi 0, spi 1"
        );
    }

    #[test]
    fn interrupt_counts_by_kind() {
        let interrupts = InterruptCounters::new();
        for intid in [1, 27, 30, 23, 33, u32::MAX] {
            interrupts.record(intid);
        }
        assert_eq!(interrupts.snapshot(), [2, 1, 1, 2]);
    }
}
