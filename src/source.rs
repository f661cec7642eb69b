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
}

impl LoadError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LoadError::Fs(e) => e.hint().map(str::to_owned),
            LoadError::Parse(e) => Some(e.kind.hint().to_owned()),
            LoadError::Missing { env: Some(env), .. } => Some(format!(
                "create the file, or fix the path of '{env}' under `environments:`"
            )),
            LoadError::Missing { env: None, .. } => None,
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
}

impl Loaded {
    pub fn path(&self) -> &Path {
        self.snapshot.path()
    }
}

/// Reads and parses `path`. With `allow_missing`, an absent file is an empty document.
pub fn load_path(path: &Path, label: String, allow_missing: bool) -> Result<Loaded, LoadError> {
    let (snapshot, bytes) = fsutil::read(path)?;
    let doc = match bytes {
        Some(bytes) => Document::parse_vec(bytes).map_err(|e| e.with_path(path))?,
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
    })
}

/// Reads the environment `name` of `config` (the name must exist: see `Config::env`).
pub fn load_env(config: &Config, name: &str, allow_missing: bool) -> Result<Loaded, LoadError> {
    let env = config
        .environments
        .get(name)
        .expect("environment names are checked before loading");
    load_path(&env.file, name.to_owned(), allow_missing).map_err(|e| match e {
        LoadError::Missing { path, .. } => LoadError::Missing {
            path,
            env: Some(name.to_owned()),
        },
        other => other,
    })
}
