//! Rule 4 over a text: the catalogue's credential families (`crate::catalogue`) anywhere, and
//! high-entropy values assigned to secret-named keys; and the placeholder test of rule 2.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::catalogue::{self, Confidence};
use crate::classify::Classifier;
use crate::rule::Rule;

pub use crate::catalogue::{entropy, is_placeholder, looks_random};

/// Fragments of secret-like names (matched ignoring ASCII case) that start the check for a
/// high-entropy assignment.
const NAME_WORDS: &[&str] = &[
    "pass",
    "secret",
    "privatekey",
    "signing",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "private_key",
    "credential",
    "pwd",
];

fn names() -> &'static AhoCorasick {
    static A: OnceLock<AhoCorasick> = OnceLock::new();
    A.get_or_init(|| {
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            // A DFA: several times faster than the default NFA for overlapping
            // searches, and these pattern sets are small.
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(NAME_WORDS)
            .expect("static patterns build")
    })
}

/// A credential found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The rule: the credential's family, or `high-entropy-secret`.
    pub rule: Rule,
    pub what: String,
    /// The secret's byte range in the text.
    pub span: Range<usize>,
    /// The key it was assigned to, when a name told (keyword families, high entropy).
    pub key: Option<String>,
    pub confidence: Confidence,
}

/// Rule 4 over `text`: credential families anywhere (public ones left out), and
/// high-entropy values assigned to secret-named keys.
pub fn credentials(text: &[u8], classifier: &Classifier) -> Vec<Hit> {
    let (public, found): (Vec<_>, Vec<_>) = catalogue::find(text)
        .into_iter()
        .partition(|m| m.family.public);
    let public: Vec<Range<usize>> = public.into_iter().map(|m| m.span).collect();
    let mut hits: Vec<Hit> = found
        .into_iter()
        .map(|m| Hit {
            rule: Rule::Credential(m.family),
            what: m.family.what.to_owned(),
            span: m.span,
            key: m.name,
            confidence: m.confidence,
        })
        .collect();
    // A credential family says more than "random-looking": it wins where both match, and a
    // value public by design is no secret whatever its name.
    for m in names().find_overlapping_iter(text) {
        let Some(hit) = assignment_at(text, m.start(), m.end(), classifier) else {
            continue;
        };
        if !hits
            .iter()
            .map(|h| &h.span)
            .chain(&public)
            .any(|s| overlaps(s, &hit.span))
        {
            hits.push(hit);
        }
    }
    hits.sort_by_key(|h| h.span.start);
    hits
}

/// The credential family of `value` assigned to `key` (a token whose format says it is a
/// credential whatever the key's name, or a keyword family's value under its name), if any.
/// Families public by design are not credentials.
pub fn family_of(key: &str, value: &str) -> Option<&'static catalogue::Family> {
    catalogue::identify_assigned(key, value).filter(|f| !f.public)
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The value of the assignment around a name word found at `start..end`, when the name is
/// secret-like (as the classifier judges it) and the value looks random.
fn assignment_at(text: &[u8], start: usize, end: usize, classifier: &Classifier) -> Option<Hit> {
    let asg = catalogue::assignment_around(text, start, end)?;
    if !classifier.is_secret(&asg.name, &[]) {
        return None;
    }
    let value = std::str::from_utf8(&text[asg.value.clone()]).ok()?;
    // Unquoted, `$`, brackets and braces are code or shell expansion, not a literal.
    let code = !asg.quoted
        && value
            .bytes()
            .any(|b| matches!(b, b'$' | b'(' | b'[' | b'{'));
    // envault's own sealed values are random by design, and safe.
    if code || crate::crypt::is_sealed(value) || !looks_random(value) {
        return None;
    }
    let name = String::from_utf8_lossy(&text[asg.name_span]).into_owned();
    Some(Hit {
        rule: Rule::HighEntropySecret,
        what: format!("a random-looking value assigned to {name}"),
        span: asg.value,
        key: Some(name),
        confidence: Confidence::Shape,
    })
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
        assert_eq!(rules("key = 'AKIAIS5COUHFUMVGU6H4'"), ["aws-access-key-id"]);
        assert_eq!(rules("key = 'AKIAIOSFODNN7EXAMPLE'"), Vec::<&str>::new());
        assert_eq!(rules("xAKIAIS5COUHFUMVGU6H4"), Vec::<&str>::new());
        assert_eq!(
            rules("token: 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"),
            ["github-token"]
        );
        assert_eq!(
            rules("sk_test_TeH9h3V8czKBuemqNttfBZvr"),
            ["stripe-test-key"]
        );
        assert_eq!(
            rules("STRIPE_PUBLISHABLE_KEY=pk_live_uaka8jkhBv8rwz8VhIraCCrd"),
            Vec::<&str>::new(),
            "public by design, whatever the name"
        );
        assert_eq!(
            rules("AIzasOnFg4xarI6F3H_r-up8cUb1ErTHEZnVwX5"),
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
        for reference in [
            "SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]",
            "password = random_password.master.result",
            "DB_PASSWORD=$DATABASE_PASSWORD_FROM_VAULT",
            "api_key: \"{{ .Values.apiKey }}\"",
        ] {
            assert_eq!(rules(reference), Vec::<&str>::new(), "{reference}");
        }
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
