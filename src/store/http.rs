//! The HTTP client of the REST backends (Doppler, 1Password Connect): timeouts, bounded retries
//! with backoff on throttling, server errors and dropped connections, and errors that carry the
//! service's own message.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{ErrorKind, Named, StoreError};

/// Attempts per request (the first try and up to three retries).
pub const ATTEMPTS: u32 = 4;

/// The client of every backend that carries credentials: it never follows a redirect (a
/// trusted endpoint answering 307 must not forward the token, or reveal the secret's path
/// in a Referer, to an origin the trust rule would refuse). A 3xx is an error.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("envault/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds")
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The delay before retry `n` (1-based): exponential from 100 ms, or what Retry-After says
/// (capped at 10 s).
fn backoff(n: u32, retry_after: Option<&reqwest::header::HeaderValue>) -> Duration {
    if let Some(secs) = retry_after
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Duration::from_secs(secs.min(10));
    }
    Duration::from_millis(100 * 2u64.pow(n - 1))
}

/// Sends the request `build` makes, retrying what can be retried. A non-success status is
/// returned as an error built from the body's message; `auth_hint` says how to fix a 401.
pub async fn send(
    named: &Named,
    build: impl Fn() -> reqwest::RequestBuilder,
    auth_hint: &str,
) -> Result<reqwest::Response, StoreError> {
    let resp = send_any(named, build).await?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(status_error(named, resp, auth_hint).await)
    }
}

/// [`send`] without judging the status: the last response, whatever it says (throttling and
/// server errors are retried first); an error only when no response came.
pub async fn send_any(
    named: &Named,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match build().send().await {
            Ok(resp) if retryable(resp.status()) && attempt < ATTEMPTS => {
                let wait = backoff(attempt, resp.headers().get(reqwest::header::RETRY_AFTER));
                tokio::time::sleep(wait).await;
            }
            Ok(resp) => return Ok(resp),
            Err(e) if (e.is_connect() || e.is_timeout()) && attempt < ATTEMPTS => {
                tokio::time::sleep(backoff(attempt, None)).await;
            }
            Err(e) => {
                // A connection that never opened carried nothing; one that broke after the
                // request went out may have.
                let what = if e.is_connect() {
                    "cannot reach the store"
                } else {
                    "no answer from the store"
                };
                return Err(named.err_hint(
                    ErrorKind::Unavailable,
                    format!("{what}: {}", error_chain(&e)),
                    "check the address and your network; the request was retried",
                ));
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The service's message from an error body: `messages` (Doppler), `message` (1Password),
/// `errors` (Vault), else the text.
pub fn body_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for field in ["messages", "errors"] {
            if let Some(a) = v.get(field).and_then(|m| m.as_array()) {
                let parts: Vec<&str> = a.iter().filter_map(|x| x.as_str()).collect();
                if !parts.is_empty() {
                    return parts.join("; ");
                }
            }
        }
        for field in ["message", "error"] {
            if let Some(m) = v.get(field).and_then(|m| m.as_str()) {
                return m.to_owned();
            }
        }
    }
    body.chars().take(200).collect()
}

pub async fn status_error(named: &Named, resp: reqwest::Response, auth_hint: &str) -> StoreError {
    let status = resp.status();
    // Only the origin: a Location's path and query may carry what should not be printed.
    let resp_location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| super::trust::origin(l).unwrap_or_else(|| "a relative location".into()));
    let body = resp.text().await.unwrap_or_default();
    let msg = body_message(&body);
    let what = format!("{} {}", status.as_u16(), msg).trim().to_owned();
    match status.as_u16() {
        401 => named.err_hint(
            ErrorKind::Auth,
            format!("authentication failed: {what}"),
            auth_hint,
        ),
        403 => named.err_hint(
            ErrorKind::Denied,
            format!("permission denied: {what}"),
            auth_hint,
        ),
        404 => named.err(ErrorKind::NotFound, format!("not found: {what}")),
        300..=399 => {
            let to = resp_location.unwrap_or_else(|| "(no Location)".into());
            named.err_hint(
                ErrorKind::Untrusted,
                format!("the store redirected to {to}; envault never follows a redirect with your credentials"),
                "point the store at the address it redirects to, if you trust it (`envault trust`)",
            )
        }
        429 => named.err_hint(
            ErrorKind::Unavailable,
            format!("still throttled after {ATTEMPTS} attempts: {what}"),
            "wait and try again",
        ),
        s if s >= 500 => named.err_hint(
            ErrorKind::Unavailable,
            format!("server error after {ATTEMPTS} attempts: {what}"),
            "the store is failing; try again later",
        ),
        _ => named.err(ErrorKind::Invalid, format!("request refused: {what}")),
    }
}

/// Decodes a JSON body.
pub async fn json<T: DeserializeOwned>(
    named: &Named,
    resp: reqwest::Response,
) -> Result<T, StoreError> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| named.err(ErrorKind::Unavailable, format!("reading the response: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| named.err(ErrorKind::Invalid, format!("unexpected response: {e}")))
}
