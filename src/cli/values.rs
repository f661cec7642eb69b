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
    /// The key whose value is printed.
    key: String,
    /// The environment to read it from.
    #[arg(long = "env", value_name = "ENV")]
    env: String,
}

/// Set one value; it is read from stdin when VALUE is `-` or omitted, so a secret never has to
/// appear on a command line or in shell history.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault set LOG_LEVEL info --env prod\n  envault set DB_PASSWORD --env prod < password.txt\n  pbpaste | envault set API_KEY - --env prod\n  envault set FEATURE_FLAG \"\" --allow-empty --env dev"
)]
pub struct SetArgs {
    /// The key to set (letters, digits, `_` and `.`; not starting with a digit).
    key: String,
    /// The new value; `-` or nothing reads it from stdin (on a terminal: asked for, not shown).
    value: Option<String>,
    /// The environment whose file is written.
    #[arg(long = "env", value_name = "ENV")]
    env: String,
    /// Set an empty value on purpose (an empty value is refused otherwise: it is most often
    /// a failed pipe or an empty file).
    #[arg(long)]
    allow_empty: bool,
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
    let config = ctx.load_config()?;
    config.env(&args.env)?;
    let value = read_value(
        args.value,
        &format!("{} in {}", args.key, args.env),
        args.allow_empty,
    )?;
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
        if e.sealing.is_some() && !config.plaintext_keys.matches(&args.key) {
            " (sealed)"
        } else {
            ""
        }
    ))?;
    Ok(ExitStatus::Clean)
}

/// The value a `set` writes: the argument, or (with `-` or none) standard input; on a
/// terminal it is asked for with echo off. One trailing line ending is the terminal's or the
/// file's, not the value's. An empty value is refused unless `allow_empty`: it is most often
/// a pipe whose first command failed, `< /dev/null`, or Ctrl-D.
pub(crate) fn read_value(
    value: Option<String>,
    what: &str,
    allow_empty: bool,
) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let (value, from) = match value {
        Some(v) if v != "-" => (v, "the command line"),
        _ if std::io::stdin().is_terminal() => (
            prompt_hidden(&format!("Value for {what} (not shown): "))?,
            "the terminal",
        ),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            (s, "standard input")
        }
    };
    let value = match value.strip_suffix('\n') {
        Some(t) => t.strip_suffix('\r').unwrap_or(t).to_owned(),
        None => value,
    };
    if value.is_empty() && !allow_empty {
        return Err(hinted(
            format!("{what}: the value read from {from} is empty; nothing was written"),
            "pass --allow-empty to set an empty value on purpose (an empty read is often a failed pipe or an empty file)",
        ));
    }
    Ok(value)
}

/// Asks for a value on the terminal with echo off. The terminal's settings come back on
/// every way out, Ctrl-C included.
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    use std::io::{BufRead, Write};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let saved = tcgetattr(&tty)?;
    let mut hidden = saved.clone();
    hidden.local_modes.remove(LocalModes::ECHO);
    // The Enter key still shows as a new line.
    hidden.local_modes.insert(LocalModes::ECHONL);
    let restore = (tty.try_clone()?, saved.clone());
    let _ = ctrlc::set_handler(move || {
        let _ = tcsetattr(&restore.0, OptionalActions::Now, &restore.1);
        let _ = (&restore.0).write_all(b"\n");
        std::process::exit(130);
    });
    // Echo goes off before the prompt shows: nothing typed after it is ever echoed.
    tcsetattr(&tty, OptionalActions::Now, &hidden)?;
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    tcsetattr(&tty, OptionalActions::Now, &saved)?;
    read?;
    Ok(line)
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
