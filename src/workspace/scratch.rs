//! A scratch copy of a decrypted file for an editor: in a private (0700) folder of its own in
//! the temporary folder, never inside a git work tree, and removed with everything an editor
//! left beside it (swap files, backups) when the [`Scratch`] is dropped.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Result, WorkspaceError};
use crate::fsutil::FsError;

const PREFIX: &str = "envault-edit-";

/// A scratch folder holding one file.
pub struct Scratch {
    /// Removes the folder when dropped.
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + 'p {
    move |source| {
        WorkspaceError::Fs(FsError::Io {
            op,
            path: path.to_owned(),
            source,
        })
    }
}

impl Scratch {
    /// Writes `contents` to a new private (0600) file `name` in a new scratch folder. Refuses
    /// when the temporary folder lies inside a git work tree (the plaintext would be one
    /// `git add` away from a commit). Scratch folders of earlier runs that could not remove
    /// theirs are removed first (see [`remove_stale`]).
    pub fn create(name: &str, contents: &str) -> Result<Scratch> {
        let tmp = std::env::temp_dir();
        if let Some(root) = crate::git::committable_in(&tmp.join("envault-edit-probe")) {
            return Err(WorkspaceError::ScratchInWorkTree { tmp, root });
        }
        remove_stale(&tmp);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(io("create a folder in", &tmp))?;
        let file = dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(io("create", &file))?;
        f.write_all(contents.as_bytes())
            .map_err(io("write", &file))?;
        Ok(Scratch { _dir: dir, file })
    }

    /// The scratch file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// What the scratch file holds now.
    pub fn read(&self) -> Result<zeroize::Zeroizing<String>> {
        std::fs::read_to_string(&self.file)
            .map(zeroize::Zeroizing::new)
            .map_err(io("read", &self.file))
    }
}

/// Scratch folders an earlier run could not remove (the machine lost power, or envault was
/// killed with SIGKILL): this user's folders untouched for a day are removed, plaintext and
/// all.
fn remove_stale(tmp: &Path) {
    let me = rustix::process::geteuid().as_raw();
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600));
        if meta.is_dir() && meta.uid() == me && old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
