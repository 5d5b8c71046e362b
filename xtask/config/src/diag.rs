//! Diagnostics: `file:line:col` error messages with notes and a fix.
//!
//! A [`Diagnostic`] names what is wrong at one source location, may point at
//! the other party of a conflict with a note, and says how to fix it. It is
//! printed like a compiler error so editors can jump to the location.

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
}

impl Source {
    /// Wraps a file's text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// A location in this file from a byte span.
    pub fn at(&self, span: Range<usize>) -> Location {
        let (line, column) = line_column(&self.text, span.start);
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
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// One problem found in a configuration.
#[derive(Debug, Clone)]
pub struct Diagnostic {
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
            location,
            message: message.into(),
            notes: Vec::new(),
            help: None,
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
        write!(f, "{}: error: {}", self.location, self.message)?;
        for (location, text) in &self.notes {
            write!(f, "\n{location}: note: {text}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
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
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("uart1", ["uart0", "rtc"]), Some("uart0"));
        assert_eq!(did_you_mean("zzz", ["uart0", "rtc"]), None);
        assert_eq!(suggestion("zzz", ["a", "b"]), "choose one of `a`, `b`");
    }
}
