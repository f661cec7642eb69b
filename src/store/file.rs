//! A local store: a dotenv document encrypted with age to the user's own key (readable with
//! `age -d -i ~/.config/envault/identity.txt`). The zero-setup store for trying the commands.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Context, Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};
use crate::crypt::{age_open, age_seal, Identities, Recipient};
use crate::dotenv::{Document, Edit};
use crate::error::Hint;
use crate::fsutil;

pub struct FileStore {
    named: Named,
    path: PathBuf,
    identities: Arc<Identities>,
    recipients: Vec<String>,
    /// Serialises read-modify-write cycles.
    lock: tokio::sync::Mutex<()>,
}

impl FileStore {
    pub fn open(name: &str, path: &str, cx: &Context<'_>) -> Result<FileStore, StoreError> {
        let expanded = match (path.strip_prefix("~/"), &cx.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => cx.config_dir.join(path),
        };
        // The path comes from the repository: it must stay inside it (or a folder the user
        // allowed), symlinks followed.
        cx.root.confine(&expanded).map_err(|e| {
            Named {
                name: name.to_owned(),
                endpoint: expanded.display().to_string(),
            }
            .err_hint(
                ErrorKind::Config,
                e.to_string(),
                e.hint().unwrap_or_default(),
            )
        })?;
        Ok(FileStore {
            named: Named {
                name: name.to_owned(),
                endpoint: expanded.display().to_string(),
            },
            path: expanded,
            identities: cx.identities.clone(),
            recipients: cx.recipients.clone(),
            lock: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> Result<(fsutil::Snapshot, Document), StoreError> {
        let (snap, bytes) = fsutil::read(&self.path)
            .map_err(|e| self.named.err(ErrorKind::Unavailable, e.to_string()))?;
        let Some(bytes) = bytes else {
            return Ok((snap, Document::default()));
        };
        // Armored or binary (what `age -e` writes by default): age reads both.
        let plain = age_open(&bytes, &self.identities).map_err(|e| {
            let what = match e {
                crate::crypt::CryptError::NotARecipient { .. } => {
                    "none of your identities opens the store file".to_owned()
                }
                crate::crypt::CryptError::Unwrap(m) => {
                    format!("the store file is not an age file envault can open: {m}")
                }
                other => format!("cannot open the store file: {other}"),
            };
            self.named.err_hint(
                ErrorKind::Auth,
                what,
                "the file store opens with your identity (`envault keygen`, ENVAULT_IDENTITY)",
            )
        })?;
        let doc = Document::parse_bytes(&plain).map_err(|e| {
            self.named.err(
                ErrorKind::Invalid,
                format!("the store file is not a valid env file: {e}"),
            )
        })?;
        Ok((snap, doc))
    }

    fn write(&self, snap: &fsutil::Snapshot, doc: &Document) -> Result<(), StoreError> {
        let recipients: Vec<Recipient> = self
            .recipients
            .iter()
            .map(|r| r.parse())
            .collect::<Result<_, _>>()
            .map_err(|e: crate::crypt::CryptError| {
                self.named.err(ErrorKind::Config, e.to_string())
            })?;
        if recipients.is_empty() {
            return Err(self.named.err_hint(
                ErrorKind::Config,
                "no key to encrypt the store file to",
                "create your identity with `envault keygen`",
            ));
        }
        let sealed = age_seal(doc.render().as_bytes(), &recipients)
            .map_err(|e| self.named.err(ErrorKind::Config, e.to_string()))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| self.named.err(ErrorKind::Unavailable, e.to_string()))?;
        }
        fsutil::write_atomic(snap, sealed.as_bytes())
            .map_err(|e| self.named.err(ErrorKind::Unavailable, e.to_string()))
    }
}

impl SecretStore for FileStore {
    fn named(&self) -> &Named {
        &self.named
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            paths: false,
            typed_secrets: false,
            atomic_writes: true,
        }
    }

    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError> {
        let (_, doc) = self.read()?;
        Ok(doc
            .to_map()
            .iter()
            .filter(|(k, _)| prefix.is_none_or(|p| k.starts_with(p)))
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let (_, doc) = self.read()?;
        Ok(doc.entry(key).map(|e| Secret::new(e.value())))
    }

    async fn set_many(
        &self,
        items: &[(String, Secret)],
        _secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        let _guard = self.lock.lock().await;
        let (snap, mut doc) = self.read()?;
        let edits: Vec<Edit> = items
            .iter()
            .map(|(k, v)| Edit::Set {
                key: k,
                value: v.expose(),
            })
            .collect();
        doc.edit(&edits)
            .map_err(|e| PartialWrite::from(self.named.err(ErrorKind::Invalid, e.to_string())))?;
        self.write(&snap, &doc).map_err(PartialWrite::from)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let _guard = self.lock.lock().await;
        let (snap, mut doc) = self.read()?;
        let edits: Vec<Edit> = keys
            .iter()
            .filter(|k| doc.entry(k).is_some())
            .map(|k| Edit::Remove { key: k })
            .collect();
        doc.edit(&edits)
            .map_err(|e| PartialWrite::from(self.named.err(ErrorKind::Invalid, e.to_string())))?;
        self.write(&snap, &doc).map_err(PartialWrite::from)
    }
}
