//! Three-way, key-aware merge of env files: the result follows "ours" (its order, comments and
//! layout), takes each key changed on one side only from that side, and marks conflicts
//! around the conflicting key's lines only. Values are compared as written, so encrypted
//! files that share a data key merge on their (stable) ciphertext.

mod sealed;

pub use sealed::{merge_encrypted, NeedsDecision};

use crate::crypt::HEADER_PREFIX;
use crate::dotenv::{Document, Entry, Item};

/// Conflict-marker settings, as git passes them to a merge driver.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub ours: &'a str,
    pub theirs: &'a str,
    pub marker_len: usize,
}

/// The merged text and the keys left in conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub text: String,
    pub conflicts: Vec<String>,
}

/// What happens to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Ours,
    Theirs,
    Conflict,
}

fn raw<'a>(doc: &'a Document, key: &str) -> Option<&'a str> {
    doc.entry(key).map(Entry::raw_value)
}

fn decide(b: Option<&str>, o: Option<&str>, t: Option<&str>) -> Take {
    if o == t || t == b {
        Take::Ours
    } else if o == b {
        Take::Theirs
    } else {
        Take::Conflict
    }
}

fn header_lines(doc: &Document) -> Vec<&str> {
    doc.leading_lines(HEADER_PREFIX)
}

/// Comment lines directly above `key`'s entry in `doc` (they travel with an added key).
fn comments_above(doc: &Document, key: &str) -> Vec<String> {
    let items = doc.items();
    let Some(i) = items
        .iter()
        .rposition(|it| matches!(it, Item::Entry(e) if e.key() == key))
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = items[..i]
        .iter()
        .rev()
        .map_while(|it| match it {
            Item::Trivia(t) if t.trim_start().starts_with('#') && !t.starts_with(HEADER_PREFIX) => {
                Some(t.to_string())
            }
            _ => None,
        })
        .collect();
    out.reverse();
    out
}

fn ensure_eol(out: &mut String, eol: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
}

fn with_eol(text: &str, eol: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}{eol}")
    }
}

/// Merges `ours` and `theirs`, which both descend from `base`.
pub fn merge(base: &Document, ours: &Document, theirs: &Document, labels: Labels) -> Merged {
    let eol = ours.eol();
    let mut conflicts = Vec::new();
    let marker = |c: char| c.to_string().repeat(labels.marker_len);
    let conflict_block = |o: Option<&str>, t: Option<&str>| {
        let mut s = format!("{} {}{eol}", marker('<'), labels.ours);
        if let Some(o) = o {
            s.push_str(&with_eol(o, eol));
        }
        s.push_str(&format!("{}{eol}", marker('=')));
        if let Some(t) = t {
            s.push_str(&with_eol(t, eol));
        }
        s.push_str(&format!("{} {}{eol}", marker('>'), labels.theirs));
        s
    };
    let entry_text = |doc: &Document, key: &str| doc.entry(key).map(|e| e.raw().to_owned());

    // The header: one side's change wins; both changed differently is a conflict.
    let (hb, ho, ht) = (header_lines(base), header_lines(ours), header_lines(theirs));
    let mut out = String::new();
    if ours.has_bom() {
        out.push('\u{feff}');
    }
    let raw_header = |doc: &Document| -> String {
        doc.items()
            .iter()
            .map_while(|i| match i {
                Item::Trivia(t) if t.starts_with(HEADER_PREFIX) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    };
    let header = match decide(
        Some(&hb.join("\n")),
        Some(&ho.join("\n")),
        Some(&ht.join("\n")),
    ) {
        Take::Ours => raw_header(ours),
        Take::Theirs => raw_header(theirs),
        Take::Conflict => {
            conflicts.push("(encryption header)".to_owned());
            raw_header(ours)
        }
    };
    out.push_str(&header);
    // Only the leading `#envault:` lines are the header.
    let header_items = ours
        .items()
        .iter()
        .take_while(|i| matches!(i, Item::Trivia(t) if t.starts_with(HEADER_PREFIX)))
        .count();
    let has_body = ours.items().len() > header_items;
    if has_body && !header.is_empty() {
        ensure_eol(&mut out, eol);
    }

    // Keys that theirs adds, anchored after the nearest preceding key of theirs that the
    // result has; each travels with the comments directly above it.
    let in_result = |k: &str| match decide(raw(base, k), raw(ours, k), raw(theirs, k)) {
        Take::Ours => raw(ours, k).is_some(),
        Take::Theirs => raw(theirs, k).is_some(),
        Take::Conflict => true,
    };
    let theirs_keys: Vec<&str> = {
        let mut seen = std::collections::HashSet::new();
        theirs
            .entries()
            .map(Entry::key)
            .filter(|k| seen.insert(*k))
            .collect()
    };
    let mut added_after: Vec<(Option<&str>, &str)> = Vec::new();
    let mut prev: Option<&str> = None;
    for &k in &theirs_keys {
        let added = raw(ours, k).is_none() && in_result(k);
        if added {
            added_after.push((prev, k));
        }
        if in_result(k) {
            prev = Some(k);
        }
    }
    // Emits the keys anchored after `after`, each followed by the keys anchored after it.
    let emit_added = |after: Option<&str>, out: &mut String, conflicts: &mut Vec<String>| {
        let mut pending: Vec<&str> = added_after
            .iter()
            .filter(|(a, _)| *a == after)
            .map(|(_, k)| *k)
            .rev()
            .collect();
        while let Some(k) = pending.pop() {
            ensure_eol(out, eol);
            for c in comments_above(theirs, k) {
                if !ours
                    .items()
                    .iter()
                    .any(|it| matches!(it, Item::Trivia(t) if t.as_str() == c))
                {
                    out.push_str(&with_eol(&c, eol));
                }
            }
            match decide(raw(base, k), None, raw(theirs, k)) {
                Take::Conflict => {
                    conflicts.push(k.to_owned());
                    out.push_str(&conflict_block(None, entry_text(theirs, k).as_deref()));
                }
                _ => out.push_str(&with_eol(&entry_text(theirs, k).unwrap_or_default(), eol)),
            }
            pending.extend(
                added_after
                    .iter()
                    .filter(|(a, _)| *a == Some(k))
                    .map(|(_, k)| *k)
                    .rev(),
            );
        }
    };
    emit_added(None, &mut out, &mut conflicts);

    let items = ours.items();
    // The header was written above.
    for item in items.iter().skip(header_items) {
        match item {
            Item::Trivia(t) => out.push_str(t),
            Item::Entry(e) => {
                let k = e.key();
                // Only the effective (last) occurrence of a key is merged.
                let last = ours.entry(k).is_some_and(|x| std::ptr::eq(x, e));
                if !last {
                    // An earlier duplicate goes with a deletion, so it cannot resurface.
                    let deleted = decide(raw(base, k), raw(ours, k), raw(theirs, k))
                        == Take::Theirs
                        && raw(theirs, k).is_none();
                    if !deleted {
                        out.push_str(e.raw());
                    }
                    continue;
                }
                let (b, o, t) = (raw(base, k), Some(e.raw_value()), raw(theirs, k));
                match decide(b, o, t) {
                    Take::Ours => out.push_str(e.raw()),
                    // Unchanged on ours: theirs' value, or nothing when they deleted it.
                    Take::Theirs => {
                        if let Some(t) = t {
                            match e.with_raw_value(t) {
                                Some(updated) => out.push_str(updated.raw()),
                                // Theirs' whole entry; it may have been their last line, without
                                // a line ending that ours' place needs.
                                None => {
                                    let line = entry_text(theirs, k).unwrap_or_default();
                                    if e.raw().ends_with('\n') {
                                        out.push_str(&with_eol(&line, eol));
                                    } else {
                                        out.push_str(&line);
                                    }
                                }
                            }
                        }
                    }
                    Take::Conflict => {
                        conflicts.push(k.to_owned());
                        out.push_str(&conflict_block(
                            Some(e.raw()),
                            entry_text(theirs, k).as_deref(),
                        ));
                    }
                }
                emit_added(Some(k), &mut out, &mut conflicts);
            }
        }
    }
    // Keys deleted on our side but changed on theirs are conflicts, shown at the end.
    for &k in &theirs_keys {
        if raw(ours, k).is_none()
            && raw(base, k).is_some()
            && decide(raw(base, k), None, raw(theirs, k)) == Take::Conflict
            && !conflicts.iter().any(|c| c == k)
        {
            ensure_eol(&mut out, eol);
            conflicts.push(k.to_owned());
            out.push_str(&conflict_block(None, entry_text(theirs, k).as_deref()));
        }
    }
    Merged {
        text: out,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: Labels = Labels {
        ours: "ours",
        theirs: "theirs",
        marker_len: 7,
    };

    fn m(base: &str, ours: &str, theirs: &str) -> Merged {
        let p = |s: &str| Document::parse(s).unwrap();
        merge(&p(base), &p(ours), &p(theirs), LABELS)
    }

    #[test]
    fn one_sided_changes_merge() {
        let r = m(
            "A=1\nB=2\nC=3\n",
            "A=1\nB=two\nC=3\n",
            "A=one\nB=2\nC=3\nD=4\n",
        );
        assert_eq!(r.text, "A=one\nB=two\nC=3\nD=4\n");
        assert!(r.conflicts.is_empty());
    }

    #[test]
    fn deletions_and_identical_changes() {
        let r = m("A=1\nB=2\n", "A=1\nB=3\n", "B=3\n");
        assert_eq!(r.text, "B=3\n");
        let r = m("A=1\n", "A=1\n# ours note\n", "A=1\n");
        assert_eq!(r.text, "A=1\n# ours note\n");
    }

    #[test]
    fn added_keys_land_after_their_predecessor_with_their_comments() {
        let r = m(
            "A=1\nC=3\n",
            "A=1\nC=3\nOURS=o\n",
            "A=1\n# about B\nB=2\nC=3\n",
        );
        assert_eq!(r.text, "A=1\n# about B\nB=2\nC=3\nOURS=o\n");
    }

    #[test]
    fn conflicts_mark_only_the_key() {
        let r = m("A=1\nB=2\n", "A=x\nB=2\n", "A=y\nB=3\n");
        assert_eq!(r.conflicts, ["A"]);
        assert_eq!(
            r.text,
            "<<<<<<< ours\nA=x\n=======\nA=y\n>>>>>>> theirs\nB=3\n"
        );
        let r = m("", "N=1\n", "N=2\n");
        assert_eq!(r.conflicts, ["N"]);
    }

    #[test]
    fn header_lines_are_kept_verbatim() {
        // Found by the merge fuzz target: no line ending added to a last header line.
        let r = m("", "#envault:\t", "");
        assert_eq!(r.text, "#envault:\t");
    }

    #[test]
    fn only_leading_lines_are_the_header() {
        // Found by the merge fuzz target: a `#envault:` comment further down was dropped.
        let r = m("", "\nA=1\n#envault:x\n", "");
        assert_eq!(r.text, "\nA=1\n#envault:x\n");
    }

    #[test]
    fn a_byte_order_mark_is_kept() {
        // Found by the merge fuzz target.
        let r = m("", "\u{feff}#", "");
        assert_eq!(r.text, "\u{feff}#");
    }

    #[test]
    fn theirs_last_line_keeps_the_lines_after_it_apart() {
        // Found by the merge fuzz target: theirs' entry, their last line without a line ending,
        // replaced ours' entry and ran into ours' next line.
        let r = m("t=#", "t=#\nNEXT=1\n", "t=tt\\\u{b}");
        assert!(r.conflicts.is_empty());
        let merged = Document::parse(&r.text).expect("a clean merge parses");
        assert_eq!(merged.entry("NEXT").map(|e| e.value()), Some("1"));
        assert_eq!(merged.entry("t").map(|e| e.value()), Some("tt"));
    }

    #[test]
    fn crlf_and_quoting_are_kept() {
        let r = m(
            "A='1'\r\nB=2\r\n",
            "A='1'\r\nB=3\r\n",
            "A=\"one\"\r\nB=2\r\n",
        );
        assert_eq!(r.text, "A=\"one\"\r\nB=3\r\n");
    }
}
