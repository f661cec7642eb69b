//! The one catalogue of secret shapes: every credential family envault recognises, with its
//! provider, its shape (prefix, alphabet, length, structure), the names it is assigned to, its
//! checksum where the provider defines one, whether it is public by design, and where the
//! provider documents it. The scanner, the classifier (masking, encryption, stores), rotation's
//! "issued by a provider" rule and `check` all ask here.
//!
//! Matching is one Aho-Corasick pass over a text for every literal anchor (token prefixes,
//! structural markers such as `://` or `AccountKey=`) and one case-insensitive pass for the
//! names keyword families are assigned to; each candidate is then checked where it was found.
//! Look-alikes are left alone: documented example values (AWS's `…EXAMPLE` keys), bodies of
//! one repeated character, `x`s or a counting sequence, references (`${VAR}`, `$VAR`,
//! `os.environ[…]`) and templates. A checksum that holds raises a match's confidence; one that
//! fails never drops a match on its own (hand-made look-alikes fail it, and a real token must
//! not slip through because a scanner guessed wrong).

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

mod families;
mod shapes;
#[cfg(test)]
mod tests;

pub use families::FAMILIES;
pub use shapes::{
    assignment_around, entropy, is_placeholder, is_reference, looks_random, Assignment,
};

/// The bytes a token body may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `A-Z a-z 0-9`.
    Base62,
    /// Base62 and `_`.
    Word,
    /// Base62, `-` and `_` (URL-safe base64 without padding).
    Base64Url,
    /// Base64url and `.`.
    Dotted,
    /// Base62, `+` and `/` (standard base64, padding checked apart).
    Base64,
    /// `0-9 a-f`.
    HexLower,
    /// `0-9 a-f A-F`.
    Hex,
    /// `A-Z 0-9`.
    UpperAlnum,
    /// `A-Z a-z`.
    Letters,
    /// Bech32's data characters, upper case (age secret keys are written upper case).
    Bech32Upper,
    /// Any visible ASCII but quotes (a value whose shape the provider does not fix).
    Visible,
}

impl Alphabet {
    pub fn contains(self, b: u8) -> bool {
        match self {
            Alphabet::Base62 => b.is_ascii_alphanumeric(),
            Alphabet::Word => b.is_ascii_alphanumeric() || b == b'_',
            Alphabet::Base64Url => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
            Alphabet::Dotted => b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'),
            Alphabet::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/',
            Alphabet::HexLower => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Alphabet::Hex => b.is_ascii_hexdigit(),
            Alphabet::UpperAlnum => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Alphabet::Letters => b.is_ascii_alphabetic(),
            Alphabet::Bech32Upper => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".contains(&b),
            Alphabet::Visible => b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'`'),
        }
    }

    /// How many bytes from the start of `text` belong to the alphabet (at most `limit`).
    fn run(self, text: &[u8], limit: usize) -> usize {
        text.iter()
            .take(limit)
            .take_while(|b| self.contains(**b))
            .count()
    }
}

/// A token body: `min..=max` bytes of an alphabet, ending where the alphabet ends.
#[derive(Debug, Clone, Copy)]
pub struct Body {
    pub alphabet: Alphabet,
    pub min: usize,
    pub max: usize,
}

/// How a family is found.
#[derive(Clone, Copy)]
pub enum Anchor {
    /// A literal prefix (case as written), then a body.
    Prefix {
        prefixes: &'static [&'static str],
        body: Body,
    },
    /// A value of the body's shape assigned to a name that contains one of `keywords`
    /// (ignoring case; `_`, `-`, `.` and case changes separate words alike) and, when
    /// `also` is not empty, one of `also` too. With `exact`, the name must be one of
    /// `keywords` itself (`_authToken` in `.npmrc`, not `DB_AUTH_TOKEN`).
    Keyword {
        keywords: &'static [&'static str],
        also: &'static [&'static str],
        exact: bool,
        value: Body,
    },
    /// A literal marker, then a structure only code can check: `find(text, at, len)` gets
    /// the text and where the marker was found, and returns the secret's span.
    Structure {
        markers: &'static [&'static str],
        find: fn(&[u8], usize, usize) -> Option<Range<usize>>,
    },
}

/// A checksum a family's tokens carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// The last 6 characters are the CRC-32 of the rest of the body, in base62 (GitHub's
    /// `ghp_`… tokens, npm's `npm_` tokens).
    Crc32Base62,
}

/// One credential family.
pub struct Family {
    /// The rule id findings carry (`github-token`), stable: allow-lists and SARIF use it.
    pub id: &'static str,
    /// Who issues it.
    pub provider: &'static str,
    /// What a match is, in a sentence's words: "a GitHub token".
    pub what: &'static str,
    /// The ways it is found (a token prefix, the names it is assigned to…).
    pub anchors: &'static [Anchor],
    pub checksum: Option<Checksum>,
    /// Meant to be seen (a publishable key, an OAuth client id): recognised, never reported.
    pub public: bool,
    /// Where the provider documents the format, or revoking it.
    pub doc: &'static str,
    /// What it catches and what it leaves alone, for `scan --rules` and the README.
    pub catches: &'static str,
    pub leaves: &'static str,
}

impl Family {
    /// The family with this id.
    pub fn by_id(id: &str) -> Option<&'static Family> {
        FAMILIES.iter().find(|f| f.id == id)
    }

    /// How much a match says: a provider's own token form says most, a keyword family's value
    /// less, a password in a URL, a header or a netrc file least (it could be any provider's).
    fn specificity(&self) -> u8 {
        if self
            .anchors
            .iter()
            .any(|a| matches!(a, Anchor::Prefix { .. }))
        {
            3
        } else if matches!(
            self.id,
            "database-url" | "url-credentials" | "authorization-header" | "netrc-password"
        ) {
            0
        } else if self.is_keyword() {
            1
        } else {
            2
        }
    }

    /// Whether this family is found only by the name a value is assigned to.
    pub fn is_keyword(&self) -> bool {
        self.anchors
            .iter()
            .all(|a| matches!(a, Anchor::Keyword { .. }))
    }
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl PartialEq for Family {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Family {}
impl PartialOrd for Family {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Family {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(other.id)
    }
}
impl std::hash::Hash for Family {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// The shape matches.
    Shape,
    /// The shape matches and the provider's checksum holds.
    Checksum,
}

/// A credential found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub family: &'static Family,
    /// The secret's bytes in the text.
    pub span: Range<usize>,
    /// The name it is assigned to, for keyword families.
    pub name: Option<String>,
    pub confidence: Confidence,
}

/// What a pattern of the automata stands for: a family's anchor (family index, anchor
/// index), and for literals the literal's length.
enum Candidate {
    Literal(usize, usize, usize),
    Keyword(usize, usize),
}

struct Automata {
    literals: AhoCorasick,
    /// Each distinct literal's candidates (`://` anchors two families).
    literal_of: Vec<Vec<Candidate>>,
    keywords: AhoCorasick,
    keyword_of: Vec<Candidate>,
}

fn automata() -> &'static Automata {
    static A: OnceLock<Automata> = OnceLock::new();
    A.get_or_init(|| {
        let (mut lits, mut literal_of): (Vec<&str>, Vec<Vec<Candidate>>) = (Vec::new(), Vec::new());
        let (mut words, mut keyword_of) = (Vec::new(), Vec::new());
        for (i, f) in FAMILIES.iter().enumerate() {
            for (j, anchor) in f.anchors.iter().enumerate() {
                match anchor {
                    Anchor::Prefix { prefixes: ps, .. } | Anchor::Structure { markers: ps, .. } => {
                        for p in *ps {
                            let cand = Candidate::Literal(i, j, p.len());
                            match lits.iter().position(|l| l == p) {
                                Some(k) => literal_of[k].push(cand),
                                None => {
                                    lits.push(*p);
                                    literal_of.push(vec![cand]);
                                }
                            }
                        }
                    }
                    Anchor::Keyword { keywords, .. } => {
                        for k in *keywords {
                            words.push(*k);
                            keyword_of.push(Candidate::Keyword(i, j));
                        }
                    }
                }
            }
        }
        let build = |pats: &[&str], nocase: bool| {
            AhoCorasickBuilder::new()
                // Literals: leftmost-longest, so that the search can skip ahead with its
                // prefilter (`xoxe.xoxp-` over `xoxe-`, `sk-ant-` over `sk-`); no literal
                // starts inside another's text, so none is hidden. Keywords overlap (`_auth`
                // in `_authToken`): they are searched with every match.
                .match_kind(if nocase {
                    MatchKind::Standard
                } else {
                    MatchKind::LeftmostLongest
                })
                // A DFA: several times faster than the default NFA for overlapping
                // searches, and these pattern sets are small.
                .kind(Some(AhoCorasickKind::DFA))
                .ascii_case_insensitive(nocase)
                .build(pats)
                .expect("static patterns build")
        };
        Automata {
            literals: build(&lits, false),
            literal_of,
            keywords: build(&words, true),
            keyword_of,
        }
    })
}

/// Whether the byte before `at` ends a word (so a prefix found there starts a token).
fn starts_word(text: &[u8], at: usize) -> bool {
    at == 0 || !(text[at - 1].is_ascii_alphanumeric() || text[at - 1] == b'_')
}

/// Every credential in `text`, public families included (callers decide what to report), in
/// text order; where two overlap, the longer (else the earlier family) wins.
pub fn find(text: &[u8]) -> Vec<Match> {
    let a = automata();
    let mut found: Vec<Match> = Vec::new();
    for (m, cand) in a.literals.find_iter(text).flat_map(|m| {
        a.literal_of[m.pattern().as_usize()]
            .iter()
            .map(move |c| (m, c))
    }) {
        let Candidate::Literal(i, j, len) = *cand else {
            continue;
        };
        let family = &FAMILIES[i];
        let span = match family.anchors[j] {
            Anchor::Prefix { body, .. } => {
                if !starts_word(text, m.start()) {
                    continue;
                }
                let rest = &text[m.end()..];
                let n = body.alphabet.run(rest, body.max + 1);
                if n < body.min || n > body.max {
                    continue;
                }
                let b = &rest[..n];
                if shapes::placeholder_body(b) {
                    continue;
                }
                m.start()..m.end() + n
            }
            Anchor::Structure { find, .. } => match find(text, m.start(), len) {
                Some(span) => span,
                None => continue,
            },
            Anchor::Keyword { .. } => continue,
        };
        push(&mut found, family, span, None, text);
    }
    for m in a.keywords.find_overlapping_iter(text) {
        let Candidate::Keyword(i, j) = a.keyword_of[m.pattern().as_usize()] else {
            continue;
        };
        let family = &FAMILIES[i];
        let Anchor::Keyword {
            keywords,
            also,
            exact,
            value,
        } = family.anchors[j]
        else {
            continue;
        };
        let Some(asg) = shapes::assignment_around(text, m.start(), m.end()) else {
            continue;
        };
        if exact {
            let written = &text[asg.name_span.clone()];
            if !keywords
                .iter()
                .any(|k| written.eq_ignore_ascii_case(k.as_bytes()))
            {
                continue;
            }
        }
        if !also.is_empty() && !also.iter().any(|w| shapes::has_word(&asg.name, w)) {
            continue;
        }
        let mut v = &text[asg.value.clone()];
        if value.alphabet == Alphabet::Base64 {
            // Padding.
            while let Some(rest) = v.strip_suffix(b"=") {
                v = rest;
            }
        }
        if v.len() < value.min
            || v.len() > value.max
            || !v.iter().all(|b| value.alphabet.contains(*b))
            || shapes::placeholder_body(v)
        {
            continue;
        }
        let name = String::from_utf8_lossy(&text[asg.name_span.clone()]).into_owned();
        push(&mut found, family, asg.value, Some(name), text);
    }
    found.sort_by_key(|m| (m.span.start, std::cmp::Reverse(m.span.end)));
    found
}

/// Values providers publish in their documentation as examples or for local emulators:
/// they open nothing (AWS's `…EXAMPLE` keys are caught by the word; these are not).
const DOCUMENTED_EXAMPLES: &[&str] = &[
    // Azure Storage emulator (Azurite) account key, published for `devstoreaccount1`.
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
];

fn push(
    found: &mut Vec<Match>,
    family: &'static Family,
    span: Range<usize>,
    name: Option<String>,
    text: &[u8],
) {
    if DOCUMENTED_EXAMPLES
        .iter()
        .any(|e| text[span.clone()] == *e.as_bytes())
    {
        return;
    }
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    // The more specific family wins an overlap (a GitHub token used as a URL's password is a
    // GitHub token), then the longer match; a match that loses to any it overlaps is dropped,
    // one that beats them all replaces them.
    let rank = (family.specificity(), span.len());
    if found
        .iter()
        .any(|m| overlaps(&m.span, &span) && (m.family.specificity(), m.span.len()) >= rank)
    {
        return;
    }
    found.retain(|m| !overlaps(&m.span, &span));
    let confidence = match family.checksum {
        Some(Checksum::Crc32Base62) if shapes::crc32_base62_holds(&text[span.clone()]) => {
            Confidence::Checksum
        }
        _ => Confidence::Shape,
    };
    found.push(Match {
        family,
        span,
        name,
        confidence,
    });
}

/// The family a whole value belongs to (surrounding whitespace aside), if it is one token of
/// a family found by its shape: what a provider issued, whatever the key it is assigned to.
pub fn identify(value: &str) -> Option<&'static Family> {
    let v = value.trim();
    find(v.as_bytes())
        .into_iter()
        .find(|m| m.name.is_none() && m.span.start == 0 && m.span.end == v.len())
        .map(|m| m.family)
}

/// The family of `value` assigned to `key` (a keyword family needs the name), if any.
pub fn identify_assigned(key: &str, value: &str) -> Option<&'static Family> {
    identify(value).or_else(|| {
        let text = format!("{key}={}", value.trim());
        find(text.as_bytes())
            .into_iter()
            .find(|m| m.name.is_some() && m.span.start == key.len() + 1 && m.span.end == text.len())
            .map(|m| m.family)
    })
}

/// The family whose issuer made `value` (assigned to `key`), judged by its form alone: a
/// value that starts with a family's prefix and continues in its alphabet counts even when its
/// body is a placeholder, since only the issuer can make a real one (rotation refuses to make
/// one up). Public families count too: a publishable key is the provider's as well.
pub fn issuer_of(key: &str, value: &str) -> Option<&'static Family> {
    let v = value.trim();
    let by_prefix = FAMILIES.iter().find(|f| {
        f.anchors.iter().any(|a| match a {
            Anchor::Prefix { prefixes, body } => prefixes.iter().any(|p| {
                v.strip_prefix(p).is_some_and(|rest| {
                    (body.min..=body.max).contains(&rest.len())
                        && rest.bytes().all(|b| body.alphabet.contains(b))
                })
            }),
            Anchor::Keyword {
                keywords,
                also,
                exact,
                value,
            } => {
                let named = if *exact {
                    keywords.iter().any(|k| key.eq_ignore_ascii_case(k))
                } else {
                    keywords.iter().any(|k| shapes::has_word(key, k))
                        && (also.is_empty() || also.iter().any(|w| shapes::has_word(key, w)))
                };
                let bare = v.trim_end_matches('=');
                named
                    && (value.min..=value.max).contains(&bare.len())
                    && bare.bytes().all(|b| value.alphabet.contains(b))
            }
            Anchor::Structure { .. } => false,
        })
    });
    by_prefix.or_else(|| identify_assigned(key, v))
}
