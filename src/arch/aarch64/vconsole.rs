//! Cells' virtual consoles: a trapped PL011 per cell, multiplexed onto the
//! hypervisor's UART.
//!
//! A cell with `console = "virtual"` sees a PL011 at the address the board
//! has its console UART; that page is not in its stage-2 map, so every
//! access traps here and is emulated by `vdev::pl011`. Output is collected
//! per cell and printed as whole lines tagged `[cell]`; input typed on the
//! console goes to one cell at a time, and Ctrl-A pressed three times
//! switches to the next cell, and after the last one to the hypervisor,
//! which takes single-key commands (`c` prints every cell's exit and
//! interrupt counters). The UART's receive interrupt brings typed input in
//! even when no guest polls its console.

use core::fmt;

use spin::Mutex;

use super::console::{self, println};
use super::{cells, gic};
use crate::arch::aarch64::model::esr::AccessSize;
use crate::arch::aarch64::model::virtual_pl011::{MMIO_SIZE, Pl011};
use crate::config::{CELL_COUNT, CELL_NAMES, CELLS, CellConsole, DEVICES, HYPERVISOR};
use crate::console::hub::{ConsoleHub, InputHandler};

/// Longest output line before it is split.
const LINE_LENGTH: usize = 160;
/// Priority of the console's input interrupt at the physical GIC.
const INPUT_PRIORITY: u8 = 0xa0;

/// Guest-physical base of every cell's virtual PL011.
pub const BASE: u64 = HYPERVISOR.console.base.as_u64();

static UARTS: [Mutex<Pl011>; CELL_COUNT] = [const { Mutex::new(Pl011::new()) }; CELL_COUNT];
/// Tagging, input switching and report budgets (shared with x86_64).
static HUB: ConsoleHub<CELL_COUNT, LINE_LENGTH> = ConsoleHub::new(&CELL_NAMES);

/// Whether a report about `cell` may go on the console. The first report
/// over the cell's budget prints a notice instead; the log gets them all.
pub fn may_report(cell: usize) -> bool {
    HUB.may_report(cell, |line| println!("{line}"))
}

/// Whether `ipa` is in the virtual console page of `cell`.
pub fn claims(cell: usize, ipa: u64) -> bool {
    CELLS[cell].console == CellConsole::Virtual && (BASE..BASE + MMIO_SIZE).contains(&ipa)
}

/// Emulates a read of `size` at `ipa` for `cell`.
pub fn read(cell: usize, ipa: u64, size: AccessSize) -> u32 {
    poll_input();
    UARTS[cell].lock().read(ipa - BASE, size)
}

/// Emulates a write of `value` at `ipa` for `cell`.
pub fn write(cell: usize, ipa: u64, value: u32) {
    let mut uart = UARTS[cell].lock();
    let mut pending = [0u8; 4];
    let mut count = 0;
    uart.write(ipa - BASE, value, &mut |byte| {
        if count < pending.len() {
            pending[count] = byte;
            count += 1;
        }
    });
    let level = uart.interrupt_pending();
    drop(uart);
    if count > 0 {
        output(cell, &pending[..count]);
    }
    // Unmasking an interrupt whose cause is present raises the line.
    if let Some(desc) = CELLS.get(cell) {
        super::vgic::virtual_line(desc, level);
    }
}

/// Whether `cell`'s virtual UART asserts its interrupt line.
pub fn line_level(cell: usize) -> bool {
    UARTS
        .get(cell)
        .is_some_and(|uart| uart.lock().interrupt_pending())
}

/// Prints `bytes` from `cell` (tagged, whole lines).
pub fn output(cell: usize, bytes: &[u8]) {
    console::with_sink(|sink| HUB.output(cell, bytes, sink));
}

/// Prints what `cell` left without a newline (it stopped).
pub fn flush(cell: usize) {
    console::with_sink(|sink| HUB.flush(cell, sink));
}

/// The console UART's interrupt, if the platform names one.
pub fn input_irq() -> Option<u32> {
    DEVICES
        .get(HYPERVISOR.console.device)?
        .irqs
        .first()
        .map(|irq| irq.0)
}

/// Routes the console's input interrupt to the first core of a cell that
/// is still running (typed input then costs that cell an exit, at typing
/// speed); disables it when no cell runs. Boot, and whenever a cell stops
/// for good.
pub fn route_input() {
    let Some(irq) = input_irq() else {
        return;
    };
    let target = CELLS
        .iter()
        .filter(|cell| !cells::is_stopped(cell))
        .find_map(|cell| cell.cpus.first())
        .map(|cpu| cpu.index());
    match target {
        Some(cpu) => {
            gic::spi_priority(irq, INPUT_PRIORITY);
            gic::spi_route(irq, cpu);
            gic::spi_enable(irq, true);
            console::enable_input_interrupt();
        }
        None => gic::spi_enable(irq, false),
    }
}

/// The console's input interrupt: typed bytes go to their target now,
/// whether or not a guest polls its UART.
pub fn input_interrupt() {
    poll_input();
}

/// Typed input's effects on AArch64: bytes into a cell's PL011 (raising
/// its virtual interrupt when enabled), commands.
struct Input;

impl InputHandler for Input {
    fn deliver(&mut self, cell: usize, byte: u8) {
        if let (Some(uart), Some(desc)) = (UARTS.get(cell), CELLS.get(cell)) {
            let level = {
                let mut uart = uart.lock();
                let _ = uart.push_input(byte);
                uart.interrupt_pending()
            };
            super::vgic::virtual_line(desc, level);
        }
    }

    fn command(&mut self, byte: u8) {
        command(byte);
    }

    fn print(&mut self, line: fmt::Arguments<'_>) {
        println!("{line}");
    }
}

/// Moves typed bytes from the physical UART to the selected cell, or runs
/// them as commands when the hypervisor is selected.
fn poll_input() {
    HUB.feed(
        |i| CELLS[i].console == CellConsole::Virtual,
        console::poll_input,
        &mut Input,
    );
}

/// A key typed while the hypervisor has the console.
fn command(byte: u8) {
    match byte {
        b'c' => {
            for cell in &CELLS {
                let mut line: heapless::String<LINE_LENGTH> = heapless::String::new();
                let _ = super::vgic::COUNTERS[cell.id.index()].write_summary(&mut line);
                println!("bulkhead: counters of cell {}: {line}", cell.name);
            }
        }
        b'h' | b'?' => println!(
            "bulkhead: console commands: c = per-cell exit and interrupt counters, h = this help; Ctrl-A three times gives the console to the next cell"
        ),
        b'\r' | b'\n' => {}
        other => println!(
            "bulkhead: unknown console command {:?} (h for help)",
            char::from(other)
        ),
    }
}
