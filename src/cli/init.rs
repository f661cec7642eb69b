//! `envault init`: writes `.envault.yml`, taking environments from existing `.env.*` files.

use super::{emit, Ctx, ExitStatus};
use crate::config::{self, FILE_NAME};

/// Create .envault.yml in the current folder.
///
/// Environments are taken from the .env.* files already there (.env.production becomes
/// `production`, a plain .env `dev`); templates (.env.example…) and dotenvx's .env.keys and
/// .env.vault are never environments. With none, dev / staging / prod are declared.
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
    // The next step must work as it stands: a diff needs two environments whose files exist.
    let (first, last) = (
        names.first().copied().unwrap_or("dev"),
        names.last().copied().unwrap_or("prod"),
    );
    let next = match env_files.len() {
        0 => {
            let files: Vec<String> = cfg
                .environments
                .values()
                .map(|e| ctx.display_path(&e.file))
                .collect();
            format!(
                "Next: put each environment's variables in {}, then run `envault diff {first} {last}`",
                files.join(", ")
            )
        }
        1 => "Next: `envault check` reads it; add another environment's file (.env.prod) and run `envault init --force` to compare them"
            .to_owned(),
        _ => format!("Next: envault diff {first} {last}"),
    };
    emit(&format!(
        "Created {name} for project '{}' with environments {}{found}.\n{next}\n",
        cfg.project,
        names.join(", "),
    ))?;
    Ok(ExitStatus::Clean)
}
