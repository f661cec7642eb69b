//! AWS Secrets Manager, in one of two layouts chosen in the config:
//! - `prefix:` one secret per key, named `<prefix>KEY`;
//! - `secret:` one secret holding the whole environment as a JSON object
//!   (`{"DB_PASSWORD": "…", …}`).
//!
//! Secrets are created with the configured KMS key and tags. A secret that AWS rotates
//! (rotation turned on) is shown as such, and the CLI refuses to write it without `--force`.
//!
//! Secrets Manager has no conditional write, so two writers of the one JSON secret could
//! drop each other's keys. After each write the version AWS now stages `AWSPREVIOUS` must be
//! the version this write was computed from; when another writer's version came between, the
//! write's own changes are applied again onto the latest version, and the user is told.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use indexmap::IndexMap;

use super::trust::Trust;
use super::{Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};

/// Requests in flight at once when writing one secret per key.
const CONCURRENCY: usize = 16;
/// Names per BatchGetSecretValue request (the API's limit).
const BATCH: usize = 20;
/// Writes of the JSON secret before giving up on a store another writer keeps changing.
const ROUNDS: usize = 5;

/// Where the keys live.
#[derive(Debug, Clone)]
enum Layout {
    /// One secret per key: `<prefix>KEY`.
    PerKey { prefix: String },
    /// One secret, a JSON object of keys.
    Json { secret: String },
}

pub struct SecretsManager {
    named: Named,
    client: aws_sdk_secretsmanager::Client,
    layout: Layout,
    kms_key_id: Option<String>,
    tags: Vec<(String, String)>,
    /// What the last listing of the store's own keys found.
    listed: Mutex<Option<Listing>>,
    /// What a write did that the user should know (a version re-applied onto another's).
    notes: Mutex<Vec<String>>,
}

/// The keys a listing found, and those whose secret has rotation turned on.
#[derive(Clone, Default)]
struct Listing {
    keys: BTreeSet<String>,
    rotating: BTreeSet<String>,
}

/// The configuration of a Secrets Manager store, as `.envault.yml` declares it.
pub struct Spec<'a> {
    pub region: &'a Option<String>,
    pub prefix: &'a Option<String>,
    pub secret: &'a Option<String>,
    pub kms_key_id: &'a Option<String>,
    pub tags: &'a IndexMap<String, String>,
    pub endpoint_url: &'a Option<String>,
}

/// Whether `name` is a name Secrets Manager accepts (letters, digits and `/_+=.@-`, at most
/// 512 characters).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

impl SecretsManager {
    pub async fn open(name: &str, spec: &Spec<'_>, trust: &Trust) -> Result<Self, StoreError> {
        let named = Named {
            name: name.to_owned(),
            endpoint: spec
                .endpoint_url
                .clone()
                .unwrap_or_else(|| "AWS".to_owned()),
        };
        if let Some(url) = spec.endpoint_url {
            let eco = [
                crate::env_vars::AWS_ENDPOINT_URL_SECRETS_MANAGER.get(),
                crate::env_vars::AWS_ENDPOINT_URL.get(),
            ];
            trust.check(&named, url, &eco)?;
        }
        let layout = match (spec.prefix, spec.secret) {
            (Some(p), None) => {
                let prefix = if p.is_empty() || p.ends_with('/') {
                    p.clone()
                } else {
                    format!("{p}/")
                };
                if !prefix.is_empty() && !valid_name(&prefix) {
                    return Err(named.err_hint(
                        ErrorKind::Config,
                        format!("prefix `{p}` cannot start a secret name"),
                        "secret names hold letters, digits and /_+=.@- only, e.g. production/myapp/",
                    ));
                }
                Layout::PerKey { prefix }
            }
            (None, Some(s)) => {
                if !valid_name(s) {
                    return Err(named.err_hint(
                        ErrorKind::Config,
                        format!("`{s}` is not a secret name"),
                        "secret names hold letters, digits and /_+=.@- only, e.g. production/myapp",
                    ));
                }
                Layout::Json { secret: s.clone() }
            }
            _ => {
                return Err(named.err_hint(
                    ErrorKind::Config,
                    "a Secrets Manager store needs exactly one of `prefix:` and `secret:`",
                    "prefix: production/myapp/ keeps one secret per key; secret: production/myapp keeps \
                     the whole environment in one JSON secret",
                ))
            }
        };
        let conf = super::aws::sdk_config(spec.region, spec.endpoint_url).await;
        let named = super::aws::named_for(named, "secretsmanager", spec.endpoint_url, &conf)?;
        Ok(SecretsManager {
            named,
            client: aws_sdk_secretsmanager::Client::new(&conf),
            layout,
            kms_key_id: spec.kms_key_id.clone(),
            tags: spec
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            listed: Mutex::new(None),
            notes: Mutex::new(Vec::new()),
        })
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        what: &str,
        e: SdkError<E, R>,
    ) -> StoreError {
        super::aws::error(&self.named, what, e)
    }

    fn note(&self, text: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    fn tags(&self) -> Option<Vec<Tag>> {
        (!self.tags.is_empty()).then(|| {
            self.tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect()
        })
    }

    // ---- one secret per key ----------------------------------------------------------------

    /// The secrets whose names start with `prefix` (exactly: AWS's filter is a prefix match),
    /// with their rotation state; secrets scheduled for deletion are not listed.
    async fn names_under(&self, prefix: &str) -> Result<Vec<(String, bool)>, StoreError> {
        let mut req = self
            .client
            .list_secrets()
            .max_results(100)
            .include_planned_deletion(false);
        if !prefix.is_empty() {
            req = req.filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            );
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("listing secrets", e))?;
            for s in page.secret_list() {
                if let Some(name) = s.name().filter(|n| n.starts_with(prefix)) {
                    out.push((name.to_owned(), s.rotation_enabled().unwrap_or(false)));
                }
            }
        }
        Ok(out)
    }

    /// The values of `names`, read in batches of twenty.
    async fn values_of(&self, names: &[String]) -> Result<HashMap<String, Secret>, StoreError> {
        let mut out = HashMap::with_capacity(names.len());
        for chunk in names.chunks(BATCH) {
            let got = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.error("reading secrets", e))?;
            // A batch answers for each secret: one it could not read fails the whole listing.
            if let Some(err) = got.errors().first() {
                let id = err.secret_id().unwrap_or("a secret");
                return Err(super::aws::classify(
                    &self.named,
                    &format!("reading {id}"),
                    err.error_code().unwrap_or(""),
                    err.message().unwrap_or(""),
                    format!("{err:?}"),
                    false,
                ));
            }
            for v in got.secret_values() {
                let Some(name) = v.name() else { continue };
                let Some(text) = v.secret_string() else {
                    return Err(binary(&self.named, name));
                };
                out.insert(name.to_owned(), Secret::new(text));
            }
        }
        Ok(out)
    }

    async fn list_per_key(&self, prefix: &str, own: bool) -> Result<Entries, StoreError> {
        let found = self.names_under(prefix).await?;
        let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
        let mut values = self.values_of(&names).await?;
        let mut listing = Listing::default();
        let mut out = Vec::with_capacity(found.len());
        for (name, rotates) in found {
            let key = name[prefix.len()..].to_owned();
            // A secret deleted between the listing and the read is not there.
            let Some(value) = values.remove(&name) else {
                continue;
            };
            if rotates {
                listing.rotating.insert(key.clone());
            }
            listing.keys.insert(key.clone());
            out.push((key, value));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if own {
            self.remember(listing);
        }
        Ok(out)
    }

    fn remember(&self, listing: Listing) {
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = Some(listing);
    }

    fn listing(&self) -> Option<Listing> {
        self.listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    // ---- one JSON secret -------------------------------------------------------------------

    /// The JSON secret's keys and the version they were read from (`None`: no such secret).
    async fn read_json(
        &self,
        secret: &str,
        version: Option<&str>,
    ) -> Result<(IndexMap<String, serde_json::Value>, Option<String>), StoreError> {
        let got = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await;
        let got = match got {
            Ok(g) => g,
            Err(e) if is_code(&e, "ResourceNotFoundException") && version.is_none() => {
                return Ok((IndexMap::new(), None))
            }
            Err(e) => return Err(self.error(&format!("reading {secret}"), e)),
        };
        let Some(text) = got.secret_string() else {
            return Err(binary(&self.named, secret));
        };
        let map = parse_object(text).map_err(|what| {
            self.named.err_hint(
                ErrorKind::Invalid,
                format!("secret {secret} {what}"),
                "a `secret:` store holds one JSON object of keys; use `prefix:` for one secret per key",
            )
        })?;
        Ok((map, got.version_id().map(str::to_owned)))
    }

    /// Which version holds each of `AWSCURRENT` and `AWSPREVIOUS`, and whether rotation is on.
    async fn stages(
        &self,
        secret: &str,
    ) -> Result<(Option<String>, Option<String>, bool), StoreError> {
        let d = self
            .client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| self.error(&format!("describing {secret}"), e))?;
        let staged = |stage: &str| {
            d.version_ids_to_stages().and_then(|m| {
                m.iter()
                    .find(|(_, stages)| stages.iter().any(|s| s == stage))
                    .map(|(v, _)| v.clone())
            })
        };
        Ok((
            staged("AWSCURRENT"),
            staged("AWSPREVIOUS"),
            d.rotation_enabled().unwrap_or(false),
        ))
    }

    /// Applies `sets` and `deletes` to the JSON secret, and makes sure that no other writer's
    /// version was dropped on the way (see the module's documentation).
    async fn change_json(
        &self,
        secret: &str,
        sets: &[(String, Secret)],
        deletes: &[String],
    ) -> Result<(), PartialWrite> {
        let (mut base, mut base_version) = self.read_json(secret, None).await?;
        for round in 0..ROUNDS {
            let body = apply(&base, sets, deletes);
            let what = format!("writing {secret}");
            let ours = match &base_version {
                Some(_) => self
                    .client
                    .put_secret_value()
                    .secret_id(secret)
                    .secret_string(body.as_str())
                    .send()
                    .await
                    .map(|o| o.version_id().map(str::to_owned))
                    .map_err(|e| self.error(&what, e))?,
                None => match self
                    .client
                    .create_secret()
                    .name(secret)
                    .secret_string(body.as_str())
                    .set_kms_key_id(self.kms_key_id.clone())
                    .set_tags(self.tags())
                    .send()
                    .await
                {
                    Ok(o) => o.version_id().map(str::to_owned),
                    // Another writer created it first: start again from theirs.
                    Err(e) if is_code(&e, "ResourceExistsException") && round + 1 < ROUNDS => {
                        (base, base_version) = self.read_json(secret, None).await?;
                        continue;
                    }
                    Err(e) => return Err(self.error(&what, e).into()),
                },
            };
            let (current, previous, _) = self.stages(secret).await?;
            let Some(ours) = ours else {
                return Err(self
                    .named
                    .err(
                        ErrorKind::Invalid,
                        format!("writing {secret}: AWS returned no version id"),
                    )
                    .into());
            };
            let mut lost = None;
            if previous != base_version {
                // Another version came between our read and our write, and ours replaced it
                // without its changes.
                lost = previous.clone();
            }
            if current.as_deref() != Some(ours.as_str()) {
                // Another write came after ours: it must hold our changes.
                let (latest, latest_version) = self.read_json(secret, None).await?;
                if holds(&latest, sets, deletes) && lost.is_none() {
                    return Ok(());
                }
                (base, base_version) = (latest, latest_version);
            } else if let Some(theirs) = lost {
                let (latest, _) = self.read_json(secret, Some(&theirs)).await?;
                (base, base_version) = (latest, Some(ours));
            } else {
                return Ok(());
            }
            self.note(format!(
                "store '{}': another writer changed secret {secret} while this write was made; \
                 its changes are kept and these were applied again onto them",
                self.named.name
            ));
        }
        Err(self
            .named
            .err_hint(
                ErrorKind::Unavailable,
                format!("secret {secret} kept changing under this write ({ROUNDS} attempts)"),
                "another writer is changing it now; compare with `envault store list` and try again",
            )
            .into())
    }
}

/// What writing one secret per key needs, cloned into each concurrent write.
#[derive(Clone)]
struct Writer {
    named: Named,
    client: aws_sdk_secretsmanager::Client,
    kms_key_id: Option<String>,
    tags: Option<Vec<Tag>>,
}

/// Where a secret stands before a write.
enum State {
    Live,
    /// Scheduled for deletion: restorable until AWS removes it.
    Deleted,
    Missing,
}

impl Writer {
    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        what: &str,
        e: SdkError<E, R>,
    ) -> StoreError {
        super::aws::error(&self.named, what, e)
    }

    async fn state(&self, name: &str) -> Result<State, StoreError> {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(d) if d.deleted_date().is_some() => Ok(State::Deleted),
            Ok(_) => Ok(State::Live),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(State::Missing),
            Err(e) => Err(self.error(&format!("describing {name}"), e)),
        }
    }

    /// Writes one secret: a new version of a live secret, a new secret (with the KMS key and
    /// tags), or a secret scheduled for deletion restored first. `listed` says whether the
    /// store's listing just found it (`None`: not listed, so it is asked for).
    async fn put(
        self,
        name: String,
        value: Secret,
        listed: Option<bool>,
    ) -> Result<(), StoreError> {
        let what = format!("writing {name}");
        let state = match listed {
            Some(true) => State::Live,
            Some(false) => State::Missing,
            None => self.state(&name).await?,
        };
        let state = match state {
            State::Missing => {
                let created = self
                    .client
                    .create_secret()
                    .name(&name)
                    .secret_string(value.expose())
                    .set_kms_key_id(self.kms_key_id.clone())
                    .set_tags(self.tags.clone())
                    .send()
                    .await;
                match created {
                    Ok(_) => return Ok(()),
                    // It exists after all: created in between, or scheduled for deletion
                    // (listings leave those out).
                    Err(e)
                        if is_code(&e, "ResourceExistsException")
                            || is_scheduled_for_deletion(&e) =>
                    {
                        self.state(&name).await?
                    }
                    Err(e) => return Err(self.error(&what, e)),
                }
            }
            other => other,
        };
        match state {
            State::Missing => {
                return Err(self.named.err(
                    ErrorKind::Unavailable,
                    format!("{what}: the secret came and went"),
                ))
            }
            State::Deleted => {
                self.client
                    .restore_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(|e| self.error(&format!("restoring {name}"), e))?;
            }
            State::Live => {}
        }
        self.client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value.expose())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error(&what, e))
    }
}

/// A secret that holds binary data rather than text.
fn binary(named: &Named, name: &str) -> StoreError {
    named.err_hint(
        ErrorKind::Invalid,
        format!("secret {name} holds binary data, not text"),
        "envault reads SecretString values only; move the binary secret out of the store's prefix",
    )
}

fn is_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, code: &str) -> bool {
    e.code() == Some(code)
}

fn is_scheduled_for_deletion<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("InvalidRequestException")
        && e.message()
            .is_some_and(|m| m.contains("marked deleted") || m.contains("scheduled for deletion"))
}

/// The keys of a JSON secret, in its order; anything but an object is refused.
fn parse_object(text: &str) -> Result<IndexMap<String, serde_json::Value>, &'static str> {
    if text.trim().is_empty() {
        return Ok(IndexMap::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => serde_json::from_str(text).map_err(|_| "is not JSON"),
        Ok(_) => Err("holds JSON that is not an object of keys"),
        Err(_) => Err("is not JSON (it holds a plain value)"),
    }
}

/// A JSON value as an env value: strings as they are, other values as their JSON text.
fn as_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `value` for a key that held `old`: a number or boolean stays one when the new text still
/// is one, so that a value AWS or another tool wrote as a number keeps its type.
fn typed(old: Option<&serde_json::Value>, value: &str) -> serde_json::Value {
    use serde_json::Value;
    match old {
        Some(Value::Number(_) | Value::Bool(_)) => match serde_json::from_str::<Value>(value) {
            Ok(v @ (Value::Number(_) | Value::Bool(_))) if *value == *v.to_string() => v,
            _ => Value::String(value.to_owned()),
        },
        _ => Value::String(value.to_owned()),
    }
}

/// The JSON text of `base` with `sets` and `deletes` applied; other keys keep their values.
fn apply(
    base: &IndexMap<String, serde_json::Value>,
    sets: &[(String, Secret)],
    deletes: &[String],
) -> zeroize::Zeroizing<String> {
    let mut map = base.clone();
    for (k, v) in sets {
        let value = typed(map.get(k), v.expose());
        map.insert(k.clone(), value);
    }
    for k in deletes {
        map.shift_remove(k);
    }
    zeroize::Zeroizing::new(serde_json::to_string(&map).expect("a map of JSON values serializes"))
}

/// Whether `map` holds every change.
fn holds(
    map: &IndexMap<String, serde_json::Value>,
    sets: &[(String, Secret)],
    deletes: &[String],
) -> bool {
    sets.iter()
        .all(|(k, v)| map.get(k).is_some_and(|x| as_text(x) == v.expose()))
        && deletes.iter().all(|k| !map.contains_key(k))
}

impl SecretStore for SecretsManager {
    fn named(&self) -> &Named {
        &self.named
    }

    fn capabilities(&self) -> super::Capabilities {
        let json = matches!(self.layout, Layout::Json { .. });
        super::Capabilities {
            paths: !json,
            typed_secrets: false,
            atomic_writes: json,
        }
    }

    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError> {
        match &self.layout {
            Layout::PerKey { prefix: own } => match prefix {
                Some(p) => self.list_per_key(p, p == own).await,
                None => self.list_per_key(own, true).await,
            },
            Layout::Json { secret } => {
                let (map, version) = self.read_json(secret, None).await?;
                let rotates = match version {
                    Some(_) => self.stages(secret).await?.2,
                    None => false,
                };
                let entries: Entries = map
                    .iter()
                    .filter(|(k, _)| prefix.is_none_or(|p| k.starts_with(p)))
                    .map(|(k, v)| (k.clone(), Secret::new(as_text(v))))
                    .collect();
                let keys: BTreeSet<String> = map.keys().cloned().collect();
                self.remember(Listing {
                    rotating: if rotates {
                        keys.clone()
                    } else {
                        BTreeSet::new()
                    },
                    keys,
                });
                Ok(entries)
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        match &self.layout {
            Layout::PerKey { prefix } => {
                let name = format!("{prefix}{key}");
                match self.client.get_secret_value().secret_id(&name).send().await {
                    Ok(out) => match out.secret_string() {
                        Some(s) => Ok(Some(Secret::new(s))),
                        None => Err(binary(&self.named, &name)),
                    },
                    Err(e) if is_code(&e, "ResourceNotFoundException") => Ok(None),
                    Err(e) => Err(self.error(&format!("reading {name}"), e)),
                }
            }
            Layout::Json { secret } => {
                let (map, _) = self.read_json(secret, None).await?;
                Ok(map.get(key).map(|v| Secret::new(as_text(v))))
            }
        }
    }

    async fn set_many(
        &self,
        items: &[(String, Secret)],
        _secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        let prefix = match &self.layout {
            Layout::Json { secret } => return self.change_json(secret, items, &[]).await,
            Layout::PerKey { prefix } => prefix,
        };
        let writer = Writer {
            named: self.named.clone(),
            client: self.client.clone(),
            kms_key_id: self.kms_key_id.clone(),
            tags: self.tags(),
        };
        let listing = self.listing();
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (k, v)) in items.iter().enumerate() {
            let (writer, limit) = (writer.clone(), limit.clone());
            let (name, value) = (format!("{prefix}{k}"), v.clone());
            let listed = listing.as_ref().map(|l| l.keys.contains(k));
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (i, writer.put(name, value, listed).await)
            });
        }
        let mut done = Vec::new();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let (i, r) = joined.expect("write task");
            match r {
                Ok(()) => done.push(i),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        done.sort_unstable();
        match first_error {
            None => Ok(()),
            Some(error) => Err(PartialWrite {
                written: done.into_iter().map(|i| items[i].0.clone()).collect(),
                error,
                unknown: Vec::new(),
            }),
        }
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let prefix = match &self.layout {
            Layout::Json { secret } => return self.change_json(secret, &[], keys).await,
            Layout::PerKey { prefix } => prefix,
        };
        let mut written = Vec::new();
        for k in keys {
            let name = format!("{prefix}{k}");
            // AWS keeps a deleted secret for 30 days (restorable); writing the key again
            // restores it.
            match self.client.delete_secret().secret_id(&name).send().await {
                Ok(_) => {
                    if let Some(l) = self
                        .listed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .as_mut()
                    {
                        l.keys.remove(k);
                    }
                    written.push(k.clone());
                }
                Err(e) => {
                    return Err(PartialWrite {
                        written,
                        error: self.error(&format!("deleting {name}"), e),
                        unknown: Vec::new(),
                    })
                }
            }
        }
        Ok(())
    }

    async fn rotated(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        let rotating = match (self.listing(), &self.layout) {
            (Some(l), _) => l.rotating,
            (None, Layout::Json { secret }) => match self.stages(secret).await {
                Ok((_, _, true)) => keys.iter().cloned().collect(),
                Ok(_) => BTreeSet::new(),
                Err(e) if e.kind == ErrorKind::NotFound => BTreeSet::new(),
                Err(e) => return Err(e),
            },
            (None, Layout::PerKey { prefix }) => {
                let mut r = BTreeSet::new();
                for k in keys {
                    match self.stages(&format!("{prefix}{k}")).await {
                        Ok((_, _, true)) => {
                            r.insert(k.clone());
                        }
                        Ok(_) => {}
                        Err(e) if e.kind == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                r
            }
        };
        Ok(keys
            .iter()
            .filter(|k| rotating.contains(*k))
            .cloned()
            .collect())
    }

    fn notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> IndexMap<String, serde_json::Value> {
        parse_object(text).unwrap()
    }

    #[test]
    fn changes_keep_other_keys_their_order_and_their_types() {
        let base = map(r#"{"username":"app","port":5432,"debug":false,"password":"old"}"#);
        let sets = [
            ("password".to_owned(), Secret::new("new")),
            ("port".to_owned(), Secret::new("6432")),
            ("debug".to_owned(), Secret::new("yes")),
            ("EXTRA".to_owned(), Secret::new("1")),
        ];
        let out = apply(&base, &sets, &["username".to_owned()]);
        assert_eq!(
            out.as_str(),
            r#"{"port":6432,"debug":"yes","password":"new","EXTRA":"1"}"#
        );
        assert!(holds(&map(&out), &sets, &["username".to_owned()]));
        assert!(!holds(&base, &sets, &[]));
    }

    #[test]
    fn only_an_object_of_keys_is_a_json_store() {
        assert!(parse_object("").unwrap().is_empty());
        assert!(parse_object("plain-password").is_err());
        assert!(parse_object("[1,2]").is_err());
        assert!(parse_object("\"text\"").is_err());
        assert_eq!(as_text(&map(r#"{"a":{"b":1}}"#)["a"]), r#"{"b":1}"#);
    }

    #[test]
    fn secret_names_are_checked() {
        assert!(valid_name("production/myapp/DB_PASSWORD"));
        assert!(valid_name("a+b=c.d@e-f_g"));
        assert!(!valid_name("prod app"));
        assert!(!valid_name("!negated"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(513)));
    }
}
