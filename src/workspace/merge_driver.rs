//! git's merge driver for env files, as a library operation: read the three sides, merge them
//! key by key (an encrypted file with the user's identities), fall back to git's line merge
//! for a plaintext side that does not parse, refuse what only a person may decide, and write
//! the result over ours. The command line only passes git's arguments in and reports.

use std::path::Path;

use super::{Keys, Result, WorkspaceError};
use crate::config::Config;
use crate::crypt::{Identities, HEADER_PREFIX};
use crate::dotenv::Document;
use crate::fsutil::{self, FsError};
use crate::git::replay::{replays_in, sealed_values, Replay};
use crate::git::Repo;
use crate::merge::{self, Labels, NeedsDecision};

/// What git hands the driver.
pub struct MergeFiles<'a> {
    /// The common ancestor (%O), ours (%A, where the result goes) and theirs (%B).
    pub base: &'a Path,
    pub ours: &'a Path,
    pub theirs: &'a Path,
    /// Labels and marker length for conflict markers (%X, %Y, %L).
    pub labels: Labels<'a>,
    /// The ancestor's label (%S), for the line merge.
    pub base_label: Option<&'a str>,
    /// The path being merged (%P), from the repository root, when git passed it.
    pub path: Option<&'a str>,
    /// The folder git runs the driver in (the repository root).
    pub cwd: &'a Path,
    /// The project's configuration, when there is one (to name the environment in hints).
    pub config: Option<&'a Config>,
    /// Asked for a plain line merge (ENVAULT_MERGE_DISABLE).
    pub line_merge_only: bool,
}

impl MergeFiles<'_> {
    fn path(&self) -> &str {
        self.path.unwrap_or("the env file")
    }
}

/// What became of a merge.
#[derive(Debug)]
pub enum MergeOutcome {
    /// Written over ours, with no conflict.
    Clean,
    /// Written over ours, with conflict markers around these keys (`(lines)` after a line
    /// merge).
    Conflicts(Vec<String>),
    /// Nothing written: ours stays as it was and git records a conflict.
    Refused(Refusal),
}

/// Why the driver would not merge.
#[derive(Debug)]
pub enum Refusal {
    /// A side is encrypted and another does not parse (or a line merge was asked for): a line
    /// merge would merge `#envault:` header lines as text.
    EncryptedNotParsed {
        path: String,
        line_merge_asked: bool,
    },
    /// The merge would bring back sealed values that history replaced.
    Replayed {
        path: String,
        replays: Vec<Replay>,
        env: Option<String>,
    },
    /// A decision only a key holder can make.
    NeedsDecision { path: String, why: NeedsDecision },
}

impl Refusal {
    /// What happened, a line each.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Refusal::EncryptedNotParsed {
                line_merge_asked, ..
            } => vec![format!(
                "cannot merge: a side is encrypted and {}",
                if *line_merge_asked {
                    "ENVAULT_MERGE_DISABLE asks for a line merge, which could merge its header as text"
                } else {
                    "a side is not a valid env file or holds a line that is not an entry (it would stay in clear)"
                }
            )],
            Refusal::Replayed { replays, .. } => replays.iter().map(Replay::message).collect(),
            Refusal::NeedsDecision { why, .. } => vec![format!("cannot merge: {why}")],
        }
    }

    /// The path being merged, as the refusal names it.
    pub fn path(&self) -> &str {
        match self {
            Refusal::EncryptedNotParsed { path, .. }
            | Refusal::Replayed { path, .. }
            | Refusal::NeedsDecision { path, .. } => path,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for Refusal {}

impl crate::error::Hint for Refusal {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Refusal::EncryptedNotParsed { path, .. } => format!(
                "resolve it with `git checkout --ours/--theirs -- {path}` and `envault edit`"
            ),
            Refusal::Replayed { path, replays, env } => format!(
                "{}; then resolve it with `git checkout --ours -- {path}` \
                 and redo the other side's changes with `envault set`",
                replays[0].fix(env.as_deref())
            ),
            Refusal::NeedsDecision {
                path,
                why: NeedsDecision::Header(_),
            } => format!(
                "review who changed the header (`git log -p -- {path}`); keep \
                 one side with `git checkout --ours/--theirs -- {path}`, redo the \
                 other side's value changes with `envault set`, and grant access \
                 only with `envault recipients add`"
            ),
            Refusal::NeedsDecision { path, .. } => format!(
                "make an identity available (ENVAULT_IDENTITY, or `envault keygen`) \
                 and run `git checkout -m -- {path}` to merge again, or resolve it \
                 with `git checkout --ours/--theirs -- {path}` and `envault edit`"
            ),
        })
    }
}

/// Whether raw file bytes start (after a byte-order mark) with an `#envault:` header line.
fn has_header(bytes: &[u8]) -> bool {
    bytes
        .strip_prefix("\u{feff}".as_bytes())
        .unwrap_or(bytes)
        .starts_with(HEADER_PREFIX.as_bytes())
}

fn read(cwd: &Path, p: &Path) -> Result<Vec<u8>> {
    let path = cwd.join(p);
    std::fs::read(&path).map_err(|source| {
        WorkspaceError::Fs(FsError::Io {
            op: "read",
            path,
            source,
        })
    })
}

/// The environment whose file is `path` (from the repository root), when the config says.
fn env_of(files: &MergeFiles) -> Option<String> {
    let real = |p: &Path| std::fs::canonicalize(p).ok();
    let target = real(&files.cwd.join(files.path?))?;
    files
        .config?
        .environments
        .values()
        .find(|e| real(&e.file).as_ref() == Some(&target))
        .map(|e| e.name.clone())
}

/// Sealed values the merge would bring in that this repository's history (from `HEAD`) had
/// replaced: an old value pasted back on the other side. Without the path or a repository
/// there is no history to judge by.
fn replays(files: &MergeFiles, ours: &[u8], merged: &str) -> Result<Vec<Replay>> {
    let (Some(path), Ok(repo)) = (files.path, Repo::discover(files.cwd)) else {
        return Ok(Vec::new());
    };
    let ours = sealed_values(ours);
    let mut incoming = sealed_values(merged.as_bytes());
    incoming.retain(|k, (v, _)| ours.get(k).is_none_or(|(o, _)| o != v));
    if incoming.is_empty() {
        return Ok(Vec::new());
    }
    let retired = repo.retired_values("HEAD", &[path.to_owned()])?;
    Ok(replays_in(path, &incoming, &retired, |_| true))
}

/// The merged bytes and the keys in conflict, or a refusal.
type Merge = std::result::Result<(Vec<u8>, Vec<String>), Refusal>;

impl Keys<'_> {
    /// Merges the three sides and writes the result over ours (unless refused).
    pub fn merge_files(&self, files: &MergeFiles) -> Result<MergeOutcome> {
        let base = read(files.cwd, files.base)?;
        let ours = read(files.cwd, files.ours)?;
        let theirs = read(files.cwd, files.theirs)?;
        let parsed = (
            Document::read(base.clone()),
            Document::read(ours.clone()),
            Document::read(theirs.clone()),
        );
        let merged = match parsed {
            (Ok(b), Ok(o), Ok(t)) if !files.line_merge_only => {
                // A damaged header counts as encrypted: the encrypted merge then refuses it.
                let encrypted =
                    |d: &Document| crate::crypt::header_of(d).map_or(true, |h| h.is_some());
                let opaque = [&b, &o, &t].iter().any(|d| !d.opaque_lines().is_empty());
                if (encrypted(&o) || encrypted(&t)) && opaque {
                    // A line that is not an entry would stay in clear in the merged file.
                    Err(Refusal::EncryptedNotParsed {
                        path: files.path().to_owned(),
                        line_merge_asked: false,
                    })
                } else if encrypted(&o) || encrypted(&t) {
                    self.merge_sealed(files, [&b, &o, &t], &ours)?
                } else {
                    let m = merge::merge(&b, &o, &t, files.labels);
                    Ok((m.text.into_bytes(), m.conflicts))
                }
            }
            _ if [&base, &ours, &theirs].iter().any(|b| has_header(b)) => {
                // A line merge would merge `#envault:` header lines as text, and anyone can
                // make a side unparseable to get one: an encrypted file is never line-merged.
                Err(Refusal::EncryptedNotParsed {
                    path: files.path().to_owned(),
                    line_merge_asked: files.line_merge_only,
                })
            }
            _ => {
                if !files.line_merge_only {
                    (self.warn)(&format!(
                        "{}: a side is not a valid env file; falling back to a line merge",
                        files.path()
                    ));
                }
                let (text, clean) = crate::git::line_merge(
                    [&base, &ours, &theirs],
                    [
                        Some(files.labels.ours),
                        Some(files.labels.theirs),
                        files.base_label,
                    ],
                    files.labels.marker_len,
                )?;
                let conflicts = if clean {
                    Vec::new()
                } else {
                    vec!["(lines)".to_owned()]
                };
                Ok((text, conflicts))
            }
        };
        let (text, conflicts) = match merged {
            Ok(m) => m,
            Err(refusal) => return Ok(MergeOutcome::Refused(refusal)),
        };
        let (snap, _) = fsutil::read(&files.cwd.join(files.ours))?;
        fsutil::write_atomic(&snap, &text)?;
        Ok(if conflicts.is_empty() {
            MergeOutcome::Clean
        } else {
            MergeOutcome::Conflicts(conflicts)
        })
    }

    /// The merge of sides of which one is encrypted: refused when it would bring back a sealed
    /// value history replaced, or when it needs a decision only a key holder can make. Without
    /// identities (none, or unreadable: warned about) only merges that open no key succeed.
    fn merge_sealed(
        &self,
        files: &MergeFiles,
        [b, o, t]: [&Document; 3],
        ours: &[u8],
    ) -> Result<Merge> {
        let empty = Identities::empty();
        let ids = match self.identities() {
            Ok(ids) => ids,
            Err(e) => {
                (self.warn)(&crate::error::chain(&e));
                &empty
            }
        };
        let path = files.path().to_owned();
        Ok(match merge::merge_encrypted(b, o, t, files.labels, ids) {
            Ok(m) => {
                let replays = replays(files, ours, &m.text)?;
                if replays.is_empty() {
                    Ok((m.text.into_bytes(), m.conflicts))
                } else {
                    Err(Refusal::Replayed {
                        path,
                        replays,
                        env: env_of(files),
                    })
                }
            }
            Err(why) => Err(Refusal::NeedsDecision { path, why }),
        })
    }
}
