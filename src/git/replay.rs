//! Old sealed values pasted back from history. Every sealing draws a fresh nonce, so a sealed
//! value (`enc:v1:…`) is unique: when one that a commit replaced (or removed) shows up again,
//! someone copied it from an older version, which brings back the old secret (a rotated one,
//! a leaked one) without anyone holding the key. This is found from history alone, no
//! identity needed: `scan --range`, `check` and the merge driver use it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{GitError, Repo};
use crate::crypt::is_sealed;
use crate::dotenv::Document;

/// A commit that replaced or removed a sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// The commit's full id.
    pub commit: String,
    pub short: String,
    /// The file and the key the value was sealed for.
    pub path: String,
    pub key: String,
}

/// Every sealed value that history replaced, with the commits that replaced it.
#[derive(Debug, Default)]
pub struct Retired {
    by_value: HashMap<String, Vec<Retirement>>,
}

impl Retired {
    /// The commits that replaced `value` as `key`'s value. A sealed value is unique, so the
    /// file it was retired from does not matter (an env file the config renamed, or a copy
    /// elsewhere, brings back the same old value).
    pub fn of<'r>(
        &'r self,
        key: &'r str,
        value: &str,
    ) -> impl Iterator<Item = &'r Retirement> + 'r {
        self.by_value
            .get(value)
            .into_iter()
            .flatten()
            .filter(move |r| r.key == key)
    }

    pub fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }
}

/// A sealed value of a file that history had replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub path: String,
    pub key: String,
    pub line: usize,
    /// The sealed value itself (ciphertext, safe to show).
    pub value: String,
    /// The (first found) commit that had replaced it.
    pub replaced_by: Retirement,
}

impl Replay {
    /// What was found, for every report (names the key and the commit, never a value).
    pub fn message(&self) -> String {
        format!(
            "{} holds a sealed value that commit {} had replaced: an old value was brought back from history",
            self.key, self.replaced_by.short
        )
    }

    /// What to do about it; `env` names the environment when it is known.
    pub fn fix(&self, env: Option<&str>) -> String {
        let env = env.unwrap_or("<env>");
        format!(
            "if the old value leaked, rotate it (`envault rotate {k} --env {env}`); if bringing it back is intended, seal it afresh (`envault set {k} --env {env}` with the value on stdin)",
            k = self.key
        )
    }
}

/// The sealed values of an env file, by key: (raw value, line). A file that does not parse
/// has none (other rules report it).
pub fn sealed_values(bytes: &[u8]) -> BTreeMap<String, (String, usize)> {
    let Ok(doc) = Document::read(bytes.to_vec()) else {
        return BTreeMap::new();
    };
    doc.entries()
        .filter(|e| is_sealed(e.raw_value()))
        .map(|e| (e.key().to_owned(), (e.raw_value().to_owned(), e.line())))
        .collect()
}

/// The values of `values` (the sealed values of `path`) that history replaced, each with a
/// commit that replaced it, when `counts` accepts that commit.
pub fn replays_in(
    path: &str,
    values: &BTreeMap<String, (String, usize)>,
    retired: &Retired,
    mut counts: impl FnMut(&Retirement) -> bool,
) -> Vec<Replay> {
    let mut out = Vec::new();
    for (key, (value, line)) in values {
        if let Some(r) = retired.of(key, value).find(|r| counts(r)) {
            out.push(Replay {
                path: path.to_owned(),
                key: key.clone(),
                line: *line,
                value: value.clone(),
                replaced_by: r.clone(),
            });
        }
    }
    out
}

type Values = std::rc::Rc<BTreeMap<String, (String, usize)>>;

/// Parsed blobs, each read once.
struct Blobs<'r> {
    repo: &'r git2::Repository,
    parsed: HashMap<git2::Oid, Values>,
}

impl Blobs<'_> {
    fn values(&mut self, id: git2::Oid) -> Result<Values, GitError> {
        if let Some(v) = self.parsed.get(&id) {
            return Ok(v.clone());
        }
        let blob = self.repo.find_blob(id).map_err(git)?;
        let v = Values::new(sealed_values(blob.content()));
        self.parsed.insert(id, v.clone());
        Ok(v)
    }
}

fn git(e: git2::Error) -> GitError {
    GitError::Git(e.message().to_owned())
}

impl Repo {
    /// The commit that brought the data key with commitment `commitment` into the file `rel`
    /// (from the repository root): the newest commit of HEAD's history whose version carries
    /// it while its first parent's does not. `None` when HEAD does not carry it (the change is
    /// in the working tree) or history cannot be read.
    pub fn commit_that_brought_key(&self, rel: &Path, commitment: &str) -> Option<super::Commit> {
        let has = |rev: &str| {
            self.file_at(rev, rel)
                .ok()
                .flatten()
                .and_then(|b| {
                    crate::crypt::Header::parse(&String::from_utf8_lossy(&b))
                        .ok()
                        .flatten()
                })
                .and_then(|h| h.commitment_text())
                .is_some_and(|x| x == commitment)
        };
        for commit in self.history("HEAD").ok()? {
            if !has(&commit.id) {
                // Older commits came before the key; the one after this was its origin.
                return None;
            }
            if !commit.parent.as_deref().is_some_and(has) {
                return Some(commit);
            }
        }
        None
    }

    fn commit_of(&self, rev: &str) -> Result<git2::Commit<'_>, GitError> {
        self.repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| GitError::BadRevision {
                rev: rev.to_owned(),
                msg: e.message().to_owned(),
            })
    }

    /// The blob of each of `paths` in a commit's tree (`None` where it is absent).
    fn blobs_of(
        &self,
        c: &git2::Commit,
        paths: &[String],
    ) -> Result<Vec<Option<git2::Oid>>, GitError> {
        let tree = c.tree().map_err(git)?;
        paths
            .iter()
            .map(|p| {
                // An env file may be a link to the file with its values, or sit in a linked
                // folder: links are followed in the tree.
                let link_target = |q: &str| {
                    let e = tree.get_path(Path::new(q)).ok()?;
                    if e.filemode() & 0o170000 != 0o120000 {
                        return None;
                    }
                    let b = self.repo.find_blob(e.id()).ok()?;
                    Some(String::from_utf8_lossy(b.content()).into_owned())
                };
                let Some(path) = super::resolve_links(p, link_target) else {
                    return Ok(None);
                };
                match tree.get_path(Path::new(&path)) {
                    Ok(e) if e.kind() == Some(git2::ObjectType::Blob) => Ok(Some(e.id())),
                    Ok(_) => Ok(None),
                    Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
                    Err(e) => Err(git(e)),
                }
            })
            .collect()
    }

    /// Every sealed value of `paths` (relative to the root) that a commit reachable from `tip`
    /// replaced or removed, compared with each of its parents. An unborn `HEAD` has no history.
    pub fn retired_values(&self, tip: &str, paths: &[String]) -> Result<Retired, GitError> {
        self.retired_values_of(&[tip], paths)
    }

    /// [`Repo::retired_values`] over the history of several tips (a range's base and end).
    pub fn retired_values_of(&self, tips: &[&str], paths: &[String]) -> Result<Retired, GitError> {
        let mut retired = Retired::default();
        let tips: Vec<&str> = tips
            .iter()
            .copied()
            .filter(|t| !(*t == "HEAD" && self.repo.head().is_err()))
            .collect();
        if paths.is_empty() || tips.is_empty() {
            return Ok(retired);
        }
        let mut walk = self.repo.revwalk().map_err(git)?;
        for tip in tips {
            walk.push(self.commit_of(tip)?.id()).map_err(git)?;
        }
        let mut trees: HashMap<git2::Oid, Vec<Option<git2::Oid>>> = HashMap::new();
        let mut blobs = Blobs {
            repo: &self.repo,
            parsed: HashMap::new(),
        };
        let mut blobs_at =
            |repo: &Repo, c: &git2::Commit| -> Result<Vec<Option<git2::Oid>>, GitError> {
                if let Some(b) = trees.get(&c.id()) {
                    return Ok(b.clone());
                }
                let b = repo.blobs_of(c, paths)?;
                trees.insert(c.id(), b.clone());
                Ok(b)
            };
        for oid in walk {
            let c = self.repo.find_commit(oid.map_err(git)?).map_err(git)?;
            let now = blobs_at(self, &c)?;
            for parent in c.parents() {
                let before = blobs_at(self, &parent)?;
                for (i, path) in paths.iter().enumerate() {
                    let Some(old) = before[i] else { continue };
                    if now[i] == Some(old) {
                        continue;
                    }
                    let old = blobs.values(old)?;
                    let new = match now[i] {
                        Some(id) => blobs.values(id)?,
                        None => Values::default(),
                    };
                    for (key, (value, _)) in old.iter() {
                        if new.get(key).is_some_and(|(v, _)| v == value) {
                            continue;
                        }
                        let id = c.id().to_string();
                        let list = retired.by_value.entry(value.clone()).or_default();
                        if !list.iter().any(|r| r.commit == id && r.path == *path) {
                            list.push(Retirement {
                                short: id[..7].to_owned(),
                                commit: id,
                                path: path.clone(),
                                key: key.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(retired)
    }

    /// Whether `ancestor` is a proper ancestor of `commit`.
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> Result<bool, GitError> {
        let (a, c) = (self.commit_of(ancestor)?.id(), self.commit_of(commit)?.id());
        self.repo.graph_descendant_of(c, a).map_err(git)
    }

    /// The sealed values that `commit` brings back: values of `paths` that differ from the
    /// same key's value in one of its parents and that a proper ancestor of `commit` replaced,
    /// or a commit of `target`'s history (the branch it is to be merged into: a value copied
    /// from there into an older branch). A value the commit merely keeps was judged where it
    /// came in.
    pub fn replays_in_commit(
        &self,
        commit: &str,
        paths: &[String],
        retired: &Retired,
        target: Option<&str>,
    ) -> Result<Vec<Replay>, GitError> {
        let target = match target {
            Some(t) => Some(self.commit_of(t)?.id().to_string()),
            None => None,
        };
        if retired.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.commit_of(commit)?;
        let now = self.blobs_of(&c, paths)?;
        let parents: Vec<Vec<Option<git2::Oid>>> = c
            .parents()
            .map(|p| self.blobs_of(&p, paths))
            .collect::<Result<_, _>>()?;
        let mut blobs = Blobs {
            repo: &self.repo,
            parsed: HashMap::new(),
        };
        let mut out = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let Some(id) = now[i] else { continue };
            if parents.iter().all(|p| p[i] == Some(id)) {
                continue;
            }
            let values = blobs.values(id)?;
            let before: Vec<Values> = parents
                .iter()
                .map(|p| match p[i] {
                    Some(b) => blobs.values(b),
                    None => Ok(Values::default()),
                })
                .collect::<Result<_, _>>()?;
            let introduced: BTreeMap<String, (String, usize)> = values
                .iter()
                .filter(|(k, (v, _))| {
                    before.is_empty()
                        || before
                            .iter()
                            .any(|b| b.get(*k).is_none_or(|(old, _)| old != v))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let c_id = c.id().to_string();
            let mut error = None;
            let mut earlier = |r: &Retirement, of: &str| {
                r.commit == of
                    || self.is_ancestor(&r.commit, of).unwrap_or_else(|e| {
                        error = Some(e);
                        false
                    })
            };
            let found = replays_in(path, &introduced, retired, |r| {
                (r.commit != c_id && earlier(r, &c_id))
                    || target.as_deref().is_some_and(|t| earlier(r, t))
            });
            if let Some(e) = error {
                return Err(e);
            }
            out.extend(found);
        }
        Ok(out)
    }
}
