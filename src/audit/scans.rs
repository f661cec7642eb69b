//! The three scans `envault scan` runs: what is staged (the pre-commit hook), every commit of
//! a range (CI), and files of the working tree. Each returns its findings with where they were
//! found; rendering is the caller's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{scan_between, walk_files, AuditError, GitSource, WorkTree};
use crate::config::is_config_path;
use crate::crypt::Identities;
use crate::git::replay::{Replay, Retired};
use crate::git::{Files, Repo};
use crate::rule::Rule;
use crate::scan::{self, Changed, Finding, Input, Source};

/// A finding and the commit it was found in (ranges; `A..B` for one found between a range's
/// ends).
#[derive(Debug)]
pub struct Located {
    pub commit: Option<String>,
    pub finding: Finding,
}

/// The baseline a scan uses unless told another: this file at the root, when it exists in
/// the scanned state (a committed baseline holds for the pre-commit hook too).
pub const DEFAULT_BASELINE: &str = ".envault-baseline";

/// The folder a working-tree scan of `cwd` covers: its repository's root, else `cwd`.
pub fn worktree_root(cwd: &Path) -> PathBuf {
    Repo::discover(cwd).map_or_else(|_| cwd.to_owned(), |r| r.root().to_owned())
}

/// What judges a scan beyond its files: the user's identities (to recognise their sealed
/// values) and the baseline file, if any (path from the root).
pub type Judge<'a> = (&'a Identities, Option<&'a str>);

/// What a scan found, and how many files it read ("3 staged files").
#[derive(Debug)]
pub struct Scanned {
    pub found: Vec<Located>,
    pub files: usize,
    /// What a file scanned is called in the summary: `staged file`, `changed file`, `file`.
    pub what: &'static str,
}

fn unlocated(found: Vec<Finding>, commit: Option<&str>) -> impl Iterator<Item = Located> + '_ {
    found.into_iter().map(move |finding| Located {
        commit: commit.map(str::to_owned),
        finding,
    })
}

/// What is staged in the repository at `cwd` (the index `index_file`, else git's own),
/// against HEAD: what the pre-commit hook runs.
pub fn staged(repo: &Repo, index_file: Option<&Path>, judge: Judge) -> Result<Scanned, AuditError> {
    crate::git::read_objects_unverified();
    let new = repo.index_files(index_file)?;
    let old = repo.tree_files("HEAD")?;
    let (found, files) = scan_between(repo, (&new, &old), false, judge)?;
    Ok(Scanned {
        found: unlocated(found, None).collect(),
        files,
        what: "staged file",
    })
}

/// The base and the end of a range `A..B` (`HEAD` for a side left out); `None` when `range`
/// has no `..`.
fn range_ends(range: &str) -> Option<(&str, &str)> {
    let (a, b) = range.split_once("..")?;
    let a = a.trim_end_matches('.');
    let b = b.trim_start_matches('.');
    Some((
        if a.is_empty() { "HEAD" } else { a },
        if b.is_empty() { "HEAD" } else { b },
    ))
}

/// Every commit of `range` (`A..B`) against its parent, then the range's ends against each
/// other; `progress` is called once per commit with how many there are.
pub fn range(
    repo: &Repo,
    range: &str,
    judge: Judge,
    progress: &mut dyn FnMut(usize),
) -> Result<Scanned, AuditError> {
    let (base, tip) = range_ends(range).ok_or_else(|| AuditError::NotARange(range.to_owned()))?;
    crate::git::read_objects_unverified();
    let mut found = Vec::new();
    let mut files = 0;
    let commits = repo.range(range)?;
    let mut replays = Replays::new(repo, base, tip)?;
    for c in &commits {
        progress(commits.len());
        let new = repo.tree_files(&c.id)?;
        let old = match &c.parent {
            Some(p) => repo.tree_files(p)?,
            None => Files::default(),
        };
        let (f, n) = scan_between(repo, (&new, &old), true, judge)?;
        files += n;
        let mut f = f;
        f.extend(replays.in_commit(repo, &c.id)?);
        found.extend(unlocated(f, Some(&c.short)));
    }
    let between = between_ends(repo, (base, tip), judge, &found)?;
    found.extend(between);
    Ok(Scanned {
        found,
        files,
        what: "changed file",
    })
}

/// Old sealed values brought back, commit by commit (`replayed-value`): judged against the
/// history of the range's end, for the environment files its configs declare.
struct Replays<'r> {
    base: &'r str,
    files: Vec<(String, String)>,
    paths: Vec<String>,
    retired: Retired,
    seen: HashSet<(String, String, String)>,
}

impl<'r> Replays<'r> {
    fn new(repo: &Repo, base: &'r str, tip: &str) -> Result<Replays<'r>, AuditError> {
        // The env files the configs declare at both ends (a range may rename one).
        let mut files = Vec::new();
        for end in [tip, base] {
            let state = repo.tree_files(end)?;
            let configs: Vec<String> = state
                .files
                .keys()
                .filter(|p| is_config_path(p))
                .cloned()
                .collect();
            let source = GitSource {
                repo,
                new: &state,
                old: &Files::default(),
            };
            for f in scan::configured_env_files(&configs, &source) {
                if !files.iter().any(|(p, _)| *p == f.0) {
                    files.push(f);
                }
            }
        }
        let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        // Values retired on the branch the range is to be merged into count too: a value
        // copied from there into an older branch is as old there.
        let retired = repo.retired_values_of(&[base, tip], &paths)?;
        Ok(Replays {
            base,
            files,
            paths,
            retired,
            seen: HashSet::new(),
        })
    }

    /// The findings of one commit; a value brought back is reported once, where it came in.
    fn in_commit(&mut self, repo: &Repo, commit: &str) -> Result<Vec<Finding>, AuditError> {
        let mut out = Vec::new();
        for r in repo.replays_in_commit(commit, &self.paths, &self.retired, Some(self.base))? {
            if !self
                .seen
                .insert((r.path.clone(), r.key.clone(), r.value.clone()))
            {
                continue;
            }
            let env = self
                .files
                .iter()
                .find(|(p, _)| *p == r.path)
                .map(|(_, e)| e.as_str());
            out.push(replay_finding(&r, env));
        }
        Ok(out)
    }
}

/// The header findings between a range's ends (its fork point and its tip) that no single
/// commit showed: a key replaced in steps (the header removed in one commit, a new one written
/// in the next) shows only there.
fn between_ends(
    repo: &Repo,
    (base, tip): (&str, &str),
    judge: Judge,
    seen: &[Located],
) -> Result<Vec<Located>, AuditError> {
    let Some(fork) = repo.merge_base(base, tip)? else {
        return Ok(Vec::new());
    };
    let new = repo.tree_files(tip)?;
    let old = repo.tree_files(&fork)?;
    let (found, _) = scan_between(repo, (&new, &old), true, judge)?;
    let ends = format!("{}..{tip}", &fork[..7]);
    Ok(found
        .into_iter()
        .filter(|f| matches!(f.rule, Rule::DataKeyReplaced | Rule::RecipientsChanged))
        .filter(|f| {
            !seen
                .iter()
                .any(|l| l.finding.path == f.path && l.finding.rule == f.rule)
        })
        .map(|finding| Located {
            commit: Some(ends.clone()),
            finding,
        })
        .collect())
}

/// A replayed value as a scan finding.
fn replay_finding(r: &Replay, env: Option<&str>) -> Finding {
    Finding {
        path: r.path.clone(),
        line: r.line,
        column: None,
        rule: Rule::ReplayedValue,
        family: None,
        checksum: false,
        key: Some(r.key.clone()),
        redacted: None,
        message: r.message(),
        fix: r.fix(env),
        fingerprint: scan::fingerprint(&r.path, "replayed-value", &format!("{}=", r.key)),
        warning: false,
    }
}

/// Writes `findings` as the baseline `file` (path from `root`) and returns the path written
/// and the number of entries. The file must not be a symlink, and its folder must resolve
/// inside the repository and outside `.git`: a committed `.envault-baseline` link cannot send
/// the write elsewhere.
pub fn write_baseline(
    root: &Path,
    file: &str,
    findings: &[Finding],
) -> Result<(PathBuf, usize), AuditError> {
    if std::fs::symlink_metadata(root.join(file)).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(AuditError::BaselineLink(file.to_owned()));
    }
    let path = crate::confine::Root::new(root).confine_strictly(Path::new(file))?;
    let text = scan::baseline_text(findings);
    let entries = text.lines().filter(|l| !l.starts_with('#')).count();
    crate::fsutil::write_whole(&path, text.as_bytes(), crate::fsutil::Readers::Anyone)?;
    Ok((path, entries))
}

/// Files of the working tree at `cwd` (of its repository, else of `cwd` itself): every file,
/// or those under `paths` (relative to `cwd`; each must be inside the root).
pub fn worktree(cwd: &Path, paths: &[PathBuf], judge: Judge) -> Result<Scanned, AuditError> {
    let (ids, baseline) = judge;
    let (root, files) = match Repo::discover(cwd) {
        Ok(repo) => (repo.root().to_owned(), repo.worktree_files()?),
        Err(_) => (cwd.to_owned(), walk_files(cwd)),
    };
    let wanted: Vec<String> = paths
        .iter()
        .map(|p| {
            // The folder is resolved, the last part is not: a named symlink is scanned as a
            // link, like any other.
            let abs = crate::confine::absolute_lexical(&cwd.join(p));
            let abs = match (abs.parent(), abs.file_name()) {
                (Some(dir), Some(name)) => dir.canonicalize().map_or(abs.clone(), |d| d.join(name)),
                _ => abs.canonicalize().unwrap_or(abs),
            };
            abs.strip_prefix(&root)
                .map(|r| r.to_string_lossy().into_owned())
                .map_err(|_| AuditError::OutsideRoot {
                    path: p.clone(),
                    root: root.clone(),
                })
        })
        .collect::<Result<_, _>>()?;
    let under = |f: &str| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|w| w.is_empty() || f == w || f.starts_with(&format!("{w}/")))
    };
    let source = WorkTree { root: root.clone() };
    let mut changed = Vec::new();
    for f in files.iter().filter(|f| under(f)) {
        if let Some(new) = source.new_file(f) {
            changed.push(Changed {
                path: f.clone(),
                new,
                old: None,
            });
        }
    }
    let n = changed.len();
    let configs = files
        .iter()
        .filter(|f| is_config_path(f))
        .cloned()
        .collect();
    let found = scan::scan(&Input {
        changed,
        configs,
        source: &source,
        identities: ids,
        whole_files: true,
        check_data_keys: false,
        baseline: baseline.map(str::to_owned),
    })?;
    Ok(Scanned {
        found: unlocated(found, None).collect(),
        files: n,
        what: "file",
    })
}

#[cfg(test)]
mod tests {
    use super::range_ends;

    #[test]
    fn a_range_side_left_out_is_head() {
        assert_eq!(range_ends("main..feature"), Some(("main", "feature")));
        assert_eq!(range_ends("origin/main.."), Some(("origin/main", "HEAD")));
        assert_eq!(range_ends("..feature"), Some(("HEAD", "feature")));
        assert_eq!(range_ends("main...feature"), Some(("main", "feature")));
        assert_eq!(range_ends("main"), None);
    }
}
