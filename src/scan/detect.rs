//! Detectors for rule 4 (well-known credential formats and high-entropy values assigned to
//! secret-named keys) and the placeholder test of rule 2. Every detector is driven by one
//! Aho-Corasick pass over a file's bytes; candidates are then checked where they were found.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::classify::Classifier;
use crate::rule::Rule;

pub use crate::rule::Credential as Format;

/// Prefixes that start a credential, with the rule and the token's shape after the prefix:
/// (minimum length, maximum length, allowed bytes).
type Shape = (usize, usize, fn(u8) -> bool);

fn token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn dash_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
fn upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn any(_: u8) -> bool {
    true
}
/// Bech32's data characters, upper case (age secret keys are written upper case).
fn bech32_upper(b: u8) -> bool {
    b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".contains(&b)
}

const PREFIXES: &[(&str, Format, Shape)] = &[
    ("AKIA", Format::AwsAccessKeyId, (16, 16, upper_alnum)),
    ("ASIA", Format::AwsAccessKeyId, (16, 16, upper_alnum)),
    ("-----BEGIN ", Format::PrivateKey, (0, 0, any)),
    ("ghp_", Format::GitHub, (30, 255, token)),
    ("gho_", Format::GitHub, (30, 255, token)),
    ("ghu_", Format::GitHub, (30, 255, token)),
    ("ghs_", Format::GitHub, (30, 255, token)),
    ("ghr_", Format::GitHub, (30, 255, token)),
    ("github_pat_", Format::GitHub, (40, 255, token)),
    ("glpat-", Format::GitLab, (20, 255, dash_token)),
    ("xoxb-", Format::Slack, (10, 255, dash_token)),
    ("xoxp-", Format::Slack, (10, 255, dash_token)),
    ("xoxa-", Format::Slack, (10, 255, dash_token)),
    ("xoxr-", Format::Slack, (10, 255, dash_token)),
    ("xoxs-", Format::Slack, (10, 255, dash_token)),
    ("xapp-", Format::Slack, (10, 255, dash_token)),
    ("sk_live_", Format::Stripe, (16, 255, alnum)),
    ("rk_live_", Format::Stripe, (16, 255, alnum)),
    ("AIza", Format::Google, (35, 35, dash_token)),
    (
        "AGE-SECRET-KEY-1",
        Format::AgeSecretKey,
        (58, 58, bech32_upper),
    ),
];

/// Fragments of secret-like names (matched ignoring ASCII case) that start the check for a
/// high-entropy assignment.
const NAME_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "private_key",
    "credential",
    "pwd",
];

/// What one pass over a text found: credential formats and candidate names.
enum Pattern {
    Prefix(usize),
    Name,
}

struct Automaton {
    ac: AhoCorasick,
    kinds: Vec<Pattern>,
}

fn automaton() -> &'static Automaton {
    static A: OnceLock<Automaton> = OnceLock::new();
    A.get_or_init(|| {
        let mut pats: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        for (i, (p, _, _)) in PREFIXES.iter().enumerate() {
            pats.push((*p).to_owned());
            kinds.push(Pattern::Prefix(i));
        }
        for w in NAME_WORDS {
            pats.push((*w).to_owned());
            kinds.push(Pattern::Name);
        }
        // Names match in any case (`apiKey`, `DB_PASSWORD`); prefixes are checked for their
        // exact case where they are found.
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(&pats)
            .expect("static patterns build");
        Automaton { ac, kinds }
    })
}

/// A credential found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule id.
    pub rule: Rule,
    pub what: String,
    /// The secret's byte range in the text.
    pub span: Range<usize>,
    /// The key it was assigned to, for the entropy rule.
    pub key: Option<String>,
}

fn boundary_before(text: &[u8], at: usize) -> bool {
    at == 0 || !(text[at - 1].is_ascii_alphanumeric() || text[at - 1] == b'_')
}

/// Rule 4 over `text`: credential formats anywhere, and high-entropy values assigned to
/// secret-named keys.
pub fn credentials(text: &[u8], classifier: &Classifier) -> Vec<Hit> {
    let a = automaton();
    let mut hits: Vec<Hit> = Vec::new();
    let mut names: Vec<Hit> = Vec::new();
    for m in a.ac.find_overlapping_iter(text) {
        match a.kinds[m.pattern().as_usize()] {
            Pattern::Prefix(i) => {
                let (prefix, format, (min, max, ok)) = PREFIXES[i];
                if &text[m.range()] != prefix.as_bytes() || !boundary_before(text, m.start()) {
                    continue;
                }
                let rest = &text[m.end()..];
                let span = if format == Format::PrivateKey {
                    // `-----BEGIN [RSA |EC |OPENSSH ]PRIVATE KEY-----`
                    let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                    let line = &rest[..line_end];
                    let is_key = line.ends_with(b"PRIVATE KEY-----")
                        || line.ends_with(b"PRIVATE KEY-----\r")
                        || line.ends_with(b"PRIVATE KEY BLOCK-----");
                    if !is_key {
                        continue;
                    }
                    m.start()..m.end() + line_end
                } else {
                    let n = rest.iter().take(max + 1).take_while(|b| ok(**b)).count();
                    if n < min || n > max {
                        continue;
                    }
                    // Tokens end at a non-token byte.
                    m.start()..m.end() + n
                };
                if !hits
                    .iter()
                    .any(|h| h.span.start <= span.start && span.end <= h.span.end)
                {
                    hits.push(Hit {
                        rule: Rule::Credential(format),
                        what: format.describe().to_owned(),
                        span,
                        key: None,
                    });
                }
            }
            Pattern::Name => {
                if let Some(hit) = assignment_at(text, m.start(), m.end(), classifier) {
                    names.push(hit);
                }
            }
        }
    }
    // A credential format says more than "random-looking": it wins where both match.
    for hit in names {
        if !hits.iter().any(|h| overlaps(&h.span, &hit.span)) {
            hits.push(hit);
        }
    }
    hits.sort_by_key(|h| h.span.start);
    hits
}

/// The provider format a value holds (a token whose format says it is a credential, whatever
/// the key it is assigned to), if any. Formats public by design (Stripe's `pk_` keys) are not
/// in the catalogue.
pub fn provider_token(value: &str) -> Option<&'static str> {
    credentials(value.as_bytes(), &Classifier::default())
        .into_iter()
        .find(|h| h.key.is_none())
        .map(|h| h.rule.id())
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// `NAME = value`, `NAME: value`, `"name": "value"`, `name := "value"`, `name => 'value'`
/// around a name word found at `start..end`: the value's span when the name is secret-like
/// and the value looks random.
fn assignment_at(text: &[u8], start: usize, end: usize, classifier: &Classifier) -> Option<Hit> {
    let mut s = start;
    while s > 0 && ident_byte(text[s - 1]) {
        s -= 1;
    }
    let mut e = end;
    while e < text.len() && ident_byte(text[e]) {
        e += 1;
    }
    let name = std::str::from_utf8(&text[s..e]).ok()?;
    let key = snake_upper(name.rsplit('.').next().unwrap_or(name));
    if !classifier.is_secret(&key, &[]) {
        return None;
    }
    let mut i = e;
    let skip_ws = |i: &mut usize| {
        while *i < text.len() && (text[*i] == b' ' || text[*i] == b'\t') {
            *i += 1;
        }
    };
    if i < text.len() && (text[i] == b'"' || text[i] == b'\'') {
        i += 1;
    }
    skip_ws(&mut i);
    let op: &[&[u8]] = &[b":=", b"=>", b"=", b":"];
    let op = op.iter().find(|o| text[i..].starts_with(o))?;
    if op == b"=" && text[i..].starts_with(b"==") {
        return None;
    }
    i += op.len();
    skip_ws(&mut i);
    let (vs, ve) = if i < text.len() && matches!(text[i], b'"' | b'\'' | b'`') {
        let q = text[i];
        let close = memchr::memchr2(q, b'\n', &text[i + 1..])?;
        if text[i + 1 + close] != q {
            return None;
        }
        (i + 1, i + 1 + close)
    } else {
        let n = text[i..]
            .iter()
            .take_while(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b';' | b'#'))
            .count();
        (i, i + n)
    };
    let value = std::str::from_utf8(&text[vs..ve]).ok()?;
    if !looks_random(value) {
        return None;
    }
    Some(Hit {
        rule: Rule::HighEntropySecret,
        what: format!("a random-looking value assigned to {name}"),
        span: vs..ve,
        key: Some(name.to_owned()),
    })
}

/// `dbPassword` / `db-password` / `db.password` → `DB_PASSWORD`.
fn snake_upper(name: &str) -> String {
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

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// At least 16 characters, no spaces or references, mixed classes, and ≥ 3.5 bits of entropy
/// per character: what generated secrets look like, not words or expressions.
pub fn looks_random(v: &str) -> bool {
    if v.len() < 16 || v.len() > 512 || is_placeholder(v) {
        return false;
    }
    if v.bytes()
        .any(|b| b.is_ascii_whitespace() || b == b'(' || b == b'$' || b == b'{')
    {
        return false;
    }
    let classes = [
        v.bytes().any(|b| b.is_ascii_lowercase()),
        v.bytes().any(|b| b.is_ascii_uppercase()),
        v.bytes().any(|b| b.is_ascii_digit()),
        v.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ];
    classes.iter().filter(|c| **c).count() >= 2 && entropy(v) >= 3.5
}

/// Values that stand for a secret without being one: `changeme`, `<your key>`, `xxxx`,
/// `${DB_PASSWORD}`, `your-api-key-here`…
pub fn is_placeholder(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    const WORDS: &[&str] = &[
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
        "....",
        "<",
        "${",
        "{{",
        "%(",
    ];
    if WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let first = v.as_bytes()[0];
    v.bytes().all(|b| b == first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<&'static str> {
        credentials(text.as_bytes(), &Classifier::default())
            .into_iter()
            .map(|h| h.rule.id())
            .collect()
    }

    #[test]
    fn credential_formats() {
        assert_eq!(rules("key = 'AKIAIOSFODNN7EXAMPLE'"), ["aws-access-key-id"]);
        assert_eq!(rules("xAKIAIOSFODNN7EXAMPLE"), Vec::<&str>::new());
        assert_eq!(rules("AKIAIOSFODNN7EXAMPL"), Vec::<&str>::new());
        assert_eq!(
            rules("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n"),
            ["private-key"]
        );
        assert_eq!(rules("-----BEGIN CERTIFICATE-----\n"), Vec::<&str>::new());
        assert_eq!(
            rules("token: ghp_0123456789abcdefghijABCDEFGHIJ0123"),
            ["github-token"]
        );
        assert_eq!(rules("glpat-abcdefghij0123456789"), ["gitlab-token"]);
        assert_eq!(rules("SLACK=xoxb-1234567890-abcdef"), ["slack-token"]);
        assert_eq!(rules("sk_live_abcdefghijklmnop1234"), ["stripe-key"]);
        assert_eq!(rules("sk_test_abcdefghijklmnop1234"), Vec::<&str>::new());
        assert_eq!(
            rules("AIzaSyA-abcdefghijklmnopqrstuvwxyz01234"),
            ["google-api-key"]
        );
    }

    #[test]
    fn high_entropy_assignments_to_secret_names() {
        assert_eq!(
            rules("DB_PASSWORD=Xk9#mQ2$vL8pW4nZr7tY"),
            Vec::<&str>::new(),
            "`$` reads as a reference"
        );
        assert_eq!(
            rules("DB_PASSWORD=Xk9_mQ2-vL8pW4nZr7tY"),
            ["high-entropy-secret"]
        );
        assert_eq!(
            rules("  \"apiKey\": \"Zq8vN3kLp0RtY6wXb2Hs\","),
            ["high-entropy-secret"]
        );
        assert_eq!(
            rules("jwt_secret := \"aB3dE5gH7jK9mN1pQ3sT\""),
            ["high-entropy-secret"]
        );
        assert_eq!(
            rules("DB_PASSWORD=changeme-please-now1"),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules("password = get_password_from_env()"),
            Vec::<&str>::new()
        );
        assert_eq!(rules("LOG_LEVEL=Xk9_mQ2-vL8pW4nZr7tY"), Vec::<&str>::new());
        assert_eq!(
            rules("if password == 'Xk9_mQ2-vL8pW4nZr7tY'"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn placeholders() {
        for p in [
            "",
            "changeme",
            "<your key>",
            "xxxxxxxx",
            "${DB_PASSWORD}",
            "your-api-key",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        assert!(!is_placeholder("prod_password_789"));
    }
}
