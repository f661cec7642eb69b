//! The one catalogue of rules `check` and `scan` report: each rule's id (stable: it is in
//! JSON, SARIF, annotations and allow-lists), what it means and what to do about it. A
//! finding carries its own fix text (naming the file or environment); [`Rule::fix`] is the
//! general advice, as the SARIF rule table shows it.

use std::fmt;

/// A credential family of the catalogue (a rule of its own: `Rule::Credential`).
pub use crate::catalogue::Family as Credential;

/// A rule of `check` or `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A key present in some environments is missing from another.
    MissingKey,
    /// A configured environment's file does not exist.
    MissingFile,
    DuplicateKey,
    /// An environment's file does not parse (`check`).
    ParseError,
    EmptyValue,
    RecipientCannotOpen,
    RecipientNotListed,
    StoreDrift,
    DamagedHeader,
    ReplayedValue,
    PlaintextSecret,
    UnencryptedValue,
    ConfigWeakened,
    EnvFileSecret,
    KnownSecret,
    HighEntropySecret,
    DataKeyReplaced,
    RecipientsChanged,
    /// A configured env file does not parse, so `scan` cannot judge it.
    EnvParseError,
    /// A line that readers of env files read differently (a warning of `check`).
    ReaderDisagreement,
    /// A value in a provider's credential format.
    Credential(&'static Credential),
}

impl Rule {
    /// Every rule that is not a credential format, in the order the docs list them.
    pub const CONSISTENCY_AND_SECRETS: [Rule; 20] = [
        Rule::MissingKey,
        Rule::MissingFile,
        Rule::DuplicateKey,
        Rule::ParseError,
        Rule::EmptyValue,
        Rule::RecipientCannotOpen,
        Rule::RecipientNotListed,
        Rule::StoreDrift,
        Rule::DamagedHeader,
        Rule::ReplayedValue,
        Rule::PlaintextSecret,
        Rule::UnencryptedValue,
        Rule::ConfigWeakened,
        Rule::EnvFileSecret,
        Rule::KnownSecret,
        Rule::HighEntropySecret,
        Rule::DataKeyReplaced,
        Rule::RecipientsChanged,
        Rule::EnvParseError,
        Rule::ReaderDisagreement,
    ];

    /// The rule's stable id.
    pub fn id(self) -> &'static str {
        match self {
            Rule::MissingKey => "missing-key",
            Rule::MissingFile => "missing-file",
            Rule::DuplicateKey => "duplicate-key",
            Rule::ParseError => "parse-error",
            Rule::EmptyValue => "empty-value",
            Rule::RecipientCannotOpen => "recipient-cannot-open",
            Rule::RecipientNotListed => "recipient-not-listed",
            Rule::StoreDrift => "store-drift",
            Rule::DamagedHeader => "damaged-header",
            Rule::ReplayedValue => "replayed-value",
            Rule::PlaintextSecret => "plaintext-secret",
            Rule::UnencryptedValue => "unencrypted-value",
            Rule::ConfigWeakened => "config-weakened",
            Rule::EnvFileSecret => "env-file-secret",
            Rule::KnownSecret => "known-secret",
            Rule::HighEntropySecret => "high-entropy-secret",
            Rule::DataKeyReplaced => "data-key-replaced",
            Rule::RecipientsChanged => "recipients-changed",
            Rule::EnvParseError => "env-parse-error",
            Rule::ReaderDisagreement => "reader-disagreement",
            Rule::Credential(f) => f.id,
        }
    }

    /// One sentence: what a finding of this rule means.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::MissingKey => "A key is missing from some environments.",
            Rule::MissingFile => "A configured environment's file does not exist.",
            Rule::DuplicateKey => "A key is defined more than once in one file.",
            Rule::ParseError => "An env file does not parse.",
            Rule::EmptyValue => "A key is empty in one environment but set in another.",
            Rule::RecipientCannotOpen => {
                "A recipient in .envault.yml cannot open the file's data key."
            }
            Rule::RecipientNotListed => {
                "The file's header names a reader that .envault.yml does not declare."
            }
            Rule::StoreDrift => "An environment differs from its secret store.",
            Rule::DamagedHeader => "An encrypted file's header is missing, moved or broken.",
            Rule::ReplayedValue => "A sealed value that history replaced was brought back.",
            Rule::PlaintextSecret => "A secret is in clear in a configured environment.",
            Rule::UnencryptedValue => {
                "A value is in clear in an environment marked `encrypted: true`."
            }
            Rule::ConfigWeakened => "A change to .envault.yml weakens the protection of secrets.",
            Rule::EnvFileSecret => "A .env file that no .envault.yml manages holds a secret.",
            Rule::KnownSecret => {
                "A secret value of a configured environment appears in another file."
            }
            Rule::HighEntropySecret => "A random-looking value is assigned to a secret-named key.",
            Rule::DataKeyReplaced => "An encrypted file's data key was replaced.",
            Rule::RecipientsChanged => "An encrypted file's header names a new recipient.",
            Rule::EnvParseError => "A configured env file does not parse, so it cannot be judged.",
            Rule::ReaderDisagreement => {
                "A value that an app reading the file with another .env reader would get differently."
            }
            Rule::Credential(_) => "A well-known credential format.",
        }
    }

    /// What to do about a finding, in general.
    pub fn fix(self) -> &'static str {
        match self {
            Rule::MissingKey => {
                "add the key (`envault sync` shows how), or list it under optional_keys: or the environments' only:"
            }
            Rule::MissingFile => "create the file, or correct its path under environments:",
            Rule::DuplicateKey => "keep one definition: every reader uses the last one",
            Rule::ParseError | Rule::EnvParseError => {
                "fix the line the error names; every other check needs the file to parse"
            }
            Rule::EmptyValue => "set the value, or list the key under optional_keys:",
            Rule::RecipientCannotOpen => {
                "a key holder runs `envault recipients add` for the recipient, or removes it from recipients:"
            }
            Rule::RecipientNotListed => {
                "list the recipient in .envault.yml, or remove it with `envault recipients remove`"
            }
            Rule::StoreDrift => "`envault store pull` or `envault store push` brings them together",
            Rule::DamagedHeader => {
                "restore the `#envault:` lines from a commit you trust (`git log -p -- <file>`)"
            }
            Rule::ReplayedValue => {
                "set the value afresh with `envault set` if its return is intended; otherwise take the change back"
            }
            Rule::PlaintextSecret => {
                "run `envault encrypt <env>`, or mark an environment of dummy values `encrypted: false`"
            }
            Rule::UnencryptedValue => "run `envault encrypt <env>`",
            Rule::ConfigWeakened => {
                "a reviewer confirms the change: a change that weakens protection can let its own secret through"
            }
            Rule::EnvFileSecret => {
                "add the file to .envault.yml as an environment (then `envault encrypt`), or leave the value empty"
            }
            Rule::KnownSecret => {
                "read the value from the environment at run time (`envault run`); rotate it if it was ever pushed"
            }
            Rule::HighEntropySecret | Rule::Credential(_) => {
                "move it into an encrypted environment and read it at run time; revoke it at its issuer if it was ever pushed"
            }
            Rule::DataKeyReplaced => {
                "restore the header from the previous commit unless a key holder replaced the key on purpose"
            }
            Rule::RecipientsChanged => {
                "check that a key holder ran `envault recipients add` for someone you expect"
            }
            Rule::ReaderDisagreement => {
                "write the value so that every reader reads it alike: quote it, and write references with braces (`${DB_USER}`)"
            }
        }
    }

    /// Whether the rule's findings are warnings: shown, without failing the command.
    pub fn is_warning(self) -> bool {
        matches!(self, Rule::ReaderDisagreement)
    }

    /// Whether an allow-list may silence the rule's findings. A sealed value brought back
    /// from history is never allowed (sealing it afresh with `envault set` is how it is
    /// accepted), nor a file that cannot be judged at all: an allowance on its broken line
    /// would hide every secret in it.
    pub fn allowable(self) -> bool {
        !matches!(
            self,
            Rule::ReplayedValue | Rule::EnvParseError | Rule::DamagedHeader
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut ids: Vec<&str> = Rule::CONSISTENCY_AND_SECRETS
            .iter()
            .map(|r| r.id())
            .chain(
                crate::catalogue::FAMILIES
                    .iter()
                    .map(|f| Rule::Credential(f).id()),
            )
            .collect();
        for id in &ids {
            assert!(
                id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{id}"
            );
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "two rules share an id");
    }
}
