//! `envault init`: writes `.envault.yml`, taking environments from existing `.env.*` files.

use anyhow::Context;

use super::{emit, hinted, Ctx, ExitStatus};
use crate::config::{self, env_name_of_file, FILE_NAME};
use crate::fsutil;

/// Create .envault.yml in the current folder.
///
/// Environments are taken from the .env.* files already there (.env.production becomes
/// `production`); with none, dev / staging / prod are declared.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault init my-project\n  envault init --force          replace an existing .envault.yml"
)]
pub struct Args {
    /// The project name (default: the folder's name).
    project: Option<String>,
    /// Overwrite an existing .envault.yml.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let path = match &ctx.config_flag {
        Some(p) => ctx.cwd.join(p),
        None => ctx.cwd.join(FILE_NAME),
    };
    let dir = path.parent().unwrap_or(&ctx.cwd).to_owned();
    let (snap, _) = fsutil::read(&path)?;
    if snap.exists() && !args.force {
        return Err(hinted(
            format!("{} already exists; it was left as it is", path.display()),
            "pass --force to replace it",
        ));
    }
    let mut env_files: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| env_name_of_file(n).is_some())
        .collect();
    env_files.sort();
    let project = args.project.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "my-project".into())
    });
    let text = config::init_text(&project, &env_files);
    // Validate what we are about to write with the same parser every command uses.
    let cfg = config::Config::parse(&text, &path)?;
    fsutil::write_atomic_mode(&snap, text.as_bytes(), 0o644)?;
    let names: Vec<&str> = cfg.environments.keys().map(String::as_str).collect();
    let found = if env_files.is_empty() {
        String::new()
    } else {
        format!(" (from {})", env_files.join(", "))
    };
    emit(&format!(
        "Created {FILE_NAME} for project '{}' with environments {}{found}.\nNext: envault diff {} {}\n",
        cfg.project,
        names.join(", "),
        names.first().unwrap_or(&"dev"),
        names.last().unwrap_or(&"prod"),
    ))?;
    Ok(ExitStatus::Clean)
}
