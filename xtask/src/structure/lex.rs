//! A Rust lexer just good enough for counting lines and finding items:
//! comments are dropped, literals kept as one token each, so a brace or a
//! `crate::` in a string, a char or a comment is never taken for code.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An identifier or keyword.
    Ident,
    /// `::`.
    PathSep,
    /// A string, char or number literal.
    Literal,
    /// Any other character (`{`, `;`, `#`, `'` of a lifetime, ...).
    Punct(char),
}

/// A token and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    /// What it is.
    pub(super) kind: Kind,
    /// Its text (an identifier's name; empty for literals and punctuation).
    pub(super) text: String,
    /// Line it starts on.
    pub(super) line: usize,
}

/// A lexed file: its tokens, and which lines hold code (not only blanks
/// and comments); `code[n]` is line `n`, index 0 unused.
#[derive(Debug, Clone)]
pub(super) struct Lexed {
    pub(super) tokens: Vec<Token>,
    pub(super) code: Vec<bool>,
}

/// Lexes `text`.
pub(super) fn lex(text: &str) -> Lexed {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        tokens: Vec::new(),
        code: vec![false; text.lines().count() + 2],
    };
    lexer.run();
    Lexed {
        tokens: lexer.tokens,
        code: lexer.code,
    }
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    tokens: Vec<Token>,
    code: Vec<bool>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// Moves past one character, counting lines; `code` marks it as code.
    fn bump(&mut self, code: bool) {
        match self.chars.get(self.at) {
            Some('\n') => self.line += 1,
            Some(c) if code && !c.is_whitespace() => self.mark(),
            _ => {}
        }
        self.at += 1;
    }

    fn mark(&mut self) {
        if self.line >= self.code.len() {
            self.code.resize(self.line + 1, false);
        }
        self.code[self.line] = true;
    }

    fn push(&mut self, kind: Kind, text: String, line: usize) {
        self.tokens.push(Token { kind, text, line });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek(0) {
            let line = self.line;
            match (c, self.peek(1)) {
                (c, _) if c.is_whitespace() => self.bump(false),
                ('/', Some('/')) => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump(false);
                    }
                }
                ('/', Some('*')) => self.block_comment(),
                ('"', _) => self.string(0),
                ('\'', _) => self.quote(),
                ('b', Some('"')) => {
                    self.bump(true);
                    self.string(0);
                }
                ('b', Some('\'')) => {
                    self.bump(true);
                    self.quote();
                }
                (c, _) if c == 'r' || (c == 'b' && self.peek(1) == Some('r')) => {
                    if !self.raw_string() {
                        self.ident();
                    }
                }
                (c, _) if c.is_alphabetic() || c == '_' => self.ident(),
                (c, _) if c.is_ascii_digit() => self.number(),
                (':', Some(':')) => {
                    self.bump(true);
                    self.bump(true);
                    self.push(Kind::PathSep, String::new(), line);
                }
                (c, _) => {
                    self.bump(true);
                    self.push(Kind::Punct(c), String::new(), line);
                }
            }
        }
    }

    /// `/* ... */`, nested.
    fn block_comment(&mut self) {
        let mut depth = 0;
        while let Some(c) = self.peek(0) {
            match (c, self.peek(1)) {
                ('/', Some('*')) => {
                    depth += 1;
                    self.bump(false);
                }
                ('*', Some('/')) => {
                    depth -= 1;
                    self.bump(false);
                    if depth == 0 {
                        self.bump(false);
                        return;
                    }
                }
                _ => {}
            }
            self.bump(false);
        }
    }

    /// A string from its opening quote, closed by `"` and `hashes` `#`s
    /// (0 for an ordinary string, where `\` escapes).
    fn string(&mut self, hashes: usize) {
        let line = self.line;
        self.bump(true);
        while let Some(c) = self.peek(0) {
            if c == '\\' && hashes == 0 {
                self.bump(true);
            } else if c == '"' && (1..=hashes).all(|i| self.peek(i) == Some('#')) {
                for _ in 0..=hashes {
                    self.bump(true);
                }
                break;
            }
            self.bump(true);
        }
        self.push(Kind::Literal, String::new(), line);
    }

    /// `r"..."`, `r#"..."#`, `br"..."`: whether it was one.
    fn raw_string(&mut self) -> bool {
        let prefix = if self.peek(0) == Some('b') { 2 } else { 1 };
        let mut hashes = 0;
        while self.peek(prefix + hashes) == Some('#') {
            hashes += 1;
        }
        if self.peek(prefix + hashes) != Some('"') {
            return false;
        }
        for _ in 0..prefix + hashes {
            self.bump(true);
        }
        self.string(hashes);
        true
    }

    /// A char literal (`'x'`, `'\n'`, `'\u{..}'`) or a lifetime's quote.
    fn quote(&mut self) {
        let line = self.line;
        // `'\n'`, `'x'`; `'a` (a lifetime or label) has no closing quote.
        let literal = matches!(
            (self.peek(1), self.peek(2)),
            (Some('\\'), _) | (Some(_), Some('\''))
        );
        self.bump(true);
        if !literal {
            self.push(Kind::Punct('\''), String::new(), line);
            return;
        }
        if self.peek(0) == Some('\\') {
            self.bump(true);
        }
        self.bump(true);
        while self.peek(0).is_some_and(|c| c != '\'') {
            self.bump(true);
        }
        self.bump(true);
        self.push(Kind::Literal, String::new(), line);
    }

    fn ident(&mut self) {
        let line = self.line;
        let start = self.at;
        while self
            .peek(0)
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.bump(true);
        }
        let text = self.chars[start..self.at].iter().collect();
        self.push(Kind::Ident, text, line);
    }

    /// Digits, letters (suffixes, hex) and a `.` followed by a digit.
    fn number(&mut self) {
        let line = self.line;
        while let Some(c) = self.peek(0) {
            let fraction = c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit());
            if !(c.is_alphanumeric() || c == '_' || fraction) {
                break;
            }
            self.bump(true);
        }
        self.push(Kind::Literal, String::new(), line);
    }
}
