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
    let mut m = Merger {
        base,
        ours,
        theirs,
        labels,
        eol: ours.eol(),
        out: String::new(),
        conflicts: Vec::new(),
        added_after: Vec::new(),
    };
    if ours.has_bom() {
        m.out.push('\u{feff}');
    }
    let header_items = m.header();
    m.added_after = m.added_by_theirs();
    m.emit_added(None);
    // The header was written above.
    for item in ours.items().iter().skip(header_items) {
        match item {
            Item::Trivia(t) => m.out.push_str(t),
            // Keys theirs added after this one follow its effective (last) occurrence.
            Item::Entry(e) => {
                if m.entry(e) {
                    m.emit_added(Some(e.key()));
                }
            }
        }
    }
    m.deleted_by_ours_changed_by_theirs();
    Merged {
        text: m.out,
        conflicts: m.conflicts,
    }
}

/// One merge in progress: the three documents, the text so far and the conflicts.
struct Merger<'d> {
    base: &'d Document,
    ours: &'d Document,
    theirs: &'d Document,
    labels: Labels<'d>,
    eol: &'static str,
    out: String,
    conflicts: Vec<String>,
    /// Keys that theirs adds, each with the key of theirs it follows in the result.
    added_after: Vec<(Option<&'d str>, &'d str)>,
}

impl<'d> Merger<'d> {
    fn decide(&self, k: &str) -> Take {
        decide(raw(self.base, k), raw(self.ours, k), raw(self.theirs, k))
    }

    fn theirs_entry(&self, k: &str) -> Option<String> {
        self.theirs.entry(k).map(|e| e.raw().to_owned())
    }

    fn conflict_block(&self, o: Option<&str>, t: Option<&str>) -> String {
        let (eol, labels) = (self.eol, self.labels);
        let marker = |c: char| c.to_string().repeat(labels.marker_len);
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
    }

    /// The header: one side's change wins; both changed differently is a conflict. Returns
    /// how many of ours' items it spans (only the leading `#envault:` lines are the header).
    fn header(&mut self) -> usize {
        let (hb, ho, ht) = (
            header_lines(self.base),
            header_lines(self.ours),
            header_lines(self.theirs),
        );
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
            Take::Ours => raw_header(self.ours),
            Take::Theirs => raw_header(self.theirs),
            Take::Conflict => {
                self.conflicts.push("(encryption header)".to_owned());
                raw_header(self.ours)
            }
        };
        self.out.push_str(&header);
        let header_items = self
            .ours
            .items()
            .iter()
            .take_while(|i| matches!(i, Item::Trivia(t) if t.starts_with(HEADER_PREFIX)))
            .count();
        let has_body = self.ours.items().len() > header_items;
        if has_body && !header.is_empty() {
            ensure_eol(&mut self.out, self.eol);
        }
        header_items
    }

    /// Whether key `k` is in the merged result.
    fn in_result(&self, k: &str) -> bool {
        match self.decide(k) {
            Take::Ours => raw(self.ours, k).is_some(),
            Take::Theirs => raw(self.theirs, k).is_some(),
            Take::Conflict => true,
        }
    }

    /// Theirs' keys, each once, in their order.
    fn theirs_keys(&self) -> Vec<&'d str> {
        let mut seen = std::collections::HashSet::new();
        self.theirs
            .entries()
            .map(Entry::key)
            .filter(|k| seen.insert(*k))
            .collect()
    }

    /// Keys that theirs adds, anchored after the nearest preceding key of theirs that the
    /// result has; each travels with the comments directly above it.
    fn added_by_theirs(&self) -> Vec<(Option<&'d str>, &'d str)> {
        let mut added_after = Vec::new();
        let mut prev: Option<&str> = None;
        for k in self.theirs_keys() {
            if raw(self.ours, k).is_none() && self.in_result(k) {
                added_after.push((prev, k));
            }
            if self.in_result(k) {
                prev = Some(k);
            }
        }
        added_after
    }

    /// Emits the keys anchored after `after`, each followed by the keys anchored after it.
    fn emit_added(&mut self, after: Option<&str>) {
        let anchored = |m: &Merger<'d>, a: Option<&str>| -> Vec<&'d str> {
            m.added_after
                .iter()
                .filter(|(x, _)| *x == a)
                .map(|(_, k)| *k)
                .rev()
                .collect()
        };
        let mut pending = anchored(self, after);
        while let Some(k) = pending.pop() {
            ensure_eol(&mut self.out, self.eol);
            for c in comments_above(self.theirs, k) {
                if !self
                    .ours
                    .items()
                    .iter()
                    .any(|it| matches!(it, Item::Trivia(t) if t.as_str() == c))
                {
                    self.out.push_str(&with_eol(&c, self.eol));
                }
            }
            match decide(raw(self.base, k), None, raw(self.theirs, k)) {
                Take::Conflict => {
                    self.conflicts.push(k.to_owned());
                    let block = self.conflict_block(None, self.theirs_entry(k).as_deref());
                    self.out.push_str(&block);
                }
                _ => {
                    let line = with_eol(&self.theirs_entry(k).unwrap_or_default(), self.eol);
                    self.out.push_str(&line);
                }
            }
            pending.extend(anchored(self, Some(k)));
        }
    }

    /// One entry of ours, merged; returns whether it is the key's effective occurrence.
    fn entry(&mut self, e: &Entry) -> bool {
        let k = e.key();
        // Only the effective (last) occurrence of a key is merged.
        let last = self.ours.entry(k).is_some_and(|x| std::ptr::eq(x, e));
        if !last {
            // An earlier duplicate goes with a deletion, so it cannot resurface.
            let deleted = self.decide(k) == Take::Theirs && raw(self.theirs, k).is_none();
            if !deleted {
                self.out.push_str(e.raw());
            }
            return false;
        }
        let t = raw(self.theirs, k);
        match decide(raw(self.base, k), Some(e.raw_value()), t) {
            Take::Ours => self.out.push_str(e.raw()),
            // Unchanged on ours: theirs' value, or nothing when they deleted it.
            Take::Theirs => {
                let Some(t) = t else { return true };
                match e.with_raw_value(t) {
                    Some(updated) => self.out.push_str(updated.raw()),
                    // Theirs' whole entry; it may have been their last line, without a line
                    // ending that ours' place needs.
                    None => {
                        let line = self.theirs_entry(k).unwrap_or_default();
                        if e.raw().ends_with('\n') {
                            self.out.push_str(&with_eol(&line, self.eol));
                        } else {
                            self.out.push_str(&line);
                        }
                    }
                }
            }
            Take::Conflict => {
                self.conflicts.push(k.to_owned());
                let block = self.conflict_block(Some(e.raw()), self.theirs_entry(k).as_deref());
                self.out.push_str(&block);
            }
        }
        true
    }

    /// Keys deleted on our side but changed on theirs are conflicts, shown at the end.
    fn deleted_by_ours_changed_by_theirs(&mut self) {
        for k in self.theirs_keys() {
            if raw(self.ours, k).is_none()
                && raw(self.base, k).is_some()
                && decide(raw(self.base, k), None, raw(self.theirs, k)) == Take::Conflict
                && !self.conflicts.iter().any(|c| c == k)
            {
                ensure_eol(&mut self.out, self.eol);
                self.conflicts.push(k.to_owned());
                let block = self.conflict_block(None, self.theirs_entry(k).as_deref());
                self.out.push_str(&block);
            }
        }
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
