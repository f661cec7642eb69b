//! The lossless dotenv parser: splits a file into entries and trivia, keeping every byte.
//!
//! The grammar follows dotenvy 0.15.7 in two stages, so that the value of every entry equals
//! dotenvy's for every input dotenvy accepts (variable expansion aside, which envault never does
//! at parse time): first physical lines are joined into logical lines while a quote is open,
//! then each logical line is read as `[export] KEY = value [# comment]`.
//! See docs/dotenv-dialect.md for the grammar and every deviation.

use super::{Entry, Item, ParseError, ParseErrorKind};

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

/// Runs the line splitter over one physical line; `Err(pos)` means an unquoted `#` after
/// whitespace starts a comment at byte `pos` of `line`.
fn eval_end_state(mut state: State, line: &str) -> Result<State, usize> {
    for (pos, c) in line.char_indices() {
        state = match state {
            State::WhiteSpace => match c {
                '#' => return Err(pos),
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::Escape => State::Complete,
            State::Complete => match c {
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                c if c.is_whitespace() && c != '\n' && c != '\r' => State::WhiteSpace,
                _ => State::Complete,
            },
            State::WeakOpen => match c {
                '\\' => State::WeakOpenEscape,
                '"' => State::Complete,
                _ => State::WeakOpen,
            },
            State::WeakOpenEscape => State::WeakOpen,
            State::StrongOpen => match c {
                '\\' => State::StrongOpenEscape,
                '\'' => State::Complete,
                _ => State::StrongOpen,
            },
            State::StrongOpenEscape => State::StrongOpen,
        };
    }
    Ok(state)
}

/// Length of the physical line starting at `start`, its line ending included.
fn physical_line_end(src: &str, start: usize) -> usize {
    match memchr_newline(&src.as_bytes()[start..]) {
        Some(i) => start + i + 1,
        None => src.len(),
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Strips one trailing `\n` or `\r\n`.
fn strip_eol(s: &str) -> &str {
    match s.strip_suffix('\n') {
        Some(s) => s.strip_suffix('\r').unwrap_or(s),
        None => s,
    }
}

/// The outcome of reading one value (dotenvy's `parse_value` without substitution).
struct Value {
    /// The semantic value; `None` when it equals the raw text (no quotes, no escapes).
    unescaped: Option<String>,
    /// Byte length of the raw value text (a trailing ` # comment` excluded).
    raw_len: usize,
}

/// Errors inside a value carry the byte offset within the value text.
struct ValueError {
    offset: usize,
    kind: ParseErrorKind,
}

fn parse_value(input: &str) -> Result<Value, ValueError> {
    // Fast path: most values are plain unquoted words.
    if !input
        .bytes()
        .any(|b| matches!(b, b'\'' | b'"' | b'\\' | b' ' | b'\t'))
    {
        return Ok(Value {
            unescaped: None,
            raw_len: input.len(),
        });
    }
    let mut out = String::with_capacity(input.len());
    let mut strong = false;
    let mut weak = false;
    let mut escaped = false;
    let mut end_at: Option<usize> = None;
    let mut quote_open_at = 0;
    for (i, c) in input.char_indices() {
        if let Some(end) = end_at {
            match c {
                ' ' | '\t' => continue,
                '#' => break,
                _ => {
                    return Err(ValueError {
                        offset: end,
                        kind: ParseErrorKind::UnquotedWhitespace,
                    })
                }
            }
        } else if escaped {
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
        } else if strong {
            if c == '\'' {
                strong = false;
            } else {
                out.push(c);
            }
        } else if weak {
            match c {
                '"' => weak = false,
                '\\' => escaped = true,
                _ => out.push(c),
            }
        } else {
            match c {
                '\'' => {
                    strong = true;
                    quote_open_at = i;
                }
                '"' => {
                    weak = true;
                    quote_open_at = i;
                }
                '\\' => escaped = true,
                ' ' | '\t' => end_at = Some(i),
                _ => out.push(c),
            }
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
        None
    } else {
        Some(out)
    };
    Ok(Value { unescaped, raw_len })
}

fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_key_char(b: u8) -> bool {
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

/// Parses `src` (BOM already removed) into items.
pub(super) fn parse_items(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::with_capacity(src.len() / 40 + 1);
    let mut pos = 0;
    let mut line_no = 1usize;
    while pos < src.len() {
        let start = pos;
        let first_end = physical_line_end(src, pos);
        let first = &src[start..first_end];
        let start_line = line_no;
        // A physical line whose first non-blank character is `#` is a comment, whole.
        if first.trim_start().starts_with('#') {
            items.push(Item::Trivia(first.to_owned()));
            pos = first_end;
            line_no += 1;
            continue;
        }
        // Join physical lines while a quote is open.
        let mut state = State::Complete;
        let mut line_end = first_end;
        let content_end; // end of the logical line's content (before comment / line ending)
        loop {
            let phys = &src[pos..line_end];
            match eval_end_state(state, phys) {
                Err(hash_at) => {
                    content_end = pos + hash_at;
                    break;
                }
                Ok(s) => state = s,
            }
            if state == State::Complete {
                content_end = start + strip_eol(&src[start..line_end]).len();
                break;
            }
            if line_end >= src.len() {
                // End of input with a quote or escape still open.
                match state {
                    State::WhiteSpace => {
                        content_end = line_end;
                        break;
                    }
                    _ => return Err(unterminated(src, start, line_end, state)),
                }
            }
            pos = line_end;
            line_end = physical_line_end(src, pos);
        }
        let raw = &src[start..line_end];
        let content = src[start..content_end].trim_end();
        let item = parse_logical(src, start, content, raw, start_line)?;
        items.push(item);
        pos = line_end;
        line_no = start_line + raw.bytes().filter(|&b| b == b'\n').count();
    }
    Ok(items)
}

fn unterminated(src: &str, start: usize, end: usize, state: State) -> ParseError {
    let text = &src[start..end];
    // Reading the whole rest as one entry finds the first real problem: a missing `=`, a bad
    // escape, or the quote that never closed (reported where it opened).
    if let Err(e) = parse_logical(src, start, text.trim_end(), text, 0) {
        return e;
    }
    let at = start + text.trim_end().char_indices().last().map_or(0, |(i, _)| i);
    let kind = if state == State::Escape {
        ParseErrorKind::TrailingBackslash
    } else {
        ParseErrorKind::UnterminatedQuote('"')
    };
    error_at(src, at, kind)
}

fn error_at(src: &str, offset: usize, kind: ParseErrorKind) -> ParseError {
    let (line, column) = line_col(src, offset);
    let line_start = src[..offset.min(src.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_text = strip_eol(&src[line_start..physical_line_end(src, line_start)]).to_owned();
    ParseError {
        path: None,
        line,
        column,
        kind,
        line_text,
    }
}

/// Parses one logical line; `content` is its text without comment and trailing blanks.
fn parse_logical(
    src: &str,
    start: usize,
    content: &str,
    raw: &str,
    line: usize,
) -> Result<Item, ParseError> {
    let i = skip_ws(content, 0);
    if i == content.len() || content[i..].starts_with('#') {
        return Ok(Item::Trivia(raw.to_owned()));
    }
    let err = |at: usize, kind| Err(error_at(src, start + at, kind));
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
            (None, value_start)
        } else {
            match parse_value(&content[value_start..]) {
                Ok(v) => (v.unescaped, value_start + v.raw_len),
                Err(e) => return err(value_start + e.offset, e.kind),
            }
        };
    Ok(Item::Entry(Entry {
        raw: raw.to_owned(),
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
    let src = format!("K={text}\n");
    match parse_items(&src).ok()?.as_slice() {
        [Item::Entry(e)] => Some(e.value().to_owned()),
        _ => None,
    }
}
