//! Three-way, key-aware merge of env files.
//!
//! The merge aligns the three sides as a line merge (diff3) aligns lines, except that an
//! entry is known by its key: a changed value is the same entry changed, not a line removed
//! and another added. Blank lines and comments are lines, known by their text. An entry or a
//! line changed on one side is taken whole from that side; an entry changed on both sides
//! differently is a conflict around that entry only. Where both sides inserted or removed
//! lines at the same place, which a line merge calls a conflict, the entries are matched by
//! key: different keys added on both sides are both kept, theirs first (after what they
//! follow there), each with the comment lines written above it. A key that appears once per
//! side is merged by key wherever a side moved it, and written once. Values are compared as
//! written, so encrypted files that share a data key merge on their (stable) ciphertext. The
//! leading `#envault:` lines (the header) are merged on their own, never as comments.
//!
//! Comments are lines rather than part of the entry below them: a comment attached to its
//! entry made one side's comment edit and the other side's removal of that entry a conflict,
//! where a line merge takes both.

mod sealed;

pub use sealed::{merge_encrypted, NeedsDecision};

/// Keys come from the files merged, and the hasher is seeded per process, so a fast one is
/// safe here as in `dotenv`.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

use crate::crypt::HEADER_PREFIX;
use crate::dotenv::{Document, Item};

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

/// What happens to one part of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Ours,
    Theirs,
    Conflict,
}

/// `text` without its final line ending: a last line that gained or lost one is unchanged.
fn content(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

fn decide(b: Option<&str>, o: Option<&str>, t: Option<&str>) -> Take {
    let (b, o, t) = (b.map(content), o.map(content), t.map(content));
    if o == t || t == b {
        Take::Ours
    } else if o == b {
        Take::Theirs
    } else {
        Take::Conflict
    }
}

/// One unit: an entry, or a line that is not one (blank, comment).
#[derive(Debug)]
struct Unit<'d> {
    /// The entry's key; `None` for a free line.
    key: Option<&'d str>,
    /// The entry, or the line, as written.
    body: &'d str,
}

impl Unit<'_> {
    /// The same unit on another side: the same key, or the same line.
    fn matches(&self, other: &Unit) -> bool {
        match (self.key, other.key) {
            (Some(a), Some(b)) => a == b,
            (None, None) => content(self.body) == content(other.body),
            _ => false,
        }
    }

    fn same(&self, other: &Unit) -> bool {
        self.key == other.key && content(self.body) == content(other.body)
    }
}

/// How many leading items of `doc` are its header (`#envault:` lines).
fn header_len(doc: &Document) -> usize {
    doc.items()
        .iter()
        .take_while(|i| matches!(i, Item::Trivia(t) if t.starts_with(HEADER_PREFIX)))
        .count()
}

/// The units of `doc` below its header.
fn units(doc: &Document) -> Vec<Unit<'_>> {
    doc.items()[header_len(doc)..]
        .iter()
        .map(|item| match item {
            Item::Trivia(t) => Unit { key: None, body: t },
            Item::Entry(e) => Unit {
                key: Some(e.key()),
                body: e.raw(),
            },
        })
        .collect()
}

/// For each unit of `a`, the unit of `b` it is aligned with (a longest common subsequence of
/// identities, as a line diff aligns lines). Where equal lines make several alignments
/// equally long (a blank line inserted next to a blank line), `late` prefers the one that
/// places the change last rather than first.
fn alignment(a: &[u32], b: &[u32], late: bool) -> Vec<Option<usize>> {
    if late {
        let rev = |x: &[u32]| x.iter().rev().copied().collect::<Vec<u32>>();
        let m = alignment(&rev(a), &rev(b), false);
        return m
            .into_iter()
            .rev()
            .map(|j| j.map(|j| b.len() - 1 - j))
            .collect();
    }
    let mut m = vec![None; a.len()];
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, a, b) {
        if let similar::DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                m[old_index + k] = Some(new_index + k);
            }
        }
    }
    m
}

/// A stretch of the three sides: one unit aligned on all three, or what lies between two
/// such units (base, ours, theirs ranges).
enum Chunk {
    Stable(usize, usize, usize),
    Unstable(
        std::ops::Range<usize>,
        std::ops::Range<usize>,
        std::ops::Range<usize>,
    ),
}

/// The three-way alignment of the units, as diff3 computes it for lines.
fn diff3<'d>(b: &[Unit<'d>], o: &[Unit<'d>], t: &[Unit<'d>], late: (bool, bool)) -> Vec<Chunk> {
    let mut table: HashMap<(bool, &'d str), u32> = HashMap::default();
    let mut ids = |units: &[Unit<'d>]| -> Vec<u32> {
        units
            .iter()
            .map(|u| {
                let id = match u.key {
                    Some(k) => (true, k),
                    None => (false, content(u.body)),
                };
                let next = table.len() as u32;
                *table.entry(id).or_insert(next)
            })
            .collect()
    };
    let (bi, oi, ti) = (ids(b), ids(o), ids(t));
    let (mo, mt) = (alignment(&bi, &oi, late.0), alignment(&bi, &ti, late.1));
    let (mut ib, mut io, mut it) = (0, 0, 0);
    let mut chunks = Vec::new();
    loop {
        while ib < b.len() && mo[ib] == Some(io) && mt[ib] == Some(it) {
            chunks.push(Chunk::Stable(ib, io, it));
            (ib, io, it) = (ib + 1, io + 1, it + 1);
        }
        let next = (ib..b.len()).find(|&j| mo[j].is_some() && mt[j].is_some());
        let (jb, jo, jt) = match next {
            Some(j) => (j, mo[j].unwrap_or(io), mt[j].unwrap_or(it)),
            None => (b.len(), o.len(), t.len()),
        };
        if (jb, jo, jt) != (ib, io, it) {
            chunks.push(Chunk::Unstable(ib..jb, io..jo, it..jt));
        }
        (ib, io, it) = (jb, jo, jt);
        if next.is_none() {
            return chunks;
        }
    }
}

/// Where the result holds a unit, before what it holds is decided.
enum Slot<'u, 'd> {
    /// A key that appears at most once on every side: merged by key, written at its first
    /// slot only.
    Key(&'d str),
    /// A unit merged where it stands (free lines, and keys that appear more than once).
    Here {
        b: Option<&'u Unit<'d>>,
        o: Option<&'u Unit<'d>>,
        t: Option<&'u Unit<'d>>,
    },
    /// Lines (no entry) that both sides replaced differently: a conflict, as in a line merge.
    Lines(&'u [Unit<'d>], &'u [Unit<'d>]),
}

/// What the result holds for one unit.
enum Outcome {
    Keep(String),
    Drop,
    Conflict {
        key: String,
        ours: Option<String>,
        theirs: Option<String>,
    },
}

/// Merges one unit given as it is on each side (`None`: not there).
fn merge_unit(b: Option<&Unit>, o: Option<&Unit>, t: Option<&Unit>) -> Outcome {
    let text = |u: Option<&Unit>| u.map(|u| u.body.to_owned());
    match decide(b.map(|u| u.body), o.map(|u| u.body), t.map(|u| u.body)) {
        Take::Ours => text(o).map_or(Outcome::Drop, Outcome::Keep),
        Take::Theirs => text(t).map_or(Outcome::Drop, Outcome::Keep),
        Take::Conflict => Outcome::Conflict {
            key: o
                .or(t)
                .and_then(|u| u.key)
                .map_or_else(|| "(comment)".to_owned(), str::to_owned),
            ours: text(o),
            theirs: text(t),
        },
    }
}

/// Merges `ours` and `theirs`, which both descend from `base`.
pub fn merge(base: &Document, ours: &Document, theirs: &Document, labels: Labels) -> Merged {
    // Where equal lines allow several alignments, a conflict may come from the one chosen (a
    // line merge slides such changes apart): the other alignments are tried, and the merge
    // with the fewest conflicts wins.
    let mut best = merge_aligned(base, ours, theirs, labels, (false, false));
    for late in [(true, true), (false, true), (true, false)] {
        if best.conflicts.is_empty() {
            break;
        }
        let other = merge_aligned(base, ours, theirs, labels, late);
        if other.conflicts.len() < best.conflicts.len() {
            best = other;
        }
    }
    best
}

fn merge_aligned(
    base: &Document,
    ours: &Document,
    theirs: &Document,
    labels: Labels,
    late: (bool, bool),
) -> Merged {
    let mut m = Merger {
        labels,
        eol: ours.eol(),
        out: String::new(),
        conflicts: Vec::new(),
    };
    if ours.has_bom() {
        m.out.push('\u{feff}');
    }
    let (ub, uo, ut) = (units(base), units(ours), units(theirs));
    m.header(base, ours, theirs, !uo.is_empty());
    let slots = layout(&ub, &uo, &ut, late);

    // Keys that appear at most once on every side merge by key, wherever they stand.
    let (kb, ko, kt) = (by_key(&ub), by_key(&uo), by_key(&ut));
    let unit_of = |k: &str| {
        (
            kb.get(k).map(|&i| &ub[i]),
            ko.get(k).map(|&i| &uo[i]),
            kt.get(k).map(|&i| &ut[i]),
        )
    };
    let mut written: HashSet<&str> = HashSet::default();
    for slot in &slots {
        let outcome = match *slot {
            Slot::Key(k) => {
                if !written.insert(k) {
                    continue;
                }
                let (b, o, t) = unit_of(k);
                merge_unit(b, o, t)
            }
            Slot::Here { b, o, t } => merge_unit(b, o, t),
            Slot::Lines(o, t) => {
                let text = |units: &[Unit]| -> String {
                    units.iter().map(|u| with_eol(u.body, m.eol)).collect()
                };
                Outcome::Conflict {
                    key: "(comment)".to_owned(),
                    ours: Some(text(o)).filter(|s| !s.is_empty()),
                    theirs: Some(text(t)).filter(|s| !s.is_empty()),
                }
            }
        };
        m.write(outcome);
    }
    // A side's key that no slot placed was deleted by the other side: merged here, so that a
    // deletion against a change is a conflict and a value is never lost.
    for k in uo.iter().chain(&ut).filter_map(|u| u.key) {
        if written.contains(k) || !unique(k, &ub, &uo, &ut) {
            continue;
        }
        written.insert(k);
        let (b, o, t) = unit_of(k);
        m.write(merge_unit(b, o, t));
    }
    Merged {
        text: m.out,
        conflicts: m.conflicts,
    }
}

/// Each key's last unit.
fn by_key<'d>(units: &[Unit<'d>]) -> HashMap<&'d str, usize> {
    units
        .iter()
        .enumerate()
        .filter_map(|(i, u)| Some((u.key?, i)))
        .collect()
}

/// Whether `key` appears at most once on every side.
fn unique(key: &str, b: &[Unit], o: &[Unit], t: &[Unit]) -> bool {
    [b, o, t]
        .iter()
        .all(|units| units.iter().filter(|u| u.key == Some(key)).count() <= 1)
}

/// The slots of the result, in order: the aligned units, and between them what one side
/// changed, or, where both did, theirs' new units then ours'.
fn layout<'u, 'd>(
    ub: &'u [Unit<'d>],
    uo: &'u [Unit<'d>],
    ut: &'u [Unit<'d>],
    late: (bool, bool),
) -> Vec<Slot<'u, 'd>> {
    let mut count: HashMap<&str, [u32; 3]> = HashMap::default();
    for (side, units) in [ub, uo, ut].iter().enumerate() {
        for k in units.iter().filter_map(|u| u.key) {
            count.entry(k).or_default()[side] += 1;
        }
    }
    let unique = |u: &Unit<'d>| u.key.filter(|k| count[k].iter().all(|n| *n <= 1));
    let mut slots = Vec::new();
    type Side<'u, 'd> = Option<&'u Unit<'d>>;
    let slot = |b: Side<'u, 'd>, o: Side<'u, 'd>, t: Side<'u, 'd>, u: &'u Unit<'d>| match unique(u)
    {
        Some(k) => Slot::Key(k),
        None => Slot::Here { b, o, t },
    };
    for chunk in diff3(ub, uo, ut, late) {
        match chunk {
            Chunk::Stable(b, o, t) => {
                slots.push(slot(Some(&ub[b]), Some(&uo[o]), Some(&ut[t]), &uo[o]));
            }
            Chunk::Unstable(rb, ro, rt) => {
                let (b, o, t) = (&ub[rb], &uo[ro], &ut[rt]);
                let same = |x: &[Unit], y: &[Unit]| {
                    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.same(q))
                };
                // One side changed this stretch: its units, as they are there.
                let one_side = if same(b, o) {
                    Some(t)
                } else if same(b, t) || same(o, t) {
                    Some(o)
                } else {
                    None
                };
                if let Some(side) = one_side {
                    for u in side {
                        slots.push(slot(None, Some(u), None, u));
                    }
                    continue;
                }
                // Both replaced the same lines, and no entry is among them: a conflict.
                let free = |units: &[Unit]| units.iter().all(|u| u.key.is_none());
                if !b.is_empty() && free(b) && free(o) && free(t) {
                    // One side only added lines before or after the lines the other changed
                    // (a blank line beside a blank line can be aligned either way): both.
                    match extended(b, o, t).or_else(|| extended(b, t, o).map(|(x, y)| (y, x))) {
                        Some((first, then)) => {
                            for u in first.iter().chain(then) {
                                slots.push(Slot::Here {
                                    b: None,
                                    o: Some(u),
                                    t: None,
                                });
                            }
                        }
                        None => slots.push(Slot::Lines(o, t)),
                    }
                    continue;
                }
                // Both changed it: ours' and theirs' units aligned by key (free lines by
                // text); where both inserted, theirs' units come first, after the unit they
                // follow there.
                let find =
                    |units: &'u [Unit<'d>], u: &Unit| units.iter().rev().find(|x| x.matches(u));
                let ids = |units: &[Unit<'d>]| -> Vec<(bool, &'d str)> {
                    units
                        .iter()
                        .map(|u| u.key.map_or((false, content(u.body)), |k| (true, k)))
                        .collect()
                };
                let mut ops =
                    similar::capture_diff_slices(similar::Algorithm::Myers, &ids(o), &ids(t));
                for i in 1..ops.len() {
                    let pair = (ops[i - 1].tag(), ops[i].tag());
                    if pair == (similar::DiffTag::Delete, similar::DiffTag::Insert) {
                        ops.swap(i - 1, i);
                    }
                }
                for op in ops {
                    let (_, ro, rt) = op.as_tag_tuple();
                    match op.tag() {
                        similar::DiffTag::Equal => {
                            for (u, v) in o[ro].iter().zip(&t[rt]) {
                                slots.push(slot(find(b, u), Some(u), Some(v), u));
                            }
                        }
                        _ => {
                            for v in &t[rt] {
                                slots.push(slot(find(b, v), find(o, v), Some(v), v));
                            }
                            for u in &o[ro] {
                                slots.push(slot(find(b, u), Some(u), find(t, u), u));
                            }
                        }
                    }
                }
            }
        }
    }
    slots
}

/// When `grown` is `base` with lines added before or after it, and `changed` is the other
/// side's version of `base`: the two parts of the merge, in order.
fn extended<'u, 'd>(
    base: &[Unit<'d>],
    grown: &'u [Unit<'d>],
    changed: &'u [Unit<'d>],
) -> Option<(&'u [Unit<'d>], &'u [Unit<'d>])> {
    let same =
        |x: &[Unit], y: &[Unit]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.same(q));
    let n = base.len();
    if grown.len() <= n {
        return None;
    }
    if same(&grown[..n], base) {
        return Some((changed, &grown[n..]));
    }
    if same(&grown[grown.len() - n..], base) {
        return Some((&grown[..grown.len() - n], changed));
    }
    None
}

/// The merge's output in progress.
struct Merger<'l> {
    labels: Labels<'l>,
    eol: &'static str,
    out: String,
    conflicts: Vec<String>,
}

impl Merger<'_> {
    /// Appends `text`, first ending the line before it if needed.
    fn push(&mut self, text: &str) {
        let so_far = self.out.strip_prefix('\u{feff}').unwrap_or(&self.out);
        if !so_far.is_empty() && !so_far.ends_with('\n') && !text.is_empty() {
            self.out.push_str(self.eol);
        }
        self.out.push_str(text);
    }

    fn write(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Keep(text) => self.push(&text),
            Outcome::Drop => {}
            Outcome::Conflict { key, ours, theirs } => {
                self.conflicts.push(key);
                let block = self.conflict_block(ours.as_deref(), theirs.as_deref());
                self.push(&block);
            }
        }
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

    /// The header: one side's change wins; both changed differently is a conflict. Only the
    /// leading `#envault:` lines are the header.
    fn header(&mut self, base: &Document, ours: &Document, theirs: &Document, has_body: bool) {
        let raw_header = |doc: &Document| -> String {
            doc.items()[..header_len(doc)]
                .iter()
                .map(|i| match i {
                    Item::Trivia(t) => t.to_string(),
                    Item::Entry(e) => e.raw().to_owned(),
                })
                .collect()
        };
        let (hb, ho, ht) = (raw_header(base), raw_header(ours), raw_header(theirs));
        let header = match decide(Some(&hb), Some(&ho), Some(&ht)) {
            Take::Ours => ho,
            Take::Theirs => ht,
            Take::Conflict => {
                self.conflicts.push("(encryption header)".to_owned());
                ho
            }
        };
        self.out.push_str(&header);
        if has_body && !header.is_empty() && !self.out.ends_with('\n') {
            self.out.push_str(self.eol);
        }
    }
}

fn with_eol(text: &str, eol: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}{eol}")
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
