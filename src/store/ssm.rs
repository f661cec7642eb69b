//! AWS Systems Manager Parameter Store: one parameter per key under a path prefix. Secrets are
//! SecureString (optionally with a KMS key); only keys the project declares public are String.

use std::sync::Arc;

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::ParameterType;

use super::trust::Trust;
use super::{Entries, ErrorKind, Named, PartialWrite, Secret, SecretStore, StoreError};

pub struct Ssm {
    named: Named,
    client: aws_sdk_ssm::Client,
    prefix: String,
    kms_key_id: Option<String>,
}

impl Ssm {
    pub async fn open(
        name: &str,
        region: &Option<String>,
        prefix: &str,
        kms_key_id: &Option<String>,
        endpoint_url: &Option<String>,
        trust: &Trust,
    ) -> Result<Ssm, StoreError> {
        let named = super::aws::trusted(
            name,
            endpoint_url,
            &crate::env_vars::AWS_ENDPOINT_URL_SSM,
            trust,
        )?;
        if !prefix.starts_with('/') {
            return Err(named.err_hint(
                ErrorKind::Config,
                format!("prefix `{prefix}` is not a parameter path"),
                "start it with `/`, e.g. /production/myapp/",
            ));
        }
        let conf = super::aws::sdk_config(region, endpoint_url).await;
        let named = super::aws::named_for(named, "ssm", endpoint_url, &conf)?;
        let prefix = if prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        Ok(Ssm {
            named,
            client: aws_sdk_ssm::Client::new(&conf),
            prefix,
            kms_key_id: kms_key_id.clone(),
        })
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        what: &str,
        e: SdkError<E, R>,
    ) -> StoreError {
        super::aws::error(&self.named, what, e)
    }

    fn name_of(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl SecretStore for Ssm {
    fn named(&self) -> &Named {
        &self.named
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            paths: true,
            typed_secrets: true,
            atomic_writes: false,
        }
    }

    async fn list(&self, prefix: Option<&str>) -> Result<Entries, StoreError> {
        let base = prefix.map_or_else(
            || self.prefix.clone(),
            |p| {
                if p.ends_with('/') {
                    p.to_owned()
                } else {
                    format!("{p}/")
                }
            },
        );
        let path = if base == "/" {
            "/".to_owned()
        } else {
            base.trim_end_matches('/').to_owned()
        };
        let mut pages = self
            .client
            .get_parameters_by_path()
            .path(&path)
            .recursive(true)
            .with_decryption(true)
            .max_results(10)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(&format!("listing {path}"), e))?;
            for p in page.parameters() {
                let (Some(name), Some(value)) = (p.name(), p.value()) else {
                    continue;
                };
                let key = name.strip_prefix(base.as_str()).unwrap_or(name);
                out.push((key.to_owned(), Secret::new(value)));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let name = self.name_of(key);
        match self
            .client
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(Secret::new)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error(&format!("reading {name}"), e)),
        }
    }

    async fn set_many(
        &self,
        items: &[(String, Secret)],
        secret: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), PartialWrite> {
        let limit = Arc::new(tokio::sync::Semaphore::new(super::aws::CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (k, v)) in items.iter().enumerate() {
            let (client, named) = (self.client.clone(), self.named.clone());
            let name = self.name_of(k);
            let value = v.clone();
            // A misclassified secret must not land in plain String: only declared public keys are.
            let kind = if secret(k) {
                ParameterType::SecureString
            } else {
                ParameterType::String
            };
            let kms = self
                .kms_key_id
                .clone()
                .filter(|_| kind == ParameterType::SecureString);
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let r = client
                    .put_parameter()
                    .name(&name)
                    .value(value.expose())
                    .r#type(kind)
                    .overwrite(true)
                    .set_key_id(kms)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| super::aws::error(&named, &format!("writing {name}"), e));
                (i, r)
            });
        }
        super::aws::gather(tasks, items).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), PartialWrite> {
        let mut written = Vec::new();
        for chunk in keys.chunks(10) {
            let names: Vec<String> = chunk.iter().map(|k| self.name_of(k)).collect();
            match self
                .client
                .delete_parameters()
                .set_names(Some(names))
                .send()
                .await
            {
                Ok(_) => written.extend(chunk.iter().cloned()),
                Err(e) => {
                    return Err(PartialWrite {
                        written,
                        error: self.error("deleting parameters", e),
                        unknown: Vec::new(),
                    })
                }
            }
        }
        Ok(())
    }
}
