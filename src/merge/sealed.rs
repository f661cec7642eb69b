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
    decrypt_document, header_of, is_sealed, open, seal, DataKey, Header, Identities, Recipient,
    HEADER_PREFIX,
};
use crate::dotenv::{Document, Edit};

/// Why an encrypted merge cannot be done here; the driver reports it as a conflict.
#[derive(Debug, thiserror::Error)]
pub enum NeedsDecision {
    #[error("{0}")]
    Identity(String),
    #[error("{side} is no longer encrypted; decide whether the file stays encrypted")]
    Decrypted { side: &'static str },
    #[error("{0}")]
    Bad(String),
}

fn id_of(h: &Option<Header>) -> Option<[u8; 16]> {
    h.as_ref().map(|h| h.file_id)
}

/// Three-way merge of recipient lists: kept by both, or added by either side.
fn merge_recipients(b: &[String], o: &[String], t: &[String]) -> Vec<String> {
    let (bs, os, ts): (HashSet<&String>, HashSet<&String>, HashSet<&String>) =
        (b.iter().collect(), o.iter().collect(), t.iter().collect());
    let mut out: Vec<String> = Vec::new();
    for r in o.iter().chain(t) {
        let keep = (os.contains(r) && ts.contains(r))
            || (os.contains(r) && !bs.contains(r))
            || (ts.contains(r) && !bs.contains(r));
        if keep && !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

fn parse_recipients(list: &[String]) -> Result<Vec<Recipient>, NeedsDecision> {
    list.iter()
        .map(|r| {
            r.parse()
                .map_err(|e: crate::crypt::CryptError| NeedsDecision::Bad(e.to_string()))
        })
        .collect()
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
    let same_key = ho.is_some() && id_of(&ho) == id_of(&ht);
    let opened = |h: &Option<Header>| -> Result<Option<DataKey>, String> {
        match h {
            None => Ok(None),
            Some(h) => h.unwrap(identities).map(Some).map_err(|e| e.to_string()),
        }
    };
    let keys = if identities.is_empty() {
        Err("no identity is available".to_owned())
    } else {
        (|| Ok((opened(&hb)?, opened(&ho)?, opened(&ht)?)))()
    };
    let (kb, ko, kt) = match keys {
        Ok(k) => k,
        // Same data key: the ciphertext merge is exact without one.
        Err(_) if same_key => return Ok(merge(base, ours, theirs, labels)),
        Err(why) => {
            return Err(NeedsDecision::Identity(format!(
                "the two sides are sealed with different data keys, so merging needs an \
                 identity that can open them ({why})"
            )))
        }
    };

    // The data key of the result: a side's, when only that side changed it; a fresh one when
    // both did (both re-keyed, or the file was created on both branches).
    let recipients = merge_recipients(
        hb.as_ref().map_or(&[][..], |h| &h.recipients),
        ho.as_ref().map_or(&[][..], |h| &h.recipients),
        ht.as_ref().map_or(&[][..], |h| &h.recipients),
    );
    let (ib, io, it) = (id_of(&hb), id_of(&ho), id_of(&ht));
    let chosen = if io == it || it == ib {
        Some((&ho, &ko, "ours"))
    } else if io == ib {
        Some((&ht, &kt, "theirs"))
    } else {
        None
    };
    let fresh_key = |recipients: &[String]| -> Result<(DataKey, Header), NeedsDecision> {
        let key = DataKey::generate().map_err(|e| NeedsDecision::Bad(e.to_string()))?;
        let h = Header::seal_key(&key, &parse_recipients(recipients)?)
            .map_err(|e| NeedsDecision::Bad(e.to_string()))?;
        Ok((key, h))
    };
    let fresh: DataKey;
    let (key, result_header): (&DataKey, Header) = match chosen {
        Some((None, _, side)) => return Err(NeedsDecision::Decrypted { side }),
        Some((Some(h), Some(k), _)) => {
            let same_set = {
                let a: HashSet<&String> = h.recipients.iter().collect();
                let b: HashSet<&String> = recipients.iter().collect();
                a == b
            };
            if same_set {
                (k, h.clone())
            } else if h.recipients.iter().any(|r| !recipients.contains(r)) {
                // Someone lost access: they must not keep the key.
                let (k, h) = fresh_key(&recipients)?;
                fresh = k;
                (&fresh, h)
            } else {
                let h = Header::wrap(k, h.file_id, &parse_recipients(&recipients)?)
                    .map_err(|e| NeedsDecision::Bad(e.to_string()))?;
                (k, h)
            }
        }
        Some((Some(_), None, _)) => unreachable!("every header's key was opened above"),
        None => {
            let (k, h) = fresh_key(&recipients)?;
            fresh = k;
            (&fresh, h)
        }
    };

    // Keys sealed on either side stay sealed.
    let sealed_keys: HashSet<String> = [ours, theirs]
        .iter()
        .flat_map(|d| d.entries())
        .filter(|e| is_sealed(e.raw_value()))
        .map(|e| e.key().to_owned())
        .collect();

    // Ciphertext under the result's key, by (key, plaintext digest): existing ciphertext first.
    let mut memo: HashMap<(String, [u8; 32]), String> = HashMap::new();
    let sides = [(ours, &ho, &ko), (theirs, &ht, &kt), (base, &hb, &kb)];
    let bad = |e: crate::crypt::CryptError| NeedsDecision::Bad(e.to_string());
    for (doc, h, k) in sides {
        let (Some(h), Some(k)) = (h, k) else { continue };
        if h.file_id != result_header.file_id {
            continue;
        }
        for e in doc.entries().filter(|e| is_sealed(e.raw_value())) {
            let pt = open(k, &h.file_id, e.key(), e.raw_value()).map_err(bad)?;
            memo.entry((e.key().to_owned(), *blake3::hash(pt.as_bytes()).as_bytes()))
                .or_insert_with(|| e.raw_value().to_owned());
        }
    }
    let mut normalize = |doc: &Document,
                         h: &Option<Header>,
                         k: &Option<DataKey>|
     -> Result<Document, NeedsDecision> {
        let plain = match (h, k) {
            (Some(h), Some(k)) => {
                decrypt_document(doc, k, h).map_err(|e| NeedsDecision::Bad(e.to_string()))?
            }
            _ => {
                let mut d = doc.clone();
                d.set_leading_lines(HEADER_PREFIX, &[]);
                d
            }
        };
        let mut raws: Vec<(String, String)> = Vec::new();
        for e in plain.entries().filter(|e| sealed_keys.contains(e.key())) {
            let slot = (
                e.key().to_owned(),
                *blake3::hash(e.raw_value().as_bytes()).as_bytes(),
            );
            let sealed = match memo.get(&slot) {
                Some(s) => s.clone(),
                None => {
                    let s =
                        seal(key, &result_header.file_id, e.key(), e.raw_value()).map_err(bad)?;
                    memo.insert(slot, s.clone());
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
        out.edit(&edits)
            .map_err(|e| NeedsDecision::Bad(e.to_string()))?;
        out.set_leading_lines(HEADER_PREFIX, &result_header.lines());
        Ok(out)
    };
    let (nb, no, nt) = (
        normalize(base, &hb, &kb)?,
        normalize(ours, &ho, &ko)?,
        normalize(theirs, &ht, &kt)?,
    );
    Ok(merge(&nb, &no, &nt, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypt::{encrypt_document, generate_identity};
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
    fn a_recipient_added_on_one_side_merges_with_values_changed_on_the_other() {
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
        for ids in [Identities::empty(), alice.ids] {
            let m = merge_encrypted(&b, &o, &t, LABELS, &ids).unwrap();
            assert!(m.conflicts.is_empty());
            assert_eq!(plain(&m.text, &bob.ids), "A=1\nB=changed\n");
        }
    }

    #[test]
    fn a_re_keyed_side_wins_and_needs_an_identity() {
        let (alice, bob) = (person(), person());
        let (b, _, _) = sealed("A=1\nB=2\n", &[&alice, &bob]);
        // Theirs removed bob: a new data key.
        let (t, _, th) = sealed("A=1\nB=2\n", &[&alice]);
        let (_, ko, ho) = {
            let h = header_of(&b).unwrap().unwrap();
            let k = h.unwrap(&alice.ids).unwrap();
            (0, k, h)
        };
        let o = reseal("A=1\nB=2\nC=3\n", &ko, &ho);
        let o = {
            let mut d = o;
            d.edit(&[Edit::SetRaw {
                key: "A",
                raw: b.entry("A").unwrap().raw_value(),
            }])
            .unwrap();
            d
        };
        let err = merge_encrypted(&b, &o, &t, LABELS, &Identities::empty()).unwrap_err();
        assert!(err.to_string().contains("different data keys"), "{err}");
        let m = merge_encrypted(&b, &o, &t, LABELS, &alice.ids).unwrap();
        assert!(m.conflicts.is_empty());
        let mh = header_of(&Document::parse(&m.text).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(mh, th, "theirs' header, without bob");
        assert_eq!(plain(&m.text, &alice.ids), "A=1\nB=2\nC=3\n");
        assert!(Document::parse(&m.text)
            .map(|d| header_of(&d).unwrap().unwrap().unwrap(&bob.ids).is_err())
            .unwrap());
    }

    #[test]
    fn files_created_on_both_branches_merge_under_a_new_key() {
        let (alice, bob) = (person(), person());
        let (o, _, ho) = sealed("A=1\nB=secret-ours\n", &[&alice]);
        let (t, _, ht) = sealed("A=1\nC=3\nB=secret-theirs\n", &[&alice, &bob]);
        let base = Document::parse("").unwrap();
        let m = merge_encrypted(&base, &o, &t, LABELS, &alice.ids).unwrap();
        assert_eq!(m.conflicts, ["B"]);
        assert!(
            !m.text.contains("secret-"),
            "no plaintext in conflict markers"
        );
        let mh = header_of(&Document::parse(m.text.split("<<<<<<<").next().unwrap()).unwrap())
            .unwrap()
            .unwrap();
        assert_ne!(mh.file_id, ho.file_id);
        assert_ne!(mh.file_id, ht.file_id);
        assert_eq!(mh.recipients, [alice.public.clone(), bob.public.clone()]);
    }

    #[test]
    fn a_side_that_dropped_encryption_is_a_decision() {
        let alice = person();
        let (b, _, _) = sealed("A=1\n", &[&alice]);
        let t = Document::parse("A=1\n").unwrap();
        let err = merge_encrypted(&b, &b, &t, LABELS, &alice.ids).unwrap_err();
        assert!(matches!(err, NeedsDecision::Decrypted { side: "theirs" }));
    }
}
