//! `envault scan`: block plaintext secrets before they are committed (`--staged`, what the
//! pre-commit hook runs), in the working tree (`PATH…`) and in commit ranges (`--range`, for CI).

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::json;

use super::crypt::load_identities;
use super::{emit, hinted, warn, Ctx, ExitStatus};
use crate::audit::{self, GitSource, WorkTree};
use crate::config::is_config_path;
use crate::crypt::Identities;
use crate::git::replay::{Replay, Retired};
use crate::git::{Files, Repo};
use crate::output;
use crate::rule::Rule;
use crate::scan::{self, Changed, Finding, Input, Source, IGNORE_FILE};

/// Find plaintext secrets: in what is staged (--staged), in commits (--range A..B), or in
/// working-tree files (PATH…, default the whole repository).
///
/// Rules: plaintext values in configured environments (unless `encrypted: false` or
/// `plaintext_keys`) and config changes that weaken protection; secrets in .env* files no
/// .envault.yml manages; known secret values (of your environments) anywhere else; and
/// credential formats (AWS, PEM keys, GitHub, GitLab, Slack, Stripe, Google, random values
/// under secret names) in added lines. Exit 1 when something is found.
///
/// Allow a finding with an `envault:allow` comment on its line, or by adding its fingerprint
/// to .envaultignore (fingerprints never depend on the secret).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault scan --staged                      what the pre-commit hook runs\n  envault scan --range origin/main..HEAD     every commit of a pull request, in CI\n  envault scan --range origin/main..HEAD --format github\n  envault scan src/ config/                  files of the working tree"
)]
pub struct Args {
    /// Working-tree files or folders to scan (default: the whole repository).
    #[arg(conflicts_with_all = ["staged", "range"])]
    paths: Vec<PathBuf>,
    /// Scan the index being committed (honours GIT_INDEX_FILE).
    #[arg(long)]
    staged: bool,
    /// Scan each commit of a range such as origin/main..HEAD.
    #[arg(long, value_name = "A..B", conflicts_with = "staged")]
    range: Option<String>,
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    format: ScanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ScanFormat {
    Text,
    Json,
    Sarif,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
}

/// A finding and the commit it was found in (ranges).
struct Located {
    commit: Option<String>,
    finding: Finding,
}

fn identities(ctx: &Ctx) -> Identities {
    load_identities(ctx).unwrap_or_else(|e| {
        warn(&format!(
            "{e:#}; known encrypted values are not searched for"
        ));
        Identities::empty()
    })
}

/// The base and the end of a range `A..B` (`HEAD` for a side left out).
fn range_ends(range: &str) -> (&str, &str) {
    let (a, b) = range.split_once("..").unwrap_or((range, ""));
    let a = a.trim_end_matches('.');
    let b = b.trim_start_matches('.');
    (
        if a.is_empty() { "HEAD" } else { a },
        if b.is_empty() { "HEAD" } else { b },
    )
}

/// Old sealed values brought back, commit by commit (`replayed-value`): judged against the
/// history of the range's end, for the environment files its configs declare.
struct Replays<'r> {
    base: &'r str,
    files: Vec<(String, String)>,
    paths: Vec<String>,
    retired: Retired,
    seen: std::collections::HashSet<(String, String, String)>,
}

impl<'r> Replays<'r> {
    fn new(repo: &Repo, base: &'r str, tip: &str) -> anyhow::Result<Replays<'r>> {
        // The env files the configs declare at both ends (a range may rename one).
        let mut files = Vec::new();
        for end in [tip, base] {
            let state = repo.tree_files(end)?;
            let configs: Vec<String> = state
                .files
                .keys()
                .filter(|p| is_config_path(p))
                .cloned()
                .collect();
            let source = GitSource {
                repo,
                new: &state,
                old: &Files::default(),
            };
            for f in scan::configured_env_files(&configs, &source) {
                if !files.iter().any(|(p, _)| *p == f.0) {
                    files.push(f);
                }
            }
        }
        let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        // Values retired on the branch the range is to be merged into count too: a value
        // copied from there into an older branch is as old there.
        let retired = repo.retired_values_of(&[base, tip], &paths)?;
        Ok(Replays {
            base,
            files,
            paths,
            retired,
            seen: Default::default(),
        })
    }

    /// The findings of one commit; a value brought back is reported once, where it came in.
    fn in_commit(&mut self, repo: &Repo, commit: &str) -> anyhow::Result<Vec<Finding>> {
        let mut out = Vec::new();
        for r in repo.replays_in_commit(commit, &self.paths, &self.retired, Some(self.base))? {
            if !self
                .seen
                .insert((r.path.clone(), r.key.clone(), r.value.clone()))
            {
                continue;
            }
            let env = self
                .files
                .iter()
                .find(|(p, _)| *p == r.path)
                .map(|(_, e)| e.as_str());
            out.push(replay_finding(&r, env));
        }
        Ok(out)
    }
}

/// The header findings between a range's ends (its fork point and its tip) that no single
/// commit showed: a key replaced in steps (the header removed in one commit, a new one written
/// in the next) shows only there.
fn between_ends(
    repo: &Repo,
    base: &str,
    tip: &str,
    ids: &Identities,
    seen: &[Located],
) -> anyhow::Result<Vec<Located>> {
    let Some(fork) = repo.merge_base(base, tip)? else {
        return Ok(Vec::new());
    };
    let new = repo.tree_files(tip)?;
    let old = repo.tree_files(&fork)?;
    let (found, _) = audit::scan_between(repo, (&new, &old), true, ids)?;
    Ok(found
        .into_iter()
        .filter(|f| matches!(f.rule, Rule::DataKeyReplaced | Rule::RecipientsChanged))
        .filter(|f| {
            !seen
                .iter()
                .any(|l| l.finding.path == f.path && l.finding.rule == f.rule)
        })
        .map(|finding| Located {
            commit: Some(format!("{}..{tip}", &fork[..7])),
            finding,
        })
        .collect())
}

/// A replayed value as a scan finding.
pub(crate) fn replay_finding(r: &Replay, env: Option<&str>) -> Finding {
    Finding {
        path: r.path.clone(),
        line: r.line,
        rule: Rule::ReplayedValue,
        key: Some(r.key.clone()),
        redacted: None,
        message: r.message(),
        fix: r.fix(env),
        fingerprint: scan::fingerprint(&r.path, "replayed-value", &format!("{}=", r.key)),
        warning: false,
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let ids = identities(ctx);
    let (located, scanned, what) = if args.staged {
        scan_staged(ctx, &ids)?
    } else if let Some(range) = &args.range {
        scan_range(ctx, range, &ids)?
    } else {
        scan_worktree(ctx, &args.paths, &ids)?
    };
    report(ctx, &args, &located, scanned, what)?;
    Ok(ExitStatus::found_if(
        !located.iter().all(|l| l.finding.warning),
    ))
}

/// What is staged, against HEAD (the pre-commit hook).
fn scan_staged(ctx: &Ctx, ids: &Identities) -> anyhow::Result<(Vec<Located>, usize, &'static str)> {
    let repo = Repo::from_env()?;
    let index_file = crate::env_vars::GIT_INDEX_FILE
        .os()
        .map(|p| ctx.cwd.join(p));
    let new = repo.index_files(index_file.as_deref())?;
    let old = repo.tree_files("HEAD")?;
    let (f, n) = audit::scan_between(&repo, (&new, &old), false, ids)?;
    let located = f
        .into_iter()
        .map(|finding| Located {
            commit: None,
            finding,
        })
        .collect();
    Ok((located, n, "staged file"))
}

/// Every commit of a range, against its parent; then the range's ends against each other.
fn scan_range(
    ctx: &Ctx,
    range: &str,
    ids: &Identities,
) -> anyhow::Result<(Vec<Located>, usize, &'static str)> {
    let repo = Repo::discover(&ctx.cwd)?;
    if !range.contains("..") {
        return Err(hinted(
            format!("`{range}` is not a range"),
            "give two revisions, e.g. `--range origin/main..HEAD`",
        ));
    }
    let mut located = Vec::new();
    let mut scanned = 0;
    let commits = repo.range(range)?;
    let (base, tip) = range_ends(range);
    let mut replays = Replays::new(&repo, base, tip)?;
    let bar = super::progress(commits.len() as u64, "scanning commits");
    for c in commits {
        bar.inc(1);
        let new = repo.tree_files(&c.id)?;
        let old = match &c.parent {
            Some(p) => repo.tree_files(p)?,
            None => Files::default(),
        };
        let (f, n) = audit::scan_between(&repo, (&new, &old), true, ids)?;
        scanned += n;
        located.extend(
            f.into_iter()
                .chain(replays.in_commit(&repo, &c.id)?)
                .map(|finding| Located {
                    commit: Some(c.short.clone()),
                    finding,
                }),
        );
    }
    bar.finish_and_clear();
    located.extend(between_ends(&repo, base, tip, ids, &located)?);
    Ok((located, scanned, "changed file"))
}

/// Files of the working tree (every file, or those under `paths`).
fn scan_worktree(
    ctx: &Ctx,
    paths: &[PathBuf],
    ids: &Identities,
) -> anyhow::Result<(Vec<Located>, usize, &'static str)> {
    let (root, files) = match Repo::discover(&ctx.cwd) {
        Ok(repo) => (repo.root().to_owned(), repo.worktree_files()?),
        Err(_) => {
            let root = ctx.cwd.clone();
            let files = audit::walk_files(&root);
            (root, files)
        }
    };
    let wanted: Vec<String> = paths
        .iter()
        .map(|p| {
            let abs = ctx.cwd.join(p);
            let abs = abs.canonicalize().unwrap_or(abs);
            abs.strip_prefix(&root)
                .map(|r| r.to_string_lossy().into_owned())
                .map_err(|_| {
                    hinted(
                        format!("{} is outside {}", p.display(), root.display()),
                        "scan paths inside the repository",
                    )
                })
        })
        .collect::<anyhow::Result<_>>()?;
    let under = |f: &str| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|w| w.is_empty() || f == w || f.starts_with(&format!("{w}/")))
    };
    let source = WorkTree { root: root.clone() };
    let mut changed = Vec::new();
    for f in files.iter().filter(|f| under(f)) {
        if let Some(new) = source.new_file(f) {
            changed.push(Changed {
                path: f.clone(),
                new,
                old: None,
            });
        }
    }
    let n = changed.len();
    let configs = files
        .iter()
        .filter(|f| is_config_path(f))
        .cloned()
        .collect();
    let found = scan::scan(&Input {
        changed,
        configs,
        source: &source,
        identities: ids,
        whole_files: true,
        check_data_keys: false,
    })?;
    let located = found
        .into_iter()
        .map(|finding| Located {
            commit: None,
            finding,
        })
        .collect();
    Ok((located, n, "file"))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn report(
    ctx: &Ctx,
    args: &Args,
    found: &[Located],
    scanned: usize,
    what: &str,
) -> anyhow::Result<()> {
    match args.format {
        ScanFormat::Text => {
            let paint = ctx.paint(super::Format::Text);
            let mut out = String::new();
            for l in found {
                let f = &l.finding;
                let at = match &l.commit {
                    Some(c) => format!("{c} {}:{}", f.path, f.line),
                    None => format!("{}:{}", f.path, f.line),
                };
                let label = format!("warning: {}", f.rule);
                let rule = if f.warning {
                    paint.yellow(&label)
                } else {
                    paint.red(f.rule.id())
                };
                out.push_str(&format!("{}: {rule}: {}\n", paint.bold(&at), f.message));
                if let Some(v) = &f.redacted {
                    out.push_str(&format!("    value: {v}\n"));
                }
                out.push_str(&format!("    fix:   {}\n", f.fix));
                if f.rule.allowable() && !f.warning {
                    out.push_str(&format!(
                        "    allow: add `{}` to {IGNORE_FILE}, or an `envault:allow` comment on the line\n",
                        f.fingerprint
                    ));
                }
            }
            emit(&out)?;
            let errors = found.iter().filter(|l| !l.finding.warning).count();
            let warnings = found.len() - errors;
            if !found.is_empty() {
                let files: std::collections::HashSet<&str> =
                    found.iter().map(|l| l.finding.path.as_str()).collect();
                eprintln!(
                    "envault scan: {}{} in {} ({} scanned)",
                    plural(errors, "finding"),
                    if warnings > 0 {
                        format!(" and {}", plural(warnings, "warning"))
                    } else {
                        String::new()
                    },
                    plural(files.len(), "file"),
                    plural(scanned, what)
                );
                if args.staged && errors > 0 {
                    eprintln!("envault scan: commit blocked; fix the findings above (bypass once: git commit --no-verify)");
                }
            } else if std::io::stderr().is_terminal() {
                eprintln!(
                    "envault scan: no secrets found ({} scanned)",
                    plural(scanned, what)
                );
            }
        }
        ScanFormat::Json => {
            let items: Vec<serde_json::Value> = found
                .iter()
                .map(|l| {
                    let f = &l.finding;
                    json!({
                        "commit": l.commit,
                        "path": f.path,
                        "line": f.line,
                        "rule": f.rule,
                        "key": f.key,
                        "value": f.redacted,
                        "message": f.message,
                        "fix": f.fix,
                        "fingerprint": f.fingerprint,
                        "level": if f.warning { "warning" } else { "error" },
                    })
                })
                .collect();
            let doc = json!({"findings": items, "scanned": scanned});
            emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
        }
        ScanFormat::Sarif => {
            let log = output::sarif(&annotations(found));
            emit(&(serde_json::to_string_pretty(&log)? + "\n"))?
        }
        ScanFormat::Github => emit(&output::github_annotations("envault", &annotations(found)))?,
    }
    Ok(())
}

/// Findings as CI annotations: the message carries the commit, the redacted value, the fix
/// and how to allow it.
fn annotations(found: &[Located]) -> Vec<output::Annotation<'_>> {
    found
        .iter()
        .map(|l| {
            let f = &l.finding;
            let mut msg = f.message.clone();
            if let Some(c) = &l.commit {
                msg = format!("{msg} (commit {c})");
            }
            if let Some(v) = &f.redacted {
                msg = format!("{msg}; value {v}");
            }
            let allow = if f.rule.allowable() {
                format!(" Allow: add {} to {IGNORE_FILE}", f.fingerprint)
            } else {
                String::new()
            };
            output::Annotation {
                path: &f.path,
                line: f.line,
                rule: f.rule,
                message: format!("{msg}. Fix: {}.{allow}", f.fix),
                fingerprint: Some(&f.fingerprint),
                warning: f.warning,
            }
        })
        .collect()
}
