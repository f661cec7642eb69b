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
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    pub rule: Rule,
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

struct Scanner {
    configs: Vec<(String, Config)>,
    findings: Vec<Finding>,
}

impl Scanner {
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        path: &str,
        line: usize,
        rule: Rule,
        key: Option<&str>,
        value: Option<&str>,
        line_without_value: &str,
        message: String,
        fix: &str,
    ) {
        self.findings.push(Finding {
            path: path.to_owned(),
            line,
            rule,
            key: key.map(str::to_owned),
            redacted: value.map(redact),
            message,
            fix: fix.to_owned(),
            fingerprint: fingerprint(path, rule.id(), line_without_value),
            warning: false,
        });
    }
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
        };
        return scan_text(&decoded);
    }
    scan_text(input)
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

fn scan_text(input: &Input) -> Result<Vec<Finding>, ScanError> {
    let changed: HashMap<&str, &Changed> =
        input.changed.iter().map(|c| (c.path.as_str(), c)).collect();
    // A file of the scanned state: borrowed when it is one of the changed files.
    let new_of = |path: &str| -> Option<Cow<'_, [u8]>> {
        match changed.get(path) {
            Some(c) => Some(Cow::Borrowed(&c.new[..])),
            None => input.source.new_file(path).map(Cow::Owned),
        }
    };
    let mut configs = Vec::new();
    for cp in &input.configs {
        let Some(bytes) = new_of(cp) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        configs.push((cp.clone(), Config::parse(&text, Path::new(cp))?));
    }
    let mut s = Scanner {
        configs,
        findings: Vec::new(),
    };

    // The configured environments' files.
    let mut envs: Vec<EnvFile> = Vec::new();
    let mut unparsed: Vec<(String, ParseError)> = Vec::new();
    for (ci, (_, cfg)) in s.configs.iter().enumerate() {
        for env in cfg.environments.values() {
            let declared = normalize(&env.file);
            let path = input.source.resolve_new(&declared);
            let doc = match new_of(&path) {
                Some(bytes) => match Document::parse_bytes(&bytes) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        // It cannot be judged, so it cannot pass.
                        unparsed.push((path.clone(), e));
                        None
                    }
                },
                None => None,
            };
            let plain = doc.as_ref().and_then(|d| {
                let h = header_of(d).ok()??;
                if input.identities.is_empty() {
                    return None;
                }
                let key = h.unwrap(input.identities).ok()?;
                decrypt_document(d, &key, &h).ok()
            });
            envs.push(EnvFile {
                path,
                declared,
                config: ci,
                env: env.name.clone(),
                encrypted: env.encrypted,
                doc,
                plain,
            });
        }
    }
    let env_paths: HashSet<&str> = envs
        .iter()
        .flat_map(|e| [e.path.as_str(), e.declared.as_str()])
        .collect();
    // An env file counts as changed when the file with its values or the link to it did.
    let env_changed = |e: &EnvFile| {
        changed.contains_key(e.path.as_str()) || changed.contains_key(e.declared.as_str())
    };
    // An env file is judged when it or its config changed (every file in a working-tree scan).
    let relevant = |s: &Scanner, e: &EnvFile| {
        input.whole_files || env_changed(e) || changed.contains_key(s.configs[e.config].0.as_str())
    };
    for (path, e) in unparsed {
        s.report(
            &path,
            e.line,
            Rule::EnvParseError,
            None,
            None,
            &format!("{}", e.kind),
            format!(
                "{path} does not parse ({}, column {}), so it cannot be checked for secrets",
                e.kind, e.column
            ),
            e.kind.hint(),
        );
    }

    // A header that is missing, moved or broken (the file would read as plaintext).
    for e in &envs {
        let Some(Err(err)) = e.doc.as_ref().filter(|_| relevant(&s, e)).map(header_of) else {
            continue;
        };
        let path = e.path.clone();
        s.report(
            &path,
            err.line().unwrap_or(1),
            Rule::DamagedHeader,
            None,
            None,
            "#envault:",
            format!("{path}: {err}; envault refuses to read or write it"),
            "restore the header from a commit you trust (`git log -p -- <file>`): a header moved or broken by someone without the key would make the file read as plaintext",
        );
    }

    // Rule 1: plaintext in configured environments.
    for e in &envs {
        let relevant = relevant(&s, e);
        let (cp, cfg) = &s.configs[e.config];
        let Some(doc) = &e.doc else { continue };
        if !relevant || e.encrypted == Some(false) {
            continue;
        }
        let mut found = Vec::new();
        for entry in doc.entries() {
            let (k, v) = (entry.key(), entry.value());
            if is_sealed(entry.raw_value()) || v.is_empty() || cfg.plaintext_keys.matches(k) {
                continue;
            }
            // A provider's token format is a secret whatever the key's name.
            let secret = cfg.classifier.is_secret(k, &[v]) || detect::provider_token(v).is_some();
            if e.encrypted == Some(true) {
                found.push((
                    entry.line(),
                    k.to_owned(),
                    v.to_owned(),
                    Rule::UnencryptedValue,
                    format!(
                        "{k} is in clear in `{}`, which is marked `encrypted: true`",
                        e.env
                    ),
                ));
            } else if secret {
                found.push((
                    entry.line(),
                    k.to_owned(),
                    v.to_owned(),
                    Rule::PlaintextSecret,
                    format!("{k} is a secret in clear in the `{}` environment", e.env),
                ));
            }
        }
        let fix = format!(
            "run `envault encrypt {}`; if these are dummy values, mark the environment `encrypted: false` in {cp}",
            e.env
        );
        for (line, k, v, rule, msg) in found {
            let lwv = entry_line_without_value(doc, &k);
            let path = e.path.clone();
            s.report(&path, line, rule, Some(&k), Some(&v), &lwv, msg, &fix);
        }
    }

    // Rule 1, config: staged changes that weaken protection.
    for ci in 0..s.configs.len() {
        let cp = s.configs[ci].0.clone();
        if !changed.contains_key(cp.as_str()) {
            continue;
        }
        let Some(old_bytes) = changed[cp.as_str()].old.clone() else {
            // A new config beside existing ones takes over every command run below its folder
            // (`--env prod` there means its `prod`): someone who plants one with a key of their
            // own gets the values a maintainer writes there.
            let existed_before = s.configs.iter().any(|(other, _)| {
                *other != cp && changed.get(other.as_str()).is_none_or(|c| c.old.is_some())
            });
            if existed_before {
                let cfg = &s.configs[ci].1;
                let envs: Vec<&str> = cfg.environments.keys().map(String::as_str).collect();
                let dir = cp.rsplit_once('/').map_or(".", |(d, _)| d);
                let msg = format!(
                    "a new {cp} takes over commands run below {dir}/: its environments ({}) and recipients apply there instead of the ones already configured",
                    envs.join(", ")
                );
                s.report(
                    &cp,
                    1,
                    Rule::ConfigWeakened,
                    None,
                    None,
                    &format!("new config\0{msg}"),
                    msg,
                    "check that this configuration is meant to exist (a monorepo service); if so, allow it with an `envault:allow` comment on its first line",
                );
            }
            continue;
        };
        let Ok(old) = Config::parse(&String::from_utf8_lossy(&old_bytes), Path::new(&cp)) else {
            continue;
        };
        let new_text = String::from_utf8_lossy(&changed[cp.as_str()].new).into_owned();
        weakened(&mut s, ci, &cp, &old, &new_text, &envs);
    }

    // Known secrets and where they legitimately live.
    let mut known: Vec<String> = Vec::new();
    let mut holders: Vec<HashSet<String>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for e in &envs {
        let cfg = &s.configs[e.config].1;
        let Some(doc) = e.plain.as_ref().or(e.doc.as_ref()) else {
            continue;
        };
        for entry in doc.entries() {
            let (k, v) = (entry.key(), entry.value());
            if v.len() < MIN_KNOWN_LEN || is_sealed(v) || detect::is_placeholder(v) {
                continue;
            }
            if !cfg.classifier.is_secret(k, &[v]) {
                continue;
            }
            let i = *index.entry(v.to_owned()).or_insert_with(|| {
                known.push(v.to_owned());
                holders.push(HashSet::new());
                known.len() - 1
            });
            holders[i].insert(e.path.clone());
        }
    }
    let known_ac = if known.is_empty() {
        None
    } else {
        Some(AhoCorasick::new(&known).expect("literal patterns build"))
    };

    // The classifier for files outside every config: the root config's, else the default.
    let default_classifier = s
        .configs
        .iter()
        .find(|(p, _)| !p.contains('/'))
        .map(|(_, c)| c.classifier.clone())
        .unwrap_or_default();

    // Rules 2-4 over each changed file.
    for c in &input.changed {
        let name = base_name(&c.path);
        if c.path == IGNORE_FILE {
            continue;
        }
        let is_env = env_paths.contains(c.path.as_str());
        let added = AddedLines::new(c, input.whole_files);
        let lines = Lines { text: &c.new };
        let mut stray_env = false;
        if !is_env && name.starts_with(".env") && name != ".envault.yml" && name != ".envrc" {
            if let Ok(doc) = Document::parse_bytes(&c.new) {
                stray_env = true;
                for entry in doc.entries() {
                    let (k, v) = (entry.key(), entry.value());
                    if is_sealed(entry.raw_value())
                        || detect::is_placeholder(v)
                        || !default_classifier.is_secret(k, &[v])
                    {
                        continue;
                    }
                    let lwv = entry_line_without_value(&doc, k);
                    s.report(
                        &c.path,
                        entry.line(),
                        Rule::EnvFileSecret,
                        Some(k),
                        Some(v),
                        &lwv,
                        format!("{k} holds a secret in {}, which no .envault.yml manages", c.path),
                        "add the file to .envault.yml as an environment (then `envault encrypt`), or leave the value empty as in a .env.example",
                    );
                }
            }
        }
        if let Some(ac) = &known_ac {
            for m in ac.find_iter(&c.new) {
                let i = m.pattern().as_usize();
                if holders[i].contains(&c.path) {
                    continue;
                }
                let line_span = lines.span(m.start());
                if !added.contains(&c.new[line_span.clone()]) {
                    continue;
                }
                let line_text = String::from_utf8_lossy(&c.new[line_span.clone()]).into_owned();
                let without = remove_span(
                    &line_text,
                    m.start() - line_span.start,
                    m.end() - line_span.start,
                );
                let held_by: Vec<&str> = {
                    let mut v: Vec<&str> = holders[i].iter().map(String::as_str).collect();
                    v.sort();
                    v
                };
                s.report(
                    &c.path,
                    lines.number(m.start()),
                    Rule::KnownSecret,
                    None,
                    Some(&known[i]),
                    &without,
                    format!("a secret value of {} appears here", held_by.join(", ")),
                    "remove the value (read it from the environment at run time: `envault run`), then rotate it with `envault rotate` if it was ever pushed",
                );
            }
        }
        // Token formats are looked for in every file, env files included (there the secret-name
        // rules above already judged each key, so only formats are added, once per line).
        {
            let env_like = is_env || stray_env;
            for hit in detect::credentials(&c.new, &default_classifier) {
                if env_like && hit.key.is_some() {
                    continue;
                }
                let line_span = lines.span(hit.span.start);
                if !added.contains(&c.new[line_span.clone()]) {
                    continue;
                }
                let line_no = lines.number(hit.span.start);
                if env_like
                    && s.findings
                        .iter()
                        .any(|f| f.path == c.path && f.line == line_no)
                {
                    continue;
                }
                let line_text = String::from_utf8_lossy(&c.new[line_span.clone()]).into_owned();
                let end = hit.span.end.min(line_span.end);
                let without = remove_span(
                    &line_text,
                    hit.span.start - line_span.start,
                    end - line_span.start,
                );
                let value = String::from_utf8_lossy(&c.new[hit.span.start..end]).into_owned();
                s.report(
                    &c.path,
                    lines.number(hit.span.start),
                    hit.rule,
                    hit.key.as_deref(),
                    Some(&value),
                    &without,
                    format!("{} in a committed file", hit.what),
                    "move it into an encrypted environment and read it at run time; revoke it at its issuer if it was ever pushed",
                );
            }
        }
    }

    // Replaced data keys.
    if input.check_data_keys {
        // Where each environment's file was declared before a config change (an env pointed
        // at another file is the same environment: its key is compared all the same).
        let mut declared_before: HashMap<(usize, &str), String> = HashMap::new();
        for (ci, (cp, _)) in s.configs.iter().enumerate() {
            let Some(old) = changed.get(cp.as_str()).and_then(|c| c.old.as_ref()) else {
                continue;
            };
            let Ok(old) = Config::parse(&String::from_utf8_lossy(old), Path::new(cp)) else {
                continue;
            };
            for e in &envs {
                if let (true, Some(o)) = (e.config == ci, old.environments.get(&e.env)) {
                    declared_before.insert((ci, e.env.as_str()), normalize(&o.file));
                }
            }
        }
        for e in &envs {
            let before = declared_before
                .get(&(e.config, e.env.as_str()))
                .unwrap_or(&e.declared);
            if !env_changed(e) && *before == e.declared {
                continue;
            }
            // The older state of the same environment, through its link then.
            let old = input.source.old_file(&input.source.resolve_old(before));
            let (Some(old), Some(new)) = (old, &e.doc) else {
                continue;
            };
            let Ok(old) = Document::parse_bytes(&old) else {
                continue;
            };
            let (ho, hn) = (header_of(&old), header_of(new));
            if let (Ok(Some(_)), Ok(None)) = (&ho, &hn) {
                let path = e.path.clone();
                s.report(
                    &path,
                    1,
                    Rule::DataKeyReplaced,
                    None,
                    None,
                    "#envault: removed",
                    format!(
                        "the encryption header of `{}` was removed: the file is no longer encrypted, and the next header anyone writes starts a new data key",
                        e.env
                    ),
                    "restore the header from the previous commit; to stop encrypting an environment on purpose, mark it `encrypted: false` in the config",
                );
            }
            if let (Ok(Some(ho)), Ok(Some(hn))) = (ho, hn) {
                let added = hn.recipients_added_since(&ho);
                let key_replaced = hn.key_replaced_since(&ho);
                // Back to version 1: its recipient lines are no longer bound to the key.
                let downgraded = hn.version < ho.version;
                if downgraded {
                    let path = e.path.clone();
                    s.report(
                        &path,
                        1,
                        Rule::DataKeyReplaced,
                        None,
                        None,
                        &format!("{HEADER_PREFIX}v{}", hn.version),
                        format!(
                            "the header of `{}` was downgraded to format version {}, whose recipient lines nothing authenticates",
                            e.env, hn.version
                        ),
                        "restore the header from the previous commit; envault itself never writes an older version",
                    );
                }
                if !added.is_empty() && !key_replaced {
                    let path = e.path.clone();
                    s.report(
                        &path,
                        1,
                        Rule::RecipientsChanged,
                        None,
                        None,
                        &format!("{HEADER_PREFIX}recipient {}", added.join(" ")),
                        format!(
                            "`{}` gains a recipient in its header: {}",
                            e.env,
                            added.join(", ")
                        ),
                        "check that a key holder ran `envault recipients add` for someone you expect; a recipient line anyone else writes is refused by every reader",
                    );
                }
                if key_replaced {
                    let id = crate::crypt::file_id_text(&hn);
                    let path = e.path.clone();
                    s.report(
                        &path,
                        1,
                        Rule::DataKeyReplaced,
                        None,
                        None,
                        &format!(
                            "{HEADER_PREFIX}id={id} commit={}",
                            hn.commitment_text().unwrap_or_default()
                        ),
                        format!(
                            "the data key of `{}` was replaced (file id {id}{}): anyone who knows the public recipients can write a whole new file",
                            e.env,
                            hn.commitment_text()
                                .map(|c| format!(", commitment {c}"))
                                .unwrap_or_default()
                        ),
                        "check that this commit is a `envault recipients remove` (or a re-encryption) you expect",
                    );
                }
            }
        }
    }

    // Allow-lists.
    let ignore = new_of(IGNORE_FILE)
        .map(|b| parse_ignore(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let mut allowances = added_allowances(input);
    let mut findings = std::mem::take(&mut s.findings);
    // Each file is parsed once for the marker check, however many findings it has.
    let mut parsed: HashMap<String, Option<Document>> = HashMap::new();
    findings.retain(|f| {
        if !f.rule.allowable() {
            return true;
        }
        let mut marked = || {
            new_of(&f.path).is_some_and(|t| {
                // In an env file the marker counts in the entry's comment, never inside its
                // value (a value that mentions it must not allow itself, nor a later one).
                let entry_text = f.key.as_deref().and_then(|k| {
                    let doc = parsed
                        .entry(f.path.clone())
                        .or_insert_with(|| Document::parse_bytes(&t).ok())
                        .as_ref()?;
                    let e = doc.entry(k)?;
                    Some(e.raw().replacen(e.raw_value(), "", 1))
                });
                match entry_text {
                    Some(text) => text.contains(ALLOW_MARKER),
                    None => line_at(&t, f.line).is_some_and(|l| {
                        memchr::memmem::find(l, ALLOW_MARKER.as_bytes()).is_some()
                    }),
                }
            })
        };
        let by = if ignore.contains(&f.fingerprint) {
            allowances
                .iter_mut()
                .find(|a| a.fingerprint.as_deref() == Some(&f.fingerprint))
        } else if marked() {
            allowances
                .iter_mut()
                .find(|a| a.fingerprint.is_none() && a.path == f.path && a.line == f.line)
        } else {
            return true;
        };
        if let Some(a) = by {
            a.silences
                .push(format!("{} at {}:{}", f.rule, f.path, f.line));
        }
        false
    });
    findings.extend(allowances.into_iter().map(Allowance::finding));
    findings.sort_by(|a, b| (&a.path, a.line, a.rule.id()).cmp(&(&b.path, b.line, b.rule.id())));
    findings.dedup_by(|a, b| {
        a.path == b.path
            && a.line == b.line
            && a.key == b.key
            && a.redacted == b.redacted
            && a.warning == b.warning
    });
    Ok(findings)
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
            Some(fp) => format!("`{IGNORE_FILE}` gains the allow-list entry {fp}"),
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
            rule: Rule::ConfigWeakened,
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
        let added = AddedLines::new(c, false);
        for (i, line) in c.new.split(|b| *b == b'\n').enumerate() {
            if !added.contains(line) {
                continue;
            }
            let fingerprint = if c.path == IGNORE_FILE {
                match parse_ignore(&String::from_utf8_lossy(line))
                    .into_iter()
                    .next()
                {
                    Some(fp) => Some(fp),
                    None => continue,
                }
            } else if memchr::memmem::find(line, ALLOW_MARKER.as_bytes()).is_some() {
                None
            } else {
                continue;
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

/// Findings for a staged config change that weakens protection.
fn weakened(s: &mut Scanner, ci: usize, cp: &str, old: &Config, new_text: &str, envs: &[EnvFile]) {
    let line_of = |needle: &str| {
        new_text
            .lines()
            .position(|l| l.contains(needle))
            .map_or(1, |i| i + 1)
    };
    let line_text = |n: usize| new_text.lines().nth(n - 1).unwrap_or("").to_owned();
    let fix = "if this is intended, allow it: add the fingerprint to .envaultignore (or an `envault:allow` comment on the line)";
    let new = s.configs[ci].1.clone();
    let mut out: Vec<(usize, String)> = Vec::new();
    // Environments are compared by file, not by name: renaming `prod` or pointing an
    // `encrypted: false` environment at `.env.prod` moves the same file to less protection.
    let file_of = |e: &crate::config::Environment| normalize(&e.file);
    // A value is a secret if either version of the config says so (a change that declares
    // it public is itself what is judged here), or it has a provider's token format.
    let secret = |k: &str, v: &str| {
        old.classifier.is_secret(k, &[v])
            || new.classifier.is_secret(k, &[v])
            || detect::provider_token(v).is_some()
    };
    let holds_secrets = |file: &str| {
        envs.iter().any(|e| {
            e.config == ci
                && e.path == file
                && e.doc.as_ref().is_some_and(|d| {
                    d.entries().any(|en| {
                        !en.value().is_empty()
                            && !is_sealed(en.raw_value())
                            && secret(en.key(), en.value())
                    })
                })
        })
    };
    for o in old.environments.values() {
        let file = file_of(o);
        let still = new
            .environments
            .values()
            .filter(|n| file_of(n) == file)
            .any(|n| n.encrypted == Some(true));
        if o.encrypted == Some(true) && !still {
            let name = &o.name;
            out.push((
                line_of(name),
                format!("`{name}` ({file}) is no longer marked `encrypted: true`"),
            ));
        }
    }
    for n in new.environments.values() {
        let file = file_of(n);
        let was_false = old
            .environments
            .values()
            .any(|o| file_of(o) == file && o.encrypted == Some(false));
        if n.encrypted == Some(false) && !was_false && holds_secrets(&file) {
            let name = &n.name;
            out.push((
                line_of(name),
                format!("`{name}` is marked `encrypted: false` but its file {file} holds secrets"),
            ));
        }
    }
    // `public_keys` widened or `secret_keys` narrowed over keys that hold secrets.
    let mut made_public: Vec<String> = envs
        .iter()
        .filter(|e| e.config == ci)
        .filter_map(|e| e.doc.as_ref())
        .flat_map(|d| d.entries())
        .filter(|en| !en.value().is_empty() && !is_sealed(en.raw_value()))
        .filter(|en| {
            old.classifier.is_secret(en.key(), &[en.value()])
                && !new.classifier.is_secret(en.key(), &[en.value()])
        })
        .map(|en| en.key().to_owned())
        .collect();
    made_public.sort();
    made_public.dedup();
    for k in made_public {
        let line = if new_text.contains("public_keys") {
            line_of("public_keys")
        } else {
            line_of("secret_keys")
        };
        out.push((
            line,
            format!("the change to `public_keys` / `secret_keys` makes the secret {k} public (unmasked, not required to be encrypted)"),
        ));
    }
    let secret_keys_matching = |globs: &crate::glob::GlobSet| -> Vec<String> {
        let mut keys: Vec<String> = envs
            .iter()
            .filter(|e| e.config == ci)
            .filter_map(|e| e.doc.as_ref())
            .flat_map(|d| d.entries())
            .filter(|en| globs.matches(en.key()) && new.classifier.is_secret(en.key(), &[]))
            .map(|en| en.key().to_owned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let before: HashSet<String> = secret_keys_matching(&old.plaintext_keys)
        .into_iter()
        .collect();
    for k in secret_keys_matching(&new.plaintext_keys) {
        if !before.contains(&k) {
            out.push((
                line_of("plaintext_keys"),
                format!("`plaintext_keys` now leaves the secret {k} in clear"),
            ));
        }
    }
    let all_recipients = |c: &Config| -> HashSet<String> {
        c.recipients
            .iter()
            .chain(c.environments.values().flat_map(|e| e.recipients.iter()))
            .cloned()
            .collect()
    };
    let had = all_recipients(old);
    let mut added: Vec<String> = all_recipients(&new)
        .into_iter()
        .filter(|r| !had.contains(r))
        .collect();
    added.sort();
    for r in added {
        let short: String = r.chars().take(16).collect();
        out.push((
            line_of(&r),
            format!("a recipient was added ({short}…): review who gets access"),
        ));
    }
    for (line, msg) in out {
        let lt = line_text(line);
        s.report(
            cp,
            line,
            Rule::ConfigWeakened,
            None,
            None,
            &format!("{lt}\0{msg}"),
            msg,
            fix,
        );
    }
}

#[cfg(test)]
mod tests;
