//! The lossless dotenv parser: splits a file into entries and trivia, keeping every byte.
//!
//! The grammar follows dotenvy 0.15.7 in two stages, so that the value of every entry equals
//! dotenvy's for every input dotenvy accepts (variable expansion aside, which envault never does
//! at parse time): first physical lines are joined into logical lines while a quote is open,
//! then each logical line is read as `[export] KEY = value [# comment]`.
//! See docs/dotenv-dialect.md for the grammar and every deviation.

use std::sync::Arc;

use super::{Buf, Entry, Item, ParseError, ParseErrorKind, Text, Unescaped};

/// Where the line splitter stands at the end of a physical line (dotenvy's `ParseState`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Complete,
    Escape,
    StrongOpen,
    StrongOpenEscape,
    WeakOpen,
    WeakOpenEscape,
    WhiteSpace,
}

/// Length in bytes of the UTF-8 character starting with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// A table of the bytes that stop a scan: every non-ASCII byte, and `stops`.
const fn stop_table(stops: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = true;
        i += 1;
    }
    let mut j = 0;
    while j < stops.len() {
        t[stops[j] as usize] = true;
        j += 1;
    }
    t
}

/// Bytes that can change the splitter's Complete state or end a line.
const COMPLETE_STOPS: [bool; 256] =
    stop_table(&[b'\\', b'"', b'\'', b' ', b'\t', 0x0b, 0x0c, b'\n']);

/// Runs the line splitter over the physical line starting at `from`. Returns the state at the
/// line's end, or `Err(pos)` when an unquoted `#` after whitespace starts a comment at `pos`,
/// together with the end of the line (just after its `\n`, or the end of input).
fn scan_line(mut state: State, src: &str, from: usize) -> (Result<State, usize>, usize) {
    let b = src.as_bytes();
    let mut i = from;
    while i < b.len() {
        // Fast paths: skip the runs of bytes that leave the state as it is.
        let skip = match state {
            State::Complete => b[i..].iter().position(|&c| COMPLETE_STOPS[c as usize]),
            State::WeakOpen => memchr::memchr3(b'\\', b'"', b'\n', &b[i..]),
            State::StrongOpen => memchr::memchr3(b'\\', b'\'', b'\n', &b[i..]),
            _ => Some(0),
        };
        match skip {
            Some(n) => i += n,
            None => break,
        }
        let c = b[i];
        state = match state {
            State::WhiteSpace => match c {
                b'#' => return (Err(i), line_end(b, i)),
                b'\\' => State::Escape,
                b'"' => State::WeakOpen,
                b'\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::Escape => State::Complete,
            State::Complete => match c {
                b'\\' => State::Escape,
                b'"' => State::WeakOpen,
                b'\'' => State::StrongOpen,
                b' ' | b'\t' | 0x0b | 0x0c => State::WhiteSpace,
                0x80.. if src[i..].starts_with(char::is_whitespace) => State::WhiteSpace,
                _ => State::Complete,
            },
            State::WeakOpen => match c {
                b'\\' => State::WeakOpenEscape,
                b'"' => State::Complete,
                _ => State::WeakOpen,
            },
            State::WeakOpenEscape => State::WeakOpen,
            State::StrongOpen => match c {
                b'\\' => State::StrongOpenEscape,
                b'\'' => State::Complete,
                _ => State::StrongOpen,
            },
            State::StrongOpenEscape => State::StrongOpen,
        };
        // The splitter works on characters: an escape consumes a whole one.
        i += if c < 0x80 { 1 } else { utf8_len(c) };
        if c == b'\n' {
            return (Ok(state), i);
        }
    }
    (Ok(state), b.len())
}

/// The end of the physical line containing byte `from` (just after its `\n`).
fn line_end(b: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &b[from..]).map_or(b.len(), |i| from + i + 1)
}

/// Whether the physical line at `start` is a comment: its first non-blank character is `#`.
fn is_comment_line(src: &str, start: usize) -> bool {
    let b = src.as_bytes();
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'#' => return true,
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            0x80.. => match src[i..].chars().next() {
                Some(c) if c.is_whitespace() => i += c.len_utf8(),
                _ => return false,
            },
            _ => return false,
        }
    }
    false
}

/// Strips one trailing `\n` or `\r\n`.
pub(super) fn strip_eol(s: &str) -> &str {
    match s.strip_suffix('\n') {
        Some(s) => s.strip_suffix('\r').unwrap_or(s),
        None => s,
    }
}

/// The outcome of reading one value (dotenvy's `parse_value` without substitution).
struct Value {
    /// The semantic value, when it is not the raw text itself.
    unescaped: Unescaped,
    /// Byte length of the raw value text (a trailing ` # comment` excluded).
    raw_len: usize,
}

/// Errors inside a value carry the byte offset within the value text.
struct ValueError {
    offset: usize,
    kind: ParseErrorKind,
}

/// The value without unescaping, when it needs none: most values are plain unquoted words,
/// or one quoted run with nothing after it and no escape inside.
fn simple_value(input: &str) -> Option<Value> {
    if !input
        .bytes()
        .any(|b| matches!(b, b'\'' | b'"' | b'\\' | b' ' | b'\t'))
    {
        return Some(Value {
            unescaped: Unescaped::Raw,
            raw_len: input.len(),
        });
    }
    let b = input.as_bytes();
    let close = match b[0] {
        b'\'' => memchr::memchr(b'\'', &b[1..]),
        b'"' => memchr::memchr2(b'"', b'\\', &b[1..]).filter(|&i| b[1 + i] == b'"'),
        _ => None,
    };
    (b.len() >= 2 && close == Some(b.len() - 2)).then_some(Value {
        unescaped: Unescaped::InsideQuotes,
        raw_len: input.len(),
    })
}

fn parse_value(input: &str) -> Result<Value, ValueError> {
    if let Some(v) = simple_value(input) {
        return Ok(v);
    }
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut strong = false;
    let mut weak = false;
    let mut escaped = false;
    let mut end_at: Option<usize> = None;
    let mut quote_open_at = 0;
    let mut i = 0;
    // Runs of ordinary characters are copied whole; every special character is ASCII, so
    // each cut falls on a character boundary.
    while i < b.len() {
        if let Some(end) = end_at {
            match b[i] {
                b' ' | b'\t' => i += 1,
                b'#' => break,
                _ => {
                    return Err(ValueError {
                        offset: end,
                        kind: ParseErrorKind::UnquotedWhitespace,
                    })
                }
            }
        } else if escaped {
            let c = input[i..].chars().next().unwrap_or('\0');
            match c {
                '\\' | '\'' | '"' | '$' | ' ' => out.push(c),
                'n' => out.push('\n'),
                _ => {
                    return Err(ValueError {
                        offset: i - 1,
                        kind: ParseErrorKind::BadEscape(c),
                    })
                }
            }
            escaped = false;
            i += c.len_utf8();
        } else if strong {
            let n = memchr::memchr(b'\'', &b[i..]).unwrap_or(b.len() - i);
            out.push_str(&input[i..i + n]);
            strong = i + n == b.len();
            i += n + 1;
        } else if weak {
            let n = memchr::memchr2(b'"', b'\\', &b[i..]).unwrap_or(b.len() - i);
            out.push_str(&input[i..i + n]);
            match b.get(i + n) {
                Some(b'"') => weak = false,
                Some(_) => escaped = true,
                None => {}
            }
            i += n + 1;
        } else {
            let n = b[i..]
                .iter()
                .position(|c| matches!(c, b'\'' | b'"' | b'\\' | b' ' | b'\t'))
                .unwrap_or(b.len() - i);
            out.push_str(&input[i..i + n]);
            i += n;
            match b.get(i) {
                Some(b'\'') => {
                    strong = true;
                    quote_open_at = i;
                }
                Some(b'"') => {
                    weak = true;
                    quote_open_at = i;
                }
                Some(b'\\') => escaped = true,
                Some(_) => end_at = Some(i),
                None => break,
            }
            i += 1;
        }
    }
    if strong || weak {
        return Err(ValueError {
            offset: quote_open_at,
            kind: ParseErrorKind::UnterminatedQuote(if strong { '\'' } else { '"' }),
        });
    }
    let raw_len = end_at.unwrap_or(input.len());
    let unescaped = if out.len() == raw_len && out.as_bytes() == &input.as_bytes()[..raw_len] {
        Unescaped::Raw
    } else {
        Unescaped::Owned(zeroize::Zeroizing::new(out))
    };
    Ok(Value { unescaped, raw_len })
}

fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

const fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn skip_ws(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        if b[i] < 0x80 && !(b[i] as char).is_whitespace() {
            break;
        }
        let c = s[i..].chars().next().unwrap_or('x');
        if !c.is_whitespace() {
            break;
        }
        i += c.len_utf8();
    }
    i
}

fn key_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let mut i = start;
    while i < b.len() && is_key_char(b[i]) {
        i += 1;
    }
    i
}

/// Converts a byte offset of the source into a 1-based line and (character) column.
pub(super) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Each entry's key hash and its position among the items, in file order.
pub(super) type KeyHashes = Vec<(u64, u32)>;

/// Bytes that end an unquoted value on the fast path: blanks, quotes, backslashes, line
/// endings and every non-ASCII byte (a non-ASCII blank can start a comment).
const UNQUOTED_STOPS: [bool; 256] =
    stop_table(&[b' ', b'\t', b'\\', b'"', b'\'', b'\n', b'\r', 0x0b, 0x0c]);

/// Bytes of a key: ASCII letters, digits, `_` and `.`.
const KEY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_key_char(i as u8);
        i += 1;
    }
    t
};

/// The end of a key starting at `i` (its first byte already known to be a letter or `_`).
fn fast_key_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && KEY_BYTES[b[i] as usize] {
        i += 1;
    }
    i
}

/// Where a one-line value's tail, starting at `i`, ends the line: at once (`\n`, `\r\n` or the
/// end of input), or after blanks and a `#` comment that the line splitter ends the line at. Returns the end of the line (past its
/// line ending), or `None` for any other tail.
fn fast_tail(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i) {
        None => Some(i),
        Some(b'\n') => Some(i + 1),
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => Some(i + 2),
        Some(b' ' | b'\t') => {
            let mut j = i + 1;
            while j < b.len() && matches!(b[j], b' ' | b'\t') {
                j += 1;
            }
            if b.get(j) != Some(&b'#') {
                return None;
            }
            // dotenvy's splitter flips between its blank and plain states on each blank, so
            // a `#` after an even number of blanks does not end the line for it: a quote or
            // backslash in such a comment would join lines. The value reads the same.
            let end = line_end(b, j);
            let odd = (j - i) % 2 == 1;
            (odd || memchr::memchr3(b'\\', b'"', b'\'', &b[j..end]).is_none()).then_some(end)
        }
        _ => None,
    }
}

/// The lines most files are made of, read in one pass: a blank line, a comment line, or
/// `[export ]KEY=value[ # comment]` on one line, the value unquoted without blanks or
/// backslashes, or quoted without escapes. Gives the item and the end of its line, or `None`
/// when the line is anything else: the full grammar then reads it, with the same result.
fn fast_line(shared: &Arc<Buf>, b: &[u8], start: usize) -> Option<(Item, usize)> {
    let first = *b.get(start)?;
    if first == b'#' {
        let end = line_end(b, start);
        return Some((Item::Trivia(Text::span(shared, start, end)), end));
    }
    if first == b'\n' {
        return Some((
            Item::Trivia(Text::span(shared, start, start + 1)),
            start + 1,
        ));
    }
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let mut key_start = start;
    let mut key_end = fast_key_end(b, start + 1);
    let mut export = false;
    if b.get(key_end) == Some(&b' ') && &b[start..key_end] == b"export" {
        let mut j = key_end + 1;
        while b.get(j) == Some(&b' ') {
            j += 1;
        }
        if !b
            .get(j)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        {
            return None;
        }
        export = true;
        key_start = j;
        key_end = fast_key_end(b, j + 1);
    }
    if b.get(key_end) != Some(&b'=') {
        return None;
    }
    let value_start = key_end + 1;
    let (value_end, unescaped) = match b.get(value_start) {
        None | Some(b'\n' | b'\r') => (value_start, Unescaped::Raw),
        Some(&q @ (b'\'' | b'"')) => {
            let close = value_start + 1 + memchr::memchr3(q, b'\\', b'\n', &b[value_start + 1..])?;
            if b[close] != q {
                return None;
            }
            (close + 1, Unescaped::InsideQuotes)
        }
        Some(b'#' | b' ' | b'\t') => return None,
        Some(_) => {
            let mut i = value_start;
            while i < b.len() && !UNQUOTED_STOPS[b[i] as usize] {
                i += 1;
            }
            (i, Unescaped::Raw)
        }
    };
    let end = fast_tail(b, value_end)?;
    let rel = |i: usize| (i - start) as u32;
    let entry = Entry {
        raw: Text::span(shared, start, end),
        key_start: rel(key_start),
        key_end: rel(key_end),
        value_start: rel(value_start),
        value_end: rel(value_end),
        value: unescaped,
        export,
        line: 0,
    };
    Some((Item::Entry(entry), end))
}

/// Parses `shared` from byte `from` (past a BOM) into items. When `opaque` is given, a line
/// that does not parse is kept as it is (a trivia item) and recorded there, with its error,
/// instead of failing the whole text: the first physical line of the entry that fails, so
/// that the lines after it are read on their own.
///
/// Returns the items and, for each entry, its key's hash and position, for the key index.
pub(super) fn parse_items(
    shared: &Arc<Buf>,
    from: usize,
    opaque: Option<&mut Vec<super::Opaque>>,
) -> Result<(Vec<Item>, KeyHashes), ParseError> {
    parse_items_with(shared, from, opaque, true)
}

/// `parse_items`, with the fast path for common lines (`fast`) or the full grammar only.
fn parse_items_with(
    shared: &Arc<Buf>,
    from: usize,
    mut opaque: Option<&mut Vec<super::Opaque>>,
    fast: bool,
) -> Result<(Vec<Item>, KeyHashes), ParseError> {
    let src: &str = shared;
    let bytes = src.as_bytes();
    let mut items = Vec::with_capacity(src.len() / 40 + 1);
    let mut keys = Vec::with_capacity(src.len() / 48 + 1);
    let mut pos = from;
    let mut line_no = 1usize;
    while pos < src.len() {
        let start = pos;
        let start_line = line_no;
        if let Some((mut item, end)) = fast.then(|| fast_line(shared, bytes, start)).flatten() {
            if let Item::Entry(e) = &mut item {
                e.line = start_line as u32;
                keys.push((super::key_hash(e.key()), items.len() as u32));
            }
            items.push(item);
            pos = end;
            line_no += 1;
            continue;
        }
        if is_comment_line(src, start) {
            let end = line_end(bytes, start);
            items.push(Item::Trivia(Text::span(shared, start, end)));
            pos = end;
            line_no += 1;
            continue;
        }
        let first_end = line_end(bytes, start);
        let first = &bytes[start..first_end];
        // Most lines hold no quote, backslash or `#`: then the splitter cannot leave its
        // Complete state, and the line is a whole logical line without a comment.
        let plain = memchr::memchr3(b'\\', b'"', b'\'', first).is_none()
            && memchr::memchr(b'#', first).is_none();
        // Join physical lines while a quote is open.
        let mut state = State::Complete;
        let mut lines = 0;
        // The logical line's end and where its content ends, or, when a quote is still open
        // at the end of the input, the end and the state.
        let span: Result<(usize, usize), (usize, State)> = if plain {
            lines = 1;
            Ok((first_end, start + strip_eol(&src[start..first_end]).len()))
        } else {
            loop {
                let (scan, end) = scan_line(state, src, pos);
                lines += 1;
                match scan {
                    // A comment ends the logical line; the comment stays in the entry's text.
                    Err(hash_at) => break Ok((end, hash_at)),
                    Ok(State::Complete) => {
                        break Ok((end, start + strip_eol(&src[start..end]).len()))
                    }
                    // Blanks at the very end of the input (dotenvy rejects a lone trailing blank).
                    Ok(State::WhiteSpace) if end >= src.len() => break Ok((end, end)),
                    Ok(s) if end >= src.len() => break Err((end, s)),
                    Ok(s) => state = s,
                }
                pos = end;
            }
        };
        let (end, parsed) = match span {
            Ok((end, content_end)) => {
                let content = src[start..content_end].trim_end();
                let raw = Text::span(shared, start, end);
                (end, parse_logical(src, start, content, raw, start_line))
            }
            Err((end, s)) => (end, Err(unterminated(src, start, end, s))),
        };
        match (parsed, opaque.as_deref_mut()) {
            (Ok(item), _) => {
                if let Item::Entry(e) = &item {
                    keys.push((super::key_hash(e.key()), items.len() as u32));
                }
                items.push(item);
                pos = end;
                line_no = start_line + lines;
            }
            (Err(e), Some(opaque)) => {
                items.push(Item::Trivia(Text::span(shared, start, first_end)));
                opaque.push(super::Opaque {
                    line: start_line,
                    text: strip_eol(&src[start..first_end]).to_owned(),
                    error: e,
                    exports_set: false,
                });
                pos = first_end;
                line_no = start_line + 1;
            }
            (Err(e), None) => return Err(e),
        }
    }
    Ok((items, keys))
}

fn unterminated(src: &str, start: usize, end: usize, state: State) -> ParseError {
    let text = &src[start..end];
    // Reading the whole rest as one entry finds the first real problem: a missing `=`, a bad
    // escape, or the quote that never closed (reported where it opened).
    if let Err(e) = parse_logical(src, start, text.trim_end(), Text::owned(String::new()), 0) {
        return e;
    }
    let at = start + text.trim_end().char_indices().last().map_or(0, |(i, _)| i);
    let kind = if state == State::Escape {
        ParseErrorKind::TrailingBackslash
    } else {
        ParseErrorKind::UnterminatedQuote('"')
    };
    error_at(src, start, at, kind)
}

/// The error `kind` at byte `offset` of `src`, in the entry that starts at `entry_start`.
fn error_at(src: &str, entry_start: usize, offset: usize, kind: ParseErrorKind) -> ParseError {
    // Positions count from after a byte-order mark.
    let (src, offset, entry_start) = match src.strip_prefix('\u{feff}') {
        // An error on the mark itself (text read without skipping it) is at the start.
        Some(rest) => (
            rest,
            offset.saturating_sub(3),
            entry_start.saturating_sub(3),
        ),
        None => (src, offset, entry_start),
    };
    let (line, column) = line_col(src, offset);
    let line_start = src[..offset.min(src.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_text = strip_eol(&src[line_start..line_end(src.as_bytes(), line_start)]).to_owned();
    ParseError {
        path: None,
        line,
        column,
        kind,
        line_text,
        continuation: line_start > entry_start,
    }
}

/// Parses one logical line; `content` is its text without comment and trailing blanks.
fn parse_logical(
    src: &str,
    start: usize,
    content: &str,
    raw: Text,
    line: usize,
) -> Result<Item, ParseError> {
    let i = skip_ws(content, 0);
    if i == content.len() || content[i..].starts_with('#') {
        return Ok(Item::Trivia(raw));
    }
    let err = |at: usize, kind| Err(error_at(src, start, start + at, kind));
    if !content[i..].starts_with(is_key_start) {
        return err(i, ParseErrorKind::BadKeyStart);
    }
    let mut key_start = i;
    let mut kend = key_end(content, i);
    let mut j = skip_ws(content, kend);
    let mut export = false;
    if &content[key_start..kend] == "export" && !content[j..].starts_with('=') {
        // `export KEY=value`
        export = true;
        if !content[j..].starts_with(is_key_start) {
            return err(j, ParseErrorKind::BadKeyStart);
        }
        key_start = j;
        kend = key_end(content, j);
        j = skip_ws(content, kend);
    }
    if !content[j..].starts_with('=') {
        return err(j, ParseErrorKind::ExpectedEquals);
    }
    let value_start = skip_ws(content, j + 1);
    let (unescaped, value_end) =
        if value_start == content.len() || content[value_start..].starts_with('#') {
            (Unescaped::Raw, value_start)
        } else {
            match parse_value(&content[value_start..]) {
                Ok(v) => (v.unescaped, value_start + v.raw_len),
                Err(e) => return err(value_start + e.offset, e.kind),
            }
        };
    Ok(Item::Entry(Entry {
        raw,
        key_start: key_start as u32,
        key_end: kend as u32,
        value_start: value_start as u32,
        value_end: value_end as u32,
        value: unescaped,
        export,
        line: line as u32,
    }))
}

/// Reads a single value text as dotenvy would (no expansion); used to check rendered values.
#[cfg(test)]
pub(super) fn read_value(text: &str) -> Option<String> {
    let src = Arc::new(Buf(format!("K={text}\n")));
    match parse_items(&src, 0, None).ok()?.0.as_slice() {
        [Item::Entry(e)] => Some(e.value().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// Everything a parse gives, as plain data: per item its text and, for an entry, its
    /// offsets, the kind of its value, the value, `export` and its line; or the error.
    fn outcome(src: &str, fast: bool) -> String {
        let shared = Arc::new(Buf(src.to_owned()));
        let from = if src.starts_with('\u{feff}') { 3 } else { 0 };
        let mut opaque = Vec::new();
        let parsed = parse_items_with(&shared, from, Some(&mut opaque), fast);
        let strict = parse_items_with(&shared, from, None, fast).map(|(_, k)| k);
        let (items, keys) = match parsed {
            Ok(p) => p,
            Err(e) => return format!("error {e:?}"),
        };
        let mut out = format!("keys {keys:?} strict {strict:?}\n");
        for item in &items {
            match item {
                Item::Trivia(t) => out += &format!("trivia {:?}\n", t.as_str()),
                Item::Entry(e) => {
                    let kind = match &e.value {
                        Unescaped::Raw => "raw",
                        Unescaped::InsideQuotes => "quoted",
                        Unescaped::Owned(_) => "owned",
                    };
                    out += &format!(
                        "entry {:?} {}..{} {}..{} {kind} {:?} export={} line={}\n",
                        e.raw.as_str(),
                        e.key_start,
                        e.key_end,
                        e.value_start,
                        e.value_end,
                        e.value(),
                        e.export,
                        e.line
                    );
                }
            }
        }
        for o in &opaque {
            out += &format!("opaque {} {:?} {:?}\n", o.line, o.text, o.error);
        }
        out
    }

    /// The fast path reads every line exactly as the full grammar does: lines built from the
    /// pieces real files use, alone and followed by each other, each with every line ending.
    #[test]
    fn the_fast_path_reads_every_line_as_the_full_grammar() {
        let keys = [
            "A",
            "_a.b9",
            "export",
            "export A",
            "export  B",
            "export\tA",
            "A B",
            "9A",
            "é",
        ];
        let seps = ["=", " =", "= ", ":"];
        let values = [
            "",
            "v",
            "v#x",
            "#x",
            "a=b$c`d",
            "'q'",
            "'q\\'",
            "'a\"b'",
            "\"q\"",
            "\"a'b\"",
            "\"a\\nb\"",
            "\"open",
            "'open",
            "a b",
            "é",
            "a\u{a0}#b",
            "a\\ b",
            "'x'y",
            "\"x\"'y'",
            "\u{b}x",
            "x\u{c}",
        ];
        let tails = [
            "",
            " # c",
            "  #c 'x\"",
            "   #c 'x",
            "  # c \\",
            "\t# c",
            " x",
            " ",
            " #",
            "\u{a0}# c",
            "#c",
        ];
        let eols = ["\n", "\r\n", "", "\r", "\n\n", "\n# note\n", "\n\"\n"];
        let mut lines = Vec::new();
        for k in keys {
            for s in seps {
                for v in values {
                    for t in tails {
                        lines.push(format!("{k}{s}{v}{t}"));
                    }
                }
            }
        }
        lines.extend(["#c", "  # c", "", " ", "\u{feff}A=1", "\u{a0}"].map(String::from));
        let mut checked = 0;
        for (n, line) in lines.iter().enumerate() {
            for eol in eols {
                // Each line, then followed by another (so quotes left open span lines).
                let next = &lines[(n * 7919) % lines.len()];
                for src in [format!("{line}{eol}"), format!("{line}{eol}{next}\n")] {
                    assert_eq!(outcome(&src, true), outcome(&src, false), "{src:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 50_000, "{checked}");
    }
}
