//! `envault edit`: open an environment in $EDITOR, decrypted in a private temporary folder,
//! and seal it back with stable ciphertext.

use std::process::Command;

use super::{emit, hinted, Ctx, ExitStatus};
use crate::dotenv::Document;
use crate::source;

/// Edit an environment in $VISUAL / $EDITOR; encrypted ones are decrypted into a private (0700)
/// temporary folder outside the repository and sealed again afterwards (unchanged values keep
/// their ciphertext). The folder is removed on every exit path.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault edit prod\n  EDITOR='code --wait' envault edit staging"
)]
pub struct Args {
    env: String,
}

/// Folders an earlier `edit` could not remove (the machine lost power, or envault was killed
/// with SIGKILL): this user's `envault-edit-*` folders in the temp folder untouched for a
/// day are removed, plaintext and all.
fn remove_stale_folders() {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with("envault-edit-") {
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

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    config.env(&args.env)?;
    let mut l = source::load_env(&config, &args.env, true)?;
    let sealing = super::crypt::open_for_writing(ctx, &config, &args.env, &mut l)?;
    let before = l.doc.render();

    // Interrupts and hang-ups (Ctrl-C, a closed terminal or ssh session, a SIGTERM) reach the
    // editor; envault waits for it and then removes the plaintext instead of dying with it
    // on disk. Set before any plaintext is written.
    let _ = ctrlc::set_handler(|| {});
    let tmp = std::env::temp_dir();
    if let Some(root) = crate::git::committable_in(&tmp.join("envault-edit-probe")) {
        return Err(hinted(
            format!(
                "the temporary folder {} is inside the git work tree at {}: the decrypted file would be one `git add` away from a commit; nothing was written",
                tmp.display(),
                root.display()
            ),
            "set TMPDIR to a folder outside every repository",
        ));
    }
    remove_stale_folders();
    // Dropped (removed, editor swap files included) on every return path below.
    let dir = {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix("envault-edit-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?
    };
    let name = l
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".env".into());
    let file = dir.path().join(name);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)?;
        f.write_all(before.as_bytes())?;
    }
    let editor = crate::env_vars::VISUAL
        .non_empty()
        .or_else(|| crate::env_vars::EDITOR.non_empty())
        .unwrap_or_else(|| "vi".into());
    // A person may keep the editor open for long: other envault commands must not wait on
    // this one meanwhile. The write below still refuses if the file changed since it was read.
    crate::fsutil::release_locks();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("envault-edit")
        .arg(&file)
        .status()
        .map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot start the editor `{editor}`"))
        })?;
    if !status.success() {
        return Err(hinted(
            format!("the editor `{editor}` failed ({status}); nothing was written"),
            "set VISUAL or EDITOR to an editor that exits 0 when you save",
        ));
    }
    let text = std::fs::read_to_string(&file)?;
    if text == before {
        emit(&format!("{}: no changes\n", ctx.display_path(l.path())))?;
        return Ok(ExitStatus::Clean);
    }
    l.doc = Document::parse(&text).map_err(|e| e.with_path(l.path()))?;
    crate::workspace::commit(sealing.as_ref(), &config.plaintext_keys, &mut l)?;
    emit(&format!(
        "{}: saved{}\n",
        ctx.display_path(l.path()),
        if sealing.is_some() { " (sealed)" } else { "" }
    ))?;
    Ok(ExitStatus::Clean)
}
