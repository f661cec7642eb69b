//! Repository access through libgit2: files as they were at a revision.

use std::path::{Path, PathBuf};

/// What can go wrong reading from a repository.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not inside a git repository", .path.display())]
    NotARepo { path: PathBuf },
    #[error("unknown revision `{rev}`: {msg}")]
    BadRevision { rev: String, msg: String },
    #[error("{} is outside the repository at {}", .path.display(), .root.display())]
    Outside { path: PathBuf, root: PathBuf },
    #[error("git: {0}")]
    Git(String),
}

impl GitError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            GitError::NotARepo { .. } => {
                Some("`NAME@REV` and `REV:PATH` read files from git; run inside a repository")
            }
            GitError::BadRevision { .. } => {
                Some("use a branch, tag, commit or an expression such as HEAD~3")
            }
            _ => None,
        }
    }
}

/// A repository with a working tree.
pub struct Repo {
    repo: git2::Repository,
    root: PathBuf,
}

impl Repo {
    /// The repository containing `start`.
    pub fn discover(start: &Path) -> Result<Repo, GitError> {
        let repo = git2::Repository::discover(start).map_err(|_| GitError::NotARepo {
            path: start.to_owned(),
        })?;
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Git("a bare repository has no working tree".into()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
        Ok(Repo { repo, root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` (absolute, or relative to `cwd`) relative to the repository root.
    pub fn relative(&self, cwd: &Path, path: &Path) -> Result<PathBuf, GitError> {
        let abs = cwd.join(path);
        // Canonicalize the folder (the file itself may not exist here).
        let (dir, name) = (abs.parent().unwrap_or(Path::new("/")), abs.file_name());
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        let full = match name {
            Some(n) => dir.join(n),
            None => dir,
        };
        full.strip_prefix(&self.root)
            .map(Path::to_owned)
            .map_err(|_| GitError::Outside {
                path: full.clone(),
                root: self.root.clone(),
            })
    }

    /// Commits reachable from `rev`, newest first: (full id, short id, summary, first parent).
    pub fn history(&self, rev: &str) -> Result<Vec<Commit>, GitError> {
        let start = self
            .repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| GitError::BadRevision {
                rev: rev.to_owned(),
                msg: e.message().to_owned(),
            })?;
        let git = |e: git2::Error| GitError::Git(e.message().to_owned());
        let mut walk = self.repo.revwalk().map_err(git)?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(git)?;
        walk.push(start.id()).map_err(git)?;
        let mut out = Vec::new();
        for oid in walk {
            let c = self.repo.find_commit(oid.map_err(git)?).map_err(git)?;
            let id = c.id().to_string();
            out.push(Commit {
                short: id[..7.min(id.len())].to_owned(),
                summary: c.summary().ok().flatten().unwrap_or("").to_owned(),
                parent: c.parent_id(0).ok().map(|p| p.to_string()),
                id,
            });
        }
        Ok(out)
    }

    /// The bytes of `rel` (relative to the repository root) at `rev`; `None` when the file does
    /// not exist there.
    pub fn file_at(&self, rev: &str, rel: &Path) -> Result<Option<Vec<u8>>, GitError> {
        let obj = self
            .repo
            .revparse_single(rev)
            .map_err(|e| GitError::BadRevision {
                rev: rev.to_owned(),
                msg: e.message().to_owned(),
            })?;
        let tree = obj
            .peel_to_tree()
            .map_err(|e| GitError::Git(e.message().to_owned()))?;
        let entry = match tree.get_path(rel) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(GitError::Git(e.message().to_owned())),
        };
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| GitError::Git(e.message().to_owned()))?;
        Ok(Some(blob.content().to_vec()))
    }
}

/// One commit of a history.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: String,
    pub short: String,
    pub summary: String,
    /// The first parent; `None` for a root commit.
    pub parent: Option<String>,
}
