//! Secret generators, one per kind, drawing only from the operating system's CSPRNG.
//!
//! Every default carries at least 128 bits of entropy, and a requested length that would carry
//! less is an error, never a weaker secret.

use base64::Engine as _;
use rand::rngs::OsRng;
use rand::TryRngCore;

use crate::classify::url_password;

mod backup;
use crate::dotenv::{Document, Edit, EditError, QuoteWarning};
pub use backup::{project_folder, Backup, BackupChange, BackupError, Listed, Saved, KEEP_DAYS};

pub use crate::classify::Format;

impl Format {
    /// Bits of entropy per unit of length.
    fn bits_per_unit(self) -> f64 {
        match self {
            Format::Password => (PASSWORD_ALPHABET.len() as f64).log2(),
            Format::UrlPassword => (URL_ALPHABET.len() as f64).log2(),
            Format::ApiKey | Format::Alphanumeric => (ALNUM.len() as f64).log2(),
            Format::Base64 | Format::Hex => 8.0,
        }
    }

    /// The shortest length that carries 128 bits.
    pub fn min_length(self) -> usize {
        (MIN_BITS / self.bits_per_unit()).ceil() as usize
    }
}

const MIN_BITS: f64 = 128.0;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ"; // no I, O
const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz"; // no l, o
const DIGITS: &[u8] = b"23456789"; // no 0, 1
/// Symbols that survive unquoted both in a .env file and in a POSIX shell word.
const SYMBOLS: &[u8] = b"@%+=_-.,:";
const PASSWORD_ALPHABET: &[u8] =
    b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789@%+=_-.,:";
/// RFC 3986 unreserved characters: never need percent-encoding in a URL.
const URL_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Why a value cannot be generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RotateError {
    #[error(
        "a {format} of length {length} carries fewer than 128 random bits (minimum length {min})"
    )]
    TooShort {
        format: Format,
        length: usize,
        min: usize,
    },
    #[error("the value is not a URL with a password (scheme://user:password@host)")]
    NoUrlPassword,
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

impl crate::error::Hint for RotateError {
    fn hint(&self) -> Option<String> {
        match self {
            RotateError::TooShort { format, min, .. } => Some(format!(
                "use --length {min} or more ({})",
                if format.length_in_bytes() { "random bytes" } else { "characters" }
            )),
            RotateError::NoUrlPassword => Some(
                "a URL key is rotated by replacing its password; set a URL with user:password first, or choose a kind under rotation: in .envault.yml"
                    .into(),
            ),
            RotateError::Random(_) => None,
        }
    }
}

/// Fills `buf` from the OS CSPRNG.
fn random_bytes(buf: &mut [u8]) -> Result<(), RotateError> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| RotateError::Random(e.to_string()))
}

/// `n` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
fn random_chars(alphabet: &[u8], n: usize) -> Result<String, RotateError> {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        random_bytes(&mut buf)?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < n {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// A password with at least one upper, lower, digit and symbol, not starting with `-` (it
/// would read as an option when passed as a command-line argument). Drawing again when one
/// of these fails keeps every valid password equally likely.
fn password(n: usize) -> Result<String, RotateError> {
    loop {
        let p = random_chars(PASSWORD_ALPHABET, n)?;
        let b = p.as_bytes();
        let has = |set: &[u8]| b.iter().any(|c| set.contains(c));
        if has(UPPER) && has(LOWER) && has(DIGITS) && has(SYMBOLS) && !p.starts_with('-') {
            return Ok(p);
        }
    }
}

/// The recognisable prefix of an API key (`sk_live_`, `dev_key_`) and its version, if any:
/// the leading `_`-terminated words made of letters, followed by an optional `v<N>_`.
pub fn api_key_parts(current: &str) -> (String, Option<u32>) {
    let mut prefix_len = 0;
    let mut version = None;
    let mut rest = current;
    while let Some(i) = rest.find('_') {
        let word = &rest[..i];
        if let Some(v) = word
            .strip_prefix('v')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            version = v.parse().ok();
            break;
        }
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
            break;
        }
        prefix_len += i + 1;
        rest = &rest[i + 1..];
    }
    // A value made only of words (no random part) has no prefix worth keeping.
    if prefix_len == current.len() {
        prefix_len = 0;
    }
    (current[..prefix_len].to_owned(), version)
}

/// Generates a new value in `format`. `current` is the value being replaced (its URL is kept
/// for URL passwords, its prefix and version for API keys); `length` overrides the default.
pub fn generate(
    format: Format,
    current: &str,
    length: Option<usize>,
) -> Result<String, RotateError> {
    let length = length.unwrap_or_else(|| format.default_length());
    let min = format.min_length();
    if length < min {
        return Err(RotateError::TooShort {
            format,
            length,
            min,
        });
    }
    match format {
        Format::Password => password(length),
        Format::UrlPassword => {
            let range = url_password(current).ok_or(RotateError::NoUrlPassword)?;
            let new = random_chars(URL_ALPHABET, length)?;
            Ok(format!(
                "{}{new}{}",
                &current[..range.start],
                &current[range.end..]
            ))
        }
        Format::ApiKey => {
            let (prefix, version) = api_key_parts(current);
            let next = version.map_or(1, |v| v.saturating_add(1));
            Ok(format!("{prefix}v{next}_{}", random_chars(ALNUM, length)?))
        }
        Format::Alphanumeric => random_chars(ALNUM, length),
        Format::Base64 | Format::Hex => {
            let mut bytes = vec![0u8; length];
            random_bytes(&mut bytes)?;
            Ok(if format == Format::Hex {
                hex::encode(&bytes)
            } else {
                base64::engine::general_purpose::STANDARD.encode(&bytes)
            })
        }
    }
}

/// New values for several environments' current values (`currents`). By default each gets a
/// value of its own; with `same`, one value is generated and written everywhere (for URL
/// passwords: one password, spliced into each environment's own URL).
pub fn generate_each(
    format: Format,
    currents: &[&str],
    length: Option<usize>,
    same: bool,
) -> Result<Vec<String>, RotateError> {
    if !same {
        return currents
            .iter()
            .map(|c| generate(format, c, length))
            .collect();
    }
    match format {
        Format::UrlPassword => {
            let password = generate(format, "x://u:p@h", length)?;
            let password = &password["x://u:".len()..password.len() - "@h".len()];
            currents
                .iter()
                .map(|c| {
                    let r = url_password(c).ok_or(RotateError::NoUrlPassword)?;
                    Ok(format!("{}{password}{}", &c[..r.start], &c[r.end..]))
                })
                .collect()
        }
        _ => {
            let one = generate(format, currents.first().copied().unwrap_or(""), length)?;
            Ok(vec![one; currents.len()])
        }
    }
}

/// Values shorter than this are not searched for inside other values: short strings match by
/// accident.
pub const MIN_EMBEDDED_LEN: usize = 8;

/// `s` with every byte outside RFC 3986's unreserved set percent-encoded.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Byte offsets where `needle` occurs in `hay` as a whole token: not glued to a letter or digit
/// on a side where the needle itself starts or ends with one (`secret_1` is not inside
/// `secret_10`).
fn token_matches(hay: &str, needle: &str) -> Vec<usize> {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let starts_alnum = alnum(needle.chars().next());
    let ends_alnum = alnum(needle.chars().next_back());
    hay.match_indices(needle)
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = hay[..i].chars().next_back();
            let after = hay[i + needle.len()..].chars().next();
            !((starts_alnum && alnum(before)) || (ends_alnum && alnum(after)))
        })
        .collect()
}

/// Whether `hay` embeds `needle` as a whole token.
pub fn embeds(hay: &str, needle: &str) -> bool {
    !token_matches(hay, needle).is_empty()
}

/// `value` with `old` replaced by `new` where it stands as a whole token. When `value` is a URL
/// whose password is `old` (as is or percent-encoded), the new password is spliced in
/// percent-encoded, so the URL stays valid.
pub fn replace_embedded(value: &str, old: &str, new: &str) -> String {
    if let Some(r) = url_password(value) {
        let pw = &value[r.clone()];
        if pw == old || pw == percent_encode(old) {
            return format!(
                "{}{}{}",
                &value[..r.start],
                percent_encode(new),
                &value[r.end..]
            );
        }
    }
    let mut out = String::with_capacity(value.len());
    let mut last = 0;
    for i in token_matches(value, old) {
        out.push_str(&value[last..i]);
        out.push_str(new);
        last = i + old.len();
    }
    out.push_str(&value[last..]);
    out
}

/// A value change made by a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    /// `None` when the key is added.
    pub old: Option<String>,
    pub new: String,
}

/// What a rotation does to one document: the rotated keys, and the other keys whose values
/// embedded an old value (a password inside `DATABASE_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocPlan {
    pub rotated: Vec<Change>,
    pub also: Vec<Change>,
}

/// Plans writing `new_values` (key → new value) into `doc`, finding the other keys that embed
/// an old value of at least [`MIN_EMBEDDED_LEN`] characters.
pub fn plan_doc(doc: &Document, new_values: &[(String, String)]) -> DocPlan {
    let mut plan = DocPlan::default();
    for (key, new) in new_values {
        plan.rotated.push(Change {
            key: key.clone(),
            old: doc.get(key).map(str::to_owned),
            new: new.clone(),
        });
    }
    let replacements: Vec<(&str, &str)> = plan
        .rotated
        .iter()
        .filter_map(|c| c.old.as_deref().map(|o| (o, c.new.as_str())))
        .filter(|(o, _)| o.len() >= MIN_EMBEDDED_LEN)
        .collect();
    if replacements.is_empty() {
        return plan;
    }
    // One pass over every value finds all old values at once.
    let finder = Embedded::new(replacements.iter().map(|(o, _)| *o));
    for (key, value) in doc.to_map() {
        if new_values.iter().any(|(k, _)| k == key) {
            continue;
        }
        let hits = finder.find(value);
        let url_pw = url_password(value).is_some();
        if hits.is_empty() && !url_pw {
            continue;
        }
        let mut updated = value.to_owned();
        for (i, (old, new)) in replacements.iter().enumerate() {
            if hits.contains(&i) || (url_pw && url_password(&updated).is_some()) {
                updated = replace_embedded(&updated, old, new);
            }
        }
        if updated != value {
            plan.also.push(Change {
                key: key.to_owned(),
                old: Some(value.to_owned()),
                new: updated,
            });
        }
    }
    plan
}

/// Finds which of many values a text embeds as whole tokens, in one pass (Aho-Corasick).
struct Embedded<'a> {
    patterns: Vec<&'a str>,
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl<'a> Embedded<'a> {
    fn new(patterns: impl Iterator<Item = &'a str>) -> Embedded<'a> {
        let patterns: Vec<&str> = patterns.collect();
        let automaton = aho_corasick::AhoCorasick::new(&patterns).ok();
        Embedded {
            patterns,
            automaton,
        }
    }

    /// Indices of the patterns `text` embeds as whole tokens.
    fn find(&self, text: &str) -> Vec<usize> {
        let Some(ac) = &self.automaton else {
            return Vec::new();
        };
        let mut hits: Vec<usize> = ac
            .find_overlapping_iter(text)
            .map(|m| m.pattern().as_usize())
            .filter(|&i| embeds(text, self.patterns[i]))
            .collect();
        hits.sort_unstable();
        hits.dedup();
        hits
    }
}

/// Of `candidates` (keys of `doc`), those whose value embeds another candidate's value: they
/// change with that key's rotation (as "also updated") instead of being rotated on their own.
pub fn dependents<'a>(doc: &Document, candidates: &[&'a str]) -> Vec<&'a str> {
    let values: Vec<&str> = candidates
        .iter()
        .map(|k| doc.get(k).unwrap_or(""))
        .collect();
    let long: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].len() >= MIN_EMBEDDED_LEN)
        .collect();
    let finder = Embedded::new(long.iter().map(|&i| values[i]));
    candidates
        .iter()
        .zip(&values)
        .filter(|(_, v)| finder.find(v).into_iter().any(|p| values[long[p]] != **v))
        .map(|(k, _)| *k)
        .collect()
}

/// Applies a plan in one batch. With `keep_previous`, each rotated key's old value is kept as
/// `<KEY>_PREVIOUS`, right after the key.
pub fn apply(
    doc: &mut Document,
    plan: &DocPlan,
    keep_previous: bool,
) -> Result<Vec<QuoteWarning>, EditError> {
    let previous: Vec<(String, &str)> = if keep_previous {
        plan.rotated
            .iter()
            .filter_map(|c| c.old.as_deref().map(|o| (format!("{}_PREVIOUS", c.key), o)))
            .collect()
    } else {
        Vec::new()
    };
    let mut edits = Vec::new();
    for c in plan.rotated.iter().chain(&plan.also) {
        edits.push(match c.old {
            Some(_) => Edit::Set {
                key: &c.key,
                value: &c.new,
            },
            None => Edit::Insert {
                key: &c.key,
                value: &c.new,
                after: None,
            },
        });
    }
    for ((prev_key, old), c) in previous
        .iter()
        .zip(plan.rotated.iter().filter(|c| c.old.is_some()))
    {
        edits.push(if doc.get(prev_key).is_some() {
            Edit::Set {
                key: prev_key,
                value: old,
            }
        } else {
            Edit::Insert {
                key: prev_key,
                value: old,
                after: Some(&c.key),
            }
        });
    }
    Ok(doc.edit(&edits)?.warnings)
}

/// Why rotate-all leaves a key alone: not a secret, empty, or (unless forced) issued by a
/// provider, where only the provider can rotate it.
pub fn left_alone_reason(
    classifier: &crate::classify::Classifier,
    key: &str,
    value: &str,
    force: bool,
) -> Option<String> {
    let class = classifier.classify(key, Some(value));
    if !class.is_secret() {
        return Some("not a secret".into());
    }
    if value.is_empty() {
        return Some("empty: nothing to rotate".into());
    }
    if !force {
        if let Some(p) = crate::classify::provider_format(key, value) {
            return Some(format!("issued by {p}: rotate at the provider"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn defaults_carry_128_bits() {
        for f in [
            Format::Password,
            Format::UrlPassword,
            Format::ApiKey,
            Format::Base64,
            Format::Hex,
            Format::Alphanumeric,
        ] {
            assert!(
                f.default_length() as f64 * f.bits_per_unit() >= 128.0,
                "{f}"
            );
            assert!(f.default_length() >= f.min_length());
        }
        assert_eq!(Format::Hex.min_length(), 16);
        assert_eq!(Format::Password.min_length(), 22);
    }

    #[test]
    fn too_short_is_an_error() {
        assert_eq!(
            generate(Format::Password, "", Some(12)),
            Err(RotateError::TooShort {
                format: Format::Password,
                length: 12,
                min: 22
            })
        );
        assert!(generate(Format::Hex, "", Some(15)).is_err());
    }

    #[test]
    fn alphabets_are_as_documented() {
        let ambiguous = b"0Oo1lI|";
        assert!(!PASSWORD_ALPHABET.iter().any(|c| ambiguous.contains(c)));
        let classes: Vec<u8> = [UPPER, LOWER, DIGITS, SYMBOLS].concat();
        assert_eq!(classes, PASSWORD_ALPHABET);
        let unique: HashSet<_> = PASSWORD_ALPHABET.iter().collect();
        assert_eq!(unique.len(), PASSWORD_ALPHABET.len());
        for forbidden in b"\"'\\ `#$!&*;<>()" {
            assert!(!PASSWORD_ALPHABET.contains(forbidden));
        }
    }

    /// Pearson's chi-square statistic of observed character counts against a uniform spread.
    fn chi_square(counts: &HashMap<u8, usize>, alphabet: &[u8]) -> f64 {
        let total: usize = counts.values().sum();
        let expected = total as f64 / alphabet.len() as f64;
        alphabet
            .iter()
            .map(|c| {
                let o = *counts.get(c).unwrap_or(&0) as f64;
                (o - expected).powi(2) / expected
            })
            .sum()
    }

    /// Draws 10,000 values: all distinct, the right charset, and characters spread uniformly
    /// within each of `classes`: the chi-square statistic stays below its one-in-a-million
    /// critical value (Wilson–Hilferty approximation), so the test fails on a real bias such as
    /// modulo sampling but practically never by chance. Classes are checked separately because
    /// requiring one character of each class shifts weight between classes, not within one.
    fn check_generator(
        format: Format,
        current: &str,
        classes: &[&[u8]],
        strip: impl Fn(&str) -> &str,
    ) {
        let alphabet: Vec<u8> = classes.concat();
        let mut seen = HashSet::new();
        let mut counts: HashMap<u8, usize> = HashMap::new();
        for _ in 0..10_000 {
            let v = generate(format, current, None).unwrap();
            let core = strip(&v);
            assert!(core.bytes().all(|b| alphabet.contains(&b)), "{format}: {v}");
            for b in core.bytes() {
                *counts.entry(b).or_default() += 1;
            }
            assert!(seen.insert(v), "{format}: a value repeated");
        }
        for class in classes {
            let class_counts: HashMap<u8, usize> = counts
                .iter()
                .filter(|(c, _)| class.contains(c))
                .map(|(c, n)| (*c, *n))
                .collect();
            let df = (class.len() - 1) as f64;
            let z = 4.753; // standard normal quantile for p = 1e-6
            let critical = df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3);
            let chi = chi_square(&class_counts, class);
            assert!(
                chi < critical,
                "{format}: chi-square {chi:.1} >= {critical:.1}"
            );
        }
    }

    #[test]
    fn password_generator() {
        check_generator(
            Format::Password,
            "",
            &[UPPER, LOWER, DIGITS, SYMBOLS],
            |v| v,
        );
        for _ in 0..1000 {
            let p = generate(Format::Password, "", None).unwrap();
            assert_eq!(p.len(), 24);
            let b = p.as_bytes();
            for class in [UPPER, LOWER, DIGITS, SYMBOLS] {
                assert!(b.iter().any(|c| class.contains(c)), "{p}");
            }
        }
        // Never an option-looking first character (1 draw in 64 would start with `-`).
        for _ in 0..5000 {
            let p = generate(Format::Password, "", None).unwrap();
            assert!(!p.starts_with('-'), "{p}");
        }
    }

    #[test]
    fn alphanumeric_and_api_key_generators() {
        check_generator(Format::Alphanumeric, "", &[ALNUM], |v| v);
        check_generator(Format::ApiKey, "sk_live_v2_8aF3eR7k", &[ALNUM], |v| {
            v.strip_prefix("sk_live_v3_")
                .expect("prefix and next version")
        });
    }

    #[test]
    fn url_password_generator() {
        let url = "postgres://app:old@db.internal:5432/app?sslmode=require";
        check_generator(Format::UrlPassword, url, &[URL_ALPHABET], |v| {
            v.strip_prefix("postgres://app:")
                .and_then(|r| r.strip_suffix("@db.internal:5432/app?sslmode=require"))
                .expect("only the password changes")
        });
    }

    #[test]
    fn byte_generators() {
        check_generator(Format::Hex, "", &[b"0123456789abcdef"], |v| v);
        let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        // 32 bytes are 42 full base64 digits; the 43rd carries only 4 random bits.
        check_generator(Format::Base64, "", &[b64], |v| &v[..42]);
        assert_eq!(generate(Format::Hex, "", Some(64)).unwrap().len(), 128);
        let jwt = generate(Format::Base64, "", None).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(jwt)
            .unwrap();
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn url_passwords_keep_everything_else() {
        for url in [
            "postgres://user:pw@host/db",
            "postgresql://user:pw@host:5432/db?sslmode=require&x=1",
            "mysql://u%40corp:p%2Fw@[::1]:3306/app",
            "redis://:secretpass@cache:6379/0",
            "amqp://guest:guest@localhost",
            "mongodb+srv://admin:p@ss@cluster0.example.net/test?retryWrites=true#frag",
            "postgres://user:pw@host",
        ] {
            let range = url_password(url).unwrap();
            let new = generate(Format::UrlPassword, url, None).unwrap();
            assert_eq!(&new[..range.start], &url[..range.start], "{url}");
            assert_eq!(
                &new[new.len() - (url.len() - range.end)..],
                &url[range.end..],
                "{url}"
            );
            let pw = &new[range.start..new.len() - (url.len() - range.end)];
            assert_eq!(pw.len(), 24);
            assert!(pw.bytes().all(|b| URL_ALPHABET.contains(&b)));
        }
        assert_eq!(
            generate(Format::UrlPassword, "postgres://user@host/db", None),
            Err(RotateError::NoUrlPassword)
        );
    }

    #[test]
    fn embedded_values_follow_the_rotation() {
        let doc = Document::parse(
            "DB_PASSWORD=prod_password_789\nDATABASE_URL=postgres://app:prod_password_789@db/app\nREDIS_URL=redis://:prod_password_789@cache\nNOTE=\"uses prod_password_789 too\"\nSHORT=abc\nDB_HOST=db\n",
        )
        .unwrap();
        let plan = plan_doc(&doc, &[("DB_PASSWORD".into(), "n3w@pass:word".into())]);
        assert_eq!(plan.rotated[0].old.as_deref(), Some("prod_password_789"));
        let also: Vec<(&str, &str)> = plan
            .also
            .iter()
            .map(|c| (c.key.as_str(), c.new.as_str()))
            .collect();
        assert_eq!(
            also,
            [
                ("DATABASE_URL", "postgres://app:n3w%40pass%3Aword@db/app"),
                ("REDIS_URL", "redis://:n3w%40pass%3Aword@cache"),
                ("NOTE", "uses n3w@pass:word too"),
            ]
        );
        let mut doc = doc;
        apply(&mut doc, &plan, true).unwrap();
        let text = doc.render();
        assert!(
            text.starts_with("DB_PASSWORD=n3w@pass:word\nDB_PASSWORD_PREVIOUS=prod_password_789\n"),
            "{text}"
        );
        assert_eq!(doc.get("NOTE"), Some("uses n3w@pass:word too"));

        // Short values are not searched for.
        let doc = Document::parse("API_KEY=abc\nX=xabcx\n").unwrap();
        assert!(plan_doc(&doc, &[("API_KEY".into(), "new".into())])
            .also
            .is_empty());
    }

    #[test]
    fn only_whole_tokens_are_replaced() {
        assert_eq!(
            replace_embedded("secret_value_10", "secret_value_1", "NEW"),
            "secret_value_10"
        );
        assert_eq!(
            replace_embedded("a secret_value_1 b", "secret_value_1", "NEW"),
            "a NEW b"
        );
        assert_eq!(
            replace_embedded("x=secret_value_1;y", "secret_value_1", "NEW"),
            "x=NEW;y"
        );
        let doc = Document::parse("A=secret_value_1\nB=secret_value_10\n").unwrap();
        assert!(dependents(&doc, &["A", "B"]).is_empty());
        assert!(plan_doc(&doc, &[("A".into(), "NEW".into())])
            .also
            .is_empty());
    }

    #[test]
    fn percent_encoded_passwords_are_found() {
        let v = "postgres://u:p%40ss%20word@h/db";
        assert_eq!(
            replace_embedded(v, "p@ss word", "X:y"),
            "postgres://u:X%3Ay@h/db"
        );
    }

    #[test]
    fn dependents_change_with_their_source() {
        let doc = Document::parse(
            "DATABASE_URL=postgres://app:secret_pw_123@db/app\nDB_PASSWORD=secret_pw_123\nJWT_SECRET=other_secret_value\n",
        )
        .unwrap();
        let deps = dependents(&doc, &["DATABASE_URL", "DB_PASSWORD", "JWT_SECRET"]);
        assert_eq!(deps, ["DATABASE_URL"]);
    }

    #[test]
    fn one_value_or_one_each() {
        let urls = ["postgres://a:pw1@dev/db", "postgres://b:pw2@prod/db"];
        let each = generate_each(Format::UrlPassword, &urls, None, false).unwrap();
        let same = generate_each(Format::UrlPassword, &urls, None, true).unwrap();
        let pw = |v: &str| v[url_password(v).unwrap()].to_owned();
        assert_ne!(pw(&each[0]), pw(&each[1]));
        assert_eq!(pw(&same[0]), pw(&same[1]));
        assert!(same[0].ends_with("@dev/db") && same[1].ends_with("@prod/db"));
        let same = generate_each(Format::Hex, &["", ""], None, true).unwrap();
        assert_eq!(same[0], same[1]);
    }

    #[test]
    fn api_key_prefix_and_version() {
        assert_eq!(
            api_key_parts("sk_live_v2_8aF3eR7k"),
            ("sk_live_".into(), Some(2))
        );
        assert_eq!(api_key_parts("sk_test_abc"), ("sk_test_".into(), None));
        assert_eq!(api_key_parts("dev_key_abc123"), ("dev_key_".into(), None));
        assert_eq!(api_key_parts("8aF3eR7kQ"), (String::new(), None));
        assert_eq!(api_key_parts("v9_abc"), (String::new(), Some(9)));
        assert_eq!(api_key_parts("just_words_"), (String::new(), None));
        let k = generate(Format::ApiKey, "dev_key_abc123", None).unwrap();
        assert!(
            k.starts_with("dev_key_v1_") && k.len() == "dev_key_v1_".len() + 32,
            "{k}"
        );
    }
}
