//! Writing a rotation and undoing it: the backup of the replaced values is saved in the
//! user's state folder before any file is written, and removed again when the write fails.

use std::path::{Path, PathBuf};

use super::{commit_all, seal_for_writing, Editing, Keys, Result, WorkspaceError};
use crate::dotenv::QuoteWarning;
use crate::glob::GlobSet;
use crate::rotate::{self, Backup, DocPlan, Saved};

/// One environment a rotation writes: opened for editing (its plaintext, when encrypted), and
/// the plan made on it.
pub struct RotationTarget {
    pub editing: Editing,
    pub plan: DocPlan,
}

/// Where rotation backups live: `rotations/` in the user's state folder (a folder in it per
/// project: [`rotate::project_folder`]).
fn rotations_dir() -> Result<PathBuf> {
    crate::env_vars::folders()
        .state
        .as_ref()
        .map(|d| d.join("rotations"))
        .ok_or(WorkspaceError::NoStateFolder)
}

/// The rotations made in the project `root` that can be undone, newest first, and why others
/// were left out (see [`Backup::list`]).
pub fn rotations(root: &crate::confine::Root) -> Result<rotate::Listed> {
    let all = rotations_dir()?;
    Ok(Backup::list(
        &rotate::project_folder(&all, root.dir()),
        Some(&all),
        root,
    )?)
}

/// Saves the backup of what `targets` replace (named by `command`, made in `project`), applies
/// every plan, seals encrypted files again and writes them all together. When the write fails
/// the backup is removed again. Returns the backup's path and the quoting warnings of the
/// values written.
pub fn commit_rotation(
    (command, project): (&str, &Path),
    targets: &mut [RotationTarget],
    keep_previous: bool,
    plaintext_keys: &GlobSet,
) -> Result<(PathBuf, Vec<QuoteWarning>)> {
    // Version 3: files recorded with links resolved, and which were encrypted.
    let mut backup = Backup {
        version: 3,
        command: command.to_owned(),
        project: Some(project.to_owned()),
        encrypted: Vec::new(),
        changes: Vec::new(),
    };
    for t in targets.iter() {
        let path = t.editing.loaded.path();
        // The file itself, symlinks resolved: what an undo checks and writes later.
        let file = crate::confine::resolve(path).unwrap_or_else(|_| path.to_owned());
        backup.record(&file, &t.editing.loaded.doc, &t.plan, keep_previous);
        if t.editing.sealing.is_some() {
            backup.encrypted.push(file);
        }
    }
    let path = backup.save(&rotate::project_folder(&rotations_dir()?, project))?;
    let written = apply_and_write(targets, keep_previous, plaintext_keys);
    if written.is_err() {
        Backup::discard(&path);
    }
    Ok((path, written?))
}

fn apply_and_write(
    targets: &mut [RotationTarget],
    keep_previous: bool,
    plaintext_keys: &GlobSet,
) -> Result<Vec<QuoteWarning>> {
    let mut warnings = Vec::new();
    for t in targets.iter_mut() {
        let l = &mut t.editing.loaded;
        warnings.extend(rotate::apply(&mut l.doc, &t.plan, keep_previous)?);
        seal_for_writing(t.editing.sealing.as_ref(), plaintext_keys, l)?;
    }
    commit_all(targets.iter().map(|t| &t.editing.loaded))?;
    Ok(warnings)
}

/// What an undo restored.
pub struct Undone {
    /// The command the undone rotation ran (`rotate DB_PASSWORD`).
    pub command: String,
    /// How many values were put back.
    pub values: usize,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl Keys<'_> {
    /// Restores the values of the newest rotation made in the project `root` in every file it
    /// changed (sealed again when encrypted), all together, and marks the backup undone.
    /// Unless `force`, refuses when a value is no longer the one the rotation wrote. `label`
    /// names a file in errors. Returns what was restored and the warnings about backups left
    /// out.
    pub fn undo_rotation(
        &self,
        root: &crate::confine::Root,
        force: bool,
        label: &dyn Fn(&Path) -> String,
    ) -> Result<(Undone, Vec<String>)> {
        let listed = rotations(root)?;
        let Saved { path, backup, .. } = listed
            .backups
            .into_iter()
            .next()
            .ok_or_else(|| rotate::BackupError::Nothing(root.dir().to_owned()))?;
        let skipped = listed.skipped;
        let mut loaded = Vec::new();
        for file in backup.files() {
            // Checked again as it is opened: the path must still resolve inside the project.
            let real = root
                .confine(&file)
                .map_err(|e| crate::source::LoadError::from(crate::git::GitError::from(e)))?;
            // Backups record files with links resolved: one that resolves elsewhere now was
            // replaced by a link (to another env file, say) since the rotation.
            if backup.version >= 3 && real != file {
                return Err(rotate::BackupError::Moved { file, now: real }.into());
            }
            let mut l = crate::source::load_path(&real, file.display().to_string(), false)?;
            let sealing = self.open_file_for_writing(&mut l)?;
            if sealing.is_none() && backup.encrypted.contains(&file) {
                return Err(rotate::BackupError::NoLongerEncrypted(file).into());
            }
            backup.undo_in((&file, &label(&file)), &mut l.doc, force)?;
            if let Some((s, clear)) = &sealing {
                seal_for_writing(Some(s), clear, &mut l)?;
            }
            loaded.push(l);
        }
        commit_all(loaded.iter())?;
        Backup::mark_undone(&path)?;
        let undone = Undone {
            command: backup.command,
            values: backup.changes.len(),
            files: loaded.iter().map(|l| l.path().to_owned()).collect(),
        };
        Ok((undone, skipped))
    }
}
