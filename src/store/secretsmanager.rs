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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use indexmap::IndexMap;

use super::trust::Trust;
use super::{Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};

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
    /// The client, the store's name and what new secrets are created with.
    w: Writer,
    layout: Layout,
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
    /// The one JSON secret has rotation turned on.
    whole_rotates: bool,
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
        let named = super::aws::trusted(
            name,
            spec.endpoint_url,
            &crate::env_vars::AWS_ENDPOINT_URL_SECRETS_MANAGER,
            trust,
        )?;
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
                // A name, or the ARN of a secret (another account's, say).
                let arn = s.starts_with("arn:")
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-:".contains(&b));
                if !valid_name(s) && !arn {
                    return Err(named.err_hint(
                        ErrorKind::Config,
                        format!("`{s}` is not a secret name"),
                        "secret names hold letters, digits and /_+=.@- only, e.g. production/myapp (or give the secret's ARN)",
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
        let tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        Ok(SecretsManager {
            w: Writer {
                named,
                client: aws_sdk_secretsmanager::Client::new(&conf),
                kms_key_id: spec.kms_key_id.clone(),
                tags: (!tags.is_empty()).then_some(tags),
            },
            layout,
            listed: Mutex::new(None),
            notes: Mutex::new(Vec::new()),
        })
    }

    fn note(&self, text: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    // ---- one secret per key ----------------------------------------------------------------

    /// The secrets whose names start with `prefix` (exactly: AWS's filter is a prefix match),
    /// with their rotation state; secrets scheduled for deletion are not listed.
    async fn names_under(&self, prefix: &str) -> Result<Vec<(String, bool)>, StoreError> {
        let mut req = self
            .w
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
            let page = page.map_err(|e| self.w.error("listing secrets", e))?;
            for s in page.secret_list() {
                if let Some(name) = s.name().filter(|n| n.starts_with(prefix)) {
                    out.push((name.to_owned(), s.rotation_enabled().unwrap_or(false)));
                }
            }
        }
        Ok(out)
    }

    /// The values of `names`, read in batches of twenty. A secret without a value (created
    /// empty) or with a binary one is left out, with a note.
    async fn values_of(&self, names: &[String]) -> Result<HashMap<String, Secret>, StoreError> {
        let mut out = HashMap::with_capacity(names.len());
        for chunk in names.chunks(BATCH) {
            let got = self
                .w
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.to_vec()))
                .send()
                .await;
            let got = match got {
                Ok(g) => g,
                // Some servers fail the whole batch for one secret without a value: read
                // each on its own.
                Err(e) if is_code(&e, "ResourceNotFoundException") => {
                    for name in chunk {
                        if let Some(v) = self.value_of(name).await? {
                            out.insert(name.clone(), v);
                        }
                    }
                    continue;
                }
                Err(e) => return Err(self.w.error("reading secrets", e)),
            };
            // A batch answers for each secret: one it could not read fails the listing, but
            // one without a value is only left out.
            for err in got.errors() {
                let id = err.secret_id().unwrap_or("a secret");
                if err.error_code() == Some("ResourceNotFoundException") {
                    self.note(self.left_out(id, "has no value yet"));
                    continue;
                }
                return Err(super::aws::classify(
                    &self.w.named,
                    &format!("reading {id}"),
                    err.error_code().unwrap_or(""),
                    err.message().unwrap_or(""),
                    format!("{err:?}"),
                    false,
                ));
            }
            for v in got.secret_values() {
                let Some(name) = v.name() else { continue };
                match v.secret_string() {
                    Some(text) => {
                        out.insert(name.to_owned(), Secret::new(text));
                    }
                    None => self.note(self.left_out(name, "holds binary data, not text")),
                }
            }
        }
        Ok(out)
    }

    /// One secret's value (`None`, with a note: no value, or a binary one).
    async fn value_of(&self, name: &str) -> Result<Option<Secret>, StoreError> {
        match self
            .w
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
        {
            Ok(out) => match out.secret_string() {
                Some(s) => Ok(Some(Secret::new(s))),
                None => {
                    self.note(self.left_out(name, "holds binary data, not text"));
                    Ok(None)
                }
            },
            Err(e) if is_code(&e, "ResourceNotFoundException") => {
                self.note(self.left_out(name, "has no value yet"));
                Ok(None)
            }
            Err(e) => Err(self.w.error(&format!("reading {name}"), e)),
        }
    }

    fn left_out(&self, name: &str, why: &str) -> String {
        format!(
            "store '{}': secret {name} {why}; left out",
            self.w.named.name
        )
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

    /// Where the JSON secret stands, and its members (empty unless it holds a version).
    async fn read_json(
        &self,
        secret: &str,
        version: Option<&str>,
    ) -> Result<(Members, Base), StoreError> {
        let got = self
            .w
            .client
            .get_secret_value()
            .secret_id(secret)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await;
        let got = match got {
            Ok(g) => g,
            // No value: no such secret, or one created without a value (as Terraform does).
            Err(e) if is_code(&e, "ResourceNotFoundException") && version.is_none() => {
                let base = match self.w.state(secret).await? {
                    State::Missing => Base::Missing,
                    State::Deleted => Base::Deleted,
                    State::Live => Base::Empty,
                };
                return Ok((Members::default(), base));
            }
            Err(e) if is_scheduled_for_deletion(&e) && version.is_none() => {
                return Ok((Members::default(), Base::Deleted))
            }
            Err(e) => return Err(self.w.error(&format!("reading {secret}"), e)),
        };
        let Some(text) = got.secret_string() else {
            return Err(self.w.named.err_hint(
                ErrorKind::Invalid,
                format!("secret {secret} holds binary data, not text"),
                "a `secret:` store holds one JSON object of keys as text (SecretString)",
            ));
        };
        let members = Members::parse(text).map_err(|what| {
            self.w.named.err_hint(
                ErrorKind::Invalid,
                format!("secret {secret} {what}"),
                "a `secret:` store holds one JSON object of keys; use `prefix:` for one secret per key",
            )
        })?;
        let base = got
            .version_id()
            .map_or(Base::Empty, |v| Base::Version(v.to_owned()));
        Ok((members, base))
    }

    /// Which version holds each of `AWSCURRENT` and `AWSPREVIOUS`, and whether rotation is on.
    async fn stages(
        &self,
        secret: &str,
    ) -> Result<(Option<String>, Option<String>, bool), StoreError> {
        let d = self
            .w
            .client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| self.w.error(&format!("describing {secret}"), e))?;
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

    /// Writes `body` as the secret's new version, creating or restoring the secret as `base`
    /// requires; returns the new version's id.
    async fn write_json(
        &self,
        secret: &str,
        base: &Base,
        body: &str,
    ) -> Result<String, StoreError> {
        let what = format!("writing {secret}");
        if body.len() > MAX_SECRET {
            return Err(self.w.named.err_hint(
                ErrorKind::Invalid,
                format!("{what}: the secret would hold {} bytes; Secrets Manager holds at most {MAX_SECRET}", body.len()),
                "move some keys to another store, or use `prefix:` for one secret per key",
            ));
        }
        if *base == Base::Deleted {
            self.w.restore(secret).await?;
        }
        let version = if *base == Base::Missing {
            self.w
                .client
                .create_secret()
                .name(secret)
                .secret_string(body)
                .set_kms_key_id(self.w.kms_key_id.clone())
                .set_tags(self.w.tags.clone())
                .send()
                .await
                .map_err(|e| self.w.error(&what, e))?
                .version_id()
                .map(str::to_owned)
        } else {
            self.w
                .client
                .put_secret_value()
                .secret_id(secret)
                .secret_string(body)
                .send()
                .await
                .map_err(|e| self.w.error(&what, e))?
                .version_id()
                .map(str::to_owned)
        };
        version.ok_or_else(|| {
            self.w.named.err(
                ErrorKind::Invalid,
                format!("{what}: AWS returned no version id"),
            )
        })
    }

    /// Every version id the secret has (deprecated ones too); none when it does not exist.
    async fn version_ids(&self, secret: &str) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        let mut token: Option<String> = None;
        loop {
            let page = match self
                .w
                .client
                .list_secret_version_ids()
                .secret_id(secret)
                .include_deprecated(true)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) if is_code(&e, "ResourceNotFoundException") => return Ok(out),
                Err(e) => {
                    return Err(self
                        .w
                        .error(&format!("listing the versions of {secret}"), e))
                }
            };
            out.extend(
                page.versions()
                    .iter()
                    .filter_map(|v| v.version_id().map(str::to_owned)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The JSON secret as a write starts from it, and the versions it had before the read:
    /// any other one found later was made by another writer.
    async fn start_json(
        &self,
        secret: &str,
    ) -> Result<(Members, Base, HashSet<String>), StoreError> {
        // The versions before the read: any other one found later was made by another writer.
        let mut listed = self.version_ids(secret).await;
        let (base, mut state) = self.read_json(secret, None).await?;
        if state == Base::Deleted {
            // Scheduled for deletion, so read as empty: restored, it holds only what this
            // write sets (its earlier version stays in its history).
            self.w.restore(secret).await?;
            self.note(format!(
                "store '{}': secret {secret} was scheduled for deletion; restored, holding only the keys written now",
                self.w.named.name
            ));
            let (_, restored) = self.read_json(secret, None).await?;
            state = restored;
            listed = self.version_ids(secret).await;
        }
        let seen = match (listed, &state) {
            (Ok(ids), _) => ids,
            (Err(_), Base::Missing) => HashSet::new(),
            (Err(e), _) => return Err(e),
        };
        Ok((base, state, seen))
    }

    /// Tells the user that another writer's changes were merged, naming the keys both
    /// changed (this write's value wins for those).
    fn note_race(
        &self,
        secret: &str,
        changed: &[String],
        foreign: &[Members],
        known: &[Members],
        ours: &Members,
    ) {
        let conflicts: Vec<String> = changed
            .iter()
            .filter(|k| {
                foreign
                    .iter()
                    .any(|f| Members::changed_by(f, known, k) && f.get(k) != ours.get(k))
            })
            .cloned()
            .collect();
        let also = if conflicts.is_empty() {
            String::new()
        } else {
            format!(
                "; it also changed {}, which this write changes: this write's value wins",
                conflicts.join(", ")
            )
        };
        self.note(format!(
            "store '{}': another writer changed secret {secret} while this write was made; \
             its changes are kept and these were applied again onto them{also}",
            self.w.named.name
        ));
    }

    /// Applies `sets` and `deletes` to the JSON secret, and makes sure that no other writer's
    /// version was dropped on the way (see the module's documentation). After a write, the
    /// version staged `AWSPREVIOUS` must be the one the write was computed from and the one
    /// staged `AWSCURRENT` the write itself. Otherwise every version another writer made since
    /// the read is merged: its changes and this write's go onto the current version, and that is
    /// written again.
    async fn change_json(
        &self,
        secret: &str,
        sets: &[(String, Secret)],
        deletes: &[String],
    ) -> Result<(), PartialWrite> {
        let changed: Vec<String> = sets
            .iter()
            .map(|(k, _)| k.clone())
            .chain(deletes.iter().cloned())
            .collect();
        let (mut base, mut state, mut seen) = self.start_json(secret).await?;
        // Every version this write knows: a version another writer made started from one.
        let mut known = vec![base.clone()];
        for round in 0..ROUNDS {
            let ours = base.with(sets, deletes);
            let written = match self.write_json(secret, &state, &ours.body()).await {
                Ok(v) => v,
                // Created by another writer in between: start again from theirs.
                Err(e)
                    if state == Base::Missing
                        && round + 1 < ROUNDS
                        && e.kind == ErrorKind::Invalid =>
                {
                    (base, state) = self.read_json(secret, None).await?;
                    if state == Base::Missing {
                        return Err(PartialWrite::from(e));
                    }
                    known.push(base.clone());
                    continue;
                }
                Err(e) if round == 0 => return Err(e.into()),
                Err(e) => {
                    return Err(PartialWrite {
                        written: changed,
                        error: e,
                        unknown: Vec::new(),
                    })
                }
            };
            let (current, previous, _) = self.stages(secret).await?;
            let read = match &state {
                Base::Version(v) => Some(v.clone()),
                _ => None,
            };
            if previous == read && current.as_deref() == Some(written.as_str()) {
                return Ok(());
            }
            // Other writers' versions since the read: the current one, and any in between.
            let now = self.version_ids(secret).await?;
            let current = current.unwrap_or_else(|| written.clone());
            let between: Vec<String> = now
                .iter()
                .filter(|v| !seen.contains(*v) && **v != written && **v != current)
                .filter(|v| Some(*v) != read.as_ref())
                .cloned()
                .collect();
            seen = now;
            known.push(ours.clone());
            let mut foreign = Vec::new();
            let mut next = if current == written {
                ours.clone()
            } else {
                let later = self.read_json(secret, Some(&current)).await?.0;
                foreign.push(later.clone());
                later
            };
            for v in &between {
                let (theirs, _) = self.read_json(secret, Some(v)).await?;
                next.merge_changes(&known, &theirs, &ours);
                foreign.push(theirs);
            }
            if between.is_empty() && next.holds(sets, deletes) {
                // Only a later write, and it kept this write's changes.
                return Ok(());
            }
            self.note_race(secret, &changed, &foreign, &known, &ours);
            known.push(next.clone());
            (base, state) = (next, Base::Version(current));
        }
        Err(PartialWrite {
            written: changed,
            error: self.w.named.err_hint(
                ErrorKind::Unavailable,
                format!(
                    "secret {secret} kept changing under this write ({ROUNDS} attempts): its current \
                     version holds these keys, and another writer's last changes may be missing from it"
                ),
                "another writer is changing it now; compare with `envault store list` and push again",
            ),
            unknown: Vec::new(),
        })
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

    /// Takes a secret out of its scheduled deletion.
    async fn restore(&self, name: &str) -> Result<(), StoreError> {
        self.client
            .restore_secret()
            .secret_id(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error(&format!("restoring {name}"), e))
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
            State::Deleted => self.restore(&name).await?,
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

/// Where a JSON secret stood when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    /// No such secret.
    Missing,
    /// The secret exists without a value (created empty, as Terraform does).
    Empty,
    /// Scheduled for deletion: restorable.
    Deleted,
    /// The version read.
    Version(String),
}

/// The largest SecretString Secrets Manager accepts, in bytes.
const MAX_SECRET: usize = 65_536;

/// A JSON secret's members in order: each key and its value's JSON text exactly as written,
/// so that values a write does not change keep every byte (number text, nested key order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Members(Vec<(String, String)>);

impl Members {
    /// The members of `text`, a JSON object; anything else is refused, saying what it is
    /// (never showing it: it may be a secret).
    fn parse(text: &str) -> Result<Members, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(Members::default());
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(t) {
            return Err(if t.starts_with(['{', '[', '"']) {
                format!(
                    "is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )
            } else {
                "holds a plain value, not a JSON object of keys".to_owned()
            });
        }
        if !t.starts_with('{') {
            return Err("holds JSON that is not an object of keys".to_owned());
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for (raw_key, raw_value) in split_members(&t[1..t.len() - 1]) {
            let key: String = serde_json::from_str(raw_key).map_err(|_| "is not valid JSON")?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(format!(
                    "holds the key {key} twice (JSON readers disagree on which one counts)"
                ));
            }
            out.push((key, raw_value.to_owned()));
        }
        Ok(Members(out))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Each key with its value as an env value: a string's text; other values as their JSON.
    fn entries(&self) -> impl Iterator<Item = (&String, String)> {
        self.0.iter().map(|(k, v)| (k, as_text(v)))
    }

    fn set(&mut self, key: &str, raw: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(m) => m.1 = raw,
            None => self.0.push((key.to_owned(), raw)),
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// These members with `sets` and `deletes` applied; other members keep their text.
    fn with(&self, sets: &[(String, Secret)], deletes: &[String]) -> Members {
        let mut out = self.clone();
        for (k, v) in sets {
            let raw = typed(self.get(k), v.expose());
            out.set(k, raw);
        }
        for k in deletes {
            out.remove(k);
        }
        out
    }

    /// Whether `theirs` changed `key`: its value there differs from the value in every version
    /// this write knows (what it read, what it wrote, what it merged), since another writer's
    /// version may have started from any of them.
    fn changed_by(theirs: &Members, known: &[Members], key: &str) -> bool {
        known.iter().all(|k| k.get(key) != theirs.get(key))
    }

    /// Takes in the changes `theirs` made, for keys this write (`ours`) had as they still are
    /// here: a later change to the key wins over the lost version's.
    fn merge_changes(&mut self, known: &[Members], theirs: &Members, ours: &Members) {
        let keys: Vec<String> = known
            .iter()
            .flat_map(Members::keys)
            .chain(theirs.keys())
            .cloned()
            .collect();
        for k in keys {
            let t = theirs.get(&k);
            if !Members::changed_by(theirs, known, &k) || self.get(&k) != ours.get(&k) {
                continue;
            }
            match t {
                Some(v) => self.set(&k, v.to_owned()),
                None => self.remove(&k),
            }
        }
    }

    fn holds(&self, sets: &[(String, Secret)], deletes: &[String]) -> bool {
        sets.iter()
            .all(|(k, v)| self.get(k).is_some_and(|x| as_text(x) == v.expose()))
            && deletes.iter().all(|k| self.get(k).is_none())
    }

    /// The JSON text of the object (compact; each value's text as it is).
    fn body(&self) -> zeroize::Zeroizing<String> {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).expect("a string serializes"));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        zeroize::Zeroizing::new(out)
    }
}

/// The members of a JSON object's inside (already checked to be valid JSON): each member's key
/// text and value text, trimmed.
fn split_members(inner: &str) -> Vec<(&str, &str)> {
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut start, mut colon) = (0usize, None);
    for (i, &c) in b.iter().enumerate() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b':' if depth == 0 && colon.is_none() => colon = Some(i),
            b',' if depth == 0 => {
                if let Some(c) = colon.take() {
                    out.push((inner[start..c].trim(), inner[c + 1..i].trim()));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some(c) = colon {
        out.push((inner[start..c].trim(), inner[c + 1..].trim()));
    }
    out
}

/// A JSON value's text as an env value: a string's contents; any other value as written.
fn as_text(raw: &str) -> String {
    if raw.starts_with('"') {
        serde_json::from_str(raw).unwrap_or_default()
    } else {
        raw.to_owned()
    }
}

/// The JSON text for `value` under a key that held `old`: a value that was not a string (a
/// number, a boolean, null, an object, an array) stays one of its kind while the new text is
/// valid JSON of that kind, as another tool or an app reading the secret as JSON expects;
/// everything else is a string.
fn typed(old: Option<&str>, value: &str) -> String {
    let kind = |raw: &str| match raw.as_bytes().first() {
        Some(b'"') => 's',
        Some(b'{') => 'o',
        Some(b'[') => 'a',
        Some(b't' | b'f') => 'b',
        Some(b'n') => 'n',
        Some(_) => '#',
        None => 's',
    };
    let valid = serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok();
    match old {
        Some(o) if kind(o) != 's' && valid && value == value.trim() && kind(value) == kind(o) => {
            value.to_owned()
        }
        _ => serde_json::to_string(value).expect("a string serializes"),
    }
}

impl SecretStore for SecretsManager {
    fn named(&self) -> &Named {
        &self.w.named
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
                let (members, state) = self.read_json(secret, None).await?;
                if state == Base::Deleted {
                    self.note(format!(
                        "store '{}': secret {secret} is scheduled for deletion: read as empty (a write restores it with only the keys written)",
                        self.w.named.name
                    ));
                }
                let rotates = match state {
                    Base::Missing | Base::Deleted => false,
                    Base::Empty | Base::Version(_) => self.stages(secret).await?.2,
                };
                let entries: Entries = members
                    .entries()
                    .filter(|(k, _)| prefix.is_none_or(|p| k.starts_with(p)))
                    .map(|(k, v)| (k.clone(), Secret::new(v)))
                    .collect();
                self.remember(Listing {
                    keys: members.keys().cloned().collect(),
                    rotating: BTreeSet::new(),
                    whole_rotates: rotates,
                });
                Ok(entries)
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        match &self.layout {
            Layout::PerKey { prefix } => {
                let name = format!("{prefix}{key}");
                match self
                    .w
                    .client
                    .get_secret_value()
                    .secret_id(&name)
                    .send()
                    .await
                {
                    Ok(out) => match out.secret_string() {
                        Some(s) => Ok(Some(Secret::new(s))),
                        None => Err(binary(&self.w.named, &name)),
                    },
                    // No such secret, none with a value, or one scheduled for deletion.
                    Err(e)
                        if is_code(&e, "ResourceNotFoundException")
                            || is_scheduled_for_deletion(&e) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(self.w.error(&format!("reading {name}"), e)),
                }
            }
            Layout::Json { secret } => {
                let (members, _) = self.read_json(secret, None).await?;
                Ok(members.get(key).map(|v| Secret::new(as_text(v))))
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
        // Secrets Manager holds no empty value, and at most 64 KiB: refused before any write.
        for (k, v) in items {
            let why = match v.expose().len() {
                0 => "an empty value (Secrets Manager holds none)".to_owned(),
                n if n > MAX_SECRET => {
                    format!("{n} bytes (Secrets Manager holds at most {MAX_SECRET})")
                }
                _ => continue,
            };
            return Err(self
                .w.named
                .err_hint(
                    ErrorKind::Invalid,
                    format!("{k}: {why}"),
                    "delete the key instead of emptying it, or keep the environment in one JSON secret (`secret:`)",
                )
                .into());
        }
        let writer = self.w.clone();
        let listing = self.listing();
        let limit = Arc::new(tokio::sync::Semaphore::new(super::aws::CONCURRENCY));
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
        super::aws::gather(tasks, items).await
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
            match self.w.client.delete_secret().secret_id(&name).send().await {
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
                        error: self.w.error(&format!("deleting {name}"), e),
                        unknown: Vec::new(),
                    })
                }
            }
        }
        Ok(())
    }

    async fn rotated(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        let rotating = match (self.listing(), &self.layout) {
            // Any write to a rotated JSON secret writes the secret its rotation manages.
            (Some(l), Layout::Json { .. }) if l.whole_rotates => keys.iter().cloned().collect(),
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

    fn members(text: &str) -> Members {
        Members::parse(text).unwrap()
    }

    #[test]
    fn changes_keep_other_values_to_the_byte_and_types_where_they_fit() {
        let base = members(
            r#"{"username": "app", "port": 5432, "debug": false, "ver": 3.10, "big": 123456789012345678901234,
               "nested": {"zeta": 1, "alpha": [1, 2]}, "opt": null, "password": "old"}"#,
        );
        let sets = [
            ("password".to_owned(), Secret::new("new \"q\"")),
            ("port".to_owned(), Secret::new("6432")),
            ("debug".to_owned(), Secret::new("yes")),
            ("nested".to_owned(), Secret::new(r#"{"b":2}"#)),
            ("EXTRA".to_owned(), Secret::new("1")),
        ];
        let out = base.with(&sets, &["username".to_owned()]);
        assert_eq!(
            out.body().as_str(),
            r#"{"port":6432,"debug":"yes","ver":3.10,"big":123456789012345678901234,"nested":{"b":2},"opt":null,"password":"new \"q\"","EXTRA":"1"}"#
        );
        assert!(out.holds(&sets, &["username".to_owned()]));
        assert!(!base.holds(&sets, &[]));
        // Values read as env values: strings' text, other values as written.
        let read: Vec<(String, String)> = base.entries().map(|(k, v)| (k.clone(), v)).collect();
        assert_eq!(read[3], ("ver".to_owned(), "3.10".to_owned()));
        assert_eq!(
            read[5],
            (
                "nested".to_owned(),
                r#"{"zeta": 1, "alpha": [1, 2]}"#.to_owned()
            )
        );
    }

    #[test]
    fn another_writers_lost_changes_are_merged_where_no_later_write_touched_them() {
        let base = members(r#"{"A":"1","B":"1","C":"1"}"#);
        let theirs = members(r#"{"A":"1","B":"theirs","C":"1","T":"new"}"#);
        let ours = base.with(&[("A".to_owned(), Secret::new("ours"))], &[]);
        // A later write changed C after ours.
        let mut later = members(r#"{"A":"ours","B":"1","C":"later"}"#);
        later.merge_changes(&[base.clone(), ours.clone()], &theirs, &ours);
        assert_eq!(
            later.body().as_str(),
            r#"{"A":"ours","B":"theirs","C":"later","T":"new"}"#
        );
    }

    /// A version another writer started from this write's first attempt: what that attempt
    /// lacked, and a later attempt merged back, is no change of theirs.
    #[test]
    fn a_version_started_from_an_earlier_attempt_undoes_nothing() {
        let read = members(r#"{"A":"1"}"#);
        let first = members(r#"{"A":"1","NEW":"x"}"#);
        let merged = members(r#"{"A":"1","NEW":"x","OTHER_1":"o"}"#);
        let theirs = members(r#"{"A":"1","NEW":"x","OTHER_2":"o"}"#);
        let mut next = merged.clone();
        next.merge_changes(&[read, first, merged.clone()], &theirs, &merged);
        assert_eq!(
            next.body().as_str(),
            r#"{"A":"1","NEW":"x","OTHER_1":"o","OTHER_2":"o"}"#
        );
    }

    #[test]
    fn only_an_object_of_keys_is_a_json_store() {
        assert!(Members::parse("").unwrap().0.is_empty());
        assert_eq!(
            Members::parse("plain-password").unwrap_err(),
            "holds a plain value, not a JSON object of keys"
        );
        assert!(Members::parse("[1,2]").is_err());
        assert!(Members::parse("\"text\"").is_err());
        assert!(Members::parse(r#"{"a": "x"#)
            .unwrap_err()
            .starts_with("is not valid JSON (line 1"));
        assert!(Members::parse(r#"{"DUP":"1","DUP":"2"}"#)
            .unwrap_err()
            .contains("DUP twice"));
        assert_eq!(members(r#"{"big": 1e400}"#).get("big"), Some("1e400"));
        assert_eq!(members("{}").0.len(), 0);
        assert_eq!(
            members(r#"{"a,b": "x:y", "c": {"d": ",:"}}"#).0,
            vec![
                ("a,b".to_owned(), r#""x:y""#.to_owned()),
                ("c".to_owned(), r#"{"d": ",:"}"#.to_owned())
            ]
        );
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
