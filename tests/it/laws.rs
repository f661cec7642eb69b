//! Property tests of the engine's laws: edits touch only their entry and re-read as written;
//! a sync plan, once applied, leaves no difference on the keys it synced.

use envault::classify::Classifier;
use envault::config::Strategy as SyncStrategy;
use envault::dotenv::{Document, Edit, Item};
use envault::glob::GlobSet;
use envault::sync::{self, Options};
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "A",
    "B",
    "C",
    "DB_HOST",
    "API_KEY",
    "LOG_LEVEL",
    "X.Y",
    "_Z",
];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(str::to_owned)
}

/// Any value, including the characters that need quoting or escaping.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => "[a-z0-9_.:/-]",
            1 => Just(" ".to_string()), 1 => Just("'".to_string()), 1 => Just("\"".to_string()),
            1 => Just("\\".to_string()), 1 => Just("$".to_string()), 1 => Just("#".to_string()),
            1 => Just("\n".to_string()), 1 => Just("\t".to_string()), 1 => Just("`".to_string()),
            1 => Just("\r".to_string()), 1 => Just("ü".to_string()),
        ],
        0..10,
    )
    .prop_map(|v| v.concat())
}

/// A line of a file: entries in various styles, comments, blanks, any line ending.
fn line() -> impl Strategy<Value = String> {
    let eol = prop_oneof![Just("\n"), Just("\r\n")];
    prop_oneof![
        4 => (key(), "[a-z0-9]{0,6}", eol.clone()).prop_map(|(k, v, e)| format!("{k}={v}{e}")),
        2 => (key(), "[a-z #$0-9]{0,6}", eol.clone()).prop_map(|(k, v, e)| format!("export {k} = '{v}' # c{e}")),
        2 => (key(), "[a-z '\n0-9]{0,6}", eol.clone()).prop_map(|(k, v, e)| format!("{k}=\"{v}\"{e}")),
        1 => eol.clone().prop_map(|e| format!("# comment{e}")),
        1 => eol.prop_map(str::to_owned),
    ]
}

fn document() -> impl Strategy<Value = Document> {
    (prop::collection::vec(line(), 0..10), any::<bool>()).prop_map(|(lines, strip_last_eol)| {
        let mut text = lines.concat();
        if strip_last_eol && text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Document::parse(&text).expect("generated lines parse")
    })
}

fn item_texts(doc: &Document) -> Vec<String> {
    doc.items()
        .iter()
        .map(|i| match i {
            Item::Entry(e) => e.raw().to_owned(),
            Item::Trivia(t) => t.to_string(),
        })
        .collect()
}

/// Re-reading the rendered text gives the document's own values.
fn reparses_identically(doc: &Document) -> Result<(), TestCaseError> {
    let text = doc.render();
    let again =
        Document::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
    prop_assert_eq!(again.render(), text.clone());
    prop_assert_eq!(again.to_map(), doc.to_map(), "text {:?}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn set_touches_only_its_entry(doc in document(), k in key(), v in value()) {
        let before = item_texts(&doc);
        let old_map: Vec<(String, String)> = doc.to_map().into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect();
        let mut doc = doc;
        let existed = doc.get(&k).is_some();
        doc.set(&k, &v).unwrap();
        prop_assert_eq!(doc.get(&k), Some(v.as_str()));
        reparses_identically(&doc)?;
        for (key, val) in &old_map {
            if *key != k {
                prop_assert_eq!(doc.get(key), Some(val.as_str()));
            }
        }
        let after = item_texts(&doc);
        if existed {
            prop_assert_eq!(after.len(), before.len());
            let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            prop_assert!(changed <= 1, "set changed {} items", changed);
        } else {
            // Appended at the end; the old last line may gain the line ending it lacked.
            prop_assert_eq!(after.len(), before.len() + 1);
            let n = before.len();
            if n > 0 {
                prop_assert_eq!(&after[..n - 1], &before[..n - 1]);
                prop_assert!(after[n - 1].starts_with(before[n - 1].as_str()));
            }
        }
    }

    #[test]
    fn insert_after_a_key_keeps_everything_else(doc in document(), anchor in key(), v in value()) {
        let mut doc = doc;
        let new_key = "NEW_KEY";
        let before = item_texts(&doc);
        doc.insert(new_key, &v, Some(&anchor)).unwrap();
        prop_assert_eq!(doc.get(new_key), Some(v.as_str()));
        reparses_identically(&doc)?;
        let mut after = item_texts(&doc);
        let pos = doc.items().iter().position(|i| matches!(i, Item::Entry(e) if e.key() == new_key)).unwrap();
        after.remove(pos);
        // Only the line before the insertion point may have gained a line ending.
        prop_assert_eq!(after.len(), before.len());
        for (a, b) in before.iter().zip(&after) {
            prop_assert!(a == b || (b.starts_with(a.as_str()) && !a.ends_with('\n')));
        }
        if let Some(anchor_pos) = doc.items().iter().rposition(|i| matches!(i, Item::Entry(e) if e.key() == anchor)) {
            prop_assert_eq!(pos, anchor_pos + 1);
        }
    }

    #[test]
    fn remove_deletes_every_occurrence_and_nothing_else(doc in document(), k in key()) {
        let mut doc = doc;
        let before: Vec<String> = item_texts(&doc);
        let kept: Vec<String> = doc.items().iter().zip(&before)
            .filter(|(i, _)| !matches!(i, Item::Entry(e) if e.key() == k))
            .map(|(_, t)| t.clone())
            .collect();
        doc.remove(&k);
        prop_assert_eq!(doc.get(&k), None);
        prop_assert_eq!(item_texts(&doc), kept);
    }

    #[test]
    fn a_batch_of_edits_equals_the_edits_one_by_one(
        doc in document(),
        ops in prop::collection::vec((0u8..3, value(), prop::option::of(key())), 0..8),
    ) {
        // Distinct keys per edit: existing ones and new ones, in random kinds.
        let keys: Vec<String> = (0..ops.len())
            .map(|i| if i % 2 == 0 { KEYS[i % KEYS.len()].to_owned() } else { format!("NEW_{i}") })
            .collect();
        let edits: Vec<Edit> = ops.iter().zip(&keys).map(|((kind, v, after), k)| match kind {
            0 => Edit::Set { key: k, value: v },
            1 => Edit::Insert { key: k, value: v, after: after.as_deref() },
            _ => Edit::Remove { key: k },
        }).collect();
        let mut one_by_one = doc.clone();
        for e in &edits {
            match *e {
                Edit::Set { key, value } => { one_by_one.set(key, value).unwrap(); }
                Edit::Insert { key, value, after } => { one_by_one.insert(key, value, after).unwrap(); }
                Edit::Remove { key } => { one_by_one.remove(key); }
                Edit::SetRaw { .. } => unreachable!("not generated"),
            }
        }
        let had_cr = doc.render().contains('\r');
        let mut batch = doc;
        batch.edit(&edits).unwrap();
        if had_cr {
            // New lines take the file's line ending as it was before the whole batch; one by
            // one, earlier removals can change which ending the next insert takes.
            prop_assert_eq!(batch.render().replace("\r\n", "\n"), one_by_one.render().replace("\r\n", "\n"));
        } else {
            prop_assert_eq!(batch.render(), one_by_one.render());
        }
    }

    #[test]
    fn sync_leaves_no_difference_on_synced_keys(
        source in document(),
        target in document(),
        allow_delete in any::<bool>(),
        target_wins in any::<bool>(),
    ) {
        let none = GlobSet::default();
        let classifier = Classifier::default();
        let opts = Options {
            source_env: "dev",
            target_env: "prod",
            strategy: if target_wins { SyncStrategy::TargetWins } else { SyncStrategy::SourceWins },
            allow_delete,
            skip: &none,
            env_specific_keys: &none,
            shared_keys: &none,
            include_env_specific: false,
            classifier: &classifier,
        };
        let plan = sync::plan(&source, &target, &opts);
        let mut synced = target.clone();
        sync::apply(&plan, &source, &mut synced).unwrap();
        let synced = Document::parse(&synced.render()).unwrap();
        for a in &plan.add {
            prop_assert_eq!(synced.get(&a.key), source.get(&a.key));
        }
        for u in &plan.update {
            prop_assert_eq!(synced.get(&u.key), source.get(&u.key));
        }
        for k in &plan.kept {
            prop_assert_eq!(synced.get(&k.key), target.get(&k.key));
        }
        for d in &plan.delete {
            prop_assert_eq!(synced.get(&d.key), None);
        }
        // A second plan has nothing left to add, update or delete.
        let again = sync::plan(&source, &synced, &opts);
        prop_assert!(!again.changes_target(), "{:?}", again);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The diff agrees with a plain definition over maps, whatever the key orders.
    #[test]
    fn diff_matches_its_definition(a in document(), b in document()) {
        let (am, bm) = (a.to_map(), b.to_map());
        let d = envault::diff::diff(&am, &bm);
        let only_a: Vec<&str> = am.keys().copied().filter(|k| !bm.contains_key(k)).collect();
        let only_b: Vec<&str> = bm.keys().copied().filter(|k| !am.contains_key(k)).collect();
        let changed: Vec<&str> = am.iter().filter(|(k, v)| bm.get(*k).is_some_and(|w| w != *v)).map(|(k, _)| *k).collect();
        prop_assert_eq!(d.only_in_source.iter().map(|o| o.key).collect::<Vec<_>>(), only_a);
        prop_assert_eq!(d.only_in_target.iter().map(|o| o.key).collect::<Vec<_>>(), only_b);
        prop_assert_eq!(d.changed.iter().map(|c| c.key).collect::<Vec<_>>(), changed);
        prop_assert_eq!(d.unchanged, am.len() - d.only_in_source.len() - d.changed.len());
        // Walking the documents gives the same report as comparing their maps.
        prop_assert_eq!(envault::diff::diff_documents(&a, &b), d);
    }
}

/// A document without duplicate keys, in a random order, with values that often coincide.
fn unique_document() -> impl Strategy<Value = Document> {
    let keys: Vec<String> = (0..12).map(|i| format!("K{i}")).collect();
    (
        prop::sample::subsequence(keys, 0..12).prop_shuffle(),
        prop::collection::vec(prop_oneof![Just("1"), Just("2"), Just("'two words'")], 12),
        any::<bool>(),
    )
        .prop_map(|(keys, values, comments)| {
            let mut text = String::new();
            for (k, v) in keys.iter().zip(values) {
                if comments {
                    text.push_str("# note\n\n");
                }
                text.push_str(&format!("{k}={v}\n"));
            }
            Document::parse(&text).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The document walk (used when neither side has duplicates) equals the map comparison.
    #[test]
    fn document_diff_equals_map_diff(a in unique_document(), b in unique_document()) {
        prop_assert!(!a.has_duplicates() && !b.has_duplicates());
        let (am, bm) = (a.to_map(), b.to_map());
        prop_assert_eq!(envault::diff::diff_documents(&a, &b), envault::diff::diff(&am, &bm));
    }
}

fn values_of(text: &str) -> std::collections::BTreeMap<String, String> {
    Document::parse(text)
        .unwrap_or_else(|e| panic!("{e}: {text:?}"))
        .to_map()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

const LABELS: envault::merge::Labels = envault::merge::Labels {
    ours: "ours",
    theirs: "theirs",
    marker_len: 7,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn merge_laws(b in document(), x in document(), y in document()) {
        // merge(b, x, x) = x, byte for byte.
        let same = envault::merge::merge(&b, &x, &x, LABELS);
        prop_assert!(same.conflicts.is_empty());
        prop_assert_eq!(same.text, x.render());
        // merge(b, b, y) = y, value for value.
        let theirs = envault::merge::merge(&b, &b, &y, LABELS);
        prop_assert!(theirs.conflicts.is_empty(), "{:?}", theirs.conflicts);
        prop_assert_eq!(values_of(&theirs.text), values_of(&y.render()));
        // Without conflicts, the sides' order does not change the keys and values.
        let xy = envault::merge::merge(&b, &x, &y, LABELS);
        let yx = envault::merge::merge(&b, &y, &x, LABELS);
        if xy.conflicts.is_empty() && yx.conflicts.is_empty() {
            prop_assert_eq!(values_of(&xy.text), values_of(&yx.text));
        }
    }
}

/// A line of a generated file for the git law below: an entry (its key's number, its value
/// and maybe a trailing comment), a comment line or a blank line.
#[derive(Debug, Clone)]
enum GenLine {
    Entry(String, String, Option<String>),
    Comment(String),
    Blank,
}

impl GenLine {
    fn render(&self) -> String {
        match self {
            GenLine::Entry(k, v, None) => format!("{k}={v}\n"),
            GenLine::Entry(k, v, Some(c)) => format!("{k}={v} # {c}\n"),
            GenLine::Comment(c) => format!("# {c}\n"),
            GenLine::Blank => "\n".to_owned(),
        }
    }
}

/// What one side does to one line of the base.
#[derive(Debug, Clone)]
enum GenEdit {
    Keep,
    /// A new value for an entry, new text for a comment line.
    Change(String),
    /// A new trailing comment for an entry.
    Note(String),
    Delete,
    /// A line inserted after this one (a new entry's key is made unique to the side).
    Insert(GenLine),
}

fn gen_line() -> impl Strategy<Value = GenLine> {
    prop_oneof![
        5 => ("[a-z0-9]{0,5}", prop::option::weighted(0.3, "[a-z]{1,6}"))
            .prop_map(|(v, c)| GenLine::Entry(String::new(), v, c)),
        2 => "[a-z ]{0,8}".prop_map(GenLine::Comment),
        1 => Just(GenLine::Blank),
    ]
}

fn gen_edit() -> impl Strategy<Value = GenEdit> {
    prop_oneof![
        8 => Just(GenEdit::Keep),
        2 => "[a-z0-9]{1,5}".prop_map(GenEdit::Change),
        1 => "[a-z]{1,6}".prop_map(GenEdit::Note),
        1 => Just(GenEdit::Delete),
        2 => gen_line().prop_map(GenEdit::Insert),
    ]
}

/// The base's lines, each entry given its own key.
fn keyed(lines: Vec<GenLine>) -> Vec<GenLine> {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| match l {
            GenLine::Entry(_, v, c) => GenLine::Entry(format!("K{i}"), v, c),
            l => l,
        })
        .collect()
}

/// `base` after `edits`, as text; `side` names the keys the side adds. Without a final
/// newline when `cut` (as some real files end).
fn edited(base: &[GenLine], edits: &[GenEdit], side: &str, cut: bool) -> String {
    let mut out = String::new();
    for (i, line) in base.iter().enumerate() {
        let edit = edits.get(i).cloned().unwrap_or(GenEdit::Keep);
        let line = match (&edit, line) {
            (GenEdit::Delete, _) => None,
            (GenEdit::Change(v), GenLine::Entry(k, _, c)) => {
                Some(GenLine::Entry(k.clone(), v.clone(), c.clone()))
            }
            (GenEdit::Change(v), GenLine::Comment(_)) => Some(GenLine::Comment(v.clone())),
            (GenEdit::Note(n), GenLine::Entry(k, v, _)) => {
                Some(GenLine::Entry(k.clone(), v.clone(), Some(n.clone())))
            }
            _ => Some(line.clone()),
        };
        if let Some(l) = line {
            out.push_str(&l.render());
        }
        if let GenEdit::Insert(new) = edit {
            let new = match new {
                GenLine::Entry(_, v, c) => GenLine::Entry(format!("{side}{i}"), v, c),
                l => l,
            };
            out.push_str(&new.render());
        }
    }
    if cut && out.ends_with('\n') {
        out.pop();
    }
    out
}

/// The keys whose value `side` added, changed or removed against `base`.
fn touched(base: &str, side: &str) -> std::collections::BTreeSet<String> {
    let (b, s) = (values_of(base), values_of(side));
    b.keys()
        .chain(s.keys())
        .filter(|k| b.get(*k) != s.get(*k))
        .cloned()
        .collect()
}

/// The merge of `ours` and `theirs` by the real `git merge-file`, if it is clean.
fn git_merge_file(base: &str, ours: &str, theirs: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("base", base), ("ours", ours), ("theirs", theirs)] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = std::process::Command::new("git")
        .args(["merge-file", "-p", "ours", "base", "theirs"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (out.status.code() == Some(0)).then(|| String::from_utf8(out.stdout).unwrap())
}

fn comment_lines(text: &str) -> std::collections::BTreeMap<&str, usize> {
    let mut n = std::collections::BTreeMap::new();
    for l in text.lines().filter(|l| l.trim_start().starts_with('#')) {
        *n.entry(l).or_default() += 1;
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    /// A key-aware merge is at least as good as a line merge: whenever `git merge-file` merges
    /// cleanly and the sides touch different entries, envault's merge is clean too, parses to
    /// the same entries, and holds every comment line of git's result.
    #[test]
    fn merges_every_change_git_merges(
        base in prop::collection::vec(gen_line(), 1..12),
        ours in prop::collection::vec(gen_edit(), 12),
        theirs in prop::collection::vec(gen_edit(), 12),
        cuts in any::<(bool, bool, bool)>(),
    ) {
        let base = keyed(base);
        let b = edited(&base, &[], "B", cuts.0);
        let o = edited(&base, &ours, "O", cuts.1);
        let t = edited(&base, &theirs, "T", cuts.2);
        let Some(git) = git_merge_file(&b, &o, &t) else { return Ok(()) };
        if !touched(&b, &o).is_disjoint(&touched(&b, &t)) {
            return Ok(());
        }
        let parse = |s: &str| Document::parse(s).unwrap();
        let merged = envault::merge::merge(&parse(&b), &parse(&o), &parse(&t), LABELS);
        prop_assert!(merged.conflicts.is_empty(), "{:?}\n{}", merged.conflicts, merged.text);
        prop_assert_eq!(values_of(&merged.text), values_of(&git), "git gave:\n{}\nenvault:\n{}", git, merged.text);
        let (ours_comments, git_comments) = (comment_lines(&merged.text), comment_lines(&git));
        for (line, n) in &git_comments {
            prop_assert!(
                ours_comments.get(line).copied().unwrap_or(0) >= *n,
                "`{}` is missing; git gave:\n{}\nenvault:\n{}", line, git, merged.text
            );
        }
    }
}
