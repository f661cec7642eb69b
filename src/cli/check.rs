//! `envault check`: one command for CI and for humans over every `.envault.yml` of the
//! repository: drift between environments, duplicates, parse errors, empty values, plaintext
//! secrets where `scan` would block them, recipients out of date, and (with --stores) drift
//! from the secret stores.

use std::path::PathBuf;

use serde_json::json;

use super::{emit, Ctx, ExitStatus};
use crate::audit;
use crate::check::Problem;
use crate::git::Repo;
use crate::output;

/// Check every environment of every .envault.yml in the repository.
///
/// Exit 0 when clean, 1 when problems were found, 2 when something could not be checked.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault check\n  envault check --format github      annotations on the pull request\n  envault check --stores             also compare environments with their stores\n  envault check --fix                seal values in clear in `encrypted: true` environments"
)]
pub struct Args {
    /// Also compare each environment that names a `store:` with the store.
    #[arg(long)]
    stores: bool,
    /// Make the safe repairs: seal plaintext values in environments marked `encrypted: true`.
    /// Never invents values and never grants a recipient access.
    #[arg(long)]
    fix: bool,
    /// Output format: text for people, github for pull-request annotations, sarif for code
    /// scanning, json for scripts.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CheckFormat {
    Text,
    Json,
    Github,
    Sarif,
}

/// The configurations to check and the folder paths are shown relative to.
fn configs(ctx: &Ctx) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    if ctx.config_flag.is_some() {
        let c = ctx.load_config()?;
        return Ok((ctx.cwd.clone(), vec![c.path]));
    }
    if let Ok(repo) = Repo::discover(&ctx.cwd) {
        let root = repo.root().to_owned();
        let found: Vec<PathBuf> = repo
            .worktree_files()?
            .into_iter()
            .filter(|f| crate::config::is_config_path(f))
            .map(|f| root.join(f))
            .collect();
        if !found.is_empty() {
            return Ok((root, found));
        }
    }
    let path = ctx.discover_config()?;
    Ok((ctx.cwd.clone(), vec![path]))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let (root, paths) = configs(ctx)?;
    let mut problems: Vec<Problem> = Vec::new();
    let mut envs_checked = 0;
    let bar = super::progress(paths.len() as u64, "checking configurations");
    for cfg_path in &paths {
        bar.inc(1);
        let config = ctx.load_config_at(cfg_path)?;
        if args.fix {
            let names = crate::workspace::with_values_in_clear(&config);
            if !names.is_empty() {
                let report = super::crypt::encrypt_envs(ctx, &config, &names)?;
                eprint!("{report}");
            }
        }
        let found = audit::check_config(&root, cfg_path, &config)?;
        envs_checked += found.envs_checked;
        problems.extend(found.problems);
        if args.stores {
            problems.extend(super::store::drift(ctx, &config, &root)?);
        }
    }
    bar.finish_and_clear();
    problems.sort_by(|a, b| (&a.path, a.line, a.rule.id()).cmp(&(&b.path, b.line, b.rule.id())));
    report(ctx, &args, &problems, envs_checked, paths.len())?;
    // Warnings are shown without failing the check.
    Ok(ExitStatus::found_if(
        problems.iter().any(|p| !p.rule.is_warning()),
    ))
}

fn report(
    ctx: &Ctx,
    args: &Args,
    problems: &[Problem],
    envs: usize,
    configs: usize,
) -> anyhow::Result<()> {
    let annotations = || -> Vec<output::Annotation> {
        problems
            .iter()
            .map(|p| output::Annotation {
                path: &p.path,
                line: p.line,
                column: None,
                rule: p.rule,
                message: format!("{}. Fix: {}", p.message, p.fix),
                fingerprint: None,
                warning: p.rule.is_warning(),
            })
            .collect()
    };
    match args.format {
        CheckFormat::Text => {
            let paint = ctx.paint(super::Format::Text);
            let mut out = String::new();
            for p in problems {
                out.push_str(&format!(
                    "{}: {}: {}\n    fix: {}\n",
                    paint.bold(&format!("{}:{}", crate::output::one_line(&p.path), p.line)),
                    if p.rule.is_warning() {
                        paint
                            .yellow(&format!("warning: {}", p.rule.id()))
                            .into_owned()
                    } else {
                        paint.red(p.rule.id()).into_owned()
                    },
                    crate::output::one_line(&p.message),
                    crate::output::one_line(&p.fix)
                ));
            }
            emit(&out)?;
            let what = format!(
                "{envs} environment{} of {configs} config{}",
                if envs == 1 { "" } else { "s" },
                if configs == 1 { "" } else { "s" }
            );
            let warnings = problems.iter().filter(|p| p.rule.is_warning()).count();
            let errors = problems.len() - warnings;
            let count = |n: usize, word: &str| match n {
                0 if word == "problem" => "no problems".to_owned(),
                1 => format!("1 {word}"),
                n => format!("{n} {word}s"),
            };
            let mut summary = count(errors, "problem");
            if warnings > 0 {
                summary.push_str(&format!(", {}", count(warnings, "warning")));
            }
            eprintln!("envault check: {summary} ({what} checked)");
        }
        CheckFormat::Json => {
            let items: Vec<serde_json::Value> = problems
                .iter()
                .map(|p| {
                    json!({"path": p.path, "line": p.line, "rule": p.rule, "key": p.key,
                           "message": p.message, "fix": p.fix, "warning": p.rule.is_warning()})
                })
                .collect();
            emit(
                &(serde_json::to_string_pretty(&json!({
                    "problems": items, "environments": envs, "configs": configs,
                }))? + "\n"),
            )?;
        }
        CheckFormat::Github => emit(&output::github_annotations("envault check", &annotations()))?,
        CheckFormat::Sarif => {
            let log = output::sarif(&annotations());
            emit(&(serde_json::to_string_pretty(&log)? + "\n"))?;
        }
    }
    Ok(())
}
