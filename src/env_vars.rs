//! Every environment variable envault reads, declared once: envault's own (`ENVAULT_*`), the
//! ecosystem's (`HOME`, `XDG_*`, `EDITOR`, `NO_COLOR`, `GIT_INDEX_FILE`…) and the secret
//! stores'. Code reads a variable through its declaration here and nowhere else (a unit test
//! fails on a `std::env::var` anywhere else in src/), and `--help` and the man page list them
//! from [`ALL`].
//!
//! The user's folders (home, config, state, data) are resolved once, from `HOME` and the XDG
//! variables, by [`folders`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Who a variable belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// envault's own settings.
    Envault,
    /// Conventions envault follows: folders, editor, colour, git.
    Ecosystem,
    /// Credentials and addresses of the secret stores.
    Store,
}

/// An environment variable envault reads.
#[derive(Debug)]
pub struct EnvVar {
    pub name: &'static str,
    pub group: Group,
    /// One line for `--help` and the man page.
    pub about: &'static str,
}

impl EnvVar {
    const fn new(name: &'static str, group: Group, about: &'static str) -> EnvVar {
        EnvVar { name, group, about }
    }

    /// The value, when set and valid UTF-8 (possibly empty).
    pub fn get(&self) -> Option<String> {
        std::env::var(self.name).ok()
    }

    /// The value, when set to something other than whitespace.
    pub fn non_empty(&self) -> Option<String> {
        self.get().filter(|v| !v.trim().is_empty())
    }

    /// The raw value (paths need not be UTF-8), when set and not empty.
    pub fn os(&self) -> Option<OsString> {
        std::env::var_os(self.name).filter(|v| !v.is_empty())
    }

    /// Whether the variable is set to exactly `value`.
    pub fn is(&self, value: &str) -> bool {
        std::env::var_os(self.name).is_some_and(|v| v == value)
    }
}

use Group::{Ecosystem, Envault, Store};

pub const ENVAULT_CONFIG: EnvVar = EnvVar::new(
    "ENVAULT_CONFIG",
    Envault,
    "the .envault.yml to use (as --config); otherwise it is searched from the current folder up",
);
pub const ENVAULT_IDENTITY: EnvVar = EnvVar::new(
    "ENVAULT_IDENTITY",
    Envault,
    "an identity file to decrypt with, after --identity",
);
pub const ENVAULT_IDENTITY_KEY: EnvVar = EnvVar::new(
    "ENVAULT_IDENTITY_KEY",
    Envault,
    "an identity itself (AGE-SECRET-KEY-1…), for CI; `envault run` never passes it on",
);
pub const ENVAULT_TRUSTED_ENDPOINTS: EnvVar = EnvVar::new(
    "ENVAULT_TRUSTED_ENDPOINTS",
    Envault,
    "store endpoints trusted with your credentials, space- or comma-separated (CI's `envault trust`)",
);
pub const ENVAULT_MERGE_DISABLE: EnvVar = EnvVar::new(
    "ENVAULT_MERGE_DISABLE",
    Envault,
    "`1`: the merge driver does git's line merge instead (never on encrypted files)",
);
pub const HOME: EnvVar = EnvVar::new(
    "HOME",
    Ecosystem,
    "your home folder: config discovery stops there; ~/.ssh keys are identities of last resort",
);
pub const XDG_CONFIG_HOME: EnvVar = EnvVar::new(
    "XDG_CONFIG_HOME",
    Ecosystem,
    "your config folder (default ~/.config): envault/identity.txt, trusted-endpoints, allowed-paths",
);
pub const XDG_STATE_HOME: EnvVar = EnvVar::new(
    "XDG_STATE_HOME",
    Ecosystem,
    "your state folder (default ~/.local/state): envault/known-keys.json, rotation backups",
);
pub const XDG_DATA_HOME: EnvVar = EnvVar::new(
    "XDG_DATA_HOME",
    Ecosystem,
    "your data folder (default ~/.local/share): file stores may live in envault/",
);
pub const VISUAL: EnvVar = EnvVar::new("VISUAL", Ecosystem, "the editor of `envault edit`");
pub const EDITOR: EnvVar = EnvVar::new(
    "EDITOR",
    Ecosystem,
    "the editor of `envault edit` when VISUAL is not set (default vi)",
);
pub const TMPDIR: EnvVar = EnvVar::new(
    "TMPDIR",
    Ecosystem,
    "where `envault edit` makes its private folder; refused inside a repository",
);
pub const NO_COLOR: EnvVar = EnvVar::new(
    "NO_COLOR",
    Ecosystem,
    "set and not empty: no colour unless --color always",
);
pub const TERM: EnvVar = EnvVar::new("TERM", Ecosystem, "`dumb`: no colour unless --color always");
pub const GIT_INDEX_FILE: EnvVar = EnvVar::new(
    "GIT_INDEX_FILE",
    Ecosystem,
    "the index `scan --staged` reads (git sets it for hooks)",
);
pub const VAULT_ADDR: EnvVar = EnvVar::new(
    "VAULT_ADDR",
    Store,
    "HashiCorp Vault's address when the store names none",
);
pub const VAULT_TOKEN: EnvVar = EnvVar::new(
    "VAULT_TOKEN",
    Store,
    "HashiCorp Vault's token (else ~/.vault-token)",
);
pub const VAULT_NAMESPACE: EnvVar = EnvVar::new(
    "VAULT_NAMESPACE",
    Store,
    "HashiCorp Vault's namespace when the store names none",
);
pub const AWS_ENDPOINT_URL_SSM: EnvVar = EnvVar::new(
    "AWS_ENDPOINT_URL_SSM",
    Store,
    "the SSM endpoint; other AWS_* variables (AWS_PROFILE, AWS_REGION…) are the AWS SDK's",
);
pub const AWS_ENDPOINT_URL_SECRETS_MANAGER: EnvVar = EnvVar::new(
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    Store,
    "the Secrets Manager endpoint",
);
pub const AWS_ENDPOINT_URL: EnvVar = EnvVar::new(
    "AWS_ENDPOINT_URL",
    Store,
    "every AWS service's endpoint, when the service's own variable is not set",
);
pub const DOPPLER_TOKEN: EnvVar = EnvVar::new("DOPPLER_TOKEN", Store, "Doppler's service token");
pub const OP_CONNECT_HOST: EnvVar = EnvVar::new(
    "OP_CONNECT_HOST",
    Store,
    "the 1Password Connect server when the store names none",
);
pub const OP_CONNECT_TOKEN: EnvVar =
    EnvVar::new("OP_CONNECT_TOKEN", Store, "the 1Password Connect token");

/// Every variable, in the order help lists them.
pub const ALL: &[&EnvVar] = &[
    &ENVAULT_CONFIG,
    &ENVAULT_IDENTITY,
    &ENVAULT_IDENTITY_KEY,
    &ENVAULT_TRUSTED_ENDPOINTS,
    &ENVAULT_MERGE_DISABLE,
    &HOME,
    &XDG_CONFIG_HOME,
    &XDG_STATE_HOME,
    &XDG_DATA_HOME,
    &VISUAL,
    &EDITOR,
    &TMPDIR,
    &NO_COLOR,
    &TERM,
    &GIT_INDEX_FILE,
    &VAULT_ADDR,
    &VAULT_TOKEN,
    &VAULT_NAMESPACE,
    &AWS_ENDPOINT_URL_SSM,
    &AWS_ENDPOINT_URL_SECRETS_MANAGER,
    &AWS_ENDPOINT_URL,
    &DOPPLER_TOKEN,
    &OP_CONNECT_HOST,
    &OP_CONNECT_TOKEN,
];

/// A variable of the process environment named by the user's own files (`${VAR}` in an env
/// file `envault run` loads), not one envault itself reads.
pub fn process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable of the process environment as `$NAME` in an env file may read it: every one but
/// the identity key, which a file (repository content) must never copy into a variable the
/// program sees, as `run` never passes it on itself.
pub fn process_for_expansion(name: &str) -> Option<String> {
    if name == ENVAULT_IDENTITY_KEY.name {
        return None;
    }
    process(name)
}

/// Whether the process environment sets `name` (for `envault run`, which keeps what is set).
pub fn process_has(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

/// The user's folders, resolved once per process.
#[derive(Debug)]
pub struct Folders {
    /// `HOME` (else the password database); never a relative path: with no home, paths
    /// under it would land in the current folder, inside a repository whose content could
    /// then pose as the user's own config.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME/envault`, else `~/.config/envault`.
    pub config: Option<PathBuf>,
    /// `$XDG_STATE_HOME/envault`, else `~/.local/state/envault`.
    pub state: Option<PathBuf>,
    /// `$XDG_DATA_HOME/envault`, else `~/.local/share/envault`.
    pub data: Option<PathBuf>,
}

impl Folders {
    fn resolve() -> Folders {
        let home = std::env::home_dir().filter(|p| p.is_absolute());
        // An XDG base folder if set to an absolute path, else `default` under the home
        // folder; `envault` below it.
        let xdg = |var: &EnvVar, default: &str| match var.os().map(PathBuf::from) {
            Some(d) if d.is_absolute() => Some(d.join("envault")),
            _ => home.as_ref().map(|h| h.join(default).join("envault")),
        };
        Folders {
            config: xdg(&XDG_CONFIG_HOME, ".config"),
            state: xdg(&XDG_STATE_HOME, ".local/state"),
            data: xdg(&XDG_DATA_HOME, ".local/share"),
            home,
        }
    }
}

/// The user's folders (resolved on first use).
pub fn folders() -> &'static Folders {
    static FOLDERS: OnceLock<Folders> = OnceLock::new();
    FOLDERS.get_or_init(Folders::resolve)
}

/// The Environment section of `--help`, laid out as clap lays out long option help (the
/// text under the name, so that wrapping keeps its indent).
pub fn help_section() -> String {
    let mut out = String::from("Environment:");
    for v in ALL {
        out.push_str(&format!("\n  {}\n          {}", v.name, v.about));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No code outside this module reads the environment itself.
    #[test]
    fn the_environment_is_read_here_only() {
        let mut offenders = Vec::new();
        for (path, text) in crate::source_files() {
            if path.ends_with("env_vars.rs") {
                continue;
            }
            for (i, line) in text.lines().enumerate() {
                if ["env::var(", "env::var_os(", "env::vars(", "env::home_dir("]
                    .iter()
                    .any(|p| line.contains(p))
                {
                    offenders.push(format!("{}:{}: {line}", path.display(), i + 1));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "read it through env_vars:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn names_are_unique_and_documented() {
        let mut names: Vec<&str> = ALL.iter().map(|v| v.name).collect();
        assert!(ALL.iter().all(|v| !v.about.is_empty()));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(n, names.len());
        assert!(help_section().contains("ENVAULT_IDENTITY_KEY"));
    }
}
