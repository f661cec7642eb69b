//! Reading files with a snapshot, and writing them atomically without losing anything: temp
//! file beside the target, fsync, keep mode and owner, refuse if the file changed since it was
//! read, rename, fsync the folder. Symlinked files are written through to their target.
//!
//! Concurrent envault processes take turns: the first read (or write) of a file takes an
//! advisory lock (flock) on the folder that really holds it and keeps it until the process
//! ends, so a read-modify-write is never interleaved with another's. A folder lock rather than
//! a lock file beside each target leaves nothing behind in the work tree, and the files of one
//! folder (.env.dev, .env.prod) are one lock, so two commands cannot take them in opposite
//! orders. Commands that only read take shared locks.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An I/O failure, naming the file and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("cannot {op} {}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} changed on disk since envault read it; nothing was written", .path.display())]
    Changed { path: PathBuf },
    #[error("another envault process has held the lock on {} for {} s; nothing was written", .path.display(), LOCK_TIMEOUT.as_secs())]
    Locked { path: PathBuf },
}

impl crate::error::Hint for FsError {
    fn hint(&self) -> Option<String> {
        match self {
            FsError::Changed { .. } => {
                Some("run the command again to work on the current contents".to_owned())
            }
            FsError::Locked { .. } => Some(
                "wait for the other envault command (an `envault edit` session, a long store pull) to finish, then run this one again".to_owned(),
            ),
            FsError::Io { .. } => None,
        }
    }
}

/// Creates `dir` and its missing parents, new folders private to the user (0700): where the
/// user's keys, records and backups live.
/// `Err(why)` unless `meta` belongs to this user (or, with `root_too`, to root) and no other
/// user may write it: the test for files and folders envault trusts what they say.
pub fn only_owner_writes(meta: &fs::Metadata, root_too: bool) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && !(root_too && meta.uid() == 0) {
        return Err(format!("it is owned by another user (uid {})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "other users may write it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

pub fn create_private_dir(dir: &Path) -> Result<(), FsError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create", dir))
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// What a file held when it was read, to write back against: its length and a digest of
/// its contents, or "absent". Holding a digest rather than the bytes leaves the contents to be
/// moved into whatever parses them.
#[derive(Clone, Debug)]
pub struct Snapshot {
    path: PathBuf,
    digest: Option<Digest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digest {
    len: usize,
    hash: u64,
}

impl Digest {
    fn of(bytes: &[u8]) -> Digest {
        use std::hash::BuildHasher;
        // A fixed-seed, well-mixed 64-bit hash: it only has to tell "changed since read"
        // within one process.
        Digest {
            len: bytes.len(),
            hash: foldhash::quality::FixedState::with_seed(0x656e_7661_756c_7431).hash_one(bytes),
        }
    }
}

impl Snapshot {
    /// A snapshot of `path` holding `bytes` (`None`: the file does not exist).
    pub fn new(path: &Path, bytes: Option<&[u8]>) -> Snapshot {
        Snapshot {
            path: path.to_owned(),
            digest: bytes.map(Digest::of),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.digest.is_some()
    }
}

/// How long a process waits for another's lock before it gives up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether this process takes its folder locks shared (it only reads) or exclusive (it may
/// write what it reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

static MODE: Mutex<LockMode> = Mutex::new(LockMode::Exclusive);
/// The folder locks this process holds, with their mode.
static HELD: Mutex<Vec<(PathBuf, LockMode, fs::File)>> = Mutex::new(Vec::new());
/// Called once when a lock has been waited for a second (the CLI says so on stderr).
static ON_WAIT: OnceLock<fn(&Path)> = OnceLock::new();

/// Sets the mode of the locks this process takes from now on (exclusive by default).
pub fn set_lock_mode(mode: LockMode) {
    *MODE.lock().unwrap_or_else(|e| e.into_inner()) = mode;
}

/// Registers what to do when a lock has been waited for a second.
pub fn on_lock_wait(notice: fn(&Path)) {
    let _ = ON_WAIT.set(notice);
}

/// Gives up every lock this process holds (before waiting on a person, as `edit` does: the
/// changed-since-read check still guards its write).
pub fn release_locks() {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Takes, once per process, the lock of the folder that really holds `path` in `mode` (a
/// shared lock held already is upgraded for a write). A folder that does not exist yet holds
/// nothing to protect. File systems without locks are used without them.
fn lock_folder_of(path: &Path, mode: LockMode) -> Result<(), FsError> {
    use rustix::fs::{flock, FlockOperation};
    let target = resolve(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Ok(dir) = fs::canonicalize(&dir) else {
        return Ok(());
    };
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    let existing = held.iter().position(|(d, _, _)| *d == dir);
    if let Some(i) = existing {
        if held[i].1 == LockMode::Exclusive || mode == LockMode::Shared {
            return Ok(());
        }
    }
    let file = match existing {
        Some(i) => held.remove(i).2,
        None => fs::File::open(&dir).map_err(io_err("open the folder", &dir))?,
    };
    let op = match mode {
        LockMode::Shared => FlockOperation::NonBlockingLockShared,
        LockMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    let start = Instant::now();
    let mut told = false;
    loop {
        match flock(&file, op) {
            Ok(()) => break,
            Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                let waited = start.elapsed();
                if waited >= LOCK_TIMEOUT {
                    return Err(FsError::Locked { path: dir });
                }
                if !told && waited >= Duration::from_secs(1) {
                    told = true;
                    if let Some(notice) = ON_WAIT.get() {
                        notice(&dir);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // No locks on this file system (some network mounts): the changed-since-read
            // check still refuses to overwrite another's write.
            Err(_) => return Ok(()),
        }
    }
    held.push((dir, mode, file));
    Ok(())
}

/// Reads `path`: its snapshot and contents; a missing file is "absent", any other failure an
/// error. Takes the lock of its folder first (see the module's documentation).
pub fn read(path: &Path) -> Result<(Snapshot, Option<Vec<u8>>), FsError> {
    let mode = *MODE.lock().unwrap_or_else(|e| e.into_inner());
    lock_folder_of(path, mode)?;
    let bytes = read_optional(path)?;
    Ok((Snapshot::new(path, bytes.as_deref()), bytes))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// Follows symlinks (also dangling ones) to the path that really holds the contents.
fn resolve(path: &Path) -> Result<PathBuf, FsError> {
    let mut p = path.to_owned();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&p).map_err(io_err("read the link", &p))?;
                p = match p.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io_err("resolve", path)(io::Error::other(
        "too many levels of symbolic links",
    )))
}

/// Replaces the file read as `snap` with `contents`, atomically. A new file gets mode 0600;
/// an existing one keeps its mode and owner. Fails, writing nothing, when the file no longer
/// holds what `snap` saw.
pub fn write_atomic(snap: &Snapshot, contents: &[u8]) -> Result<(), FsError> {
    write_all_atomic(&[FileWrite {
        snapshot: snap,
        contents,
        new_mode: 0o600,
    }])
}

/// [`write_atomic`] with the mode a new file gets (`0o644` for files that hold no secret).
pub fn write_atomic_mode(snap: &Snapshot, contents: &[u8], new_mode: u32) -> Result<(), FsError> {
    write_all_atomic(&[FileWrite {
        snapshot: snap,
        contents,
        new_mode,
    }])
}

/// [`write_atomic`] for contents that must be private whatever the file's mode was (secrets
/// written in clear): the file ends up 0600, with no moment at another mode.
pub fn write_atomic_private(snap: &Snapshot, contents: &[u8]) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    let w = FileWrite {
        snapshot: snap,
        contents,
        new_mode: 0o600,
    };
    let st = stage(&w)?;
    fs::set_permissions(st.tmp.path(), fs::Permissions::from_mode(0o600))
        .map_err(io_err("set permissions on a temporary file in", &st.dir))?;
    let mut done = Vec::new();
    replace(snap, st, &mut done)
}

/// Who may read a file envault writes whole on request (a report, a man page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Only the user: 0600 whatever mode the file had (it holds secret values).
    Owner,
    /// Anyone the folder lets: a new file gets 0644, an existing one keeps its mode.
    Anyone,
}

/// Writes the whole file at `path` (created, or replaced atomically as [`write_atomic`] does).
pub fn write_whole(path: &Path, contents: &[u8], readers: Readers) -> Result<(), FsError> {
    let (snap, _) = read(path)?;
    match readers {
        Readers::Owner => write_atomic_private(&snap, contents),
        Readers::Anyone => write_atomic_mode(&snap, contents, 0o644),
    }
}

/// Writes `files` (name, contents) into `dir`, created if missing, all or nothing; new files
/// get 0644.
pub fn write_files_in(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), FsError> {
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let mut snaps = Vec::new();
    for (name, _) in files {
        snaps.push(read(&dir.join(name))?.0);
    }
    let writes: Vec<FileWrite> = snaps
        .iter()
        .zip(files)
        .map(|(snapshot, (_, contents))| FileWrite {
            snapshot,
            contents,
            new_mode: 0o644,
        })
        .collect();
    write_all_atomic(&writes)
}

/// One file of a group write.
pub struct FileWrite<'a> {
    pub snapshot: &'a Snapshot,
    pub contents: &'a [u8],
    /// The mode the file gets if it does not exist yet.
    pub new_mode: u32,
}

/// A staged replacement: the new contents in a temporary file beside the target.
struct Staged {
    target: PathBuf,
    dir: PathBuf,
    tmp: tempfile::NamedTempFile,
}

/// Replaces several files all or nothing. Every new content is first written and flushed to a
/// temporary file beside its target; only then are they renamed into place, one by one, each
/// right after checking that its file still holds what was read. If any step fails, the files
/// already replaced get their originals back (kept as hard links until the end) and the error
/// names the file.
pub fn write_all_atomic(writes: &[FileWrite]) -> Result<(), FsError> {
    let staged = writes.iter().map(stage).collect::<Result<Vec<_>, _>>()?;
    let mut done: Vec<(PathBuf, Option<tempfile::TempPath>)> = Vec::new();
    for (w, st) in writes.iter().zip(staged) {
        if let Err(e) = replace(w.snapshot, st, &mut done) {
            rollback(done);
            return Err(e);
        }
    }
    // Success: the originals' extra names go away with `done`.
    Ok(())
}

fn stage(w: &FileWrite) -> Result<Staged, FsError> {
    use std::os::unix::fs::PermissionsExt;
    lock_folder_of(&w.snapshot.path, LockMode::Exclusive)?;
    let target = resolve(&w.snapshot.path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".envault-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_err("create a temporary file in", &dir))?;
    tmp.write_all(w.contents)
        .map_err(io_err("write a temporary file in", &dir))?;
    match fs::metadata(&target) {
        Ok(meta) => {
            fs::set_permissions(tmp.path(), meta.permissions())
                .map_err(io_err("set permissions on a temporary file in", &dir))?;
            let tmp_meta = tmp
                .as_file()
                .metadata()
                .map_err(io_err("inspect a temporary file in", &dir))?;
            if (tmp_meta.uid(), tmp_meta.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::chown(tmp.path(), Some(meta.uid()), Some(meta.gid()))
                    .map_err(io_err("keep the owner of", &target))?;
            }
        }
        Err(_) => fs::set_permissions(tmp.path(), fs::Permissions::from_mode(w.new_mode))
            .map_err(io_err("set permissions on a temporary file in", &dir))?,
    }
    tmp.as_file()
        .sync_all()
        .map_err(io_err("flush a temporary file in", &dir))?;
    Ok(Staged { target, dir, tmp })
}

/// Checks one target against its snapshot, keeps its original under a second name, and renames
/// the staged file over it. Records what it replaced in `done`.
fn replace(
    snap: &Snapshot,
    st: Staged,
    done: &mut Vec<(PathBuf, Option<tempfile::TempPath>)>,
) -> Result<(), FsError> {
    if read_optional(&st.target)?.as_deref().map(Digest::of) != snap.digest {
        return Err(FsError::Changed {
            path: snap.path.clone(),
        });
    }
    let original = if snap.exists() {
        let keep = tempfile::Builder::new()
            .prefix(".envault-")
            .suffix(".orig")
            .tempfile_in(&st.dir)
            .map_err(io_err("create a temporary file in", &st.dir))?
            .into_temp_path();
        fs::remove_file(&keep).map_err(io_err("prepare a backup in", &st.dir))?;
        fs::hard_link(&st.target, &keep).map_err(io_err("keep the original of", &st.target))?;
        Some(keep)
    } else {
        None
    };
    st.tmp
        .persist(&st.target)
        .map_err(|e| io_err("replace", &st.target)(e.error))?;
    // Make the rename itself durable.
    if let Ok(d) = fs::File::open(&st.dir) {
        let _ = d.sync_all();
    }
    done.push((st.target, original));
    Ok(())
}

/// Puts back the originals of files already replaced (newest first).
fn rollback(done: Vec<(PathBuf, Option<tempfile::TempPath>)>) {
    for (target, original) in done.into_iter().rev() {
        match original {
            Some(keep) => {
                // `persist` renames the original back over the target.
                let _ = keep.persist(&target);
            }
            None => {
                let _ = fs::remove_file(&target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn writes_new_files_private_and_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join(".env.new");
        write_atomic(&read(&new).unwrap().0, b"A=1\n").unwrap();
        assert_eq!(fs::read(&new).unwrap(), b"A=1\n");
        assert_eq!(
            fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o600
        );

        fs::set_permissions(&new, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&read(&new).unwrap().0, b"A=2\n").unwrap();
        assert_eq!(
            fs::metadata(&new).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file stays behind");
    }

    #[test]
    fn keeps_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        fs::write(&p, "A=1\n").unwrap();
        let me = fs::metadata(&p).unwrap();
        // As root, hand the file to another user first; otherwise it stays ours, and must
        // stay ours after the write.
        let want = if me.uid() == 0 {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
            (65534, 65534)
        } else {
            (me.uid(), me.gid())
        };
        write_atomic(&read(&p).unwrap().0, b"A=2\n").unwrap();
        let after = fs::metadata(&p).unwrap();
        assert_eq!((after.uid(), after.gid()), want);
        assert_eq!(fs::read(&p).unwrap(), b"A=2\n");
    }

    #[test]
    fn refuses_when_the_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        fs::write(&p, "A=1\n").unwrap();
        let snap = read(&p).unwrap().0;
        fs::write(&p, "A=changed\n").unwrap();
        let e = write_atomic(&snap, b"A=2\n").unwrap_err();
        assert!(matches!(e, FsError::Changed { .. }));
        assert_eq!(fs::read(&p).unwrap(), b"A=changed\n");

        let missing = dir.path().join(".env.x");
        let snap = read(&missing).unwrap().0;
        fs::write(&missing, "B=1\n").unwrap();
        assert!(matches!(
            write_atomic(&snap, b"x").unwrap_err(),
            FsError::Changed { .. }
        ));
    }

    #[test]
    fn a_group_write_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join(".env.a");
        let b = dir.path().join(".env.b");
        let c = dir.path().join(".env.c");
        fs::write(&a, "A=1\n").unwrap();
        let new = dir.path().join(".env.new");
        let (sa, sb, sn) = (
            read(&a).unwrap().0,
            read(&b).unwrap().0,
            read(&new).unwrap().0,
        );
        // The last target turns out to be a directory: the earlier ones are put back.
        fs::create_dir(&c).unwrap();
        let sc = Snapshot::new(&c, Some(b""));
        let writes = [
            FileWrite {
                snapshot: &sa,
                contents: b"A=2\n",
                new_mode: 0o600,
            },
            FileWrite {
                snapshot: &sn,
                contents: b"N=1\n",
                new_mode: 0o600,
            },
            FileWrite {
                snapshot: &sb,
                contents: b"B=2\n",
                new_mode: 0o600,
            },
            FileWrite {
                snapshot: &sc,
                contents: b"C=2\n",
                new_mode: 0o600,
            },
        ];
        let e = write_all_atomic(&writes).unwrap_err();
        assert!(e.to_string().contains(".env.c"), "{e}");
        assert_eq!(fs::read(&a).unwrap(), b"A=1\n");
        assert!(
            !new.exists() && !b.exists(),
            "files created by the group are removed"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files stay: {names:?}");

        // Without the directory, all of them are written.
        fs::remove_dir(&c).unwrap();
        let sc = read(&c).unwrap().0;
        let writes = [
            FileWrite {
                snapshot: &sa,
                contents: b"A=2\n",
                new_mode: 0o600,
            },
            FileWrite {
                snapshot: &sc,
                contents: b"C=2\n",
                new_mode: 0o600,
            },
        ];
        write_all_atomic(&writes).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"A=2\n");
        assert_eq!(fs::read(&c).unwrap(), b"C=2\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn writes_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/.env.prod");
        fs::write(&real, "A=1\n").unwrap();
        let link = dir.path().join(".env.prod");
        symlink("real/.env.prod", &link).unwrap();
        write_atomic(&read(&link).unwrap().0, b"A=2\n").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"A=2\n");
    }

    #[test]
    fn a_failed_write_leaves_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gone/.env");
        let e = write_atomic(&read(&p).unwrap().0, b"A=1\n").unwrap_err();
        assert!(
            e.to_string().contains("cannot create a temporary file in"),
            "{e}"
        );
        assert!(!p.exists());
    }
}
