//! The scan's rules, one function each, over a shared [`State`]: what the scanned change
//! holds (its configs and their environments' files) and the [`Findings`] they report.

use super::*;
use crate::classify::Classifier;
use rayon::prelude::*;

/// One finding as a rule reports it.
struct Report<'a> {
    path: &'a str,
    line: usize,
    rule: Rule,
    key: Option<&'a str>,
    /// The secret (only its redacted form is kept).
    value: Option<&'a str>,
    /// The line with the value removed: with the path and the rule, the allow-list fingerprint.
    bare_line: &'a str,
    message: String,
    fix: &'a str,
}

/// The findings the rules reported so far.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn report(&mut self, r: Report) {
        self.0.push(Finding {
            path: r.path.to_owned(),
            line: r.line,
            column: None,
            rule: r.rule,
            family: match r.rule {
                Rule::Credential(f) => Some(f),
                _ => None,
            },
            checksum: false,
            key: r.key.map(str::to_owned),
            redacted: r.value.map(redact),
            message: r.message,
            fix: r.fix.to_owned(),
            fingerprint: fingerprint(r.path, r.rule.id(), r.bare_line),
            warning: false,
        });
    }

    /// The finding reported last, to complete what its rule knows beyond a [`Report`].
    fn last(&mut self) -> &mut Finding {
        self.0.last_mut().expect("a finding was reported")
    }

    /// Whether a finding is already reported on this line.
    fn on_line(&self, path: &str, line: usize) -> bool {
        self.0.iter().any(|f| f.path == path && f.line == line)
    }
}

/// What the scanned change holds, read once for every rule.
struct State<'i> {
    input: &'i Input<'i>,
    changed: HashMap<&'i str, &'i Changed>,
    /// Every `.envault.yml` of the scanned state, parsed.
    configs: Vec<(String, Config)>,
    /// Their environments' files.
    envs: Vec<EnvFile>,
}

impl<'i> State<'i> {
    /// A file of the scanned state: borrowed when it is one of the changed files.
    fn new_of(&self, path: &str) -> Option<Cow<'i, [u8]>> {
        match self.changed.get(path) {
            Some(c) => Some(Cow::Borrowed(&c.new[..])),
            None => self.input.source.new_file(path).map(Cow::Owned),
        }
    }

    /// An env file counts as changed when the file with its values or the link to it did.
    fn env_changed(&self, e: &EnvFile) -> bool {
        self.changed.contains_key(e.path.as_str()) || self.changed.contains_key(e.declared.as_str())
    }

    /// An env file is judged when it or its config changed (every file in a working-tree
    /// scan).
    fn relevant(&self, e: &EnvFile) -> bool {
        self.input.whole_files
            || self.env_changed(e)
            || self.changed.contains_key(self.configs[e.config].0.as_str())
    }

    /// The classifier for files outside every config: the root config's, else the default.
    fn default_classifier(&self) -> Classifier {
        self.configs
            .iter()
            .find(|(p, _)| !p.contains('/'))
            .map(|(_, c)| c.classifier.clone())
            .unwrap_or_default()
    }
}

pub(super) fn scan_text(input: &Input) -> Result<Vec<Finding>, ScanError> {
    let mut state = State {
        input,
        changed: input.changed.iter().map(|c| (c.path.as_str(), c)).collect(),
        configs: Vec::new(),
        envs: Vec::new(),
    };
    for cp in &input.configs {
        let Some(bytes) = state.new_of(cp) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let config = Config::parse(&text, Path::new(cp))?;
        state.configs.push((cp.clone(), config));
    }
    let unparsed = read_env_files(&mut state);
    let mut out = Findings::default();
    unparsed_env_files(&mut out, unparsed);
    damaged_headers(&state, &mut out);
    plaintext_in_environments(&state, &mut out);
    config_changes(&state, &mut out);
    let known = KnownSecrets::of(&state);
    let classifier = state.default_classifier();
    let envs: HashSet<&str> = state
        .envs
        .iter()
        .flat_map(|e| [e.path.as_str(), e.declared.as_str()])
        .collect();
    let files = FileRules {
        prior: &out,
        envs: &envs,
        whole_files: input.whole_files,
        known: &known,
        classifier: &classifier,
    };
    let allow_lists: Vec<&str> = input.allow_lists().collect();
    // Files are judged on their own, so a big commit is judged on every core.
    let per_file: Vec<Findings> = input
        .changed
        .par_iter()
        .with_min_len(16)
        .filter(|c| !allow_lists.contains(&c.path.as_str()))
        .map(|c| files.changed_file(c))
        .collect();
    for f in per_file {
        out.0.extend(f.0);
    }
    if input.check_data_keys {
        replaced_data_keys(&state, &mut out);
    }
    Ok(allow_listed(&state, out.0))
}

/// Reads the configured environments' files into `state.envs`; returns those that do not
/// parse.
fn read_env_files(state: &mut State) -> Vec<(String, ParseError)> {
    let mut unparsed = Vec::new();
    let mut envs = Vec::new();
    for (ci, (_, cfg)) in state.configs.iter().enumerate() {
        for env in cfg.environments.values() {
            let declared = normalize(&env.file);
            let path = state.input.source.resolve_new(&declared);
            let doc = match state.new_of(&path) {
                Some(bytes) => match Document::read(bytes.into_owned()) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        // It cannot be judged, so it cannot pass.
                        unparsed.push((path.clone(), e));
                        None
                    }
                },
                None => None,
            };
            let identities = state.input.identities;
            let plain = doc.as_ref().and_then(|d| {
                let h = header_of(d).ok()??;
                if identities.is_empty() {
                    return None;
                }
                let key = h.unwrap(identities).ok()?;
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
    state.envs = envs;
    unparsed
}

/// `env-parse-error`: a configured env file that does not parse cannot be judged, so it
/// cannot pass.
fn unparsed_env_files(out: &mut Findings, unparsed: Vec<(String, ParseError)>) {
    for (path, e) in unparsed {
        out.report(Report {
            path: &path,
            line: e.line,
            rule: Rule::EnvParseError,
            key: None,
            value: None,
            bare_line: &e.kind.to_string(),
            message: format!(
                "{path} does not parse ({}, column {}), so it cannot be checked for secrets",
                e.kind, e.column
            ),
            fix: e.kind.hint(),
        });
    }
}

/// `damaged-header`: a header that is missing, moved or broken (the file would read as
/// plaintext).
fn damaged_headers(state: &State, out: &mut Findings) {
    for e in &state.envs {
        let Some(Err(err)) = e.doc.as_ref().filter(|_| state.relevant(e)).map(header_of) else {
            continue;
        };
        out.report(Report {
            path: &e.path,
            line: err.line().unwrap_or(1),
            rule: Rule::DamagedHeader,
            key: None,
            value: None,
            bare_line: "#envault:",
            message: format!("{}: {err}; envault refuses to read or write it", e.path),
            fix: "restore the header from a commit you trust (`git log -p -- <file>`): a header moved or broken by someone without the key would make the file read as plaintext",
        });
    }
}

/// `plaintext-secret` and `unencrypted-value`: values in clear in configured environments.
fn plaintext_in_environments(state: &State, out: &mut Findings) {
    for e in &state.envs {
        let (cp, cfg) = &state.configs[e.config];
        let Some(doc) = &e.doc else { continue };
        if !state.relevant(e) || e.encrypted == Some(false) {
            continue;
        }
        let fix = format!(
            "run `envault encrypt {}`; if these are dummy values, mark the environment `encrypted: false` in {cp}",
            e.env
        );
        let values = judged_values(doc);
        for (k, v, line, bare) in &values {
            let (k, v) = (k.as_str(), v.as_str());
            if v.is_empty() || cfg.plaintext_keys.matches(k) {
                continue;
            }
            let (rule, message) = if e.encrypted == Some(true) {
                (
                    Rule::UnencryptedValue,
                    format!(
                        "{k} is in clear in `{}`, which is marked `encrypted: true`",
                        e.env
                    ),
                )
            } else if cfg.classifier.is_secret(k, &[v]) || detect::family_of(k, v).is_some() {
                // A provider's token format is a secret whatever the key's name.
                (
                    Rule::PlaintextSecret,
                    format!("{k} is a secret in clear in the `{}` environment", e.env),
                )
            } else {
                continue;
            };
            out.report(Report {
                path: &e.path,
                line: *line,
                rule,
                key: Some(k),
                value: Some(v),
                bare_line: bare,
                message,
                fix: &fix,
            });
            out.last().family = detect::family_of(k, v);
        }
    }
}

/// Every value the hook judges in an env file: (key, value, line, the line without its
/// value) for each entry not sealed, and every reading other readers give where they read
/// otherwise (a line dotenvy refuses still holds what an app reads).
fn judged_values(doc: &Document) -> Vec<(String, String, usize, String)> {
    let mut values: Vec<(String, String, usize, String)> = doc
        .entries()
        .filter(|entry| !is_sealed(entry.raw_value()))
        .map(|entry| {
            let k = entry.key();
            (
                k.to_owned(),
                entry.value().to_owned(),
                entry.line(),
                entry_line_without_value(doc, k),
            )
        })
        .collect();
    values.extend(opaque_readings(doc));
    values
}

/// What other readers read where they read otherwise than dotenvy: on the lines dotenvy
/// refuses, and on entries they read differently. (key, value, line, the line without its
/// value), each reading once: the hook judges a line under every reading an app may give it.
fn opaque_readings(doc: &Document) -> Vec<(String, String, usize, String)> {
    let mut out: Vec<(String, String, usize, String)> = Vec::new();
    let lines = doc
        .opaque_lines()
        .iter()
        .map(|o| (o.line, o.readings().to_vec()))
        .chain(doc.disagreements().into_iter().map(|d| (d.line, d.others)))
        .chain(
            doc.hidden_readings()
                .into_iter()
                .map(|h| (h.line, h.readings)),
        );
    for (line, readings) in lines {
        for (_, reading) in readings {
            let Some((k, Some(v))) = reading else {
                continue;
            };
            if !out
                .iter()
                .any(|(ok, ov, ol, _)| *ol == line && *ok == k && *ov == v)
            {
                out.push((k.clone(), v, line, format!("{k}=")));
            }
        }
    }
    out
}

/// `config-weakened`: changed configs that weaken protection, and new configs that take
/// over a folder.
fn config_changes(state: &State, out: &mut Findings) {
    for (ci, (cp, _)) in state.configs.iter().enumerate() {
        let Some(changed) = state.changed.get(cp.as_str()) else {
            continue;
        };
        let Some(old_bytes) = &changed.old else {
            new_config(state, out, ci);
            continue;
        };
        let Ok(old) = Config::parse(&String::from_utf8_lossy(old_bytes), Path::new(cp)) else {
            continue;
        };
        let new_text = String::from_utf8_lossy(&changed.new);
        let weakenings = Weakenings {
            state,
            ci,
            old: &old,
            new: &state.configs[ci].1,
            new_text: &new_text,
        };
        for (line, msg) in weakenings.all() {
            let lt = new_text.lines().nth(line - 1).unwrap_or("");
            out.report(Report {
                path: cp,
                line,
                rule: Rule::ConfigWeakened,
                key: None,
                value: None,
                bare_line: &format!("{lt}\0{msg}"),
                message: msg,
                fix: "if this is intended, allow it: add the fingerprint to .envaultignore (or an `envault:allow` comment on the line)",
            });
        }
    }
}

/// A new config beside existing ones takes over every command run below its folder
/// (`--env prod` there means its `prod`): someone who plants one with a key of their own gets
/// the values a maintainer writes there.
fn new_config(state: &State, out: &mut Findings, ci: usize) {
    let (cp, cfg) = &state.configs[ci];
    let existed_before = state.configs.iter().any(|(other, _)| {
        other != cp
            && state
                .changed
                .get(other.as_str())
                .is_none_or(|c| c.old.is_some())
    });
    if !existed_before {
        return;
    }
    let envs: Vec<&str> = cfg.environments.keys().map(String::as_str).collect();
    let dir = cp.rsplit_once('/').map_or(".", |(d, _)| d);
    let msg = format!(
        "a new {cp} takes over commands run below {dir}/: its environments ({}) and recipients apply there instead of the ones already configured",
        envs.join(", ")
    );
    out.report(Report {
        path: cp,
        line: 1,
        rule: Rule::ConfigWeakened,
        key: None,
        value: None,
        bare_line: &format!("new config\0{msg}"),
        message: msg,
        fix: "check that this configuration is meant to exist (a monorepo service); if so, allow it with an `envault:allow` comment on its first line",
    });
}

/// How one config's change weakens protection: each weakening with the line it is on.
struct Weakenings<'a> {
    state: &'a State<'a>,
    ci: usize,
    old: &'a Config,
    new: &'a Config,
    new_text: &'a str,
}

impl Weakenings<'_> {
    fn all(&self) -> Vec<(usize, String)> {
        let mut out = self.environments();
        out.extend(self.dialects());
        out.extend(self.made_public());
        out.extend(self.left_in_clear());
        out.extend(self.recipients_added());
        out
    }

    fn line_of(&self, needle: &str) -> usize {
        self.new_text
            .lines()
            .position(|l| l.contains(needle))
            .map_or(1, |i| i + 1)
    }

    /// The entries of this config's environments' files.
    fn entries(&self) -> impl Iterator<Item = &crate::dotenv::Entry> {
        self.state
            .envs
            .iter()
            .filter(|e| e.config == self.ci)
            .filter_map(|e| e.doc.as_ref())
            .flat_map(|d| d.entries())
    }

    /// A value is a secret if either version of the config says so (a change that declares
    /// it public is itself what is judged here), or it has a provider's token format.
    fn secret(&self, k: &str, v: &str) -> bool {
        self.old.classifier.is_secret(k, &[v])
            || self.new.classifier.is_secret(k, &[v])
            || detect::family_of(k, v).is_some()
    }

    fn holds_secrets(&self, file: &str) -> bool {
        self.state.envs.iter().any(|e| {
            e.config == self.ci
                && e.path == file
                && e.doc.as_ref().is_some_and(|d| {
                    d.entries().any(|en| {
                        !en.value().is_empty()
                            && !is_sealed(en.raw_value())
                            && self.secret(en.key(), en.value())
                    })
                })
        })
    }

    /// Environments are compared by file, not by name: renaming `prod` or pointing an
    /// `encrypted: false` environment at `.env.prod` moves the same file to less protection.
    fn environments(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let file_of = |e: &crate::config::Environment| normalize(&e.file);
        for o in self.old.environments.values() {
            let file = file_of(o);
            let still = self
                .new
                .environments
                .values()
                .filter(|n| file_of(n) == file)
                .any(|n| n.encrypted == Some(true));
            if o.encrypted == Some(true) && !still {
                let name = &o.name;
                out.push((
                    self.line_of(name),
                    format!("`{name}` ({file}) is no longer marked `encrypted: true`"),
                ));
            }
        }
        for n in self.new.environments.values() {
            let file = file_of(n);
            let was_false = self
                .old
                .environments
                .values()
                .any(|o| file_of(o) == file && o.encrypted == Some(false));
            if n.encrypted == Some(false) && !was_false && self.holds_secrets(&file) {
                let name = &n.name;
                out.push((
                    self.line_of(name),
                    format!(
                        "`{name}` is marked `encrypted: false` but its file {file} holds secrets"
                    ),
                ));
            }
        }
        out
    }

    /// A changed `dialect:` changes what every line of the file means, so a change could
    /// read a line as a value its app never sees, or the reverse: a reviewer must see it. (The
    /// hook itself judges every reader's reading, whatever the dialect.)
    fn dialects(&self) -> Vec<(usize, String)> {
        let file_of = |e: &crate::config::Environment| normalize(&e.file);
        let name = |d: Option<crate::dotenv::Dialect>| {
            d.map_or("dotenvy (the default)".to_owned(), |d| d.to_string())
        };
        let mut out = Vec::new();
        for n in self.new.environments.values() {
            let old = self
                .old
                .environments
                .values()
                .find(|o| file_of(o) == file_of(n));
            if let Some(o) = old.filter(|o| o.dialect != n.dialect) {
                out.push((
                    self.line_of("dialect"),
                    format!(
                        "`{}` ({}) is now read as {} instead of {}",
                        n.name,
                        file_of(n),
                        name(n.dialect),
                        name(o.dialect)
                    ),
                ));
            }
        }
        out
    }

    /// `public_keys` widened or `secret_keys` narrowed over keys that hold secrets.
    fn made_public(&self) -> Vec<(usize, String)> {
        let mut keys: Vec<String> = self
            .entries()
            .filter(|en| !en.value().is_empty() && !is_sealed(en.raw_value()))
            .filter(|en| {
                self.old.classifier.is_secret(en.key(), &[en.value()])
                    && !self.new.classifier.is_secret(en.key(), &[en.value()])
            })
            .map(|en| en.key().to_owned())
            .collect();
        keys.sort();
        keys.dedup();
        let line = if self.new_text.contains("public_keys") {
            self.line_of("public_keys")
        } else {
            self.line_of("secret_keys")
        };
        keys.into_iter()
            .map(|k| {
                (
                    line,
                    format!("the change to `public_keys` / `secret_keys` makes the secret {k} public (unmasked, not required to be encrypted)"),
                )
            })
            .collect()
    }

    /// `plaintext_keys` widened over secret keys.
    fn left_in_clear(&self) -> Vec<(usize, String)> {
        let secret_keys_matching = |globs: &crate::glob::GlobSet| -> Vec<String> {
            let mut keys: Vec<String> = self
                .entries()
                .filter(|en| {
                    globs.matches(en.key()) && self.new.classifier.is_secret(en.key(), &[])
                })
                .map(|en| en.key().to_owned())
                .collect();
            keys.sort();
            keys.dedup();
            keys
        };
        let before: HashSet<String> = secret_keys_matching(&self.old.plaintext_keys)
            .into_iter()
            .collect();
        secret_keys_matching(&self.new.plaintext_keys)
            .into_iter()
            .filter(|k| !before.contains(k))
            .map(|k| {
                (
                    self.line_of("plaintext_keys"),
                    format!("`plaintext_keys` now leaves the secret {k} in clear"),
                )
            })
            .collect()
    }

    fn recipients_added(&self) -> Vec<(usize, String)> {
        let all_recipients = |c: &Config| -> HashSet<String> {
            c.recipients
                .iter()
                .chain(c.environments.values().flat_map(|e| e.recipients.iter()))
                .cloned()
                .collect()
        };
        let had = all_recipients(self.old);
        let mut added: Vec<String> = all_recipients(self.new)
            .into_iter()
            .filter(|r| !had.contains(r))
            .collect();
        added.sort();
        added
            .into_iter()
            .map(|r| {
                let short: String = r.chars().take(16).collect();
                (
                    self.line_of(&r),
                    format!("a recipient was added ({short}…): review who gets access"),
                )
            })
            .collect()
    }
}

/// The secret values of the configured environments and the files that legitimately hold
/// each.
struct KnownSecrets {
    values: Vec<String>,
    holders: Vec<HashSet<String>>,
    search: Option<AhoCorasick>,
}

impl KnownSecrets {
    fn of(state: &State) -> KnownSecrets {
        let mut values: Vec<String> = Vec::new();
        let mut holders: Vec<HashSet<String>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for e in &state.envs {
            let cfg = &state.configs[e.config].1;
            let Some(doc) = e.plain.as_ref().or(e.doc.as_ref()) else {
                continue;
            };
            for entry in doc.entries() {
                let (k, v) = (entry.key(), entry.value());
                if v.len() < MIN_KNOWN_LEN
                    || is_sealed(v)
                    || detect::is_placeholder(v)
                    || !cfg.classifier.is_secret(k, &[v])
                {
                    continue;
                }
                let i = *index.entry(v.to_owned()).or_insert_with(|| {
                    values.push(v.to_owned());
                    holders.push(HashSet::new());
                    values.len() - 1
                });
                holders[i].insert(e.path.clone());
            }
        }
        let search = (!values.is_empty())
            .then(|| AhoCorasick::new(&values).expect("literal patterns build"));
        KnownSecrets {
            values,
            holders,
            search,
        }
    }
}

/// One changed file as the per-file rules read it.
struct FileScan<'a> {
    c: &'a Changed,
    added: AddedLines<'a>,
    lines: Lines<'a>,
}

impl FileScan<'_> {
    /// The line around `span` with the span removed, and whether that line is new.
    fn bare_line(&self, span: std::ops::Range<usize>) -> Option<String> {
        let line = self.lines.span(span.start);
        if !self.added.contains(&self.c.new[line.clone()]) {
            return None;
        }
        let text = String::from_utf8_lossy(&self.c.new[line.clone()]).into_owned();
        let end = span.end.min(line.end);
        Some(remove_span(
            &text,
            span.start - line.start,
            end - line.start,
        ))
    }
}

/// The rules over each changed file: secrets in `.env` files no config manages, known
/// secrets outside their environments, and credential formats.
/// What judges one changed file: read-only, shared by the threads that judge files.
struct FileRules<'a> {
    /// The findings of the rules that look at the whole change (credentials in env files are
    /// not reported again on a line these reported).
    prior: &'a Findings,
    /// The configured environments' files (as found and as declared).
    envs: &'a HashSet<&'a str>,
    whole_files: bool,
    known: &'a KnownSecrets,
    classifier: &'a Classifier,
}

impl FileRules<'_> {
    fn changed_file(&self, c: &Changed) -> Findings {
        let mut out = Findings::default();
        let f = FileScan {
            c,
            added: AddedLines::new(c, self.whole_files),
            lines: Lines { text: &c.new },
        };
        let is_env = self.envs.contains(c.path.as_str());
        let stray_env = !is_env && stray_env_file(&mut out, c, self.classifier);
        known_secrets(&mut out, &f, self.known);
        // A line an env rule already reported is not reported again for its format; two
        // credentials on one line are two findings (allowing one must not hide the other).
        let reported = |out: &Findings, line| {
            self.prior.on_line(&c.path, line)
                || out.0.iter().any(|f| {
                    f.path == c.path && f.line == line && !matches!(f.rule, Rule::Credential(_))
                })
        };
        credentials(&mut out, &f, is_env || stray_env, self.classifier, reported);
        out
    }
}

/// `env-file-secret`: a `.env` file that no config manages and that holds secrets. Returns
/// whether the file is such an env file.
fn stray_env_file(out: &mut Findings, c: &Changed, classifier: &Classifier) -> bool {
    let name = base_name(&c.path);
    if !name.starts_with(".env") || name == ".envault.yml" || name == ".envrc" {
        return false;
    }
    let Ok(doc) = Document::read(c.new.clone()) else {
        return false;
    };
    // Files of sample or test values (`.env.example`, `.env.test`): only what looks generated
    // or has a provider's form is a secret there, not `SECRET_KEY=dev`.
    let samples = ["example", "sample", "template", "dist", "test", "defaults"]
        .iter()
        .any(|w| name.to_ascii_lowercase().contains(w));
    let values = judged_values(&doc);
    // Inside single quotes `$` is a character for every reader, never a reference.
    let single_quoted: HashSet<usize> = doc
        .entries()
        .filter(|e| e.raw_value().starts_with('\''))
        .map(|e| e.line())
        .collect();
    for (k, v, line, bare) in &values {
        let (k, v) = (k.as_str(), v.as_str());
        let literal = single_quoted.contains(line)
            && v.strip_prefix('$')
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphanumeric()));
        let holds = if literal {
            holds_a_secret(&v[1..])
        } else {
            holds_a_secret(v)
        };
        if detect::is_placeholder(v) || !classifier.is_secret(k, &[v]) || !holds {
            continue;
        }
        // In a URL, the password is what may be random.
        let judged = crate::classify::url_password(v).map_or(v, |r| &v[r]);
        if samples && !detect::looks_random(judged) && detect::family_of(k, v).is_none() {
            continue;
        }
        out.report(Report {
            path: &c.path,
            line: *line,
            rule: Rule::EnvFileSecret,
            key: Some(k),
            value: Some(v),
            bare_line: bare,
            message: format!("{k} holds a secret in {}, which no .envault.yml manages", c.path),
            fix: "add the file to .envault.yml as an environment (then `envault encrypt`), or leave the value empty as in a .env.example",
        });
        out.last().family = detect::family_of(k, v);
    }
    true
}

/// Whether an env value can hold a secret at all: not a reference (`$API_KEY`, `op://…`,
/// `vault:…`), a boolean or a number, or a URL without a password.
fn holds_a_secret(v: &str) -> bool {
    let lower = v.trim().to_ascii_lowercase();
    if crate::catalogue::is_reference(v)
        || [
            "op://",
            "vault:",
            "secret://",
            "arn:aws:secretsmanager:",
            "arn:aws:ssm:",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
        || ["true", "false", "yes", "no", "on", "off", "null", "none"].contains(&lower.as_str())
        || lower.parse::<f64>().is_ok()
    {
        return false;
    }
    !(v.contains("://") && crate::classify::url_password(v).is_none())
}

/// `known-secret`: a secret value of a configured environment on a new line elsewhere.
fn known_secrets(out: &mut Findings, f: &FileScan, known: &KnownSecrets) {
    let Some(search) = &known.search else {
        return;
    };
    for m in search.find_iter(&f.c.new) {
        let i = m.pattern().as_usize();
        if known.holders[i].contains(&f.c.path) {
            continue;
        }
        let Some(bare) = f.bare_line(m.range()) else {
            continue;
        };
        let mut held_by: Vec<&str> = known.holders[i].iter().map(String::as_str).collect();
        held_by.sort();
        out.report(Report {
            path: &f.c.path,
            line: f.lines.number(m.start()),
            rule: Rule::KnownSecret,
            key: None,
            value: Some(&known.values[i]),
            bare_line: &bare,
            message: format!("a secret value of {} appears here", held_by.join(", ")),
            fix: "remove the value (read it from the environment at run time: `envault run`), then rotate it with `envault rotate` if it was ever pushed",
        });
    }
}

/// Credential formats, looked for in every file, env files included (there the secret-name
/// rules already judged each key, so only formats are added, once per line).
fn credentials(
    out: &mut Findings,
    f: &FileScan,
    env_like: bool,
    classifier: &Classifier,
    reported: impl Fn(&Findings, usize) -> bool,
) {
    // Bitnami's SealedSecret manifests hold ciphertext that only the cluster opens: made to
    // be committed, and random by design.
    let sealed_secrets = memchr::memmem::find(&f.c.new, b"kind: SealedSecret").is_some();
    for hit in detect::credentials(&f.c.new, classifier) {
        if env_like && hit.key.is_some() {
            continue;
        }
        if sealed_secrets && hit.rule == Rule::HighEntropySecret {
            continue;
        }
        let line = f.lines.number(hit.span.start);
        if env_like && reported(out, line) {
            continue;
        }
        let Some(bare) = f.bare_line(hit.span.clone()) else {
            continue;
        };
        let line_start = f.lines.span(hit.span.start).start;
        let end = hit.span.end.min(f.lines.span(hit.span.start).end);
        let value = String::from_utf8_lossy(&f.c.new[hit.span.start..end]);
        let fix = match hit.rule {
            Rule::Credential(family) if family.id == "age-secret-key" => "remove it: anyone who read it opens every file sealed to it; make a new identity (`envault keygen`), `envault recipients add` its key and `envault recipients remove` this one".to_owned(),
            Rule::Credential(family) => format!(
                "move it into an encrypted environment (`envault set`) or a store, and read it at run time; if it was ever pushed, revoke it at {} ({})",
                family.provider, family.doc
            ),
            _ => "move it into an encrypted environment (`envault set`) or a store, and read it at run time; rotate it if it was ever pushed".to_owned(),
        };
        out.report(Report {
            path: &f.c.path,
            line,
            rule: hit.rule,
            key: hit.key.as_deref(),
            value: Some(&value),
            bare_line: &bare,
            message: format!("{} in a committed file", hit.what),
            fix: &fix,
        });
        let reported = out.last();
        reported.column = Some(
            String::from_utf8_lossy(&f.c.new[line_start..hit.span.start])
                .chars()
                .count()
                + 1,
        );
        reported.checksum = hit.confidence == crate::catalogue::Confidence::Checksum;
    }
}

/// `data-key-replaced` and `recipients-changed`: each changed environment's header against
/// its older state.
fn replaced_data_keys(state: &State, out: &mut Findings) {
    let declared_before = declared_before(state);
    for e in &state.envs {
        let before = declared_before
            .get(&(e.config, e.env.as_str()))
            .unwrap_or(&e.declared);
        if !state.env_changed(e) && *before == e.declared {
            continue;
        }
        // The older state of the same environment, through its link then.
        let source = state.input.source;
        let old = source.old_file(&source.resolve_old(before));
        let (Some(old), Some(new)) = (old, &e.doc) else {
            continue;
        };
        let Ok(old) = Document::read(old) else {
            continue;
        };
        match (header_of(&old), header_of(new)) {
            (Ok(Some(_)), Ok(None)) => out.report(Report {
                path: &e.path,
                line: 1,
                rule: Rule::DataKeyReplaced,
                key: None,
                value: None,
                bare_line: "#envault: removed",
                message: format!(
                    "the encryption header of `{}` was removed: the file is no longer encrypted, and the next header anyone writes starts a new data key",
                    e.env
                ),
                fix: "restore the header from the previous commit; to stop encrypting an environment on purpose, mark it `encrypted: false` in the config",
            }),
            (Ok(Some(ho)), Ok(Some(hn))) => header_changes(out, e, &ho, &hn),
            _ => {}
        }
    }
}

/// Where each environment's file was declared before a config change (an env pointed at
/// another file is the same environment: its key is compared all the same).
fn declared_before<'s>(state: &'s State) -> HashMap<(usize, &'s str), String> {
    let mut out = HashMap::new();
    for (ci, (cp, _)) in state.configs.iter().enumerate() {
        let Some(old) = state.changed.get(cp.as_str()).and_then(|c| c.old.as_ref()) else {
            continue;
        };
        let Ok(old) = Config::parse(&String::from_utf8_lossy(old), Path::new(cp)) else {
            continue;
        };
        for e in &state.envs {
            if let (true, Some(o)) = (e.config == ci, old.environments.get(&e.env)) {
                out.insert((ci, e.env.as_str()), normalize(&o.file));
            }
        }
    }
    out
}

/// A header against its older version: downgraded, new recipients, a replaced key.
fn header_changes(
    out: &mut Findings,
    e: &EnvFile,
    ho: &crate::crypt::Header,
    hn: &crate::crypt::Header,
) {
    let added = hn.recipients_added_since(ho);
    let key_replaced = hn.key_replaced_since(ho);
    // Back to version 1: its recipient lines are no longer bound to the key.
    if hn.version < ho.version {
        out.report(Report {
            path: &e.path,
            line: 1,
            rule: Rule::DataKeyReplaced,
            key: None,
            value: None,
            bare_line: &format!("{HEADER_PREFIX}v{}", hn.version),
            message: format!(
                "the header of `{}` was downgraded to format version {}, whose recipient lines nothing authenticates",
                e.env, hn.version
            ),
            fix: "restore the header from the previous commit; envault itself never writes an older version",
        });
    }
    if !added.is_empty() && !key_replaced {
        out.report(Report {
            path: &e.path,
            line: 1,
            rule: Rule::RecipientsChanged,
            key: None,
            value: None,
            bare_line: &format!("{HEADER_PREFIX}recipient {}", added.join(" ")),
            message: format!(
                "`{}` gains a recipient in its header: {}",
                e.env,
                added.join(", ")
            ),
            fix: "check that a key holder ran `envault recipients add` for someone you expect; a recipient line anyone else writes is refused by every reader",
        });
    }
    if key_replaced {
        let id = crate::crypt::file_id_text(hn);
        let commitment = hn.commitment_text();
        out.report(Report {
            path: &e.path,
            line: 1,
            rule: Rule::DataKeyReplaced,
            key: None,
            value: None,
            bare_line: &format!(
                "{HEADER_PREFIX}id={id} commit={}",
                commitment.clone().unwrap_or_default()
            ),
            message: format!(
                "the data key of `{}` was replaced (file id {id}{}): anyone who knows the public recipients can write a whole new file",
                e.env,
                commitment.map(|c| format!(", commitment {c}")).unwrap_or_default()
            ),
            fix: "check that this commit is a `envault recipients remove` (or a re-encryption) you expect",
        });
    }
}

/// Drops the findings an allow-list silences (`.envaultignore` fingerprints, `envault:allow`
/// comments), adds a warning for each allowance the change itself adds, and sorts.
fn allow_listed(state: &State, mut findings: Vec<Finding>) -> Vec<Finding> {
    let ignore: HashSet<String> = state
        .input
        .allow_lists()
        .filter_map(|f| state.new_of(f))
        .flat_map(|b| parse_ignore(&String::from_utf8_lossy(&b)))
        .collect();
    let mut allowances = added_allowances(state.input);
    // Each file is parsed once for the marker check, however many findings it has.
    let mut parsed: HashMap<String, Option<Document>> = HashMap::new();
    findings.retain(|f| {
        if !f.rule.allowable() {
            return true;
        }
        let mut marked = || {
            state.new_of(&f.path).is_some_and(|t| {
                // In an env file the marker counts in the entry's comment, never inside its
                // value (a value that mentions it must not allow itself, nor a later one).
                let entry_text = f.key.as_deref().and_then(|k| {
                    let doc = parsed
                        .entry(f.path.clone())
                        .or_insert_with(|| Document::read(t.to_vec()).ok())
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
    findings
}
