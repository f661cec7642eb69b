//! How two other readers of env files read one line: node's dotenv (`parse`, 16 and later)
//! and python-dotenv (1.x, without interpolation). Used to say how a line that dotenvy refuses
//! is read by the apps that do read it; a test holds both to the real readers.

/// Node's dotenv reads a line with one regular expression:
/// `^\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?$`,
/// then trims the value, strips one pair of matching quotes, and in a double-quoted value
/// turns `\n` and `\r` into line endings. A line it cannot match is skipped (`None`).
pub fn node_line(line: &str) -> Option<(String, String)> {
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
    let value = node_value(value_part)?;
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
    Some((key.to_owned(), out))
}

/// Whether `rest` is what the expression allows after a value: blanks, then maybe a comment.
fn node_tail(rest: &str) -> bool {
    let rest = rest.trim_start();
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
    let unquoted = &v[..v.find('#').unwrap_or(v.len())];
    if unquoted.is_empty() {
        return node_tail(v).then_some("");
    }
    Some(unquoted)
}

/// python-dotenv's parser on one line: `None` when it skips the line (an error, a comment, a
/// blank line); a bare key reads as the key without a value.
pub fn python_line(line: &str) -> Option<(String, Option<String>)> {
    let blank = |c: char| c.is_whitespace() && c != '\n' && c != '\r';
    let s = line.trim_start();
    let s = match s.strip_prefix("export") {
        Some(rest) if rest.starts_with(blank) => rest.trim_start_matches(blank),
        _ => s,
    };
    let (key, rest) = if let Some(q) = s.strip_prefix('\'') {
        let end = q.find('\'').filter(|e| *e > 0)?;
        (&q[..end], &q[end + 1..])
    } else if s.starts_with('#') || s.is_empty() {
        return None;
    } else {
        let end = s
            .find(|c: char| c == '=' || c == '#' || c.is_whitespace())
            .unwrap_or(s.len());
        if end == 0 {
            return None;
        }
        s.split_at(end)
    };
    let rest = rest.trim_start_matches(blank);
    let (value, rest) = match rest.strip_prefix('=') {
        None => (None, rest),
        Some(v) => {
            let v = v.trim_start_matches(blank);
            let (value, rest) = python_value(v)?;
            (Some(value), rest)
        }
    };
    // A comment, then the end of the line; anything else is an error and the line is skipped.
    let rest = rest.trim_start_matches(blank);
    if !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    Some((key.to_owned(), value))
}

/// A value as python-dotenv reads it, and what follows it on the line.
fn python_value(v: &str) -> Option<(String, &str)> {
    match v.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let bytes = v.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&(q as u8)) {
                    i += 2;
                    continue;
                }
                if bytes[i] == q as u8 {
                    let inner = &v[1..i];
                    let escapes: &[char] = if q == '\'' {
                        &['\\', '\'']
                    } else {
                        &['\\', '\'', '"', 'a', 'b', 'f', 'n', 'r', 't', 'v']
                    };
                    return Some((decode_escapes(inner, escapes), &v[i + 1..]));
                }
                i += 1;
            }
            None
        }
        None => Some((String::new(), "")),
        Some(_) => {
            // The rest of the line, without a comment that follows a blank, right-trimmed.
            let cut = v
                .char_indices()
                .find(|&(i, c)| c == '#' && i > 0 && v[..i].ends_with(char::is_whitespace))
                .map_or(v.len(), |(i, _)| i);
            Some((v[..cut].trim_end().to_owned(), ""))
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
}
