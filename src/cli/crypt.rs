//! `envault keygen`, `envault encrypt`, `envault decrypt`, and where identities come from.

use std::path::PathBuf;

use super::{emit, hinted, warn, Ctx, ExitStatus};
use crate::config::Config;
use crate::crypt::{self, DataKey, Header, Identities};
use crate::env_vars;
use crate::source::Loaded;
pub use crate::workspace::Access;
use crate::workspace::Keys;

/// Create your age identity (private key) and print its public recipient.
///
/// Writes $XDG_CONFIG_HOME/envault/identity.txt (default ~/.config/envault/identity.txt), mode
/// 0600; an existing identity is never overwritten, and a path inside a git work tree (unless
/// git ignores it) is refused.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  envault keygen\n  envault keygen --output ./ci-identity.txt")]
pub struct KeygenArgs {
    /// Write the identity here instead of the default path.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Encrypt environments in place: every value is sealed except plaintext_keys.
///
/// A new file gets a random data key wrapped to the environment's recipients (its own
/// `recipients:`, else the project's). Running it again seals only values added in clear.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault encrypt prod\n  envault encrypt staging prod\n  envault encrypt --all"
)]
pub struct EncryptArgs {
    /// The environments to encrypt.
    #[arg(required_unless_present = "all")]
    envs: Vec<String>,
    /// Every environment not marked `encrypted: false`.
    #[arg(long, conflicts_with = "envs")]
    all: bool,
}

/// Print an environment decrypted, or (explicitly) write it back in clear.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault decrypt prod --stdout\n  envault decrypt prod --in-place --yes   (puts plaintext back into the file)"
)]
pub struct DecryptArgs {
    /// The encrypted environment to decrypt.
    env: String,
    /// Print the plaintext file on stdout.
    #[arg(long, conflicts_with = "in_place")]
    stdout: bool,
    /// Replace the file with its plaintext (needs --yes: the secrets end up in the repository).
    #[arg(long, requires = "yes")]
    in_place: bool,
    /// Confirm --in-place.
    #[arg(long)]
    yes: bool,
}

/// The user's home folder (see `env_vars::Folders`).
pub fn home_dir() -> Option<PathBuf> {
    env_vars::folders().home.clone()
}

pub use crate::workspace::default_identity;

pub fn keygen(ctx: &Ctx, args: KeygenArgs) -> anyhow::Result<ExitStatus> {
    let path = match args.output {
        Some(p) => ctx.cwd.join(p),
        None => default_identity().ok_or_else(|| {
            hinted(
                "cannot find your home folder, so there is no default place for your identity",
                "set HOME (or XDG_CONFIG_HOME), or pass --output FILE outside any repository",
            )
        })?,
    };
    let public = crate::workspace::create_identity(&path)?;
    emit(&format!(
        "Wrote your identity to {}\nYour recipient (share it; list it under recipients: in .envault.yml):\n{public}\n",
        path.display()
    ))?;
    Ok(ExitStatus::Clean)
}

/// Where this user's record of accepted data keys lives (the state folder, never the
/// repository).
fn known_keys_path() -> Option<PathBuf> {
    env_vars::folders()
        .state
        .as_ref()
        .map(|d| d.join("known-keys.json"))
}

/// The user's side of opening encrypted files, from the command line and the environment: the
/// library's [`Keys`] does the opening, checking and sealing.
pub fn keys(ctx: &Ctx) -> &Keys<'static> {
    ctx.keys.get_or_init(|| {
        let flag = ctx.identity_flag.as_ref().map(|p| ctx.cwd.join(p));
        Keys::new(
            move || crate::workspace::load_identities(flag.as_deref(), &warn),
            known_keys_path(),
            warn,
        )
    })
}

pub fn open_key(ctx: &Ctx, label: &str, header: &Header) -> anyhow::Result<DataKey> {
    Ok(keys(ctx).open_header(label, header)?)
}

/// Records `header`'s commitment as the one this user accepts for the file at `path`.
pub fn record_known(l: &Loaded, header: &Header) -> anyhow::Result<()> {
    Ok(Keys::new(|| Ok(Identities::empty()), known_keys_path(), warn).accept(l, header)?)
}

/// Opens a loaded file's data key: the header checked against it, and its commitment against
/// the one this user accepted.
pub(crate) fn open_loaded_key(
    ctx: &Ctx,
    l: &Loaded,
    header: &Header,
    env: Option<&str>,
    access: Access,
) -> anyhow::Result<DataKey> {
    Ok(keys(ctx).open(l, header, env, access)?)
}

/// Replaces an encrypted document by its plaintext, for commands that only read it.
pub fn decrypt_for_reading(
    ctx: &Ctx,
    l: &mut Loaded,
    plaintext_keys: Option<&crate::glob::GlobSet>,
) -> anyhow::Result<()> {
    Ok(keys(ctx).decrypt_for_reading(l, plaintext_keys)?)
}

pub fn encrypt(ctx: &Ctx, args: EncryptArgs) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    let names: Vec<String> = if args.all {
        config
            .environments
            .values()
            .filter(|e| e.encrypted != Some(false))
            .map(|e| e.name.clone())
            .collect()
    } else {
        for n in &args.envs {
            if config.env(n)?.encrypted == Some(false) {
                return Err(hinted(
                    format!(
                        "{n} is marked `encrypted: false` in {}",
                        config.path.display()
                    ),
                    "remove that line (or set it to true) to encrypt it",
                ));
            }
        }
        args.envs.clone()
    };
    let report = encrypt_envs(ctx, &config, &names)?;
    emit(&report)?;
    Ok(ExitStatus::Clean)
}

/// Seals the values in clear of `names` (all files written together, or none); returns what
/// was done, a line per file.
pub fn encrypt_envs(ctx: &Ctx, config: &Config, names: &[String]) -> anyhow::Result<String> {
    use crate::workspace::Encrypted;
    let mut report = String::new();
    for (path, outcome) in keys(ctx).encrypt_envs(config, names)? {
        let path = path.display();
        match &outcome {
            Encrypted::Upgraded => report.push_str(&format!(
                "{path}: header upgraded to format version {} (same data key, same recipients)\n",
                crypt::HEADER_VERSION
            )),
            Encrypted::AlreadyEncrypted => {
                report.push_str(&format!("{path}: already encrypted; nothing to do\n"));
            }
            Encrypted::Sealed {
                sealed,
                clear,
                recipients,
            } => report.push_str(&format!(
                "{path}: {sealed} value{} sealed, {clear} left in clear (plaintext_keys); recipients: {}\n",
                if *sealed == 1 { "" } else { "s" },
                recipients.join(", ")
            )),
        }
    }
    Ok(report)
}

pub fn decrypt(ctx: &Ctx, args: DecryptArgs) -> anyhow::Result<ExitStatus> {
    if !args.stdout && !args.in_place {
        return Err(hinted(
            "say where the plaintext goes",
            "use --stdout to print it, or --in-place --yes to write it back into the file",
        ));
    }
    let config = ctx.load_config()?;
    let clear = keys(ctx).in_clear(&config, &args.env)?;
    if args.stdout {
        emit(&clear.text)?;
    } else {
        clear.write()?;
        emit(&format!(
            "{}: written in clear (mode 0600)\n",
            clear.loaded.path().display()
        ))?;
    }
    Ok(ExitStatus::Clean)
}
