//! Doppler, through its REST API v3: a config's secrets are the environment's keys.

use std::collections::BTreeMap;

use super::http::{self, json};
use super::trust::Trust;
use super::{Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};

const DEFAULT_API: &str = "https://api.doppler.com";
const AUTH_HINT: &str = "set DOPPLER_TOKEN to a service token of this project and config";

pub struct Doppler {
    named: Named,
    client: reqwest::Client,
    base: String,
    project: String,
    config: String,
    token: Secret,
}

impl Doppler {
    pub fn open(
        name: &str,
        project: &str,
        config: &str,
        api_url: Option<&str>,
        trust: &Trust,
    ) -> Result<Doppler, StoreError> {
        let base = api_url
            .unwrap_or(DEFAULT_API)
            .trim_end_matches('/')
            .to_owned();
        let named = Named {
            name: name.to_owned(),
            endpoint: base.clone(),
        };
        trust.check(&named, &base, &[Some(DEFAULT_API.to_owned())])?;
        let token = crate::env_vars::DOPPLER_TOKEN.non_empty().ok_or_else(|| {
            named.err_hint(ErrorKind::Auth, "DOPPLER_TOKEN is not set", AUTH_HINT)
        })?;
        Ok(Doppler {
            named,
            client: http::client(),
            base,
            project: project.to_owned(),
            config: config.to_owned(),
            token: Secret::new(token),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.token.expose())
            .header("accept", "application/json")
            .query(&[("project", &self.project), ("config", &self.config)])
    }
}

/// Keys Doppler adds to every config (not the user's secrets).
fn is_builtin(key: &str) -> bool {
    matches!(
        key,
        "DOPPLER_PROJECT" | "DOPPLER_CONFIG" | "DOPPLER_ENVIRONMENT"
    )
}

#[derive(serde::Deserialize)]
struct SecretValue {
    raw: Option<String>,
}

#[derive(serde::Deserialize)]
struct OneSecret {
    value: SecretValue,
}

impl SecretStore for Doppler {
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
        let resp = http::send(
            &self.named,
            || {
                self.req(reqwest::Method::GET, "/v3/configs/config/secrets/download")
                    .query(&[("format", "json")])
            },
            AUTH_HINT,
        )
        .await?;
        let map: BTreeMap<String, serde_json::Value> = json(&self.named, resp).await?;
        Ok(map
            .into_iter()
            .filter(|(k, _)| !is_builtin(k))
            .filter(|(k, _)| prefix.is_none_or(|p| k.starts_with(p)))
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, Secret::new(v))
            })
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let r = http::send(
            &self.named,
            || {
                self.req(reqwest::Method::GET, "/v3/configs/config/secret")
                    .query(&[("name", key)])
            },
            AUTH_HINT,
        )
        .await;
        match r {
            Ok(resp) => {
                let s: OneSecret = json(&self.named, resp).await?;
                Ok(s.value.raw.map(Secret::new))
            }
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn set_many(
        &self,
        items: &[(String, Secret)],
        _secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        if items.is_empty() {
            return Ok(());
        }
        // One request updates every secret of the config.
        let secrets: BTreeMap<&str, &str> = items
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        let body = serde_json::json!({
            "project": self.project,
            "config": self.config,
            "secrets": secrets,
        });
        http::send(
            &self.named,
            || {
                self.client
                    .post(self.url("/v3/configs/config/secrets"))
                    .bearer_auth(self.token.expose())
                    .json(&body)
            },
            AUTH_HINT,
        )
        .await
        .map(|_| ())
        .map_err(PartialWrite::from)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let mut written = Vec::new();
        for k in keys {
            let r = http::send(
                &self.named,
                || {
                    self.req(reqwest::Method::DELETE, "/v3/configs/config/secret")
                        .query(&[("name", k)])
                },
                AUTH_HINT,
            )
            .await;
            match r {
                Ok(_) => written.push(k.clone()),
                Err(error) => {
                    return Err(PartialWrite {
                        written,
                        error,
                        unknown: Vec::new(),
                    })
                }
            }
        }
        Ok(())
    }
}
