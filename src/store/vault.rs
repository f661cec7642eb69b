//! HashiCorp Vault's KV secrets engine (version 2 by default, or 1) through vaultrs: one secret
//! path holds the environment's key/value map, as Vault users expect.

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
    v2: bool,
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
        kv_version: u8,
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
                    endpoint: "(no address)".into(),
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
        if kv_version != 1 && kv_version != 2 {
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
            v2: kv_version == 2,
        })
    }

    fn where_(&self, path: &str) -> String {
        if self.v2 {
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

    /// A KV version 1 request: the response's `data`, or `None` for 404.
    async fn v1(
        &self,
        method: &str,
        path: &str,
        body: Option<&Map>,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let url = format!("{}/v1/{}/{path}", self.address, self.mount);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let r = super::http::send(
            &self.named,
            || {
                let mut b = self
                    .http
                    .request(method.clone(), &url)
                    .header("X-Vault-Token", self.token.expose());
                if let Some(ns) = &self.namespace {
                    b = b.header("X-Vault-Namespace", ns);
                }
                if let Some(m) = body {
                    b = b.json(m);
                }
                b
            },
            AUTH_HINT,
        )
        .await;
        let where_ = self.where_(path);
        match r {
            Ok(resp) => {
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
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) if matches!(e.kind, ErrorKind::Auth | ErrorKind::Denied) => Err(StoreError {
                what: format!("permission denied on {where_}"),
                ..e
            }),
            Err(e) => Err(e),
        }
    }

    /// The map at `path`; empty when nothing is there yet.
    async fn read(&self, path: &str) -> Result<Map, StoreError> {
        if !self.v2 {
            return Ok(match self.v1("GET", path, None).await? {
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
        let path = self.path.as_str();
        if self.v2 {
            self.retry(path, || {
                vaultrs::kv2::set(&self.client, &self.mount, path, map)
            })
            .await
            .map(|_| ())
        } else {
            self.v1("POST", path, Some(map)).await.map(|_| ())
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
        let listed = if self.v2 {
            self.retry(dir, || vaultrs::kv2::list(&self.client, &self.mount, dir))
                .await
        } else {
            self.v1("LIST", dir, None).await.map(|d| {
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
        self.write(&map).await.map_err(PartialWrite::from)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let mut map = self.read(&self.path).await?;
        for k in keys {
            map.remove(k);
        }
        self.write(&map).await.map_err(PartialWrite::from)
    }
}
