//! `envault merge-driver`: git's merge driver for env files (`merge.envault.driver`).

use std::path::PathBuf;

use super::{Ctx, ExitStatus};
use crate::error::Hint as _;
use crate::merge::Labels;
use crate::workspace::{MergeFiles, MergeOutcome};

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

/// A placeholder git older than 2.44 passes through unexpanded counts as absent.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref()
        .filter(|s| !(s.len() == 2 && s.starts_with('%')))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let marker_len = given(&args.marker_len)
        .and_then(|l| l.parse().ok())
        .unwrap_or(7usize);
    let config = ctx.load_config().ok();
    let files = MergeFiles {
        base: &args.base,
        ours: &args.ours,
        theirs: &args.theirs,
        labels: Labels {
            ours: given(&args.ours_label).unwrap_or("ours"),
            theirs: given(&args.theirs_label).unwrap_or("theirs"),
            marker_len,
        },
        base_label: given(&args.base_label),
        path: given(&args.path),
        cwd: &ctx.cwd,
        config: config.as_ref(),
        line_merge_only: crate::env_vars::ENVAULT_MERGE_DISABLE.is("1"),
    };
    match super::crypt::keys(ctx).merge_files(&files)? {
        MergeOutcome::Clean => {
            warn_lines_left_out(&args.ours, given(&args.path));
            Ok(ExitStatus::Clean)
        }
        MergeOutcome::Conflicts(keys) => {
            eprintln!(
                "envault merge: {}: conflicts in {}",
                given(&args.path).unwrap_or("the env file"),
                keys.join(", ")
            );
            Ok(ExitStatus::Found)
        }
        MergeOutcome::Refused(refusal) => {
            for line in refusal.lines() {
                eprintln!("envault merge: {}: {line}", refusal.path());
            }
            if let Some(hint) = refusal.hint() {
                eprintln!("hint: {hint}");
            }
            Ok(ExitStatus::Found)
        }
    }
}

/// Warns about the lines of a clean merge that are not entries (a quote one side left open,
/// a line dotenvy refuses): git reports the merge clean, and the next command would warn
/// about them anyway. Values are masked.
fn warn_lines_left_out(merged: &std::path::Path, path: Option<&str>) {
    let Ok(bytes) = std::fs::read(merged) else {
        return;
    };
    let Ok(doc) = crate::dotenv::Document::read(bytes) else {
        return;
    };
    for o in doc.opaque_lines() {
        eprintln!(
            "envault merge: warning: {}:{}: {}",
            path.unwrap_or("the env file"),
            o.line,
            o.describe()
        );
    }
}
