//! The user's own settings: small files in envault's config folder
//! (`$XDG_CONFIG_HOME/envault`, else `~/.config/envault`), which repository content cannot
//! reach. They widen what a repository may do, so they are the user's decision alone:
//! - `allowed-paths`: folders outside the repository an env file or file store may live in,
//!   one absolute folder a line;
//! - `run-allowed-variables`: variables such as `LD_PRELOAD` that `envault run` may take from
//!   an env file, one name a line;
//! - `trusted-endpoints`: store endpoints trusted to receive credentials (see
//!   `store::trust`).
//!
//! `#` starts a comment; blank lines are skipped. A missing file means nothing is allowed.

use std::path::PathBuf;

/// The settings file `name` in the user's config folder, when there is a config folder.
pub fn file(name: &str) -> Option<PathBuf> {
    crate::env_vars::folders()
        .config
        .as_ref()
        .map(|d| d.join(name))
}

/// The text of the settings file `name`; empty when it is missing or unreadable.
pub fn text(name: &str) -> String {
    file(name)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// The entries of the settings file `name`: one a line, comments and blank lines dropped.
pub fn lines(name: &str) -> Vec<String> {
    entries(&text(name))
}

fn entries(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Folders outside the repository the user allowed env files and file stores in.
pub fn allowed_paths() -> Vec<PathBuf> {
    lines("allowed-paths")
        .into_iter()
        .map(PathBuf::from)
        .collect()
}

/// Variables that control execution which `envault run` may still take from an env file.
pub fn run_allowed_variables() -> Vec<String> {
    lines("run-allowed-variables")
}

#[cfg(test)]
mod tests {
    use super::entries;

    #[test]
    fn comments_and_blank_lines_are_not_entries() {
        let text = "# folders I keep secrets in\n/srv/secrets  # shared\n\n   \n/opt/env\n#/old\n";
        assert_eq!(entries(text), vec!["/srv/secrets", "/opt/env"]);
    }
}
