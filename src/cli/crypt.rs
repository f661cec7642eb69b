//! `envault keygen`, `envault encrypt`, `envault decrypt`, and where identities come from.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{emit, hinted, warn, Ctx};
use crate::config::Config;
use crate::crypt::{self, DataKey, Header, Identities, Recipient};
use crate::fsutil::{self, Snapshot};
use crate::source::{self, Loaded};

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

/// The user's home folder: `HOME`, else the password database. Never a relative path: with
/// no home, paths under it would land in the current folder, inside a repository whose
/// content could then pose as the user's own config.
pub fn home_dir() -> Option<PathBuf> {
    std::env::home_dir().filter(|p| p.is_absolute())
}

/// An XDG base folder (`XDG_CONFIG_HOME`…) if set to an absolute path, else `default` under
/// the home folder; `envault` below it.
pub fn xdg_dir(var: &str, default: &str) -> Option<PathBuf> {
    match std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
    {
        Some(d) => Some(d.join("envault")),
        None => home_dir().map(|h| h.join(default).join("envault")),
    }
}

/// The user's envault config folder (`$XDG_CONFIG_HOME/envault`, `~/.config/envault`); `None`
/// when there is no home folder.
pub fn config_dir() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// A file in the user's config folder, when there is one.
pub fn config_file(name: &str) -> Option<PathBuf> {
    config_dir().map(|d| d.join(name))
}

/// The default identity file.
pub fn default_identity() -> Option<PathBuf> {
    config_file("identity.txt")
}

fn read_identity_file(path: &Path, required: bool) -> anyhow::Result<Option<Identities>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot read identity {}", path.display()))
            )
        }
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            warn(&format!(
                "identity {} is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(Some(Identities::parse(&text, &path.display().to_string())?))
}

/// Every identity available: `--identity`, `ENVAULT_IDENTITY` (a path), `ENVAULT_IDENTITY_KEY`
/// (the key itself, for CI), the default file, then `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`.
pub fn load_identities(ctx: &Ctx) -> anyhow::Result<Identities> {
    let mut ids = Identities::empty();
    if let Some(p) = &ctx.identity_flag {
        ids.extend(read_identity_file(&ctx.cwd.join(p), true)?.unwrap_or_else(Identities::empty));
    }
    if let Some(p) = std::env::var_os("ENVAULT_IDENTITY").filter(|v| !v.is_empty()) {
        ids.extend(read_identity_file(Path::new(&p), true)?.unwrap_or_else(Identities::empty));
    }
    if let Ok(key) = std::env::var("ENVAULT_IDENTITY_KEY") {
        if !key.trim().is_empty() {
            ids.extend(Identities::parse(&key, "ENVAULT_IDENTITY_KEY")?);
        }
    }
    if let Some(path) = default_identity() {
        if let Some(found) = read_identity_file(&path, false)? {
            ids.extend(found);
        }
    }
    let Some(home) = home_dir() else {
        return Ok(ids);
    };
    for name in ["id_ed25519", "id_rsa"] {
        // SSH keys are a fallback: one that cannot be used (passphrase-protected) is skipped.
        if let Ok(text) = std::fs::read_to_string(home.join(".ssh").join(name)) {
            if let Ok(found) = Identities::parse(&text, name) {
                ids.extend(found);
            }
        }
    }
    Ok(ids)
}

pub fn keygen(ctx: &Ctx, args: KeygenArgs) -> anyhow::Result<u8> {
    let path = match args.output {
        Some(p) => ctx.cwd.join(p),
        None => default_identity().ok_or_else(|| {
            hinted(
                "cannot find your home folder, so there is no default place for your identity",
                "set HOME (or XDG_CONFIG_HOME), or pass --output FILE outside any repository",
            )
        })?,
    };
    if let Some(root) = crate::git::committable_in(&path) {
        return Err(hinted(
            format!(
                "{} is inside the git work tree at {}, where `git add` would commit your private key; nothing was written",
                path.display(),
                root.display()
            ),
            "pass --output with a path outside every repository (or one git ignores), or set HOME / XDG_CONFIG_HOME to your own folders",
        ));
    }
    if path.exists() {
        return Err(hinted(
            format!("{} already exists; an identity is never overwritten", path.display()),
            "keep using it, or remove it yourself if you really mean to lose access to what it opens",
        ));
    }
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let (secret, public) = crypt::generate_identity();
    let text = format!(
        "# envault identity: keep this file private\n# public key: {public}\n{}\n",
        secret.as_str()
    );
    fsutil::write_atomic(&Snapshot::new(&path, None), text.as_bytes())?;
    emit(&format!(
        "Wrote your identity to {}\nYour recipient (share it; list it under recipients: in .envault.yml):\n{public}\n",
        path.display()
    ))?;
    Ok(0)
}

/// The data key and header of a loaded environment: opened with the user's identities when the
/// file is encrypted already, else new and wrapped to its recipients.
fn key_for(
    ctx: &Ctx,
    config: &Config,
    name: &str,
    loaded: &Loaded,
) -> anyhow::Result<(DataKey, Header)> {
    let label = loaded.path().display().to_string();
    if let Some(header) = crypt::header_of(&loaded.doc)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot read the header of {label}")))?
    {
        let key = open_loaded_key(ctx, loaded, &header, Some(name))?;
        // A version 1 header is upgraded on this write: the same key block, now bound to the
        // key by a commitment and a MAC (nobody gains or loses access).
        let header = header.upgraded(&key);
        return Ok((key, header));
    }
    let env = config.env(name)?;
    let texts = config.recipients_of(env);
    if texts.is_empty() {
        return Err(hinted(
            format!("{name} has no recipients: nobody could decrypt {label}"),
            "run `envault keygen`, then list the printed age1… key under recipients: in .envault.yml",
        ));
    }
    let recipients = texts
        .iter()
        .map(|t| t.parse::<Recipient>())
        .collect::<Result<Vec<_>, _>>()?;
    let key = DataKey::generate()?;
    let header = Header::seal_key(&key, &recipients)?;
    Ok((key, header))
}

pub fn open_key(ctx: &Ctx, label: &str, header: &Header) -> anyhow::Result<DataKey> {
    let ids = load_identities(ctx)?;
    header.unwrap(&ids).map_err(|error| {
        CannotDecrypt {
            label: label.to_owned(),
            error,
        }
        .into()
    })
}

/// A data key that none of the user's identities opens (or that cannot be opened at all).
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt {label}: {error}")]
pub struct CannotDecrypt {
    pub label: String,
    pub error: crypt::CryptError,
}

impl CannotDecrypt {
    pub fn no_identity(&self) -> bool {
        matches!(self.error, crypt::CryptError::NotARecipient { .. })
    }

    pub fn hint(&self) -> Option<String> {
        match &self.error {
            crypt::CryptError::NotARecipient { .. } => Some(
                "use --identity FILE or ENVAULT_IDENTITY / ENVAULT_IDENTITY_KEY, or ask a recipient to add you (envault recipients add)".to_owned(),
            ),
            crypt::CryptError::Tampered { .. } => Some(format!(
                "see who changed the `#envault:` lines (`git log -p -- {}`) and restore the header from a commit you trust",
                self.label
            )),
            _ => None,
        }
    }
}

/// Where this user's record of data-key commitments lives (the state folder, never the
/// repository): the commitment of every encrypted file they opened, by absolute path.
fn known_keys_path() -> Option<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state").map(|d| d.join("known-keys.json"))
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct KnownKeys {
    /// Absolute file path → the commitments (base64url) accepted for it: every key the user
    /// made or accepted, so switching between branches that hold different keys is fine.
    files: std::collections::BTreeMap<String, Vec<String>>,
}

fn known_key_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

fn read_known() -> anyhow::Result<Option<(PathBuf, Snapshot, KnownKeys)>> {
    let Some(path) = known_keys_path() else {
        return Ok(None);
    };
    let (snap, bytes) = fsutil::read(&path)?;
    let known = match bytes {
        Some(b) => serde_json::from_slice(&b).map_err(|e| {
            hinted(
                format!("{} is not valid: {e}", path.display()),
                "remove it: every encrypted file's key is then recorded again the next time you open it",
            )
        })?,
        None => KnownKeys::default(),
    };
    Ok(Some((path, snap, known)))
}

fn write_known(path: &Path, snap: &Snapshot, known: &KnownKeys) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    fsutil::write_atomic(
        snap,
        (serde_json::to_string_pretty(known)? + "\n").as_bytes(),
    )?;
    Ok(())
}

/// Records `header`'s commitment as the one this user accepts for the file at `path`.
pub fn record_known(path: &Path, header: &Header) -> anyhow::Result<()> {
    check_or_record(path, header, None)
}

/// With `refuse_if_changed`, refuses a commitment other than those accepted for `path` (a
/// file never seen is recorded); without it, records the commitment as accepted. Nothing is
/// recorded for a version 1 header, or without a state folder.
fn check_or_record(
    path: &Path,
    header: &Header,
    refuse_if_changed: Option<&dyn Fn(&str) -> anyhow::Error>,
) -> anyhow::Result<()> {
    let Some(c) = header.commitment_text() else {
        return Ok(());
    };
    let Some((state, snap, mut known)) = read_known()? else {
        return Ok(());
    };
    let accepted = known.files.entry(known_key_name(path)).or_default();
    if accepted.contains(&c) {
        return Ok(());
    }
    if let (Some(refuse), false) = (refuse_if_changed, accepted.is_empty()) {
        return Err(refuse(&c));
    }
    accepted.push(c);
    write_known(&state, &snap, &known)
}

/// Trust in a data key is anchored outside the file: the first time this user opens a working
/// file its commitment is recorded; later, a file whose commitment changed is refused (someone
/// who knows only the public recipients can write a new key, and every value sealed under it
/// would be theirs to read) until the user accepts it (`envault accept`) or re-keys.
fn check_known(l: &Loaded, header: &Header, env: Option<&str>) -> anyhow::Result<()> {
    if !l.working_file {
        return Ok(());
    }
    let refuse = |c: &str| {
        hinted(
            format!(
                "the data key of {} changed to one you never accepted (commitment {}…); nothing was read or written",
                l.path().display(),
                &c[..c.len().min(10)]
            ),
            format!(
                "review who changed it and why: `envault accept {}` shows the commit and records the new key once you agree",
                env.unwrap_or("<env>")
            ),
        )
    };
    check_or_record(l.path(), header, Some(&refuse))
}

/// Opens a loaded file's data key: the header checked against it, and its commitment against
/// the one this user accepted.
pub(crate) fn open_loaded_key(
    ctx: &Ctx,
    l: &Loaded,
    header: &Header,
    env: Option<&str>,
) -> anyhow::Result<DataKey> {
    let key = open_key(ctx, &l.path().display().to_string(), header)?;
    check_known(l, &header.upgraded(&key), env)?;
    Ok(key)
}

/// Whether a loaded file carries an envault encryption header.
pub fn is_encrypted(l: &Loaded) -> bool {
    !l.doc.leading_lines(crypt::HEADER_PREFIX).is_empty()
}

/// Warns about values left in clear in an encrypted file, other than `plaintext_keys`:
/// `envault encrypt` seals them.
pub fn warn_clear_values(l: &Loaded, plaintext_keys: &crate::glob::GlobSet) {
    let clear: Vec<String> = crypt::clear_keys(&l.doc)
        .into_iter()
        .filter(|k| !plaintext_keys.matches(k))
        .collect();
    if !clear.is_empty() {
        warn(&format!(
            "{} is encrypted but {} {} in clear; `envault encrypt` seals {}",
            l.path().display(),
            clear.join(", "),
            if clear.len() == 1 { "is" } else { "are" },
            if clear.len() == 1 { "it" } else { "them" },
        ));
    }
}

/// Replaces an encrypted document by its plaintext, for commands that only read it.
/// With the config's `plaintext_keys`, values left in clear beyond them are warned about.
pub fn decrypt_for_reading(
    ctx: &Ctx,
    l: &mut Loaded,
    plaintext_keys: Option<&crate::glob::GlobSet>,
) -> anyhow::Result<()> {
    if !is_encrypted(l) {
        return Ok(());
    }
    if let Some(p) = plaintext_keys {
        warn_clear_values(l, p);
    }
    let label = l.path().display().to_string();
    let header = crypt::header_of(&l.doc)?.expect("is_encrypted checked the header");
    let env = l.working_file.then(|| l.label.clone());
    let key = open_loaded_key(ctx, l, &header, env.as_deref())?;
    l.doc = crypt::decrypt_document(&l.doc, &key, &header)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot decrypt {label}")))?;
    Ok(())
}

/// An encrypted file opened for editing; its document holds the plaintext meanwhile.
pub struct Sealing {
    key: DataKey,
    header: Header,
    old_sealed: crate::dotenv::Document,
    old_plain: crate::dotenv::Document,
}

impl Sealing {
    /// Seals `key` with a fresh nonce on the next write even if its value did not change: an
    /// explicit `set` of a value brought back from history makes it a new sealed value.
    pub fn seal_afresh(&mut self, key: &str) {
        self.old_plain.remove(key);
    }
}

/// Prepares a file that a command will write. When it is encrypted (or declared
/// `encrypted: true`, which makes a new file encrypted), its document is replaced by the
/// plaintext for the command to edit; [`seal_for_writing`] seals the result again.
pub fn open_for_writing(
    ctx: &Ctx,
    config: &Config,
    env: &str,
    l: &mut Loaded,
) -> anyhow::Result<Option<Sealing>> {
    let declared = config.env(env)?.encrypted == Some(true);
    if !is_encrypted(l) && !declared {
        return Ok(None);
    }
    let (key, header) = key_for(ctx, config, env, l)?;
    let old_sealed = l.doc.clone();
    if is_encrypted(l) {
        warn_clear_values(l, &config.plaintext_keys);
        l.doc = crypt::decrypt_document(&l.doc, &key, &header).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot decrypt {}", l.path().display()))
        })?;
    } else if l.doc.entries().next().is_some() {
        warn(&format!(
            "{} is declared `encrypted: true` but holds values in clear; they are sealed now",
            l.path().display()
        ));
    }
    let old_plain = l.doc.clone();
    Ok(Some(Sealing {
        key,
        header,
        old_sealed,
        old_plain,
    }))
}

/// Opens an encrypted file for editing without a config (`rotate --undo`): values that were in
/// clear stay in clear. Returns the sealing and the keys to keep in clear.
pub fn open_file_for_writing(
    ctx: &Ctx,
    l: &mut Loaded,
) -> anyhow::Result<Option<(Sealing, crate::glob::GlobSet)>> {
    if !is_encrypted(l) {
        return Ok(None);
    }
    let clear = crypt::clear_keys(&l.doc);
    let label = l.path().display().to_string();
    let header = crypt::header_of(&l.doc)?.expect("is_encrypted checked the header");
    let key = open_loaded_key(ctx, l, &header, None)?;
    let header = header.upgraded(&key);
    let old_sealed = l.doc.clone();
    l.doc = crypt::decrypt_document(&l.doc, &key, &header)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot decrypt {label}")))?;
    let old_plain = l.doc.clone();
    let sealing = Sealing {
        key,
        header,
        old_sealed,
        old_plain,
    };
    Ok(Some((sealing, crate::glob::GlobSet::new(clear))))
}

/// Seals an edited plaintext document again, keeping the ciphertext of unchanged values;
/// `plaintext_keys` stay in clear.
pub fn seal_for_writing(
    sealing: Option<&Sealing>,
    plaintext_keys: &crate::glob::GlobSet,
    l: &mut Loaded,
) -> anyhow::Result<()> {
    if let Some(s) = sealing {
        crypt::reseal_document(
            &mut l.doc,
            &s.old_sealed,
            &s.old_plain,
            &s.key,
            &s.header,
            plaintext_keys,
        )
        .map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot encrypt {}", l.path().display()))
        })?;
    }
    Ok(())
}

pub fn encrypt(ctx: &Ctx, args: EncryptArgs) -> anyhow::Result<u8> {
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
    Ok(0)
}

/// Seals the values in clear of `names` (all files written together, or none); returns what
/// was done, a line per file.
pub fn encrypt_envs(ctx: &Ctx, config: &Config, names: &[String]) -> anyhow::Result<String> {
    let config = config.clone();
    let mut loaded = Vec::new();
    let mut report = String::new();
    for name in names {
        let mut l = source::load_env(&config, name, false)?;
        let was_v1 = crypt::header_of(&l.doc)
            .ok()
            .flatten()
            .is_some_and(|h| h.version < crypt::HEADER_VERSION);
        let (key, header) = key_for(ctx, &config, name, &l)?;
        let before = l.doc.render();
        let sealed = crypt::encrypt_document(&mut l.doc, &key, &header, &config.plaintext_keys)
            .map_err(|e| {
                anyhow::Error::new(e).context(format!("cannot encrypt {}", l.path().display()))
            })?;
        let clear = crypt::clear_keys(&l.doc).len();
        let upgraded = sealed == 0 && was_v1;
        if upgraded {
            report.push_str(&format!(
                "{}: header upgraded to format version {} (same data key, same recipients)\n",
                l.path().display(),
                crypt::HEADER_VERSION
            ));
            loaded.push(l);
        } else if l.doc.render() == before {
            report.push_str(&format!(
                "{}: already encrypted; nothing to do\n",
                l.path().display()
            ));
        } else {
            report.push_str(&format!(
                "{}: {sealed} value{} sealed, {clear} left in clear (plaintext_keys); recipients: {}\n",
                l.path().display(),
                if sealed == 1 { "" } else { "s" },
                header.recipients.join(", ")
            ));
            loaded.push(l);
        }
    }
    super::write_all(loaded.iter())?;
    // The user's own new keys (and upgraded headers) are the ones they accept.
    for l in &loaded {
        if let Ok(Some(h)) = crypt::header_of(&l.doc) {
            record_known(l.path(), &h)?;
        }
    }
    Ok(report)
}

pub fn decrypt(ctx: &Ctx, args: DecryptArgs) -> anyhow::Result<u8> {
    if !args.stdout && !args.in_place {
        return Err(hinted(
            "say where the plaintext goes",
            "use --stdout to print it, or --in-place --yes to write it back into the file",
        ));
    }
    let config = ctx.load_config()?;
    config.env(&args.env)?;
    let l = source::load_env(&config, &args.env, false)?;
    let label = l.path().display().to_string();
    let Some(header) = crypt::header_of(&l.doc)? else {
        return Err(hinted(
            format!("{label} is not encrypted"),
            format!("read it directly, or run `envault encrypt {}`", args.env),
        ));
    };
    let key = open_loaded_key(ctx, &l, &header, Some(&args.env))?;
    let plain = crypt::decrypt_document(&l.doc, &key, &header)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot decrypt {label}")))?;
    let text = zeroize::Zeroizing::new(plain.render());
    if args.stdout {
        emit(&text)?;
    } else {
        // Secrets in clear: private (0600) whatever the file's mode was.
        fsutil::write_atomic_private(&l.snapshot, text.as_bytes())?;
        emit(&format!("{label}: written in clear (mode 0600)\n"))?;
    }
    Ok(0)
}
