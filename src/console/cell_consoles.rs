//! The cells' side of the console, the same on every architecture: each
//! cell's virtual UART (guest accesses, typed input, reset on restart),
//! its output tagged per line, input switched between cells and the
//! hypervisor (Ctrl-A three times), the hypervisor's console commands and
//! the cells' report budgets.
//!
//! Typed input reaches the hypervisor through the console UART's receive
//! interrupt, routed to the first CPU of the first cell still running (it
//! costs that cell an exit per burst, at typing speed); when no cell runs
//! it is switched off.

use core::fmt;

use super::hub::InputHandler;
use super::virtual_uart::{LINE_LENGTH, VirtualUart};
use crate::arch::Arch;
use crate::cell::access::AccessSize;
use crate::config::CellConsole;
use crate::hv_println;
use crate::hypervisor::Hypervisor;

impl<A: Arch, const CPUS: usize, const CELLS: usize> Hypervisor<A, CPUS, CELLS> {
    /// Whether a report about `cell` may go on the console. The first
    /// report over the cell's budget prints a notice instead; the log gets
    /// them all.
    pub(crate) fn may_report(&self, cell: usize) -> bool {
        self.consoles
            .hub
            .may_report(cell, |line| hv_println!(self, "{line}"))
    }

    /// Prints `bytes` written by `cell` (tagged, whole lines).
    pub(crate) fn console_output(&self, cell: usize, bytes: &[u8]) {
        self.with_console_sink(|sink| self.consoles.hub.output(cell, bytes, sink));
    }

    /// Prints what `cell` left without a newline (it stopped).
    pub(crate) fn flush_cell_console(&self, cell: usize) {
        self.with_console_sink(|sink| self.consoles.hub.flush(cell, sink));
    }

    /// The offset into `cell`'s virtual UART of guest address (or port)
    /// `address`, if the cell has a virtual console and the address is in
    /// its window.
    pub(crate) fn virtual_uart_offset(&self, cell: usize, address: u64) -> Option<u64> {
        let desc = self.tables().cells.get(cell)?;
        let offset = address.wrapping_sub(self.arch.virtual_uart_base());
        (desc.console == CellConsole::Virtual && offset < A::VirtualUart::WINDOW).then_some(offset)
    }

    /// A guest read of `size` at `offset` of `cell`'s virtual UART. It
    /// touches only the cell's own UART: typed input arrives by the console
    /// UART's interrupt, not by polling on every read, which would make
    /// every cell's polling loop contend for the console's locks (F7).
    pub(crate) fn virtual_uart_read(&self, cell: usize, offset: u64, size: AccessSize) -> u32 {
        self.consoles
            .uarts
            .get(cell)
            .map_or(0, |uart| uart.lock().read(offset, size))
    }

    /// A guest write of `value` at `offset` of `cell`'s virtual UART: what
    /// it transmits goes out tagged, and its interrupt line follows.
    pub(crate) fn virtual_uart_write(&self, cell: usize, offset: u64, value: u32) {
        let Some(uart) = self.consoles.uarts.get(cell) else {
            return;
        };
        let mut sent = [0u8; 8];
        let mut count = 0;
        let level = {
            let mut uart = uart.lock();
            uart.write(offset, value, &mut |byte| {
                if let Some(slot) = sent.get_mut(count) {
                    *slot = byte;
                    count += 1;
                }
            });
            uart.interrupt_pending()
        };
        if count > 0 {
            self.console_output(cell, &sent[..count]);
        }
        // Unmasking an interrupt whose cause is present raises the line.
        if let Some(desc) = self.tables().cells.get(cell) {
            self.arch.virtual_uart_line(desc, level);
        }
    }

    /// Puts `cell`'s virtual UART back in its reset state (restart).
    pub(crate) fn reset_virtual_uart(&self, cell: usize) {
        if let Some(uart) = self.consoles.uarts.get(cell) {
            *uart.lock() = A::VirtualUart::RESET;
        }
    }

    /// Moves typed bytes from the console UART to the selected cell, or runs
    /// them as commands when the hypervisor has the console.
    pub(crate) fn poll_console_input(&self) {
        let cells = self.tables().cells;
        self.consoles.hub.feed(
            |i| {
                cells
                    .get(i)
                    .is_some_and(|c| c.console == CellConsole::Virtual)
            },
            || self.read_console_byte(),
            &mut TypedInput { hv: self },
        );
        self.arch.console_input_served();
    }

    /// Routes the console's receive interrupt to the first CPU of the first
    /// cell still running, or switches it off when none runs. Boot, and
    /// whenever a cell stops for good.
    pub(crate) fn route_console_input(&self) {
        let target = self
            .tables()
            .cells
            .iter()
            .filter(|cell| !self.is_stopped(cell))
            .find_map(|cell| cell.cpus.first())
            .map(|cpu| cpu.index());
        self.consoles.hub.with_input_lock(|| {
            self.arch.route_console_input(target);
            if target.is_some() {
                self.enable_console_input();
            }
        });
    }

    /// Prints every cell's counters, a line each.
    pub(crate) fn print_counters(&self) {
        for cell in self.tables().cells {
            let index = cell.id.index();
            let mut line: heapless::String<{ 2 * LINE_LENGTH }> = heapless::String::new();
            if let Some(counters) = self.counters.get(index) {
                let _ = counters.write_summary(&mut line, A::DELIVERY_KINDS, |kind| {
                    self.arch.delivered(index, kind)
                });
            }
            hv_println!(self, "bulkhead: counters of cell {}: {line}", cell.name);
        }
    }

    /// A key typed while the hypervisor has the console.
    fn console_command(&self, byte: u8) {
        match byte {
            b'c' => self.print_counters(),
            b'h' | b'?' => hv_println!(
                self,
                "bulkhead: console commands: c = per-cell exit and interrupt counters, h = this help; Ctrl-A three times gives the console to the next cell"
            ),
            b'\r' | b'\n' => {}
            other => hv_println!(
                self,
                "bulkhead: unknown console command {:?} (h for help)",
                char::from(other)
            ),
        }
    }

    /// A byte typed for `cell`: into its virtual UART, whose interrupt line
    /// follows.
    fn deliver_input(&self, cell: usize, byte: u8) {
        let Some(uart) = self.consoles.uarts.get(cell) else {
            return;
        };
        let level = {
            let mut uart = uart.lock();
            uart.receive(byte);
            uart.interrupt_pending()
        };
        if let Some(desc) = self.tables().cells.get(cell) {
            self.arch.virtual_uart_line(desc, level);
        }
    }
}

/// What typed input does, once the switch routed it.
struct TypedInput<'h, A: Arch, const CPUS: usize, const CELLS: usize> {
    hv: &'h Hypervisor<A, CPUS, CELLS>,
}

impl<A: Arch, const CPUS: usize, const CELLS: usize> InputHandler
    for TypedInput<'_, A, CPUS, CELLS>
{
    fn deliver(&mut self, cell: usize, byte: u8) {
        self.hv.deliver_input(cell, byte);
    }

    fn command(&mut self, byte: u8) {
        self.hv.console_command(byte);
    }

    fn print(&mut self, line: fmt::Arguments<'_>) {
        hv_println!(self.hv, "{line}");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arch::fake::{Event, FakeArch, FakeExit, TestHv};

    impl TestHv {
        /// Delivers typed `bytes` straight to `cell`'s virtual UART.
        pub(crate) fn type_into_cell(&self, cell: usize, bytes: &[u8]) {
            for &byte in bytes {
                self.deliver_input(cell, byte);
            }
        }
    }

    #[test]
    fn a_cells_output_is_tagged_and_a_stopped_cells_last_words_flushed() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.console_output(1, b"hello\npartial");
        hv.flush_cell_console(1);
        assert_eq!(hv.arch.console_text(), "[beta] hello\r\n[beta] partial\r\n");
    }

    #[test]
    fn guest_accesses_inside_the_window_reach_the_cells_own_uart() {
        let hv = TestHv::over(FakeArch::two_cells());
        let base = hv.arch.virtual_uart_base();
        assert_eq!(hv.virtual_uart_offset(0, base + 4), Some(4));
        assert_eq!(
            hv.virtual_uart_offset(0, base + 64),
            None,
            "past the window"
        );
        assert_eq!(hv.virtual_uart_offset(0, base - 1), None, "below it");
        assert_eq!(hv.virtual_uart_offset(9, base), None, "no such cell");
        hv.virtual_uart_write(1, 0, u32::from(b'x'));
        hv.virtual_uart_write(1, 0, u32::from(b'\n'));
        assert_eq!(hv.arch.console_text(), "[beta] x\r\n");
        assert_eq!(hv.virtual_uart_state(0).transmitted, 0, "alpha saw nothing");
    }

    #[test]
    fn a_cell_without_a_virtual_console_claims_no_accesses() {
        let hv = TestHv::over(FakeArch::with_passthrough_console());
        let base = hv.arch.virtual_uart_base();
        assert_eq!(hv.virtual_uart_offset(0, base), Some(0));
        assert_eq!(hv.virtual_uart_offset(1, base), None);
    }

    #[test]
    fn typed_input_goes_to_the_selected_cell_and_raises_its_line() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.arch.type_keys(b"a\x01\x01\x01b");
        hv.poll_console_input();
        assert_eq!(hv.virtual_uart_state(0).received, b"a");
        assert_eq!(hv.virtual_uart_state(1).received, b"b");
        // The receive interrupt may come again only now that the UART is
        // drained (held active meanwhile: a level interrupt taken again
        // before would keep the CPU in the hypervisor).
        assert_eq!(hv.arch.events().last(), Some(&Event::InputServed));
        assert!(hv.arch.events().contains(&Event::UartLine {
            cell: 1,
            level: true
        }));
        assert!(
            hv.arch
                .console_text()
                .contains("bulkhead: console input now goes to cell beta")
        );
    }

    #[test]
    fn the_hypervisor_prints_counters_on_c_and_help_on_h() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.count_exit(1, FakeExit::Io);
        hv.count_exit(1, FakeExit::Io);
        hv.arch.set_delivered(1, 0, 4);
        hv.arch.type_keys(b"\x01\x01\x01\x01\x01\x01chx");
        hv.poll_console_input();
        let text = hv.arch.console_text();
        assert!(
            text.contains("bulkhead: console input now goes to the hypervisor"),
            "{text}"
        );
        assert!(
            text.contains("bulkhead: counters of cell beta: exits 2: io 2; delivered timer 4\r\n"),
            "{text}"
        );
        assert!(text.contains("bulkhead: counters of cell alpha: exits 0; delivered timer 0\r\n"));
        assert_eq!(text.matches("bulkhead: console commands:").count(), 1);
        assert!(text.contains("unknown console command 'x'"), "{text}");
    }

    #[test]
    fn console_input_follows_the_first_running_cell_and_stops_with_the_last() {
        let hv = TestHv::over(FakeArch::two_cells());
        hv.route_console_input();
        hv.arch.as_cpu(0, || hv.halt(&hv.tables().cells[0]));
        let routes: Vec<_> = hv
            .arch
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::RouteInput(_)))
            .collect();
        assert_eq!(
            routes,
            [Event::RouteInput(Some(0)), Event::RouteInput(Some(1))]
        );
        let _ = hv.arch.catch(1, || hv.halt(&hv.tables().cells[1]));
        assert_eq!(
            hv.arch
                .events()
                .into_iter()
                .rfind(|e| matches!(e, Event::RouteInput(_))),
            Some(Event::RouteInput(None))
        );
    }
}
