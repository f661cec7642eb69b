//! `envault log`: the history of an environment, key by key.

use super::{emit, Ctx, ExitStatus};
use crate::git::Repo;
use crate::source::{self, LoadError, Loaded};

/// Show, for each commit that changed an environment's file, which keys were added, removed or
/// changed. The environment is resolved through .envault.yml as it was at each commit, so a
/// renamed file is followed. Values are never shown (sealed ones compare by ciphertext).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault log prod\n  envault log prod -n 5\n  envault log prod --rev feature"
)]
pub struct Args {
    /// The environment whose history is shown.
    env: String,
    /// Show at most N commits.
    #[arg(short = 'n', value_name = "N")]
    max: Option<usize>,
    /// Start from this revision instead of HEAD.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    rev: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    config.env(&args.env)?;
    let repo = Repo::discover(&ctx.cwd)?;
    let at = |rev: &str| -> anyhow::Result<Option<Loaded>> {
        match source::load_env_at(&repo, &ctx.cwd, &config.path, &args.env, rev) {
            Ok(l) => Ok(Some(l)),
            // Before the environment or its config existed: nothing to compare.
            Err(LoadError::NoConfigAt { .. }) | Err(LoadError::Config(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    let mut out = String::new();
    let mut shown = 0;
    for c in repo.history(&args.rev)? {
        if args.max.is_some_and(|m| shown >= m) {
            break;
        }
        let now = at(&c.id)?;
        let before = match &c.parent {
            Some(p) => at(p)?,
            None => None,
        };
        let text = |l: &Option<Loaded>| {
            l.as_ref()
                .filter(|l| l.snapshot.exists())
                .map(|l| l.doc.render())
        };
        if text(&now) == text(&before) {
            continue;
        }
        let empty = crate::dotenv::Document::default();
        let (old, new) = (
            before.as_ref().map_or(&empty, |l| &l.doc),
            now.as_ref().map_or(&empty, |l| &l.doc),
        );
        let d = crate::diff::diff_documents(old, new);
        out.push_str(&format!("{} {}\n", c.short, c.summary));
        let rekeyed = crate::crypt::header_of(old)
            .ok()
            .flatten()
            .map(|h| h.file_id)
            != crate::crypt::header_of(new)
                .ok()
                .flatten()
                .map(|h| h.file_id);
        if rekeyed && crate::crypt::header_of(old).ok().flatten().is_some() {
            out.push_str("  ! data key replaced: every sealed value changed\n");
        }
        for a in &d.only_in_target {
            out.push_str(&format!("  + {}\n", a.key));
        }
        for r in &d.only_in_source {
            out.push_str(&format!("  - {}\n", r.key));
        }
        for ch in &d.changed {
            out.push_str(&format!("  ~ {}\n", ch.key));
        }
        if d.is_empty() && !rekeyed {
            out.push_str("  (layout or comments only)\n");
        }
        shown += 1;
    }
    emit(&out)?;
    Ok(ExitStatus::Clean)
}
