//! `envault accept`: review a data key that changed since you last opened a file, and accept it.

use super::{emit, hinted, Ctx, ExitStatus};
use crate::crypt::{self, Header};
use crate::git::Repo;
use crate::source;

/// Accept an encrypted environment's new data key after reviewing who changed it.
///
/// envault records each encrypted file's data-key commitment the first time you open it, and
/// refuses a file whose key changed since (anyone who knows the public recipients can write a
/// whole new key). This shows the commit that brought the new key, who made it and who can open
/// it, then records it once you agree.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  envault accept prod\n  envault accept prod --yes")]
pub struct Args {
    /// The environment whose data key changed.
    env: String,
    /// Do not ask for confirmation on a terminal.
    #[arg(long, short = 'y')]
    yes: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    config.env(&args.env)?;
    let l = source::load_env(&config, &args.env, false)?;
    let label = l.path().display().to_string();
    let header: Header = crypt::header_of(&l.doc)?.ok_or_else(|| {
        hinted(
            format!("{label} is not encrypted"),
            "there is no data key to accept",
        )
    })?;
    // The header must check out against its own key before anything is recorded.
    let key = super::crypt::open_key(ctx, &label, &header)?;
    let header = header.upgraded(&key);
    let c = header.commitment_text().unwrap_or_default();
    let origin = Repo::discover(&ctx.cwd).ok().and_then(|repo| {
        let rel = repo.relative(&ctx.cwd, l.path()).ok()?;
        Some(match repo.commit_that_brought_key(&rel, &c) {
            Some(commit) => format!(
                "  brought by commit {} by {}: {}\n",
                commit.short, commit.author, commit.summary
            ),
            None => "  not in a commit: the change is in your working tree\n".to_owned(),
        })
    });
    let mut out = format!("{label}: data key with commitment {c}\n");
    out.push_str(&origin.unwrap_or_else(|| "  (not in a git repository)\n".to_owned()));
    out.push_str("  it can be opened by:\n");
    for r in &header.recipients {
        out.push_str(&format!("    {r}\n"));
    }
    emit(&out)?;
    super::recipients::confirm(
        args.yes,
        &format!(
            "Accept this data key for {label}? Values you seal from now on are sealed with it."
        ),
    )?;
    super::crypt::record_known(&l, &header)?;
    emit(&format!("{label}: accepted\n"))?;
    Ok(ExitStatus::Clean)
}
