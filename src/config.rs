//! `.envault.yml`: schema, discovery, validation, and environment lookup with "did you mean".

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::classify::Classifier;
use crate::confine::{ConfineError, Root};
use crate::glob::GlobSet;

/// The file name envault looks for (and `init` writes).
pub const FILE_NAME: &str = ".envault.yml";

/// Every name a configuration file may have: `.envault.yaml` is found too.
pub const FILE_NAMES: [&str; 2] = [FILE_NAME, ".envault.yaml"];

/// Whether a repository path (`/`-separated) names a configuration file, under either name:
/// the hook and the audit judge changes to every file envault would read as its config.
pub fn is_config_path(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| FILE_NAMES.contains(&name))
}

/// A loaded configuration with paths resolved against its folder.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration was read from.
    pub path: PathBuf,
    pub project: String,
    pub environments: IndexMap<String, Environment>,
    pub conflict_strategy: Strategy,
    pub skip_keys: GlobSet,
    pub env_specific_keys: GlobSet,
    pub shared_keys: GlobSet,
    pub classifier: Classifier,
    /// Per-key rotation settings (`rotation: {SESSION_KEY: {kind: hex, length: 48}}`).
    pub rotation: IndexMap<String, RotationSpec>,
    /// Recipients of environments that list none of their own.
    pub recipients: Vec<String>,
    /// Values left in clear in encrypted environments.
    pub plaintext_keys: GlobSet,
    /// Secret stores by name (`stores:`).
    pub stores: IndexMap<String, StoreSpec>,
    /// Keys that may be missing from some environments (`envault check`).
    pub optional_keys: GlobSet,
    /// Where the files this configuration names must stay: the repository it lives in (or
    /// its own folder outside a repository), plus the folders the user allowed.
    pub root: Root,
}

/// A secret store declared under `stores:`. Endpoints may be overridden (a local emulator);
/// credentials never come from here.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreSpec {
    AwsSsm {
        #[serde(default)]
        region: Option<String>,
        /// Parameter path prefix, e.g. `/production/myapp/`.
        prefix: String,
        #[serde(default)]
        kms_key_id: Option<String>,
        #[serde(default)]
        endpoint_url: Option<String>,
    },
    /// AWS Secrets Manager: one secret per key under `prefix`, or the whole environment as
    /// one JSON secret named `secret`.
    #[serde(alias = "secretsmanager")]
    AwsSecretsmanager {
        #[serde(default)]
        region: Option<String>,
        /// Secret name prefix, e.g. `production/myapp/`: one secret per key.
        #[serde(default)]
        prefix: Option<String>,
        /// One secret holding every key as a JSON object, e.g. `production/myapp`.
        #[serde(default)]
        secret: Option<String>,
        /// The KMS key secrets are created with (default: AWS's `aws/secretsmanager`).
        #[serde(default)]
        kms_key_id: Option<String>,
        /// Tags set on the secrets envault creates.
        #[serde(default)]
        tags: IndexMap<String, String>,
        #[serde(default)]
        endpoint_url: Option<String>,
    },
    Vault {
        /// Defaults to VAULT_ADDR.
        #[serde(default)]
        address: Option<String>,
        #[serde(default = "default_mount")]
        mount: String,
        path: String,
        /// Read from the server's mount table when left out.
        #[serde(default)]
        kv_version: Option<u8>,
        #[serde(default)]
        namespace: Option<String>,
    },
    Doppler {
        project: String,
        config: String,
        #[serde(default)]
        api_url: Option<String>,
    },
    Onepassword {
        vault: String,
        item: String,
        /// Defaults to OP_CONNECT_HOST.
        #[serde(default)]
        connect_host: Option<String>,
    },
    File {
        path: String,
    },
}

fn default_mount() -> String {
    "secret".to_owned()
}

impl StoreSpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            StoreSpec::AwsSsm { .. } => "aws_ssm",
            StoreSpec::AwsSecretsmanager { .. } => "aws_secretsmanager",
            StoreSpec::Vault { .. } => "vault",
            StoreSpec::Doppler { .. } => "doppler",
            StoreSpec::Onepassword { .. } => "onepassword",
            StoreSpec::File { .. } => "file",
        }
    }
}

/// How one key is rotated, overriding what its name implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotationSpec {
    pub kind: Option<crate::classify::Format>,
    /// Characters, or random bytes for `base64` and `hex`.
    pub length: Option<usize>,
}

/// One environment: its name and its env file (absolute, or relative to the config folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub file: PathBuf,
    /// `encrypted: true` / `false`; `None` when the config does not say.
    pub encrypted: Option<bool>,
    /// Who may open the environment's data key (else the project-wide `recipients:`).
    pub recipients: Vec<String>,
    /// The store that holds this environment's source of truth (`store:`), if any.
    pub store: Option<String>,
    /// Keys that belong to this environment only (`only:`): not expected elsewhere.
    pub only: GlobSet,
    /// The reader the environment's app uses (`dialect:`, else the top-level one), if named.
    pub dialect: Option<crate::dotenv::Dialect>,
}

/// What wins when source and target disagree on a value during sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    SourceWins,
    TargetWins,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SourceWins => "source_wins",
            Strategy::TargetWins => "target_wins",
        }
    }
}

/// Everything that can be wrong with finding or reading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no {FILE_NAME} found in {} or any folder above it up to {}", .start.display(), .stop.display())]
    NotFound { start: PathBuf, stop: PathBuf },
    #[error("cannot read {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {msg}", .path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        msg: String,
        /// What to write instead: a likely spelling, or the YAML that says it.
        hint: Option<String>,
    },
    #[error("{}: {what}", .path.display())]
    Confined {
        path: PathBuf,
        what: String,
        #[source]
        source: Box<ConfineError>,
    },
    #[error("{} is ignored: {why}", .path.display())]
    Untrusted { path: PathBuf, why: String },
    #[error("both {FILE_NAME} and .envault.yaml are in {}: which one counts is not clear", .dir.display())]
    Ambiguous { dir: PathBuf },
    #[error("unknown environment '{name}' (known: {})", .known.join(", "))]
    UnknownEnv {
        name: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
}

impl crate::error::Hint for ConfigError {
    /// What the user can do about it.
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::NotFound { .. } => Some(
                "run `envault init <project>` to create one, or point at it with --config PATH or ENVAULT_CONFIG"
                    .into(),
            ),
            ConfigError::Io { .. } => None,
            ConfigError::Confined { source, .. } => source.hint(),
            ConfigError::Untrusted { .. } => Some(
                "a configuration is read only when it is a regular file owned by you (or root) that no other user can write; fix its owner and mode, or pass --config"
                    .into(),
            ),
            ConfigError::Ambiguous { .. } => {
                Some("keep one of the two files (merge what the other says into it)".into())
            }
            ConfigError::Invalid { hint, .. } => hint.clone(),
            ConfigError::UnknownEnv {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean '{s}'?"),
                None if known.is_empty() => {
                    format!("add the environment under `environments:` in {FILE_NAME}")
                }
                None => format!("environments are declared under `environments:` in {FILE_NAME}"),
            }),
        }
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

// ---- the file's shape --------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    project: Option<String>,
    environments: RawEnvironments,
    #[serde(default)]
    conflict_strategy: Strategy,
    #[serde(default)]
    skip_keys: Vec<String>,
    #[serde(default)]
    secret_keys: Vec<String>,
    #[serde(default)]
    public_keys: Vec<String>,
    #[serde(default)]
    env_specific_keys: Vec<String>,
    #[serde(default)]
    shared_keys: Vec<String>,
    #[serde(default)]
    rotation: IndexMap<String, RotationSpec>,
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    plaintext_keys: Vec<String>,
    #[serde(default)]
    stores: IndexMap<String, StoreSpec>,
    #[serde(default)]
    optional_keys: Vec<String>,
    #[serde(default)]
    dialect: Option<crate::dotenv::Dialect>,
}

const TOP_FIELDS: &[&str] = &[
    "project",
    "environments",
    "conflict_strategy",
    "skip_keys",
    "secret_keys",
    "public_keys",
    "env_specific_keys",
    "shared_keys",
    "rotation",
    "recipients",
    "plaintext_keys",
    "stores",
    "optional_keys",
    "dialect",
];

const ENV_FIELDS: &[&str] = &[
    "file",
    "encrypted",
    "recipients",
    "store",
    "only",
    "dialect",
];
const ROTATION_FIELDS: &[&str] = &["kind", "length"];

/// An environment is a path, or a map with `file:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvMap {
    file: String,
    #[serde(default)]
    encrypted: Option<bool>,
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    only: Vec<String>,
    #[serde(default)]
    dialect: Option<crate::dotenv::Dialect>,
}

struct RawEnvironments(Vec<(String, RawEnvMap)>);

impl<'de> Deserialize<'de> for RawEnvironments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEnvironments;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of environment names to env file paths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, RawEnvMap)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!(
                            "environment '{name}' is declared twice"
                        )));
                    }
                    let spec: RawEnvSpec = map.next_value()?;
                    out.push((name, spec.0));
                }
                Ok(RawEnvironments(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct RawEnvSpec(RawEnvMap);

impl<'de> Deserialize<'de> for RawEnvSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEnvSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an env file path, or a map with `file:`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawEnvSpec(RawEnvMap {
                    file: v.to_owned(),
                    encrypted: None,
                    recipients: Vec::new(),
                    store: None,
                    only: Vec::new(),
                    dialect: None,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let m = RawEnvMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawEnvSpec(m))
            }
        }
        d.deserialize_any(V)
    }
}

/// The largest configuration envault reads, and the deepest nesting (flow brackets, or
/// indentation levels) it accepts. Hooks and CI parse repository content: a file crafted to
/// make the YAML parser slow (28 s for 128 KB of nesting) must be refused before parsing.
const MAX_CONFIG_BYTES: usize = 256 * 1024;
const MAX_DEPTH: usize = 32;

/// Refuses a configuration that is too large or too deeply nested, with its position.
fn check_shape(text: &str, path: &Path) -> Result<(), ConfigError> {
    let err = |line: usize, column: usize, msg: String| ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        msg,
        hint: None,
    };
    if text.len() > MAX_CONFIG_BYTES {
        return Err(err(
            1,
            1,
            format!(
                "the file is {} bytes; a configuration may hold at most {MAX_CONFIG_BYTES}",
                text.len()
            ),
        ));
    }
    let mut depth = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.trim_start_matches([' ', '-']);
        if !content.is_empty() && !content.starts_with('#') {
            let indent = line.len() - content.len();
            while indents.last().is_some_and(|&last| last >= indent) {
                indents.pop();
            }
            indents.push(indent);
            if indents.len() > MAX_DEPTH {
                return Err(err(
                    i + 1,
                    indent + 1,
                    format!("nested more than {MAX_DEPTH} levels deep"),
                ));
            }
        }
        let (mut single, mut double) = (false, false);
        for (col, c) in line.char_indices() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double => break,
                '[' | '{' if !single && !double => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(err(
                            i + 1,
                            col + 1,
                            format!("brackets nested more than {MAX_DEPTH} levels deep"),
                        ));
                    }
                }
                ']' | '}' if !single && !double => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The work-tree root of the repository `dir` lies in: the nearest folder upwards holding
/// `.git` (a folder, or a file in linked worktrees and submodules).
pub fn repository_root(dir: &Path) -> Option<&Path> {
    dir.ancestors().find(|d| d.join(".git").exists())
}

/// Whether `path` is a configuration envault may read: `Ok(false)` when there is none,
/// `Err(why)` when there is one that another user could have planted or changed.
fn trusted_file(path: &Path) -> Result<bool, String> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if meta.file_type().is_symlink() {
        return Err("it is a symlink".into());
    }
    if !meta.is_file() {
        return Ok(false);
    }
    crate::fsutil::only_owner_writes(&meta, true)?;
    Ok(true)
}

// ---- loading ----------------------------------------------------------------------------

impl Config {
    /// Parses configuration text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        check_shape(text, path)?;
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| invalid(path, text, &e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut environments = IndexMap::new();
        for (name, spec) in raw.environments.0 {
            let file = spec.file;
            if file.trim().is_empty() {
                return Err(at_key(
                    path,
                    text,
                    &name,
                    format!("environment '{name}' has an empty file path"),
                ));
            }
            let env = Environment {
                file: dir.join(&file),
                name: name.clone(),
                encrypted: spec.encrypted,
                recipients: spec.recipients,
                store: spec.store,
                only: GlobSet::new(spec.only),
                dialect: spec.dialect.or(raw.dialect),
            };
            if let Some(store) = &env.store {
                if !raw.stores.contains_key(store) {
                    return Err(at_key(
                        path,
                        text,
                        "store",
                        format!(
                            "environment '{name}' names store '{store}', which `stores:` does not declare{}",
                            suggest(store, raw.stores.keys().map(String::as_str))
                                .map(|s| format!(" (did you mean '{s}'?)"))
                                .unwrap_or_default()
                        ),
                    ));
                }
            }
            environments.insert(name, env);
        }
        for (name, store) in &raw.stores {
            if let StoreSpec::AwsSecretsmanager { prefix, secret, .. } = store {
                if prefix.is_some() == secret.is_some() {
                    return Err(at_key(
                        path,
                        text,
                        name,
                        format!(
                            "store '{name}' needs exactly one of `prefix:` (one secret per key, e.g. \
                             production/myapp/) and `secret:` (the environment as one JSON secret)"
                        ),
                    ));
                }
            }
        }
        let project = raw.project.unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        Ok(Config {
            path: path.to_owned(),
            project,
            environments,
            conflict_strategy: raw.conflict_strategy,
            skip_keys: GlobSet::new(raw.skip_keys),
            env_specific_keys: GlobSet::new(raw.env_specific_keys),
            shared_keys: GlobSet::new(raw.shared_keys),
            // A key given rotation settings is declared a secret.
            classifier: Classifier::new(
                raw.secret_keys
                    .into_iter()
                    .chain(raw.rotation.keys().cloned())
                    .collect(),
                raw.public_keys,
            ),
            rotation: raw.rotation,
            recipients: raw.recipients,
            plaintext_keys: GlobSet::new(raw.plaintext_keys),
            stores: raw.stores,
            optional_keys: GlobSet::new(raw.optional_keys),
            root: Root::lexical(dir),
        })
    }

    /// Reads and parses the file at `path`; every file it names must stay inside its
    /// repository (see [`Config::load_allowing`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_allowing(path, &[])
    }

    /// Reads and parses the file at `path`, and refuses it when an environment or a store
    /// file it names resolves (symlinks followed) outside the repository the configuration
    /// lives in (its own folder outside a repository) and outside the folders `allowed` (the
    /// user's own allowances).
    pub fn load_allowing(path: &Path, allowed: &[PathBuf]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        config.root = Root::new(repository_root(dir).unwrap_or(dir)).allowing(allowed);
        for env in config.environments.values() {
            config
                .root
                .confine(&env.file)
                .map_err(|source| ConfigError::Confined {
                    path: path.to_owned(),
                    what: format!("environment '{}' names {}", env.name, env.file.display()),
                    source: Box::new(source),
                })?;
        }
        for (name, store) in &config.stores {
            if let StoreSpec::File { path: file } = store {
                // `~/…` is the user's home: outside the repository unless allowed, which the
                // store checks once it knows the home folder.
                if file.starts_with("~/") {
                    continue;
                }
                config
                    .root
                    .confine(&dir.join(file))
                    .map_err(|source| ConfigError::Confined {
                        path: path.to_owned(),
                        what: format!("store '{name}' names {file}"),
                        source: Box::new(source),
                    })?;
            }
        }
        Ok(config)
    }

    /// Finds `.envault.yml` from `start` upwards, stopping at the repository root (the first
    /// folder holding `.git`), else at `home` (outside a repository nothing above the user's
    /// home folder configures anything), else at the filesystem root. A candidate that is a
    /// symlink, is owned by another user, or that others may write is skipped: another
    /// user's `/tmp/.envault.yml` must not configure this one's commands.
    pub fn discover(start: &Path, home: Option<&Path>) -> Result<PathBuf, ConfigError> {
        let in_repo = repository_root(start).is_some();
        let mut dir = start;
        let mut skipped = None;
        loop {
            let mut found = Vec::new();
            for candidate in FILE_NAMES.map(|n| dir.join(n)) {
                match trusted_file(&candidate) {
                    Ok(true) => found.push(candidate),
                    Ok(false) => {}
                    Err(why) => {
                        skipped.get_or_insert(ConfigError::Untrusted {
                            path: candidate.clone(),
                            why,
                        });
                    }
                }
            }
            // Two configurations side by side: neither is picked (one could shadow the other
            // in a pull request).
            if found.len() > 1 {
                return Err(ConfigError::Ambiguous {
                    dir: dir.to_owned(),
                });
            }
            if let Some(found) = found.pop() {
                return Ok(found);
            }
            let at_repo_root = dir.join(".git").exists();
            let at_home = !in_repo && home.is_some_and(|h| h == dir);
            match dir.parent() {
                Some(parent) if !at_repo_root && !at_home => dir = parent,
                _ => {
                    return Err(skipped.unwrap_or_else(|| ConfigError::NotFound {
                        start: start.to_owned(),
                        stop: dir.to_owned(),
                    }))
                }
            }
        }
    }

    /// The recipients of `env`: its own list, else the project's.
    pub fn recipients_of<'a>(&'a self, env: &'a Environment) -> &'a [String] {
        if env.recipients.is_empty() {
            &self.recipients
        } else {
            &env.recipients
        }
    }

    /// The environment called `name`, or an error that lists the known ones.
    pub fn env(&self, name: &str) -> Result<&Environment, ConfigError> {
        self.environments.get(name).ok_or_else(|| {
            let known: Vec<String> = self.environments.keys().cloned().collect();
            ConfigError::UnknownEnv {
                name: name.to_owned(),
                suggestion: suggest(name, known.iter().map(String::as_str)),
                known,
            }
        })
    }
}

fn invalid(path: &Path, text: &str, e: &serde_yaml_ng::Error) -> ConfigError {
    let (mut line, mut column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let mut msg = e.to_string();
    // serde_yaml appends " at line L column C"; the position is already in front.
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    // The parser points at the map holding a duplicate; point at the second declaration.
    if let Some(name) = msg
        .split("environment '")
        .nth(1)
        .and_then(|r| r.split_once("' is declared twice"))
        .map(|(n, _)| n)
    {
        if let Some(pos) = key_lines(text, name).nth(1) {
            (line, column) = pos;
        }
    }
    let hint = unknown_field(&msg)
        .and_then(|(field, expected)| {
            let top = expected.contains(&"environments");
            if top && ENV_FIELDS.contains(&field) {
                // The value as written on that line, so the example keeps what was meant.
                let written = text
                    .lines()
                    .nth(line.saturating_sub(1))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim())
                    .filter(|v| !v.is_empty() && !v.starts_with('#'));
                return Some(env_field_at_top(field, written));
            }
            let fields: &[&str] = if expected.contains(&"file") {
                ENV_FIELDS
            } else if expected.contains(&"kind") {
                ROTATION_FIELDS
            } else if top {
                TOP_FIELDS
            } else {
                &expected
            };
            match suggest(field, fields.iter().copied()) {
                Some(s) => Some(format!("did you mean '{s}'?")),
                // A bare environment name at the top: it belongs under `environments:`.
                None if top && is_env_name(field) => Some(format!(
                    "environments are listed under `environments:`, for example:\n  \
                     environments:\n    {field}: .env.{field}"
                )),
                None => None,
            }
        })
        .or_else(|| indentation_hint(&msg));
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        msg,
        hint,
    }
}

/// The hint for an environment's field (`encrypted`, `file`…) written at the top level, where
/// it means nothing: the YAML that puts it on an environment.
fn env_field_at_top(field: &str, written: Option<&str>) -> String {
    let example = match field {
        "encrypted" => format!(
            "dev: {{file: .env.dev, encrypted: {}}}",
            if written == Some("false") {
                "false"
            } else {
                "true"
            }
        ),
        "file" => "dev: {file: .env.dev}".to_owned(),
        "recipients" => "prod: {file: .env.prod, recipients: [age1…]}".to_owned(),
        "dialect" => "dev: {file: .env.dev, dialect: node}".to_owned(),
        other => format!("dev: {{file: .env.dev, {other}: …}}"),
    };
    format!(
        "`{field}` is set per environment, under `environments:`, for example:\n  \
         environments:\n    {example}"
    )
}

/// Whether `word` reads like an environment's name rather than a setting: one of the names
/// [`promotion_rank`] orders.
fn is_env_name(word: &str) -> bool {
    promotion_rank(word) != UNRANKED
}

/// What YAML's own indentation errors mean for this file, with the shape to write.
fn indentation_hint(msg: &str) -> Option<String> {
    const SIGNS: &[&str] = &[
        "mapping values are not allowed",
        "did not find expected key",
        "did not find expected '-' indicator",
        "while parsing a block mapping",
        "found character that cannot start any token",
        "block sequence entries are not allowed",
        // `prod:` with its fields not indented under it reads as an empty value.
        "invalid type: unit value",
    ];
    SIGNS.iter().any(|s| msg.contains(s)).then(|| {
        "check the indentation: keys under a key are indented further, all by the same number \
         of spaces (never tabs), and a value with `: ` in it is quoted. For example:\n  \
         environments:\n    dev:\n      file: .env.dev\n      encrypted: false"
            .to_owned()
    })
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown variant …")
/// into the unknown word and the expected ones.
fn unknown_field(msg: &str) -> Option<(&str, Vec<&str>)> {
    let rest = msg
        .split("unknown field `")
        .nth(1)
        .or_else(|| msg.split("unknown variant `").nth(1))?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).collect();
    Some((field, expected))
}

/// An error positioned at the line that declares `key` (for checks made after parsing).
fn at_key(path: &Path, text: &str, key: &str, msg: String) -> ConfigError {
    let (line, column) = key_lines(text, key).next().unwrap_or((1, 1));
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        msg,
        hint: None,
    }
}

/// Positions (line, column) of the lines that declare `key:`.
fn key_lines<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
    text.lines().enumerate().filter_map(move |(i, l)| {
        let t = l.trim_start();
        (t.starts_with(key) && t[key.len()..].trim_start().starts_with(':'))
            .then(|| (i + 1, l.len() - t.len() + 1))
    })
}

// ---- init --------------------------------------------------------------------------------

/// File names that look like env files but hold no environment.
/// `.env.<word>` files that are not an environment: templates, backups, and dotenvx's and
/// dotenv-vault's own files (`.env.keys` holds private keys, `.env.vault` an encrypted bundle,
/// `.env.me` a login token).
const NOT_ENVIRONMENTS: &[&str] = &[
    "example", "examples", "sample", "template", "tmpl", "tpl", "dist", "defaults", "default",
    "schema", "bak", "backup", "old", "orig", "previous", "swp", "tmp", "keys", "vault", "me",
];

/// The environment a file such as `.env.production` stands for, if any.
pub fn env_name_of_file(file_name: &str) -> Option<&str> {
    let name = file_name.strip_prefix(".env.")?;
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !NOT_ENVIRONMENTS.contains(&name.to_ascii_lowercase().as_str());
    ok.then_some(name)
}

/// The environments `envault init` declares for the env files found (names sorted): each
/// `.env.<name>` as `<name>`, and a plain `.env` as `dev` (or, when a `.env.dev` or
/// `.env.development` is there, `local`; or `default`).
pub fn environments_of_files(env_files: &[String]) -> Vec<(String, String)> {
    let mut envs: Vec<(String, String)> = env_files
        .iter()
        .filter_map(|f| env_name_of_file(f).map(|n| (n.to_owned(), f.clone())))
        .collect();
    if env_files.iter().any(|f| f == ".env") {
        let taken = |names: &[&str]| {
            envs.iter()
                .any(|(e, _)| names.iter().any(|n| e.eq_ignore_ascii_case(n)))
        };
        let choices: [&[&str]; 3] = [&["dev", "development"], &["local"], &["default"]];
        if let Some(names) = choices.into_iter().find(|names| !taken(names)) {
            envs.push((names[0].to_owned(), ".env".to_owned()));
        }
    }
    envs
}

/// The rank of a name [`promotion_rank`] does not know: between staging and prod.
const UNRANKED: u8 = 5;

/// Orders environment names the way teams promote: dev-like, test-like, staging-like, prod-like.
fn promotion_rank(name: &str) -> u8 {
    match name.to_ascii_lowercase().as_str() {
        "local" => 0,
        "dev" | "development" => 1,
        "test" | "testing" | "ci" => 2,
        "qa" | "uat" => 3,
        "staging" | "stage" | "stg" | "preprod" => 4,
        "prod" | "production" | "prd" | "live" => 6,
        _ => UNRANKED,
    }
}

/// Why `envault init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; it was left as it is", .0.display())]
    Exists(PathBuf),
    #[error("cannot list {}", .path.display())]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Fs(#[from] crate::fsutil::FsError),
}

impl crate::error::Hint for InitError {
    fn hint(&self) -> Option<String> {
        match self {
            InitError::Exists(_) => Some("pass --force to replace it".to_owned()),
            InitError::Config(e) => e.hint(),
            InitError::Fs(e) => e.hint(),
            InitError::List { .. } => None,
        }
    }
}

/// Writes a new configuration at `path` (mode 0644), its environments taken from the
/// `.env.*` files beside it; refuses to replace one unless `force`. Returns it, parsed, and
/// the env files it found.
pub fn init(
    path: &Path,
    project: Option<&str>,
    force: bool,
) -> Result<(Config, Vec<String>), InitError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let (snap, _) = crate::fsutil::read(path)?;
    if snap.exists() && !force {
        return Err(InitError::Exists(path.to_owned()));
    }
    let mut env_files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|source| InitError::List {
            path: dir.to_owned(),
            source,
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n == ".env" || env_name_of_file(n).is_some())
        .collect();
    env_files.sort();
    let project = project.map(str::to_owned).unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "my-project".into())
    });
    let text = init_text(&project, &env_files);
    // Validate what is about to be written with the same parser every command uses.
    let cfg = Config::parse(&text, path)?;
    crate::fsutil::write_atomic_mode(&snap, text.as_bytes(), 0o644)?;
    Ok((cfg, env_files))
}

/// The text `envault init` writes. `env_files` are file names found beside it (may be empty).
pub fn init_text(project: &str, env_files: &[String]) -> String {
    let mut envs = environments_of_files(env_files);
    if envs.is_empty() {
        envs = [
            ("dev", ".env.dev"),
            ("staging", ".env.staging"),
            ("prod", ".env.prod"),
        ]
        .map(|(n, f)| (n.to_owned(), f.to_owned()))
        .to_vec();
    }
    envs.sort_by(|a, b| (promotion_rank(&a.0), &a.0).cmp(&(promotion_rank(&b.0), &b.0)));
    let mut out = format!("project: {}\nenvironments:\n", yaml_scalar(project));
    for (name, file) in envs {
        out.push_str(&format!("  {name}: {file}\n"));
    }
    out.push_str("conflict_strategy: source_wins\nskip_keys:\n  - COMMIT_SHA\n  - BUILD_NUMBER\n");
    out
}

/// A project name as a YAML scalar: plain when safe, else double-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        && !s.starts_with(['-', '.']);
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Hint;

    const TUTORIAL: &str = "project: my-project\nenvironments:\n  dev: .env.dev\n  staging: .env.staging\n  prod: .env.prod\nconflict_strategy: source_wins\nskip_keys:\n  - COMMIT_SHA\n  - BUILD_NUMBER\n";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/p/.envault.yml"))
    }

    /// Crafted nesting is refused before the YAML parser sees it, with its position.
    #[test]
    fn oversized_or_deeply_nested_configs_are_refused_fast() {
        let flow = format!("project: {}", "[".repeat(128 * 1024));
        let e = parse(&flow).unwrap_err();
        assert!(
            e.to_string().contains("1:42: brackets nested more than 32"),
            "{e}"
        );
        let mut block = String::new();
        for i in 0..200 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        let e = parse(&block).unwrap_err();
        assert!(e.to_string().contains(":33:33: nested more than 32"), "{e}");
        let big = format!("project: x\n#{}\n", "a".repeat(MAX_CONFIG_BYTES));
        assert!(parse(&big).unwrap_err().to_string().contains("at most"));
        // The tutorial's shape passes.
        parse("environments:\n  prod: {file: .env.prod, encrypted: true, recipients: [a]}\n")
            .unwrap();
    }

    /// The hook and the audit judge every file envault would read as its config.
    #[test]
    fn both_config_names_are_config_paths() {
        assert!(is_config_path(".envault.yml"));
        assert!(is_config_path("svc/.envault.yaml"));
        assert!(!is_config_path("svc/envault.yaml"));
        assert!(!is_config_path(".envault.yml.bak"));
    }

    #[test]
    fn a_secrets_manager_store_names_one_layout() {
        let with = |layout: &str| {
            parse(&format!(
                "environments:\n  prod: .env.prod\nstores:\n  sm:\n    type: aws_secretsmanager\n{layout}"
            ))
        };
        for layout in ["", "    prefix: a/\n    secret: a\n"] {
            let e = with(layout).unwrap_err().to_string();
            assert!(
                e.starts_with("/p/.envault.yml:4:3: store 'sm' needs exactly one of `prefix:`"),
                "{e}"
            );
        }
        with("    secret: production/myapp\n").unwrap();
        with("    prefix: production/myapp/\n").unwrap();
        // The service's own name for the type works too.
        parse(
            "environments:\n  prod: .env.prod\nstores:\n  sm: {type: secretsmanager, secret: a}\n",
        )
        .unwrap();
    }

    #[test]
    fn init_writes_the_tutorial_schema() {
        assert_eq!(init_text("my-project", &[]), TUTORIAL);
        let c = parse(TUTORIAL).unwrap();
        assert_eq!(c.project, "my-project");
        let names: Vec<_> = c.environments.keys().map(String::as_str).collect();
        assert_eq!(names, ["dev", "staging", "prod"]);
        assert_eq!(c.env("prod").unwrap().file, Path::new("/p/.env.prod"));
        assert!(c.skip_keys.matches("COMMIT_SHA"));
    }

    #[test]
    fn init_uses_existing_env_files_in_promotion_order() {
        let files = [
            ".env.production",
            ".env.example",
            ".env.local",
            ".env.staging",
            ".env",
        ]
        .map(String::from);
        let text = init_text("x", &files);
        assert!(text.contains(
            "environments:\n  local: .env.local\n  dev: .env\n  staging: .env.staging\n  production: .env.production\n"
        ), "{text}");
    }

    #[test]
    fn environments_accept_a_map_with_file() {
        let c = parse("environments:\n  prod: {file: secrets/.env.prod}\n").unwrap();
        assert_eq!(
            c.env("prod").unwrap().file,
            Path::new("/p/secrets/.env.prod")
        );
        assert_eq!(c.project, "p");
    }

    #[test]
    fn encryption_settings() {
        let c = parse("recipients: [age1a]\nplaintext_keys: [LOG_*]\nenvironments:\n  dev: {file: .env.dev, encrypted: false}\n  prod: {file: .env.prod, encrypted: true, recipients: [age1b]}\n  ci: .env.ci\n").unwrap();
        assert_eq!(c.env("dev").unwrap().encrypted, Some(false));
        assert_eq!(c.recipients_of(c.env("prod").unwrap()), ["age1b"]);
        assert_eq!(c.recipients_of(c.env("ci").unwrap()), ["age1a"]);
        assert!(c.plaintext_keys.matches("LOG_LEVEL"));
        let e = parse("environments:\n  prod: {file: .env, encryptd: true}\n").unwrap_err();
        assert_eq!(e.hint().as_deref(), Some("did you mean 'encrypted'?"));
    }

    #[test]
    fn unknown_fields_get_position_and_suggestion() {
        let e = parse("project: x\nenviroments:\n  dev: .env.dev\n").unwrap_err();
        let ConfigError::Invalid { line, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(*line, 2);
        assert_eq!(e.hint().as_deref(), Some("did you mean 'environments'?"));
        assert!(
            e.to_string()
                .starts_with("/p/.envault.yml:2:1: unknown field `enviroments`"),
            "{e}"
        );

        let e = parse("environments:\n  dev: {fiel: .env.dev}\n").unwrap_err();
        assert_eq!(e.hint().as_deref(), Some("did you mean 'file'?"));
    }

    /// The common wrong guesses get the YAML to write, not a pointer to the README.
    #[test]
    fn wrong_guesses_are_answered_with_the_yaml_to_write() {
        let hint = |text: &str| parse(text).unwrap_err().hint().unwrap_or_default();
        let h = hint("encrypted: false\nenvironments:\n  dev: .env.dev\n");
        assert!(
            h.contains("per environment") && h.contains("dev: {file: .env.dev, encrypted: false}"),
            "{h}"
        );
        // The example keeps the value written: copying it never turns encryption off.
        let h = hint("environments:\n  dev: .env.dev\nencrypted: true\n");
        assert!(h.contains("encrypted: true}"), "{h}");
        let h = hint("environments:\n  prod:\n  file: .env.prod\n");
        assert!(h.starts_with("check the indentation"), "{h}");
        let h = hint("environments:\n  dev: .env.dev\nprod: .env.prod\n");
        assert!(h.contains("environments:\n    prod: .env.prod"), "{h}");
        // A nested key indented less than its siblings, and a tab.
        for text in [
            "environments:\n  dev:\n      file: .env.dev\n    encrypted: false\n",
            "environments:\n  dev: .env.dev\n prod: .env.prod\n",
        ] {
            let h = hint(text);
            assert!(h.starts_with("check the indentation"), "{text:?}: {h}");
        }
    }

    #[test]
    fn wrong_types_and_duplicates_are_errors() {
        let e = parse("environments:\n  dev: [a, b]\n").unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { line: 2, .. }), "{e}");
        let e = parse("environments:\n  dev: .env.dev\n  dev: .env.other\n").unwrap_err();
        assert!(e.to_string().contains("declared twice"), "{e}");
        assert!(matches!(e, ConfigError::Invalid { line: 3, .. }), "{e}");
        let e = parse("environments:\n  dev: .env\nconflict_strategy: newest\n").unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { line: 3, .. }), "{e}");
    }

    #[test]
    fn rotation_settings() {
        let c =
            parse("environments: {dev: .env}\nrotation:\n  SESSION_KEY: {kind: hex, length: 48}\n")
                .unwrap();
        assert_eq!(
            c.rotation["SESSION_KEY"],
            RotationSpec {
                kind: Some(crate::classify::Format::Hex),
                length: Some(48)
            }
        );
        assert!(c.classifier.classify("SESSION_KEY", None).is_secret());
        let e = parse("environments: {dev: .env}\nrotation:\n  K: {kind: hexx}\n").unwrap_err();
        assert_eq!(e.hint().as_deref(), Some("did you mean 'hex'?"), "{e}");
        let e = parse("environments: {dev: .env}\nrotation:\n  K: {lenght: 3}\n").unwrap_err();
        assert_eq!(e.hint().as_deref(), Some("did you mean 'length'?"), "{e}");
    }

    #[test]
    fn unknown_environment_suggests() {
        let c = parse(TUTORIAL).unwrap();
        let e = c.env("prd").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown environment 'prd' (known: dev, staging, prod)"
        );
        assert_eq!(e.hint().as_deref(), Some("did you mean 'prod'?"));
        assert_eq!(
            c.env("qa")
                .unwrap_err()
                .hint()
                .as_deref()
                .map(|h| h.contains("did you")),
            Some(false)
        );
    }
}
