//! Console multiplexing: several cells share one physical UART.
//!
//! Output: [`OutputTagger`] buffers each cell's output per line and emits
//! whole lines, each prefixed with `[<cell name>] `, so the output of two
//! cells never interleaves inside a line and every line says where it came
//! from (no guest line starts like the hypervisor's `[hv]` lines). Control
//! characters a terminal would act on (escape sequences, C1 controls) are
//! shown escaped (`sanitize`), so a cell can neither erase its tag nor
//! query the terminal. Lines end in `\n` alone: the physical UART driver
//! turns it into `\r\n`.
//!
//! Input: [`InputSwitch`] sends every byte typed on the physical UART to one
//! selected target: a cell with a virtual console, or the hypervisor itself.
//! Ctrl-A pressed three times in a row (like Xen's console) moves input to
//! the next target: the cells with a virtual console in index order, then
//! the hypervisor, then the first cell again. Bytes typed while the
//! hypervisor is selected are console command keys, reported as
//! [`InputAction::Command`]; the caller implements the commands.
//!
//! Both are pure state machines: the caller owns the physical UART, the
//! cells' virtual UARTs and any locking. They never panic on any input.

use heapless::Vec;

use super::sanitize::emit_sanitized;

/// The name used in the tag of a cell that has no entry in the name table.
pub(crate) const UNKNOWN_CELL_NAME: &str = "?";

/// Emitted after a piece of a line cut at the line-buffer size, before the
/// newline: the next piece, tagged again, continues the same line.
pub(crate) const CONTINUATION_MARK: &[u8] = b"\\";

/// Per-cell line buffers that turn byte streams into tagged whole lines.
///
/// `CELLS` is the number of cells, `LINE` the longest line (in bytes, not
/// counting the tag) emitted in one piece. A longer line is emitted in
/// pieces of `LINE` bytes, each tagged and each but the last ended with
/// [`CONTINUATION_MARK`] (`\`) and a newline:
///
/// ```text
/// [linux] first LINE bytes of a long line\
/// [linux] the rest of it
/// ```
///
/// `\r` is dropped, so `\r\n` gives one newline and a lone `\r` is
/// ignored. Every other control character is written escaped (`\x1b`,
/// see `sanitize`); other text, UTF-8 included, is passed through.
///
/// Each line is emitted as several consecutive calls to the `emit` closure
/// (tag, text, end); nothing else is emitted between them within one
/// [`push`](Self::push) or [`flush`](Self::flush) call, so a caller that
/// holds the physical UART across the call gets whole lines on the wire.
#[derive(Debug)]
pub(crate) struct OutputTagger<const CELLS: usize, const LINE: usize> {
    names: &'static [&'static str],
    lines: [Vec<u8, LINE>; CELLS],
}

impl<const CELLS: usize, const LINE: usize> OutputTagger<CELLS, LINE> {
    /// Empty line buffers; `names[i]` tags the lines of cell `i`.
    ///
    /// `LINE` must be at least 1 (checked at compile time).
    pub(crate) const fn new(names: &'static [&'static str]) -> Self {
        const {
            assert!(
                LINE > 0,
                "OutputTagger needs a line buffer of at least one byte"
            )
        };
        Self {
            names,
            lines: [const { Vec::new() }; CELLS],
        }
    }

    /// The name that tags `cell`'s lines ([`UNKNOWN_CELL_NAME`] if the name
    /// table has no entry for it).
    pub(crate) fn name(&self, cell: usize) -> &'static str {
        self.names.get(cell).copied().unwrap_or(UNKNOWN_CELL_NAME)
    }

    /// Takes one byte of `cell`'s output, emitting a tagged line through
    /// `emit` when the byte completes one (or fills the buffer). Bytes for a
    /// cell index `>= CELLS` are dropped.
    pub(crate) fn push(&mut self, cell: usize, byte: u8, emit: &mut impl FnMut(&[u8])) {
        let name = self.name(cell);
        let Some(line) = self.lines.get_mut(cell) else {
            return;
        };
        match byte {
            b'\r' => {}
            b'\n' => {
                emit_line(name, line, false, emit);
                line.clear();
            }
            _ => {
                if line.is_full() {
                    emit_line(name, line, true, emit);
                    line.clear();
                }
                // Cannot fail: the line is not full (LINE >= 1).
                let _ = line.push(byte);
            }
        }
    }

    /// [`push`](Self::push) for each byte of `bytes`.
    pub(crate) fn push_bytes(&mut self, cell: usize, bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        for &byte in bytes {
            self.push(cell, byte, emit);
        }
    }

    /// Emits `cell`'s partial line, if it has one, as a tagged line (for
    /// example when the cell stops or before a hypervisor message).
    pub(crate) fn flush(&mut self, cell: usize, emit: &mut impl FnMut(&[u8])) {
        let name = self.name(cell);
        if let Some(line) = self.lines.get_mut(cell)
            && !line.is_empty()
        {
            emit_line(name, line, false, emit);
            line.clear();
        }
    }

    /// [`flush`](Self::flush) for every cell, in cell order.
    #[cfg(test)]
    pub(crate) fn flush_all(&mut self, emit: &mut impl FnMut(&[u8])) {
        for cell in 0..CELLS {
            self.flush(cell, emit);
        }
    }
}

fn emit_line(name: &str, text: &[u8], continued: bool, emit: &mut impl FnMut(&[u8])) {
    emit(b"[");
    emit(name.as_bytes());
    emit(b"] ");
    emit_sanitized(text, emit);
    if continued {
        emit(CONTINUATION_MARK);
    }
    emit(b"\n");
}

/// The console escape byte, Ctrl-A.
pub(crate) const ESCAPE_BYTE: u8 = 0x01;

/// How many escape bytes in a row switch input to the next target.
pub(crate) const ESCAPE_COUNT: usize = 3;

/// Where console input goes: a cell's virtual console or the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputTarget {
    /// The virtual console of the cell with this index.
    Cell(usize),
    /// The hypervisor: bytes are console command keys.
    Hypervisor,
}

/// What the caller does with one byte fed to an [`InputSwitch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputAction {
    /// Queue `byte` on `cell`'s virtual console input.
    Deliver {
        /// Cell index.
        cell: usize,
        /// The byte typed.
        byte: u8,
    },
    /// `byte` was typed while the hypervisor is selected: the caller
    /// interprets it as a console command key (ignoring keys it does not
    /// know).
    Command {
        /// The byte typed.
        byte: u8,
    },
    /// Input now goes to `to`; the caller prints a hypervisor message such
    /// as `*** console input now goes to cell <name> (Ctrl-A x3 to
    /// switch)`. `to` is the previous target when there is no other one
    /// (no cell has a console: [`InputTarget::Hypervisor`] again).
    Switched {
        /// The target now receiving input.
        to: InputTarget,
    },
    /// A Ctrl-A held back as a possible start of the escape sequence; it is
    /// given to the selected target later if the sequence is not completed.
    Swallowed,
}

/// The actions for one byte fed to an [`InputSwitch`], in order: at most
/// two held-back Ctrl-A deliveries (or commands) and the byte's own action.
pub(crate) type InputActions = Vec<InputAction, ESCAPE_COUNT>;

/// Routes console input to one selected target at a time: a cell or the
/// hypervisor.
///
/// Cell `i` can be selected only if `eligible[i]` (it has a virtual
/// console); the hypervisor can always be selected. Input starts at the
/// first eligible cell (cell 0 when it has a console), or at the hypervisor
/// if no cell has a console. Three Ctrl-A in a row select the next target
/// in the cycle: the eligible cells in index order, then the hypervisor,
/// then the first eligible cell again. One or two Ctrl-A followed by
/// another byte are given to the selected target, before that byte.
#[derive(Clone, Debug)]
pub(crate) struct InputSwitch<const CELLS: usize> {
    eligible: [bool; CELLS],
    selected: InputTarget,
    pending_escapes: usize,
}

impl<const CELLS: usize> InputSwitch<CELLS> {
    /// A switch over `CELLS` cells, of which those with `eligible[i]` set
    /// can receive input, and the hypervisor.
    pub(crate) const fn new(eligible: [bool; CELLS]) -> Self {
        // The first eligible cell (a loop: iterators are not const).
        let mut selected = InputTarget::Hypervisor;
        let mut cell = 0;
        let mut rest: &[bool] = &eligible;
        while let [head, tail @ ..] = rest {
            if *head {
                selected = InputTarget::Cell(cell);
                break;
            }
            cell = cell.saturating_add(1);
            rest = tail;
        }
        Self {
            eligible,
            selected,
            pending_escapes: 0,
        }
    }

    /// The target receiving input.
    #[cfg(test)]
    pub(crate) const fn selected(&self) -> InputTarget {
        self.selected
    }

    /// Processes one byte typed on the physical console.
    pub(crate) fn feed(&mut self, byte: u8) -> InputActions {
        let mut actions = InputActions::new();
        if byte == ESCAPE_BYTE {
            self.pending_escapes = self.pending_escapes.saturating_add(1);
            if self.pending_escapes >= ESCAPE_COUNT {
                self.pending_escapes = 0;
                self.selected = self.next_target();
                let _ = actions.push(InputAction::Switched { to: self.selected });
            } else {
                let _ = actions.push(InputAction::Swallowed);
            }
            return actions;
        }
        for _ in 0..self.pending_escapes {
            let _ = actions.push(self.action_for(ESCAPE_BYTE));
        }
        self.pending_escapes = 0;
        // At most ESCAPE_COUNT - 1 actions precede this one: it fits.
        let _ = actions.push(self.action_for(byte));
        actions
    }

    /// The action that gives `byte` to the selected target.
    fn action_for(&self, byte: u8) -> InputAction {
        match self.selected {
            InputTarget::Cell(cell) => InputAction::Deliver { cell, byte },
            InputTarget::Hypervisor => InputAction::Command { byte },
        }
    }

    /// The target after the selected one in the cycle: the next eligible
    /// cell, else the hypervisor; after the hypervisor, the first eligible
    /// cell, else the hypervisor again.
    fn next_target(&self) -> InputTarget {
        let from = match self.selected {
            InputTarget::Cell(cell) => cell.saturating_add(1),
            InputTarget::Hypervisor => 0,
        };
        self.eligible
            .iter()
            .enumerate()
            .skip(from)
            .find(|&(_, &eligible)| eligible)
            .map_or(InputTarget::Hypervisor, |(cell, _)| InputTarget::Cell(cell))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NAMES: &[&str] = &["sensor", "linux", "control"];

    fn text(output: &[u8]) -> &str {
        std::str::from_utf8(output).unwrap()
    }

    #[test]
    fn interleaved_cells_give_whole_tagged_lines() {
        let mut tagger = OutputTagger::<3, 64>::new(NAMES);
        let mut output = std::vec::Vec::new();
        let mut emit = |bytes: &[u8]| output.extend_from_slice(bytes);
        let a = b"temperature 21C\nhumidity 40%\n";
        let b = b"Booting Linux\n";
        // Byte-by-byte interleaving of two cells.
        let mut a_bytes = a.iter();
        let mut b_bytes = b.iter();
        loop {
            let next_a = a_bytes.next();
            let next_b = b_bytes.next();
            if next_a.is_none() && next_b.is_none() {
                break;
            }
            if let Some(&byte) = next_a {
                tagger.push(0, byte, &mut emit);
            }
            if let Some(&byte) = next_b {
                tagger.push(1, byte, &mut emit);
            }
        }
        assert_eq!(
            text(&output),
            "[linux] Booting Linux\n[sensor] temperature 21C\n[sensor] humidity 40%\n"
        );
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        let mut tagger = OutputTagger::<3, 4>::new(NAMES);
        let mut output = std::vec::Vec::new();
        let mut emit = |bytes: &[u8]| output.extend_from_slice(bytes);
        tagger.push_bytes(2, b"abcdefghij\n", &mut emit);
        // Exactly LINE bytes then a newline: no cut.
        tagger.push_bytes(2, b"wxyz\n", &mut emit);
        // A cut right before the newline leaves a short final piece.
        tagger.push_bytes(2, b"12345\n", &mut emit);
        assert_eq!(
            text(&output),
            "[control] abcd\\\n[control] efgh\\\n[control] ij\n\
             [control] wxyz\n\
             [control] 1234\\\n[control] 5\n"
        );
    }

    #[test]
    fn carriage_returns() {
        let mut tagger = OutputTagger::<3, 64>::new(NAMES);
        let mut output = std::vec::Vec::new();
        let mut emit = |bytes: &[u8]| output.extend_from_slice(bytes);
        tagger.push_bytes(1, b"one\r\ntwo\rthree\r\n\r\n", &mut emit);
        assert_eq!(text(&output), "[linux] one\n[linux] twothree\n[linux] \n");
    }

    #[test]
    fn flush_emits_partial_lines_only() {
        let mut tagger = OutputTagger::<3, 64>::new(NAMES);
        let mut output = std::vec::Vec::new();
        let mut emit = |bytes: &[u8]| output.extend_from_slice(bytes);
        tagger.push_bytes(0, b"login: ", &mut emit);
        tagger.push_bytes(2, b"halted", &mut emit);
        tagger.flush(1, &mut emit); // nothing buffered
        tagger.flush(0, &mut emit);
        tagger.flush(0, &mut emit); // already flushed
        tagger.flush_all(&mut emit);
        assert_eq!(text(&output), "[sensor] login: \n[control] halted\n");
    }

    #[test]
    fn unknown_cells_and_missing_names() {
        let mut tagger = OutputTagger::<4, 16>::new(NAMES);
        let mut output = std::vec::Vec::new();
        let mut emit = |bytes: &[u8]| output.extend_from_slice(bytes);
        tagger.push_bytes(9, b"dropped\n", &mut emit);
        tagger.flush(9, &mut emit);
        tagger.push_bytes(3, b"no name\n", &mut emit);
        assert_eq!(text(&output), "[?] no name\n");
        assert_eq!(tagger.name(1), "linux");
    }

    /// Feeds three Ctrl-A, checking that the first two are swallowed, and
    /// returns the target switched to.
    fn switch_once<const CELLS: usize>(switch: &mut InputSwitch<CELLS>) -> InputTarget {
        for _ in 1..ESCAPE_COUNT {
            assert_eq!(
                switch.feed(ESCAPE_BYTE).as_slice(),
                &[InputAction::Swallowed]
            );
        }
        match switch.feed(ESCAPE_BYTE).as_slice() {
            &[InputAction::Switched { to }] => {
                assert_eq!(switch.selected(), to);
                to
            }
            other => panic!("expected one switch, got {other:?}"),
        }
    }

    #[test]
    fn initial_cell_and_plain_delivery() {
        let mut switch = InputSwitch::new([true, true, true]);
        assert_eq!(switch.selected(), InputTarget::Cell(0));
        assert_eq!(
            switch.feed(b'x').as_slice(),
            &[InputAction::Deliver {
                cell: 0,
                byte: b'x'
            }]
        );
    }

    #[test]
    fn three_escapes_cycle_cells_then_hypervisor_then_wrap() {
        let mut switch = InputSwitch::new([true, true, true]);
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(1));
        assert_eq!(
            switch.feed(b'y').as_slice(),
            &[InputAction::Deliver {
                cell: 1,
                byte: b'y'
            }]
        );
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(2));
        assert_eq!(switch_once(&mut switch), InputTarget::Hypervisor);
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(0));
        // Six in a row switch twice.
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(1));
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(2));
    }

    #[test]
    fn partial_escapes_are_delivered_before_the_byte() {
        let mut switch = InputSwitch::new([true, true]);
        assert_eq!(
            switch.feed(ESCAPE_BYTE).as_slice(),
            &[InputAction::Swallowed]
        );
        assert_eq!(
            switch.feed(b'a').as_slice(),
            &[
                InputAction::Deliver {
                    cell: 0,
                    byte: ESCAPE_BYTE
                },
                InputAction::Deliver {
                    cell: 0,
                    byte: b'a'
                },
            ]
        );
        switch.feed(ESCAPE_BYTE);
        switch.feed(ESCAPE_BYTE);
        assert_eq!(
            switch.feed(b'b').as_slice(),
            &[
                InputAction::Deliver {
                    cell: 0,
                    byte: ESCAPE_BYTE
                },
                InputAction::Deliver {
                    cell: 0,
                    byte: ESCAPE_BYTE
                },
                InputAction::Deliver {
                    cell: 0,
                    byte: b'b'
                },
            ]
        );
        // The interrupted sequence does not count towards the next one.
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(1));
    }

    #[test]
    fn hypervisor_gets_commands_and_held_back_escapes() {
        let mut switch = InputSwitch::new([true]);
        assert_eq!(switch_once(&mut switch), InputTarget::Hypervisor);
        assert_eq!(
            switch.feed(b'h').as_slice(),
            &[InputAction::Command { byte: b'h' }]
        );
        assert_eq!(
            switch.feed(ESCAPE_BYTE).as_slice(),
            &[InputAction::Swallowed]
        );
        assert_eq!(
            switch.feed(b'q').as_slice(),
            &[
                InputAction::Command { byte: ESCAPE_BYTE },
                InputAction::Command { byte: b'q' },
            ]
        );
        switch.feed(ESCAPE_BYTE);
        switch.feed(ESCAPE_BYTE);
        assert_eq!(
            switch.feed(b'\r').as_slice(),
            &[
                InputAction::Command { byte: ESCAPE_BYTE },
                InputAction::Command { byte: ESCAPE_BYTE },
                InputAction::Command { byte: b'\r' },
            ]
        );
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(0));
        assert_eq!(
            switch.feed(b'h').as_slice(),
            &[InputAction::Deliver {
                cell: 0,
                byte: b'h'
            }]
        );
    }

    #[test]
    fn ineligible_cells_are_skipped() {
        let mut switch = InputSwitch::new([false, true, false, true, false]);
        assert_eq!(switch.selected(), InputTarget::Cell(1));
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(3));
        assert_eq!(switch_once(&mut switch), InputTarget::Hypervisor);
        assert_eq!(switch_once(&mut switch), InputTarget::Cell(1));
    }

    #[test]
    fn single_eligible_cell_alternates_with_hypervisor() {
        let mut single = InputSwitch::new([false, false, true]);
        assert_eq!(single.selected(), InputTarget::Cell(2));
        assert_eq!(switch_once(&mut single), InputTarget::Hypervisor);
        assert_eq!(switch_once(&mut single), InputTarget::Cell(2));
        assert_eq!(switch_once(&mut single), InputTarget::Hypervisor);
    }

    #[test]
    fn no_eligible_cell_starts_and_stays_at_hypervisor() {
        let mut none = InputSwitch::new([false, false]);
        assert_eq!(none.selected(), InputTarget::Hypervisor);
        assert_eq!(
            none.feed(b'z').as_slice(),
            &[InputAction::Command { byte: b'z' }]
        );
        assert_eq!(switch_once(&mut none), InputTarget::Hypervisor);
        assert_eq!(switch_once(&mut none), InputTarget::Hypervisor);
        none.feed(ESCAPE_BYTE);
        assert_eq!(
            none.feed(b'z').as_slice(),
            &[
                InputAction::Command { byte: ESCAPE_BYTE },
                InputAction::Command { byte: b'z' },
            ]
        );

        let mut empty = InputSwitch::<0>::new([]);
        assert_eq!(empty.selected(), InputTarget::Hypervisor);
        assert_eq!(
            empty.feed(b'z').as_slice(),
            &[InputAction::Command { byte: b'z' }]
        );
        assert_eq!(switch_once(&mut empty), InputTarget::Hypervisor);
    }

    #[test]
    fn every_byte_sequence_gets_actions() {
        // Any byte after any state yields at least one action, never more
        // than ESCAPE_COUNT.
        let mut switch = InputSwitch::new([true, false, true]);
        for first in 0..=255u8 {
            for second in [ESCAPE_BYTE, b'q', 0, 0xff] {
                for byte in [first, second, ESCAPE_BYTE, first] {
                    let actions = switch.feed(byte);
                    assert!(!actions.is_empty() && actions.len() <= ESCAPE_COUNT);
                }
            }
        }
    }

    #[test]
    fn random_byte_stream_never_panics_and_stays_consistent() {
        // Deterministic LCG (Numerical Recipes constants); escapes are made
        // frequent so that every target gets selected many times.
        let mut state: u32 = 0x1234_5678;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 24
        };
        let mut switch = InputSwitch::new([false, true, false, true, true, false]);
        let mut seen_hypervisor = false;
        for _ in 0..100_000 {
            let random = next();
            let byte = if random & 1 == 0 {
                ESCAPE_BYTE
            } else {
                u8::try_from(random).unwrap()
            };
            let before = switch.selected();
            let actions = switch.feed(byte);
            assert!(!actions.is_empty() && actions.len() <= ESCAPE_COUNT);
            for action in &actions {
                match *action {
                    InputAction::Deliver { cell, .. } => {
                        assert_eq!(before, InputTarget::Cell(cell));
                        assert!([1, 3, 4].contains(&cell));
                    }
                    InputAction::Command { .. } => {
                        assert_eq!(before, InputTarget::Hypervisor);
                    }
                    InputAction::Switched { to } => {
                        assert_eq!(actions.len(), 1);
                        assert_eq!(switch.selected(), to);
                        seen_hypervisor |= to == InputTarget::Hypervisor;
                    }
                    InputAction::Swallowed => assert_eq!(actions.len(), 1),
                }
            }
            if let InputTarget::Cell(cell) = switch.selected() {
                assert!([1, 3, 4].contains(&cell));
            }
        }
        assert!(seen_hypervisor);
    }
}
