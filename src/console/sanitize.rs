//! What of a cell's output reaches the terminal as is.
//!
//! A cell's line is shown after its `[name] ` tag; for the tag to mean
//! anything, the cell must not be able to move the cursor, erase the tag,
//! or make the terminal answer a query (`ESC [ 6 n`) into the input of
//! whatever cell is selected. So every control character a terminal acts
//! on is shown escaped instead (security review finding F8): C0 controls
//! other than TAB, DEL, and the C1 controls (U+0080..U+009F, which a UTF-8
//! terminal decodes from `C2 80..C2 9F`). Other valid UTF-8 passes through,
//! so cells can print any language; a byte that is not part of valid UTF-8
//! is escaped too (a terminal might assemble it with what follows).

/// Writes `text` through `emit`, every byte or character a terminal could
/// act on written as `\xNN` (its bytes, in hex).
pub(crate) fn emit_sanitized(text: &[u8], emit: &mut impl FnMut(&[u8])) {
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid();
        let mut start = 0;
        for (at, c) in valid.char_indices() {
            if c != '\t' && c.is_control() {
                emit(&valid.as_bytes()[start..at]);
                for &byte in &valid.as_bytes()[at..at + c.len_utf8()] {
                    emit_escaped(byte, emit);
                }
                start = at + c.len_utf8();
            }
        }
        emit(&valid.as_bytes()[start..]);
        for &byte in chunk.invalid() {
            emit_escaped(byte, emit);
        }
    }
}

fn emit_escaped(byte: u8, emit: &mut impl FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    emit(&[
        b'\\',
        b'x',
        HEX[usize::from(byte >> 4)],
        HEX[usize::from(byte & 0xf)],
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitized(text: &[u8]) -> String {
        let mut out = Vec::new();
        emit_sanitized(text, &mut |b| out.extend_from_slice(b));
        String::from_utf8(out).expect("the output is UTF-8")
    }

    #[test]
    fn f8_escape_sequences_are_shown_not_obeyed() {
        // Erase the line, move to column 1, print a forged report.
        assert_eq!(
            sanitized(b"\x1b[2K\x1b[1Gbulkhead: fault: cell victim"),
            "\\x1b[2K\\x1b[1Gbulkhead: fault: cell victim"
        );
        // A cursor position query would make the terminal type its answer.
        assert_eq!(sanitized(b"\x1b[6n"), "\\x1b[6n");
        // BEL, backspace, form feed, vertical tab, DEL.
        assert_eq!(
            sanitized(b"a\x07\x08\x0b\x0c\x7fb"),
            "a\\x07\\x08\\x0b\\x0c\\x7fb"
        );
    }

    #[test]
    fn f8_c1_controls_are_escaped_in_both_encodings() {
        // CSI as UTF-8 (U+009B) and as a lone byte.
        assert_eq!(sanitized("x\u{9b}2J".as_bytes()), "x\\xc2\\x9b2J");
        assert_eq!(sanitized(b"x\x9b2J"), "x\\x9b2J");
    }

    #[test]
    fn text_tabs_and_other_languages_pass_through() {
        assert_eq!(sanitized(b"tick 42\tok"), "tick 42\tok");
        assert_eq!(
            sanitized("größe 20 € — 端末".as_bytes()),
            "größe 20 € — 端末"
        );
    }

    #[test]
    fn a_character_cut_at_the_line_end_is_escaped() {
        let euro = "€".as_bytes();
        assert_eq!(sanitized(&euro[..2]), "\\xe2\\x82");
    }
}
