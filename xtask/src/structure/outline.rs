//! What one file holds, as far as the structure check cares: its lines of
//! non-test code, its functions, its `mod` declarations and the paths it
//! refers to (`use` trees and `a::b` paths in code). Code under
//! `#[cfg(test)]` (a test module, or any other item) is left out.

use super::lex::{Kind, Token, lex};

/// A function and its length, from the `fn` line to its closing brace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Function {
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) lines: usize,
}

/// A `mod name;` or `mod name { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ModDecl {
    /// Inline modules it is declared in, within the file.
    pub(super) scope: Vec<String>,
    pub(super) name: String,
    /// `mod name { ... }` (its items are in this file).
    pub(super) inline: bool,
    /// Under `#[cfg(test)]`: its file holds test code only.
    pub(super) test: bool,
}

/// A path the file refers to: `crate::a::B`, `super::c`, `d::e` (relative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reference {
    /// Inline modules the reference is in, within the file.
    pub(super) scope: Vec<String>,
    pub(super) path: Vec<String>,
    pub(super) line: usize,
}

/// One file's outline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Outline {
    /// Non-blank, non-comment lines outside test code.
    pub(super) code_lines: usize,
    pub(super) functions: Vec<Function>,
    pub(super) mods: Vec<ModDecl>,
    pub(super) references: Vec<Reference>,
}

/// What an open brace belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// An inline module.
    Module(String),
    /// A function body: name and `fn` line.
    Function(String, usize),
    /// Test code, from this line (its `#[cfg(test)]`).
    Test(usize),
    /// Anything else (impl, struct, block, expression).
    Other,
}

/// Outlines `text`.
pub(super) fn outline(text: &str) -> Outline {
    let lexed = lex(text);
    let mut walker = Walker {
        tokens: &lexed.tokens,
        at: 0,
        frames: Vec::new(),
        parens: 0,
        test_attribute: None,
        fn_body: None,
        test_lines: vec![false; lexed.code.len()],
        out: Outline::default(),
    };
    walker.run();
    walker.out.code_lines = (1..lexed.code.len())
        .filter(|&n| lexed.code[n] && !walker.test_lines[n])
        .count();
    walker.out
}

struct Walker<'a> {
    tokens: &'a [Token],
    at: usize,
    frames: Vec<Frame>,
    /// Depth of `(` and `[` (a `;` or `{` inside them ends no item).
    parens: usize,
    /// A `#[cfg(test)]` waiting for its item: its line and paren depth.
    test_attribute: Option<(usize, usize)>,
    /// The token index of the next function body's `{`, with the name and
    /// line of its `fn`.
    fn_body: Option<(usize, String, usize)>,
    test_lines: Vec<bool>,
    out: Outline,
}

impl Walker<'_> {
    fn token(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.at + ahead)
    }

    fn is(&self, ahead: usize, kind: Kind) -> bool {
        self.token(ahead).is_some_and(|t| t.kind == kind)
    }

    fn ident(&self, ahead: usize) -> Option<&str> {
        self.token(ahead)
            .filter(|t| t.kind == Kind::Ident)
            .map(|t| t.text.as_str())
    }

    fn scope(&self) -> Vec<String> {
        self.frames
            .iter()
            .filter_map(|f| match f {
                Frame::Module(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    fn in_test(&self) -> bool {
        self.frames.iter().any(|f| matches!(f, Frame::Test(_)))
    }

    fn run(&mut self) {
        while let Some(token) = self.token(0) {
            let (kind, line) = (token.kind, token.line);
            match (kind, self.ident(0)) {
                (Kind::Punct('#'), _) => self.attribute(),
                (Kind::Punct('{'), _) => self.open(),
                (Kind::Punct('}'), _) => self.close(line),
                (Kind::Punct('(' | '['), _) => self.parens += 1,
                (Kind::Punct(')' | ']'), _) => self.parens = self.parens.saturating_sub(1),
                (Kind::Punct(';'), _) => self.end_of_item(line),
                (_, Some("mod")) => self.module(line),
                (_, Some("fn")) => self.function(line),
                (_, Some("use")) => self.use_tree(line),
                (Kind::Ident, _) if self.is(1, Kind::PathSep) => self.path(line),
                _ => {}
            }
            self.at += 1;
        }
    }

    /// `#[...]`: notes `#[cfg(test)]`; skips the rest (inner attributes
    /// `#![...]` too).
    fn attribute(&mut self) {
        let inner = usize::from(self.is(1, Kind::Punct('!')));
        if !self.is(1 + inner, Kind::Punct('[')) {
            return;
        }
        let cfg_test = inner == 0
            && self.ident(2) == Some("cfg")
            && self.is(3, Kind::Punct('('))
            && self.ident(4) == Some("test")
            && self.is(5, Kind::Punct(')'))
            && self.is(6, Kind::Punct(']'));
        if cfg_test {
            let line = self.token(0).map_or(0, |t| t.line);
            self.test_attribute = Some((line, self.parens));
        }
        // Skip to the matching `]`.
        let mut depth = 0;
        while let Some(token) = self.token(0) {
            match token.kind {
                Kind::Punct('[') => depth += 1,
                Kind::Punct(']') => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }

    /// Whether a pending `#[cfg(test)]` applies at this paren depth.
    fn take_test(&mut self) -> Option<usize> {
        match self.test_attribute {
            Some((line, parens)) if parens == self.parens => {
                self.test_attribute = None;
                Some(line)
            }
            _ => None,
        }
    }

    fn open(&mut self) {
        let frame = if let Some(start) = self.take_test() {
            Frame::Test(start)
        } else if let Some((_, name, fn_line)) =
            self.fn_body.take_if(|(index, _, _)| *index == self.at)
        {
            Frame::Function(name, fn_line)
        } else {
            Frame::Other
        };
        self.frames.push(frame);
    }

    fn close(&mut self, line: usize) {
        // An attribute never waits past the end of its block (a field's
        // `#[cfg(test)]`, say).
        self.test_attribute = None;
        match self.frames.pop() {
            Some(Frame::Test(start)) => self.mark_test(start, line),
            Some(Frame::Function(name, start)) if !self.in_test() => {
                self.out.functions.push(Function {
                    name,
                    line: start,
                    lines: line - start + 1,
                });
            }
            _ => {}
        }
    }

    /// A `;` ends a test item without a body (`#[cfg(test)] const X ...;`).
    fn end_of_item(&mut self, line: usize) {
        if let Some(start) = self.take_test() {
            self.mark_test(start, line);
        }
    }

    fn mark_test(&mut self, from: usize, to: usize) {
        for n in from..=to.min(self.test_lines.len().saturating_sub(1)) {
            self.test_lines[n] = true;
        }
    }

    /// `mod name;` or `mod name {`.
    fn module(&mut self, line: usize) {
        let Some(name) = self.ident(1).map(str::to_string) else {
            return;
        };
        let inline = self.is(2, Kind::Punct('{'));
        if !inline && !self.is(2, Kind::Punct(';')) {
            return;
        }
        let attribute = self.take_test();
        self.out.mods.push(ModDecl {
            scope: self.scope(),
            name: name.clone(),
            inline,
            test: self.in_test() || attribute.is_some(),
        });
        // Past `mod name`, onto its `{` or `;`, which `run` then steps over.
        self.at += 2;
        match (inline, attribute) {
            (true, Some(start)) => self.frames.push(Frame::Test(start)),
            (true, None) => self.frames.push(Frame::Module(name)),
            (false, Some(start)) => self.mark_test(start, line),
            (false, None) => {}
        }
    }

    /// `fn name ...`: finds its body's `{` (a `;` first: no body).
    fn function(&mut self, line: usize) {
        let Some(name) = self.ident(1).map(str::to_string) else {
            return;
        };
        let mut depth = 0usize;
        for index in self.at + 2..self.tokens.len() {
            let arrow = self.tokens[index - 1].kind == Kind::Punct('-');
            match self.tokens[index].kind {
                Kind::Punct('(' | '[' | '<') => depth += 1,
                Kind::Punct('>') if arrow => {}
                Kind::Punct(')' | ']' | '>') => depth = depth.saturating_sub(1),
                Kind::Punct('{') if depth == 0 => {
                    self.fn_body = Some((index, name, line));
                    return;
                }
                Kind::Punct(';') if depth == 0 => return,
                _ => {}
            }
        }
    }

    /// `use tree;`: records every path it names. (`use<'a>`, precise
    /// capturing in a return type, is not an item.)
    fn use_tree(&mut self, line: usize) {
        if self.is(1, Kind::Punct('<')) {
            return;
        }
        let end = (self.at..self.tokens.len())
            .find(|&i| self.tokens[i].kind == Kind::Punct(';'))
            .unwrap_or(self.tokens.len());
        let mut paths = Vec::new();
        expand(&self.tokens[self.at + 1..end], &[], &mut paths);
        if !self.in_test() && self.test_attribute.is_none() {
            for path in paths {
                self.reference(path, line);
            }
        }
        // Leave the `;` for `run` (it ends a pending test item).
        self.at = end.saturating_sub(1);
    }

    /// `a::b::c` in code (not a `use`).
    fn path(&mut self, line: usize) {
        let mut path = Vec::new();
        while let Some(segment) = self.ident(0) {
            path.push(segment.to_string());
            if !(self.is(1, Kind::PathSep) && self.ident(2).is_some()) {
                break;
            }
            self.at += 2;
        }
        if !self.in_test() {
            self.reference(path, line);
        }
    }

    fn reference(&mut self, path: Vec<String>, line: usize) {
        let start = path.first().map(String::as_str);
        if path.len() > 1 || matches!(start, Some("crate" | "super" | "self")) {
            let scope = self.scope();
            self.out.references.push(Reference { scope, path, line });
        }
    }
}

/// The paths a use tree (`a::{b, c::d as e}`, `a::*`) names, each after
/// `prefix`. `self` in a group names the prefix itself; a glob or an alias
/// names what precedes it.
fn expand(tokens: &[Token], prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            Kind::Ident if token.text == "as" => break,
            Kind::Ident if token.text == "self" && !path.is_empty() => {}
            Kind::Ident => path.push(token.text.clone()),
            Kind::Punct('{') => {
                let close = matching(tokens, i);
                for item in split_top(&tokens[i + 1..close.min(tokens.len())]) {
                    expand(item, &path, out);
                }
                return;
            }
            Kind::Punct('*') => {
                path.push("*".to_string());
                break;
            }
            _ => {}
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// Index of the `}` matching the `{` at `open`.
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Punct('{') => depth += 1,
            Kind::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The comma-separated items of a group, commas inside nested groups kept.
fn split_top(tokens: &[Token]) -> Vec<&[Token]> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            Kind::Punct('{') => depth += 1,
            Kind::Punct('}') => depth -= 1,
            Kind::Punct(',') if depth == 0 => {
                items.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..]);
    items.into_iter().filter(|item| !item.is_empty()).collect()
}
