//! `envault edit`: open an environment in $EDITOR, decrypted in a private temporary folder,
//! and seal it back with stable ciphertext.

use std::process::Command;

use super::{emit, hinted, Ctx, ExitStatus};
use crate::dotenv::Document;

/// Edit an environment in $VISUAL / $EDITOR; encrypted ones are decrypted into a private (0700)
/// temporary folder outside the repository and sealed again afterwards (unchanged values keep
/// their ciphertext). The folder is removed on every exit path.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault edit prod\n  EDITOR='code --wait' envault edit staging"
)]
pub struct Args {
    /// The environment to edit (decrypted for the editor, sealed again on save).
    env: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    let mut editing = super::crypt::keys(ctx).edit(&config, &args.env)?;
    let before = zeroize::Zeroizing::new(editing.loaded.doc.render());

    // Interrupts and hang-ups (Ctrl-C, a closed terminal or ssh session, a SIGTERM) reach the
    // editor; envault waits for it and then removes the plaintext instead of dying with it
    // on disk. Set before any plaintext is written.
    let _ = ctrlc::set_handler(|| {});
    let name = editing
        .loaded
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".env".into());
    // Removed (editor swap files included) on every return path below.
    let scratch = crate::workspace::Scratch::create(&name, &before)?;
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
        .arg(scratch.path())
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
    let text = scratch.read()?;
    let path = ctx.display_path(editing.loaded.path());
    if *text == *before {
        emit(&format!("{path}: no changes\n"))?;
        return Ok(ExitStatus::Clean);
    }
    editing.loaded.doc = Document::parse(&text).map_err(|e| e.with_path(editing.loaded.path()))?;
    editing.commit(&config.plaintext_keys)?;
    emit(&format!(
        "{path}: saved{}\n",
        if editing.sealing.is_some() {
            " (sealed)"
        } else {
            ""
        }
    ))?;
    Ok(ExitStatus::Clean)
}
