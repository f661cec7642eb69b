//! `envault git install | uninstall | doctor`.

use super::{emit, Ctx, ExitStatus};
use crate::git::install::{self, Action};
use crate::git::Repo;

/// Set up git for env files: the pre-commit hook, the merge driver, textconv and attributes.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Install the pre-commit and pre-merge-commit hooks (chaining any existing hook), the merge
    /// driver and textconv configuration, and .gitattributes lines for every env file of every
    /// .envault.yml. Idempotent.
    ///
    /// With husky the call goes into .husky/pre-commit; with the pre-commit framework the
    /// .pre-commit-config.yaml snippet is printed instead.
    #[command(
        after_help = "Examples:\n  envault git install\n  git add .gitattributes && git commit -m \"envault: merge driver for env files\""
    )]
    Install,
    /// Remove exactly what install added, restoring chained hooks.
    #[command(after_help = "Examples:\n  envault git uninstall")]
    Uninstall,
    /// Report every way the protections can silently not run, with the fix; exit 1 when
    /// something is wrong.
    #[command(
        after_help = "Examples:\n  envault git doctor\n  envault git doctor || envault git install"
    )]
    Doctor,
}

fn rel(repo: &Repo, p: &std::path::Path) -> String {
    p.strip_prefix(repo.root())
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let repo = Repo::discover(&ctx.cwd)?;
    let paint = ctx.paint(super::Format::Text);
    let ok = paint.green("✓");
    let mut out = String::new();
    match args.command {
        Sub::Install => {
            let exe = std::env::current_exe()?;
            let exe = exe.canonicalize().unwrap_or(exe);
            for a in install::install(&repo, &exe)? {
                let line = match a {
                    Action::Hook { path, chained: true } => format!(
                        "{} hook: {} (the hook that was there runs first, as {}.envault-chained)",
                        hook_name(&path),
                        rel(&repo, &path),
                        hook_name(&path)
                    ),
                    Action::Hook { path, .. } => {
                        format!("{} hook: {}", hook_name(&path), rel(&repo, &path))
                    }
                    Action::HookUpToDate { path } => {
                        format!("{} hook: {} (up to date)", hook_name(&path), rel(&repo, &path))
                    }
                    Action::Husky { path, added } => format!(
                        "husky: {} runs `envault scan --staged`{} (commit it)",
                        rel(&repo, &path),
                        if added { "" } else { " (already)" }
                    ),
                    Action::PreCommitFramework { snippet: Some(s) } => format!(
                        "this repository uses the pre-commit framework; add this to .pre-commit-config.yaml under `repos:`:\n\n{s}"
                    ),
                    Action::PreCommitFramework { snippet: None } => {
                        "pre-commit framework: .pre-commit-config.yaml already runs envault".into()
                    }
                    Action::Config { key, value: Some(v) } => format!("{key} = {v}"),
                    Action::Attributes { path, lines } => format!(
                        "{}: {lines} env file(s) marked merge=envault diff=envault (commit it so the team gets them)",
                        rel(&repo, &path)
                    ),
                    other => format!("{other:?}"),
                };
                out.push_str(&format!("{ok} {line}\n"));
            }
        }
        Sub::Uninstall => {
            let done = install::uninstall(&repo)?;
            if done.is_empty() {
                out.push_str("nothing to remove: envault is not installed here\n");
            }
            for a in done {
                let line = match a {
                    Action::HookRemoved { path, restored } => format!(
                        "removed {}{}",
                        rel(&repo, &path),
                        if restored {
                            " (the previous hook is back)"
                        } else {
                            ""
                        }
                    ),
                    Action::HookLeft { path, why } => {
                        format!("left {} in place: {why}", rel(&repo, &path))
                    }
                    Action::Husky { path, .. } => {
                        format!("removed the envault lines from {}", rel(&repo, &path))
                    }
                    Action::Config { key, .. } => format!("unset {key}"),
                    Action::Attributes { path, .. } => {
                        format!("removed the envault lines from {}", rel(&repo, &path))
                    }
                    other => format!("{other:?}"),
                };
                out.push_str(&format!("{ok} {line}\n"));
            }
        }
        Sub::Doctor => {
            let checks = install::doctor(&repo)?;
            let bad = checks.iter().filter(|c| !c.ok).count();
            for c in &checks {
                if c.ok {
                    out.push_str(&format!("{ok} {}\n", c.what));
                } else {
                    out.push_str(&format!("{} {}\n", paint.red("✗"), c.what));
                    if let Some(f) = &c.fix {
                        out.push_str(&format!("    fix: {}\n", f.replace('\n', "\n         ")));
                    }
                }
            }
            emit(&out)?;
            if bad > 0 {
                eprintln!("envault git doctor: {bad} problem(s) found");
                return Ok(ExitStatus::Found);
            }
            return Ok(ExitStatus::Clean);
        }
    }
    emit(&out)?;
    Ok(ExitStatus::Clean)
}

fn hook_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
