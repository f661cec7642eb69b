//! What tells a secret from a look-alike: entropy, placeholders, references and templates,
//! the assignment a value sits in, and checksums.

use std::ops::Range;

/// Shannon entropy in bits per byte.
pub fn entropy(s: &str) -> f64 {
    entropy_of(s.as_bytes())
}

fn entropy_of(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in s {
        counts[*b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// At least 16 characters, no spaces, not a reference, a placeholder or a word-like name,
/// mixed classes, and enough entropy per character for its length and alphabet: what
/// generated secrets look like, not words or code.
pub fn looks_random(v: &str) -> bool {
    if v.len() < 16 || v.len() > 512 || is_placeholder(v) || is_reference(v) {
        return false;
    }
    if v.bytes().any(|b| b.is_ascii_whitespace()) {
        return false;
    }
    let has = |f: fn(&u8) -> bool| v.as_bytes().iter().any(f);
    let (lower, upper, digit) = (
        has(u8::is_ascii_lowercase),
        has(u8::is_ascii_uppercase),
        has(u8::is_ascii_digit),
    );
    let other = v.bytes().any(|b| !b.is_ascii_alphanumeric());
    // `content_type_header`, `APPLICATION_JSON`, `application/json`: names, not secrets.
    if !(digit || (lower && upper)) {
        return false;
    }
    let classes = [lower, upper, digit, other].iter().filter(|c| **c).count();
    // Hex draws from 16 symbols: its entropy tops out at 4 bits, and a random 32-digit string
    // often has less than 3.5.
    let floor = if v.bytes().all(|b| b.is_ascii_hexdigit()) {
        3.0
    } else if v.len() < 24 {
        3.2
    } else {
        3.5
    };
    classes >= 2 && entropy(v) >= floor
}

/// Words that mark a value as standing in for a secret.
const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "example",
    "your_",
    "your-",
    "yourkey",
    "replace",
    "dummy",
    "sample",
    "redacted",
    "todo",
    "fixme",
    "insert",
    "xxxx",
    "****",
    "...",
    "…",
    "<",
    "${",
    "{{",
    "%(",
];

/// Values that stand for a secret without being one: empty, `changeme`, `<your key>`, `xxxx`,
/// `${DB_PASSWORD}`, `your-api-key-here`, one character repeated.
pub fn is_placeholder(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let first = v.as_bytes()[0];
    v.bytes().all(|b| b == first)
}

/// A value that names where a secret comes from instead of holding it: `$VAR`, `${VAR}`,
/// `%(var)s`, `{{ .Values.x }}`, `<...>`, `os.environ["X"]`, `os.getenv("X")`,
/// `process.env.X`, `ENV["X"]`, a Terraform or code expression (`random_password.db.result`,
/// `var.db_password`), or nothing at all.
pub fn is_reference(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() {
        return true;
    }
    let b = v.as_bytes();
    if b[0] == b'$'
        && b.get(1)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'{' || *c == b'(')
    {
        return true;
    }
    if v.contains("${") || v.contains("{{") || v.contains("%(") || v.contains("#{") {
        return true;
    }
    if b[0] == b'<' && b[b.len() - 1] == b'>' {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    const CALLS: &[&str] = &[
        "os.environ",
        "os.getenv",
        "getenv(",
        "process.env",
        "env[",
        "env.fetch",
        "env(",
        "environ.get",
        "config(",
        "settings.",
        "secrets.",
        "vault(",
        "import.meta.env",
    ];
    if CALLS
        .iter()
        .any(|c| lower.starts_with(c) || lower.contains(&format!(" {c}")))
    {
        return true;
    }
    is_expression(v)
}

/// Code, not data: a dotted chain of identifiers (`random_password.master.result`,
/// `var.db_password`, `BuildConfig.API_KEY`, `Rails.application.credentials.db`), optionally
/// called or indexed. A part that looks generated (mixed case and digits, 12 characters or more)
/// makes it data: `s.UJ6HiMmgOFFXU92Ig5GodXuW` is a token.
fn is_expression(v: &str) -> bool {
    let head = v.split(['(', '[']).next().unwrap_or(v);
    let parts: Vec<&str> = head.split('.').collect();
    let generated = |p: &str| {
        p.len() >= 12
            && p.bytes().any(|c| c.is_ascii_uppercase())
            && p.bytes().any(|c| c.is_ascii_lowercase())
            && p.bytes().any(|c| c.is_ascii_digit())
    };
    parts.len() >= 2
        && parts.iter().all(|p| {
            p.bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                && !generated(p)
        })
}

/// A token body that is not a real one: a documented example (`…EXAMPLE…`), a placeholder
/// word, too few distinct characters (`xxxx…`, `AAAA…1234`), a counting sequence
/// (`abcdef…`, `0123…`) or a short pattern repeated.
pub fn placeholder_body(body: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(body) else {
        return true;
    };
    let lower = s.to_ascii_lowercase();
    if [
        "example",
        "xxxxx",
        "*****",
        "placeholder",
        "changeme",
        "dummy",
        "redacted",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return true;
    }
    let n = body.len();
    if n == 0 {
        return true;
    }
    // In a short body these words are no accident (`xoxb-your-token`, `sk_live_fake_key`); in
    // a long random one (a key block) a short word can be.
    if n <= 64
        && ["your", "here", "fake", "token", "sample"]
            .iter()
            .any(|w| lower.contains(w))
    {
        return true;
    }
    let mut seen = [false; 256];
    for b in body {
        seen[*b as usize] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if n >= 12 && distinct < 6.min(n / 3) {
        return true;
    }
    if n >= 8 {
        let steps = body
            .windows(2)
            .filter(|w| w[1] == w[0].wrapping_add(1))
            .count();
        if steps * 10 >= (n - 1) * 7 {
            return true;
        }
        for p in 1..=8.min(n / 3) {
            if body.iter().enumerate().all(|(i, b)| *b == body[i % p]) {
                return true;
            }
        }
    }
    false
}

/// Whether `name` (an identifier in any case style) contains the word `w`.
pub fn has_word(name: &str, w: &str) -> bool {
    name.to_ascii_lowercase()
        .replace(['-', '.', ' '], "_")
        .contains(&w.to_ascii_lowercase())
}

/// `NAME = value` and its kin around a name fragment found at `start..end`.
pub struct Assignment {
    /// The whole name, in upper snake case (`dbPassword` → `DB_PASSWORD`).
    pub name: String,
    /// The name as written.
    pub name_span: Range<usize>,
    /// The value, quotes excluded.
    pub value: Range<usize>,
    /// Whether the value was quoted.
    pub quoted: bool,
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// The assignment whose name contains `start..end`: `NAME=value`, `NAME: value`,
/// `"name": "value"`, `name := "value"`, `name => 'value'`, `name <- "value"`, Android's
/// `<string name="api_key">value</string>` and `buildConfigField("String", "API_KEY",
/// "\"value\"")`, a name and its value as a pair (Kubernetes' `- name: DB_PASSWORD` with
/// `value: …` on the next line, ECS's `{"name": …, "value": …}`), and a Terraform variable's
/// `default`. `None` when the fragment is not inside a name followed by an assignment, when
/// the value is a reference or an expression, or for comparisons (`==`).
pub fn assignment_around(text: &[u8], start: usize, end: usize) -> Option<Assignment> {
    let mut s = start;
    while s > 0 && ident_byte(text[s - 1]) {
        s -= 1;
    }
    let mut e = end;
    while e < text.len() && ident_byte(text[e]) {
        e += 1;
    }
    // `${DB_PASSWORD:-postgres}`, `$DB_PASSWORD`: a reference to the name, not an assignment.
    if text[..s].ends_with(b"${") || text[..s].ends_with(b"$") {
        return None;
    }
    let raw = std::str::from_utf8(&text[s..e]).ok()?;
    let name = snake_upper(raw.rsplit('.').next().unwrap_or(raw));
    let mut i = e;
    // Android resources: `<string name="aws_secret">value</string>`.
    if text[i..].starts_with(b"\">") && s > 0 && text[s - 1] == b'"' {
        let vs = i + 2;
        let ve = vs + memchr::memchr2(b'<', b'\n', &text[vs..])?;
        return valued(name, s..e, vs..ve, false, text);
    }
    // XML elements: `<password>value</password>`.
    if s > 0 && text[s - 1] == b'<' && text.get(i) == Some(&b'>') {
        let vs = i + 1;
        let ve = vs + memchr::memchr2(b'<', b'\n', &text[vs..])?;
        return valued(name, s..e, vs..ve, false, text);
    }
    if let Some(v) = paired_value(text, s, e).or_else(|| terraform_default(text, s, e)) {
        let (vs, ve, quoted) = value_at(text, v)?;
        return valued(name, s..e, vs..ve, quoted, text);
    }
    let name_quoted = s > 0 && matches!(text[s - 1], b'"' | b'\'');
    if i < text.len() && (text[i] == b'"' || text[i] == b'\'') {
        i += 1;
    }
    // `config['SECRET_KEY'] = …`
    if name_quoted && text.get(i) == Some(&b']') {
        i += 1;
    }
    skip_blanks(text, &mut i);
    // A quoted name and a quoted value as a call's two arguments: `os.Setenv("API_TOKEN",
    // "…")`, `define('DB_PASSWORD', '…')`; and .NET's `<add key="ApiKey" value="…"/>`.
    let call = name_quoted && text.get(i) == Some(&b',');
    let xml_pair = name_quoted && text[i..].starts_with(b"value=");
    if call || xml_pair {
        i += if call { 1 } else { "value=".len() };
        skip_blanks(text, &mut i);
        if !text.get(i).is_some_and(|q| matches!(q, b'"' | b'\'')) {
            return None;
        }
    } else {
        let ops: &[&[u8]] = &[b":=", b"=>", b"<-", b"=", b":"];
        let op = ops.iter().find(|o| text[i..].starts_with(o))?;
        if *op == b"=" && text[i..].starts_with(b"==") {
            return None;
        }
        i += op.len();
        skip_blanks(text, &mut i);
    }
    let (vs, ve, quoted) = value_at(text, i)?;
    valued(name, s..e, vs..ve, quoted, text)
}

fn skip_blanks(text: &[u8], i: &mut usize) {
    while *i < text.len() && (text[*i] == b' ' || text[*i] == b'\t') {
        *i += 1;
    }
}

/// The value that starts at `i`: quoted (Gradle's `"\"…\""` too) or bare, up to a blank,
/// a separator, a comment or a URL's next parameter.
fn value_at(text: &[u8], i: usize) -> Option<(usize, usize, bool)> {
    if text[i..].starts_with(b"\"\\\"") {
        let vs = i + 3;
        let close = memchr::memmem::find(&text[vs..], b"\\\"")?;
        if memchr::memchr(b'\n', &text[vs..vs + close]).is_some() {
            return None;
        }
        return Some((vs, vs + close, true));
    }
    if i < text.len() && matches!(text[i], b'"' | b'\'' | b'`') {
        let q = text[i];
        let close = memchr::memchr2(q, b'\n', &text[i + 1..])?;
        if text[i + 1 + close] != q {
            return None;
        }
        return Some((i + 1, i + 1 + close, true));
    }
    let n = text[i..]
        .iter()
        .take_while(|b| {
            !matches!(
                b,
                b' ' | b'\t'
                    | b'\r'
                    | b'\n'
                    | b','
                    | b';'
                    | b'#'
                    | b'<'
                    | b'"'
                    | b'\''
                    | b'`'
                    | b'&'
            )
        })
        .count();
    Some((i, i + n, false))
}

/// A name given as the value of a `name` (or `key`) field whose value sits in the `value`
/// field after it, on the same line or the next: `- name: DB_PASSWORD⏎  value: "…"`,
/// `{"name": "DB_PASSWORD", "value": "…"}`. Returns where the value starts.
fn paired_value(text: &[u8], s: usize, e: usize) -> Option<usize> {
    let line_start = memchr::memrchr(b'\n', &text[..s]).map_or(0, |n| n + 1);
    let before = text[line_start..s].trim_ascii_end();
    let before = before
        .strip_suffix(b"\"")
        .or(before.strip_suffix(b"'"))
        .unwrap_or(before);
    let before = before.trim_ascii_end().strip_suffix(b":")?.trim_ascii_end();
    let before = before.strip_suffix(b"\"").unwrap_or(before);
    let field_start = before.len() - before.iter().rev().take_while(|b| ident_byte(**b)).count();
    let field = &before[field_start..];
    if !(field.eq_ignore_ascii_case(b"name") || field.eq_ignore_ascii_case(b"key")) {
        return None;
    }
    let mut i = e;
    if matches!(text.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    skip_blanks(text, &mut i);
    if text.get(i) == Some(&b',') {
        i += 1;
        skip_blanks(text, &mut i);
    }
    // The next line, when the name ends its line.
    if text[i..].starts_with(b"\r\n") {
        i += 1;
    }
    if text.get(i) == Some(&b'\n') {
        i += 1;
        skip_blanks(text, &mut i);
    }
    if text.get(i) == Some(&b'"') {
        i += 1;
    }
    if !text[i..]
        .get(..5)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"value"))
    {
        return None;
    }
    i += 5;
    if text.get(i) == Some(&b'"') {
        i += 1;
    }
    skip_blanks(text, &mut i);
    if !matches!(text.get(i), Some(b':' | b'=')) {
        return None;
    }
    i += 1;
    skip_blanks(text, &mut i);
    Some(i)
}

/// A Terraform variable named by the fragment: `variable "db_password" {` and, inside its
/// block, `default = "…"`. Returns where the default value starts.
fn terraform_default(text: &[u8], s: usize, e: usize) -> Option<usize> {
    let line_start = memchr::memrchr(b'\n', &text[..s]).map_or(0, |n| n + 1);
    if text[line_start..s].trim_ascii_start() != b"variable \"" {
        return None;
    }
    let mut i = e;
    if text.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    skip_blanks(text, &mut i);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    let body_start = i + 1;
    let body_end =
        memchr::memmem::find(&text[body_start..], b"\n}").map_or(text.len(), |n| body_start + n);
    let mut at = body_start;
    for line in text[body_start..body_end].split(|b| *b == b'\n') {
        let lead = line.len() - line.trim_ascii_start().len();
        let rest = &line[lead..];
        if let Some(after) = rest.strip_prefix(b"default") {
            let eq = after.len() - after.trim_ascii_start().len();
            if after[eq..].starts_with(b"=") && !after[eq..].starts_with(b"==") {
                let mut i = at + lead + "default".len() + eq + 1;
                skip_blanks(text, &mut i);
                return Some(i);
            }
        }
        at += line.len() + 1;
    }
    None
}

fn valued(
    name: String,
    name_span: Range<usize>,
    value: Range<usize>,
    quoted: bool,
    text: &[u8],
) -> Option<Assignment> {
    let v = std::str::from_utf8(&text[value.clone()]).ok()?;
    if is_reference(v) || (!quoted && v.ends_with(')')) {
        return None;
    }
    Some(Assignment {
        name,
        name_span,
        value,
        quoted,
    })
}

/// `dbPassword` / `db-password` / `db.password` → `DB_PASSWORD`.
pub fn snake_upper(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        });
    }
    out
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether a token (`prefix_` + random part + 6 checksum characters) ends in the base62
/// CRC-32 of its random part, as GitHub and npm tokens do.
pub fn crc32_base62_holds(token: &[u8]) -> bool {
    let start = token.iter().position(|b| *b == b'_').map_or(0, |i| i + 1);
    let body = &token[start..];
    if body.len() <= 6 {
        return false;
    }
    let (random, check) = body.split_at(body.len() - 6);
    let mut n: u64 = 0;
    for c in check {
        let Some(d) = BASE62.iter().position(|x| x == c) else {
            return false;
        };
        n = n * 62 + d as u64;
    }
    n == u64::from(crc32fast::hash(random))
}

/// The 6 base62 checksum characters of a token's random part (for tests and fixtures).
#[cfg(test)]
pub fn crc32_base62(random: &[u8]) -> String {
    let mut n = crc32fast::hash(random);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

/// The bytes `v` decodes to as URL-safe base64 without padding, if it is that.
pub fn base64url_decode(v: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.strip_suffix(b"=").unwrap_or(v))
        .ok()
}

/// Entropy of a body, for floors on structure families.
pub fn body_entropy(v: &[u8]) -> f64 {
    entropy_of(v)
}
