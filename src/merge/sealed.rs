//! Merging encrypted env files. When both sides seal with the same data key, values merge on
//! their (stable) ciphertext and no identity is needed. Otherwise, or to tell whether two
//! different ciphertexts hold the same value, the three sides are opened with the user's
//! identity and re-expressed under the one data key the result will use: equal plaintexts get
//! equal ciphertext (existing ciphertext is reused where it exists), so the key-wise merge then
//! decides on them exactly as on plaintext — and no plaintext is ever written, not even inside
//! conflict markers.

use std::collections::{HashMap, HashSet};

use super::{merge, Labels, Merged};
use crate::crypt::{
    decrypt_document, header_of, is_sealed, open, seal, DataKey, Header, Identities, HEADER_PREFIX,
};
use crate::dotenv::{Document, Edit};

/// Why an encrypted merge cannot be done here; the driver reports it as a conflict.
#[derive(Debug, thiserror::Error)]
pub enum NeedsDecision {
    #[error("{0}")]
    Identity(String),
    #[error("{side} is no longer encrypted; decide whether the file stays encrypted")]
    Decrypted { side: &'static str },
    /// The sides' `#envault:` headers differ: who can open the data key, or the key itself,
    /// changed. A header is never merged as text; a key holder settles it.
    #[error("{0}")]
    Header(String),
    #[error("{0}")]
    Bad(String),
}

impl crate::error::Hint for NeedsDecision {
    fn hint(&self) -> Option<String> {
        Some("resolve the conflict with an identity that opens the file (`envault edit`), then `git add` it".to_owned())
    }
}

/// Whether two headers carry the same data key block for the same recipients (they may still
/// differ in format version).
fn same_key_block(a: &Header, b: &Header) -> bool {
    a.file_id == b.file_id && a.recipients == b.recipients && a.wrapped == b.wrapped
}

/// What `side` changed in the header relative to `base`, in words.
fn header_change(base: Option<&Header>, side: &Header, name: &str) -> Option<String> {
    let Some(base) = base else {
        return Some(format!("{name} created the file with its own data key"));
    };
    if base.lines() == side.lines() {
        return None;
    }
    let added = side.recipients_added_since(base);
    let removed = base.recipients_added_since(side);
    let mut what = Vec::new();
    if !added.is_empty() {
        what.push(format!("adds recipient {}", added.join(", ")));
    }
    if !removed.is_empty() {
        what.push(format!("removes recipient {}", removed.join(", ")));
    }
    if side.key_replaced_since(base) {
        what.push("replaces the data key".into());
    } else if base.wrapped != side.wrapped && added.is_empty() && removed.is_empty() {
        what.push("changes the wrapped data key".into());
    }
    if what.is_empty() {
        what.push("changes the header lines".into());
    }
    Some(format!("{name} {}", what.join(" and ")))
}

/// The header of the result: the two sides' headers when they are equal, or the upgraded one
/// when they differ only by format version. Any other difference (recipients, data key,
/// anything a party without the key could have written) is for a key holder to settle:
/// a header is never merged as text, so nobody gains access as a side effect of a merge.
fn settle_headers(hb: Option<&Header>, ho: &Header, ht: &Header) -> Result<Header, NeedsDecision> {
    if ho.lines() == ht.lines() {
        return Ok(ho.clone());
    }
    if same_key_block(ho, ht) {
        match (ho.version, ht.version) {
            (a, b) if a > b => return Ok(ho.clone()),
            (a, b) if b > a => return Ok(ht.clone()),
            _ => {}
        }
    }
    let changes: Vec<String> = [
        header_change(hb, ho, "ours"),
        header_change(hb, ht, "theirs"),
    ]
    .into_iter()
    .flatten()
    .collect();
    Err(NeedsDecision::Header(format!(
        "the `#envault:` headers of the two sides differ ({}); envault never merges who can open \
         a data key: a key holder settles it (take one side, then `envault recipients add` / \
         `remove` on the result)",
        if changes.is_empty() {
            "both changed it".to_owned()
        } else {
            changes.join("; ")
        }
    )))
}

/// Merges three sides of which at least one is encrypted.
pub fn merge_encrypted(
    base: &Document,
    ours: &Document,
    theirs: &Document,
    labels: Labels,
    identities: &Identities,
) -> Result<Merged, NeedsDecision> {
    let header = |d: &Document| header_of(d).map_err(|e| NeedsDecision::Bad(e.to_string()));
    let (hb, ho, ht) = (header(base)?, header(ours)?, header(theirs)?);
    let (ho_, ht_) = match (&ho, &ht) {
        (Some(o), Some(t)) => (o, t),
        (None, _) => return Err(NeedsDecision::Decrypted { side: "ours" }),
        (_, None) => return Err(NeedsDecision::Decrypted { side: "theirs" }),
    };
    let result_header = settle_headers(hb.as_ref(), ho_, ht_)?;
    // Both sides now share one data key. Without an identity the key-wise merge on stable
    // ciphertext is exact except where both sides changed one key; with one, equal
    // plaintexts are recognised first. The header is checked against its key either way a
    // key is opened: a forged recipient line or commitment is refused, never carried on.
    let key = if identities.is_empty() {
        None
    } else {
        match result_header.unwrap(identities) {
            Ok(k) => Some(k),
            Err(crate::crypt::CryptError::NotARecipient { .. }) => None,
            Err(e) => return Err(NeedsDecision::Bad(format!("cannot open the data key: {e}"))),
        }
    };
    let Some(key) = key else {
        return Ok(merge(base, ours, theirs, labels));
    };
    let base_key_own;
    let kb: Option<&DataKey> = match &hb {
        Some(h) if same_key_block(h, &result_header) => Some(&key),
        Some(h) => {
            base_key_own = h.unwrap(identities).ok();
            base_key_own.as_ref()
        }
        None => None,
    };
    let (ko, kt) = (Some(&key), Some(&key));
    // A base sealed under a key that cannot be opened tells nothing about values: merge as if
    // both sides had added every key (equal values agree, others conflict).
    let empty = Document::default();
    let (base, hb) = if hb.is_some() && kb.is_none() {
        (&empty, None)
    } else {
        (base, hb)
    };

    let mut n = Normalizer {
        key: &key,
        header: &result_header,
        // Keys sealed on either side stay sealed.
        sealed_keys: [ours, theirs]
            .iter()
            .flat_map(|d| d.entries())
            .filter(|e| is_sealed(e.raw_value()))
            .map(|e| e.key().to_owned())
            .collect(),
        memo: HashMap::new(),
    };
    n.remember([(ours, &ho, ko), (theirs, &ht, kt), (base, &hb, kb)])?;
    let (nb, no, nt) = (
        n.normalize(base, &hb, kb)?,
        n.normalize(ours, &ho, ko)?,
        n.normalize(theirs, &ht, kt)?,
    );
    Ok(merge(&nb, &no, &nt, labels))
}

fn bad(e: impl std::fmt::Display) -> NeedsDecision {
    NeedsDecision::Bad(e.to_string())
}

/// Brings the three sides to one form under the result's key: values opened, sealed keys
/// sealed again under that key, the ciphertext of an unchanged value reused, so that values
/// compare as written.
struct Normalizer<'k> {
    key: &'k DataKey,
    header: &'k Header,
    sealed_keys: HashSet<String>,
    /// Ciphertext under the result's key, by (key, plaintext digest): existing ciphertext
    /// first.
    memo: HashMap<(String, [u8; 32]), String>,
}

impl Normalizer<'_> {
    /// Remembers the sides' existing ciphertexts under the result's file id.
    fn remember(
        &mut self,
        sides: [(&Document, &Option<Header>, Option<&DataKey>); 3],
    ) -> Result<(), NeedsDecision> {
        for (doc, h, k) in sides {
            let (Some(h), Some(k)) = (h, k) else { continue };
            if h.file_id != self.header.file_id {
                continue;
            }
            for e in doc.entries().filter(|e| is_sealed(e.raw_value())) {
                let pt = open(k, &h.file_id, e.key(), e.raw_value()).map_err(bad)?;
                self.memo
                    .entry((e.key().to_owned(), *blake3::hash(pt.as_bytes()).as_bytes()))
                    .or_insert_with(|| e.raw_value().to_owned());
            }
        }
        Ok(())
    }

    fn normalize(
        &mut self,
        doc: &Document,
        h: &Option<Header>,
        k: Option<&DataKey>,
    ) -> Result<Document, NeedsDecision> {
        let plain = match (h, k) {
            (Some(h), Some(k)) => decrypt_document(doc, k, h).map_err(bad)?,
            _ => {
                let mut d = doc.clone();
                d.set_leading_lines(HEADER_PREFIX, &[]);
                d
            }
        };
        let mut raws: Vec<(String, String)> = Vec::new();
        for e in plain
            .entries()
            .filter(|e| self.sealed_keys.contains(e.key()))
        {
            let slot = (
                e.key().to_owned(),
                *blake3::hash(e.raw_value().as_bytes()).as_bytes(),
            );
            let sealed = match self.memo.get(&slot) {
                Some(s) => s.clone(),
                None => {
                    let s = seal(self.key, &self.header.file_id, e.key(), e.raw_value())
                        .map_err(bad)?;
                    self.memo.insert(slot, s.clone());
                    s
                }
            };
            raws.push((e.key().to_owned(), sealed));
        }
        let mut out = plain;
        let edits: Vec<Edit> = raws
            .iter()
            .map(|(k, raw)| Edit::SetRaw { key: k, raw })
            .collect();
        out.edit(&edits).map_err(bad)?;
        out.set_leading_lines(HEADER_PREFIX, &self.header.lines());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypt::{encrypt_document, generate_identity, Recipient};
    use crate::glob::GlobSet;

    const LABELS: Labels = Labels {
        ours: "ours",
        theirs: "theirs",
        marker_len: 7,
    };

    struct Person {
        ids: Identities,
        public: String,
    }

    fn person() -> Person {
        let (secret, public) = generate_identity();
        Person {
            ids: Identities::parse(&secret, "test").unwrap(),
            public,
        }
    }

    /// A file sealed with a fresh data key for `people`.
    fn sealed(text: &str, people: &[&Person]) -> (Document, DataKey, Header) {
        let key = DataKey::generate().unwrap();
        let rcpts: Vec<Recipient> = people.iter().map(|p| p.public.parse().unwrap()).collect();
        let header = Header::seal_key(&key, &rcpts).unwrap();
        let doc = reseal(text, &key, &header);
        (doc, key, header)
    }

    /// `text` sealed under an existing key and header.
    fn reseal(text: &str, key: &DataKey, header: &Header) -> Document {
        let mut doc = Document::parse(text).unwrap();
        encrypt_document(&mut doc, key, header, &GlobSet::new(vec![])).unwrap();
        doc
    }

    fn plain(text: &str, ids: &Identities) -> String {
        let doc = Document::parse(text).unwrap();
        let h = header_of(&doc).unwrap().unwrap();
        let key = h.unwrap(ids).unwrap();
        decrypt_document(&doc, &key, &h).unwrap().render()
    }

    #[test]
    fn one_sided_changes_merge_on_ciphertext_without_an_identity() {
        let alice = person();
        let (b, key, h) = sealed("A=1\nB=2\n", &[&alice]);
        let o = {
            let mut d = b.clone();
            d.edit(&[Edit::SetRaw {
                key: "A",
                raw: &seal(&key, &h.file_id, "A", "one").unwrap(),
            }])
            .unwrap();
            d
        };
        let t = {
            let mut d = b.clone();
            d.edit(&[Edit::SetRaw {
                key: "B",
                raw: &seal(&key, &h.file_id, "B", "two").unwrap(),
            }])
            .unwrap();
            d
        };
        let m = merge_encrypted(&b, &o, &t, LABELS, &Identities::empty()).unwrap();
        assert!(m.conflicts.is_empty());
        assert_eq!(plain(&m.text, &alice.ids), "A=one\nB=two\n");
        // Each side's ciphertext is kept as it was.
        assert!(m.text.contains(o.entry("A").unwrap().raw_value()));
        assert!(m.text.contains(t.entry("B").unwrap().raw_value()));
    }

    #[test]
    fn equal_plaintexts_merge_with_an_identity() {
        let alice = person();
        let (b, key, h) = sealed("A=1\n", &[&alice]);
        let o = reseal("A=new\n", &key, &h);
        let t = reseal("A=new\n", &key, &h);
        assert_ne!(o.render(), t.render(), "fresh nonces");
        let without = merge_encrypted(&b, &o, &t, LABELS, &Identities::empty()).unwrap();
        assert_eq!(without.conflicts, ["A"]);
        let with = merge_encrypted(&b, &o, &t, LABELS, &alice.ids).unwrap();
        assert!(with.conflicts.is_empty());
        assert_eq!(with.text, o.render());
    }

    #[test]
    fn a_recipient_added_on_one_side_is_a_decision_for_a_key_holder() {
        let (alice, bob) = (person(), person());
        let (b, key, h) = sealed("A=1\nB=2\n", &[&alice]);
        let h2 = Header::wrap(
            &key,
            h.file_id,
            &[alice.public.parse().unwrap(), bob.public.parse().unwrap()],
        )
        .unwrap();
        let mut o = b.clone();
        o.set_leading_lines(HEADER_PREFIX, &h2.lines());
        let t = reseal("A=1\nB=changed\n", &key, &h);
        for ids in [&Identities::empty(), &alice.ids] {
            let err = merge_encrypted(&b, &o, &t, LABELS, ids).unwrap_err();
            assert!(matches!(err, NeedsDecision::Header(_)), "{err}");
            assert!(err
                .to_string()
                .contains(&format!("ours adds recipient {}", bob.public)));
        }
    }

    /// The attack: a pull request adds only a recipient line to the header. Merged with the
    /// driver (main having changed the file too), the data key must never be wrapped to it.
    #[test]
    fn a_forged_recipient_line_never_gets_the_key() {
        let (alice, mallory) = (person(), person());
        let (b, key, h) = sealed("A=1\nB=2\n", &[&alice]);
        let o = reseal("A=changed\nB=2\n", &key, &h);
        let mut t = b.clone();
        let mut forged = h.lines();
        forged.insert(1, format!("{HEADER_PREFIX}recipient {}", mallory.public));
        t.set_leading_lines(HEADER_PREFIX, &forged);
        for ids in [&Identities::empty(), &alice.ids] {
            let err = merge_encrypted(&b, &o, &t, LABELS, ids).unwrap_err();
            assert!(matches!(err, NeedsDecision::Header(_)), "{err}");
            assert!(err.to_string().contains("theirs adds recipient"), "{err}");
        }
        // The forged line on both sides (it reached ours first): a key holder's merge checks
        // the header against the key and refuses it.
        let mut o2 = reseal("A=changed\nB=2\n", &key, &h);
        o2.set_leading_lines(HEADER_PREFIX, &forged);
        let err = merge_encrypted(&b, &o2, &t, LABELS, &alice.ids).unwrap_err();
        assert!(matches!(err, NeedsDecision::Bad(_)), "{err}");
        assert!(err.to_string().contains("without its data key"), "{err}");
    }

    #[test]
    fn a_re_keyed_side_is_a_decision_for_a_key_holder() {
        let (alice, bob) = (person(), person());
        let (b, _, _) = sealed("A=1\nB=2\n", &[&alice, &bob]);
        // Theirs removed bob: a new data key.
        let (t, _, _) = sealed("A=1\nB=2\n", &[&alice]);
        let hb = header_of(&b).unwrap().unwrap();
        let kb = hb.unwrap(&alice.ids).unwrap();
        let o = reseal("A=1\nB=2\nC=3\n", &kb, &hb);
        for ids in [&Identities::empty(), &alice.ids] {
            let err = merge_encrypted(&b, &o, &t, LABELS, ids).unwrap_err();
            assert!(
                err.to_string().contains("theirs removes recipient"),
                "{err}"
            );
            assert!(err.to_string().contains("replaces the data key"), "{err}");
        }
    }

    #[test]
    fn files_created_on_both_branches_are_a_decision() {
        let (alice, bob) = (person(), person());
        let (o, _, _) = sealed("A=1\nB=secret-ours\n", &[&alice]);
        let (t, _, _) = sealed("A=1\nC=3\nB=secret-theirs\n", &[&alice, &bob]);
        let base = Document::parse("").unwrap();
        let err = merge_encrypted(&base, &o, &t, LABELS, &alice.ids).unwrap_err();
        assert!(err.to_string().contains("created the file"), "{err}");
    }

    #[test]
    fn a_side_upgraded_to_header_version_2_merges() {
        let alice = person();
        let (b2, key, h2) = sealed("A=1\nB=2\n", &[&alice]);
        let h1 = Header {
            version: 1,
            commitment: None,
            mac: None,
            ..h2.clone()
        };
        let mut b = b2.clone();
        b.set_leading_lines(HEADER_PREFIX, &h1.lines());
        // Each side changes one value of the base (stable ciphertext elsewhere).
        let change = |k: &str, v: &str, h: &Header| {
            let mut d = b.clone();
            d.edit(&[Edit::SetRaw {
                key: k,
                raw: &seal(&key, &h.file_id, k, v).unwrap(),
            }])
            .unwrap();
            d.set_leading_lines(HEADER_PREFIX, &h.lines());
            d
        };
        let o = change("A", "ours", &h2);
        let t = change("B", "theirs", &h1);
        for ids in [&Identities::empty(), &alice.ids] {
            let m = merge_encrypted(&b, &o, &t, LABELS, ids).unwrap();
            assert!(m.conflicts.is_empty());
            let d = Document::parse(&m.text).unwrap();
            assert_eq!(header_of(&d).unwrap().unwrap(), h2);
            assert_eq!(plain(&m.text, &alice.ids), "A=ours\nB=theirs\n");
        }
    }

    #[test]
    fn a_side_that_dropped_encryption_is_a_decision() {
        let alice = person();
        let (b, _, _) = sealed("A=1\n", &[&alice]);
        let t = Document::parse("A=1\n").unwrap();
        let err = merge_encrypted(&b, &b, &t, LABELS, &alice.ids).unwrap_err();
        assert!(matches!(err, NeedsDecision::Decrypted { side: "theirs" }));
    }

    /// What a party without the data key can do to a side of a merge: header lines added,
    /// replaced or dropped, a fresh key of its own (with a valid MAC, with or without the
    /// original commitment copied over), a downgrade to version 1, a whole file resealed.
    fn attack(op: u8, doc: &mut Document, mallory: &Person, alice: &Person, h: &Header) {
        let mut lines: Vec<String> = doc
            .leading_lines(HEADER_PREFIX)
            .into_iter()
            .map(|l| l.to_string())
            .collect();
        match op {
            0 => lines.insert(1, format!("{HEADER_PREFIX}recipient {}", mallory.public)),
            1 => {
                if let Some(i) = lines.iter().position(|l| l.contains("recipient ")) {
                    lines[i] = format!("{HEADER_PREFIX}recipient {}", mallory.public);
                }
            }
            2 | 3 | 5 => {
                let fresh = DataKey::generate().unwrap();
                let rcpts: Vec<Recipient> = [&alice.public, &mallory.public]
                    .iter()
                    .map(|r| r.parse().unwrap())
                    .collect();
                let mut forged = Header::wrap(&fresh, h.file_id, &rcpts).unwrap();
                if op == 3 {
                    forged.commitment = h.commitment;
                }
                if op == 5 {
                    let plain = Document::parse("A=attacker\nB=2\n").unwrap();
                    let mut d = plain;
                    encrypt_document(&mut d, &fresh, &forged, &GlobSet::new(vec![])).unwrap();
                    *doc = d;
                    return;
                }
                lines = forged.lines();
            }
            _ => {
                lines.retain(|l| !l.starts_with("#envault:mac "));
                if let Some(first) = lines.first_mut() {
                    *first = format!("{HEADER_PREFIX}v1 id={}", crate::crypt::file_id_text(h));
                }
                lines.insert(1, format!("{HEADER_PREFIX}recipient {}", mallory.public));
            }
        }
        doc.set_leading_lines(HEADER_PREFIX, &lines);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// For any sequence of header changes by a party without the data key, merged against
        /// a key holder's change (with or without an identity), on either side: the result's
        /// data key is never wrapped to that party, and a reader that checks the header and
        /// the commitment it accepted (the base's) opens only the original key.
        #[test]
        fn nobody_without_the_key_gets_it_or_gets_a_value_read(
            ops in proptest::collection::vec(0u8..7, 1..4),
            attacked_is_theirs in proptest::prelude::any::<bool>(),
        ) {
            let (alice, mallory) = (person(), person());
            let (b, key, h) = sealed("A=1\nB=2\n", &[&alice]);
            let mut attacked = b.clone();
            for op in &ops {
                attack(*op, &mut attacked, &mallory, &alice, &h);
            }
            let mut genuine = b.clone();
            genuine
                .edit(&[Edit::SetRaw {
                    key: "B",
                    raw: &seal(&key, &h.file_id, "B", "3").unwrap(),
                }])
                .unwrap();
            let (o, t) = if attacked_is_theirs {
                (&genuine, &attacked)
            } else {
                (&attacked, &genuine)
            };
            let accepted = |text: &str| -> Option<Vec<u8>> {
                let hh = Header::parse(text).ok().flatten()?;
                let k = hh.unwrap(&alice.ids).ok()?;
                (hh.commitment == h.commitment).then(|| k.expose_for_fingerprint().to_vec())
            };
            for ids in [&Identities::empty(), &alice.ids] {
                if let Ok(m) = merge_encrypted(&b, o, t, LABELS, ids) {
                    if let Ok(Some(mh)) = Header::parse(&m.text) {
                        proptest::prop_assert!(mh.unwrap(&mallory.ids).is_err(), "{:?}", ops);
                    }
                    if let Some(k) = accepted(&m.text) {
                        proptest::prop_assert_eq!(&k[..], key.expose_for_fingerprint());
                    }
                }
            }
            if let Some(k) = accepted(&attacked.render()) {
                proptest::prop_assert_eq!(&k[..], key.expose_for_fingerprint());
            }
        }
    }
}
