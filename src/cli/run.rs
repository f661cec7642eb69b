//! `envault run`: execute a program with environments' values (decrypted, expanded) added.

use std::os::unix::process::CommandExt;

use super::{hinted, Ctx, ExitStatus};
use crate::dotenv::expand::{expand_document, Precedence, Style};
use crate::source;

/// Run a program with the values of one or more environments in its environment.
///
/// The program is executed directly (no shell), replacing envault, so its exit status and
/// signals are its own. Encrypted environments are decrypted with your identities. `$VAR`,
/// `${VAR}` and `${VAR:-default}` expand as a shell reads them (never inside single quotes;
/// `$DB_USER` is the variable DB_USER). Variables already set in the environment win unless
/// --override; a later --env wins over an earlier one.
/// ENVAULT_IDENTITY_KEY is never passed on. Variables that make a program run other code
/// (LD_PRELOAD, NODE_OPTIONS, BASH_ENV, PATH…) are refused when an env file sets them, unless
/// ~/.config/envault/run-allowed-variables names them.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault run --env prod -- ./server --port 8080\n  envault run --env dev --env local -- npm test\n  envault run --env prod --override -- env"
)]
pub struct Args {
    /// The environment to load (repeatable; later ones win).
    #[arg(long = "env", value_name = "ENV", required = true)]
    envs: Vec<String>,
    /// Let the environments' values replace variables already set.
    #[arg(long = "override")]
    override_existing: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    for e in &args.envs {
        config.env(e)?;
    }
    let mut values: Vec<(String, String)> = Vec::new();
    // Repository content must not choose the code the program runs: variables such as
    // LD_PRELOAD or NODE_OPTIONS from an env file are refused unless you allowed them by name
    // in your own config.
    let allowed = crate::settings::run_allowed_variables();
    for name in &args.envs {
        let mut l = source::load_env(&config, name, false)?;
        super::warn_duplicates(&l);
        if let Some(e) = l.doc.entries().find(|e| {
            crate::classify::controls_execution(e.key()) && !allowed.iter().any(|a| a == e.key())
        }) {
            return Err(hinted(
                format!(
                    "{}:{}: {} would let the env file choose code the program runs; nothing was run",
                    l.path().display(),
                    e.line(),
                    e.key()
                ),
                format!(
                    "set {} in your own shell instead, or, if the file is yours, allow it by name in ~/.config/envault/run-allowed-variables",
                    e.key()
                ),
            ));
        }
        super::crypt::decrypt_for_reading(ctx, &mut l, Some(&config.plaintext_keys))?;
        // The process environment wins inside expansion too, unless overriding: then the
        // file's earlier keys come first, and the process environment after them.
        let precedence = if args.override_existing {
            Precedence::File
        } else {
            Precedence::Process
        };
        // An environment whose app reads it with a named reader expands as that reader does.
        let style = config
            .env(name)?
            .dialect
            .map_or(Style::Shell, crate::dotenv::Dialect::expansion);
        expand_document(&l.doc, &crate::env_vars::process_for_expansion, &mut values, (style, precedence)).map_err(|e| {
            hinted(
                format!("{}: {e}", l.path().display()),
                "a value that references another several times, level after level, doubles at each level; reference it once",
            )
        })?;
    }
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest);
    for (k, v) in &values {
        if args.override_existing || !crate::env_vars::process_has(k) {
            cmd.env(k, v);
        }
    }
    cmd.env_remove(crate::env_vars::ENVAULT_IDENTITY_KEY.name);
    // `exec` only returns on failure.
    let err = cmd.exec();
    let code = ExitStatus::CannotRun {
        not_found: err.kind() == std::io::ErrorKind::NotFound,
    };
    let e = hinted(
        format!("cannot run `{program}`: {err}"),
        "check the command's name and that it is executable (it is run directly, not by a shell)",
    );
    super::report(&e);
    Ok(code)
}
