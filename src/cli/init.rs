//! `envault init`: writes `.envault.yml`, taking environments from existing `.env.*` files.

use super::{emit, Ctx, ExitStatus};
use crate::config::{self, FILE_NAME};

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
        // An existing `.envault.yaml` is the file (init never writes a second config beside it).
        None => config::FILE_NAMES
            .iter()
            .map(|n| ctx.cwd.join(n))
            .find(|p| p.exists())
            .unwrap_or_else(|| ctx.cwd.join(FILE_NAME)),
    };
    let name = path.file_name().map_or_else(
        || FILE_NAME.to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (cfg, env_files) = config::init(&path, args.project.as_deref(), args.force)?;
    let names: Vec<&str> = cfg.environments.keys().map(String::as_str).collect();
    let found = if env_files.is_empty() {
        String::new()
    } else {
        format!(" (from {})", env_files.join(", "))
    };
    emit(&format!(
        "Created {name} for project '{}' with environments {}{found}.\nNext: envault diff {} {}\n",
        cfg.project,
        names.join(", "),
        names.first().unwrap_or(&"dev"),
        names.last().unwrap_or(&"prod"),
    ))?;
    Ok(ExitStatus::Clean)
}
