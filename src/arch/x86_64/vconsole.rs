//! Cells' virtual consoles: a trapped 16550 at the console's ports per
//! cell, multiplexed onto the hypervisor's UART as whole lines tagged
//! `[cell]` (the AArch64 PL011 console's x86 counterpart).
//!
//! Input goes to one cell at a time; Ctrl-A pressed three times switches
//! to the next cell, and after the last one to the hypervisor, which takes
//! single-key commands (`c` prints every cell's exit counters). The UART's
//! receive interrupt reaches a CPU of a running cell as an NMI through the
//! I/O APIC (`ioapic`), so input arrives even when no guest polls.

use core::fmt;

use spin::Mutex;

use super::console::{self, println};
use super::{cells, exits, ioapic};
use crate::arch::x86_64::model::virtual_16550::{PORTS, Uart16550};
use crate::config::{CELL_COUNT, CELL_NAMES, CELLS, CPUS, CellConsole, DEVICES, HYPERVISOR};
use crate::console::hub::{ConsoleHub, InputHandler};

/// Longest output line before it is split.
const LINE_LENGTH: usize = 160;
/// First port of every cell's virtual 16550 (the board console's).
pub const BASE: u16 = HYPERVISOR.console.port;

static UARTS: [Mutex<Uart16550>; CELL_COUNT] = [const { Mutex::new(Uart16550::new()) }; CELL_COUNT];
/// Tagging, input switching and report budgets (shared with AArch64).
static HUB: ConsoleHub<CELL_COUNT, LINE_LENGTH> = ConsoleHub::new(&CELL_NAMES);

/// Whether a report about `cell` may go on the console (the first report
/// over its budget prints a notice instead).
pub fn may_report(cell: usize) -> bool {
    HUB.may_report(cell, |line| println!("{line}"))
}

/// Whether `port` belongs to `cell`'s virtual console.
pub fn claims(cell: usize, port: u16) -> bool {
    CELLS[cell].console == CellConsole::Virtual
        && port.wrapping_sub(BASE) < PORTS
        && HYPERVISOR.console.port != 0
}

/// Emulates a byte read of `port`.
pub fn read(cell: usize, port: u16) -> u8 {
    poll_input();
    UARTS[cell].lock().read(port - BASE)
}

/// Emulates a byte write of `value` to `port`.
pub fn write(cell: usize, port: u16, value: u8) {
    let mut sent = None;
    UARTS[cell]
        .lock()
        .write(port - BASE, value, &mut |byte| sent = Some(byte));
    if let Some(byte) = sent {
        output(cell, &[byte]);
    }
}

/// Prints `bytes` from `cell` (tagged, whole lines).
pub fn output(cell: usize, bytes: &[u8]) {
    console::with_sink(|sink| HUB.output(cell, bytes, sink));
}

/// Prints what `cell` left without a newline (it stopped).
pub fn flush(cell: usize) {
    console::with_sink(|sink| HUB.flush(cell, sink));
}

/// Resets `cell`'s virtual UART (restart).
pub fn reset(cell: usize) {
    *UARTS[cell].lock() = Uart16550::new();
}

/// The console UART's interrupt input at the I/O APIC, if the platform
/// names one.
fn input_pin() -> Option<u32> {
    DEVICES
        .get(HYPERVISOR.console.device)?
        .irqs
        .first()
        .map(|irq| irq.0)
}

/// Routes the console's receive interrupt (as an NMI) to the first CPU of
/// a running cell with a virtual console, or masks it when there is none.
/// Boot, and whenever a cell stops for good.
pub fn route_input() {
    let Some(pin) = input_pin() else {
        return;
    };
    let target = CELLS
        .iter()
        .filter(|cell| cell.console == CellConsole::Virtual && !cells::is_stopped(cell))
        .find_map(|cell| cell.cpus.first())
        .map(|cpu| CPUS[cpu.index()].hw_id as u32);
    HUB.with_input_lock(|| {
        if ioapic::route_nmi(pin, target) && target.is_some() {
            console::enable_input_interrupt();
        }
    });
}

/// Typed input's effects on x86: bytes into a cell's 16550, commands.
struct Input;

impl InputHandler for Input {
    fn deliver(&mut self, cell: usize, byte: u8) {
        if let Some(uart) = UARTS.get(cell) {
            uart.lock().push_input(byte);
        }
    }

    fn command(&mut self, byte: u8) {
        command(byte);
    }

    fn print(&mut self, line: fmt::Arguments<'_>) {
        println!("{line}");
    }
}

/// Moves typed bytes from the UART to the selected cell's virtual UART, or
/// runs them as commands when the hypervisor is selected.
pub fn poll_input() {
    HUB.feed(
        |i| CELLS[i].console == CellConsole::Virtual,
        console::poll_input,
        &mut Input,
    );
}

/// Prints every cell's exit counters.
pub fn print_counters() {
    for cell in &CELLS {
        let mut line: heapless::String<200> = heapless::String::new();
        let _ = exits::COUNTERS[cell.id.index()].write_summary(&mut line);
        println!("bulkhead: counters of cell {}: {line}", cell.name);
    }
}

/// A key typed while the hypervisor has the console.
fn command(byte: u8) {
    match byte {
        b'c' => print_counters(),
        b'h' | b'?' => println!(
            "bulkhead: console commands: c = per-cell exit counters, h = this help; Ctrl-A three times gives the console to the next cell"
        ),
        b'\r' | b'\n' => {}
        other => println!(
            "bulkhead: unknown console command {:?} (h for help)",
            char::from(other)
        ),
    }
}
