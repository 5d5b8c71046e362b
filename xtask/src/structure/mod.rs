//! `cargo xtask structure`: the code-structure rules CI enforces on the
//! hypervisor (`src/`), its config types (`tables/`) and the host tool
//! (`xtask/`), so that what the architecture review found does not grow
//! back:
//! - no file holds more than [`MAX_FILE_LINES`] lines of non-test code
//!   (non-blank, non-comment lines outside `#[cfg(test)]` code, test-only
//!   files such as `*/tests.rs` and integration tests left out);
//! - no function runs more than [`MAX_FN_LINES`] lines, from its `fn` line
//!   to its closing brace (test code left out);
//! - no files of a crate import each other in a circle: every strongly
//!   connected component of the import graph is reported with the names
//!   that tie it (see `graph.rs` for what counts as an import).
//!
//! The analysis reads source text only ([`analyse`] takes the files as
//! strings, so it is tested on small trees in memory); it does not build.

mod graph;
mod lex;
mod outline;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use outline::Outline;

/// Most lines of non-test code a file may hold.
pub const MAX_FILE_LINES: usize = 600;

/// Most lines a function may run, `fn` line to closing brace.
pub const MAX_FN_LINES: usize = 100;

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files read.
    pub files: usize,
    /// The file with the most lines of non-test code, and that count.
    pub longest_file: Option<(String, usize)>,
    /// The longest function: `file:line name` and its lines.
    pub longest_fn: Option<(String, usize)>,
    /// Files over [`MAX_FILE_LINES`]: `file:1` and the count.
    pub long_files: Vec<(String, usize)>,
    /// Functions over [`MAX_FN_LINES`]: `file:line name` and the count.
    pub long_fns: Vec<(String, usize)>,
    /// Import circles: each one's files, and the imports between them as
    /// `from:line -> to: names`.
    pub cycles: Vec<(Vec<String>, Vec<String>)>,
}

impl Report {
    /// Whether nothing broke a rule.
    pub fn is_clean(&self) -> bool {
        self.long_files.is_empty() && self.long_fns.is_empty() && self.cycles.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, lines) in &self.long_files {
            writeln!(
                f,
                "{at}: {lines} lines of non-test code (at most {MAX_FILE_LINES}): split it by concern"
            )?;
        }
        for (at, lines) in &self.long_fns {
            writeln!(f, "{at}: {lines} lines (at most {MAX_FN_LINES})")?;
        }
        for (files, imports) in &self.cycles {
            writeln!(
                f,
                "import circle of {} files: {}",
                files.len(),
                files.join(", ")
            )?;
            for import in imports {
                writeln!(f, "    {import}")?;
            }
        }
        let longest = |item: &Option<(String, usize)>| {
            item.as_ref().map_or("none".to_string(), |(what, n)| {
                format!("{what} ({n} lines)")
            })
        };
        writeln!(
            f,
            "structure: {} files; longest file {}; longest function {}; cycles: {}",
            self.files,
            longest(&self.longest_file),
            longest(&self.longest_fn),
            self.cycles.len()
        )
    }
}

/// Reads every `.rs` file under `roots` (folders relative to `workspace`),
/// leaving out `tests/` folders (integration tests, test guests), and
/// analyses them.
pub fn check(workspace: &Path, roots: &[String]) -> std::io::Result<Report> {
    let mut files = BTreeMap::new();
    for root in roots {
        read_tree(workspace, Path::new(root), &mut files)?;
    }
    Ok(analyse(&files))
}

fn read_tree(
    workspace: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
) -> std::io::Result<()> {
    let full = workspace.join(dir);
    if full.is_file() {
        files.insert(dir.display().to_string(), std::fs::read_to_string(&full)?);
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(&full)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = dir.join(&name);
        if entry.file_type()?.is_dir() {
            if name != "tests" && name != "target" && !name.starts_with('.') {
                read_tree(workspace, &path, files)?;
            }
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(workspace.join(&path))?;
            files.insert(path.display().to_string(), text);
        }
    }
    Ok(())
}

/// Checks `files` (path -> text, paths with `/`).
pub fn analyse(files: &BTreeMap<String, String>) -> Report {
    let outlines: BTreeMap<String, Outline> = files
        .iter()
        .map(|(path, text)| (path.clone(), outline::outline(text)))
        .collect();
    let crates: Vec<graph::Crate> = files
        .keys()
        .filter(|path| is_crate_root(path))
        .map(|root| graph::module_tree(root, &outlines))
        .collect();
    let mut report = Report {
        files: files.len(),
        ..Report::default()
    };
    for (path, outline) in &outlines {
        let test_only = path.ends_with("/tests.rs")
            || path == "tests.rs"
            || crates.iter().any(|c| c.test_files.contains(path));
        if !test_only {
            measure(&mut report, path, outline);
        }
    }
    for krate in &crates {
        find_cycles(&mut report, krate, &outlines);
    }
    report
}

/// `src/lib.rs`, `src/main.rs`, `src/bin/*.rs` of a package, or its
/// `build.rs`.
fn is_crate_root(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [.., "src", "lib.rs" | "main.rs"] => true,
        [.., "src", "bin", _] => true,
        [.., dir, "build.rs"] => *dir != "src",
        ["build.rs"] => true,
        _ => false,
    }
}

/// The file's length and its functions', against the limits.
fn measure(report: &mut Report, path: &str, outline: &Outline) {
    let lines = outline.code_lines;
    if report.longest_file.as_ref().is_none_or(|(_, n)| lines > *n) {
        report.longest_file = Some((path.to_string(), lines));
    }
    if lines > MAX_FILE_LINES {
        report.long_files.push((format!("{path}:1"), lines));
    }
    for function in &outline.functions {
        let what = format!("{path}:{} fn {}", function.line, function.name);
        if report
            .longest_fn
            .as_ref()
            .is_none_or(|(_, n)| function.lines > *n)
        {
            report.longest_fn = Some((what.clone(), function.lines));
        }
        if function.lines > MAX_FN_LINES {
            report.long_fns.push((what, function.lines));
        }
    }
}

/// The crate's import circles, with the imports that make them.
fn find_cycles(report: &mut Report, krate: &graph::Crate, outlines: &BTreeMap<String, Outline>) {
    let edges = graph::edges(krate, outlines);
    for files in graph::cycles(&edges) {
        let imports = edges
            .iter()
            .filter(|((from, to), _)| files.contains(from) && files.contains(to))
            .map(|((from, to), edge)| {
                let names: Vec<&str> = edge.names.iter().map(String::as_str).collect();
                format!("{from}:{} -> {to}: {}", edge.line, names.join(", "))
            })
            .collect();
        report.cycles.push((files, imports));
    }
}
