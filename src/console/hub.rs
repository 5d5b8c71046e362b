//! The cells' side of the hypervisor console, shared by the architectures:
//! each cell's output tagged per line, typed input switched between the
//! cells and the hypervisor, and each cell's budget of console reports.
//!
//! The architecture supplies the UART (a byte sink under its console lock,
//! typed bytes) and what a delivered byte or a hypervisor command does
//! ([`InputHandler`]); the wording and the bookkeeping live here once.

use core::fmt;

use spin::Mutex;

use super::budget::{Budget, Report};
use super::mux::{InputAction, InputSwitch, InputTarget, OutputTagger};

/// Console reports (faults, refused calls) per cell before it is muted.
pub(crate) const REPORT_BUDGET: u32 = 256;

/// What typed input does once the switch has routed it.
pub(crate) trait InputHandler {
    /// `byte` goes to cell `cell`'s virtual UART.
    fn deliver(&mut self, cell: usize, byte: u8);
    /// `byte` was typed while the hypervisor has the console.
    fn command(&mut self, byte: u8);
    /// A line for the hypervisor console (switch notices).
    fn print(&mut self, line: fmt::Arguments<'_>);
}

/// Output tagging, input switching and report budgets for `CELLS` cells
/// with lines of at most `LINE` bytes.
pub(crate) struct ConsoleHub<const CELLS: usize, const LINE: usize> {
    names: &'static [&'static str],
    tagger: Mutex<OutputTagger<CELLS, LINE>>,
    input: Mutex<Option<InputSwitch<CELLS>>>,
    reports: [Budget; CELLS],
}

impl<const CELLS: usize, const LINE: usize> ConsoleHub<CELLS, LINE> {
    /// Nothing printed yet, input to the first eligible cell.
    pub(crate) const fn new(names: &'static [&'static str]) -> Self {
        Self {
            names,
            tagger: Mutex::new(OutputTagger::new(names)),
            input: Mutex::new(None),
            reports: [const { Budget::new(REPORT_BUDGET) }; CELLS],
        }
    }

    fn name(&self, cell: usize) -> &'static str {
        self.names.get(cell).copied().unwrap_or("?")
    }

    /// Whether a report about `cell` may go on the console. The first
    /// report over the cell's budget prints a notice through `print`
    /// instead; the hypervisor log gets them all.
    pub(crate) fn may_report(&self, cell: usize, print: impl FnOnce(fmt::Arguments<'_>)) -> bool {
        match self.reports.get(cell).map_or(Report::Quiet, Budget::take) {
            Report::Print => true,
            Report::Mute => {
                print(format_args!(
                    "bulkhead: cell {} keeps misbehaving; its further reports go to the hypervisor log only",
                    self.name(cell)
                ));
                false
            }
            Report::Quiet => false,
        }
    }

    /// `bytes` from `cell`, emitted as whole tagged lines into `emit` (the
    /// caller holds its console lock around this).
    pub(crate) fn output(&self, cell: usize, bytes: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.tagger
            .lock()
            .push_bytes(cell, bytes, &mut |chunk| emit(chunk));
    }

    /// What `cell` left without a newline (it stopped).
    pub(crate) fn flush(&self, cell: usize, emit: &mut dyn FnMut(&[u8])) {
        self.tagger.lock().flush(cell, &mut |chunk| emit(chunk));
    }

    /// Runs `f` with the input lock held (routing changes).
    pub(crate) fn with_input_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        let _input = self.input.lock();
        f()
    }

    /// Feeds every byte `next` yields through the input switch (cells for
    /// which `eligible` holds take input) and carries out what it decides.
    pub(crate) fn feed(
        &self,
        eligible: impl Fn(usize) -> bool,
        mut next: impl FnMut() -> Option<u8>,
        handler: &mut impl InputHandler,
    ) {
        let mut input = self.input.lock();
        let switch = input.get_or_insert_with(|| InputSwitch::new(core::array::from_fn(&eligible)));
        while let Some(byte) = next() {
            for action in switch.feed(byte) {
                match action {
                    InputAction::Deliver { cell, byte } => handler.deliver(cell, byte),
                    InputAction::Switched {
                        to: InputTarget::Cell(cell),
                    } => handler.print(format_args!(
                        "bulkhead: console input now goes to cell {} (Ctrl-A three times switches)",
                        self.name(cell)
                    )),
                    InputAction::Switched {
                        to: InputTarget::Hypervisor,
                    } => handler.print(format_args!(
                        "bulkhead: console input now goes to the hypervisor: c = counters, h = help (Ctrl-A three times switches)"
                    )),
                    InputAction::Command { byte } => handler.command(byte),
                    InputAction::Swallowed => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    static NAMES: [&str; 2] = ["a", "b"];

    #[derive(Default)]
    struct Record {
        delivered: Vec<(usize, u8)>,
        commands: Vec<u8>,
        printed: Vec<String>,
    }

    impl InputHandler for Record {
        fn deliver(&mut self, cell: usize, byte: u8) {
            self.delivered.push((cell, byte));
        }
        fn command(&mut self, byte: u8) {
            self.commands.push(byte);
        }
        fn print(&mut self, line: fmt::Arguments<'_>) {
            self.printed.push(line.to_string());
        }
    }

    #[test]
    fn input_goes_to_the_cells_then_the_hypervisor() {
        let hub = ConsoleHub::<2, 16>::new(&NAMES);
        let mut typed = b"x\x01\x01\x01y\x01\x01\x01c".iter().copied();
        let mut record = Record::default();
        hub.feed(|_| true, || typed.next(), &mut record);
        assert_eq!(record.delivered, [(0, b'x'), (1, b'y')]);
        assert_eq!(record.commands, [b'c']);
        assert_eq!(record.printed.len(), 2);
        assert!(record.printed[0].contains("goes to cell b"));
        assert!(record.printed[1].contains("goes to the hypervisor"));
    }

    #[test]
    fn reports_stop_after_the_budget_with_one_notice() {
        let hub = ConsoleHub::<2, 16>::new(&NAMES);
        let mut notices = Vec::new();
        let mut printed = 0;
        for _ in 0..REPORT_BUDGET + 10 {
            if hub.may_report(1, |line| notices.push(line.to_string())) {
                printed += 1;
            }
        }
        assert_eq!(printed, REPORT_BUDGET);
        assert_eq!(notices.len(), 1);
        assert!(notices[0].starts_with("bulkhead: cell b keeps misbehaving"));
        assert!(hub.may_report(0, |_| {}), "the other cell keeps its budget");
    }

    #[test]
    fn output_is_tagged_per_line() {
        let hub = ConsoleHub::<2, 16>::new(&NAMES);
        let mut out = Vec::new();
        hub.output(1, b"hi\nthere", &mut |chunk| out.extend_from_slice(chunk));
        hub.flush(1, &mut |chunk| out.extend_from_slice(chunk));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[b] hi"), "{text}");
        assert!(text.contains("[b] there"), "{text}");
    }
}
