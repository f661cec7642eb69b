//! `envault recipients list|add|remove`: who can open an environment's data key. Recipients
//! change only through this command: editing `recipients:` in .envault.yml grants nobody a key.

use std::io::IsTerminal;

use super::{emit, hinted, Ctx, ExitStatus};
use crate::config::Config;
use crate::crypt::{self, DataKey, Header, Recipient};
use crate::source::{self, Loaded};

/// List, add or remove the recipients of an encrypted environment.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault recipients list --env prod\n  envault recipients add age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --env prod\n  envault recipients remove age1ql3z… --env prod --yes"
)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show who can open the environment (from its header), and the config's list.
    #[command(after_help = "Examples:\n  envault recipients list --env prod")]
    List {
        /// The encrypted environment whose recipients are listed.
        #[arg(long = "env", value_name = "ENV")]
        env: String,
    },
    /// Give a recipient access: the data key is wrapped to it too (only the header changes).
    #[command(
        after_help = "Examples:\n  envault recipients add age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --env prod\n  envault recipients add \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI… alice@laptop\" --env staging\n  envault recipients add age1ql3z… --env prod --yes     (no question asked: in a script)\n\nA teammate prints their recipient with `envault keygen` (the last line) or sends an ssh\npublic key (~/.ssh/id_ed25519.pub)."
    )]
    Add {
        /// The recipient to add: an age public key (age1…) or an ssh public key
        /// ("ssh-ed25519 AAAA…", "ssh-rsa AAAA…").
        recipient: String,
        /// The encrypted environment to give access to.
        #[arg(long = "env", value_name = "ENV")]
        env: String,
        /// Do not ask for confirmation on a terminal.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Take a recipient's access away: a new data key, every value sealed again.
    #[command(
        after_help = "Examples:\n  envault recipients remove age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --env prod\n  envault recipients remove age1ql3z… --env prod --yes\n\nRemoving a recipient re-encrypts every value under a new data key; values they could read\nbefore may still be in their copies and in git history: rotate them (envault rotate-all)."
    )]
    Remove {
        /// The recipient to remove, as `recipients list` shows it.
        recipient: String,
        /// The encrypted environment to take access away from.
        #[arg(long = "env", value_name = "ENV")]
        env: String,
        /// Do not ask for confirmation on a terminal.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

fn header_of(l: &Loaded) -> anyhow::Result<Header> {
    crypt::header_of(&l.doc)?.ok_or_else(|| {
        hinted(
            format!("{} is not encrypted", l.path().display()),
            "encrypt it first: envault encrypt <env>",
        )
    })
}

/// A version 1 header's recipient lines are not bound to the key: say plainly who the key is
/// about to be wrapped to, so a line someone slipped in is seen.
fn warn_unauthenticated(l: &Loaded, everyone: &[&str]) {
    super::warn(&format!(
        "{} has a version 1 header, whose recipient lines nothing authenticates; check that every one of these should read it: {}",
        l.path().display(),
        everyone.join(", ")
    ));
}

pub(crate) fn confirm(yes: bool, question: &str) -> anyhow::Result<()> {
    if yes || !std::io::stdin().is_terminal() {
        return Ok(());
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(super::Declined("Cancelled".to_owned()).into())
    }
}

/// Opens the file's data key to change who reads it: the header is checked against the key
/// (recipient lines written by someone without it are refused before anything is wrapped to
/// them), a version 1 header is warned about, and the user confirms `question`.
fn open_to_change_readers(
    ctx: &Ctx,
    (l, header, env): (&Loaded, &Header, &str),
    everyone: &[&str],
    question: &str,
    yes: bool,
) -> anyhow::Result<DataKey> {
    let key =
        super::crypt::open_loaded_key(ctx, l, header, Some(env), super::crypt::Access::Write)?;
    if header.version < crypt::HEADER_VERSION {
        warn_unauthenticated(l, everyone);
    }
    confirm(yes, question)?;
    Ok(key)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    match args.action {
        Action::List { env } => list(ctx, &config, &env),
        Action::Add {
            recipient,
            env,
            yes,
        } => add(ctx, &config, &recipient, &env, yes),
        Action::Remove {
            recipient,
            env,
            yes,
        } => remove(ctx, &config, &recipient, &env, yes),
    }
}

/// The readers a file's header names, verified when the user holds the key.
fn list(ctx: &Ctx, config: &Config, env: &str) -> anyhow::Result<ExitStatus> {
    let e = config.env(env)?;
    let l = source::load_env(config, env, false)?;
    let header = header_of(&l)?;
    // The lines are shown as what they are: checked against the key when the user
    // holds it (a planted line is an error then), unverified otherwise.
    let verified = match super::crypt::open_loaded_key(
        ctx,
        &l,
        &header,
        Some(env),
        super::crypt::Access::Read,
    ) {
        Ok(_) => header.version >= crate::crypt::HEADER_VERSION,
        Err(e)
            if e.downcast_ref::<crate::workspace::WorkspaceError>()
                .is_some_and(|w| w.no_identity()) =>
        {
            false
        }
        Err(e) => return Err(e),
    };
    let mut out = format!("{} can be opened by:\n", l.path().display());
    if !verified {
        out = format!(
            "{} names these readers (not verified: {}):\n",
            l.path().display(),
            if header.version < crate::crypt::HEADER_VERSION {
                "a version 1 header does not bind its recipient lines to the key"
            } else {
                "none of your identities opens the key, and only a key holder can check the lines"
            }
        );
    }
    for r in &header.recipients {
        out.push_str(&format!("  {r}\n"));
    }
    let configured = config.recipients_of(e);
    let missing: Vec<&String> = configured
        .iter()
        .filter(|r| !header.recipients.contains(r))
        .collect();
    if !missing.is_empty() {
        out.push_str(
            "Listed in .envault.yml but not given access (run `envault recipients add`):\n",
        );
        for r in missing {
            out.push_str(&format!("  {r}\n"));
        }
    }
    emit(&out)?;
    Ok(ExitStatus::Clean)
}

/// Wraps the data key to one more recipient.
fn add(
    ctx: &Ctx,
    config: &Config,
    recipient: &str,
    env: &str,
    yes: bool,
) -> anyhow::Result<ExitStatus> {
    config.env(env)?;
    let new: Recipient = recipient.parse()?;
    let mut l = source::load_env(config, env, false)?;
    let header = header_of(&l)?;
    if header.recipients.iter().any(|r| r == new.as_str()) {
        emit(&format!(
            "{} can already be opened by {}\n",
            l.path().display(),
            new.as_str()
        ))?;
        return Ok(ExitStatus::Clean);
    }
    let mut recipients = header
        .recipients
        .iter()
        .map(|r| r.parse::<Recipient>())
        .collect::<Result<Vec<_>, _>>()?;
    recipients.push(new);
    let everyone: Vec<&str> = recipients.iter().map(Recipient::as_str).collect();
    let question = format!(
        "Give {} access to every secret of {}? The data key will be wrapped to:\n  {}\n",
        recipient.trim(),
        l.path().display(),
        everyone.join("\n  ")
    );
    let key = open_to_change_readers(ctx, (&l, &header, env), &everyone, &question, yes)?;
    crate::workspace::rewrap(&mut l, &key, &header, &recipients)?;
    emit(&format!(
        "{}: added {}; the data key is wrapped to:\n  {}\n",
        l.path().display(),
        recipient.trim(),
        everyone.join("\n  ")
    ))?;
    Ok(ExitStatus::Clean)
}

/// Removes a recipient: a new data key, every value sealed again.
fn remove(
    ctx: &Ctx,
    config: &Config,
    recipient: &str,
    env: &str,
    yes: bool,
) -> anyhow::Result<ExitStatus> {
    config.env(env)?;
    let mut l = source::load_env(config, env, false)?;
    let header = header_of(&l)?;
    let gone = recipient.trim();
    if !header.recipients.iter().any(|r| r == gone) {
        return Err(hinted(
            format!("{gone} is not a recipient of {}", l.path().display()),
            format!("see `envault recipients list --env {env}`"),
        ));
    }
    let remaining = header
        .recipients
        .iter()
        .filter(|r| *r != gone)
        .map(|r| r.parse::<Recipient>())
        .collect::<Result<Vec<_>, _>>()?;
    if remaining.is_empty() {
        return Err(hinted(
            format!(
                "{gone} is the only recipient of {}; nobody could open it",
                l.path().display()
            ),
            "add the new recipient first, then remove this one",
        ));
    }
    let label = l.path().display().to_string();
    let everyone: Vec<&str> = remaining.iter().map(Recipient::as_str).collect();
    let question = format!(
        "Remove {gone} from {} (every value is sealed again)? The new data key will be wrapped to:\n  {}\n",
        l.path().display(),
        everyone.join("\n  ")
    );
    let key = open_to_change_readers(ctx, (&l, &header, env), &everyone, &question, yes)?;
    let (new_header, exposed) = crate::workspace::rekey(&mut l, &key, &header, &remaining)?;
    // A key this user made: the one they accept for the file from now on.
    super::crypt::record_known(&l, &new_header)?;
    emit(&format!(
        "{label}: removed {gone}; new data key, {} values sealed again.\n{gone} could read: {}\nThose values are still known to it: rotate them with `envault rotate-all --env {env}`.\n",
        exposed.len(),
        exposed.join(", ")
    ))?;
    Ok(ExitStatus::Clean)
}
