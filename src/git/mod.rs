//! Repository access through libgit2: files as they were at a revision.

pub mod install;
pub mod replay;

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
    #[error(transparent)]
    Confined(#[from] crate::confine::ConfineError),
}

impl crate::error::Hint for GitError {
    fn hint(&self) -> Option<String> {
        match self {
            GitError::NotARepo { .. } => Some(
                "this needs a git working tree: run it inside one (`git init` makes one)".into(),
            ),
            GitError::BadRevision { rev, .. } => Some(revision_hint(rev)),
            GitError::Confined(e) => e.hint(),
            _ => None,
        }
    }
}

/// What to do about a revision git does not know, shaped by what was asked for.
fn revision_hint(rev: &str) -> String {
    let relative = rev.contains('~') || rev.contains('^');
    if relative {
        format!(
            "`{rev}` counts back past the first commit of this history: `git log --oneline` lists \
             the commits there are (a shallow clone, as CI makes, has few: `git fetch --unshallow`)"
        )
    } else {
        "`git log --oneline`, `git branch -a` and `git tag` list the revisions there are: use \
         one of them, a commit (3f9c0a1) or `HEAD~1` for the commit before this one"
            .to_owned()
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
        self.commits(walk)
    }

    /// The commits a walk yields, in its order.
    fn commits(&self, walk: git2::Revwalk) -> Result<Vec<Commit>, GitError> {
        let git = |e: git2::Error| GitError::Git(e.message().to_owned());
        let mut out = Vec::new();
        for oid in walk {
            let c = self.repo.find_commit(oid.map_err(git)?).map_err(git)?;
            let id = c.id().to_string();
            let who = c.author();
            out.push(Commit {
                author: format!(
                    "{} <{}>",
                    who.name().unwrap_or("?"),
                    who.email().unwrap_or("?")
                ),
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

/// The root of the git work tree `path` (which need not exist yet) would sit in, unless git
/// ignores it there: a file at such a path is one `git add -A` away from being committed.
/// git's own line merge of three texts (libgit2's `merge_file`), for files the key-aware merge
/// cannot read: the merged bytes, and whether they are free of conflicts.
/// Reads objects without hashing them again, as git itself does. A scan reads every staged
/// blob: re-hashing each (libgit2's default) costs a fifth of the pre-commit hook's time and
/// protects nothing a scan relies on (it judges the bytes git would commit, whatever their id).
pub fn read_objects_unverified() {
    git2::opts::strict_hash_verification(false);
}

pub fn line_merge(
    [base, ours, theirs]: [&[u8]; 3],
    [ours_label, theirs_label, base_label]: [Option<&str>; 3],
    marker_len: usize,
) -> Result<(Vec<u8>, bool), GitError> {
    fn input(c: &[u8]) -> git2::MergeFileInput<'_> {
        let mut i = git2::MergeFileInput::new();
        i.content(c).path(".env").mode(Some(git2::FileMode::Blob));
        i
    }
    // merge_file does not initialise libgit2 itself; creating any config object does.
    let _ = git2::Config::new();
    let mut opts = git2::MergeFileOptions::new();
    opts.marker_size(u16::try_from(marker_len).unwrap_or(u16::MAX));
    if let Some(l) = ours_label {
        opts.our_label(l);
    }
    if let Some(l) = theirs_label {
        opts.their_label(l);
    }
    if let Some(l) = base_label {
        opts.ancestor_label(l);
    }
    let (b, o, t) = (input(base), input(ours), input(theirs));
    let r = git2::merge_file(&b, &o, &t, Some(&mut opts))
        .map_err(|e| GitError::Git(e.message().to_owned()))?;
    Ok((r.content().to_vec(), r.is_automergeable()))
}

pub fn committable_in(path: &Path) -> Option<PathBuf> {
    // A symlink (dangling ones too) is judged by where the write would land.
    let mut path = path.to_owned();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        path = path.parent().map_or(target.clone(), |d| d.join(&target));
    }
    let path = path.as_path();
    let mut dir = path.parent()?;
    while !dir.exists() {
        dir = dir.parent()?;
    }
    let repo = git2::Repository::discover(dir).ok()?;
    let root = repo.workdir()?.canonicalize().ok()?;
    let dir_real = dir.canonicalize().ok()?;
    let rest = path.strip_prefix(dir).ok()?;
    let rel = dir_real.join(rest);
    let rel = rel.strip_prefix(&root).ok()?;
    if repo.is_path_ignored(rel).unwrap_or(false) {
        return None;
    }
    Some(root)
}

/// One commit of a history.
#[derive(Debug, Clone)]
pub struct Commit {
    pub id: String,
    pub short: String,
    pub summary: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// The first parent; `None` for a root commit.
    pub parent: Option<String>,
}

/// A blob in the repository's object database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobId(git2::Oid);

/// The files of one state of the repository (a commit's tree, or an index): path → blob.
#[derive(Debug, Default, Clone)]
pub struct Files {
    pub files: std::collections::HashMap<String, BlobId>,
    /// Symbolic links: path → the blob holding the link's target.
    pub links: std::collections::HashMap<String, BlobId>,
}

impl Files {
    /// Paths whose blob differs from `old` (added or modified), with both blobs, sorted.
    pub fn changed_from(&self, old: &Files) -> Vec<(String, BlobId, Option<BlobId>)> {
        let mut out: Vec<(String, BlobId, Option<BlobId>)> = self
            .files
            .iter()
            .filter_map(|(p, id)| {
                let before = old.files.get(p).copied();
                (before != Some(*id)).then(|| (p.clone(), *id, before))
            })
            .collect();
        // A link that changed counts too: what it points at is content (read as the target).
        out.extend(self.links.iter().filter_map(|(p, id)| {
            let before = old.links.get(p).or_else(|| old.files.get(p)).copied();
            (before != Some(*id)).then(|| (p.clone(), *id, before))
        }));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn is_link_mode(mode: u32) -> bool {
    mode & 0o170000 == 0o120000
}

/// `dir/target` with `.` and `..` applied, `/`-separated; `None` when it leaves the root or
/// the target is absolute.
pub fn join_in_tree(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// `path` with every symbolic link on the way followed, in a folder component as at the end
/// (`link_target` gives a path's link target when it is a link); `None` when a link leaves
/// the tree or there are too many.
pub fn resolve_links(path: &str, link_target: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut path = path.to_owned();
    'hops: for _ in 0..16 {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..=parts.len() {
            let prefix = parts[..i].join("/");
            if let Some(target) = link_target(&prefix) {
                let joined = join_in_tree(&prefix, &target)?;
                let rest = parts[i..].join("/");
                path = if rest.is_empty() {
                    joined
                } else {
                    format!("{joined}/{rest}")
                };
                continue 'hops;
            }
        }
        return Some(path);
    }
    None
}

fn is_file_mode(mode: u32) -> bool {
    // Regular and executable files; not symlinks (0o120000) or submodules (0o160000).
    mode & 0o170000 == 0o100000
}

impl Repo {
    /// The repository git is working in: `GIT_DIR` and friends when set (as in hooks), else
    /// discovered from the current folder.
    pub fn from_env() -> Result<Repo, GitError> {
        let repo = git2::Repository::open_from_env().map_err(|_| GitError::NotARepo {
            path: std::env::current_dir().unwrap_or_default(),
        })?;
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Git("a bare repository has no working tree".into()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
        Ok(Repo { repo, root })
    }

    /// The repository's git directory for this worktree, and the common one (shared by linked
    /// worktrees).
    pub fn git_dirs(&self) -> (PathBuf, PathBuf) {
        (
            self.repo.path().to_owned(),
            self.repo.commondir().to_owned(),
        )
    }

    /// One configuration value from git's configuration as this repository sees it.
    pub fn config_get(&self, name: &str) -> Option<String> {
        self.repo.config().ok()?.get_string(name).ok()
    }

    /// Sets (or with `None`, removes) a key in the repository's own configuration.
    pub fn config_set(&self, name: &str, value: Option<&str>) -> Result<(), GitError> {
        let git = |e: git2::Error| GitError::Git(e.message().to_owned());
        let mut cfg = self.repo.config().map_err(git)?;
        let mut local = cfg.open_level(git2::ConfigLevel::Local).map_err(git)?;
        let _ = &mut cfg;
        match value {
            Some(v) => local.set_str(name, v).map_err(git),
            None => match local.remove(name) {
                Ok(()) => Ok(()),
                Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
                Err(e) => Err(git(e)),
            },
        }
    }

    /// The files staged in the index (`index_file`, else the repository's own index).
    pub fn index_files(&self, index_file: Option<&Path>) -> Result<Files, GitError> {
        let git = |e: git2::Error| GitError::Git(e.message().to_owned());
        let index = match index_file {
            Some(p) => git2::Index::open(p).map_err(git)?,
            None => self.repo.index().map_err(git)?,
        };
        let mut files = Files::default();
        for e in index.iter() {
            // Stage 0 only: unresolved conflict stages are not what gets committed.
            let stage = (e.flags >> 12) & 0x3;
            if stage != 0 {
                continue;
            }
            let path = String::from_utf8_lossy(&e.path).into_owned();
            if is_file_mode(e.mode) {
                files.files.insert(path, BlobId(e.id));
            } else if is_link_mode(e.mode) {
                files.links.insert(path, BlobId(e.id));
            }
        }
        Ok(files)
    }

    /// The files of `rev`'s tree; an unborn HEAD is the empty tree.
    pub fn tree_files(&self, rev: &str) -> Result<Files, GitError> {
        let obj = match self.repo.revparse_single(rev) {
            Ok(o) => o,
            Err(e) if rev == "HEAD" && e.code() == git2::ErrorCode::UnbornBranch => {
                return Ok(Files::default())
            }
            Err(e) if rev == "HEAD" && self.repo.head().is_err() => {
                let _ = e;
                return Ok(Files::default());
            }
            Err(e) => {
                return Err(GitError::BadRevision {
                    rev: rev.to_owned(),
                    msg: e.message().to_owned(),
                })
            }
        };
        let tree = obj
            .peel_to_tree()
            .map_err(|e| GitError::Git(e.message().to_owned()))?;
        let mut files = Files::default();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let name = String::from_utf8_lossy(entry.name_bytes());
                let mode = entry.filemode() as u32;
                if is_file_mode(mode) {
                    files
                        .files
                        .insert(format!("{dir}{name}"), BlobId(entry.id()));
                } else if is_link_mode(mode) {
                    files
                        .links
                        .insert(format!("{dir}{name}"), BlobId(entry.id()));
                }
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(|e| GitError::Git(e.message().to_owned()))?;
        Ok(files)
    }

    /// The file `path` names in `files`, symbolic links within the tree followed; `None`
    /// when it names nothing there (or a link leaves the tree).
    pub fn resolve_in(&self, files: &Files, path: &str) -> Option<String> {
        let path = resolve_links(path, |p| {
            let target = self.blob(*files.links.get(p)?).ok()?;
            Some(String::from_utf8_lossy(&target).into_owned())
        })?;
        files.files.contains_key(&path).then_some(path)
    }

    /// A blob's bytes.
    pub fn blob(&self, id: BlobId) -> Result<Vec<u8>, GitError> {
        self.repo
            .find_blob(id.0)
            .map(|b| b.content().to_vec())
            .map_err(|e| GitError::Git(e.message().to_owned()))
    }

    /// The best common ancestor of two revisions (full id), when they have one.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<Option<String>, GitError> {
        let id = |rev: &str| {
            self.repo
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .map(|c| c.id())
                .map_err(|e| GitError::BadRevision {
                    rev: rev.to_owned(),
                    msg: e.message().to_owned(),
                })
        };
        match self.repo.merge_base(id(a)?, id(b)?) {
            Ok(oid) => Ok(Some(oid.to_string())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(GitError::Git(e.message().to_owned())),
        }
    }

    /// The commits of `A..B` (reachable from B, not from A), oldest first.
    pub fn range(&self, range: &str) -> Result<Vec<Commit>, GitError> {
        let git = |e: git2::Error| GitError::Git(e.message().to_owned());
        let mut walk = self.repo.revwalk().map_err(git)?;
        walk.push_range(range).map_err(|e| GitError::BadRevision {
            rev: range.to_owned(),
            msg: e.message().to_owned(),
        })?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .map_err(git)?;
        self.commits(walk)
    }
}

impl Repo {
    /// Files of the working tree git knows of: tracked ones and untracked ones not ignored,
    /// relative to the root.
    pub fn worktree_files(&self) -> Result<Vec<String>, GitError> {
        let git = |e: git2::Error| GitError::Git(e.message().to_owned());
        let mut out: Vec<String> = self.index_files(None)?.files.into_keys().collect();
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        let statuses = self.repo.statuses(Some(&mut opts)).map_err(git)?;
        for s in statuses.iter() {
            if s.status().contains(git2::Status::WT_NEW) {
                if let Ok(p) = s.path() {
                    out.push(p.to_owned());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}
