//! Console multiplexing: several cells share one physical UART.
//!
//! Output: [`OutputTagger`] buffers each cell's output per line and emits
//! whole lines, each prefixed with `[<cell name>] `, so the output of two
//! cells never interleaves inside a line and every line says where it came
//! from (no guest line starts like the hypervisor's `[hv]` lines). Bytes
//! other than `\r` and `\n` pass through unfiltered, terminal escape
//! sequences included. Lines end in `\n` alone: the physical UART driver
//! turns it into `\r\n`.
//!
//! Input: [`InputSwitch`] sends every byte typed on the physical UART to one
//! selected cell. Ctrl-A pressed three times in a row (like Xen's console)
//! moves input to the next cell that has a virtual console.
//!
//! Both are pure state machines: the caller owns the physical UART, the
//! cells' virtual UARTs and any locking. They never panic on any input.

use heapless::Vec;

/// The name used in the tag of a cell that has no entry in the name table.
pub const UNKNOWN_CELL_NAME: &str = "?";

/// Emitted after a piece of a line cut at the line-buffer size, before the
/// newline: the next piece, tagged again, continues the same line.
pub const CONTINUATION_MARK: &[u8] = b"\\";

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
/// ignored. Every other byte, including other control characters, is passed
/// through unchanged.
///
/// Each line is emitted as several consecutive calls to the `emit` closure
/// (tag, text, end); nothing else is emitted between them within one
/// [`push`](Self::push) or [`flush`](Self::flush) call, so a caller that
/// holds the physical UART across the call gets whole lines on the wire.
#[derive(Debug)]
pub struct OutputTagger<const CELLS: usize, const LINE: usize> {
    names: &'static [&'static str],
    lines: [Vec<u8, LINE>; CELLS],
}

impl<const CELLS: usize, const LINE: usize> OutputTagger<CELLS, LINE> {
    /// Empty line buffers; `names[i]` tags the lines of cell `i`.
    ///
    /// `LINE` must be at least 1 (checked at compile time).
    pub const fn new(names: &'static [&'static str]) -> Self {
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
    pub fn name(&self, cell: usize) -> &'static str {
        self.names.get(cell).copied().unwrap_or(UNKNOWN_CELL_NAME)
    }

    /// Takes one byte of `cell`'s output, emitting a tagged line through
    /// `emit` when the byte completes one (or fills the buffer). Bytes for a
    /// cell index `>= CELLS` are dropped.
    pub fn push(&mut self, cell: usize, byte: u8, emit: &mut impl FnMut(&[u8])) {
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
    pub fn push_bytes(&mut self, cell: usize, bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        for &byte in bytes {
            self.push(cell, byte, emit);
        }
    }

    /// Emits `cell`'s partial line, if it has one, as a tagged line (for
    /// example when the cell stops or before a hypervisor message).
    pub fn flush(&mut self, cell: usize, emit: &mut impl FnMut(&[u8])) {
        let name = self.name(cell);
        if let Some(line) = self.lines.get_mut(cell)
            && !line.is_empty()
        {
            emit_line(name, line, false, emit);
            line.clear();
        }
    }

    /// [`flush`](Self::flush) for every cell, in cell order.
    pub fn flush_all(&mut self, emit: &mut impl FnMut(&[u8])) {
        for cell in 0..CELLS {
            self.flush(cell, emit);
        }
    }
}

fn emit_line(name: &str, text: &[u8], continued: bool, emit: &mut impl FnMut(&[u8])) {
    emit(b"[");
    emit(name.as_bytes());
    emit(b"] ");
    emit(text);
    if continued {
        emit(CONTINUATION_MARK);
    }
    emit(b"\n");
}

/// The console escape byte, Ctrl-A.
pub const ESCAPE_BYTE: u8 = 0x01;

/// How many escape bytes in a row switch input to the next cell.
pub const ESCAPE_COUNT: usize = 3;

/// What the caller does with one byte fed to an [`InputSwitch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputAction {
    /// Queue `byte` on `cell`'s virtual console input.
    Deliver {
        /// Cell index.
        cell: usize,
        /// The byte typed.
        byte: u8,
    },
    /// Input now goes to cell `to`; the caller prints a hypervisor message
    /// such as `*** console input now goes to cell <name> (Ctrl-A x3 to
    /// switch)`. `to` is the previous cell when no other cell has a console.
    Switched {
        /// Cell index now receiving input.
        to: usize,
    },
    /// A Ctrl-A held back as a possible start of the escape sequence; it is
    /// delivered later if the sequence is not completed.
    Swallowed,
    /// No cell has a virtual console: `byte` goes nowhere.
    Discarded {
        /// The byte typed.
        byte: u8,
    },
}

/// The actions for one byte fed to an [`InputSwitch`], in order: at most
/// two held-back Ctrl-A deliveries and the byte's own action.
pub type InputActions = Vec<InputAction, ESCAPE_COUNT>;

/// Routes console input to one selected cell at a time.
///
/// Cell `i` can be selected only if `eligible[i]` (it has a virtual
/// console). Input starts at the first eligible cell (cell 0 when it has a
/// console). Three Ctrl-A in a row select the next eligible cell, wrapping
/// around; one or two Ctrl-A followed by another byte are delivered to the
/// selected cell, before that byte.
#[derive(Clone, Debug)]
pub struct InputSwitch<const CELLS: usize> {
    eligible: [bool; CELLS],
    selected: Option<usize>,
    pending_escapes: usize,
}

impl<const CELLS: usize> InputSwitch<CELLS> {
    /// A switch over `CELLS` cells, of which those with `eligible[i]` set
    /// can receive input.
    pub const fn new(eligible: [bool; CELLS]) -> Self {
        let mut first = 0;
        while first < CELLS && !eligible[first] {
            first += 1;
        }
        Self {
            eligible,
            selected: if first < CELLS { Some(first) } else { None },
            pending_escapes: 0,
        }
    }

    /// The cell receiving input, or `None` if no cell has a console.
    pub const fn selected(&self) -> Option<usize> {
        self.selected
    }

    /// Processes one byte typed on the physical console.
    pub fn feed(&mut self, byte: u8) -> InputActions {
        let mut actions = InputActions::new();
        let Some(cell) = self.selected else {
            let _ = actions.push(InputAction::Discarded { byte });
            return actions;
        };
        if byte == ESCAPE_BYTE {
            self.pending_escapes += 1;
            if self.pending_escapes >= ESCAPE_COUNT {
                self.pending_escapes = 0;
                let to = self.next_eligible(cell);
                self.selected = Some(to);
                let _ = actions.push(InputAction::Switched { to });
            } else {
                let _ = actions.push(InputAction::Swallowed);
            }
            return actions;
        }
        for _ in 0..self.pending_escapes {
            let _ = actions.push(InputAction::Deliver {
                cell,
                byte: ESCAPE_BYTE,
            });
        }
        self.pending_escapes = 0;
        // At most ESCAPE_COUNT - 1 deliveries precede this one: it fits.
        let _ = actions.push(InputAction::Deliver { cell, byte });
        actions
    }

    /// The first eligible cell after `cell`, wrapping; `cell` itself if no
    /// other is eligible.
    fn next_eligible(&self, cell: usize) -> usize {
        (1..=CELLS)
            .map(|step| (cell + step) % CELLS)
            .find(|&candidate| self.eligible[candidate])
            .unwrap_or(cell)
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

    #[test]
    fn initial_cell_and_plain_delivery() {
        let mut switch = InputSwitch::new([true, true, true]);
        assert_eq!(switch.selected(), Some(0));
        assert_eq!(
            switch.feed(b'x').as_slice(),
            &[InputAction::Deliver {
                cell: 0,
                byte: b'x'
            }]
        );
    }

    #[test]
    fn three_escapes_switch_and_wrap() {
        let mut switch = InputSwitch::new([true, true, true]);
        let switch_once = |switch: &mut InputSwitch<3>| {
            assert_eq!(
                switch.feed(ESCAPE_BYTE).as_slice(),
                &[InputAction::Swallowed]
            );
            assert_eq!(
                switch.feed(ESCAPE_BYTE).as_slice(),
                &[InputAction::Swallowed]
            );
            let actions = switch.feed(ESCAPE_BYTE);
            assert_eq!(actions.len(), 1);
            match actions[0] {
                InputAction::Switched { to } => to,
                other => panic!("expected a switch, got {other:?}"),
            }
        };
        assert_eq!(switch_once(&mut switch), 1);
        assert_eq!(switch.selected(), Some(1));
        assert_eq!(
            switch.feed(b'y').as_slice(),
            &[InputAction::Deliver {
                cell: 1,
                byte: b'y'
            }]
        );
        assert_eq!(switch_once(&mut switch), 2);
        assert_eq!(switch_once(&mut switch), 0);
        // Six in a row switch twice.
        assert_eq!(switch_once(&mut switch), 1);
        assert_eq!(switch_once(&mut switch), 2);
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
        switch.feed(ESCAPE_BYTE);
        switch.feed(ESCAPE_BYTE);
        assert_eq!(
            switch.feed(ESCAPE_BYTE).as_slice(),
            &[InputAction::Switched { to: 1 }]
        );
        assert_eq!(switch.selected(), Some(1));
    }

    #[test]
    fn ineligible_cells_are_skipped() {
        let mut switch = InputSwitch::new([false, true, false, true, false]);
        assert_eq!(switch.selected(), Some(1));
        let switch_once = |switch: &mut InputSwitch<5>| {
            switch.feed(ESCAPE_BYTE);
            switch.feed(ESCAPE_BYTE);
            switch.feed(ESCAPE_BYTE)[0]
        };
        assert_eq!(switch_once(&mut switch), InputAction::Switched { to: 3 });
        assert_eq!(switch_once(&mut switch), InputAction::Switched { to: 1 });
    }

    #[test]
    fn single_and_no_eligible_cell() {
        let mut single = InputSwitch::new([false, false, true]);
        for _ in 0..2 {
            single.feed(ESCAPE_BYTE);
        }
        assert_eq!(
            single.feed(ESCAPE_BYTE).as_slice(),
            &[InputAction::Switched { to: 2 }]
        );

        let mut none = InputSwitch::new([false, false]);
        assert_eq!(none.selected(), None);
        assert_eq!(
            none.feed(ESCAPE_BYTE).as_slice(),
            &[InputAction::Discarded { byte: ESCAPE_BYTE }]
        );
        assert_eq!(
            none.feed(b'z').as_slice(),
            &[InputAction::Discarded { byte: b'z' }]
        );

        let mut empty = InputSwitch::<0>::new([]);
        assert_eq!(
            empty.feed(b'z').as_slice(),
            &[InputAction::Discarded { byte: b'z' }]
        );
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
}
