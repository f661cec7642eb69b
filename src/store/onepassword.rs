//! 1Password, through a 1Password Connect server's REST API: an item's fields are the keys
//! (labels) and values; secrets are concealed fields.

use tokio::sync::OnceCell;

use super::http::{self, json};
use super::trust::Trust;
use super::{Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};

const AUTH_HINT: &str = "set OP_CONNECT_TOKEN to a Connect token with access to this vault";

pub struct OnePassword {
    named: Named,
    client: reqwest::Client,
    base: String,
    vault: String,
    item: String,
    token: Secret,
    vault_id: OnceCell<String>,
}

#[derive(serde::Deserialize)]
struct Ref {
    id: String,
}

/// An item as Connect returns it; unknown fields are kept so a PUT sends them back.
type Item = serde_json::Map<String, serde_json::Value>;

fn fields(item: &Item) -> Vec<&serde_json::Map<String, serde_json::Value>> {
    item.get("fields")
        .and_then(|f| f.as_array())
        .map(|a| a.iter().filter_map(|f| f.as_object()).collect())
        .unwrap_or_default()
}

fn label(f: &serde_json::Map<String, serde_json::Value>) -> Option<&str> {
    f.get("label")
        .and_then(|l| l.as_str())
        .filter(|l| !l.is_empty())
}

/// Filter expressions quote with `"`; a quote inside a name is escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl OnePassword {
    pub fn open(
        name: &str,
        vault: &str,
        item: &str,
        connect_host: Option<&str>,
        trust: &Trust,
    ) -> Result<OnePassword, StoreError> {
        let env_host = crate::env_vars::OP_CONNECT_HOST.non_empty();
        let base = connect_host
            .map(str::to_owned)
            .or_else(|| env_host.clone())
            .ok_or_else(|| {
                Named {
                    name: name.to_owned(),
                    endpoint: "(no Connect host)".into(),
                }
                .err_hint(
                    ErrorKind::Config,
                    "no 1Password Connect server",
                    "set OP_CONNECT_HOST (or connect_host: in the store)",
                )
            })?
            .trim_end_matches('/')
            .to_owned();
        let named = Named {
            name: name.to_owned(),
            endpoint: base.clone(),
        };
        trust.check(&named, &base, &[env_host])?;
        let token = crate::env_vars::OP_CONNECT_TOKEN
            .non_empty()
            .ok_or_else(|| {
                named.err_hint(ErrorKind::Auth, "OP_CONNECT_TOKEN is not set", AUTH_HINT)
            })?;
        Ok(OnePassword {
            named,
            client: http::client(),
            base,
            vault: vault.to_owned(),
            item: item.to_owned(),
            token: Secret::new(token),
            vault_id: OnceCell::new(),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, StoreError> {
        let url = format!("{}{path}", self.base);
        let resp = http::send(
            &self.named,
            || {
                self.client
                    .get(&url)
                    .bearer_auth(self.token.expose())
                    .query(query)
            },
            AUTH_HINT,
        )
        .await?;
        json(&self.named, resp).await
    }

    async fn vault_id(&self) -> Result<&str, StoreError> {
        self.vault_id
            .get_or_try_init(|| async {
                let found: Vec<Ref> = self
                    .get_json(
                        "/v1/vaults",
                        &[("filter", format!("name eq {}", quoted(&self.vault)))],
                    )
                    .await?;
                found.into_iter().next().map(|r| r.id).ok_or_else(|| {
                    self.named.err_hint(
                        ErrorKind::NotFound,
                        format!("no vault named '{}'", self.vault),
                        "check the store's `vault:` and that the Connect token can see it",
                    )
                })
            })
            .await
            .map(String::as_str)
    }

    /// The item, or `None` when the vault has no item of that title.
    async fn item(&self) -> Result<Option<Item>, StoreError> {
        let vid = self.vault_id().await?;
        let found: Vec<Ref> = self
            .get_json(
                &format!("/v1/vaults/{vid}/items"),
                &[("filter", format!("title eq {}", quoted(&self.item)))],
            )
            .await?;
        let Some(r) = found.into_iter().next() else {
            return Ok(None);
        };
        self.get_json(&format!("/v1/vaults/{vid}/items/{}", r.id), &[])
            .await
            .map(Some)
    }

    async fn write(&self, item: &Item, create: bool) -> Result<(), StoreError> {
        let vid = self.vault_id().await?;
        let (method, url) = match item.get("id").and_then(|i| i.as_str()) {
            Some(id) if !create => (
                reqwest::Method::PUT,
                format!("{}/v1/vaults/{vid}/items/{id}", self.base),
            ),
            _ => (
                reqwest::Method::POST,
                format!("{}/v1/vaults/{vid}/items", self.base),
            ),
        };
        http::send(
            &self.named,
            || {
                self.client
                    .request(method.clone(), &url)
                    .bearer_auth(self.token.expose())
                    .json(item)
            },
            AUTH_HINT,
        )
        .await
        .map(|_| ())
    }
}

impl SecretStore for OnePassword {
    fn named(&self) -> &Named {
        &self.named
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            paths: false,
            typed_secrets: true,
            atomic_writes: true,
        }
    }

    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError> {
        let Some(item) = self.item().await? else {
            return Ok(Vec::new());
        };
        Ok(fields(&item)
            .into_iter()
            .filter_map(|f| {
                let l = label(f)?;
                let v = f.get("value").and_then(|v| v.as_str())?;
                (f.get("purpose").and_then(|p| p.as_str()) != Some("NOTES")
                    && prefix.is_none_or(|p| l.starts_with(p)))
                .then(|| (l.to_owned(), Secret::new(v)))
            })
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self
            .list(None)
            .await?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }

    async fn set_many(
        &self,
        items: &[(String, Secret)],
        secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        let existing = self.item().await?;
        let create = existing.is_none();
        let mut item = existing.unwrap_or_else(|| {
            let mut m = Item::new();
            m.insert("title".into(), self.item.clone().into());
            m.insert("category".into(), "SECURE_NOTE".into());
            m.insert(
                "vault".into(),
                serde_json::json!({"id": self.vault_id.get()}),
            );
            m.insert("fields".into(), serde_json::json!([]));
            m
        });
        let list = item
            .entry("fields")
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .expect("fields is an array");
        for (k, v) in items {
            let kind = if secret(k) { "CONCEALED" } else { "STRING" };
            match list
                .iter_mut()
                .find(|f| f.get("label").and_then(|l| l.as_str()) == Some(k.as_str()))
            {
                Some(f) => {
                    f["value"] = v.expose().into();
                }
                None => {
                    list.push(serde_json::json!({"label": k, "value": v.expose(), "type": kind}))
                }
            }
        }
        // One request writes the whole item.
        self.write(&item, create).await.map_err(PartialWrite::from)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let Some(mut item) = self.item().await? else {
            return Ok(());
        };
        if let Some(list) = item.get_mut("fields").and_then(|f| f.as_array_mut()) {
            list.retain(|f| {
                !f.get("label")
                    .and_then(|l| l.as_str())
                    .is_some_and(|l| keys.iter().any(|k| k == l))
            });
        }
        self.write(&item, false).await.map_err(PartialWrite::from)
    }
}
