//! Rotation backups: the values a rotation replaced, kept in the user's state folder so that
//! `envault rotate --undo` can put them back, and the undo itself (with its check that
//! nothing changed since).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DocPlan;
use crate::dotenv::{Document, Edit, EditError};
use crate::fsutil::{self, FsError, Snapshot};

/// The replaced values of one rotation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backup {
    pub version: u32,
    /// The command that rotated, as the user typed it after `envault`.
    pub command: String,
    pub changes: Vec<BackupChange>,
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
    #[error("no rotation to undo (looked in {})", .0.display())]
    Nothing(PathBuf),
    #[error("{file}: {key} changed after the rotation; undoing would overwrite that change")]
    ChangedSince { file: String, key: String },
    #[error(transparent)]
    Edit(#[from] EditError),
}

impl crate::error::Hint for BackupError {
    fn hint(&self) -> Option<String> {
        match self {
            BackupError::Nothing(_) => {
                Some("backups are written by `envault rotate` and `envault rotate-all`".to_owned())
            }
            BackupError::ChangedSince { .. } => {
                Some("pass --force to restore the old values anyway".to_owned())
            }
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
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = dir.join(format!("{stamp}.json"));
        let body = serde_json::to_vec_pretty(self).expect("a backup serialises");
        fsutil::write_atomic(&Snapshot::new(&path, None), &body)?;
        Ok(path)
    }

    /// The newest backup in `dir` not undone yet, with its path.
    pub fn newest(dir: &Path) -> Result<(PathBuf, Backup), BackupError> {
        let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        backups.sort();
        let path = backups
            .pop()
            .ok_or_else(|| BackupError::Nothing(dir.to_owned()))?;
        let unreadable = |why: String| BackupError::Unreadable {
            what: "read",
            path: path.clone(),
            why,
        };
        let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
        let backup = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
        Ok((path, backup))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(old: Option<&str>) -> Backup {
        Backup {
            version: 1,
            command: "rotate API_TOKEN".into(),
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
        assert!(matches!(
            Backup::newest(&store),
            Err(BackupError::Nothing(_))
        ));
        let first = backup(Some("a")).save(&store).unwrap();
        let second = backup(Some("b")).save(&store).unwrap();
        assert_ne!(first, second);
        let (path, b) = Backup::newest(&store).unwrap();
        assert_eq!(path, second);
        assert_eq!(b.changes[0].old.as_deref(), Some("b"));
        Backup::mark_undone(&path).unwrap();
        assert_eq!(Backup::newest(&store).unwrap().0, first);
    }
}
