//! `check` and `scan` over a project: the states a scan reads (the working tree, git trees
//! and the index), the scan of one change between two git states, and the whole check of one
//! configuration (files, consistency, replayed values, plaintext secrets).

use std::path::{Path, PathBuf};

use crate::check::{self, EnvRead, Problem};
use crate::config::{is_config_path, Config};
use crate::crypt::Identities;
use crate::dotenv::Document;
use crate::git::{BlobId, Files, GitError, Repo};
use crate::rule::Rule;
use crate::scan::{self, Changed, Finding, Input, ScanError, Source};

pub mod scans;
pub use scans::{Judge, Located, Scanned};

/// Why a check or a scan could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("`{0}` is not a range")]
    NotARange(String),
    #[error("{} is outside {}", .path.display(), .root.display())]
    OutsideRoot { path: PathBuf, root: PathBuf },
    #[error(transparent)]
    Confine(#[from] crate::confine::ConfineError),
    #[error("the baseline {0} is a symlink; envault writes a baseline only as a file of its own")]
    BaselineLink(String),
    #[error(transparent)]
    Write(#[from] crate::fsutil::FsError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Hint for AuditError {
    fn hint(&self) -> Option<String> {
        match self {
            AuditError::Git(e) => e.hint(),
            AuditError::Scan(e) => e.hint(),
            AuditError::NotARange(_) => {
                Some("give two revisions, e.g. `--range origin/main..HEAD`".to_owned())
            }
            AuditError::OutsideRoot { .. } => Some("scan paths inside the repository".to_owned()),
            AuditError::Confine(e) => e.hint(),
            AuditError::BaselineLink(_) => Some(
                "remove the link (a committed link would send the write to the file it names), then run the command again"
                    .to_owned(),
            ),
            AuditError::Write(e) => e.hint(),
            AuditError::Io { .. } => None,
        }
    }

    fn excerpt(&self) -> Option<crate::error::Excerpt> {
        match self {
            AuditError::Scan(e) => e.excerpt(),
            _ => None,
        }
    }
}

/// The working tree below `root`, as scanned: there is no older state.
pub struct WorkTree {
    pub root: PathBuf,
}

impl Source for WorkTree {
    /// The file's bytes; for a symlink, its target's text, as git stores it: a link in a
    /// repository is never followed (it may point anywhere on this machine), and neither is a
    /// file whose folder leads out of the root.
    fn new_file(&self, path: &str) -> Option<Vec<u8>> {
        let full = self.root.join(path);
        let meta = std::fs::symlink_metadata(&full).ok()?;
        if meta.file_type().is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            return Some(
                std::fs::read_link(&full)
                    .ok()?
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            );
        }
        let inside = crate::confine::Root::new(&self.root).confine_strictly(Path::new(path));
        std::fs::read(inside.ok()?).ok()
    }
    fn resolve_new(&self, path: &str) -> String {
        let root = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        self.root
            .join(path)
            .canonicalize()
            .ok()
            .and_then(|p| {
                p.strip_prefix(&root)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| path.to_owned())
    }
    fn old_file(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Two git states (trees or the index) of one repository: the scanned one and the older one.
pub struct GitSource<'r> {
    pub repo: &'r Repo,
    pub new: &'r Files,
    pub old: &'r Files,
}

impl Source for GitSource<'_> {
    fn new_file(&self, path: &str) -> Option<Vec<u8>> {
        self.repo.blob(*self.new.files.get(path)?).ok()
    }
    fn old_file(&self, path: &str) -> Option<Vec<u8>> {
        self.repo.blob(*self.old.files.get(path)?).ok()
    }
    fn resolve_new(&self, path: &str) -> String {
        self.repo
            .resolve_in(self.new, path)
            .unwrap_or_else(|| path.to_owned())
    }
    fn resolve_old(&self, path: &str) -> String {
        self.repo
            .resolve_in(self.old, path)
            .unwrap_or_else(|| path.to_owned())
    }
}

/// Files under `root` outside git (no repository): everything but `.git` folders, sorted.
pub fn walk_files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                if e.file_name() != ".git" {
                    walk(root, &p, out);
                }
            } else if t.is_file() {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Reads the changed blobs, a few threads at a time (inflating is the cost).
fn read_changed(
    repo_root: &Path,
    changes: &[(String, BlobId, Option<BlobId>)],
) -> Result<Vec<Changed>, GitError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let chunk = changes.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Changed>, GitError>> = std::thread::scope(|s| {
        let handles: Vec<_> = changes
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<Vec<Changed>, GitError> {
                    // Each thread opens its own handle: libgit2 repositories are not shared.
                    let repo = Repo::discover(repo_root)?;
                    part.iter()
                        .map(|(path, new, old)| {
                            Ok(Changed {
                                path: path.clone(),
                                new: repo.blob(*new)?,
                                old: match old {
                                    Some(o) => Some(repo.blob(*o)?),
                                    None => None,
                                },
                            })
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread"))
            .collect()
    });
    let mut out = Vec::with_capacity(changes.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The scan of what changed from `old` to `new`: the findings and how many files changed.
pub fn scan_between(
    repo: &Repo,
    (new, old): (&Files, &Files),
    check_data_keys: bool,
    (identities, baseline): (&Identities, Option<&str>),
) -> Result<(Vec<Finding>, usize), AuditError> {
    let changes = new.changed_from(old);
    let changed = read_changed(repo.root(), &changes)?;
    let n = changed.len();
    let mut configs: Vec<String> = new
        .files
        .keys()
        .filter(|p| is_config_path(p))
        .cloned()
        .collect();
    configs.sort();
    let source = GitSource { repo, new, old };
    let findings = scan::scan(&Input {
        changed,
        configs,
        source: &source,
        identities,
        whole_files: false,
        check_data_keys,
        baseline: baseline.map(str::to_owned),
    })?;
    Ok((findings, n))
}

/// What checking one configuration found.
pub struct ConfigCheck {
    pub problems: Vec<Problem>,
    /// How many of its environments' files were read.
    pub envs_checked: usize,
}

/// `path` from `root`, as problems name files.
pub fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Every problem of the configuration at `cfg_path` (loaded as `config`), files named from
/// `root`: missing files, the consistency rules, sealed values history replaced, and
/// plaintext secrets as `scan` judges them. Stores are not contacted.
pub fn check_config(
    root: &Path,
    cfg_path: &Path,
    config: &Config,
) -> Result<ConfigCheck, AuditError> {
    let mut problems = Vec::new();
    let mut reads = Vec::new();
    let mut changed = Vec::new();
    for env in config.environments.values() {
        let path = rel(root, &env.file);
        match std::fs::read(&env.file) {
            Ok(bytes) => {
                changed.push(Changed {
                    path: path.clone(),
                    new: bytes.clone(),
                    old: None,
                });
                let mut doc = Document::read(bytes).map_err(|e| e.with_path(&path));
                if let (Ok(d), Some(dialect)) = (&mut doc, env.dialect) {
                    d.apply_dialect(dialect);
                }
                reads.push(EnvRead {
                    name: &env.name,
                    path: path.clone(),
                    doc,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push(Problem {
                path: path.clone(),
                line: 1,
                rule: Rule::MissingFile,
                key: None,
                message: format!("{path} (environment '{}') does not exist", env.name),
                fix: format!(
                    "create it (`envault sync <env> {} --dry-run` shows what it would get), or fix its path in {}",
                    env.name,
                    rel(root, cfg_path)
                ),
            }),
            Err(source) => return Err(AuditError::Io { path, source }),
        }
    }
    let envs_checked = reads.len();
    problems.extend(check::check(config, &reads));
    problems.extend(replays(root, config, &changed)?);
    // Plaintext secrets, judged as `scan` judges them.
    let source = WorkTree {
        root: root.to_owned(),
    };
    let found = scan::scan(&Input {
        changed,
        configs: vec![rel(root, cfg_path)],
        source: &source,
        identities: &Identities::empty(),
        whole_files: true,
        check_data_keys: false,
        baseline: None,
    })?;
    for f in found {
        if matches!(f.rule, Rule::PlaintextSecret | Rule::UnencryptedValue) {
            problems.push(Problem {
                path: f.path,
                line: f.line,
                rule: f.rule,
                key: f.key,
                message: f.message,
                fix: f.fix,
            });
        }
    }
    Ok(ConfigCheck {
        problems,
        envs_checked,
    })
}

/// Sealed values of the working files that the repository's history had replaced
/// (`replayed-value`): an old value pasted back. Outside a repository there is no history.
fn replays(root: &Path, config: &Config, files: &[Changed]) -> Result<Vec<Problem>, GitError> {
    let Ok(repo) = Repo::discover(root) else {
        return Ok(Vec::new());
    };
    // (path from the repository root, environment, the file as read)
    let mut targets = Vec::new();
    for env in config.environments.values() {
        let Ok(in_repo) = repo.relative(root, &env.file) else {
            continue;
        };
        let in_repo = in_repo.to_string_lossy().into_owned();
        let shown = rel(root, &env.file);
        if let Some(f) = files.iter().find(|f| f.path == shown) {
            targets.push((in_repo, env.name.as_str(), f));
        }
    }
    let paths: Vec<String> = targets.iter().map(|(p, _, _)| p.clone()).collect();
    let retired = repo.retired_values("HEAD", &paths)?;
    let mut out = Vec::new();
    for (path, env, f) in &targets {
        let values = crate::git::replay::sealed_values(&f.new);
        for r in crate::git::replay::replays_in(path, &values, &retired, |_| true) {
            out.push(Problem {
                path: f.path.clone(),
                line: r.line,
                rule: Rule::ReplayedValue,
                key: Some(r.key.clone()),
                message: r.message(),
                fix: r.fix(Some(env)),
            });
        }
    }
    Ok(out)
}
