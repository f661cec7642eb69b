//! `envault matrix`: which key exists in which environment, at a glance.

use std::path::PathBuf;

use super::{emit, Ctx, ExitStatus};
use crate::fsutil;
use crate::matrix;
use crate::output;
use crate::source;

/// A keys × environments table: present, missing, same as another environment, or different.
///
/// Grouped by key prefix (DB_*, FEATURE_*…); secret values masked; encrypted environments are
/// opened when an identity can. `--format html` writes one self-contained page (sortable,
/// filterable) for CI artifacts.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault matrix\n  envault matrix --only-drift\n  envault matrix --format html --output report.html\n  envault matrix --format json"
)]
pub struct Args {
    /// Hide keys that are identical everywhere.
    #[arg(long)]
    only_drift: bool,
    /// Output format: a table for the terminal, one self-contained HTML page (with --output),
    /// or JSON.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Text)]
    format: MatrixFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show secret values instead of masking them.
    #[arg(long, visible_alias = "show")]
    show_secrets: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MatrixFormat {
    Text,
    Json,
    Html,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    let mut loaded = Vec::new();
    for name in config.environments.keys() {
        let mut l = source::load_env(&config, name, true)?;
        // Values an identity cannot open stay sealed and are shown as not compared.
        let _ = super::crypt::decrypt_for_reading(ctx, &mut l, None);
        loaded.push(l);
    }
    let envs: Vec<(&str, &crate::dotenv::Document)> =
        loaded.iter().map(|l| (l.label.as_str(), &l.doc)).collect();
    let m = matrix::build(&envs, &config.classifier, args.show_secrets);
    let text = match args.format {
        MatrixFormat::Text => {
            let paint = if args.output.is_some() {
                output::Paint { color: false }
            } else {
                ctx.paint(super::Format::Text)
            };
            // On a terminal, the table fits its width; in a file or a pipe it is whole.
            let width = (args.output.is_none() && ctx.stdout_tty)
                .then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
                .flatten();
            output::matrix_text(&m, args.only_drift, paint, width)
        }
        MatrixFormat::Json => output::matrix_json(&m, args.only_drift),
        MatrixFormat::Html => output::matrix_html(
            &m,
            &format!("envault matrix: {}", config.project),
            args.show_secrets,
            args.only_drift,
        ),
    };
    match &args.output {
        Some(path) => {
            let path = ctx.cwd.join(path);
            if args.show_secrets {
                // Secret values in clear: private, whatever mode an earlier report had.
                fsutil::write_whole(&path, text.as_bytes(), fsutil::Readers::Owner)?;
                eprintln!(
                    "Wrote {} (mode 0600: it holds secret values).",
                    ctx.display_path(&path)
                );
            } else {
                fsutil::write_whole(&path, text.as_bytes(), fsutil::Readers::Anyone)?;
                eprintln!("Wrote {}.", ctx.display_path(&path));
            }
        }
        None if args.format == MatrixFormat::Text => super::emit_masked(&text)?,
        None => emit(&text)?,
    }
    Ok(ExitStatus::Clean)
}
