//! Resolves what a command names ("dev", a file path) into a loaded environment: the
//! document, where it came from, and the snapshot to write back against.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::dotenv::{Document, ParseError};
use crate::fsutil::{self, FsError, Snapshot};

/// Why an environment could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{} does not exist", .path.display())]
    Missing { path: PathBuf, env: Option<String> },
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("there is no {} at {rev}", .path.display())]
    NoConfigAt { rev: String, path: PathBuf },
    #[error("environments are named in .envault.yml, and there is none here")]
    NoConfig,
    #[error("store:{0} is read from the store, not loaded as a file")]
    StoreSide(String),
}

impl crate::error::Hint for LoadError {
    fn hint(&self) -> Option<String> {
        match self {
            LoadError::Fs(e) => e.hint(),
            LoadError::Parse(e) => Some(e.kind.hint().to_owned()),
            LoadError::Missing { env: Some(env), .. } => Some(format!(
                "create the file, or fix the path of '{env}' under `environments:`"
            )),
            LoadError::Missing { env: None, .. } => None,
            LoadError::Git(e) => e.hint(),
            LoadError::Config(e) => e.hint(),
            LoadError::NoConfig => Some("run `envault init`, or compare files with diff-files".into()),
            LoadError::StoreSide(_) => None,
            LoadError::NoConfigAt { .. } => Some(
                "an environment name at a revision is resolved through .envault.yml as it was then; compare files instead with diff-files REV:PATH"
                    .into(),
            ),
        }
    }

    fn excerpt(&self) -> Option<crate::error::Excerpt> {
        match self {
            LoadError::Parse(e) => e.excerpt(),
            _ => None,
        }
    }
}

/// What a command names as one side of a comparison or a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// An environment of the configuration: `prod`.
    Env(String),
    /// An environment as it was at a revision, through the configuration of then: `prod@v1.2`.
    EnvAt { env: String, rev: String },
    /// A secret store of the configuration: `store:NAME`.
    Store(String),
    /// A file: `.env.local`.
    File(PathBuf),
    /// A file at a revision: `HEAD~3:.env.prod`.
    FileAt { rev: String, path: PathBuf },
}

impl Spec {
    /// A side of `diff` or `sync`: `store:NAME`, `ENV@REV` or `ENV`.
    pub fn env_side(arg: &str) -> Spec {
        if let Some(store) = arg.strip_prefix("store:") {
            return Spec::Store(store.to_owned());
        }
        match arg.split_once('@') {
            Some((env, rev)) => Spec::EnvAt {
                env: env.to_owned(),
                rev: rev.to_owned(),
            },
            None => Spec::Env(arg.to_owned()),
        }
    }

    /// A side of `diff-files`: `REV:PATH` names a file at a revision, unless a file of that
    /// name exists under `cwd`; anything else is a path.
    pub fn file_side(cwd: &Path, arg: &Path) -> Spec {
        let at_rev = arg.to_str().and_then(|t| t.split_once(':'));
        match at_rev {
            Some((rev, path)) if !rev.is_empty() && !cwd.join(arg).exists() => Spec::FileAt {
                rev: rev.to_owned(),
                path: PathBuf::from(path),
            },
            _ => Spec::File(arg.to_owned()),
        }
    }

    /// Whether the side is read from git (and may not have existed there).
    pub fn at_revision(&self) -> bool {
        matches!(self, Spec::EnvAt { .. } | Spec::FileAt { .. })
    }

    /// Loads the side (not a store: reading one needs the network, which the caller does),
    /// environments through `config`, paths and revisions from `cwd`.
    pub fn load(&self, config: Option<&Config>, cwd: &Path) -> Result<Loaded, LoadError> {
        let config = || config.ok_or(LoadError::NoConfig);
        match self {
            Spec::Env(name) => {
                let config = config()?;
                config.env(name)?;
                load_env(config, name, false)
            }
            Spec::EnvAt { env, rev } => {
                let repo = crate::git::Repo::discover(cwd)?;
                load_env_at(&repo, cwd, &config()?.path, env, rev)
            }
            Spec::File(p) => load_path(&cwd.join(p), p.display().to_string(), false),
            Spec::FileAt { rev, path } => {
                let repo = crate::git::Repo::discover(cwd)?;
                load_path_at(&repo, cwd, path, rev)
            }
            Spec::Store(name) => Err(LoadError::StoreSide(name.clone())),
        }
    }
}

/// An environment read from disk.
#[derive(Debug)]
pub struct Loaded {
    /// How output names it: the environment name, or the path as given.
    pub label: String,
    pub snapshot: Snapshot,
    pub doc: Document,
    /// Read from the working tree (not a revision, not a store): the file whose data key the
    /// user's record of commitments is about.
    pub working_file: bool,
    /// The environment it is, as `<config file>#<name>`, when loaded through a config: the
    /// record of accepted keys knows it by this too (changing the env's `file:` in the config
    /// does not make it a file never seen).
    pub env_id: Option<String>,
}

impl Loaded {
    /// A document no file holds (a store's keys), named `label` wherever a path would show.
    pub fn detached(label: String, doc: Document) -> Loaded {
        Loaded {
            snapshot: Snapshot::new(Path::new(&label), None),
            label,
            doc,
            working_file: false,
            env_id: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.snapshot.path()
    }
}

/// Reads and parses `path`. With `allow_missing`, an absent file is an empty document.
pub fn load_path(path: &Path, label: String, allow_missing: bool) -> Result<Loaded, LoadError> {
    let (snapshot, bytes) = fsutil::read(path)?;
    let doc = match bytes {
        Some(bytes) => Document::read(bytes).map_err(|e| e.with_path(path))?,
        None if allow_missing => Document::default(),
        None => {
            return Err(LoadError::Missing {
                path: path.to_owned(),
                env: None,
            })
        }
    };
    Ok(Loaded {
        label,
        snapshot,
        doc,
        working_file: true,
        env_id: None,
    })
}

/// Reads the environment `name` of `config` (the name must exist: see `Config::env`).
pub fn load_env(config: &Config, name: &str, allow_missing: bool) -> Result<Loaded, LoadError> {
    let env = config
        .environments
        .get(name)
        .expect("environment names are checked before loading");
    let mut l = load_path(&env.file, name.to_owned(), allow_missing).map_err(|e| match e {
        LoadError::Missing { path, .. } => LoadError::Missing {
            path,
            env: Some(name.to_owned()),
        },
        other => other,
    })?;
    l.env_id = Some(format!(
        "{}#{name}",
        crate::confine::absolute_lexical(&config.path).display()
    ));
    if let Some(d) = env.dialect {
        l.doc.apply_dialect(d);
    }
    Ok(l)
}

/// Reads the environment `name` as it was at revision `rev`, resolved through the
/// configuration at `config_path` as it was at that revision. A file absent there is an empty
/// document (its snapshot says it does not exist).
pub fn load_env_at(
    repo: &crate::git::Repo,
    cwd: &Path,
    config_path: &Path,
    name: &str,
    rev: &str,
) -> Result<Loaded, LoadError> {
    let cfg_rel = repo.relative(cwd, config_path)?;
    let text = repo
        .file_at(rev, &cfg_rel)?
        .ok_or_else(|| LoadError::NoConfigAt {
            rev: rev.to_owned(),
            path: cfg_rel.clone(),
        })?;
    let text = String::from_utf8_lossy(&text);
    let config = Config::parse(&text, &cwd.join(config_path))?;
    let env = config.env(name)?;
    let mut l = load_path_at(repo, cwd, &env.file, rev)?;
    l.label = format!("{name}@{rev}");
    if let Some(d) = env.dialect {
        l.doc.apply_dialect(d);
    }
    Ok(l)
}

/// Reads the file at `path` (relative to `cwd`) as it was at revision `rev`; an absent file is
/// an empty document.
pub fn load_path_at(
    repo: &crate::git::Repo,
    cwd: &Path,
    path: &Path,
    rev: &str,
) -> Result<Loaded, LoadError> {
    let rel = repo.relative(cwd, path)?;
    let bytes = repo.file_at(rev, &rel)?;
    let label = format!("{rev}:{}", rel.display());
    let doc = match &bytes {
        Some(b) => Document::read(b.clone()).map_err(|e| e.with_path(&label))?,
        None => Document::default(),
    };
    Ok(Loaded {
        label,
        snapshot: fsutil::Snapshot::new(&cwd.join(path), bytes.as_deref()),
        doc,
        working_file: false,
        env_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_told_apart() {
        assert_eq!(Spec::env_side("prod"), Spec::Env("prod".into()));
        assert_eq!(Spec::env_side("store:ssm"), Spec::Store("ssm".into()));
        assert_eq!(
            Spec::env_side("prod@HEAD~2"),
            Spec::EnvAt {
                env: "prod".into(),
                rev: "HEAD~2".into()
            }
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Spec::file_side(dir.path(), Path::new("HEAD:.env.prod")),
            Spec::FileAt {
                rev: "HEAD".into(),
                path: ".env.prod".into()
            }
        );
        // A file whose name has a colon is that file.
        std::fs::write(dir.path().join("a:b"), "").unwrap();
        assert_eq!(
            Spec::file_side(dir.path(), Path::new("a:b")),
            Spec::File("a:b".into())
        );
        assert_eq!(
            Spec::file_side(dir.path(), Path::new(":x")),
            Spec::File(":x".into())
        );
        assert!(Spec::env_side("prod@v1").at_revision());
        assert!(!Spec::env_side("prod").at_revision());
    }
}
