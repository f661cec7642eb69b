//! `envault check`: the consistency problems of one configuration's environments: keys missing
//! from some environments, duplicate keys, files that do not parse, empty values of keys set
//! elsewhere, and recipients out of date. (Plaintext secrets come from `scan`, store drift from
//! the stores; the command puts them together.)

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::crypt::header_of;
use crate::dotenv::{Document, ParseError};
use crate::rule::Rule;

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the caller names it.
    pub path: String,
    pub line: usize,
    pub rule: Rule,
    pub key: Option<String>,
    pub message: String,
    pub fix: String,
}

/// One environment as read: its name, its file as users read it, and the parsed document or
/// why it did not parse.
pub struct EnvRead<'a> {
    pub name: &'a str,
    pub path: String,
    pub doc: Result<Document, ParseError>,
}

/// `store-drift`: the keys that differ between an environment's file and its store. When
/// the file's sealed values could not be opened (`opened` false), they are compared as keys
/// only.
pub fn store_drift(
    (env, path, doc): (&str, &str, &Document),
    (store, store_doc): (&str, &Document),
    opened: bool,
) -> Vec<Problem> {
    let mut d = crate::diff::diff_documents(doc, store_doc);
    if !opened {
        d.set_aside(|a, _| crate::crypt::is_sealed(a));
    }
    let fix = format!(
        "see it with `envault diff {env} store:{store}`; bring them together with `envault store pull {env}` or `envault store push {env}`"
    );
    let problem = |key: &str, message: String| Problem {
        path: path.to_owned(),
        line: doc.entry(key).map_or(1, |e| e.line()),
        rule: Rule::StoreDrift,
        key: Some(key.to_owned()),
        message,
        fix: fix.clone(),
    };
    let mut out = Vec::new();
    for o in &d.only_in_source {
        out.push(problem(
            o.key,
            format!("{} is in {env} but not in store '{store}'", o.key),
        ));
    }
    for o in &d.only_in_target {
        out.push(problem(
            o.key,
            format!("{} is in store '{store}' but not in {env}", o.key),
        ));
    }
    for c in &d.changed {
        out.push(problem(
            c.key,
            format!("{} differs between {env} and store '{store}'", c.key),
        ));
    }
    out
}

/// Which environments hold each key, and with what value.
type Holders<'a> = BTreeMap<&'a str, Vec<(&'a str, &'a str)>>;

/// Every problem of `config`'s environments.
pub fn check(config: &Config, envs: &[EnvRead]) -> Vec<Problem> {
    let mut out = Vec::new();
    let parsed: Vec<(&EnvRead, &Document)> = envs
        .iter()
        .filter_map(|e| e.doc.as_ref().ok().map(|d| (e, d)))
        .collect();
    for e in envs {
        if let Err(pe) = &e.doc {
            out.push(Problem {
                path: e.path.clone(),
                line: pe.line,
                rule: Rule::ParseError,
                key: None,
                message: format!(
                    "{} does not parse: {} (column {})",
                    e.path, pe.kind, pe.column
                ),
                fix: pe.kind.hint().to_owned(),
            });
        }
    }
    let mut holders: Holders = BTreeMap::new();
    for (e, d) in &parsed {
        for entry in d.entries() {
            holders
                .entry(entry.key())
                .or_default()
                .push((e.name, entry.value()));
        }
    }
    for (e, d) in &parsed {
        missing_keys(config, &holders, e, d, &mut out);
        duplicate_keys(e, d, &mut out);
        empty_values(&holders, e, d, &mut out);
        headers(config, e, d, &mut out);
        // An app that names another reader does not expand as dotenvy does.
        let dialect = config.environments.get(e.name).and_then(|x| x.dialect);
        if matches!(dialect, None | Some(crate::dotenv::Dialect::Dotenvy)) {
            dotenvy_expansion(e, d, &mut out);
        }
        opaque_lines(e, d, &mut out);
        other_readings(e, d, &mut out);
    }
    out.sort_by(|a, b| {
        (&a.path, a.line, a.rule.id(), &a.key).cmp(&(&b.path, b.line, b.rule.id(), &b.key))
    });
    out
}

/// `reader-disagreement` (a warning): values whose `$` references an app reading the file
/// with dotenvy expands differently from `envault run`, shells and node's dotenv-expand
/// (`$DB_USER` is `$DB` then `_USER` in dotenvy). Found by expanding each value both ways with
/// every name standing for itself, so no value is read or shown.
fn dotenvy_expansion(e: &EnvRead, d: &Document, out: &mut Vec<Problem>) {
    use crate::dotenv::expand::{expand_raw, Style};
    let symbol = |name: &str| Some(format!("\u{0}{name}\u{0}"));
    for entry in d.entries() {
        let raw = entry.raw_value();
        if !raw.contains('$') || crate::crypt::is_sealed(raw) {
            continue;
        }
        if expand_raw(raw, &symbol, Style::Shell) == expand_raw(raw, &symbol, Style::Dotenvy) {
            continue;
        }
        let example = underscored_reference(raw).map_or_else(
            || {
                " (a `$` that starts no name is dropped there, and `${NAME:-default}` is not read)"
                    .to_owned()
            },
            |name| {
                let cut = name
                    .find(|c: char| !c.is_alphanumeric())
                    .unwrap_or(name.len());
                format!(
                    " (`${name}` is `${}` followed by `{}` there)",
                    &name[..cut],
                    &name[cut..]
                )
            },
        );
        out.push(Problem {
            path: e.path.clone(),
            line: entry.line(),
            rule: Rule::ReaderDisagreement,
            key: Some(entry.key().to_owned()),
            message: format!(
                "{} expands differently in an app that reads {} with dotenvy{example}; envault run, shells and node's dotenv-expand read whole names",
                entry.key(),
                e.path
            ),
            fix: "write references with braces (`${DB_USER}`) and a literal dollar as `\\$`, which every reader reads alike".to_owned(),
        });
    }
}

/// The first key another reader reads on a line, if a warning may name it (not one that
/// looks like a token).
fn named_key(readings: &[(crate::dotenv::Peer, crate::dotenv::Reading)]) -> Option<String> {
    readings
        .iter()
        .find_map(|(_, r)| r.as_ref())
        .and_then(crate::dotenv::shown_reading_key)
        .map(str::to_owned)
}

/// `reader-disagreement` (a warning): lines dotenvy refuses that other readers read, kept as
/// they are and left out of every comparison.
fn opaque_lines(e: &EnvRead, d: &Document, out: &mut Vec<Problem>) {
    for o in d.opaque_lines() {
        let key = named_key(&o.readings());
        out.push(Problem {
            path: e.path.clone(),
            line: o.line,
            rule: Rule::ReaderDisagreement,
            key,
            message: format!("line {} of {}: {}", o.line, e.path, o.describe()),
            fix: "write it so that every reader reads it alike: quote a value with spaces (KEY=\"a b\"), give a bare key `=`, turn `//` into `#`, and in double quotes escape a backslash as `\\\\`".to_owned(),
        });
    }
}

/// `reader-disagreement` (a warning): entries that node's dotenv or python-dotenv reads
/// differently from dotenvy, so that the app sees something other than envault shows.
fn other_readings(e: &EnvRead, d: &Document, out: &mut Vec<Problem>) {
    for dis in d.disagreements() {
        out.push(Problem {
            path: e.path.clone(),
            line: dis.line,
            rule: Rule::ReaderDisagreement,
            key: crate::dotenv::shown_key(&dis.key).map(str::to_owned),
            message: format!("{} (in {})", dis.describe(), e.path),
            fix: "quote the value so that every reader reads it alike (`envault set` writes such a quoting when one exists)".to_owned(),
        });
    }
    // Inner lines of a value are the Ruby gem's reading only: named where it is the reader
    // (the hook judges them for every file).
    let ruby = d.dialect() == Some(crate::dotenv::Dialect::Ruby);
    for h in d
        .hidden_readings()
        .into_iter()
        .filter(|h| h.within.is_none() || ruby)
    {
        let key = named_key(&h.readings);
        out.push(Problem {
            path: e.path.clone(),
            line: h.line,
            rule: Rule::ReaderDisagreement,
            key,
            message: format!("line {} of {}: {}", h.line, e.path, h.describe()),
            fix: "end lines with a line feed only, and keep `KEY=value` lines out of quoted values and comments".to_owned(),
        });
    }
}

/// The first `$NAME` of `raw` whose name holds a character that ends a dotenvy name (`_`).
fn underscored_reference(raw: &str) -> Option<&str> {
    raw.match_indices('$').find_map(|(i, _)| {
        let rest = &raw[i + 1..];
        let n = rest
            .char_indices()
            .find(|(j, c)| {
                !(c.is_ascii_alphanumeric() || *c == '_') || (*j == 0 && c.is_ascii_digit())
            })
            .map_or(rest.len(), |(j, _)| j);
        let name = &rest[..n];
        (name.contains('_') && name.starts_with(|c: char| c.is_ascii_alphanumeric()))
            .then_some(name)
    })
}

/// `missing-key`: keys other environments hold and this one lacks.
fn missing_keys(
    config: &Config,
    holders: &Holders,
    e: &EnvRead,
    d: &Document,
    out: &mut Vec<Problem>,
) {
    let only_of = |name: &str| config.environments.get(name).map(|e| &e.only);
    let have: BTreeSet<&str> = d.entries().map(|x| x.key()).collect();
    for (key, hs) in holders {
        if have.contains(key) || config.optional_keys.matches(key) {
            continue;
        }
        // Keys every holder declares its own (`only:`) are not expected elsewhere.
        if hs
            .iter()
            .all(|(h, _)| only_of(h).is_some_and(|o| o.matches(key)))
        {
            continue;
        }
        let mut names: Vec<&str> = hs.iter().map(|(h, _)| *h).collect();
        names.dedup();
        out.push(Problem {
            path: e.path.clone(),
            line: 1,
            rule: Rule::MissingKey,
            key: Some((*key).to_owned()),
            message: format!("{key} is missing from {} (present in {})", e.name, names.join(", ")),
            fix: format!(
                "add it (`envault sync {} {} --dry-run` shows how), or list it under optional_keys: or the others' only:",
                names[0], e.name
            ),
        });
    }
}

/// `duplicate-key`: a key defined more than once in one file.
fn duplicate_keys(e: &EnvRead, d: &Document, out: &mut Vec<Problem>) {
    for dup in d.duplicates() {
        let lines: Vec<String> = dup.lines.iter().map(usize::to_string).collect();
        out.push(Problem {
            path: e.path.clone(),
            line: *dup.lines.last().unwrap_or(&1),
            rule: Rule::DuplicateKey,
            key: Some(dup.key.clone()),
            message: format!(
                "{} is defined {} times in {} (lines {}); the last one wins",
                dup.key,
                dup.lines.len(),
                e.path,
                lines.join(", ")
            ),
            fix: "keep one definition".into(),
        });
    }
}

/// `empty-value`: empty here, set elsewhere.
fn empty_values(holders: &Holders, e: &EnvRead, d: &Document, out: &mut Vec<Problem>) {
    for entry in d.entries() {
        let k = entry.key();
        if !entry.value().is_empty() {
            continue;
        }
        let set_in: Vec<&str> = holders[k]
            .iter()
            .filter(|(h, v)| *h != e.name && !v.is_empty())
            .map(|(h, _)| *h)
            .collect();
        if !set_in.is_empty() {
            out.push(Problem {
                path: e.path.clone(),
                line: entry.line(),
                rule: Rule::EmptyValue,
                key: Some(k.to_owned()),
                message: format!(
                    "{k} is empty in {} but set in {}",
                    e.name,
                    set_in.join(", ")
                ),
                fix: format!("give it a value in {}, or remove the line", e.path),
            });
        }
    }
}

/// `damaged-header`, and the recipients: who the config says may open the file, against who
/// the header lets (`recipient-cannot-open`, `recipient-not-listed`).
fn headers(config: &Config, e: &EnvRead, d: &Document, out: &mut Vec<Problem>) {
    let h = match header_of(d) {
        Err(err) => {
            out.push(Problem {
                path: e.path.clone(),
                line: err.line().unwrap_or(1),
                rule: Rule::DamagedHeader,
                key: None,
                message: format!("{}: {err}; envault refuses to read or write it", e.path),
                fix: format!(
                    "restore the header from a commit you trust (`git log -p -- {}`)",
                    e.path
                ),
            });
            return;
        }
        Ok(None) => return,
        Ok(Some(h)) => h,
    };
    let Some(env) = config.environments.get(e.name) else {
        return;
    };
    let want = config.recipients_of(env);
    let line_of = |r: &str| {
        d.leading_lines(crate::crypt::HEADER_PREFIX)
            .iter()
            .position(|l| l.contains(r))
            .map_or(1, |i| i + 1)
    };
    for r in want.iter().filter(|r| !h.recipients.contains(r)) {
        out.push(Problem {
            path: e.path.clone(),
            line: 1,
            rule: Rule::RecipientCannotOpen,
            key: None,
            message: format!(
                "{r} is a recipient in .envault.yml but cannot open {}'s data key",
                e.path
            ),
            fix: format!(
                "grant it explicitly: envault recipients add --env {} {r}",
                e.name
            ),
        });
    }
    for r in h.recipients.iter().filter(|r| !want.contains(r)) {
        out.push(Problem {
            path: e.path.clone(),
            line: line_of(r),
            rule: Rule::RecipientNotListed,
            key: None,
            message: format!(
                "the header of {} names {r} as a reader, but .envault.yml does not declare it",
                e.path
            ),
            fix: format!(
                "see who added it (`git log -p -- {}`); if that was not a key holder's `recipients add`, take it away: envault recipients remove --env {} {r} (a new data key); if it was, declare it under recipients:",
                e.path, e.name
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(config: &str, files: &[(&str, &str)]) -> Vec<(String, &'static str, Option<String>)> {
        let cfg = Config::parse(config, Path::new(".envault.yml")).unwrap();
        let envs: Vec<EnvRead> = files
            .iter()
            .map(|(name, text)| EnvRead {
                name,
                path: format!(".env.{name}"),
                doc: Document::parse(text),
            })
            .collect();
        check(&cfg, &envs)
            .into_iter()
            .map(|p| (p.path, p.rule.id(), p.key))
            .collect()
    }

    #[test]
    fn missing_keys_with_optional_and_only_exceptions() {
        let cfg = "environments:\n  dev: {file: .env.dev, only: [DEBUG_*]}\n  prod: .env.prod\noptional_keys: [SENTRY_*]\n";
        let got = run(
            cfg,
            &[
                ("dev", "A=1\nDEBUG_SQL=1\nSENTRY_DSN=x\nFEATURE=on\n"),
                ("prod", "A=2\n"),
            ],
        );
        assert_eq!(
            got,
            [(
                ".env.prod".to_owned(),
                "missing-key",
                Some("FEATURE".to_owned())
            )]
        );
    }

    #[test]
    fn duplicates_empty_values_and_parse_errors() {
        let cfg = "environments:\n  dev: .env.dev\n  prod: .env.prod\n";
        let got = run(cfg, &[("dev", "A=1\nB=\nA=2\n"), ("prod", "A=1\nB=set\n")]);
        assert_eq!(
            got,
            [
                (".env.dev".to_owned(), "empty-value", Some("B".to_owned())),
                (".env.dev".to_owned(), "duplicate-key", Some("A".to_owned())),
            ]
        );
        let got = run(cfg, &[("dev", "A=1\n"), ("prod", "A='open\n")]);
        assert_eq!(got, [(".env.prod".to_owned(), "parse-error", None)]);
    }
}
