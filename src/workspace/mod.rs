//! The one way to open an environment file's data key and to edit an encrypted file. Every
//! command goes through [`Keys`], so its rules hold in one place: the header is verified
//! against the key (`Header::unwrap`), the key is checked against the user's own record of
//! accepted keys (trust anchored outside the repository), a version 1 header is upgraded on the
//! next write, and on writing, unchanged values keep their ciphertext while changed ones are
//! sealed afresh. Identities and the record's location come from the caller (the cli reads the
//! environment); nothing here prints.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::crypt::{self, CryptError, DataKey, DocError, Header, Identities, Recipient};
use crate::dotenv::Document;
use crate::fsutil::{self, FsError, Snapshot};
use crate::glob::GlobSet;
use crate::source::Loaded;

mod identities;
mod merge_driver;
mod rotation;
pub use merge_driver::{MergeFiles, MergeOutcome, Refusal};
pub use rotation::{commit_rotation, rotations, RotationTarget, Undone};
mod scratch;
pub use identities::{create_identity, default_identity, load_identities, own_recipients};
pub use scratch::Scratch;

/// Why a file's key could not be opened, or a file could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// A data key that none of the user's identities opens (or that cannot be opened at all).
    #[error("cannot decrypt {label}: {error}")]
    CannotDecrypt { label: String, error: CryptError },
    #[error("the data key of {} changed to one you never accepted (commitment {}…); nothing was read or written", .path.display(), &.commitment[..10.min(.commitment.len())])]
    KeyNotAccepted {
        path: PathBuf,
        commitment: String,
        env: Option<String>,
    },
    #[error("the data key of {} is one that a newer key replaced (a reader was removed since, and holds it); nothing was written", .path.display())]
    KeyRetired { path: PathBuf, env: Option<String> },
    #[error("{} has a version {version} header, but you accepted a version 2 key for it: the header was downgraded, which unbinds its recipient lines; nothing was read or written", .path.display())]
    Downgraded { path: PathBuf, version: u8 },
    #[error("{env} has no recipients: nobody could decrypt {label}")]
    NoRecipients { env: String, label: String },
    #[error("the temporary folder {} is inside the git work tree at {}: the decrypted file would be one `git add` away from a commit; nothing was written", .tmp.display(), .root.display())]
    ScratchInWorkTree { tmp: PathBuf, root: PathBuf },
    #[error("cannot find your home folder, so there is no place for rotation backups")]
    NoStateFolder,
    #[error(transparent)]
    Rotate(#[from] crate::rotate::RotateError),
    #[error(transparent)]
    Backup(#[from] crate::rotate::BackupError),
    #[error(transparent)]
    Edit(#[from] crate::dotenv::EditError),
    #[error("{label} is not encrypted")]
    NotEncrypted { label: String, env: String },
    #[error("cannot read the header of {label}")]
    Header {
        label: String,
        #[source]
        error: CryptError,
    },
    #[error("cannot {action} {label}")]
    Document {
        action: &'static str,
        label: String,
        #[source]
        error: DocError,
    },
    #[error("{} is not valid: {msg}", .path.display())]
    BadRecord { path: PathBuf, msg: String },
    #[error(transparent)]
    Crypt(#[from] CryptError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The environment's file could not be read (its own error says why).
    #[error(transparent)]
    Load(#[from] crate::source::LoadError),
    #[error("{} is inside the git work tree at {}, where `git add` would commit your private key; nothing was written", .path.display(), .root.display())]
    IdentityInWorkTree { path: PathBuf, root: PathBuf },
    #[error("{} already exists; an identity is never overwritten", .0.display())]
    IdentityExists(PathBuf),
    #[error("cannot read identity {}", .path.display())]
    IdentityFile {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

impl crate::error::Hint for WorkspaceError {
    fn hint(&self) -> Option<String> {
        match self {
            WorkspaceError::CannotDecrypt { label, error } => match error {
                CryptError::NotARecipient { .. } => Some(
                    "use --identity FILE or ENVAULT_IDENTITY / ENVAULT_IDENTITY_KEY, or ask a recipient to add you (envault recipients add)".to_owned(),
                ),
                CryptError::Tampered { .. } => Some(format!(
                    "see who changed the `#envault:` lines (`git log -p -- {label}`) and restore the header from a commit you trust"
                )),
                _ => None,
            },
            WorkspaceError::KeyNotAccepted { env, .. } => Some(format!(
                "review who changed it and why: `envault accept {}` shows the commit and records the new key once you agree",
                env.as_deref().unwrap_or("<env>")
            )),
            WorkspaceError::KeyRetired { path, env } => Some(format!(
                "a file restored from before a `recipients remove` brings back a key the removed reader holds: restore it from the commit with the current key (`git log -p -- {}`); if this is an old branch, merge the current one into it; to use this key anyway, review it with `envault accept {}`",
                path.display(),
                env.as_deref().unwrap_or("<env>")
            )),
            WorkspaceError::Downgraded { path, .. } => Some(format!(
                "restore the header from a commit you trust (`git log -p -- {}`); envault itself never writes an older version",
                path.display()
            )),
            WorkspaceError::NoRecipients { .. } => Some(
                "run `envault keygen`, then list the printed age1… key under recipients: in .envault.yml".to_owned(),
            ),
            WorkspaceError::BadRecord { .. } => Some(
                "remove it: every encrypted file's key is then recorded again the next time you open it".to_owned(),
            ),
            WorkspaceError::Header { label, .. } => Some(format!(
                "see who changed the `#envault:` lines (`git log -p -- {label}`) and restore the header from a commit you trust; nothing was read or written"
            )),
            WorkspaceError::ScratchInWorkTree { .. } => {
                Some("set TMPDIR to a folder outside every repository".to_owned())
            }
            WorkspaceError::NoStateFolder => Some("set HOME (or XDG_STATE_HOME)".to_owned()),
            WorkspaceError::Rotate(e) => e.hint(),
            WorkspaceError::Backup(e) => e.hint(),
            WorkspaceError::Edit(e) => e.hint(),
            WorkspaceError::NotEncrypted { env, .. } => Some(format!(
                "read it directly, or run `envault encrypt {env}`"
            )),
            WorkspaceError::Config(e) => e.hint(),
            WorkspaceError::Fs(e) => e.hint(),
            WorkspaceError::Git(e) => e.hint(),
            WorkspaceError::Store(e) => e.hint(),
            WorkspaceError::IdentityInWorkTree { .. } => Some(
                "pass --output with a path outside every repository (or one git ignores), or set HOME / XDG_CONFIG_HOME to your own folders".to_owned(),
            ),
            WorkspaceError::IdentityExists(_) => Some(
                "keep using it, or remove it yourself if you really mean to lose access to what it opens".to_owned(),
            ),
            WorkspaceError::Load(e) => e.hint(),
            _ => None,
        }
    }

    fn excerpt(&self) -> Option<crate::error::Excerpt> {
        match self {
            WorkspaceError::Load(e) => e.excerpt(),
            _ => None,
        }
    }
}

impl WorkspaceError {
    /// The user holds no identity that opens the key (as opposed to a broken file).
    pub fn no_identity(&self) -> bool {
        matches!(
            self,
            WorkspaceError::CannotDecrypt {
                error: CryptError::NotARecipient { .. },
                ..
            }
        )
    }
}

type Result<T, E = WorkspaceError> = std::result::Result<T, E>;

/// What the user brings to open encrypted files: their identities (loaded the first time a key
/// is needed), their record of accepted data keys, and where warnings go.
pub struct Keys<'a> {
    load: Box<dyn Fn() -> Result<Identities> + 'a>,
    identities: OnceCell<Arc<Identities>>,
    /// The record of accepted keys (`known-keys.json` in the user's state folder); `None`
    /// when the user has no state folder.
    record: Option<PathBuf>,
    warn: Box<dyn Fn(&str) + 'a>,
}

/// The record of accepted keys: each name a file is known by (see [`record_names`]) → the
/// commitment (base64url) accepted for it, the key the user made or accepted last.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct KnownKeys {
    files: std::collections::BTreeMap<String, Vec<String>>,
    /// Keys a newer one replaced (a `recipients remove` re-keys because the removed reader
    /// holds the old key): a file restored with one of them is refused.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    retired: std::collections::BTreeMap<String, Vec<String>>,
}

/// The names the record knows a loaded file by: the environment (config file and name) when
/// it was loaded as one, its path as declared (absolute, links not followed: a link put in its
/// place, or in a folder on the way, changes nothing), and the file id.
fn record_names(l_path: &Path, env_id: Option<&str>, header: &Header) -> Vec<String> {
    // Every folder a command runs from names it alike.
    let path = crate::confine::absolute_lexical(l_path);
    let mut names = vec![
        format!("{}", path.display()),
        format!("id:{}", crypt::file_id_text(header)),
    ];
    if let Some(e) = env_id {
        names.push(format!("env:{e}"));
    }
    names
}

/// An encrypted file opened for editing; the loaded document holds the plaintext meanwhile.
pub struct Sealing {
    key: DataKey,
    header: Header,
    old_sealed: Document,
    old_plain: Document,
}

impl Sealing {
    /// Seals `key` with a fresh nonce on the next write even if its value did not change: an
    /// explicit `set` of a value brought back from history makes it a new sealed value.
    pub fn seal_afresh(&mut self, key: &str) {
        self.old_plain.remove(key);
    }

    /// The header the file is written with.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

/// A loaded file's header; an unreadable or damaged one is an error naming the file.
fn header_of(l: &Loaded) -> Result<Option<Header>> {
    crypt::header_of(&l.doc).map_err(|error| WorkspaceError::Header {
        label: l.path().display().to_string(),
        error,
    })
}

/// A loaded file's values opened with its key.
fn decrypted(l: &Loaded, key: &DataKey, header: &Header) -> Result<Document> {
    crypt::decrypt_document(&l.doc, key, header).map_err(|error| WorkspaceError::Document {
        action: "decrypt",
        label: l.path().display().to_string(),
        error,
    })
}

/// What a command does with a file's key: a key that a newer one replaced may still be read
/// (with a warning), never written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether a loaded file is encrypted: it carries an envault header, or a damaged one (which
/// reading it then reports, rather than taking the file for plaintext).
pub fn is_encrypted(l: &Loaded) -> bool {
    crypt::header_of(&l.doc).map_or(true, |h| h.is_some())
}

impl<'a> Keys<'a> {
    /// `load` gives the user's identities; `record` is their record of accepted keys; `warn`
    /// receives warnings (values left in clear in an encrypted file).
    pub fn new(
        load: impl Fn() -> Result<Identities> + 'a,
        record: Option<PathBuf>,
        warn: impl Fn(&str) + 'a,
    ) -> Keys<'a> {
        Keys {
            load: Box::new(load),
            identities: OnceCell::new(),
            record,
            warn: Box::new(warn),
        }
    }

    /// The user's identities, loaded once.
    pub fn identities(&self) -> Result<&Identities> {
        Ok(self.shared_identities()?)
    }

    fn shared_identities(&self) -> Result<&Arc<Identities>> {
        if let Some(ids) = self.identities.get() {
            return Ok(ids);
        }
        let ids = Arc::new((self.load)()?);
        Ok(self.identities.get_or_init(|| ids))
    }

    /// Opens the store `name` of `config`, declared as `spec`, for this user: endpoints are
    /// checked against what they trust (`Trust::of_user`) before any credential is read; a
    /// file store opens with their identities and is sealed to their own keys, else to the
    /// project's recipients.
    pub async fn open_store(
        &self,
        config: &Config,
        name: &str,
        spec: &crate::config::StoreSpec,
    ) -> Result<crate::store::Store> {
        use crate::config::StoreSpec;
        let (identities, recipients) = if matches!(spec, StoreSpec::File { .. }) {
            let own = own_recipients();
            let recipients = if own.is_empty() {
                config.recipients.clone()
            } else {
                own
            };
            (self.shared_identities()?.clone(), recipients)
        } else {
            (Arc::new(Identities::empty()), Vec::new())
        };
        let trust = crate::store::trust::Trust::of_user();
        let cx = crate::store::Context {
            trust: &trust,
            identities,
            recipients,
            config_dir: config.path.parent().map(PathBuf::from).unwrap_or_default(),
            root: config.root.clone(),
            home: crate::env_vars::folders().home.clone(),
        };
        Ok(crate::store::open(name, spec, &cx).await?)
    }

    /// Opens `header`'s data key with the user's identities; `label` names the file in errors.
    /// The header is verified against the key. This does not consult the record of accepted
    /// keys: use [`Keys::open`] for a working file.
    pub fn open_header(&self, label: &str, header: &Header) -> Result<DataKey> {
        header
            .unwrap(self.identities()?)
            .map_err(|error| WorkspaceError::CannotDecrypt {
                label: label.to_owned(),
                error,
            })
    }

    /// Opens a loaded file's data key: the header checked against it, and (for a working file)
    /// its commitment against the ones this user accepted.
    pub fn open(
        &self,
        l: &Loaded,
        header: &Header,
        env: Option<&str>,
        access: Access,
    ) -> Result<DataKey> {
        let key = self.open_header(&l.path().display().to_string(), header)?;
        if l.working_file {
            if header.version < crypt::HEADER_VERSION {
                self.refuse_downgrade(l, header)?;
            }
            self.check_or_record(l, &header.upgraded(&key), Some((env, access)))?;
        }
        Ok(key)
    }

    /// Records `header`'s commitment as one this user accepts for the file at `path` (a key
    /// they made, or one they reviewed).
    pub fn accept(&self, l: &Loaded, header: &Header) -> Result<()> {
        self.check_or_record(l, header, None)
    }

    fn read_record(&self) -> Result<Option<(PathBuf, Snapshot, KnownKeys)>> {
        let Some(path) = self.record.clone() else {
            return Ok(None);
        };
        let (snap, bytes) = fsutil::read(&path)?;
        let known = match bytes {
            Some(b) => serde_json::from_slice(&b).map_err(|e| WorkspaceError::BadRecord {
                path: path.clone(),
                msg: e.to_string(),
            })?,
            None => KnownKeys::default(),
        };
        Ok(Some((path, snap, known)))
    }

    /// Refuses a version 1 header for a file this user accepted a version 2 key for: envault
    /// never writes an older version, and a downgrade unbinds the recipient lines.
    fn refuse_downgrade(&self, l: &Loaded, header: &Header) -> Result<()> {
        let Some((_, _, known)) = self.read_record()? else {
            return Ok(());
        };
        let names = record_names(l.path(), l.env_id.as_deref(), header);
        if names
            .iter()
            .any(|n| known.files.get(n).is_some_and(|a| !a.is_empty()))
        {
            return Err(WorkspaceError::Downgraded {
                path: l.path().to_owned(),
                version: header.version,
            });
        }
        Ok(())
    }

    /// With `refuse` (`Some(env)`), refuses a key other than the one accepted for `path` (a
    /// file never seen is recorded) and, for writing, a key that a newer one replaced. Without
    /// it, records the key as the one accepted for `path`, retiring the one it replaces.
    /// Nothing is recorded for a version 1 header, or without a record.
    fn check_or_record(
        &self,
        l: &Loaded,
        header: &Header,
        refuse: Option<(Option<&str>, Access)>,
    ) -> Result<()> {
        let Some(c) = header.commitment_text() else {
            return Ok(());
        };
        let Some((record, snap, mut known)) = self.read_record()? else {
            return Ok(());
        };
        let env = || refuse.and_then(|(e, _)| e).map(str::to_owned);
        // A file is known by its path, its file id and its environment: a key is judged
        // against each name's key wherever the file now sits and whatever the config calls it.
        let path = l.path();
        let names = record_names(path, l.env_id.as_deref(), header);
        let has = |m: &std::collections::BTreeMap<String, Vec<String>>, n: &String| {
            m.get(n).is_some_and(|a| a.contains(&c))
        };
        if names.iter().all(|n| has(&known.files, n)) {
            return Ok(());
        }
        if let Some((_, access)) = refuse {
            let accepted_somewhere = names.iter().any(|n| has(&known.files, n));
            if !accepted_somewhere && names.iter().any(|n| has(&known.retired, n)) {
                // Reading tells nothing a removed reader did not have; sealing new values under
                // their key would hand those to them.
                if access == Access::Read {
                    (self.warn)(&format!(
                        "the data key of {} is one that a newer key replaced (a reader was removed since): do not add secrets to this version",
                        path.display()
                    ));
                    return Ok(());
                }
                return Err(WorkspaceError::KeyRetired {
                    path: path.to_owned(),
                    env: env(),
                });
            }
            let other = names.iter().any(|n| {
                known
                    .files
                    .get(n)
                    .is_some_and(|a| !a.is_empty() && !a.contains(&c))
            });
            if other {
                return Err(WorkspaceError::KeyNotAccepted {
                    path: path.to_owned(),
                    commitment: c,
                    env: env(),
                });
            }
            for n in names {
                let accepted = known.files.entry(n).or_default();
                if !accepted.contains(&c) {
                    accepted.push(c.clone());
                }
            }
        } else {
            let mut replaced: Vec<String> = Vec::new();
            for n in &names {
                replaced.extend(
                    known
                        .files
                        .insert(n.clone(), vec![c.clone()])
                        .into_iter()
                        .flatten(),
                );
                if let Some(r) = known.retired.get_mut(n) {
                    r.retain(|r| *r != c);
                }
            }
            replaced.retain(|r| *r != c);
            // A replaced key is retired under every name it is known by (its file id too).
            for (n, accepted) in known.files.iter_mut().filter(|_| !replaced.is_empty()) {
                let before = accepted.len();
                accepted.retain(|a| !replaced.contains(a));
                if accepted.len() != before || names.contains(n) {
                    let retired = known.retired.entry(n.clone()).or_default();
                    for r in &replaced {
                        if !retired.contains(r) {
                            retired.push(r.clone());
                        }
                    }
                }
            }
        }
        if let Some(dir) = record.parent() {
            fsutil::create_private_dir(dir)?;
        }
        let text = serde_json::to_string_pretty(&known).expect("the record serializes") + "\n";
        fsutil::write_atomic(&snap, text.as_bytes())?;
        Ok(())
    }

    /// The data key and header of a loaded environment: opened with the user's identities when
    /// the file is encrypted already (a version 1 header upgraded: the same key block, now bound
    /// to the key), else new and wrapped to the environment's recipients.
    pub fn key_for(&self, config: &Config, name: &str, l: &Loaded) -> Result<(DataKey, Header)> {
        let label = l.path().display().to_string();
        if let Some(header) = header_of(l)? {
            let key = self.open(l, &header, Some(name), Access::Write)?;
            let header = header.upgraded(&key);
            return Ok((key, header));
        }
        let env = config.env(name)?;
        let texts = config.recipients_of(env);
        if texts.is_empty() {
            return Err(WorkspaceError::NoRecipients {
                env: name.to_owned(),
                label,
            });
        }
        let recipients = texts
            .iter()
            .map(|t| t.parse::<Recipient>())
            .collect::<Result<Vec<_>, _>>()?;
        let key = DataKey::generate()?;
        let header = Header::seal_key(&key, &recipients)?;
        // A key the user makes is one they accept (recorded before the write: a key that never
        // reaches the file opens nothing).
        if l.working_file {
            self.accept(l, &header)?;
        }
        Ok((key, header))
    }

    /// Warns about values left in clear in an encrypted file, other than `plaintext_keys`.
    fn warn_clear_values(&self, l: &Loaded, plaintext_keys: &GlobSet) {
        let clear: Vec<String> = crypt::clear_keys(&l.doc)
            .into_iter()
            .filter(|k| !plaintext_keys.matches(k))
            .collect();
        if !clear.is_empty() {
            (self.warn)(&format!(
                "{} is encrypted but {} {} in clear; `envault encrypt` seals {}",
                l.path().display(),
                clear.join(", "),
                if clear.len() == 1 { "is" } else { "are" },
                if clear.len() == 1 { "it" } else { "them" },
            ));
        }
    }

    /// Replaces an encrypted document by its plaintext, for commands that only read it. With
    /// the config's `plaintext_keys`, values left in clear beyond them are warned about.
    pub fn decrypt_for_reading(
        &self,
        l: &mut Loaded,
        plaintext_keys: Option<&GlobSet>,
    ) -> Result<()> {
        if !is_encrypted(l) {
            return Ok(());
        }
        if let Some(p) = plaintext_keys {
            self.warn_clear_values(l, p);
        }
        let header = header_of(l)?.expect("is_encrypted checked the header");
        let env = l.working_file.then(|| l.label.clone());
        let key = self.open(l, &header, env.as_deref(), Access::Read)?;
        l.doc = decrypted(l, &key, &header)?;
        Ok(())
    }

    /// Prepares a file that a command will write. When it is encrypted (or declared
    /// `encrypted: true`, which makes a new file encrypted), its document is replaced by the
    /// plaintext for the command to edit; [`seal_for_writing`] seals the result again.
    pub fn open_for_writing(
        &self,
        config: &Config,
        env: &str,
        l: &mut Loaded,
    ) -> Result<Option<Sealing>> {
        let declared = config.env(env)?.encrypted == Some(true);
        if !is_encrypted(l) && !declared {
            return Ok(None);
        }
        let (key, header) = self.key_for(config, env, l)?;
        let old_sealed = l.doc.clone();
        if is_encrypted(l) {
            self.warn_clear_values(l, &config.plaintext_keys);
            l.doc = decrypted(l, &key, &header)?;
        } else if l.doc.entries().next().is_some() {
            (self.warn)(&format!(
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

    /// Opens an encrypted file for editing without a config (`rotate --undo`): values that were
    /// in clear stay in clear. Returns the sealing and the keys to keep in clear.
    pub fn open_file_for_writing(&self, l: &mut Loaded) -> Result<Option<(Sealing, GlobSet)>> {
        if !is_encrypted(l) {
            return Ok(None);
        }
        let clear = crypt::clear_keys(&l.doc);
        let header = header_of(l)?.expect("is_encrypted checked the header");
        let key = self.open(l, &header, None, Access::Write)?;
        let header = header.upgraded(&key);
        let old_sealed = l.doc.clone();
        l.doc = decrypted(l, &key, &header)?;
        let old_plain = l.doc.clone();
        let sealing = Sealing {
            key,
            header,
            old_sealed,
            old_plain,
        };
        Ok(Some((sealing, GlobSet::new(clear))))
    }
}

/// An encrypted environment's plaintext, for `decrypt`.
pub struct InClear {
    pub loaded: Loaded,
    pub text: zeroize::Zeroizing<String>,
}

impl InClear {
    /// Writes the plaintext over the encrypted file, private (0600) whatever the file's mode
    /// was.
    pub fn write(&self) -> Result<()> {
        fsutil::write_atomic_private(&self.loaded.snapshot, self.text.as_bytes())?;
        Ok(())
    }
}

impl Keys<'_> {
    /// The plaintext of environment `name`, whose file must be encrypted.
    pub fn in_clear(&self, config: &Config, name: &str) -> Result<InClear> {
        config.env(name)?;
        let loaded = crate::source::load_env(config, name, false)?;
        let Some(header) = header_of(&loaded)? else {
            return Err(WorkspaceError::NotEncrypted {
                label: loaded.path().display().to_string(),
                env: name.to_owned(),
            });
        };
        let key = self.open(&loaded, &header, Some(name), Access::Read)?;
        let text = zeroize::Zeroizing::new(decrypted(&loaded, &key, &header)?.render());
        Ok(InClear { loaded, text })
    }
}

/// An environment opened for a change: its plaintext to edit, and how it is sealed again.
pub struct Editing {
    pub loaded: Loaded,
    /// Set when the file is encrypted (or declared `encrypted: true`).
    pub sealing: Option<Sealing>,
}

impl Editing {
    /// Seals the edited document again and writes it (see [`commit`]).
    pub fn commit(&mut self, plaintext_keys: &GlobSet) -> Result<()> {
        commit(self.sealing.as_ref(), plaintext_keys, &mut self.loaded)
    }
}

impl Keys<'_> {
    /// Environment `name` of `config`, read and opened: the document holds its plaintext.
    pub fn read(&self, config: &Config, name: &str) -> Result<Loaded> {
        config.env(name)?;
        let mut l = crate::source::load_env(config, name, false)?;
        self.decrypt_for_reading(&mut l, Some(&config.plaintext_keys))?;
        Ok(l)
    }

    /// Environment `name` of `config`, opened for a change (a missing file is an empty
    /// document, created on commit).
    pub fn edit(&self, config: &Config, name: &str) -> Result<Editing> {
        self.open_editing(config, name, true)
    }

    /// [`Keys::edit`] for a file that must exist.
    pub fn edit_existing(&self, config: &Config, name: &str) -> Result<Editing> {
        self.open_editing(config, name, false)
    }

    fn open_editing(&self, config: &Config, name: &str, allow_missing: bool) -> Result<Editing> {
        config.env(name)?;
        let mut loaded = crate::source::load_env(config, name, allow_missing)?;
        let sealing = self.open_for_writing(config, name, &mut loaded)?;
        Ok(Editing { loaded, sealing })
    }
}

/// What `encrypt` did to one environment's document (in memory; the caller writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encrypted {
    /// Nothing to seal, but a version 1 header was upgraded (same key, same recipients).
    Upgraded,
    /// Nothing changed.
    AlreadyEncrypted,
    /// Values sealed, values left in clear (`plaintext_keys`), and who can read them.
    Sealed {
        sealed: usize,
        clear: usize,
        recipients: Vec<String>,
    },
}

impl Keys<'_> {
    /// Seals the values in clear (except `plaintext_keys`) of environment `name`, loaded as
    /// `l`, under its data key (a new one for a file not encrypted yet).
    pub fn encrypt_env(
        &self,
        config: &Config,
        name: &str,
        mut l: Loaded,
    ) -> Result<(Loaded, Encrypted)> {
        let was_v1 = crypt::header_of(&l.doc)
            .ok()
            .flatten()
            .is_some_and(|h| h.version < crypt::HEADER_VERSION);
        let (key, header) = self.key_for(config, name, &l)?;
        let before = l.doc.render();
        let label = l.path().display().to_string();
        let sealed = crypt::encrypt_document(&mut l.doc, &key, &header, &config.plaintext_keys)
            .map_err(|error| WorkspaceError::Document {
                action: "encrypt",
                label,
                error,
            })?;
        let outcome = if sealed == 0 && was_v1 {
            Encrypted::Upgraded
        } else if l.doc.render() == before {
            Encrypted::AlreadyEncrypted
        } else {
            Encrypted::Sealed {
                sealed,
                clear: crypt::clear_keys(&l.doc).len(),
                recipients: header.recipients.clone(),
            }
        };
        Ok((l, outcome))
    }
}

impl Keys<'_> {
    /// Seals the values in clear of environments `names` ([`Keys::encrypt_env`]) and writes
    /// the files that changed, all together or none. The keys written are the ones this user
    /// accepts from then on. Returns each environment's file and what was done to it.
    pub fn encrypt_envs(
        &self,
        config: &Config,
        names: &[String],
    ) -> Result<Vec<(PathBuf, Encrypted)>> {
        let mut changed = Vec::new();
        let mut done = Vec::new();
        for name in names {
            config.env(name)?;
            let l = crate::source::load_env(config, name, false)?;
            let (l, outcome) = self.encrypt_env(config, name, l)?;
            done.push((l.path().to_owned(), outcome.clone()));
            if outcome != Encrypted::AlreadyEncrypted {
                changed.push(l);
            }
        }
        commit_all(changed.iter())?;
        for l in &changed {
            if let Some(h) = header_of(l)? {
                self.accept(l, &h)?;
            }
        }
        Ok(done)
    }
}

/// The encrypted environments of `config` that hold values in clear beyond its
/// `plaintext_keys` (what `check --fix` seals). Files that cannot be read are left to the
/// check itself to report.
pub fn with_values_in_clear(config: &Config) -> Vec<String> {
    config
        .environments
        .values()
        .filter(|e| e.encrypted == Some(true))
        .filter(|e| {
            crate::source::load_env(config, &e.name, false).is_ok_and(|l| {
                l.doc.entries().any(|x| {
                    !crypt::is_sealed(x.raw_value()) && !config.plaintext_keys.matches(x.key())
                })
            })
        })
        .map(|e| e.name.clone())
        .collect()
}

/// Seals an edited plaintext document again, keeping the ciphertext of unchanged values;
/// `plaintext_keys` stay in clear.
pub fn seal_for_writing(
    sealing: Option<&Sealing>,
    plaintext_keys: &GlobSet,
    l: &mut Loaded,
) -> Result<()> {
    if let Some(s) = sealing {
        crypt::reseal_document(
            &mut l.doc,
            &s.old_sealed,
            &s.old_plain,
            &s.key,
            &s.header,
            plaintext_keys,
        )
        .map_err(|error| WorkspaceError::Document {
            action: "encrypt",
            label: l.path().display().to_string(),
            error,
        })?;
    }
    Ok(())
}

/// Seals an edited document again (as [`seal_for_writing`]) and writes it atomically, unless
/// the file changed since it was read: the last step of every edit of one working file.
pub fn commit(sealing: Option<&Sealing>, plaintext_keys: &GlobSet, l: &mut Loaded) -> Result<()> {
    seal_for_writing(sealing, plaintext_keys, l)?;
    fsutil::write_atomic(&l.snapshot, l.doc.render().as_bytes())?;
    Ok(())
}

/// Writes loaded documents back, all at once or not at all (new files get mode 0600).
pub fn commit_all<'a>(docs: impl Iterator<Item = &'a Loaded>) -> Result<()> {
    let docs: Vec<&Loaded> = docs.collect();
    let rendered: Vec<String> = docs.iter().map(|l| l.doc.render()).collect();
    let writes: Vec<fsutil::FileWrite> = docs
        .iter()
        .zip(&rendered)
        .map(|(l, text)| fsutil::FileWrite {
            snapshot: &l.snapshot,
            contents: text.as_bytes(),
            new_mode: 0o600,
        })
        .collect();
    fsutil::write_all_atomic(&writes)?;
    Ok(())
}

/// Gives `recipients` (the current ones and new ones) the file's data key: the key block is
/// wrapped again, the values are untouched, and the file is written.
pub fn rewrap(
    l: &mut Loaded,
    key: &DataKey,
    header: &Header,
    recipients: &[Recipient],
) -> Result<()> {
    let wrapped = Header::wrap(key, header.file_id, recipients)?;
    l.doc
        .set_leading_lines(crypt::HEADER_PREFIX, &wrapped.lines());
    fsutil::write_atomic(&l.snapshot, l.doc.render().as_bytes())?;
    Ok(())
}

/// Takes a reader away: a new data key for `remaining`, every sealed value sealed again under
/// it (values in clear stay in clear), and the file written. Returns the new header and the
/// keys whose values the removed reader could read.
pub fn rekey(
    l: &mut Loaded,
    key: &DataKey,
    header: &Header,
    remaining: &[Recipient],
) -> Result<(Header, Vec<String>)> {
    let label = l.path().display().to_string();
    let doc_err = |action: &'static str| {
        let label = label.clone();
        move |error| WorkspaceError::Document {
            action,
            label,
            error,
        }
    };
    let clear = crypt::clear_keys(&l.doc);
    let exposed: Vec<String> = l
        .doc
        .entries()
        .filter(|e| crypt::is_sealed(e.raw_value()))
        .map(|e| e.key().to_owned())
        .collect();
    let mut plain = crypt::decrypt_document(&l.doc, key, header).map_err(doc_err("decrypt"))?;
    let new_key = DataKey::generate()?;
    let new_header = Header::seal_key(&new_key, remaining)?;
    crypt::encrypt_document(&mut plain, &new_key, &new_header, &GlobSet::new(clear))
        .map_err(doc_err("encrypt"))?;
    l.doc = plain;
    fsutil::write_atomic(&l.snapshot, l.doc.render().as_bytes())?;
    Ok((new_header, exposed))
}
