//! `envault scan`: block plaintext secrets before they are committed (`--staged`, what the
//! pre-commit hook runs), in the working tree (`PATH…`) and in commit ranges (`--range`, for CI).

use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::json;

use super::{emit, hinted, warn, Ctx, ExitStatus};
use crate::audit::{self, Located};
use crate::crypt::Identities;
use crate::git::Repo;
use crate::output;
use crate::rule::Rule;
use crate::scan::{Finding, IGNORE_FILE};

/// Find plaintext secrets: in what is staged (--staged), in commits (--range A..B), or in
/// working-tree files (PATH…, default the whole repository).
///
/// Rules: plaintext values in configured environments (unless `encrypted: false` or
/// `plaintext_keys`) and config changes that weaken protection; secrets in .env* files no
/// .envault.yml manages; known secret values (of your environments) anywhere else; and, in
/// added lines of every file, the catalogue's credential families (cloud, code hosting, CI,
/// payment, AI, messaging and secret-store tokens, private keys, URLs with passwords; see
/// --rules) and random values under secret names. Exit 1 when something is found.
///
/// Allow a finding with an `envault:allow` comment on its line, or by adding its fingerprint
/// to .envaultignore (fingerprints never depend on the secret).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault scan --staged                      what the pre-commit hook runs\n  envault scan --range origin/main..HEAD     every commit of a pull request, in CI\n  envault scan --range origin/main..HEAD --format github\n  envault scan src/ config/                  files of the working tree\n  envault scan --baseline                    adopt the scan: list today's findings in .envault-baseline\n  envault scan --rules                       every rule and credential family"
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
    /// Report only findings not in this baseline (default: .envault-baseline at the root,
    /// which every scan honours when it is committed); a baseline that does not exist yet is
    /// written with the current findings, so a repository adopts the scan without fixing its
    /// past first. Entries a change adds to it are reported for review.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    baseline: Option<Option<PathBuf>>,
    /// Write the baseline afresh with the current findings (after fixing some of them).
    #[arg(long, requires = "baseline")]
    update_baseline: bool,
    /// Print the rules and the catalogue of credential families (what each catches and what
    /// it leaves alone), then exit.
    #[arg(long, conflicts_with_all = ["paths", "staged", "range"])]
    rules: bool,
    /// Output format: text for people, github for pull-request annotations, sarif for code
    /// scanning, json for scripts.
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

/// The baseline's path from the root: `--baseline FILE` (from the current folder; it must be
/// inside the repository, where it is committed and reviewed), else the default.
fn baseline_file(ctx: &Ctx, args: &Args, root: &std::path::Path) -> anyhow::Result<String> {
    let Some(Some(given)) = &args.baseline else {
        return Ok(audit::scans::DEFAULT_BASELINE.to_owned());
    };
    let abs = crate::confine::absolute_lexical(&ctx.cwd.join(given));
    let root = crate::confine::absolute_lexical(root);
    match abs.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => Ok(rel.to_string_lossy().into_owned()),
        _ => Err(hinted(
            format!(
                "the baseline {} is outside {}",
                given.display(),
                root.display()
            ),
            "keep the baseline in the repository, where it is committed and reviewed",
        )),
    }
}

/// `scan --rules`: every rule, then every credential family.
fn print_rules(format: ScanFormat) -> anyhow::Result<ExitStatus> {
    use crate::catalogue::FAMILIES;
    if format == ScanFormat::Json {
        let mut rules: Vec<serde_json::Value> = Rule::CONSISTENCY_AND_SECRETS
            .iter()
            .map(|r| {
                json!({"id": r.id(), "kind": "rule", "description": r.describe(), "fix": r.fix(), "allowable": r.allowable()})
            })
            .collect();
        rules.extend(FAMILIES.iter().map(|f| {
            json!({
                "id": f.id, "kind": "credential", "provider": f.provider, "description": f.what,
                "public": f.public, "checksum": f.checksum.is_some(), "catches": f.catches,
                "leaves": f.leaves, "doc": f.doc,
            })
        }));
        emit(&format!("{}\n", serde_json::to_string_pretty(&rules)?))?;
        return Ok(ExitStatus::Clean);
    }
    let mut out = String::from("Rules:\n");
    let width = Rule::CONSISTENCY_AND_SECRETS
        .iter()
        .map(|r| r.id().len())
        .chain(FAMILIES.iter().map(|f| f.id.len()))
        .max()
        .unwrap_or(0);
    for r in Rule::CONSISTENCY_AND_SECRETS {
        out.push_str(&format!("  {:width$}  {}\n", r.id(), r.describe()));
    }
    out.push_str(&format!(
        "\nCredential families ({}; found in every file, whatever the key's name):\n",
        FAMILIES.len()
    ));
    for f in FAMILIES {
        let note = match (f.public, f.checksum.is_some()) {
            (true, _) => " [public by design: never reported]",
            (false, true) => " [checksum checked when present: a valid one is marked, a failed one still reported]",
            _ => "",
        };
        out.push_str(&format!(
            "  {:width$}  {} ({}){note}\n",
            f.id, f.what, f.provider
        ));
        out.push_str(&format!("  {:width$}    catches: {}\n", "", f.catches));
        out.push_str(&format!("  {:width$}    leaves:  {}\n", "", f.leaves));
    }
    emit(&out)?;
    Ok(ExitStatus::Clean)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    if args.rules {
        return print_rules(args.format);
    }
    // The user's identities recognise their encrypted values; without them (warned about)
    // those are not searched for.
    let none;
    let ids = match super::crypt::keys(ctx).identities() {
        Ok(ids) => ids,
        Err(e) => {
            warn(&format!(
                "{}; known encrypted values are not searched for",
                crate::error::chain(&e)
            ));
            none = Identities::empty();
            &none
        }
    };
    let repo = if args.staged {
        Some(Repo::from_env()?)
    } else if args.range.is_some() {
        Some(Repo::discover(&ctx.cwd)?)
    } else {
        None
    };
    let root = match &repo {
        Some(r) => r.root().to_owned(),
        None => audit::scans::worktree_root(&ctx.cwd),
    };
    let baseline = baseline_file(ctx, &args, &root)?;
    // A baseline is written, not used, when it is asked for and does not exist yet.
    let write_baseline =
        args.baseline.is_some() && (args.update_baseline || !root.join(&baseline).exists());
    let judge = (ids, (!write_baseline).then_some(baseline.as_str()));
    let scanned = match (&repo, &args.range) {
        (Some(repo), Some(range)) => {
            let bar = super::progress(0, "scanning commits");
            let scanned = audit::scans::range(repo, range, judge, &mut |n| {
                bar.set_length(n as u64);
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            scanned
        }
        (Some(repo), None) => {
            let index_file = crate::env_vars::GIT_INDEX_FILE
                .os()
                .map(|p| ctx.cwd.join(p));
            audit::scans::staged(repo, index_file.as_deref(), judge)?
        }
        (None, _) => audit::scans::worktree(&ctx.cwd, &args.paths, judge)?,
    };
    if write_baseline {
        let findings: Vec<Finding> = scanned.found.into_iter().map(|l| l.finding).collect();
        let (path, entries) = audit::scans::write_baseline(&root, &baseline, &findings)?;
        eprintln!(
            "envault scan: wrote {entries} baseline {} to {}; scans now report only findings not listed there (commit it)",
            if entries == 1 { "entry" } else { "entries" },
            ctx.display_path(&path)
        );
        return Ok(ExitStatus::Clean);
    }
    report(ctx, &args, &scanned.found, scanned.files, scanned.what)?;
    Ok(ExitStatus::found_if(
        !scanned.found.iter().all(|l| l.finding.warning),
    ))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The text report: each finding with its value (redacted), fix and allow-list entry, then a
/// summary on stderr.
fn report_text(
    ctx: &Ctx,
    args: &Args,
    found: &[Located],
    scanned: usize,
    what: &str,
) -> anyhow::Result<()> {
    let paint = ctx.paint(super::Format::Text);
    let mut out = String::new();
    for l in found {
        let f = &l.finding;
        // Paths and messages come from the repository: a control character in a file name
        // must not reach the terminal as such.
        let path = crate::output::one_line(&f.path);
        let place = match f.column {
            Some(c) => format!("{path}:{}:{c}", f.line),
            None => format!("{path}:{}", f.line),
        };
        let at = match &l.commit {
            Some(c) => format!("{c} {place}"),
            None => place,
        };
        let label = format!("warning: {}", f.rule);
        let rule = if f.warning {
            paint.yellow(&label)
        } else {
            paint.red(f.rule.id())
        };
        out.push_str(&format!(
            "{}: {rule}: {}\n",
            paint.bold(&at),
            crate::output::one_line(&f.message)
        ));
        if let Some(v) = &f.redacted {
            let family = match f.family {
                Some(fam) if !matches!(f.rule, Rule::Credential(_)) => {
                    format!(" ({})", fam.what)
                }
                _ => String::new(),
            };
            let checked = if f.checksum {
                ", checksum verified"
            } else {
                ""
            };
            out.push_str(&format!("    value: {v}{family}{checked}\n"));
        }
        out.push_str(&format!("    fix:   {}\n", crate::output::one_line(&f.fix)));
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
    Ok(())
}

fn report(
    ctx: &Ctx,
    args: &Args,
    found: &[Located],
    scanned: usize,
    what: &str,
) -> anyhow::Result<()> {
    match args.format {
        ScanFormat::Text => report_text(ctx, args, found, scanned, what)?,
        ScanFormat::Json => {
            let items: Vec<serde_json::Value> = found
                .iter()
                .map(|l| {
                    let f = &l.finding;
                    json!({
                        "commit": l.commit,
                        "path": f.path,
                        "line": f.line,
                        "column": f.column,
                        "rule": f.rule,
                        "family": f.family.map(|fam| fam.id),
                        "confidence": f.family.map(|_| if f.checksum { "checksum-verified" } else { "format" }),
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
                column: f.column,
                rule: f.rule,
                message: format!("{msg}. Fix: {}.{allow}", f.fix),
                fingerprint: Some(&f.fingerprint),
                warning: f.warning,
            }
        })
        .collect()
}
