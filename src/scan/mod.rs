//! The secret scanner behind `envault scan` and the pre-commit hook. It judges a set of
//! changed files against the state they are being committed into (the index, a commit, or the
//! working tree), with the `.envault.yml` files of that same state:
//!
//! 1. plaintext values in configured environments (`plaintext-secret`, `unencrypted-value`),
//!    and staged config changes that weaken protection (`config-weakened`);
//! 2. secrets in `.env*` files outside every config (`env-file-secret`);
//! 3. known secret values anywhere else (`known-secret`), in one Aho-Corasick pass per file;
//! 4. well-known credential formats and random values assigned to secret names
//!    (`detect::credentials`).
//!
//! With `check_data_keys` (commit ranges) it also reports an encrypted file whose data key was
//! replaced (`data-key-replaced`). Nothing here touches git or the filesystem: the caller
//! supplies the files.

pub mod detect;
mod rules;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path};

use aho_corasick::AhoCorasick;

use crate::config::{Config, ConfigError};
use crate::crypt::{decrypt_document, header_of, is_sealed, Identities, HEADER_PREFIX};
use crate::dotenv::{Document, ParseError};
use crate::rule::Rule;

/// The name of the allow-list file at the repository root.
pub const IGNORE_FILE: &str = ".envaultignore";
/// The inline allow marker.
pub const ALLOW_MARKER: &str = "envault:allow";
/// Known secrets shorter than this are not searched for (too many false matches).
pub const MIN_KNOWN_LEN: usize = 8;

/// A file that changed: its content in the scanned state and, when it existed, before.
#[derive(Clone)]
pub struct Changed {
    pub path: String,
    pub new: Vec<u8>,
    pub old: Option<Vec<u8>>,
}

impl std::fmt::Debug for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changed")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads files of the scanned state (`new`) and of the state it is compared with (`old`).
pub trait Source {
    fn new_file(&self, path: &str) -> Option<Vec<u8>>;
    fn old_file(&self, path: &str) -> Option<Vec<u8>>;
    /// The file `path` names in the scanned state, symbolic links followed (an env file
    /// may be a link to the file that holds its values).
    fn resolve_new(&self, path: &str) -> String {
        path.to_owned()
    }
    /// The same in the older state.
    fn resolve_old(&self, path: &str) -> String {
        path.to_owned()
    }
}

/// What to scan.
pub struct Input<'a> {
    pub changed: Vec<Changed>,
    /// Paths of every `.envault.yml` in the scanned state.
    pub configs: Vec<String>,
    pub source: &'a dyn Source,
    pub identities: &'a Identities,
    /// Every line counts as added and every environment is checked (working-tree scans).
    pub whole_files: bool,
    /// Report replaced data keys (commit ranges).
    pub check_data_keys: bool,
    /// A baseline (path from the root): an allow-list like `.envaultignore` that lists the
    /// findings a repository had when it adopted the scan (`scan --baseline`).
    pub baseline: Option<String>,
}

impl Input<'_> {
    /// The allow-list files: `.envaultignore`, and the baseline when there is one.
    fn allow_lists(&self) -> impl Iterator<Item = &str> {
        std::iter::once(IGNORE_FILE).chain(self.baseline.as_deref())
    }

    fn is_allow_list(&self, path: &str) -> bool {
        self.allow_lists().any(|a| a == path)
    }
}

/// A baseline file: the fingerprint of every finding that an allow-list may silence, each
/// with a comment naming where it was and what (never the value), sorted and deduplicated so
/// that the file reads well in a review and changes only when findings do.
pub fn baseline_text(findings: &[Finding]) -> String {
    let mut entries: Vec<String> = findings
        .iter()
        .filter(|f| f.rule.allowable() && !f.warning)
        .map(|f| {
            let key = f
                .key
                .as_deref()
                .map(|k| format!(" {}", k.escape_debug()))
                .unwrap_or_default();
            // The path comes from the repository: a newline in it must not start a line.
            format!(
                "{}  # {}: {}{key}\n",
                f.fingerprint,
                f.path.escape_debug(),
                f.rule
            )
        })
        .collect();
    entries.sort();
    entries.dedup_by(|a, b| a.split_whitespace().next() == b.split_whitespace().next());
    let mut out = String::from(
        "# envault scan baseline: findings this repository had when it adopted the scan.\n\
         # envault scan reports only findings not listed here. Each entry is a fingerprint\n\
         # of the file, the rule and the line without its value; never the secret.\n",
    );
    for e in entries {
        out.push_str(&e);
    }
    out
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    /// Where on the line the secret starts (from 1, in characters), when the rule knows.
    pub column: Option<usize>,
    pub rule: Rule,
    /// The credential family the value belongs to (its rule, for a family's finding; the
    /// family a plaintext or stray env value has, when it has one).
    pub family: Option<&'static crate::catalogue::Family>,
    /// The provider's checksum holds: the value is almost surely a real token.
    pub checksum: bool,
    pub key: Option<String>,
    /// The value's first two characters and its length; never the value.
    pub redacted: Option<String>,
    pub message: String,
    pub fix: String,
    /// Allow-list fingerprint: from the path, the rule and the line with the value removed.
    pub fingerprint: String,
    /// Reported for a reviewer to see, without failing the scan (an allowance the change adds).
    pub warning: bool,
}

/// Why a scan could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl crate::error::Hint for ScanError {
    fn hint(&self) -> Option<String> {
        match self {
            ScanError::Config(e) => e.hint(),
            ScanError::Parse(e) => e.hint(),
        }
    }

    fn excerpt(&self) -> Option<crate::error::Excerpt> {
        match self {
            ScanError::Parse(e) => e.excerpt(),
            ScanError::Config(_) => None,
        }
    }
}

/// The redacted form of a secret: its first two characters and its length.
pub fn redact(value: &str) -> String {
    let head: String = value.chars().take(2).collect();
    format!("{head}… ({} chars)", value.chars().count())
}

/// The allow-list fingerprint of a finding.
pub fn fingerprint(path: &str, rule: &str, line_without_value: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(path.as_bytes());
    h.update(b"\0");
    h.update(rule.as_bytes());
    h.update(b"\0");
    h.update(line_without_value.trim().as_bytes());
    h.finalize().to_hex()[..16].to_owned()
}

/// The fingerprints listed in an `.envaultignore` text (first word of each line, `#` comments).
pub fn parse_ignore(text: &str) -> HashSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// `a/./b/../c` → `a/c`, with `/` separators.
fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A text's lines by offset: line numbers and line text for hits.
struct Lines<'t> {
    text: &'t [u8],
}

impl<'t> Lines<'t> {
    fn number(&self, offset: usize) -> usize {
        memchr::memchr_iter(b'\n', &self.text[..offset.min(self.text.len())]).count() + 1
    }
    fn span(&self, offset: usize) -> std::ops::Range<usize> {
        let start = memchr::memrchr(b'\n', &self.text[..offset]).map_or(0, |i| i + 1);
        let end =
            memchr::memchr(b'\n', &self.text[offset..]).map_or(self.text.len(), |i| offset + i);
        start..end
    }
}

/// One configured environment's file in the scanned state.
struct EnvFile {
    /// The file holding its values (links followed).
    path: String,
    /// The path the config names.
    declared: String,
    config: usize,
    env: String,
    encrypted: Option<bool>,
    doc: Option<Document>,
    /// The opened values, when the file is encrypted and an identity could open it.
    plain: Option<Document>,
}

/// The line of `doc`'s entry for `key`, with its value removed (for fingerprints).
fn entry_line_without_value(doc: &Document, key: &str) -> String {
    doc.entry(key)
        .map(|e| {
            let raw = e.raw();
            let v = e.raw_value();
            raw.replacen(v, "", 1)
        })
        .unwrap_or_default()
}

/// The environment files the given `.envault.yml` files of a state declare: (path from the
/// root, environment name), sorted. A config that does not parse declares none here (the scan
/// itself reports it).
pub fn configured_env_files(configs: &[String], source: &dyn Source) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = configs
        .iter()
        .filter_map(|cp| {
            let bytes = source.new_file(cp)?;
            Config::parse(&String::from_utf8_lossy(&bytes), Path::new(cp)).ok()
        })
        .flat_map(|cfg| {
            cfg.environments
                .values()
                .map(|e| (normalize(&e.file), e.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Runs every rule; findings come sorted by path and line, allow-listed ones removed.
pub fn scan(input: &Input) -> Result<Vec<Finding>, ScanError> {
    // UTF-16 files (Windows editors, PowerShell) are read as the text they hold.
    let utf16 = |b: &[u8]| b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]);
    if input
        .changed
        .iter()
        .any(|c| utf16(&c.new) || c.old.as_deref().is_some_and(utf16))
    {
        let decoded = Input {
            changed: input
                .changed
                .iter()
                .map(|c| Changed {
                    path: c.path.clone(),
                    new: utf16_as_utf8(&c.new),
                    old: c.old.as_deref().map(utf16_as_utf8),
                })
                .collect(),
            configs: input.configs.clone(),
            source: input.source,
            identities: input.identities,
            whole_files: input.whole_files,
            check_data_keys: input.check_data_keys,
            baseline: input.baseline.clone(),
        };
        return rules::scan_text(&decoded);
    }
    rules::scan_text(input)
}

/// A UTF-16 text (by its byte-order mark) as UTF-8; other bytes as they are.
fn utf16_as_utf8(bytes: &[u8]) -> Vec<u8> {
    let units = |le: bool| {
        bytes[2..]
            .chunks_exact(2)
            .map(move |p| {
                if le {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            })
            .collect::<Vec<u16>>()
    };
    match bytes {
        [0xFF, 0xFE, ..] => String::from_utf16_lossy(&units(true)).into_bytes(),
        [0xFE, 0xFF, ..] => String::from_utf16_lossy(&units(false)).into_bytes(),
        _ => bytes.to_vec(),
    }
}

/// An allowance the scanned change adds: a `.envaultignore` entry or an `envault:allow`
/// comment. A change that allows its own finding would otherwise pass unseen, so each is
/// reported (as a warning: blocking it would block every legitimate allowance) with what it
/// silences.
struct Allowance {
    path: String,
    line: usize,
    /// The `.envaultignore` entry; `None` for an inline comment.
    fingerprint: Option<String>,
    silences: Vec<String>,
}

impl Allowance {
    fn finding(self) -> Finding {
        let what = match &self.fingerprint {
            Some(fp) => format!("`{}` gains the allow-list entry {fp}", self.path),
            None => format!("an `{ALLOW_MARKER}` comment was added"),
        };
        let message = if self.silences.is_empty() {
            format!("{what}; review what it silences")
        } else {
            format!("{what}, which silences {}", self.silences.join(", "))
        };
        Finding {
            fingerprint: fingerprint(&self.path, "config-weakened", &what),
            path: self.path,
            line: self.line,
            column: None,
            rule: Rule::ConfigWeakened,
            family: None,
            checksum: false,
            key: None,
            redacted: None,
            message,
            fix: "a reviewer should confirm it: an allowance added in the same change as what it allows is how a change would let its own secret through".to_owned(),
            warning: true,
        }
    }
}

/// The allowances the change adds (none in a working-tree scan, where nothing is added).
fn added_allowances(input: &Input) -> Vec<Allowance> {
    let mut out = Vec::new();
    if input.whole_files {
        return out;
    }
    for c in &input.changed {
        let allow_list = input.is_allow_list(&c.path);
        if !allow_list && memchr::memmem::find(&c.new, ALLOW_MARKER.as_bytes()).is_none() {
            continue;
        }
        let added = AddedLines::new(c, false);
        for (i, line) in c.new.split(|b| *b == b'\n').enumerate() {
            let marked = memchr::memmem::find(line, ALLOW_MARKER.as_bytes()).is_some();
            if !(allow_list || marked) || !added.contains(line) {
                continue;
            }
            let fingerprint = if allow_list {
                match parse_ignore(&String::from_utf8_lossy(line))
                    .into_iter()
                    .next()
                {
                    Some(fp) => Some(fp),
                    None => continue,
                }
            } else {
                None
            };
            out.push(Allowance {
                path: c.path.clone(),
                line: i + 1,
                fingerprint,
                silences: Vec::new(),
            });
        }
    }
    out
}

fn line_at(text: &[u8], line: usize) -> Option<&[u8]> {
    text.split(|b| *b == b'\n').nth(line.checked_sub(1)?)
}

fn remove_span(line: &str, start: usize, end: usize) -> String {
    let b = line.as_bytes();
    let end = end.min(b.len());
    let start = start.min(end);
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..start]);
    out.extend_from_slice(&b[end..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Which lines of a changed file are new: all of them for an added file, else those whose
/// text does not occur in the old version.
struct AddedLines<'c> {
    old: Option<HashSet<&'c [u8]>>,
}

impl<'c> AddedLines<'c> {
    fn new(c: &'c Changed, whole: bool) -> AddedLines<'c> {
        let old = match (&c.old, whole) {
            (Some(old), false) => Some(old.split(|b| *b == b'\n').collect()),
            _ => None,
        };
        AddedLines { old }
    }
    fn contains(&self, line: &[u8]) -> bool {
        self.old.as_ref().is_none_or(|o| !o.contains(line))
    }
}

#[cfg(test)]
mod tests;
