//! Secret stores: one async trait, one module per backend. Stores are declared in
//! `.envault.yml` (`stores:`); credentials come only from each ecosystem's standard places and
//! are sent only to endpoints the user trusts (`trust`).

pub mod doppler;
pub mod file;
pub mod http;
pub mod onepassword;
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
}

/// A failure before anything was written (stores that write in one request fail this way).
impl From<StoreError> for PartialWrite {
    fn from(error: StoreError) -> PartialWrite {
        PartialWrite {
            written: Vec::new(),
            error,
        }
    }
}

impl fmt::Display for PartialWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.written.is_empty() {
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
}

/// A configured store of any backend.
pub enum Store {
    Ssm(ssm::Ssm),
    Vault(Box<vault::Vault>),
    Doppler(doppler::Doppler),
    OnePassword(onepassword::OnePassword),
    File(file::FileStore),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Ssm($s) => $e,
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
