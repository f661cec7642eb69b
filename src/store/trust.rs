//! Which endpoints may receive the user's credentials. `.envault.yml` is edited by pull
//! requests, so an endpoint it names is not trusted just because it is there: only the
//! ecosystem's own setting (VAULT_ADDR, OP_CONNECT_HOST, AWS's endpoints) or an endpoint the
//! user accepted (`envault trust`, or ENVAULT_TRUSTED_ENDPOINTS in CI). A loopback address is
//! no exception: another user of the machine, or a listener an earlier CI step of a pull
//! request left behind, may be what answers there.

use super::{ErrorKind, Named, StoreError};

/// `scheme://host:port` of a URL, lowercased, with the scheme's default port made explicit.
pub fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    let port = u.port_or_known_default()?;
    Some(format!("{}://{host}:{port}", u.scheme()))
}

/// Whether the URL points at this machine (127.0.0.0/8, ::1, localhost).
pub fn is_loopback(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url.trim()) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The user's trust file, one of their settings (see `settings`).
pub const FILE: &str = "trusted-endpoints";

/// The endpoints the user accepted.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    accepted: Vec<String>,
}

impl Trust {
    /// From the user's trust file lines and ENVAULT_TRUSTED_ENDPOINTS (comma or space
    /// separated).
    pub fn new(file_text: &str, env_list: &str) -> Trust {
        let accepted = file_text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .chain(env_list.split([',', ' ', '\n']).map(str::trim))
            .filter(|l| !l.is_empty())
            .filter_map(origin)
            .collect();
        Trust { accepted }
    }

    /// What this user accepted: their trust file (`settings::file`) and
    /// ENVAULT_TRUSTED_ENDPOINTS.
    pub fn of_user() -> Trust {
        let env = crate::env_vars::ENVAULT_TRUSTED_ENDPOINTS
            .get()
            .unwrap_or_default();
        Trust::new(&crate::settings::text(FILE), &env)
    }

    pub fn accepts(&self, url: &str) -> bool {
        origin(url).is_some_and(|o| self.accepted.contains(&o))
    }

    /// Fails unless `url` may receive credentials: accepted by the user, or equal to one of the
    /// ecosystem's own settings (`ecosystem`).
    pub fn check(
        &self,
        named: &Named,
        url: &str,
        ecosystem: &[Option<String>],
    ) -> Result<(), StoreError> {
        let Some(o) = origin(url) else {
            return Err(named.err_hint(
                ErrorKind::Config,
                format!("`{url}` is not a valid URL"),
                "give the endpoint as scheme://host[:port]",
            ));
        };
        let ecosystem_ok = ecosystem
            .iter()
            .flatten()
            .any(|e| origin(e).as_deref() == Some(o.as_str()));
        if ecosystem_ok || self.accepts(url) {
            return Ok(());
        }
        let local = if is_loopback(url) {
            " (a local address too: any process of any user may listen there)"
        } else {
            ""
        };
        Err(named.err_hint(
            ErrorKind::Untrusted,
            format!("{o} is named by .envault.yml but not trusted with your credentials{local}"),
            format!(
                "if this endpoint is yours, run `envault trust {}` (it records {o} in your own config); in CI, add it to ENVAULT_TRUSTED_ENDPOINTS",
                named.name
            ),
        ))
    }
}

/// Records `origin` as trusted in the user's trust file at `path` (one origin a line, with a
/// comment naming the store and its config). Returns `false` when it was already trusted.
pub fn record(
    path: &std::path::Path,
    origin: &str,
    note: &str,
) -> Result<bool, crate::fsutil::FsError> {
    let (snap, bytes) = crate::fsutil::read(path)?;
    let mut text = bytes
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if Trust::new(&text, "").accepts(origin) {
        return Ok(false);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("{origin}  # {note}\n"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| crate::fsutil::FsError::Io {
            op: "create",
            path: dir.to_owned(),
            source,
        })?;
    }
    crate::fsutil::write_atomic(&snap, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> Named {
        Named {
            name: "my-vault".into(),
            endpoint: "https://vault.evil.example".into(),
        }
    }

    #[test]
    fn origins_and_loopback() {
        assert_eq!(
            origin("https://Vault.internal:8200/v1/"),
            Some("https://vault.internal:8200".into())
        );
        assert_eq!(
            origin("https://api.doppler.com"),
            Some("https://api.doppler.com:443".into())
        );
        assert!(is_loopback("http://127.0.0.1:9000"));
        assert!(is_loopback("http://[::1]:9000"));
        assert!(is_loopback("http://localhost:1"));
        assert!(!is_loopback("http://localhost.evil.example"));
        assert!(!is_loopback("http://10.0.0.1"));
    }

    #[test]
    fn only_trusted_endpoints_get_credentials() {
        let t = Trust::new(
            "https://vault.internal:8200\n",
            "https://ci-vault:8200, http://x:1",
        );
        let n = named();
        assert!(t.check(&n, "https://vault.internal:8200", &[]).is_ok());
        assert!(t.check(&n, "https://ci-vault:8200/", &[]).is_ok());
        // A loopback address named by the repository is not trusted by itself (finding: a
        // listener of another user received VAULT_TOKEN), only through the ecosystem's own
        // setting or the user's acceptance.
        let e = t.check(&n, "http://127.0.0.1:1234", &[]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Untrusted);
        assert!(t
            .check(
                &n,
                "http://127.0.0.1:1234",
                &[Some("http://127.0.0.1:1234/".into())]
            )
            .is_ok());
        assert!(Trust::new("http://localhost:1234\n", "")
            .check(&n, "http://localhost:1234/v1", &[])
            .is_ok());
        assert!(t
            .check(
                &n,
                "https://vault.corp:8200",
                &[Some("https://vault.corp:8200".into())]
            )
            .is_ok());
        let e = t
            .check(&n, "https://vault.evil.example", &[None])
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Untrusted);
        assert!(e.hint.unwrap().contains("envault trust my-vault"));
    }
}
