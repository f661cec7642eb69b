//! `envault get`, `envault set` and `envault export`: single values and whole environments,
//! decrypted (and sealed again on write) where the environment is encrypted.

use std::io::Read;

use super::{emit, hinted, Ctx, ExitStatus};
use crate::dotenv::Document;

/// Print one value (decrypted) on stdout.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault get DB_PASSWORD --env prod\n  export PGPASSWORD=\"$(envault get DB_PASSWORD --env prod)\""
)]
pub struct GetArgs {
    key: String,
    #[arg(long = "env", value_name = "ENV")]
    env: String,
}

/// Set one value; it is read from stdin when VALUE is `-` or omitted, so a secret never has to
/// appear on a command line or in shell history.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault set LOG_LEVEL info --env prod\n  envault set DB_PASSWORD --env prod < password.txt\n  pbpaste | envault set API_KEY - --env prod"
)]
pub struct SetArgs {
    key: String,
    value: Option<String>,
    #[arg(long = "env", value_name = "ENV")]
    env: String,
}

/// Print an environment's values (decrypted) as dotenv, JSON or shell exports.
///
/// Values are printed as the file holds them: `$NAME` references stay as written. With
/// --expand they are expanded as `envault run` expands them (the process environment first,
/// then the keys above).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault export --env prod --format json\n  eval \"$(envault export --env dev --format shell --expand)\""
)]
pub struct ExportArgs {
    /// The environment to print.
    #[arg(long = "env", value_name = "ENV")]
    env: String,
    /// The output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Dotenv)]
    format: ExportFormat,
    /// Expand `$NAME` and `${NAME}` references as `envault run` does.
    #[arg(long)]
    expand: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Dotenv,
    Json,
    Shell,
}

pub fn get(ctx: &Ctx, args: GetArgs) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    let l = super::crypt::keys(ctx).read(&config, &args.env)?;
    match l.doc.get(&args.key) {
        Some(v) => {
            emit(&format!("{v}\n"))?;
            Ok(ExitStatus::Clean)
        }
        None => {
            eprintln!("{} is not in {}", args.key, l.path().display());
            Ok(ExitStatus::Found)
        }
    }
}

pub fn set(ctx: &Ctx, args: SetArgs) -> anyhow::Result<ExitStatus> {
    let value = match args.value.as_deref() {
        Some(v) if v != "-" => v.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            // One trailing line ending is the terminal's or the file's, not the value's.
            let trimmed = s
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t));
            trimmed.unwrap_or(&s).to_owned()
        }
    };
    let config = ctx.load_config()?;
    let mut e = super::crypt::keys(ctx).edit(&config, &args.env)?;
    if let Some(s) = e.sealing.as_mut() {
        s.seal_afresh(&args.key);
    }
    let existed = e.loaded.doc.get(&args.key).is_some();
    let peers = e.loaded.doc.set(&args.key, &value).map_err(|e| {
        hinted(
            e.to_string(),
            "key names are letters, digits, `_` and `.`, not starting with a digit",
        )
    })?;
    super::warn_quoting(&args.key, &peers);
    e.commit(&config.plaintext_keys)?;
    emit(&format!(
        "{} {} in {}{}\n",
        if existed { "Updated" } else { "Added" },
        args.key,
        ctx.display_path(e.loaded.path()),
        if e.sealing.is_some() { " (sealed)" } else { "" }
    ))?;
    Ok(ExitStatus::Clean)
}

/// `'…'` for a POSIX shell: every byte literal, `'` written as `'\''`.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

pub fn export(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    let l = super::crypt::keys(ctx).read(&config, &args.env)?;
    super::warn_duplicates(&l);
    let mut expanded: Vec<(String, String)> = Vec::new();
    if args.expand {
        use crate::dotenv::expand::{expand_document, Precedence, Style};
        expand_document(
            &l.doc,
            &crate::env_vars::process_for_expansion,
            &mut expanded,
            (
                config
                    .env(&args.env)?
                    .dialect
                    .map_or(Style::Shell, crate::dotenv::Dialect::expansion),
                Precedence::Process,
            ),
        )
        .map_err(|e| {
            super::hinted(
                format!("{}: {e}", l.path().display()),
                "a value that references another several times, level after level, doubles at each level; reference it once",
            )
        })?;
    }
    let map: crate::dotenv::KeyMap = if args.expand {
        expanded
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    } else {
        l.doc.to_map()
    };
    let text = match args.format {
        ExportFormat::Json => {
            let obj: serde_json::Map<String, serde_json::Value> = map
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            serde_json::to_string_pretty(&obj)? + "\n"
        }
        ExportFormat::Shell => map
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect(),
        ExportFormat::Dotenv => {
            let mut doc = Document::default();
            for (k, v) in &map {
                doc.insert(k, v, None)?;
            }
            doc.render()
        }
    };
    emit(&text)?;
    Ok(ExitStatus::Clean)
}
