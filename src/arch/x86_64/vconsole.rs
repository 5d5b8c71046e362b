//! Cells' virtual consoles: a trapped 16550 at the console's ports per
//! cell, multiplexed onto the hypervisor's UART as whole lines tagged
//! `[cell]` (the AArch64 PL011 console's x86 counterpart).

use spin::Mutex;

use super::console::{self, println};
use crate::config::{CELL_COUNT, CELL_NAMES, CELLS, CellConsole, HYPERVISOR};
use crate::console::budget::{Budget, Report};
use crate::console::mux::OutputTagger;
use crate::vdev::uart16550::{PORTS, Uart16550};

/// Longest output line before it is split.
const LINE_LENGTH: usize = 160;
/// First port of every cell's virtual 16550 (the board console's).
pub const BASE: u16 = HYPERVISOR.console.port;

static UARTS: [Mutex<Uart16550>; CELL_COUNT] = [const { Mutex::new(Uart16550::new()) }; CELL_COUNT];
static TAGGER: Mutex<OutputTagger<CELL_COUNT, LINE_LENGTH>> =
    Mutex::new(OutputTagger::new(&CELL_NAMES));

/// Console reports per cell before it is muted.
const REPORT_BUDGET: u32 = 256;
static REPORTS: [Budget; CELL_COUNT] = [const { Budget::new(REPORT_BUDGET) }; CELL_COUNT];

/// Whether a report about `cell` may go on the console (see the AArch64
/// console: the first report over budget prints a notice instead).
pub fn may_report(cell: usize) -> bool {
    match REPORTS.get(cell).map_or(Report::Quiet, Budget::take) {
        Report::Print => true,
        Report::Mute => {
            println!(
                "bulkhead: cell {} keeps misbehaving; its further reports go to the hypervisor log only",
                CELL_NAMES.get(cell).copied().unwrap_or("?")
            );
            false
        }
        Report::Quiet => false,
    }
}

/// Whether `port` belongs to `cell`'s virtual console.
pub fn claims(cell: usize, port: u16) -> bool {
    CELLS[cell].console == CellConsole::Virtual
        && port.wrapping_sub(BASE) < PORTS
        && HYPERVISOR.console.port != 0
}

/// Emulates a byte read of `port`.
pub fn read(cell: usize, port: u16) -> u8 {
    if let Some(byte) = console::poll_input() {
        UARTS[cell].lock().push_input(byte);
    }
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
    let mut tagger = TAGGER.lock();
    console::with_sink(|sink| tagger.push_bytes(cell, bytes, &mut |chunk| sink(chunk)));
}

/// Prints what `cell` left without a newline (it stopped).
pub fn flush(cell: usize) {
    let mut tagger = TAGGER.lock();
    console::with_sink(|sink| tagger.flush(cell, &mut |chunk| sink(chunk)));
}

/// Resets `cell`'s virtual UART (restart).
pub fn reset(cell: usize) {
    *UARTS[cell].lock() = Uart16550::new();
}
