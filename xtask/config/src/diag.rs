//! Diagnostics: `file:line:col` error messages with notes and a fix.
//!
//! A [`Diagnostic`] names what is wrong at one source location, may point at
//! the other party of a conflict with a note, and says how to fix it. It is
//! printed like a compiler error so editors can jump to the location. Most
//! are errors (the config is rejected); a few are warnings (accepted, but
//! worth a second look: a DMA-capable device without an IOMMU, say).
//!
//! Names and paths come from the files being checked, so a message can
//! carry bytes chosen by whoever wrote them: every control character (and
//! every Unicode bidirectional override) is printed escaped, `\x1b` or
//! `\u{202e}`, so a config cannot forge terminal output ([`escape`]).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded TOML file: its path (as the user should see it) and text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path shown in messages.
    pub path: PathBuf,
    /// File contents.
    pub text: Arc<str>,
    /// Byte offset of the start of each line, so a location costs a binary
    /// search rather than a scan of the file.
    line_starts: Arc<[usize]>,
}

impl Source {
    /// Wraps a file's text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// A location in this file from a byte span.
    pub fn at(&self, span: Range<usize>) -> Location {
        let offset = span.start.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self
            .text
            .get(line_start..offset)
            .map_or(1, |before| before.chars().count() + 1);
        Location {
            path: self.path.clone(),
            line,
            column,
        }
    }

    /// The start of the file (for errors without a span).
    pub fn start(&self) -> Location {
        self.at(0..0)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A position in a config or platform file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display().to_string();
        write!(f, "{}:{}:{}", escape(&path), self.line, self.column)
    }
}

/// `text` with every character a terminal could act on escaped: C0 and C1
/// control characters (newline, escape, ...) and DEL as `\xNN`, Unicode
/// bidirectional controls as `\u{NNNN}`; a backslash stays as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is printed escaped (see [`escape`]).
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration is rejected.
    Error,
    /// The configuration is accepted; `cargo xtask check` prints it.
    Warning,
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where the problem is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// Other places involved (the other party of a conflict).
    pub notes: Vec<(Location, String)>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new error at `location`.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            message: message.into(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A new warning at `location`.
    pub fn warning(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::new(location, message)
        }
    }

    /// Adds a note pointing at another location.
    pub fn note(mut self, location: Location, text: impl Into<String>) -> Self {
        self.notes.push((location, text.into()));
        self
    }

    /// Sets how to fix the problem.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {severity}: {}",
            self.location,
            escape(&self.message)
        )?;
        for (location, text) in &self.notes {
            write!(f, "\n{location}: note: {}", escape(text))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {}", escape(help))?;
        }
        Ok(())
    }
}

/// All problems found; validation reports every one it can, not just the
/// first.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{diagnostic}")?;
        }
        let count = self.0.len();
        write!(
            f,
            "{count} error{} in the configuration",
            if count == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// The closest candidate to `name`, if it is close enough to be a likely
/// typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(name.len()) / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// "; did you mean `x`?" or, without a close match, the list of choices.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match did_you_mean(name, candidates.clone()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            if all.is_empty() {
                "there are none to choose from".to_string()
            } else {
                format!("choose one of {}", all.join(", "))
            }
        }
    }
}

/// A path relative to `base` when it is below it (for readable messages).
pub fn display_path(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
        let source = Source::new("f", text);
        for offset in 0..=text.len() + 2 {
            if text.is_char_boundary(offset.min(text.len())) {
                let at = source.at(offset..offset);
                assert_eq!((at.line, at.column), line_column(text, offset), "{offset}");
            }
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain `name`"), "plain `name`");
        assert_eq!(escape("a\x1b[2Jb\nc\u{7f}"), "a\\x1b[2Jb\\x0ac\\x7f");
        assert_eq!(escape("\u{9b}31m\u{202e}"), "\\x9b31m\\u{202e}");
        let d = Diagnostic::warning(
            Location {
                path: PathBuf::from("a\rb.toml"),
                line: 1,
                column: 2,
            },
            "bad \x07",
        )
        .note(
            Location {
                path: PathBuf::from("p.toml"),
                line: 3,
                column: 4,
            },
            "\x1b]0;x",
        )
        .help("\t");
        assert_eq!(
            d.to_string(),
            "a\\x0db.toml:1:2: warning: bad \\x07\np.toml:3:4: note: \\x1b]0;x\n  help: \\x09"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("uart1", ["uart0", "rtc"]), Some("uart0"));
        assert_eq!(did_you_mean("zzz", ["uart0", "rtc"]), None);
        assert_eq!(suggestion("zzz", ["a", "b"]), "choose one of `a`, `b`");
    }
}
