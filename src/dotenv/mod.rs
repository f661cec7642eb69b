//! The lossless .env document: parse, render byte for byte, and edit single entries.

mod parse;
pub mod quote;

use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;

pub use quote::{Peer, Style};

/// One parsed file: the entries and everything between them, kept verbatim.
#[derive(Clone, Default)]
pub struct Document {
    bom: bool,
    items: Vec<Item>,
}

/// A run of the file: a `KEY=value` entry, or trivia (blank lines, comments).
#[derive(Clone)]
pub enum Item {
    Entry(Entry),
    Trivia(String),
}

/// One `KEY=value` entry with its raw text (line ending and trailing comment included).
#[derive(Clone)]
pub struct Entry {
    raw: String,
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
    /// The semantic value when it differs from the raw value text.
    value: Option<String>,
    export: bool,
    line: u32,
}

impl Entry {
    pub fn key(&self) -> &str {
        &self.raw[self.key_start as usize..self.key_end as usize]
    }

    /// The value as dotenvy reads it, without variable expansion.
    pub fn value(&self) -> &str {
        match &self.value {
            Some(v) => v,
            None => self.raw_value(),
        }
    }

    /// The value exactly as written in the file (quotes and escapes included).
    pub fn raw_value(&self) -> &str {
        &self.raw[self.value_start as usize..self.value_end as usize]
    }

    /// The 1-based line the entry starts on (as parsed; edits do not renumber).
    pub fn line(&self) -> usize {
        self.line as usize
    }

    /// Whether the entry carries an `export ` prefix.
    pub fn is_exported(&self) -> bool {
        self.export
    }

    /// The entry's full text, line ending included.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

// Values and trivia may hold secrets (a commented-out old password), so Debug shows neither.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key())
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Entry(e) => e.fmt(f),
            Item::Trivia(t) => write!(f, "Trivia({} bytes)", t.len()),
        }
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("bom", &self.bom)
            .field("items", &self.items)
            .finish()
    }
}

/// What is wrong with an input that cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    BadKeyStart,
    ExpectedEquals,
    UnquotedWhitespace,
    BadEscape(char),
    UnterminatedQuote(char),
    TrailingBackslash,
    InvalidUtf8,
    NulByte,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::BadKeyStart => f.write_str("expected a key name"),
            ParseErrorKind::ExpectedEquals => f.write_str("expected `=` after the key"),
            ParseErrorKind::UnquotedWhitespace => {
                f.write_str("whitespace inside an unquoted value")
            }
            ParseErrorKind::BadEscape(c) => {
                write!(f, "unsupported escape `\\{}` in a value", c.escape_debug())
            }
            ParseErrorKind::UnterminatedQuote(q) => write!(
                f,
                "unterminated {} value: the quote opened here is never closed",
                if *q == '\'' {
                    "single-quoted"
                } else {
                    "double-quoted"
                }
            ),
            ParseErrorKind::TrailingBackslash => f.write_str("the file ends inside a `\\` escape"),
            ParseErrorKind::InvalidUtf8 => f.write_str("not valid UTF-8 text"),
            ParseErrorKind::NulByte => f.write_str("contains a NUL byte"),
        }
    }
}

impl ParseErrorKind {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ParseErrorKind::BadKeyStart => {
                "a key starts with a letter or `_` and holds letters, digits, `_` and `.`; comment lines start with `#`"
            }
            ParseErrorKind::ExpectedEquals => "write entries as KEY=value",
            ParseErrorKind::UnquotedWhitespace => {
                "quote the value (KEY=\"a b\"), or put whitespace before `#` to start a comment"
            }
            ParseErrorKind::BadEscape(_) => {
                "supported escapes are \\n \\\\ \\\" \\' \\$ and `\\ `; inside single quotes a backslash is literal"
            }
            ParseErrorKind::UnterminatedQuote(_) => {
                "close the quote; a quote inside a value needs a backslash (\\\") or the other quote style"
            }
            ParseErrorKind::TrailingBackslash => "remove the trailing `\\` or add the escaped character",
            ParseErrorKind::InvalidUtf8 | ParseErrorKind::NulByte => {
                "env files are UTF-8 text; is this a binary file, or the wrong path?"
            }
        }
    }
}

/// A parse failure with its position. `line_text` is the raw line: show it only through
/// [`ParseError::masked_line`], since it may hold a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ParseError {
    pub path: Option<PathBuf>,
    pub line: usize,
    pub column: usize,
    pub kind: ParseErrorKind,
    line_text: String,
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("path", &self.path)
            .field("line", &self.line)
            .field("column", &self.column)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}:", p.display())?;
        }
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// The mask shown in place of a secret.
pub const MASK: &str = "••••••";

impl ParseError {
    /// Attaches the file the text came from.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The offending line with everything after the key name masked; a line that does not
    /// start with a key (a continuation of a quoted value) is masked whole.
    pub fn masked_line(&self) -> String {
        let t = &self.line_text;
        let mut i = t.len() - t.trim_start().len();
        let body = &t[i..];
        if let Some(rest) = body.strip_prefix("export") {
            if rest.starts_with([' ', '\t']) {
                i += "export".len();
                i = t.len() - t[i..].trim_start().len();
            }
        }
        let key_len = t[i..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            .count();
        if key_len == 0 || !t[i..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return if t.trim().is_empty() {
                String::new()
            } else {
                MASK.to_owned()
            };
        }
        let mut end = i + key_len;
        end = t.len() - t[end..].trim_start().len();
        let mut out = t[..end].to_owned();
        if t[end..].starts_with('=') {
            out.push('=');
            if t.len() > end + 1 {
                out.push_str(MASK);
            }
        } else if end < t.len() {
            out.push_str(MASK);
        }
        out
    }
}

/// A problem with an edit request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    #[error("invalid key name `{0}`")]
    InvalidKey(String),
}

/// Whether `key` is a name the parser reads back as a key.
pub fn is_valid_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && key != "export"
}

/// A key that appears more than once; the last occurrence is the effective one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub lines: Vec<usize>,
}

const BOM: &str = "\u{feff}";

impl Document {
    /// Parses UTF-8 text. Every accepted input renders back byte for byte.
    pub fn parse(src: &str) -> Result<Document, ParseError> {
        let (bom, body) = match src.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, src),
        };
        if let Some(at) = body.find('\0') {
            let (line, column) = parse::line_col(body, at);
            return Err(ParseError {
                path: None,
                line,
                column,
                kind: ParseErrorKind::NulByte,
                line_text: String::new(),
            });
        }
        Ok(Document {
            bom,
            items: parse::parse_items(body)?,
        })
    }

    /// Parses raw bytes, rejecting invalid UTF-8 with the position of the first bad byte.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Document, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Document::parse(s),
            Err(e) => {
                let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
                let (line, column) = parse::line_col(good, good.len());
                Err(ParseError {
                    path: None,
                    line,
                    column,
                    kind: ParseErrorKind::InvalidUtf8,
                    line_text: String::new(),
                })
            }
        }
    }

    /// The file's text, identical to the parsed input where nothing was edited.
    pub fn render(&self) -> String {
        let len = self.bom as usize * 3
            + self
                .items
                .iter()
                .map(|i| match i {
                    Item::Entry(e) => e.raw.len(),
                    Item::Trivia(t) => t.len(),
                })
                .sum::<usize>();
        let mut out = String::with_capacity(len);
        if self.bom {
            out.push_str(BOM);
        }
        for item in &self.items {
            out.push_str(match item {
                Item::Entry(e) => &e.raw,
                Item::Trivia(t) => t,
            });
        }
        out
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Every entry in file order, duplicates included.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            Item::Trivia(_) => None,
        })
    }

    /// The effective value of `key` (its last occurrence).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries()
            .filter(|e| e.key() == key)
            .last()
            .map(Entry::value)
    }

    /// The effective entry of `key` (its last occurrence).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().filter(|e| e.key() == key).last()
    }

    /// Effective values in the order keys first appear; the last occurrence wins.
    pub fn to_map(&self) -> IndexMap<&str, &str> {
        let mut map = IndexMap::with_capacity(self.items.len());
        for e in self.entries() {
            map.insert(e.key(), e.value());
        }
        map
    }

    /// Keys that appear more than once, with every line they appear on.
    pub fn duplicates(&self) -> Vec<Duplicate> {
        let mut seen: IndexMap<&str, Vec<usize>> = IndexMap::new();
        for e in self.entries() {
            seen.entry(e.key()).or_default().push(e.line());
        }
        seen.into_iter()
            .filter(|(_, lines)| lines.len() > 1)
            .map(|(k, lines)| Duplicate {
                key: k.to_owned(),
                lines,
            })
            .collect()
    }

    /// The line ending new lines get: the file's first one, else `\n`.
    pub fn eol(&self) -> &'static str {
        for item in &self.items {
            let t = match item {
                Item::Entry(e) => &e.raw,
                Item::Trivia(t) => t,
            };
            if t.ends_with("\r\n") {
                return "\r\n";
            }
            if t.ends_with('\n') {
                return "\n";
            }
        }
        "\n"
    }

    fn last_index_of(&self, key: &str) -> Option<usize> {
        self.items
            .iter()
            .rposition(|i| matches!(i, Item::Entry(e) if e.key() == key))
    }

    /// Sets `key` to `value`: the effective entry is rewritten in place (its quoting style kept
    /// when the value allows it), else a new entry is appended. Returns the readers that would
    /// read the written value differently (empty when all agree).
    pub fn set(&mut self, key: &str, value: &str) -> Result<Vec<Peer>, EditError> {
        check_key(key)?;
        let Some(idx) = self.last_index_of(key) else {
            return self.insert(key, value, None);
        };
        let Item::Entry(old) = &self.items[idx] else {
            unreachable!("last_index_of returns entries")
        };
        if old.value() == value {
            return Ok(Vec::new());
        }
        let rendered = quote::render(value, Some(Style::of_raw(old.raw_value())));
        let (vs, ve) = (old.value_start as usize, old.value_end as usize);
        let mut after = &old.raw[ve..];
        // An empty value followed directly by a comment needs a separating blank.
        let mut sep = "";
        if vs == ve && after.starts_with('#') {
            sep = " ";
        }
        let mut raw = String::with_capacity(old.raw.len() + rendered.text.len());
        raw.push_str(&old.raw[..vs]);
        raw.push_str(&rendered.text);
        raw.push_str(sep);
        raw.push_str(after);
        let new = reparse_entry(&raw, old.line).filter(|e| e.key() == key && e.value() == value);
        let entry = match new {
            Some(e) => e,
            None => {
                // The surrounding text does not combine with the new value (rare layouts):
                // write a plain entry, keeping the line ending.
                after = eol_of(&old.raw);
                let prefix = if old.export { "export " } else { "" };
                let raw = format!("{prefix}{key}={}{after}", rendered.text);
                reparse_entry(&raw, old.line).expect("a rendered entry parses")
            }
        };
        self.items[idx] = Item::Entry(entry);
        Ok(rendered.disagree)
    }

    /// Inserts a new entry after the effective entry of `after` (or at the end when `after` is
    /// `None` or absent). Returns the readers that would read the value differently.
    pub fn insert(
        &mut self,
        key: &str,
        value: &str,
        after: Option<&str>,
    ) -> Result<Vec<Peer>, EditError> {
        check_key(key)?;
        let eol = self.eol();
        let anchor = after.and_then(|a| self.last_index_of(a));
        let at = match anchor {
            Some(i) => i + 1,
            None => self.items.len(),
        };
        // The item before the new line must end with a line ending.
        if at > 0 {
            let prev = match &mut self.items[at - 1] {
                Item::Entry(e) => &mut e.raw,
                Item::Trivia(t) => t,
            };
            if !prev.ends_with('\n') {
                prev.push_str(eol);
            }
        }
        let export = match anchor {
            Some(i) => matches!(&self.items[i], Item::Entry(e) if e.export),
            None => false,
        };
        let rendered = quote::render(value, None);
        let prefix = if export { "export " } else { "" };
        let raw = format!("{prefix}{key}={}{eol}", rendered.text);
        let entry = reparse_entry(&raw, 0).expect("a rendered entry parses");
        self.items.insert(at, Item::Entry(entry));
        Ok(rendered.disagree)
    }

    /// Removes every occurrence of `key` (so an old value cannot resurface); returns how many.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.items.len();
        self.items
            .retain(|i| !matches!(i, Item::Entry(e) if e.key() == key));
        before - self.items.len()
    }
}

fn check_key(key: &str) -> Result<(), EditError> {
    if is_valid_key(key) {
        Ok(())
    } else {
        Err(EditError::InvalidKey(key.to_owned()))
    }
}

fn eol_of(raw: &str) -> &'static str {
    if raw.ends_with("\r\n") {
        "\r\n"
    } else if raw.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}

/// Parses the text of one entry; `None` when it is not exactly one entry.
fn reparse_entry(raw: &str, line: u32) -> Option<Entry> {
    let mut items = parse::parse_items(raw).ok()?;
    if items.len() != 1 {
        return None;
    }
    match items.pop() {
        Some(Item::Entry(mut e)) => {
            e.line = line;
            Some(e)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
