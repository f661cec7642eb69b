//! `envault merge-driver`: git's merge driver for env files (`merge.envault.driver`).

use std::path::PathBuf;

use super::crypt::load_identities;
use super::{warn, Ctx, ExitStatus};
use crate::crypt::{Identities, HEADER_PREFIX};
use crate::dotenv::Document;
use crate::fsutil;
use crate::git::replay::{replays_in, sealed_values, Replay};
use crate::git::Repo;
use crate::merge::{self, Labels};

/// Merge env files key by key (git calls this; see `envault git install`).
///
/// Writes the result over OURS; exits 0 when clean, 1 with conflict markers around the
/// conflicting keys only. An unparseable side falls back to a plain line merge, with a warning;
/// ENVAULT_MERGE_DISABLE=1 forces that fallback.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  git config merge.envault.driver \"$(command -v envault) merge-driver %O %A %B %L %P %S %X %Y\"\n  echo '.env.* merge=envault' >> .gitattributes"
)]
pub struct Args {
    /// The common ancestor (%O).
    base: PathBuf,
    /// Our version (%A); the result is written here.
    ours: PathBuf,
    /// Their version (%B).
    theirs: PathBuf,
    /// Conflict marker length (%L).
    marker_len: Option<String>,
    /// The path being merged (%P).
    path: Option<String>,
    /// The ancestor's label (%S).
    base_label: Option<String>,
    /// Our label (%X).
    ours_label: Option<String>,
    /// Their label (%Y).
    theirs_label: Option<String>,
}

/// Whether raw file bytes start (after a byte-order mark) with an `#envault:` header line.
fn has_header(bytes: &[u8]) -> bool {
    bytes
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(bytes)
        .starts_with(HEADER_PREFIX.as_bytes())
}

/// A placeholder git older than 2.44 passes through unexpanded counts as absent.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref()
        .filter(|s| !(s.len() == 2 && s.starts_with('%')))
}

/// The environment whose file is `path` (from the repository root), when the config says.
fn env_of(ctx: &Ctx, path: Option<&str>) -> Option<String> {
    let config = ctx.load_config().ok()?;
    let real = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let target = real(&ctx.cwd.join(path?))?;
    config
        .environments
        .values()
        .find(|e| real(&e.file).as_ref() == Some(&target))
        .map(|e| e.name.clone())
}

/// Sealed values the merge would bring in that this repository's history (from `HEAD`) had
/// replaced: an old value pasted back on the other side. Without the path or a repository
/// there is no history to judge by.
fn replays(
    ctx: &Ctx,
    path: Option<&str>,
    ours: &[u8],
    merged: &str,
) -> anyhow::Result<Vec<Replay>> {
    let (Some(path), Ok(repo)) = (path, Repo::discover(&ctx.cwd)) else {
        return Ok(Vec::new());
    };
    let ours = sealed_values(ours);
    let mut incoming = sealed_values(merged.as_bytes());
    incoming.retain(|k, (v, _)| ours.get(k).is_none_or(|(o, _)| o != v));
    if incoming.is_empty() {
        return Ok(Vec::new());
    }
    let retired = repo.retired_values("HEAD", &[path.to_owned()])?;
    Ok(replays_in(path, &incoming, &retired, |_| true))
}

/// What became of a merge before anything is written.
enum Outcome {
    /// The merged text and the keys left in conflict.
    Merged(Vec<u8>, Vec<String>),
    /// The driver refused (reported on stderr): ours stays as it was and git records a
    /// conflict.
    Refused,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let read = |p: &PathBuf| std::fs::read(ctx.cwd.join(p));
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let marker_len = given(&args.marker_len)
        .and_then(|l| l.parse().ok())
        .unwrap_or(7usize);
    let labels = Labels {
        ours: given(&args.ours_label).unwrap_or("ours"),
        theirs: given(&args.theirs_label).unwrap_or("theirs"),
        marker_len,
    };
    let path = given(&args.path).unwrap_or("the env file");
    let disabled = crate::env_vars::ENVAULT_MERGE_DISABLE.is("1");
    let parsed = (
        Document::parse_bytes(&base),
        Document::parse_bytes(&ours),
        Document::parse_bytes(&theirs),
    );
    let outcome = match parsed {
        (Ok(b), Ok(o), Ok(t)) if !disabled => {
            // A damaged header counts as encrypted: the encrypted merge then refuses it.
            let encrypted = |d: &Document| crate::crypt::header_of(d).map_or(true, |h| h.is_some());
            if encrypted(&o) || encrypted(&t) {
                merge_sealed(ctx, &args, [&b, &o, &t], &ours, labels)?
            } else {
                let m = merge::merge(&b, &o, &t, labels);
                Outcome::Merged(m.text.into_bytes(), m.conflicts)
            }
        }
        _ if [&base, &ours, &theirs].iter().any(|b| has_header(b)) => {
            // A line merge would merge `#envault:` header lines as text, and anyone can make a
            // side unparseable to get one: an encrypted file is never line-merged.
            eprintln!(
                "envault merge: {path}: cannot merge: a side is encrypted and {}",
                if disabled {
                    "ENVAULT_MERGE_DISABLE asks for a line merge, which could merge its header as text"
                } else {
                    "another is not a valid env file"
                }
            );
            eprintln!(
                "hint: resolve it with `git checkout --ours/--theirs -- {path}` and `envault edit`"
            );
            Outcome::Refused
        }
        _ => {
            if !disabled {
                warn(&format!(
                    "{path}: a side is not a valid env file; falling back to a line merge"
                ));
            }
            let (text, clean) = crate::git::line_merge(
                [&base, &ours, &theirs],
                [
                    Some(labels.ours),
                    Some(labels.theirs),
                    given(&args.base_label),
                ],
                labels.marker_len,
            )?;
            Outcome::Merged(
                text,
                if clean {
                    Vec::new()
                } else {
                    vec!["(lines)".to_owned()]
                },
            )
        }
    };
    let Outcome::Merged(text, conflicts) = outcome else {
        return Ok(ExitStatus::Found);
    };
    let target = ctx.cwd.join(&args.ours);
    let (snap, _) = fsutil::read(&target)?;
    fsutil::write_atomic(&snap, &text)?;
    if conflicts.is_empty() {
        Ok(ExitStatus::Clean)
    } else {
        eprintln!(
            "envault merge: {path}: conflicts in {}",
            conflicts.join(", ")
        );
        Ok(ExitStatus::Found)
    }
}

/// The merge of sides of which one is encrypted: refused when it would bring back a sealed
/// value history replaced, or when it needs a decision only a key holder can make.
fn merge_sealed(
    ctx: &Ctx,
    args: &Args,
    [b, o, t]: [&Document; 3],
    ours: &[u8],
    labels: Labels,
) -> anyhow::Result<Outcome> {
    let path = given(&args.path).unwrap_or("the env file");
    let ids = load_identities(ctx).unwrap_or_else(|e| {
        warn(&format!("{e:#}"));
        Identities::empty()
    });
    match merge::merge_encrypted(b, o, t, labels, &ids) {
        Ok(m) => {
            let brought_back = replays(ctx, given(&args.path), ours, &m.text)?;
            if brought_back.is_empty() {
                return Ok(Outcome::Merged(m.text.into_bytes(), m.conflicts));
            }
            for r in &brought_back {
                eprintln!("envault merge: {path}: {}", r.message());
            }
            eprintln!(
                "hint: {}; then resolve it with `git checkout --ours -- {path}` \
                 and redo the other side's changes with `envault set`",
                brought_back[0].fix(env_of(ctx, given(&args.path)).as_deref())
            );
        }
        Err(why) => {
            eprintln!("envault merge: {path}: cannot merge: {why}");
            if matches!(why, merge::NeedsDecision::Header(_)) {
                eprintln!(
                    "hint: review who changed the header (`git log -p -- {path}`); keep \
                     one side with `git checkout --ours/--theirs -- {path}`, redo the \
                     other side's value changes with `envault set`, and grant access \
                     only with `envault recipients add`"
                );
            } else {
                eprintln!(
                    "hint: make an identity available (ENVAULT_IDENTITY, or `envault keygen`) \
                     and run `git checkout -m -- {path}` to merge again, or resolve it \
                     with `git checkout --ours/--theirs -- {path}` and `envault edit`"
                );
            }
        }
    }
    Ok(Outcome::Refused)
}
