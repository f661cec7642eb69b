//! Rotation backups: the values a rotation replaced, kept in the user's state folder so that
//! `envault rotate --undo` can put them back, and the undo itself (with its check that
//! nothing changed since).
//!
//! Each project (a git repository, or the folder of a config outside any) has a folder of its
//! own under `rotations/`, named by a hash of the project's path: an undo in one project never
//! sees another's rotations. Files are 0600 in a 0700 folder, and backups older than
//! [`KEEP_DAYS`] days are removed whenever a rotation saves a new one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DocPlan;
use crate::dotenv::{Document, Edit, EditError};
use crate::fsutil::{self, FsError, Snapshot};

/// How long a backup is kept: removed when a rotation older than this many days is found as a
/// new one is saved (a rotation's undo is meant for the minutes after it, not for months).
pub const KEEP_DAYS: u64 = 30;

/// The replaced values of one rotation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backup {
    pub version: u32,
    /// The command that rotated, as the user typed it after `envault`.
    pub command: String,
    /// The project the rotation was made in (absent in backups of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<PathBuf>,
    /// The files that were encrypted when rotated: an undo never writes their old values in
    /// clear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encrypted: Vec<PathBuf>,
    pub changes: Vec<BackupChange>,
}

/// A backup found on disk: where, when (seconds since the epoch, from its name), and what.
pub struct Saved {
    pub path: PathBuf,
    pub saved_at: u64,
    pub backup: Backup,
}

/// What [`Backup::list`] found: the backups an undo may use, newest first, and a warning for
/// each one left out.
#[derive(Default)]
pub struct Listed {
    pub backups: Vec<Saved>,
    pub skipped: Vec<String>,
}

/// `Err(why)` unless `path` is the user's own and no one else may write it (not a symlink).
fn private(path: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("it is a symlink".to_owned());
    }
    fsutil::only_owner_writes(&meta, false)
}

/// The folder under `rotations` holding the backups of `project`: its last component (for a
/// reader of the folder) and a hash of its whole path (so two projects never share one).
pub fn project_folder(rotations: &Path, project: &Path) -> PathBuf {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(project.as_os_str().as_encoded_bytes());
    let name: String = project
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    rotations.join(format!(
        "{}-{}",
        name.trim_start_matches('.'),
        &hex::encode(hash)[..16]
    ))
}

/// When the backup at `path` was saved: its name is the time in nanoseconds.
fn saved_at(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    stem.parse::<u128>()
        .ok()
        .map(|ns| (ns / 1_000_000_000) as u64)
}

/// The time since the epoch (zero on a clock set before it).
fn now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

fn now_secs() -> u64 {
    now().as_secs()
}

/// One value a rotation wrote.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupChange {
    pub file: PathBuf,
    pub key: String,
    /// `None`: the rotation added the key.
    pub old: Option<String>,
    pub new: String,
}

/// Why a backup cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("cannot {what} {}: {why}", .path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("no rotation to undo in {}", .0.display())]
    Nothing(PathBuf),
    #[error("rotation backups in {} are not private: {why}", .path.display())]
    NotPrivate { path: PathBuf, why: String },
    #[error("{} is not the file the rotation wrote any more: it now leads to {}", .file.display(), .now.display())]
    Moved { file: PathBuf, now: PathBuf },
    #[error("{} was encrypted when it was rotated and is not now: undoing would write its old secret values in clear", .0.display())]
    NoLongerEncrypted(PathBuf),
    #[error("{file}: {key} changed after the rotation; undoing would overwrite that change")]
    ChangedSince { file: String, key: String },
    #[error(transparent)]
    Edit(#[from] EditError),
}

impl crate::error::Hint for BackupError {
    fn hint(&self) -> Option<String> {
        match self {
            BackupError::Nothing(_) => Some(format!(
                "an undo restores a rotation made in this project (its git repository, or its \
                 config's folder) by `envault rotate` or `envault rotate-all` in the last {KEEP_DAYS} days"
            )),
            BackupError::ChangedSince { .. } => {
                Some("pass --force to restore the old values anyway".to_owned())
            }
            BackupError::NotPrivate { path, .. } => Some(format!(
                "backups hold old secret values and say which files an undo writes: only you may \
                 own and write them (chown to yourself, then chmod 700 {})",
                path.display()
            )),
            BackupError::Moved { .. } => Some(
                "put the file back where it was (not a link to another file); --force does not override this"
                    .to_owned(),
            ),
            BackupError::NoLongerEncrypted(_) => Some(
                "encrypt it again first (`envault encrypt <env>`), then undo; --force does not override this"
                    .to_owned(),
            ),
            BackupError::Fs(e) => e.hint(),
            _ => None,
        }
    }
}

impl Backup {
    /// What `plan` does to the document of `file`: every rotated and embedded value, and with
    /// `keep_previous` the `<KEY>_PREVIOUS` entries it writes.
    pub fn record(&mut self, file: &Path, doc: &Document, plan: &DocPlan, keep_previous: bool) {
        for c in plan.rotated.iter().chain(&plan.also) {
            self.changes.push(BackupChange {
                file: file.to_owned(),
                key: c.key.clone(),
                old: c.old.clone(),
                new: c.new.clone(),
            });
        }
        if keep_previous {
            for c in &plan.rotated {
                if let Some(old) = &c.old {
                    let key = format!("{}_PREVIOUS", c.key);
                    self.changes.push(BackupChange {
                        file: file.to_owned(),
                        old: doc.get(&key).map(str::to_owned),
                        key,
                        new: old.clone(),
                    });
                }
            }
        }
    }

    /// Saves the backup in `dir` (made private, 0700), named by the time; returns its path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, BackupError> {
        fsutil::create_private_dir(dir)?;
        // Never add old secrets to a folder others may write (or that is not the user's).
        private(dir).map_err(|why| BackupError::NotPrivate {
            path: dir.to_owned(),
            why,
        })?;
        let stamp = now().as_nanos();
        let path = dir.join(format!("{stamp}.json"));
        let body = serde_json::to_vec_pretty(self).expect("a backup serialises");
        fsutil::write_atomic(&Snapshot::new(&path, None), &body)?;
        let cutoff = now_secs().saturating_sub(KEEP_DAYS * 24 * 3600);
        prune(dir, cutoff);
        // Earlier versions kept every project's backups in the folder above.
        if let Some(parent) = dir.parent() {
            prune(parent, cutoff);
        }
        Ok(path)
    }

    /// The backups of the project `root` in `dir` that an undo may use, newest first, and why
    /// others were left out. With `legacy` (the `rotations` folder itself, where earlier
    /// versions saved every project's backups), its backups whose files all lie inside the
    /// project count too. A backup is left out when it cannot be read, is not private, was made
    /// for another project, names a file that resolves outside `root` (the project and the
    /// folders the user allowed), or is dated in the future. A folder that others may write is
    /// an error: nothing in it can be trusted.
    pub fn list(
        dir: &Path,
        legacy: Option<&Path>,
        root: &crate::confine::Root,
    ) -> Result<Listed, BackupError> {
        let mut listed = Listed::default();
        for (folder, is_legacy) in [(Some(dir), false), (legacy, true)] {
            let Some(folder) = folder else { continue };
            let Ok(entries) = std::fs::read_dir(folder) else {
                continue;
            };
            private(folder).map_err(|why| BackupError::NotPrivate {
                path: folder.to_owned(),
                why,
            })?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            paths.sort();
            for path in paths {
                match Saved::usable(path, root, is_legacy) {
                    Ok(Some(saved)) => listed.backups.push(saved),
                    Ok(None) => {}
                    Err(why) => listed.skipped.push(why),
                }
            }
        }
        listed
            .backups
            .sort_by(|a, b| (b.saved_at, &b.path).cmp(&(a.saved_at, &a.path)));
        Ok(listed)
    }

    /// The files the backup changed, each once.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.changes.iter().map(|c| c.file.clone()).collect();
        files.sort();
        files.dedup();
        files
    }

    /// Puts the old values of `file` (named `label` in messages) back into `doc` (a key the
    /// rotation added is removed). Unless `force`, refuses when a value is no longer the one
    /// the rotation wrote.
    pub fn undo_in(
        &self,
        (file, label): (&Path, &str),
        doc: &mut Document,
        force: bool,
    ) -> Result<(), BackupError> {
        let mut edits = Vec::new();
        for ch in self.changes.iter().filter(|c| c.file == file) {
            if doc.get(&ch.key) != Some(ch.new.as_str()) && !force {
                return Err(BackupError::ChangedSince {
                    file: label.to_owned(),
                    key: ch.key.clone(),
                });
            }
            edits.push(match &ch.old {
                Some(old) => Edit::Set {
                    key: &ch.key,
                    value: old,
                },
                None => Edit::Remove { key: &ch.key },
            });
        }
        doc.edit(&edits)?;
        Ok(())
    }

    /// Removes the backup at `path` (its rotation was never written: there is nothing to
    /// undo). Best effort: a backup left behind only offers an undo that changes nothing.
    pub fn discard(path: &Path) {
        let _ = std::fs::remove_file(path);
        // The project's folder goes too when this was its only backup (fails when it is not).
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Marks the backup at `path` undone (it is kept, as `.undone`).
    pub fn mark_undone(path: &Path) -> Result<(), BackupError> {
        std::fs::rename(path, path.with_extension("undone")).map_err(|e| BackupError::Unreadable {
            what: "rename",
            path: path.to_owned(),
            why: e.to_string(),
        })
    }
}

impl Saved {
    /// How long ago it was saved, in seconds.
    pub fn age_secs(&self) -> u64 {
        now_secs().saturating_sub(self.saved_at)
    }

    /// The backup at `path` when an undo in the project `root` may use it, `None` when it is
    /// another project's (a legacy one: see [`Backup::list`]), `Err(warning)` when it is left
    /// out for a reason the user should hear.
    fn usable(
        path: PathBuf,
        root: &crate::confine::Root,
        is_legacy: bool,
    ) -> Result<Option<Saved>, String> {
        let shown = path.display().to_string();
        // Only regular files are read (a FIFO would block the read forever).
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if !regular && !path.is_symlink() {
            return Err(format!("{shown}: not a regular file; left alone"));
        }
        let saved = private(&path)
            .and_then(|()| Saved::read(path).map_err(|e| e.to_string()))
            .map_err(|why| format!("{shown}: {why}; left alone"))?;
        let b = &saved.backup;
        match (&b.project, is_legacy) {
            (Some(p), false) if p == root.dir() => {}
            (None, true) => {}
            (_, true) => return Ok(None),
            _ => return Err(format!("{shown}: made for another project; left alone")),
        }
        // Every file must resolve inside the project now, symlinks followed, as every other
        // command requires: a backup names the files an undo writes.
        if let Some(c) = b.changes.iter().find(|c| root.confine(&c.file).is_err()) {
            return if is_legacy {
                Ok(None)
            } else {
                Err(format!(
                    "{shown}: {} resolves outside this project; left alone",
                    c.file.display()
                ))
            };
        }
        if b.changes.is_empty() {
            return Ok(None);
        }
        if saved.saved_at > now_secs() + 60 {
            return Err(format!("{shown}: dated in the future; left alone"));
        }
        Ok(Some(saved))
    }

    fn read(path: PathBuf) -> Result<Saved, BackupError> {
        let unreadable = |why: String| BackupError::Unreadable {
            what: "read",
            path: path.clone(),
            why,
        };
        let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
        let backup = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
        Ok(Saved {
            saved_at: saved_at(&path).unwrap_or_default(),
            path,
            backup,
        })
    }
}

/// Removes the backups in `dir` (undone or not) saved before `cutoff` (seconds since the
/// epoch). Best effort: a backup left behind is removed by a later rotation.
fn prune(dir: &Path, cutoff: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let ours = path
            .extension()
            .is_some_and(|x| x == "json" || x == "undone");
        if ours && saved_at(&path).is_some_and(|t| t < cutoff) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(old: Option<&str>) -> Backup {
        Backup {
            version: 2,
            command: "rotate API_TOKEN".into(),
            project: Some("/p".into()),
            encrypted: Vec::new(),
            changes: vec![BackupChange {
                file: "/p/.env".into(),
                key: "API_TOKEN".into(),
                old: old.map(str::to_owned),
                new: "new".into(),
            }],
        }
    }

    #[test]
    fn undo_restores_removes_and_refuses_a_later_change() {
        let file = Path::new("/p/.env");
        let mut doc = Document::parse("A=1\nAPI_TOKEN=new\n").unwrap();
        backup(Some("old"))
            .undo_in((file, ".env"), &mut doc, false)
            .unwrap();
        assert_eq!(doc.render(), "A=1\nAPI_TOKEN=old\n");

        let mut doc = Document::parse("A=1\nAPI_TOKEN=new\n").unwrap();
        backup(None)
            .undo_in((file, ".env"), &mut doc, false)
            .unwrap();
        assert_eq!(doc.render(), "A=1\n");

        let mut doc = Document::parse("API_TOKEN=edited\n").unwrap();
        let e = backup(Some("old"))
            .undo_in((file, ".env"), &mut doc, false)
            .unwrap_err();
        assert!(matches!(e, BackupError::ChangedSince { .. }), "{e}");
        assert_eq!(doc.render(), "API_TOKEN=edited\n");
        backup(Some("old"))
            .undo_in((file, ".env"), &mut doc, true)
            .unwrap();
        assert_eq!(doc.render(), "API_TOKEN=old\n");
    }

    #[test]
    fn the_newest_backup_is_found_and_marked_undone() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("rotations");
        let root = crate::confine::Root::lexical(Path::new("/p"));
        let newest = |root: &crate::confine::Root| Backup::list(&store, None, root).unwrap();
        assert!(newest(&root).backups.is_empty());
        let first = backup(Some("a")).save(&store).unwrap();
        let second = backup(Some("b")).save(&store).unwrap();
        assert_ne!(first, second);
        let listed = newest(&root);
        assert!(listed.skipped.is_empty(), "{:?}", listed.skipped);
        assert_eq!(listed.backups[0].path, second);
        assert_eq!(
            listed.backups[0].backup.changes[0].old.as_deref(),
            Some("b")
        );
        Backup::mark_undone(&second).unwrap();
        let listed = newest(&root);
        assert_eq!(listed.backups.len(), 1);
        assert_eq!(listed.backups[0].path, first);
        // Another project's root finds nothing usable here, and says why.
        let other = crate::confine::Root::lexical(Path::new("/q"));
        let listed = newest(&other);
        assert!(listed.backups.is_empty());
        assert!(
            listed.skipped[0].contains("made for another project"),
            "{:?}",
            listed.skipped
        );
    }

    #[test]
    fn each_project_has_a_folder_of_its_own() {
        let r = Path::new("/state/rotations");
        let a = project_folder(r, Path::new("/work/app"));
        let b = project_folder(r, Path::new("/other/app"));
        assert_ne!(a, b, "same last name, other paths");
        assert!(a.starts_with(r));
        assert!(a.file_name().unwrap().to_str().unwrap().starts_with("app-"));
        // A name that is not a plain word cannot climb out of the folder.
        let odd = project_folder(r, Path::new("/x/../.."));
        assert_eq!(odd.parent(), Some(r));
        assert_eq!(project_folder(r, Path::new("/work/app")), a, "stable");
    }

    #[test]
    fn earlier_flat_backups_count_only_for_the_project_holding_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let rotations = dir.path().join("rotations");
        let mut old = backup(Some("a"));
        old.project = None;
        old.save(&rotations).unwrap();
        let mut climbing = backup(Some("a"));
        climbing.project = None;
        climbing.changes[0].file = "/p/../q/.env".into();
        climbing.save(&rotations).unwrap();
        let found = |project: &str| {
            let root = crate::confine::Root::lexical(Path::new(project));
            let folder = project_folder(&rotations, Path::new(project));
            Backup::list(&folder, Some(&rotations), &root)
                .unwrap()
                .backups
                .len()
        };
        assert_eq!(found("/p"), 1, "`/p/../q` is not inside /p");
        assert_eq!(found("/q"), 1);
        assert_eq!(found("/r"), 0);
    }

    #[test]
    fn old_backups_are_pruned_when_a_new_one_is_saved() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("rotations");
        std::fs::create_dir_all(&store).unwrap();
        let day = 24 * 3600 * 1_000_000_000u128;
        let now = u128::from(now_secs()) * 1_000_000_000;
        let stale = now - (u128::from(KEEP_DAYS) + 1) * day;
        let recent = now - day;
        for (stamp, ext) in [(stale, "json"), (stale, "undone"), (recent, "json")] {
            std::fs::write(store.join(format!("{stamp}.{ext}")), "{}").unwrap();
        }
        let saved = backup(Some("a")).save(&store).unwrap();
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut left: Vec<String> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.contains(&format!("{recent}.json")));
    }
}
