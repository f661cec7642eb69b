//! What users read: masking, the colour decision, and the text / JSON renderers of diffs and
//! sync plans. Renderers return strings; only `cli` prints them.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;

use crate::classify::Classifier;
use crate::diff::Diff;
use crate::dotenv::MASK;
use crate::sync::{KeepReason, Plan};

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// The colour decision: `auto` colours only a terminal, never with `NO_COLOR` set or
/// `TERM=dumb` (ripgrep's rules). JSON is never coloured; callers pass `json`.
pub fn use_color(
    choice: ColorChoice,
    stdout_is_tty: bool,
    no_color: bool,
    term_dumb: bool,
    json: bool,
) -> bool {
    if json {
        return false;
    }
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_is_tty && !no_color && !term_dumb,
    }
}

/// ANSI styling that is a no-op when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    fn wrap<'a>(&self, code: &str, s: &'a str) -> Cow<'a, str> {
        if self.color {
            Cow::Owned(format!("\x1b[{code}m{s}\x1b[0m"))
        } else {
            Cow::Borrowed(s)
        }
    }
    pub fn bold<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("1", s)
    }
    pub fn green<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("32", s)
    }
    pub fn red<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("31", s)
    }
    pub fn yellow<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("33", s)
    }
    pub fn dim<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("2", s)
    }
    pub fn cyan<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("36", s)
    }
    /// Bold red on a terminal: what must not be missed (a key missing from an environment).
    pub fn red_bold<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.wrap("1;31", s)
    }
}

/// Decides which values are shown and which are masked.
#[derive(Debug, Clone, Copy)]
pub struct Masker<'a> {
    pub classifier: &'a Classifier,
    /// `--show-secrets`: the user asked to see them.
    pub show_secrets: bool,
}

impl Masker<'_> {
    /// Whether values of `key` are masked, given every value it holds in the comparison.
    pub fn masks(&self, key: &str, values: &[&str]) -> bool {
        !self.show_secrets && self.classifier.masks(key, values)
    }

    fn show<'v>(&self, masked: bool, value: &'v str) -> Cow<'v, str> {
        if crate::crypt::is_sealed(value) {
            Cow::Borrowed(SEALED)
        } else if masked {
            Cow::Borrowed(MASK)
        } else {
            Cow::Borrowed(value)
        }
    }
}

/// Shown in place of a sealed value that could not be decrypted.
pub const SEALED: &str = "(encrypted)";

/// A value on one line: newlines and other control characters escaped.
pub fn one_line(value: &str) -> Cow<'_, str> {
    if !value.chars().any(char::is_control) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn banner(title: &str, paint: Paint) -> String {
    paint.bold(&format!("═══ {title} ═══")).into_owned()
}

/// `KEY: a → b`, or a line diff below the key when a shown value spans lines.
fn change_line(out: &mut String, key: &str, from: &str, to: &str, masked: bool, paint: Paint) {
    if crate::crypt::is_sealed(from) && crate::crypt::is_sealed(to) {
        let _ = writeln!(out, "  {key}: {}", paint.yellow("changed (encrypted)"));
        return;
    }
    if !masked && (from.contains('\n') || to.contains('\n')) {
        let _ = writeln!(out, "  {key}:");
        let diff = similar::TextDiff::from_lines(from, to);
        for change in diff.iter_all_changes() {
            let line = one_line(change.value().trim_end_matches(['\n', '\r']));
            let _ = match change.tag() {
                similar::ChangeTag::Delete => {
                    writeln!(out, "    {}", paint.red(&format!("- {line}")))
                }
                similar::ChangeTag::Insert => {
                    writeln!(out, "    {}", paint.green(&format!("+ {line}")))
                }
                similar::ChangeTag::Equal => writeln!(out, "      {line}"),
            };
        }
        return;
    }
    let (from, to) = if masked {
        (Cow::Borrowed(MASK), Cow::Borrowed(MASK))
    } else {
        (one_line(from), one_line(to))
    };
    let _ = writeln!(out, "  {key}: {} → {}", paint.red(&from), paint.green(&to));
}

/// `  KEY=value` with the value masked when it is a secret; `color` picks the paint.
fn key_value_line(
    out: &mut String,
    m: Masker,
    key: &str,
    value: &str,
    color: impl for<'s> Fn(&'s str) -> Cow<'s, str>,
) {
    let v = m.show(m.masks(key, &[value]), value);
    let _ = writeln!(out, "  {}", color(&format!("{key}={}", one_line(&v))));
}

fn section_header(out: &mut String, title: &str, paint: Paint) {
    let _ = writeln!(out, "{}", paint.bold(title));
}

/// The tutorial's diff report.
pub fn diff_text(d: &Diff, source: &str, target: &str, m: Masker, paint: Paint) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}\n",
        banner(&format!("Diff: {source} → {target}"), paint)
    );
    for (label, side, is_source) in [
        (source, &d.only_in_source, true),
        (target, &d.only_in_target, false),
    ] {
        section_header(&mut out, &format!("Only in {label}:"), paint);
        if side.is_empty() {
            let _ = writeln!(out, "  {}", paint.dim("(none)"));
        }
        for o in side.iter() {
            if is_source {
                key_value_line(&mut out, m, o.key, o.value, |s| paint.green(s));
            } else {
                key_value_line(&mut out, m, o.key, o.value, |s| paint.red(s));
            }
        }
        out.push('\n');
    }
    section_header(&mut out, "Different values:", paint);
    if d.changed.is_empty() {
        let _ = writeln!(out, "  {}", paint.dim("(none)"));
    }
    // Judging and formatting many changed values is most of a large diff's time after
    // reading: chunks are formatted in parallel and joined in order.
    let chunks: Vec<String> = {
        use rayon::prelude::*;
        d.changed
            .par_chunks(2048)
            .map(|chunk| {
                let mut text = String::new();
                for c in chunk {
                    let masked = m.masks(c.key, &[c.source, c.target]);
                    change_line(&mut text, c.key, c.source, c.target, masked, paint);
                }
                text
            })
            .collect()
    };
    out.reserve(chunks.iter().map(String::len).sum());
    for chunk in chunks {
        out.push_str(&chunk);
    }
    if !d.not_compared.is_empty() {
        out.push('\n');
        section_header(
            &mut out,
            "Not compared (encrypted, no identity to open them):",
            paint,
        );
        for k in &d.not_compared {
            let _ = writeln!(out, "  {k}");
        }
    }
    out
}

/// A key and value in JSON output.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct JsonEntry<'a> {
    pub key: &'a str,
    pub value: Cow<'a, str>,
    pub masked: bool,
}

/// A changed key in JSON output.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct JsonChange<'a> {
    pub key: &'a str,
    pub source: Cow<'a, str>,
    pub target: Cow<'a, str>,
    pub masked: bool,
}

/// `envault diff --format json`: a stable, documented object.
#[derive(Debug, Serialize)]
pub struct JsonDiff<'a> {
    pub source: &'a str,
    pub target: &'a str,
    pub identical: bool,
    pub only_in_source: Vec<JsonEntry<'a>>,
    pub only_in_target: Vec<JsonEntry<'a>>,
    pub changed: Vec<JsonChange<'a>>,
    /// Keys present on both sides whose sealed values could not be decrypted.
    pub not_compared: &'a [&'a str],
}

fn json_entry<'a>(m: Masker, key: &'a str, value: &'a str) -> JsonEntry<'a> {
    let masked = m.masks(key, &[value]);
    JsonEntry {
        key,
        value: m.show(masked, value),
        masked,
    }
}

fn json_change<'a>(m: Masker, key: &'a str, source: &'a str, target: &'a str) -> JsonChange<'a> {
    let masked = m.masks(key, &[source, target]);
    JsonChange {
        key,
        source: m.show(masked, source),
        target: m.show(masked, target),
        masked,
    }
}

pub fn diff_json<'a>(d: &'a Diff, source: &'a str, target: &'a str, m: Masker) -> String {
    let j = JsonDiff {
        source,
        target,
        identical: d.is_empty(),
        only_in_source: d
            .only_in_source
            .iter()
            .map(|o| json_entry(m, o.key, o.value))
            .collect(),
        only_in_target: d
            .only_in_target
            .iter()
            .map(|o| json_entry(m, o.key, o.value))
            .collect(),
        changed: d
            .changed
            .iter()
            .map(|c| json_change(m, c.key, c.source, c.target))
            .collect(),
        not_compared: &d.not_compared,
    };
    let mut s = serde_json::to_string_pretty(&j).expect("diff serialises");
    s.push('\n');
    s
}

fn keep_note(reason: &KeepReason) -> String {
    match reason {
        KeepReason::Secret => "secret".into(),
        KeepReason::NamesEnvironment { env, word } => format!("{env}'s value names '{word}'"),
        KeepReason::Pinned => "env_specific_keys".into(),
        KeepReason::TargetWins => "target wins".into(),
    }
}

/// The tutorial's sync report: the plan under "Would …" headings on a dry run, in the past
/// tense otherwise.
pub fn plan_text(
    p: &Plan,
    source: &str,
    target: &str,
    dry_run: bool,
    m: Masker,
    paint: Paint,
) -> String {
    let mut out = String::new();
    let title = if dry_run {
        format!("Dry Run: sync {source} → {target}")
    } else {
        format!("Sync: {source} → {target}")
    };
    let _ = writeln!(out, "{}\n", banner(&title, paint));
    let (add_h, upd_h, del_h) = if dry_run {
        ("Would add:", "Would update:", "Would delete:")
    } else {
        ("Added:", "Updated:", "Deleted:")
    };
    if !p.add.is_empty() {
        section_header(&mut out, add_h, paint);
        for a in &p.add {
            key_value_line(&mut out, m, &a.key, &a.value, |s| paint.green(s));
        }
        out.push('\n');
    }
    if !p.update.is_empty() {
        section_header(&mut out, upd_h, paint);
        for u in &p.update {
            let masked = m.masks(&u.key, &[&u.from, &u.to]);
            change_line(&mut out, &u.key, &u.from, &u.to, masked, paint);
        }
        out.push('\n');
    }
    for (heading, target_wins) in [
        ("Kept (environment-specific):", false),
        ("Kept (target wins):", true),
    ] {
        let kept: Vec<_> = p
            .kept
            .iter()
            .filter(|k| (k.reason == KeepReason::TargetWins) == target_wins)
            .collect();
        if kept.is_empty() {
            continue;
        }
        section_header(&mut out, heading, paint);
        for k in kept {
            let v = m.show(m.masks(&k.key, &[&k.source, &k.target]), &k.target);
            let _ = writeln!(
                out,
                "  {}: {} {}",
                k.key,
                paint.yellow(&one_line(&v)),
                paint.dim(&format!("({})", keep_note(&k.reason)))
            );
        }
        if !target_wins {
            let _ = writeln!(
                out,
                "  {}",
                paint.dim("(to copy these too, add --include-env-specific)")
            );
        }
        out.push('\n');
    }
    if !p.delete.is_empty() {
        section_header(&mut out, del_h, paint);
        for d in &p.delete {
            key_value_line(&mut out, m, &d.key, &d.value, |s| paint.red(s));
        }
        out.push('\n');
    }
    if !p.skipped.is_empty() {
        section_header(&mut out, "Skipped:", paint);
        for k in &p.skipped {
            let _ = writeln!(out, "  {k}");
        }
        out.push('\n');
    }
    let counts = format!(
        "{} added, {} updated, {} kept, {} deleted",
        p.add.len(),
        p.update.len(),
        p.kept.len(),
        p.delete.len()
    );
    let summary = if !p.changes_target() {
        format!(
            "Nothing to change: {target} already has everything it takes from {source} ({counts})."
        )
    } else if dry_run {
        format!("Dry run: {counts}; nothing written.")
    } else {
        format!("Synced {source} → {target}: {counts}.")
    };
    let _ = writeln!(out, "{summary}");
    out
}

#[derive(Serialize)]
struct JsonKept<'a> {
    key: &'a str,
    source: Cow<'a, str>,
    target: Cow<'a, str>,
    reason: &'static str,
    masked: bool,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    source: &'a str,
    target: &'a str,
    dry_run: bool,
    written: bool,
    add: Vec<JsonEntry<'a>>,
    update: Vec<JsonChange<'a>>,
    kept: Vec<JsonKept<'a>>,
    delete: Vec<JsonEntry<'a>>,
    skipped: &'a [String],
}

/// `envault sync --format json`: the plan with masking applied. For updates, `source` is the
/// new value and `target` the replaced one.
pub fn plan_json(p: &Plan, source: &str, target: &str, dry_run: bool, m: Masker) -> String {
    let j = JsonPlan {
        source,
        target,
        dry_run,
        written: !dry_run && p.changes_target(),
        add: p
            .add
            .iter()
            .map(|a| json_entry(m, &a.key, &a.value))
            .collect(),
        update: p
            .update
            .iter()
            .map(|u| json_change(m, &u.key, &u.to, &u.from))
            .collect(),
        kept: p
            .kept
            .iter()
            .map(|k| {
                let masked = m.masks(&k.key, &[&k.source, &k.target]);
                JsonKept {
                    key: &k.key,
                    source: m.show(masked, &k.source),
                    target: m.show(masked, &k.target),
                    reason: match k.reason {
                        KeepReason::Secret => "secret",
                        KeepReason::NamesEnvironment { .. } => "names_environment",
                        KeepReason::Pinned => "env_specific_keys",
                        KeepReason::TargetWins => "target_wins",
                    },
                    masked,
                }
            })
            .collect(),
        delete: p
            .delete
            .iter()
            .map(|d| json_entry(m, &d.key, &d.value))
            .collect(),
        skipped: &p.skipped,
    };
    let mut s = serde_json::to_string_pretty(&j).expect("plan serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_rules() {
        use ColorChoice::*;
        assert!(use_color(Auto, true, false, false, false));
        assert!(!use_color(Auto, false, false, false, false));
        assert!(!use_color(Auto, true, true, false, false));
        assert!(!use_color(Auto, true, false, true, false));
        assert!(use_color(Always, false, true, true, false));
        assert!(!use_color(Always, true, false, false, true));
        assert!(!use_color(Never, true, false, false, false));
    }

    #[test]
    fn one_line_escapes_controls() {
        assert_eq!(one_line("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(one_line("plain ü"), "plain ü");
    }
}

/// One problem at a place in a file, for CI renderers (GitHub annotations, SARIF).
#[derive(Debug, Clone)]
pub struct Annotation<'a> {
    pub path: &'a str,
    pub line: usize,
    pub column: Option<usize>,
    pub rule: crate::rule::Rule,
    /// The whole message, fix included.
    pub message: String,
    pub fingerprint: Option<&'a str>,
    /// For a reviewer to see; does not fail the run.
    pub warning: bool,
}

impl Annotation<'_> {
    fn level(&self) -> &'static str {
        if self.warning {
            "warning"
        } else {
            "error"
        }
    }
}

/// Escapes a workflow command's message.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions `::error` (or `::warning`) workflow commands: annotations on the pull
/// request's files.
pub fn github_annotations(tool: &str, items: &[Annotation]) -> String {
    let mut out = String::new();
    for a in items {
        let col = a.column.map(|c| format!(",col={c}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "::{} file={},line={}{col},title={}::{}",
            a.level(),
            gh_property(a.path),
            a.line.max(1),
            gh_property(&format!("{tool} {}", a.rule)),
            gh_data(&a.message)
        );
    }
    out
}

/// A SARIF 2.1.0 log of `items`, with the table of the rules they report.
pub fn sarif(items: &[Annotation]) -> serde_json::Value {
    let mut rules: Vec<crate::rule::Rule> = items.iter().map(|a| a.rule).collect();
    rules.sort_by_key(|r| r.id());
    rules.dedup();
    let results: Vec<serde_json::Value> = items
        .iter()
        .map(|a| {
            let mut r = serde_json::json!({
                "ruleId": a.rule,
                "ruleIndex": rules.iter().position(|r| *r == a.rule),
                "level": a.level(),
                "message": {"text": a.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": a.path},
                        "region": match a.column {
                            Some(c) => serde_json::json!({"startLine": a.line.max(1), "startColumn": c}),
                            None => serde_json::json!({"startLine": a.line.max(1)}),
                        }
                    }
                }],
            });
            if let Some(fp) = a.fingerprint {
                r["partialFingerprints"] = serde_json::json!({"envault/v1": fp});
            }
            r
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "envault",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|r| serde_json::json!({
                    "id": r.id(),
                    "shortDescription": {"text": r.describe()},
                })).collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}

// ---- matrix --------------------------------------------------------------------------------

/// The columns a value gets in the terminal matrix when the terminal has room.
const VALUE_WIDTH: usize = 18;

/// The terminal matrix's legend, one item per mark.
const MATRIX_LEGEND: [&str; 5] = [
    "= same as another environment (=A, =B: cells with the same letter agree)",
    "≠ differs from every other",
    "· only here",
    "— missing",
    "? encrypted, not compared",
];

/// A cell's mark: its state, and for agreeing cells in a row of several values, which group.
fn cell_mark_of(c: &crate::matrix::Cell) -> String {
    match (c.state, c.value_group) {
        (crate::matrix::State::Same, Some(g)) => format!("={}", crate::matrix::group_letter(g)),
        (state, _) => cell_mark(state).to_owned(),
    }
}

fn cell_mark(s: crate::matrix::State) -> &'static str {
    use crate::matrix::State;
    match s {
        State::Same => "=",
        State::Differs => "≠",
        State::Only => "·",
        State::Missing => "—",
        State::Sealed => "?",
    }
}

/// How many terminal columns `s` takes (wide characters two, combining marks none).
fn columns(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Shortens `v` to at most `width` terminal columns, ending it with `…` when cut.
fn fit(v: &str, width: usize) -> String {
    if columns(v) <= width {
        return v.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in v.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// The keys × environments table for a terminal, grouped by key prefix, with a legend. With a
/// `width` (a terminal's), values are shortened with `…`, down to the marks alone, and then
/// environment names too, until a line fits.
pub fn matrix_text(
    m: &crate::matrix::Matrix,
    only_drift: bool,
    paint: Paint,
    width: Option<usize>,
) -> String {
    let rows: Vec<&crate::matrix::Row> = m.rows.iter().filter(|r| !only_drift || r.drift).collect();
    let mut key_w = rows
        .iter()
        .map(|r| columns(&r.key))
        .max()
        .unwrap_or(3)
        .max(3);
    // Values are text from files: control characters are shown escaped, never sent.
    let cell_text = |c: &crate::matrix::Cell, value_w: usize| match &c.shown {
        Some(v) if value_w > 0 => format!("{} {}", cell_mark_of(c), fit(&one_line(v), value_w)),
        _ => cell_mark_of(c),
    };
    let layout = |value_w: usize, name_w: usize| -> Vec<usize> {
        m.envs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                rows.iter()
                    .map(|r| columns(&cell_text(&r.cells[i], value_w)))
                    .chain([columns(e).min(name_w)])
                    .max()
                    .unwrap_or(1)
            })
            .collect()
    };
    let line_w =
        |key_w: usize, widths: &[usize]| key_w + widths.iter().map(|w| w + 2).sum::<usize>();
    // Shorten values first (to 8 columns), then wrap the table, until every line fits.
    let (mut value_w, mut name_w) = (VALUE_WIDTH, usize::MAX);
    let mut widths = layout(value_w, name_w);
    if let Some(max) = width {
        // Values down to 8 columns while the whole table is too wide.
        while line_w(key_w, &widths) > max && value_w > 8 {
            value_w -= 1;
            widths = layout(value_w, name_w);
        }
        // Then the table wraps (below); only when one environment's column does not fit
        // beside the keys are long names, then long keys, shortened.
        let widest = |key_w: usize, widths: &[usize]| key_w + 2 + widths.iter().max().unwrap_or(&0);
        while widest(key_w, &widths) > max && value_w > 0 {
            value_w = if value_w > 4 { value_w - 1 } else { 0 };
            widths = layout(value_w, name_w);
        }
        name_w = m.envs.iter().map(|e| columns(e)).max().unwrap_or(0);
        while widest(key_w, &widths) > max && name_w > 3 {
            name_w -= 1;
            widths = layout(value_w, name_w);
        }
        let room = max.saturating_sub(widest(0, &widths));
        key_w = key_w.min(room.max(12));
    }
    // Still too wide (many environments): the table wraps, a few environments at a time.
    let mut chunks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut used = key_w;
    for (i, w) in widths.iter().enumerate() {
        if width.is_some_and(|max| used + w + 2 > max) && i > start {
            chunks.push(start..i);
            (start, used) = (i, key_w);
        }
        used += w + 2;
    }
    chunks.push(start..widths.len());
    let layout = Layout {
        key_w,
        value_w,
        name_w,
        widths: &widths,
    };
    let mut out = String::new();
    for (n, envs) in chunks.into_iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        matrix_block(&mut out, m, &rows, envs, &layout, &cell_text, paint);
    }
    out.push_str(&matrix_footer(m, only_drift, value_w < VALUE_WIDTH, width));
    out
}

/// The terminal matrix's legend and summary, fitted to `width` when there is one.
fn matrix_footer(
    m: &crate::matrix::Matrix,
    only_drift: bool,
    shortened: bool,
    width: Option<usize>,
) -> String {
    let drift = m.rows.iter().filter(|r| r.drift).count();
    // On one line when it fits, else one item a line.
    let legend = MATRIX_LEGEND.join("   ");
    let legend = match width {
        Some(max) if columns(&legend) > max => MATRIX_LEGEND
            .iter()
            .map(|item| wrap(item, max))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => legend,
    };
    let summary = format!(
        "{} keys, {drift} with drift, across {} environments{}{}",
        m.rows.len(),
        m.envs.len(),
        if only_drift {
            " (keys identical everywhere hidden)"
        } else {
            ""
        },
        if shortened {
            " (values shortened to fit the terminal: --format json or --format html show them whole)"
        } else {
            ""
        }
    );
    let summary = match width {
        Some(max) => wrap(&summary, max),
        None => summary,
    };
    format!("\n{legend}\n{summary}\n")
}

/// Column widths of the terminal matrix.
struct Layout<'a> {
    key_w: usize,
    value_w: usize,
    name_w: usize,
    widths: &'a [usize],
}

/// One table of the terminal matrix: the KEY column and the environments `envs`.
fn matrix_block(
    out: &mut String,
    m: &crate::matrix::Matrix,
    rows: &[&crate::matrix::Row],
    envs: std::ops::Range<usize>,
    l: &Layout,
    cell_text: &dyn Fn(&crate::matrix::Cell, usize) -> String,
    paint: Paint,
) {
    use crate::matrix::State;
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(columns(s))));
    let mut header = pad("KEY", l.key_w);
    for i in envs.clone() {
        header.push_str("  ");
        header.push_str(&pad(&fit(&m.envs[i], l.name_w), l.widths[i]));
    }
    let _ = writeln!(out, "{}", paint.bold(header.trim_end()));
    let mut group = None;
    for r in rows {
        if group != Some(&r.group) {
            let _ = writeln!(out, "{}", paint.bold(&format!("[{}]", r.group)));
            group = Some(&r.group);
        }
        let mut line = pad(&fit(&r.key, l.key_w), l.key_w);
        for i in envs.clone() {
            let c = &r.cells[i];
            line.push_str("  ");
            let text = pad(&cell_text(c, l.value_w), l.widths[i]);
            let styled = match (c.state, c.value_group) {
                // Agreeing cells of a row with several values: one colour per value.
                (State::Same, Some(g)) if g % 2 == 1 => paint.cyan(&text).into_owned(),
                (State::Same, _) => paint.green(&text).into_owned(),
                (State::Differs | State::Only, _) => paint.yellow(&text).into_owned(),
                (State::Missing, _) => paint.red_bold(&text).into_owned(),
                (State::Sealed, _) => text,
            };
            line.push_str(&styled);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// `text` broken into lines of at most `width` columns at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        let w = columns(word);
        if line > 0 && line + 1 + w > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += w;
    }
    out
}

pub fn matrix_json(m: &crate::matrix::Matrix, only_drift: bool) -> String {
    let keys: Vec<serde_json::Value> = m
        .rows
        .iter()
        .filter(|r| !only_drift || r.drift)
        .map(|r| {
            let mut cells = serde_json::Map::new();
            for (e, c) in m.envs.iter().zip(&r.cells) {
                cells.insert(
                    e.clone(),
                    serde_json::json!({"state": c.state.as_str(), "value": c.shown}),
                );
            }
            serde_json::json!({"key": r.key, "group": r.group, "secret": r.secret, "drift": r.drift, "cells": cells})
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({"environments": m.envs, "keys": keys}))
        .unwrap_or_default()
        + "\n"
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const MATRIX_CSS: &str = ".warning{color:#b00020}body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}\
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-family:ui-monospace,monospace;font-size:13px}\
th{background:#f4f4f4;cursor:pointer;user-select:none}th.sorted-asc::after{content:' ▲'}th.sorted-desc::after{content:' ▼'}\
tr.group td{background:#fafafa;font-weight:bold;font-family:system-ui,sans-serif}\
.same{background:#e8f5e9}.differs,.only{background:#fff3c4}.missing{background:#ef9a9a;color:#7f0000;font-weight:bold}.encrypted{color:#555}\
.g0{background:#c8e6c9}.g1{background:#bbdefb}.g2{background:#e1bee7}.g3{background:#ffe0b2}.g4{background:#b2dfdb}.g5{background:#f0f4c3}\
tr[data-drift=\"1\"] td:first-child{font-weight:bold}\
.controls{margin:1em 0}.controls label{margin-left:1em}.legend span{margin-right:1.2em;padding:1px 4px;display:inline-block;white-space:nowrap}";

const MATRIX_JS: &str = r#"(function(){
var q=document.getElementById('filter'),d=document.getElementById('drift'),t=document.getElementById('matrix');
function apply(){var f=q.value.toLowerCase(),only=d.checked,shown=0,sorted=t.dataset.sorted==='1';
t.querySelectorAll('tbody tr.key').forEach(function(r){var ok=r.dataset.key.toLowerCase().indexOf(f)>=0&&(!only||r.dataset.drift==='1');r.hidden=!ok;if(ok)shown++;});
t.querySelectorAll('tbody tr.group').forEach(function(g){var any=false;t.querySelectorAll('tbody tr.key[data-group="'+g.dataset.group+'"]').forEach(function(r){if(!r.hidden)any=true;});g.hidden=sorted||!any;});
document.getElementById('count').textContent=shown;}
function sort(col,th){var body=t.tBodies[0],rows=Array.prototype.slice.call(body.querySelectorAll('tr.key')),asc=!th.classList.contains('sorted-asc');
t.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});th.classList.add(asc?'sorted-asc':'sorted-desc');
rows.sort(function(a,b){var x=a.children[col].dataset.sort,y=b.children[col].dataset.sort;return (x<y?-1:x>y?1:0)*(asc?1:-1);});
t.dataset.sorted='1';body.querySelectorAll('tr.group').forEach(function(g){g.hidden=true;});rows.forEach(function(r){body.appendChild(r);});apply();}
t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){sort(i,th);});});
q.addEventListener('input',apply);d.addEventListener('change',apply);
var h=new URLSearchParams(location.hash.slice(1));if(h.has('filter'))q.value=h.get('filter');if(h.get('drift')==='1')d.checked=true;if(h.get('drift')==='0')d.checked=false;
if(h.has('sort')){var c=parseInt(h.get('sort'),10),th=t.querySelectorAll('th')[c];if(th)sort(c,th);}
apply();document.body.dataset.ready='1';})();"#;

/// One self-contained HTML page (inline style and script, nothing from the network) with the
/// same table, sortable by any column and filterable by key and drift. `#filter=DB_&drift=1`
/// in the URL presets the filters.
/// The self-contained HTML report; `shows_secrets` when secret values are in it (the page then
/// says so instead of claiming they are masked); `only_drift` starts with only the keys that
/// drift shown (the box can be unticked).
pub fn matrix_html(
    m: &crate::matrix::Matrix,
    title: &str,
    shows_secrets: bool,
    only_drift: bool,
) -> String {
    let masking = if shows_secrets {
        "<strong class=\"warning\">This page shows secret values in clear: keep it private, never publish it as a CI artifact.</strong>"
    } else {
        "Secret values are masked."
    };
    let mut rows = String::new();
    let mut group = None;
    for r in &m.rows {
        if group != Some(&r.group) {
            let _ = writeln!(
                rows,
                "<tr class=\"group\" data-group=\"{g}\"><td colspan=\"{n}\">{g}</td></tr>",
                g = html_escape(&r.group),
                n = m.envs.len() + 1
            );
            group = Some(&r.group);
        }
        let _ = write!(
            rows,
            "<tr class=\"key\" data-key=\"{k}\" data-group=\"{g}\" data-drift=\"{d}\"{hidden}><td data-sort=\"{k}\">{k}</td>",
            k = html_escape(&r.key),
            g = html_escape(&r.group),
            d = u8::from(r.drift),
            // With --only-drift, rows without drift start hidden (the box can show them).
            hidden = if only_drift && !r.drift { " hidden" } else { "" },
        );
        for (c, env) in r.cells.iter().zip(&m.envs) {
            let text = match &c.shown {
                Some(v) => format!("{} {}", cell_mark_of(c), html_escape(&one_line(v))),
                None => format!("{} missing", cell_mark_of(c)),
            };
            let (class, title) = match (c.state, c.value_group) {
                // Agreeing cells of a row with several values: one colour per value.
                (crate::matrix::State::Same, Some(g)) => (
                    format!("{} g{}", c.state.as_str(), g.min(5)),
                    format!(
                        "{}: same as the other cells marked {}",
                        html_escape(env),
                        cell_mark_of(c)
                    ),
                ),
                _ => (
                    c.state.as_str().to_owned(),
                    format!("{}: {}", html_escape(env), c.state.as_str()),
                ),
            };
            let _ = write!(
                rows,
                "<td class=\"{class}\" data-sort=\"{s}\" title=\"{title}\">{text}</td>",
                s = c.state.as_str()
            );
        }
        rows.push_str("</tr>\n");
    }
    let heads: String = m
        .envs
        .iter()
        .map(|e| format!("<th>{}</th>", html_escape(e)))
        .collect();
    let drift = m.rows.iter().filter(|r| r.drift).count();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<meta name=\"viewport\" content=\"width=device-width\"><style>{MATRIX_CSS}</style></head><body>\n\
<h1>{t}</h1>\n<p>{n} keys, {drift} with drift, across {e} environments. {masking}</p>\n\
<div class=\"controls\"><input id=\"filter\" type=\"search\" placeholder=\"Filter keys\" aria-label=\"Filter keys\">\
<label><input id=\"drift\" type=\"checkbox\"{checked}> only keys with drift</label> <label><span id=\"count\">{n}</span> of {n} keys shown</label></div>\n\
<p class=\"legend\"><span class=\"same\">= same as another environment</span><span class=\"g0\">=A</span><span class=\"g1\">=B cells with the same letter agree</span><span class=\"differs\">≠ differs from every other</span><span class=\"only\">· only here</span><span class=\"missing\">— missing</span><span>? encrypted, not compared</span></p>\n\
<table id=\"matrix\"><thead><tr><th>key</th>{heads}</tr></thead><tbody>\n{rows}</tbody></table>\n\
<script>{MATRIX_JS}</script>\n</body></html>\n",
        t = html_escape(title),
        n = m.rows.len(),
        e = m.envs.len(),
        checked = if only_drift { " checked" } else { "" },
    )
}
