//! What the two AWS stores (SSM Parameter Store, Secrets Manager) share: the SDK's
//! configuration (region, endpoint, retries, timeouts) and one account of a failed call.

use std::time::Duration;

// The SDK's error types, which every AWS service client re-exports as the same types.
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{ErrorKind, Named, PartialWrite, Secret, StoreError};

/// Requests in flight at once when writing one item per request.
pub const CONCURRENCY: usize = 16;

/// Waits for every write of `items` (each task answers with its item's index) and reports
/// exactly which were written when one failed.
pub async fn gather(
    mut tasks: tokio::task::JoinSet<(usize, Result<(), StoreError>)>,
    items: &[(String, Secret)],
) -> Result<(), PartialWrite> {
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

pub const AUTH_HINT: &str =
    "check your AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, `aws sso login`) and their IAM policy";

/// The store's name and endpoint, once the endpoint the config names (if any) is trusted
/// with the user's AWS credentials; `service_var` is the service's own endpoint variable
/// (`AWS_ENDPOINT_URL_SSM`…), which with `AWS_ENDPOINT_URL` counts as the user's own setting.
pub fn trusted(
    name: &str,
    endpoint_url: &Option<String>,
    service_var: &crate::env_vars::EnvVar,
    trust: &super::trust::Trust,
) -> Result<Named, StoreError> {
    let named = Named {
        name: name.to_owned(),
        endpoint: endpoint_url.clone().unwrap_or_else(|| "AWS".to_owned()),
    };
    if let Some(url) = endpoint_url {
        let eco = [service_var.get(), crate::env_vars::AWS_ENDPOINT_URL.get()];
        trust.check(&named, url, &eco)?;
    }
    Ok(named)
}

/// The SDK's configuration for a store: the credential chain as the AWS CLI has it, the
/// region and endpoint the store names (else the SDK's own settings), bounded retries.
pub async fn sdk_config(
    region: &Option<String>,
    endpoint_url: &Option<String>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        // Throttling is retried with backoff; an endpoint that refuses connections fails in
        // about a second rather than after many slow attempts.
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The store's name and endpoint once the region is known (`service`: `ssm`,
/// `secretsmanager`); no region is a configuration error.
pub fn named_for(
    named: Named,
    service: &str,
    endpoint_url: &Option<String>,
    conf: &aws_config::SdkConfig,
) -> Result<Named, StoreError> {
    let named = Named {
        endpoint: match (endpoint_url, conf.region()) {
            (Some(u), _) => u.clone(),
            (None, Some(r)) => format!("{service}.{r}.amazonaws.com"),
            (None, None) => "AWS".into(),
        },
        ..named
    };
    if conf.region().is_none() {
        return Err(named.err_hint(
            ErrorKind::Config,
            "no AWS region",
            "set region: in the store, or AWS_REGION / a profile's region",
        ));
    }
    Ok(named)
}

/// One line that says what failed and what to do; the SDK's account goes behind --verbose.
/// `not_found` is the service's code for a missing parameter or secret.
pub fn error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    named: &Named,
    what: &str,
    e: SdkError<E, R>,
) -> StoreError {
    let code = e.code().unwrap_or("").to_owned();
    let message = e.message().map(str::to_owned).unwrap_or_default();
    // An answer that could not be parsed is described without its body: a read's answer holds
    // the secret values.
    let detail = match &e {
        SdkError::ResponseError(_) => {
            "AWS's answer could not be parsed (its body is not shown: it may hold secret values)"
                .to_owned()
        }
        _ => format!("{}", DisplayErrorContext(&e)),
    };
    let network = matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_));
    classify(named, what, &code, &message, detail, network)
}

/// [`error`] from the parts of a failure: also used for the per-secret errors a batch read
/// returns inside a successful answer.
pub fn classify(
    named: &Named,
    what: &str,
    code: &str,
    message: &str,
    detail: String,
    network: bool,
) -> StoreError {
    let said = |fallback: &str| {
        if message.is_empty() {
            fallback.to_owned()
        } else {
            message.to_owned()
        }
    };
    // Credentials come first: a missing one also fails the dispatch.
    let (kind, what, hint): (ErrorKind, String, Option<&str>) = match code {
        "ExpiredTokenException" | "RequestExpired" => (
            ErrorKind::Auth,
            format!("the AWS credentials have expired ({what})"),
            Some("renew them (`aws sso login`, or new keys) and try again"),
        ),
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature" => (
            ErrorKind::Auth,
            format!(
                "AWS did not accept the credentials ({what}): {}",
                said(code)
            ),
            Some(AUTH_HINT),
        ),
        // AWS's message names the identity, the action and the resource.
        "AccessDeniedException" => (
            ErrorKind::Denied,
            format!("access denied ({what}): {}", said("no detail given")),
            Some("grant the action on the resource in the identity's IAM policy"),
        ),
        "DecryptionFailure" | "EncryptionFailure" | "KMSAccessDeniedException" => (
            ErrorKind::Denied,
            format!("KMS refused ({what}): {}", said(code)),
            Some("the identity needs kms:Decrypt / kms:GenerateDataKey on the secret's KMS key"),
        ),
        "ParameterNotFound" => (
            ErrorKind::NotFound,
            format!("{what}: no such parameter"),
            None,
        ),
        "ResourceNotFoundException" => {
            (ErrorKind::NotFound, format!("{what}: no such secret"), None)
        }
        "ThrottlingException" | "TooManyUpdates" => (
            ErrorKind::Unavailable,
            format!("throttled by AWS ({what})"),
            Some("throttled after retries; try again later"),
        ),
        "ValidationException"
        | "ParameterMaxVersionLimitExceeded"
        | "HierarchyLevelLimitExceededException"
        | "ParameterLimitExceeded"
        | "InvalidParameterException"
        | "InvalidRequestException"
        | "LimitExceededException" => (ErrorKind::Invalid, format!("{what}: {}", said(code)), None),
        "" if detail.contains("credentials") || detail.contains("credential provider") => (
            ErrorKind::Auth,
            format!("no AWS credentials found ({what})"),
            Some(AUTH_HINT),
        ),
        "" if network => (
            ErrorKind::Unavailable,
            format!("cannot reach {} ({what})", named.endpoint),
            Some("check the region or endpoint_url and your network (--verbose shows the cause)"),
        ),
        _ => (
            ErrorKind::Invalid,
            format!(
                "{what}: {}",
                said(if code.is_empty() {
                    "the request failed"
                } else {
                    code
                })
            ),
            None,
        ),
    };
    StoreError {
        hint: hint.map(str::to_owned),
        detail: Some(Box::new(detail)),
        ..named.err(kind, what)
    }
}
