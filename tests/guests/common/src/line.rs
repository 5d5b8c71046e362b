//! A fixed-size line buffer for formatting without a heap.

use core::fmt;

/// Up to `N` bytes of text; [`fmt::Write`] into it never fails: text that
/// does not fit is dropped (cut at a UTF-8 character boundary).
pub struct LineBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> LineBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Appends `byte` if there is room; returns whether it fit.
    pub fn push(&mut self, byte: u8) -> bool {
        let fits = self.len < N;
        if fits {
            self.buf[self.len] = byte;
            self.len += 1;
        }
        fits
    }
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for LineBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut take = s.len().min(N - self.len);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LineBuf;
    use core::fmt::Write;

    #[test]
    fn formats_and_cuts_long_text_at_a_char_boundary() {
        let mut line = LineBuf::<8>::new();
        write!(line, "ab{}", 12).unwrap();
        assert_eq!(line.as_bytes(), b"ab12");
        write!(line, "xyzé!").unwrap();
        assert_eq!(line.as_bytes(), b"ab12xyz");
        assert!(line.push(b'\n'));
        assert!(!line.push(b'\n'));
    }
}
