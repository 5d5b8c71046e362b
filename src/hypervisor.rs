//! The running hypervisor: all run-time state of the arch-neutral core in
//! one value, over one back end.
//!
//! Each architecture defines one `static HV: Hypervisor<ThatArch,
//! CPU_COUNT, CELL_COUNT>`; host tests make one per test over
//! `arch::fake::FakeArch`. The policy is in `impl` blocks next to the
//! concept they serve:
//!
//! | concept | methods in |
//! | --- | --- |
//! | cell life cycle: start, stop, halt, restart, image load, the vCPU loop | `cell::runtime` |
//! | fault containment and its report | `cell::fault` |
//! | guest calls: PSCI, SMCCC, hypercalls, their outcome | `calls::front_end` |
//! | cells' virtual consoles, typed input, console commands | `console::cell_consoles` |
//! | the hypervisor console | `console::hypervisor_console` |
//! | the boot sequence | `boot_sequence` |
//! | the panic report and stopping every CPU | `stop` |

use crate::arch::Arch;
use crate::cell::counters::CellCounters;
use crate::cell::lifecycle::Lifecycle;
use crate::console::console_lock::ConsoleLock;
use crate::console::virtual_uart::VirtualConsoles;
use crate::stop_flags::StopFlags;

/// The hypervisor on back end `A`, for `CPUS` CPUs and `CELLS` cells.
pub(crate) struct Hypervisor<A: Arch, const CPUS: usize, const CELLS: usize> {
    /// The back end.
    pub(crate) arch: A,
    /// vCPU slots, epochs, stopped cells.
    pub(crate) life: Lifecycle<CPUS, CELLS>,
    /// Per-cell exit counters.
    pub(crate) counters: [CellCounters<A::ExitKind>; CELLS],
    /// Per-cell virtual UARTs, output tagging, input switching, report
    /// budgets.
    pub(crate) consoles: VirtualConsoles<A::VirtualUart, CELLS>,
    /// The hypervisor console's lock.
    pub(crate) console: ConsoleLock,
    /// The stop-every-CPU protocol (panics).
    pub(crate) stop: StopFlags,
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// Nothing started; `cell_names` tag the cells' console lines.
    pub(crate) const fn new(arch: A, cell_names: &'static [&'static str]) -> Self {
        Self {
            arch,
            life: Lifecycle::new(),
            counters: [const { CellCounters::new() }; CELLS],
            consoles: VirtualConsoles::new(cell_names),
            console: ConsoleLock::new(),
            stop: StopFlags::new(),
        }
    }
}
