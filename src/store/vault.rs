//! HashiCorp Vault's KV secrets engine (version 1 or 2, read from the server's mount table)
//! through vaultrs: one secret path holds the environment's key/value map, as Vault users
//! expect.

use std::collections::BTreeMap;
use std::time::Duration;

use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use super::trust::Trust;
use super::{Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};
use crate::env_vars;

const AUTH_HINT: &str = "check VAULT_TOKEN (or ~/.vault-token) and its policy for this path";

pub struct Vault {
    named: Named,
    client: VaultClient,
    /// KV version 1 goes over plain HTTP: vaultrs's version-1 responses require fields
    /// (`request_id`) that Vault-compatible servers such as RustyVault leave out.
    http: reqwest::Client,
    address: String,
    token: Secret,
    namespace: Option<String>,
    mount: String,
    path: String,
    /// `kv_version:` from the config, if given.
    configured: Option<u8>,
    /// Whether the mount is KV version 2, once the server said (or the config, where the
    /// server's mount table cannot be read).
    v2: tokio::sync::OnceCell<bool>,
}

/// What the server's mount table says about the store's mount.
enum Mount {
    Kv(u8),
    Other(String),
    /// No such mount; the KV mounts the table lists.
    Missing(Vec<String>),
    /// The token may not read the table (or the server has none).
    Unknown,
}

/// Vault's message in a 404 body; `None` for the empty answer that means "nothing at this
/// path" (`{"errors":[]}`, or no body), as opposed to "no such mount or route".
fn not_found_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut parts: Vec<String> = v
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        parts.push(e.to_owned());
    }
    parts.retain(|p| !p.trim().is_empty());
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A failed write of the path's map: an answer from the server means nothing was written; no
/// answer (the connection failed after retries) leaves it unknown.
fn written_or_not(error: StoreError, keys: Vec<String>) -> PartialWrite {
    let unknown = if error.kind == ErrorKind::Unavailable && error.what.starts_with("no answer") {
        keys
    } else {
        Vec::new()
    };
    PartialWrite {
        written: Vec::new(),
        error,
        unknown,
    }
}

/// The KV version in a mount's `options` (`{"version": "2"}`); version 1 has none.
fn mount_kind(m: &serde_json::Value) -> Mount {
    let kind = m.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    if kind != "kv" && kind != "generic" {
        return Mount::Other(kind.to_owned());
    }
    let version = m
        .get("options")
        .and_then(|o| o.get("version"))
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        });
    Mount::Kv(if version.as_deref() == Some("2") {
        2
    } else {
        1
    })
}

type Map = BTreeMap<String, serde_json::Value>;

fn text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A server response vaultrs could not parse as `{"errors": [...]}` (RustyVault answers
/// `{"error": "..."}`, or nothing) as an API error with its status and message.
fn status_of(e: ClientError) -> ClientError {
    if let ClientError::RestClientError {
        source: rustify::errors::ClientError::ServerResponseError { code, content },
    } = &e
    {
        let msg = content
            .as_deref()
            .map(super::http::body_message)
            .filter(|m| !m.is_empty());
        return ClientError::APIError {
            code: *code,
            errors: msg.into_iter().collect(),
        };
    }
    e
}

impl Vault {
    pub fn open(
        name: &str,
        address: Option<&str>,
        mount: &str,
        path: &str,
        kv_version: Option<u8>,
        namespace: Option<&str>,
        trust: &Trust,
    ) -> Result<Vault, StoreError> {
        let env_addr = env_vars::VAULT_ADDR.non_empty();
        let address = address
            .map(str::to_owned)
            .or_else(|| env_addr.clone())
            .ok_or_else(|| {
                Named {
                    name: name.to_owned(),
                    endpoint: "no address".into(),
                }
                .err_hint(
                    ErrorKind::Config,
                    "no Vault address",
                    "set VAULT_ADDR (or address: in the store)",
                )
            })?;
        let named = Named {
            name: name.to_owned(),
            endpoint: address.clone(),
        };
        if let Some(kv_version) = kv_version.filter(|v| *v != 1 && *v != 2) {
            return Err(named.err_hint(
                ErrorKind::Config,
                format!("kv_version {kv_version} is not a KV engine version"),
                "use kv_version: 1 or 2",
            ));
        }
        trust.check(&named, &address, &[env_addr])?;
        let token = match env_vars::VAULT_TOKEN.non_empty() {
            Some(t) => t,
            None => env_vars::folders()
                .home
                .as_ref()
                .and_then(|h| std::fs::read_to_string(h.join(".vault-token")).ok())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    named.err_hint(
                        ErrorKind::Auth,
                        "no Vault token",
                        "set VAULT_TOKEN or run `vault login`",
                    )
                })?,
        };
        let namespace = namespace
            .map(str::to_owned)
            .or_else(|| env_vars::VAULT_NAMESPACE.non_empty());
        let mut settings = VaultClientSettingsBuilder::default();
        settings
            .address(address.as_str())
            .token(token.clone())
            .timeout(Some(Duration::from_secs(30)));
        if let Some(ns) = &namespace {
            settings.namespace(Some(ns.clone()));
        }
        let settings = settings
            .build()
            .map_err(|e| named.err(ErrorKind::Config, format!("bad client settings: {e}")))?;
        let mut client = VaultClient::new(settings)
            .map_err(|e| named.err(ErrorKind::Config, format!("cannot create the client: {e}")))?;
        // vaultrs's own HTTP client follows redirects with X-Vault-Token attached (reqwest strips
        // only the standard credential headers): use envault's, which follows none.
        client.http = rustify::clients::reqwest::Client::new(&address, super::http::client());
        Ok(Vault {
            named,
            client,
            http: super::http::client(),
            address: address.trim_end_matches('/').to_owned(),
            token: Secret::new(token),
            namespace,
            mount: mount.trim_matches('/').to_owned(),
            path: path.trim_matches('/').to_owned(),
            configured: kv_version,
            v2: tokio::sync::OnceCell::new(),
        })
    }

    /// Whether the mount is KV version 2: the server's mount table says, and a `kv_version:`
    /// that contradicts it is refused; without a table the config must say.
    async fn is_v2(&self) -> Result<bool, StoreError> {
        self.v2
            .get_or_try_init(|| async {
                let mount = format!("{}/", self.mount);
                match self.mount_table().await? {
                    Mount::Kv(v) => match self.configured {
                        Some(c) if c != v => Err(self.named.err_hint(
                            ErrorKind::Config,
                            format!("the mount {mount} is a KV version {v} engine, but the store says kv_version: {c}"),
                            format!("set kv_version: {v}, or leave it out: envault reads it from the server"),
                        )),
                        _ => Ok(v == 2),
                    },
                    Mount::Other(kind) => Err(self.named.err_hint(
                        ErrorKind::Config,
                        format!("the mount {mount} is a `{kind}` engine, not a KV store"),
                        "point mount: at a KV secrets engine (`vault secrets list` shows them)",
                    )),
                    Mount::Missing(kv) => Err(self.named.err_hint(
                        ErrorKind::NotFound,
                        format!("Vault has no mount {mount}"),
                        if kv.is_empty() {
                            "check mount: in the store (`vault secrets list` shows the mounts)".to_owned()
                        } else {
                            format!("check mount: in the store; the KV mounts are {}", kv.join(", "))
                        },
                    )),
                    Mount::Unknown => match self.configured {
                        Some(c) => Ok(c == 2),
                        None => Err(self.named.err_hint(
                            ErrorKind::Config,
                            format!("cannot tell the KV version of the mount {mount}: the token may not read sys/internal/ui/mounts/{} or sys/mounts", self.mount),
                            "set kv_version: 1 or 2 in the store",
                        )),
                    },
                }
            })
            .await
            .copied()
    }

    /// The store's mount as the server describes it: `sys/internal/ui/mounts/<mount>` (which
    /// any token with access to the mount may read), else the whole table in `sys/mounts`.
    async fn mount_table(&self) -> Result<Mount, StoreError> {
        if let Some(v) = self
            .sys_get(&format!("sys/internal/ui/mounts/{}", self.mount))
            .await?
        {
            let m = v.get("data").unwrap_or(&v);
            if m.get("type").is_some() {
                return Ok(mount_kind(m));
            }
        }
        let Some(v) = self.sys_get("sys/mounts").await? else {
            return Ok(Mount::Unknown);
        };
        // Vault lists the mounts at the top level and again under `data`.
        let table = v.get("data").filter(|d| d.is_object()).unwrap_or(&v);
        let Some(table) = table.as_object() else {
            return Ok(Mount::Unknown);
        };
        let mount = format!("{}/", self.mount);
        if let Some(m) = table.get(&mount) {
            return Ok(mount_kind(m));
        }
        let mut kv: Vec<String> = table
            .iter()
            .filter(|(_, m)| matches!(mount_kind(m), Mount::Kv(_)))
            .map(|(k, _)| k.clone())
            .collect();
        kv.sort();
        Ok(Mount::Missing(kv))
    }

    /// A request to `url` with the token and, when set, the namespace.
    fn authed(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let b = self
            .http
            .request(method, url)
            .header("X-Vault-Token", self.token.expose());
        match &self.namespace {
            Some(ns) => b.header("X-Vault-Namespace", ns),
            None => b,
        }
    }

    /// A `sys/` read: its JSON on 200, `None` on any other answer.
    async fn sys_get(&self, path: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let url = format!("{}/v1/{path}", self.address);
        let resp =
            super::http::send_any(&self.named, || self.authed(reqwest::Method::GET, &url)).await?;
        if resp.status() != reqwest::StatusCode::OK {
            return Ok(None);
        }
        Ok(resp.json().await.ok())
    }

    fn where_(&self, path: &str) -> String {
        if self.v2.get() == Some(&true) {
            format!("{}/data/{path}", self.mount)
        } else {
            format!("{}/{path}", self.mount)
        }
    }

    fn error(&self, path: &str, e: ClientError) -> StoreError {
        match status_of(e) {
            ClientError::APIError { code, errors } => {
                let msg = errors.join("; ");
                match code {
                    401 | 403 => self.named.err_hint(
                        if code == 401 {
                            ErrorKind::Auth
                        } else {
                            ErrorKind::Denied
                        },
                        format!(
                            "permission denied on {}{}",
                            self.where_(path),
                            if msg.is_empty() {
                                String::new()
                            } else {
                                format!(": {msg}")
                            }
                        ),
                        AUTH_HINT,
                    ),
                    404 => self.named.err(
                        ErrorKind::NotFound,
                        format!("nothing at {}", self.where_(path)),
                    ),
                    c if c >= 500 || c == 429 => self.named.err_hint(
                        ErrorKind::Unavailable,
                        format!(
                            "server error {c} on {} after retries: {msg}",
                            self.where_(path)
                        ),
                        "the Vault server is failing or sealed; try again later",
                    ),
                    c => self.named.err(
                        ErrorKind::Invalid,
                        format!("{c} on {}: {msg}", self.where_(path)),
                    ),
                }
            }
            other => {
                let mut s = other.to_string();
                let mut cur = std::error::Error::source(&other);
                while let Some(c) = cur {
                    s.push_str(": ");
                    s.push_str(&c.to_string());
                    cur = c.source();
                }
                self.named.err_hint(
                    ErrorKind::Unavailable,
                    format!("cannot reach Vault: {s}"),
                    "check VAULT_ADDR and your network",
                )
            }
        }
    }

    /// Runs a request, retrying throttling, server errors and dropped connections.
    async fn retry<T, F, Fut>(&self, path: &str, f: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let e = status_of(e);
                    let again = match &e {
                        ClientError::APIError { code, .. } => *code == 429 || *code >= 500,
                        ClientError::RestClientError { .. } => true,
                        _ => false,
                    };
                    if !again || attempt >= super::http::ATTEMPTS {
                        return Err(self.error(path, e));
                    }
                    tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt - 1))).await;
                }
            }
        }
    }

    /// A request under the mount (`rel` is the path below it): the response's `data` for a
    /// read, `None` when Vault says nothing is at the path. A write is done only on a 2xx
    /// answer; any 404 to a write, and a 404 naming a missing mount or route, is an error.
    async fn request(
        &self,
        method: &str,
        rel: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let url = format!("{}/v1/{}/{rel}", self.address, self.mount);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let read = method == reqwest::Method::GET || method.as_str() == "LIST";
        let resp = super::http::send_any(&self.named, || {
            let mut b = self.authed(method.clone(), &url);
            if let Some(m) = body {
                b = b.json(m);
            }
            b
        })
        .await?;
        let where_ = format!("{}/{rel}", self.mount);
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            let text = resp.text().await.unwrap_or_default();
            return match not_found_message(&text) {
                None if read => Ok(None),
                message => Err(self.named.err_hint(
                    ErrorKind::NotFound,
                    format!(
                        "Vault answered 404 to {} {where_}{}",
                        method.as_str(),
                        message.map(|m| format!(": {m}")).unwrap_or_default()
                    ),
                    "check mount: and path: in the store (`vault secrets list` shows the mounts)",
                )),
            };
        }
        if !status.is_success() {
            let e = super::http::status_error(&self.named, resp, AUTH_HINT).await;
            return Err(match e.kind {
                ErrorKind::Auth | ErrorKind::Denied => StoreError {
                    what: format!("permission denied on {where_}"),
                    ..e
                },
                _ => e,
            });
        }
        if !read {
            return Ok(None);
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        if bytes.is_empty() {
            return Ok(Some(serde_json::Value::Null));
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            self.named.err(
                ErrorKind::Invalid,
                format!("unexpected response from {where_}: {e}"),
            )
        })?;
        Ok(Some(
            v.get("data").cloned().unwrap_or(serde_json::Value::Null),
        ))
    }

    /// The map at `path`; empty when nothing is there yet.
    async fn read(&self, path: &str) -> Result<Map, StoreError> {
        if !self.is_v2().await? {
            return Ok(match self.request("GET", path, None).await? {
                Some(serde_json::Value::Object(m)) => m.into_iter().collect(),
                _ => Map::new(),
            });
        }
        let r = self
            .retry(path, || {
                vaultrs::kv2::read::<Map>(&self.client, &self.mount, path)
            })
            .await;
        match r {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Map::new()),
            other => other,
        }
    }

    async fn write(&self, map: &Map) -> Result<(), StoreError> {
        // Written over plain HTTP in both versions: a 2xx answer is the server's word that the
        // map is stored, whatever its body holds.
        let path = self.path.as_str();
        if self.is_v2().await? {
            let body = serde_json::json!({ "data": map });
            self.request("POST", &format!("data/{path}"), Some(&body))
                .await
                .map(|_| ())
        } else {
            let body = serde_json::to_value(map).expect("a map is JSON");
            self.request("POST", path, Some(&body)).await.map(|_| ())
        }
    }
}

impl SecretStore for Vault {
    fn named(&self) -> &Named {
        &self.named
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            paths: true,
            typed_secrets: false,
            atomic_writes: true,
        }
    }

    /// The configured path's map; with a prefix, the maps of every secret path listed under
    /// it (keys as `path/KEY`).
    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError> {
        let Some(prefix) = prefix else {
            let map = self.read(&self.path).await?;
            return Ok(map
                .into_iter()
                .map(|(k, v)| (k, Secret::new(text(v))))
                .collect());
        };
        let dir = prefix.trim_matches('/');
        let listed = if self.is_v2().await? {
            self.retry(dir, || vaultrs::kv2::list(&self.client, &self.mount, dir))
                .await
        } else {
            self.request("LIST", dir, None).await.map(|d| {
                d.and_then(|d| d.get("keys").and_then(|k| k.as_array()).cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let names = match listed {
            Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
            other => other?,
        };
        let mut out = Vec::new();
        for n in names.iter().filter(|n| !n.ends_with('/')) {
            let path = if dir.is_empty() {
                n.clone()
            } else {
                format!("{dir}/{n}")
            };
            for (k, v) in self.read(&path).await? {
                out.push((format!("{path}/{k}"), Secret::new(text(v))));
            }
        }
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self
            .read(&self.path)
            .await?
            .remove(key)
            .map(|v| Secret::new(text(v))))
    }

    async fn set_many(
        &self,
        items: &[(String, Secret)],
        _secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        let mut map = self.read(&self.path).await?;
        for (k, v) in items {
            map.insert(k.clone(), v.expose().into());
        }
        // The path's map is written in one request.
        let keys: Vec<String> = items.iter().map(|(k, _)| k.clone()).collect();
        self.write(&map).await.map_err(|e| written_or_not(e, keys))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let mut map = self.read(&self.path).await?;
        for k in keys {
            map.remove(k);
        }
        self.write(&map)
            .await
            .map_err(|e| written_or_not(e, keys.to_vec()))
    }
}
