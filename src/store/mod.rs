//! Secret stores: one async trait, one module per backend. Stores are declared in
//! `.envault.yml` (`stores:`); credentials come only from each ecosystem's standard places and
//! are sent only to endpoints the user trusts (`trust`).

pub mod aws;
pub mod doppler;
pub mod file;
pub mod http;
pub mod onepassword;
pub mod secretsmanager;
pub mod ssm;
pub mod trust;
pub mod vault;

use std::fmt;

use zeroize::Zeroizing;

use crate::config::StoreSpec;

/// A secret value held in memory: cleared when dropped, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Key/value pairs as a store holds them, in the store's order.
pub type Entries = Vec<(String, Secret)>;

/// What went wrong, for the exit code and the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials, or they were refused.
    Auth,
    /// The credentials lack a permission.
    Denied,
    NotFound,
    /// The endpoint is not trusted with the user's credentials.
    Untrusted,
    /// Network, timeouts, throttling or server errors that retries did not get past.
    Unavailable,
    /// The store refused the request (bad name, value too large…).
    Invalid,
    Config,
}

/// An error that names the store, its endpoint and what to do.
#[derive(Debug, Clone)]
pub struct StoreError {
    pub store: String,
    pub endpoint: String,
    pub kind: ErrorKind,
    pub what: String,
    pub hint: Option<String>,
    /// The client library's own account of the failure, shown with `--verbose` only.
    pub detail: Option<Box<String>>,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "store '{}' ({}): {}",
            self.store, self.endpoint, self.what
        )
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// The library's detail of a store error somewhere in `chain` (for `--verbose`).
    pub fn detail_in<'a>(
        chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
    ) -> Option<String> {
        chain.into_iter().find_map(|e| {
            e.downcast_ref::<StoreError>()
                .and_then(|s| s.detail.as_deref().cloned())
                .or_else(|| {
                    e.downcast_ref::<PartialWrite>()
                        .and_then(|p| p.error.detail.as_deref().cloned())
                })
        })
    }
}

impl crate::error::Hint for StoreError {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// A write that stopped part of the way: the keys written before the failure.
#[derive(Debug)]
pub struct PartialWrite {
    pub written: Vec<String>,
    pub error: StoreError,
    /// The last request was sent but no answer came: the store may hold its keys or not.
    pub unknown: Vec<String>,
}

/// A failure before anything was written (stores that write in one request fail this way).
impl From<StoreError> for PartialWrite {
    fn from(error: StoreError) -> PartialWrite {
        PartialWrite {
            written: Vec::new(),
            error,
            unknown: Vec::new(),
        }
    }
}

impl fmt::Display for PartialWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.unknown.is_empty() {
            write!(
                f,
                "{} (no answer came: the store may or may not hold {}{})",
                self.error,
                self.unknown.join(", "),
                if self.written.is_empty() {
                    String::new()
                } else {
                    format!("; written before: {}", self.written.join(", "))
                }
            )
        } else if self.written.is_empty() {
            write!(f, "{} (nothing was written)", self.error)
        } else {
            write!(
                f,
                "{} (written before the failure: {})",
                self.error,
                self.written.join(", ")
            )
        }
    }
}

impl std::error::Error for PartialWrite {}

impl crate::error::Hint for PartialWrite {
    fn hint(&self) -> Option<String> {
        self.error.hint.clone()
    }
}

/// Who a store is, for messages.
#[derive(Debug, Clone)]
pub struct Named {
    pub name: String,
    pub endpoint: String,
}

impl Named {
    pub fn err(&self, kind: ErrorKind, what: impl Into<String>) -> StoreError {
        StoreError {
            store: self.name.clone(),
            endpoint: self.endpoint.clone(),
            kind,
            what: what.into(),
            hint: None,
            detail: None,
        }
    }
    pub fn err_hint(
        &self,
        kind: ErrorKind,
        what: impl Into<String>,
        hint: impl Into<String>,
    ) -> StoreError {
        StoreError {
            hint: Some(hint.into()),
            ..self.err(kind, what)
        }
    }
}

/// What a backend can do, where backends differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `--prefix` is a path in the store's namespace (SSM, Vault); otherwise it filters key
    /// names.
    pub paths: bool,
    /// Secrets are stored differently from other values (SSM SecureString, 1Password concealed
    /// fields).
    pub typed_secrets: bool,
    /// `set_many` is one request: it lands whole or not at all.
    pub atomic_writes: bool,
}

/// The operations every backend offers.
#[allow(async_fn_in_trait)]
pub trait SecretStore {
    fn named(&self) -> &Named;
    fn capabilities(&self) -> Capabilities;
    /// Every key and value under the configured path, or under `prefix` (an absolute path in
    /// the store's own namespace) when given.
    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError>;
    /// Writes every pair (overwriting), reporting exactly what was written before a failure.
    /// `secret(key)` says whether a value must be stored as a secret where the store
    /// distinguishes (SSM SecureString, 1Password concealed fields).
    async fn set_many(
        &self,
        items: &[(String, Secret)],
        secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite>;
    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite>;
    /// The keys among `keys` whose values the store's own service rotates (AWS Secrets
    /// Manager with rotation turned on): a value written by hand is replaced at the next
    /// rotation and may break it.
    async fn rotated(&self, _keys: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    /// What the writes so far did that the user should be told (taken once).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A configured store of any backend.
pub enum Store {
    Ssm(ssm::Ssm),
    SecretsManager(Box<secretsmanager::SecretsManager>),
    Vault(Box<vault::Vault>),
    Doppler(doppler::Doppler),
    OnePassword(onepassword::OnePassword),
    File(file::FileStore),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Ssm($s) => $e,
            Store::SecretsManager($s) => $e,
            Store::Vault($s) => $e,
            Store::Doppler($s) => $e,
            Store::OnePassword($s) => $e,
            Store::File($s) => $e,
        }
    };
}

impl SecretStore for Store {
    fn named(&self) -> &Named {
        each!(self, s => s.named())
    }
    fn capabilities(&self) -> Capabilities {
        each!(self, s => s.capabilities())
    }
    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError> {
        each!(self, s => s.list(prefix).await)
    }
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        each!(self, s => s.get(key).await)
    }
    async fn set_many(
        &self,
        items: &[(String, Secret)],
        secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        each!(self, s => s.set_many(items, secret).await)
    }
    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        each!(self, s => s.delete_many(keys).await)
    }
    async fn rotated(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        each!(self, s => s.rotated(keys).await)
    }
    fn notes(&self) -> Vec<String> {
        each!(self, s => s.notes())
    }
}

/// What opening a store needs from outside: the trust decisions and, for the file store, the
/// user's identities and recipients.
pub struct Context<'a> {
    pub trust: &'a trust::Trust,
    pub identities: std::sync::Arc<crate::crypt::Identities>,
    /// Recipients for the file store (the user's own public keys, else the project's).
    pub recipients: Vec<String>,
    /// The folder relative paths in the config start from.
    pub config_dir: std::path::PathBuf,
    /// Where store files must stay (the configuration's repository and the user's allowances).
    pub root: crate::confine::Root,
    /// The user's home folder, for `~/` paths.
    pub home: Option<std::path::PathBuf>,
}

/// Opens the store `name` declared as `spec`: checks the endpoint is trusted before any
/// credential is read for it.
pub async fn open(name: &str, spec: &StoreSpec, cx: &Context<'_>) -> Result<Store, StoreError> {
    Ok(match spec {
        StoreSpec::AwsSsm {
            region,
            prefix,
            kms_key_id,
            endpoint_url,
        } => Store::Ssm(
            ssm::Ssm::open(name, region, prefix, kms_key_id, endpoint_url, cx.trust).await?,
        ),
        StoreSpec::AwsSecretsmanager {
            region,
            prefix,
            secret,
            kms_key_id,
            tags,
            endpoint_url,
        } => Store::SecretsManager(Box::new(
            secretsmanager::SecretsManager::open(
                name,
                &secretsmanager::Spec {
                    region,
                    prefix,
                    secret,
                    kms_key_id,
                    tags,
                    endpoint_url,
                },
                cx.trust,
            )
            .await?,
        )),
        StoreSpec::Vault {
            address,
            mount,
            path,
            kv_version,
            namespace,
        } => Store::Vault(Box::new(vault::Vault::open(
            name,
            address.as_deref(),
            mount,
            path,
            *kv_version,
            namespace.as_deref(),
            cx.trust,
        )?)),
        StoreSpec::Doppler {
            project,
            config,
            api_url,
        } => Store::Doppler(doppler::Doppler::open(
            name,
            project,
            config,
            api_url.as_deref(),
            cx.trust,
        )?),
        StoreSpec::Onepassword {
            vault,
            item,
            connect_host,
        } => Store::OnePassword(onepassword::OnePassword::open(
            name,
            vault,
            item,
            connect_host.as_deref(),
            cx.trust,
        )?),
        StoreSpec::File { path } => Store::File(file::FileStore::open(name, path, cx)?),
    })
}

/// A store's entries as an env document, and the keys left out because they cannot be env
/// keys.
pub fn entries_doc(
    entries: &Entries,
) -> Result<(crate::dotenv::Document, Vec<String>), crate::dotenv::EditError> {
    let mut doc = crate::dotenv::Document::default();
    let mut edits = Vec::new();
    let mut left_out = Vec::new();
    for (k, v) in entries {
        if crate::dotenv::is_valid_key(k) {
            edits.push(crate::dotenv::Edit::Set {
                key: k,
                value: v.expose(),
            });
        } else {
            left_out.push(k.clone());
        }
    }
    doc.edit(&edits)?;
    Ok((doc, left_out))
}

/// Writes a sync plan into a store (`store push`): the keys it adds and updates, then the keys
/// it deletes (see [`write_changes`]); `secret` says which keys are stored as secrets.
pub async fn push(
    store: &Store,
    plan: &crate::sync::Plan,
    secret: &(dyn Fn(&str) -> bool + Sync),
) -> Result<usize, PartialWrite> {
    let (sets, deletes) = plan.writes();
    let sets: Vec<(String, Secret)> = sets
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Secret::new(v)))
        .collect();
    let deletes: Vec<String> = deletes.into_iter().map(str::to_owned).collect();
    write_changes(store, &sets, &deletes, secret).await
}

/// Writes a change to a store: `sets` first, then `deletes`; returns how many keys were
/// written. A failure part of the way says which keys were written before it (every set
/// lands before the deletions start).
pub async fn write_changes(
    store: &Store,
    sets: &[(String, Secret)],
    deletes: &[String],
    secret: &(dyn Fn(&str) -> bool + Sync),
) -> Result<usize, PartialWrite> {
    if !sets.is_empty() {
        store.set_many(sets, secret).await?;
    }
    if !deletes.is_empty() {
        if let Err(mut partial) = store.delete_many(deletes).await {
            let mut written: Vec<String> = sets.iter().map(|(k, _)| k.clone()).collect();
            written.extend(partial.written.drain(..).map(|k| format!("{k} (deleted)")));
            partial.written = written;
            return Err(partial);
        }
    }
    Ok(sets.len() + deletes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dotenv::Document;
    use crate::glob::GlobSet;
    use crate::sync::{plan, Options};

    /// The shared sync engine against a real store (the file store, age-encrypted, no
    /// server): plan an environment into it, write the plan, read it back.
    #[tokio::test]
    async fn a_sync_plan_is_written_to_a_store_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = crate::crypt::generate_identity();
        let trust = trust::Trust::new("", "");
        let cx = Context {
            trust: &trust,
            identities: std::sync::Arc::new(
                crate::crypt::Identities::parse(&secret, "test").unwrap(),
            ),
            recipients: vec![public],
            config_dir: dir.path().to_owned(),
            root: crate::confine::Root::new(dir.path()),
            home: None,
        };
        let spec = StoreSpec::File {
            path: "store.age".into(),
        };
        let store = open("local", &spec, &cx).await.unwrap();
        store
            .set_many(
                &[
                    ("OLD".into(), Secret::new("gone soon")),
                    ("LOG_LEVEL".into(), Secret::new("warn")),
                ],
                &|_| true,
            )
            .await
            .unwrap();

        let env =
            Document::parse("LOG_LEVEL=debug\nAPI_TOKEN=\"a b#c\"\nMULTI=\"one\ntwo\"\n").unwrap();
        let current = entries_doc(&store.list(None).await.unwrap()).unwrap().0;
        let (none, classifier) = (GlobSet::default(), crate::classify::Classifier::default());
        let opts = Options {
            source_env: "prod",
            target_env: "prod",
            strategy: crate::config::Strategy::SourceWins,
            allow_delete: true,
            skip: &none,
            env_specific_keys: &none,
            shared_keys: &none,
            include_env_specific: true,
            classifier: &classifier,
        };
        let p = plan(&env, &current, &opts);
        let written = push(&store, &p, &|_| true).await.unwrap();
        assert_eq!(written, 4, "3 set (2 added, 1 updated), 1 deleted");

        let after = store.list(None).await.unwrap();
        let got: Vec<(&str, &str)> = after
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        let mut got = got;
        got.sort_unstable();
        assert_eq!(
            got,
            [
                ("API_TOKEN", "a b#c"),
                ("LOG_LEVEL", "debug"),
                ("MULTI", "one\ntwo")
            ]
        );
        // Planned again, nothing is left to write.
        let current = entries_doc(&after).unwrap().0;
        assert!(!plan(&env, &current, &opts).changes_target());
    }
}
