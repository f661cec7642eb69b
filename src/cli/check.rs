//! `envault check`: one command for CI and for humans over every `.envault.yml` of the
//! repository: drift between environments, duplicates, parse errors, empty values, plaintext
//! secrets where `scan` would block them, recipients out of date, and (with --stores) drift
//! from the secret stores.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{emit, Ctx, ExitStatus};
use crate::check::{self, EnvRead, Problem};
use crate::dotenv::Document;
use crate::git::Repo;
use crate::output;
use crate::rule::Rule;
use crate::scan::{self, Changed, Input};

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

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
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
            let names: Vec<String> = config
                .environments
                .values()
                .filter(|e| e.encrypted == Some(true) && e.file.is_file())
                .filter(|e| {
                    std::fs::read(&e.file)
                        .ok()
                        .and_then(|b| Document::parse_vec(b).ok())
                        .is_some_and(|d| {
                            d.entries().any(|x| {
                                !crate::crypt::is_sealed(x.raw_value())
                                    && !config.plaintext_keys.matches(x.key())
                            })
                        })
                })
                .map(|e| e.name.clone())
                .collect();
            if !names.is_empty() {
                let report = super::crypt::encrypt_envs(ctx, &config, &names)?;
                eprint!("{report}");
            }
        }
        let mut reads = Vec::new();
        let mut changed = Vec::new();
        for env in config.environments.values() {
            let path = rel(&root, &env.file);
            match std::fs::read(&env.file) {
                Ok(bytes) => {
                    changed.push(Changed {
                        path: path.clone(),
                        new: bytes.clone(),
                        old: None,
                    });
                    reads.push(EnvRead {
                        name: &env.name,
                        path: path.clone(),
                        doc: Document::parse_vec(bytes).map_err(|e| e.with_path(&path)),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push(Problem {
                    path: path.clone(),
                    line: 1,
                    rule: Rule::MissingFile,
                    key: None,
                    message: format!("{path} (environment '{}') does not exist", env.name),
                    fix: format!(
                        "create it (`envault sync <env> {} --dry-run` shows what it would get), or fix its path in {}",
                        env.name,
                        rel(&root, cfg_path)
                    ),
                }),
                Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read {path}"))),
            }
        }
        envs_checked += reads.len();
        problems.extend(check::check(&config, &reads));
        problems.extend(replays(&root, &config, &changed)?);

        // Plaintext secrets, judged as `scan` judges them.
        let source = super::scan::WorkTree { root: root.clone() };
        let ids = crate::crypt::Identities::empty();
        let found = scan::scan(&Input {
            changed,
            configs: vec![rel(&root, cfg_path)],
            source: &source,
            identities: &ids,
            whole_files: true,
            check_data_keys: false,
        })?;
        for f in found {
            if matches!(f.rule, Rule::PlaintextSecret | Rule::UnencryptedValue) {
                problems.push(Problem {
                    path: f.path,
                    line: f.line,
                    rule: f.rule,
                    key: f.key,
                    message: f.message,
                    fix: f.fix,
                });
            }
        }
        if args.stores {
            problems.extend(super::store::drift(ctx, &config, &root)?);
        }
    }
    bar.finish_and_clear();
    problems.sort_by(|a, b| (&a.path, a.line, a.rule.id()).cmp(&(&b.path, b.line, b.rule.id())));
    report(ctx, &args, &problems, envs_checked, paths.len())?;
    Ok(ExitStatus::found_if(!problems.is_empty()))
}

/// Sealed values of the working files that the repository's history had replaced
/// (`replayed-value`): an old value pasted back. Outside a repository there is no history.
fn replays(
    root: &Path,
    config: &crate::config::Config,
    files: &[Changed],
) -> anyhow::Result<Vec<Problem>> {
    let Ok(repo) = Repo::discover(root) else {
        return Ok(Vec::new());
    };
    // (path from the repository root, environment, the file as read)
    let mut targets = Vec::new();
    for env in config.environments.values() {
        let Ok(in_repo) = repo.relative(root, &env.file) else {
            continue;
        };
        let in_repo = in_repo.to_string_lossy().into_owned();
        let shown = rel(root, &env.file);
        if let Some(f) = files.iter().find(|f| f.path == shown) {
            targets.push((in_repo, env.name.as_str(), f));
        }
    }
    let paths: Vec<String> = targets.iter().map(|(p, _, _)| p.clone()).collect();
    let retired = repo.retired_values("HEAD", &paths)?;
    let mut out = Vec::new();
    for (path, env, f) in &targets {
        let values = crate::git::replay::sealed_values(&f.new);
        for r in crate::git::replay::replays_in(path, &values, &retired, |_| true) {
            out.push(Problem {
                path: f.path.clone(),
                line: r.line,
                rule: Rule::ReplayedValue,
                key: Some(r.key.clone()),
                message: r.message(),
                fix: r.fix(Some(env)),
            });
        }
    }
    Ok(out)
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
                rule: p.rule,
                message: format!("{}. Fix: {}", p.message, p.fix),
                fingerprint: None,
                warning: false,
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
                    paint.bold(&format!("{}:{}", p.path, p.line)),
                    paint.red(p.rule.id()),
                    p.message,
                    p.fix
                ));
            }
            emit(&out)?;
            let what = format!(
                "{envs} environment{} of {configs} config{}",
                if envs == 1 { "" } else { "s" },
                if configs == 1 { "" } else { "s" }
            );
            if problems.is_empty() {
                eprintln!("envault check: no problems ({what} checked)");
            } else {
                eprintln!(
                    "envault check: {} problem{} ({what} checked)",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
            }
        }
        CheckFormat::Json => {
            let items: Vec<serde_json::Value> = problems
                .iter()
                .map(|p| {
                    json!({"path": p.path, "line": p.line, "rule": p.rule, "key": p.key,
                           "message": p.message, "fix": p.fix})
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
