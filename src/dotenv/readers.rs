//! How two other readers of env files read one line: node's dotenv (`parse`, 16 and later)
//! and python-dotenv (1.x, without interpolation). Used to say how a line that dotenvy refuses
//! is read by the apps that do read it; a test holds both to the real readers.

/// Node's dotenv reads a line with one regular expression:
/// `^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?$`,
/// then trims the value, strips one pair of matching quotes, and in a double-quoted value
/// turns `\n` and `\r` into line endings. A line it cannot match is skipped (`None`).
pub fn node_line(line: &str) -> Option<(String, String)> {
    node_match(line).map(|(k, v)| (k.to_owned(), node_unquote(v)))
}

/// node's dotenv on the lines of one entry, joined by `\n`: its reading when its expression
/// matches one quoted value across them (else it reads the first line on its own).
pub fn node_lines(text: &str) -> Option<(String, String)> {
    let (k, v) = node_match(text)?;
    v.contains('\n').then(|| (k.to_owned(), node_unquote(v)))
}

/// How node's dotenv reads a file's physical lines (split at every line ending, given without
/// them): its expression, applied over the whole text, matches at one line start after
/// another, and a quoted value may run over lines. Each match's lines and reading, in order.
pub fn node_statements(lines: &[&str]) -> Vec<Statement> {
    let joined = Joined::new(lines);
    let (text, line_of) = (joined.text.as_str(), |offset| joined.line_of(offset));
    let offset_in = |part: &str| part.as_ptr() as usize - text.as_ptr() as usize;
    let mut out = Vec::new();
    let mut line = 0;
    while line < lines.len() {
        let rest = &text[joined.starts[line]..];
        let Some((key, value)) = node_match(rest) else {
            line += 1;
            continue;
        };
        let first = line_of(offset_in(key));
        let last = line_of(offset_in(value) + value.len().saturating_sub(1)).max(first);
        out.push((
            first..last + 1,
            Some((key.to_owned(), Some(node_unquote(value)))),
        ));
        line = last + 1;
    }
    out
}

/// The key and the value text node's expression captures on `line`.
fn node_match(line: &str) -> Option<(&str, &str)> {
    let s = line.trim_start();
    let s = match s.strip_prefix("export") {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => s,
    };
    let key_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
        .unwrap_or(s.len());
    if key_len == 0 {
        return None;
    }
    let (key, rest) = s.split_at(key_len);
    let after_ws = rest.trim_start();
    let value_part = if let Some(v) = after_ws.strip_prefix('=') {
        v
    } else {
        // `KEY: value` needs at least one blank after the colon; the line ending counts.
        let v = rest.strip_prefix(':')?;
        if v.is_empty() {
            v
        } else if v.starts_with(char::is_whitespace) {
            &v[v.chars().next().map_or(0, char::len_utf8)..]
        } else {
            return None;
        }
    };
    Some((key, node_value(value_part)?))
}

/// The value from the text node's expression captured: trimmed, one pair of matching quotes
/// taken off, and in double quotes `\n` and `\r` turned into line endings.
fn node_unquote(value: &str) -> String {
    let value = value.trim();
    let first = value.chars().next();
    let mut out = match first {
        Some(q @ ('\'' | '"' | '`')) if value.len() >= 2 && value.ends_with(q) => {
            value[1..value.len() - 1].to_owned()
        }
        _ => value.to_owned(),
    };
    if first == Some('"') {
        out = out.replace("\\n", "\n").replace("\\r", "\r");
    }
    out
}

/// Whether `rest` is what the expression allows after a value: blanks, then maybe a comment.
fn node_tail(rest: &str) -> bool {
    // `$` holds at the end of any line: only the rest of this one counts.
    let rest = rest[..rest.find('\n').unwrap_or(rest.len())].trim_start();
    rest.is_empty() || rest.starts_with('#')
}

/// The value text the expression captures from `v` (what follows the separator), if the line
/// matches at all.
fn node_value(v: &str) -> Option<&str> {
    let lead = v.len() - v.trim_start().len();
    let body = &v[lead..];
    if let Some(q) = body
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"' | '`'))
    {
        // Greedy: escaped quotes are skipped first; then shorter matches, ending at an
        // escaped quote, are tried as the regex backtracks.
        let bytes = body.as_bytes();
        let q = q as u8;
        let mut ends = Vec::new();
        let mut i = 1;
        while i < bytes.len() {
            if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&q) {
                ends.push(i + 1);
                i += 2;
                continue;
            }
            if bytes[i] == q {
                ends.push(i);
                break;
            }
            i += 1;
        }
        for &end in ends.iter().rev() {
            if node_tail(&body[end + 1..]) {
                return Some(&v[..lead + end + 1]);
            }
        }
    }
    // `[^#\r\n]+`: an unquoted value ends at its line's end (`$` holds there). Lines are
    // split at every line ending before they get here; a `\n` is one that joined lines hold.
    let unquoted = &v[..v.find(['#', '\n']).unwrap_or(v.len())];
    if unquoted.is_empty() {
        return node_tail(v).then_some(&v[..0]);
    }
    Some(unquoted)
}

/// python-dotenv's parser on one line: `None` when it skips the line (an error, a comment, a
/// blank line); a bare key reads as the key without a value.
pub fn python_line(line: &str) -> Option<(String, Option<String>)> {
    python_statement(line).ok().map(|(r, _)| r)
}

/// How python-dotenv reads the physical lines of one entry whose value spans them (`text`:
/// the lines joined by `\n`).
pub enum PythonLines {
    /// One statement over all the lines (or none: skipped), read as [`python_line`].
    Joined(Option<(String, Option<String>)>),
    /// A quoted value closed on a later line and something other than a comment followed it:
    /// python-dotenv skips the whole statement, every line of it.
    Skipped,
    /// The first line is a statement (or an error) of its own; the lines after it are read
    /// afresh.
    Apart,
}

/// python-dotenv on the lines of one entry whose value spans them, joined by `\n`.
pub fn python_lines(text: &str) -> PythonLines {
    let first_line = text.find('\n').unwrap_or(text.len());
    match python_statement(text) {
        Ok((r, used)) if used >= text.len() => PythonLines::Joined(Some(r)),
        Err(at) if at > first_line => PythonLines::Skipped,
        _ => PythonLines::Apart,
    }
}

/// A statement a reader reads over a whole file: its line range and what it reads there
/// (`None`: nothing, such as python-dotenv's error, which it skips to the end of that line).
pub type Statement = (std::ops::Range<usize>, Option<(String, Option<String>)>);

/// A file's physical lines joined by `\n`, for the readers that read the whole text.
struct Joined {
    text: String,
    /// Where each line starts in `text`.
    starts: Vec<usize>,
}

impl Joined {
    fn new(lines: &[&str]) -> Joined {
        let mut starts = Vec::with_capacity(lines.len());
        let mut at = 0;
        for l in lines {
            starts.push(at);
            at += l.len() + 1;
        }
        Joined {
            text: lines.join("\n"),
            starts,
        }
    }

    /// The line holding byte `offset` of the text.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }
}

/// How python-dotenv reads a file's physical lines (split at every line ending, given without
/// them): its statements in order. Blank and comment lines are in none.
pub fn python_statements(lines: &[&str]) -> Vec<Statement> {
    let joined = Joined::new(lines);
    let (text, line_of) = (joined.text.as_str(), |offset| joined.line_of(offset));
    let next_line = |offset: usize| {
        text[offset..]
            .find('\n')
            .map_or(text.len(), |i| offset + i + 1)
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        pos += rest.len() - rest.trim_start().len();
        if pos >= text.len() {
            break;
        }
        if text[pos..].starts_with('#') {
            pos = next_line(pos);
            continue;
        }
        let (reading, end) = match python_statement(&text[pos..]) {
            Ok((r, used)) => (Some(r), pos + used),
            Err(at) => (None, next_line(pos + at)),
        };
        out.push((line_of(pos)..line_of(end.max(pos + 1) - 1) + 1, reading));
        pos = end;
    }
    out
}

/// python-dotenv's parser on the statement at the start of `text` (which may go on with more
/// lines): what it reads and how many bytes it takes, to the end of the line where it ends; or
/// the offset of the error (the parser then skips the rest of that line).
fn python_statement(text: &str) -> Result<((String, Option<String>), usize), usize> {
    let blank = |c: char| c.is_whitespace() && c != '\n' && c != '\r';
    let s = text.trim_start();
    let s = match s.strip_prefix("export") {
        Some(rest) if rest.starts_with(blank) => rest.trim_start_matches(blank),
        _ => s,
    };
    let at = |rest: &str| text.len() - rest.len();
    let (key, rest) = if let Some(q) = s.strip_prefix('\'') {
        let end = q.find('\'').filter(|e| *e > 0).ok_or(at(s))?;
        (&q[..end], &q[end + 1..])
    } else if s.starts_with('#') || s.is_empty() {
        return Err(at(s));
    } else {
        let end = s
            .find(|c: char| c == '=' || c == '#' || c.is_whitespace())
            .unwrap_or(s.len());
        if end == 0 {
            return Err(at(s));
        }
        s.split_at(end)
    };
    let rest = rest.trim_start_matches(blank);
    let (value, rest) = match rest.strip_prefix('=') {
        None => (None, rest),
        Some(v) => {
            let v = v.trim_start_matches(blank);
            let (value, rest) = python_value(v).ok_or(at(v))?;
            (Some(value), rest)
        }
    };
    // A comment, then the end of the line; anything else is an error and the line is skipped.
    let rest = rest.trim_start_matches(blank);
    let line_end = rest.find('\n').unwrap_or(rest.len());
    if !(line_end == 0 || rest.starts_with('#')) {
        return Err(at(rest));
    }
    let used = (at(rest) + line_end + 1).min(text.len());
    Ok(((key.to_owned(), value), used))
}

/// A value as python-dotenv reads it, and what follows it on the line.
fn python_value(v: &str) -> Option<(String, &str)> {
    match v.chars().next() {
        Some(q @ ('\'' | '"')) => {
            // `'((?:\\'|[^'])*)'`: greedy, it stops at the first quote not after a backslash;
            // without one, it backtracks to the last escaped quote, which then closes.
            let bytes = v.as_bytes();
            let (mut i, mut close, mut last_escaped) = (1, None, None);
            while i < bytes.len() {
                if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&(q as u8)) {
                    last_escaped = Some(i + 1);
                    i += 2;
                    continue;
                }
                if bytes[i] == q as u8 {
                    close = Some(i);
                    break;
                }
                i += 1;
            }
            let end = close.or(last_escaped)?;
            let escapes: &[char] = if q == '\'' {
                &['\\', '\'']
            } else {
                &['\\', '\'', '"', 'a', 'b', 'f', 'n', 'r', 't', 'v']
            };
            Some((decode_escapes(&v[1..end], escapes), &v[end + 1..]))
        }
        None => Some((String::new(), "")),
        Some(_) => {
            // The rest of the line, without a comment that follows a blank, right-trimmed.
            let line_end = v.find('\n').unwrap_or(v.len());
            let (v, after) = v.split_at(line_end);
            let cut = v
                .char_indices()
                .find(|&(i, c)| c == '#' && i > 0 && v[..i].ends_with(char::is_whitespace))
                .map_or(v.len(), |(i, _)| i);
            Some((v[..cut].trim_end().to_owned(), after))
        }
    }
}

/// Python's `unicode-escape` decoding of the escapes listed in `known`; others stay as written.
fn decode_escapes(text: &str, known: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(&n)) if known.contains(&n) => {
                chars.next();
                out.push(match n {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    n => n,
                });
            }
            _ => out.push(c),
        }
    }
    out
}

/// Why phpdotenv or the Ruby gem fails a whole file on a line: the app does not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// PHP's `trim`: blanks, line endings, NUL and vertical tab.
const PHP_TRIM: &[char] = &[' ', '\t', '\n', '\r', '\0', '\u{b}'];

/// PCRE's `\s` (and PHP's `ctype_space`) on ASCII: what phpdotenv's lexer calls whitespace.
fn php_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// vlucas/phpdotenv (5.x) on one line: `Ok(None)` when it skips the line (blank, a comment,
/// or the start of a double-quoted value that runs on, which it joins with the lines after
/// it); a key without `=` reads as the key without a value (phpdotenv clears it); `Err` when
/// it throws, which fails the whole file.
pub fn php_line(line: &str) -> Result<Option<(String, Option<String>)>, Refused> {
    let trimmed = line.trim_matches(PHP_TRIM);
    if trimmed.is_empty() || trimmed.starts_with('#') || php_starts_multiline(line) {
        return Ok(None);
    }
    let (name, value) = match php_split(line) {
        Some((n, v)) => (n, Some(v)),
        // Without `=` the line is the name as it stands: blanks around it make it invalid.
        None => (line, None),
    };
    if name.is_empty() {
        return Err(Refused);
    }
    let mut name = name;
    if name.chars().count() > 8 {
        if let Some(rest) = name.strip_prefix("export") {
            if rest.starts_with(php_space) {
                name = rest.trim_start_matches(PHP_TRIM);
            }
        }
    }
    if name.chars().count() >= 3 {
        for q in ['"', '\''] {
            if name.starts_with(q) && name.ends_with(q) {
                name = &name[1..name.len() - 1];
                break;
            }
        }
    }
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if !valid {
        return Err(Refused);
    }
    let value = match value {
        None => None,
        Some(v) => Some(php_value(v)?.0),
    };
    Ok(Some((name.to_owned(), value)))
}

/// phpdotenv on the physical lines of one entry whose value spans them: `None` unless it joins
/// exactly these lines into one entry (it joins from a line holding `="` that does not close to
/// the next line that closes the quote) and reads them without throwing; then its reading of
/// them, as [`php_line`].
pub fn php_lines(lines: &[&str]) -> Option<Option<(String, Option<String>)>> {
    let (first, rest) = lines.split_first()?;
    let (last, middle) = rest.split_last()?;
    let joined = php_starts_multiline(first)
        && !middle.iter().any(|l| php_stops_multiline(l, false))
        && php_stops_multiline(last, false);
    joined.then(|| php_line(&lines.join("\n")).ok()).flatten()
}

/// How phpdotenv groups a file's physical lines (split at `\r\n`, `\n` and `\r`, without
/// their line endings) into the logical lines it reads: the ranges of lines it joins with `\n`,
/// in order. Blank and comment lines are in none, and neither are the lines of a double-quoted
/// value it never sees closing: it drops them at the end of the file.
pub fn php_groups(lines: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut open: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let started = php_starts_multiline(line);
        if started && open.is_none() {
            open = Some(i);
        }
        if let Some(first) = open {
            if php_stops_multiline(line, started) {
                groups.push(first..i + 1);
                open = None;
            }
            continue;
        }
        let trimmed = line.trim_matches(PHP_TRIM);
        if !(trimmed.is_empty() || trimmed.starts_with('#')) {
            groups.push(i..i + 1);
        }
    }
    groups
}

/// A logical line phpdotenv reads: its physical lines and its reading, or `Err` where it
/// throws.
pub type PhpStatement = (
    std::ops::Range<usize>,
    Result<Option<(String, Option<String>)>, Refused>,
);

/// How phpdotenv reads a file's physical lines: each logical line of [`php_groups`] with its
/// reading, or `Err` where it throws (which fails the whole file).
pub fn php_statements(lines: &[&str]) -> Vec<PhpStatement> {
    php_groups(lines)
        .into_iter()
        .map(|g| {
            let r = php_line(&lines[g.clone()].join("\n"));
            (g, r)
        })
        .collect()
}

/// The name and value text of a line with `=`, as phpdotenv splits it: at the first `=`,
/// each side trimmed.
pub fn php_split(line: &str) -> Option<(&str, &str)> {
    line.split_once('=')
        .map(|(n, v)| (n.trim_matches(PHP_TRIM), v.trim_matches(PHP_TRIM)))
}

/// Whether phpdotenv takes the line for the first line of a double-quoted value that goes on
/// over the next lines: it holds `="` and fewer than two quotes not after a backslash.
fn php_starts_multiline(line: &str) -> bool {
    line.contains("=\"") && !php_stops_multiline(line, true)
}

fn php_stops_multiline(line: &str, started: bool) -> bool {
    if line == "\"" {
        return true;
    }
    let text = line.replace("\\\\", "");
    let b = text.as_bytes();
    let count = (1..b.len())
        .filter(|&i| b[i] == b'"' && b[i - 1] != b'\\')
        .count();
    if started {
        count > 1
    } else {
        count >= 1
    }
}

/// A value as phpdotenv's lexer and state machine read it (the text after `=`, trimmed), with
/// the byte offsets in the result where a `$` starts a reference it resolves (`${NAME}`); a
/// `$` escaped in double quotes, or in single quotes, is none.
pub fn php_value(v: &str) -> Result<(String, Vec<usize>), Refused> {
    #[derive(PartialEq, Clone, Copy)]
    enum S {
        Initial,
        Unquoted,
        Single,
        Double,
        Escape,
        Space,
        Comment,
    }
    if v.trim_matches(PHP_TRIM).is_empty() {
        return Ok((String::new(), Vec::new()));
    }
    let mut out = String::with_capacity(v.len());
    let mut vars = Vec::new();
    let mut state = S::Initial;
    let mut rest = v;
    while let Some(c) = rest.chars().next() {
        // The lexer's tokens: a run of line endings, a run of other blanks, one of
        // `\ ' " # $`, or a run of anything else.
        let len = if c == '\r' || c == '\n' {
            rest.find(|c| c != '\r' && c != '\n').unwrap_or(rest.len())
        } else if php_space(c) {
            rest.find(|c: char| !php_space(c) || c == '\r' || c == '\n')
                .unwrap_or(rest.len())
        } else if matches!(c, '\\' | '\'' | '"' | '#' | '$') {
            1
        } else {
            rest.find(|c: char| php_space(c) || matches!(c, '\\' | '\'' | '"' | '#' | '$'))
                .unwrap_or(rest.len())
        };
        let token = &rest[..len];
        rest = &rest[len..];
        let space = token.chars().all(php_space);
        state = match (state, token) {
            (S::Initial, "'") => S::Single,
            (S::Initial, "\"") => S::Double,
            (S::Initial | S::Unquoted | S::Space, "#") => S::Comment,
            (S::Initial | S::Unquoted, "$") => {
                vars.push(out.len());
                out.push('$');
                S::Unquoted
            }
            (S::Unquoted, _) if space => S::Space,
            (S::Initial | S::Unquoted, t) => {
                out.push_str(t);
                S::Unquoted
            }
            (S::Single, "'") | (S::Double, "\"") => S::Space,
            (S::Single, t) => {
                out.push_str(t);
                S::Single
            }
            (S::Double, "\\") => S::Escape,
            (S::Double, "$") => {
                vars.push(out.len());
                out.push('$');
                S::Double
            }
            (S::Double, t) => {
                out.push_str(t);
                S::Double
            }
            (S::Escape, t @ ("\"" | "\\" | "$")) => {
                out.push_str(t);
                S::Double
            }
            (S::Escape, t) => {
                let first = t.chars().next().unwrap_or_default();
                out.push(match first {
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    _ => return Err(Refused),
                });
                out.push_str(&t[1..]);
                S::Double
            }
            (S::Space, _) if space => S::Space,
            (S::Space, _) => return Err(Refused),
            (S::Comment, _) => S::Comment,
        };
    }
    if matches!(state, S::Single | S::Double | S::Escape) {
        return Err(Refused);
    }
    Ok((out, vars))
}

/// The Ruby dotenv gem (2.x) on one line, without its `$VAR` and `$(command)` substitutions
/// (they happen when a program is run): `Ok(None)` when it skips the line; `Err` when it
/// raises (an `export NAME` line naming a key the file has not set), which fails the file.
/// It reads `KEY=value`, `export KEY=value` and `KEY: value`; keys are `[A-Za-z0-9_.]+`.
/// The second value is the quote the value was in (`'`, `"`, or none).
pub fn ruby_line(line: &str) -> Result<Option<(String, String, Option<char>)>, Refused> {
    let Some((key, value)) = ruby_match(line) else {
        let mut words = line.split_ascii_whitespace();
        if words.next() == Some("export") && words.next().is_some() {
            return Err(Refused);
        }
        return Ok(None);
    };
    // Strip one pair of surrounding quotes; in double quotes, `\n` and `\r` become line
    // endings, then a backslash before anything but `$` is dropped.
    let value = value.trim_matches(ruby_space);
    let quote = value
        .chars()
        .next()
        .filter(|q| matches!(q, '\'' | '"') && value.len() >= 2 && value.ends_with(*q));
    let out = match quote {
        Some('"') => {
            let inner = value[1..value.len() - 1]
                .replace("\\n", "\n")
                .replace("\\r", "\r");
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('\\', Some(&n)) if n != '$' => {
                        out.push(n);
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            out
        }
        Some(_) => value[1..value.len() - 1].to_owned(),
        None => value.to_owned(),
    };
    Ok(Some((key.to_owned(), out, quote)))
}

/// Ruby's `\s`.
fn ruby_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// The gem's line expression,
/// `\A\s*(?:export\s+)?([\w.]+)(?:\s*=\s*|:\s+?)('(?:'|[^'])*'|"(?:"|[^"])*"|[^#\n]+)?\s*(?:#.*)?\z`,
/// with Ruby's backtracking: the key and the value text it captures.
fn ruby_match(line: &str) -> Option<(&str, &str)> {
    let key_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    let b = line.as_bytes();
    let start = line.len() - line.trim_start_matches(ruby_space).len();
    // Where the key may start: after `export` and blanks, or right away (`export` is a key
    // too, when no blank follows).
    // The optional `export\s+` is tried first; its greedy blanks can only give back to a
    // blank, where no key starts. Then the line without it (`export` is a key too).
    let mut order = Vec::with_capacity(2);
    if let Some(after) = line[start..].strip_prefix("export") {
        let blanks = after.len() - after.trim_start_matches(ruby_space).len();
        if blanks > 0 {
            order.push(start + 6 + blanks);
        }
    }
    order.push(start);
    for k0 in order {
        let mut kend = k0;
        while kend < b.len() && key_char(b[kend]) {
            kend += 1;
        }
        // A shorter key would leave a key character where the separator must be.
        if kend == k0 {
            continue;
        }
        for vstart in ruby_separators(line, kend) {
            if let Some(v) = ruby_value(&line[vstart..]) {
                return Some((&line[k0..kend], v));
            }
        }
    }
    None
}

/// Where the value may start after a key ending at `at`: `\s*=\s*` (greedy, then giving back)
/// or `:\s+?` (lazy: one blank first).
fn ruby_separators(line: &str, at: usize) -> Vec<usize> {
    let rest = &line[at..];
    let mut out = Vec::new();
    let lead = rest.len() - rest.trim_start_matches(ruby_space).len();
    if let Some(after) = rest[lead..].strip_prefix('=') {
        let blanks = after.len() - after.trim_start_matches(ruby_space).len();
        for n in (0..=blanks).rev() {
            out.push(at + lead + 1 + n);
        }
    }
    if let Some(after) = rest.strip_prefix(':') {
        let blanks = after.len() - after.trim_start_matches(ruby_space).len();
        for n in 1..=blanks {
            out.push(at + 1 + n);
        }
    }
    out
}

/// The value alternatives on `v` (the text after the separator), then `\s*(?:#.*)?\z`: the
/// captured value text, if the line matches.
fn ruby_value(v: &str) -> Option<&str> {
    let tail_ok = |t: &str| {
        let t = t.trim_start_matches(ruby_space);
        t.is_empty() || t.starts_with('#')
    };
    for q in ['\'', '"'] {
        if v.starts_with(q) {
            // `'.*'` with backtracking: the last closing quote first.
            let mut ends: Vec<usize> = v
                .char_indices()
                .skip(1)
                .filter(|&(_, c)| c == q)
                .map(|(i, _)| i)
                .collect();
            ends.reverse();
            for e in ends {
                if tail_ok(&v[e + 1..]) {
                    return Some(&v[..=e]);
                }
            }
        }
    }
    // `[^#\n]+`, greedy, giving back to a blank tail; or no value at all.
    let run = v.find('#').unwrap_or(v.len());
    for end in (1..=run).rev() {
        if v.is_char_boundary(end) && tail_ok(&v[end..]) {
            return Some(&v[..end]);
        }
    }
    tail_ok(v).then_some("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(line: &str) -> Option<(String, String)> {
        node_line(line)
    }

    fn python(line: &str) -> Option<(String, Option<String>)> {
        python_line(line)
    }

    fn kv(k: &str, v: &str) -> Option<(String, String)> {
        Some((k.to_owned(), v.to_owned()))
    }

    #[test]
    fn lines_dotenvy_refuses() {
        assert_eq!(
            node("OIDC_DISPLAY_NAME=OpenID Connect"),
            kv("OIDC_DISPLAY_NAME", "OpenID Connect")
        );
        assert_eq!(
            python("OIDC_DISPLAY_NAME=OpenID Connect"),
            Some(("OIDC_DISPLAY_NAME".into(), Some("OpenID Connect".into())))
        );
        assert_eq!(node("// a comment"), None);
        assert_eq!(python("// a comment"), None);
        assert_eq!(node("FEATURE_FLAG"), None);
        assert_eq!(python("FEATURE_FLAG"), Some(("FEATURE_FLAG".into(), None)));
        assert_eq!(
            node(r#"CACHE="Symfony\Component\Cache""#),
            kv("CACHE", r"Symfony\Component\Cache")
        );
        assert_eq!(
            python(r#"CACHE="Symfony\Component\Cache""#),
            Some(("CACHE".into(), Some(r"Symfony\Component\Cache".into())))
        );
        assert_eq!(node(r"GREETING='it\'s'"), kv("GREETING", r"it\'s"));
        assert_eq!(
            python(r"GREETING='it\'s'"),
            Some(("GREETING".into(), Some("it's".into())))
        );
        assert_eq!(node("A=x # note"), kv("A", "x"));
        assert_eq!(
            python("A=x#y # note"),
            Some(("A".into(), Some("x#y".into())))
        );
    }

    /// phpdotenv's and the gem's quirks that real files meet (the oracle test holds all of
    /// them to the real libraries).
    #[test]
    fn php_and_ruby_quirks() {
        assert_eq!(
            php_line("export A=1"),
            Err(Refused),
            "a name of one character"
        );
        assert_eq!(
            php_line("export AB=1"),
            Ok(Some(("AB".into(), Some("1".into()))))
        );
        assert_eq!(php_line("A=x y"), Err(Refused));
        assert_eq!(php_line("FLAG"), Ok(Some(("FLAG".into(), None))));
        assert_eq!(php_line(" FLAG"), Err(Refused));
        assert_eq!(php_line("A=\"x"), Ok(None), "runs on over the next lines");
        assert_eq!(
            php_line("A=\"a\\tb\" # c"),
            Ok(Some(("A".into(), Some("a\tb".into()))))
        );
        let ruby = |l: &str| ruby_line(l).map(|r| r.map(|(k, v, _)| (k, v)));
        assert_eq!(ruby("SMTP: mail"), Ok(Some(("SMTP".into(), "mail".into()))));
        assert_eq!(ruby("A=\"a\\tb\""), Ok(Some(("A".into(), "atb".into()))));
        assert_eq!(ruby("A=x#y"), Ok(Some(("A".into(), "x".into()))));
        assert_eq!(ruby("export A"), Err(Refused));
        assert_eq!(ruby("// note"), Ok(None));
    }
}
