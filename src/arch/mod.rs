//! The architecture contract: what a back end provides to the hypervisor's
//! arch-neutral core, written down as [`Arch`].
//!
//! Policy (starting, stopping and restarting cells, answering guest calls,
//! containing faults, counting exits, the consoles, the boot sequence, the
//! panic report) lives once, in the core, as methods of
//! [`Hypervisor`](crate::hypervisor::Hypervisor); it reaches the machine
//! only through this trait. A back end is a zero-sized type implementing it
//! (`aarch64::Aarch64`, `x86_64::X86_64`), picked by the target triple, in
//! Hubris's manner; host tests use `fake::FakeArch`, which records what the
//! core asks of it and checks the order.
//!
//! Layering, which keeps the module graph free of circles: each back end's
//! drivers and helpers serve `impl Arch` and never name the running
//! hypervisor; only its entry points (boot, the exception vectors or the
//! VM-exit loop, host exception handlers) use the one `static HV` its
//! `mod.rs` defines. In the core, only the two entry points no back end
//! calls name it: the `defmt` logger and the panic handler (`stop`).
//!
//! What a third architecture (RISC-V H, say) writes: this trait (about 30
//! small methods, most of them one register access), its entry points
//! (boot assembly, a trap vector that decodes the exit and returns a
//! [`Next`]), its page-table descriptor format (`mm::DescriptorFormat`), its
//! exit kinds and a virtual UART model.

use core::fmt;

use crate::cell::counters::ExitKind;
use crate::cell::lifecycle::Start;
use crate::config::{CellDesc, Tables};
use crate::console::virtual_uart::VirtualUart;

#[cfg(any(test, target_arch = "aarch64"))]
pub(crate) mod aarch64;

#[cfg(any(test, all(target_arch = "x86_64", target_os = "none")))]
pub(crate) mod x86_64;

#[cfg(test)]
pub(crate) mod fake;

/// What happens after a guest exit was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Re-enter the guest where it left off.
    Resume,
    /// Park this vCPU: `CPU_OFF`, its cell stopped or restarted, or a fault
    /// policy stopped it.
    Park,
}

/// What woke a CPU that waited in the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Wake {
    /// The console's receive interrupt (or its NMI) arrived: typed input
    /// waits to be moved to its target.
    pub(crate) console_input: bool,
}

/// How a stop-all request went (see [`Arch::kick`] and the panic path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopOutcome {
    /// This CPU coordinated the stop.
    Coordinated {
        /// Online CPUs other than this one when the stop was requested.
        others: usize,
        /// How many acknowledged in time.
        stopped: usize,
    },
    /// Another CPU is already coordinating a stop (panics on two CPUs).
    AlreadyInProgress,
}

/// Where a printing boot step writes its lines (the hypervisor console).
pub(crate) type Print<'a> = &'a dyn Fn(fmt::Arguments<'_>);

/// The UART the hypervisor prints on (driven directly; the core adds the
/// lock, the emergency path and the line discipline).
pub(crate) trait ConsoleUart {
    /// Sends `bytes` as they are (no newline translation), waiting (bounded)
    /// for room.
    fn write_bytes(&mut self, bytes: &[u8]);
    /// A received byte, if one is waiting.
    fn read_byte(&mut self) -> Option<u8>;
    /// Waits (bounded) until everything sent has left the UART.
    fn drain(&mut self);
    /// Lets received bytes raise the UART's interrupt.
    fn enable_receive_interrupt(&mut self);
}

/// What a back end provides. Every method is called by the core; none may
/// panic on guest-controlled values. CPU and cell numbers are indices into
/// the tables [`Arch::tables`] returns.
pub(crate) trait Arch: Sync + Sized + 'static {
    /// What the exit counters distinguish on this architecture.
    type ExitKind: ExitKind;
    /// The UART model a cell with a virtual console sees.
    type VirtualUart: VirtualUart;
    /// The hypervisor's own console UART.
    type ConsoleUart: ConsoleUart;

    /// How fault reports name the guest's program counter (`pc`, `rip`).
    const PC_NAME: &'static str;
    /// Kinds of delivered interrupts counted per cell, in `COUNTER` order
    /// after the exit kinds (empty where interrupts reach guests without the
    /// hypervisor).
    const DELIVERY_KINDS: &'static [&'static str];

    // --- configuration and identity ---------------------------------------

    /// The configuration tables this image was built from.
    fn tables(&self) -> &'static Tables<'static>;
    /// Index of the CPU executing this.
    fn current_cpu(&self) -> usize;

    // --- CPUs: waking, waiting, stopping ----------------------------------

    /// Pulls `cpu` out of its guest into the hypervisor, where it looks at
    /// its cell's state (an SGI on AArch64, an NMI on x86_64); also wakes it
    /// when it waits in the hypervisor.
    fn kick(&self, cpu: usize);
    /// Tells `cpu`, which may be waiting for one, that a start request for
    /// it was published.
    fn ring_doorbell(&self, cpu: usize);
    /// Makes this CPU's state changes (a vCPU parked) visible to CPUs
    /// waiting in [`relax`](Self::relax).
    fn publish(&self);
    /// Waits a moment for another CPU (WFE, PAUSE): in loops that poll a
    /// state another CPU will change.
    fn relax(&self);
    /// Sleeps until this CPU, whose vCPU is off, may have a start request
    /// (or console input) to look at. May return spuriously.
    fn wait_for_start(&self, cpu: usize) -> Wake;
    /// Sleeps on a CPU no cell owns, until something wakes it.
    fn idle(&self, cpu: usize) -> Wake;
    /// Masks every interrupt this CPU could take in the hypervisor.
    fn mask_interrupts(&self);
    /// Stops this CPU for good (interrupts masked, halted).
    fn halt(&self) -> !;
    /// Powers the machine off (the core drained the console first).
    fn power_off(&self) -> !;
    /// Microseconds since some fixed point, where the CPU has a clock whose
    /// rate it knows.
    fn now_micros(&self) -> Option<u64>;

    // --- log records (the core's `logger`) -------------------------------

    /// Masks interrupts around a log record; returns what
    /// [`log_exit`](Self::log_exit) restores.
    fn log_enter(&self) -> usize;
    /// Restores what [`log_enter`](Self::log_enter) returned.
    fn log_exit(&self, saved: usize);

    // --- the hypervisor console ---------------------------------------------

    /// A handle on the console UART. The core serialises users with its own
    /// lock; the emergency path (panics) may use one without the lock.
    fn console_uart(&self) -> Self::ConsoleUart;
    /// Whether spin locks work yet (AArch64: not before the MMU is on, when
    /// memory is Device memory and exclusives may not work).
    fn locks_usable(&self) -> bool;
    /// Routes the console's receive interrupt to `cpu` (a CPU of a running
    /// cell, which takes it as an exit), or disables it (`None`).
    fn route_console_input(&self, cpu: Option<usize>);
    /// The core has moved the typed bytes out of the console UART on this
    /// CPU: its receive interrupt, held active (not taken again) since this
    /// CPU took it, may come again. A level interrupt re-taken before the
    /// UART is drained would keep the CPU in the hypervisor for ever.
    fn console_input_served(&self);
    /// Guest address (MMIO) or port (x86) of every cell's virtual UART.
    fn virtual_uart_base(&self) -> u64;
    /// The virtual UART of `cell` raises (`true`) or lowers its interrupt
    /// line (a virtual interrupt on AArch64; x86 guests poll).
    fn virtual_uart_line(&self, cell: &'static CellDesc, level: bool);

    // --- cells ---------------------------------------------------------------

    /// Copies `data` to host address `host` of a cell's RAM and zeroes the
    /// `zeros` bytes after it (an image segment and its `.bss`), visible to a
    /// guest that starts with its caches off. The core checked the range is
    /// the cell's RAM and that no vCPU of the cell runs.
    fn load_segment(&self, host: u64, data: &[u8], zeros: u64);
    /// Reads `buf.len()` bytes of a cell's RAM at host address `host` (range
    /// checked by the core).
    fn read_cell_memory(&self, host: u64, buf: &mut [u8]);
    /// The cell's image is loaded and it is about to (re)start: per-start
    /// state (instruction cache, timer offsets, the x86 boot area).
    fn prepare_cell_start(&self, cell: &'static CellDesc);
    /// Puts the cell's virtual devices other than its UART (the virtual GIC
    /// and its routing) in their reset state; no vCPU of the cell runs.
    fn reset_cell_devices(&self, cell: &'static CellDesc);
    /// Interrupts of `kind` (an index into
    /// [`DELIVERY_KINDS`](Self::DELIVERY_KINDS)) delivered to `cell`.
    fn delivered(&self, cell: usize, kind: usize) -> u64;
    /// Runs vCPU `vcpu` of `cell` on this CPU from `start` until it parks,
    /// then returns. A back end whose exits arrive on a fresh stack
    /// (AArch64) never returns: its exit path hands [`Next::Park`] to the
    /// core (`Hypervisor::vcpu_parked`), which continues the same loop.
    fn run_vcpu(&self, cpu: usize, cell: &'static CellDesc, vcpu: usize, start: Start);
    /// An SMCCC fast call to EL3 firmware (`[x0..x3]`), or
    /// `[NOT_SUPPORTED, 0, 0, 0]` where there is no SMCCC 1.1 firmware.
    fn firmware_call(&self, function_id: u32, args: [u64; 3]) -> [u64; 4];

    // --- boot -----------------------------------------------------------------

    /// Boot CPU, after the banner: checks the CPU can run cells (powering
    /// off with the reason if not) and prints its boot line(s).
    fn init_boot_cpu(&self, cpu: usize, print: Print<'_>);
    /// Boot CPU: brings every other CPU of the platform up and waits for
    /// them (bounded); returns the mask of CPUs online, this one included.
    /// Failures are printed.
    fn start_secondaries(&self, cpu: usize, print: Print<'_>) -> u64;
    /// The online CPUs right now (a CPU marks itself online as it arrives).
    fn online_cpus(&self) -> u64;
    /// Boot CPU, before any guest: builds every cell's second-stage tables
    /// and whatever else cells need (firmware probes, bitmaps).
    fn build_cell_maps(&self);
    /// Test-only (`panic-selftest`): makes the hypervisor panic in the way
    /// this architecture's test expects.
    fn panic_selftest(&self, print: Print<'_>) -> !;
}
