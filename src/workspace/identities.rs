//! The user's identities: where they come from, which public keys they give, and creating one.

use std::path::{Path, PathBuf};

use super::{Result, WorkspaceError};
use crate::crypt::{self, Identities};
use crate::fsutil::{self, Snapshot};

/// The default identity file: `identity.txt` in the user's envault config folder.
pub fn default_identity() -> Option<PathBuf> {
    crate::env_vars::folders()
        .config
        .as_ref()
        .map(|d| d.join("identity.txt"))
}

/// Every identity available, in order: `flag` (`--identity`), `ENVAULT_IDENTITY` (a path),
/// `ENVAULT_IDENTITY_KEY` (the key itself, for CI), the default file, then `~/.ssh/id_ed25519`
/// and `~/.ssh/id_rsa`. An identity file others can read is warned about.
pub fn load_identities(flag: Option<&Path>, warn: &dyn Fn(&str)) -> Result<Identities> {
    use crate::env_vars::{folders, ENVAULT_IDENTITY, ENVAULT_IDENTITY_KEY};
    let mut ids = Identities::empty();
    if let Some(p) = flag {
        ids.extend(read_identity_file(p, true, warn)?.unwrap_or_else(Identities::empty));
    }
    if let Some(p) = ENVAULT_IDENTITY.os() {
        ids.extend(
            read_identity_file(Path::new(&p), true, warn)?.unwrap_or_else(Identities::empty),
        );
    }
    if let Some(key) = ENVAULT_IDENTITY_KEY.non_empty() {
        ids.extend(Identities::parse(&key, ENVAULT_IDENTITY_KEY.name)?);
    }
    if let Some(path) = default_identity() {
        if let Some(found) = read_identity_file(&path, false, warn)? {
            ids.extend(found);
        }
    }
    let Some(home) = &folders().home else {
        return Ok(ids);
    };
    for name in ["id_ed25519", "id_rsa"] {
        // SSH keys are a fallback: one that cannot be used (passphrase-protected) is skipped.
        if let Ok(text) = std::fs::read_to_string(home.join(".ssh").join(name)) {
            if let Ok(found) = Identities::parse(&text, name) {
                ids.extend(found);
            }
        }
    }
    Ok(ids)
}

fn read_identity_file(
    path: &Path,
    required: bool,
    warn: &dyn Fn(&str),
) -> Result<Option<Identities>> {
    use std::os::unix::fs::PermissionsExt;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(WorkspaceError::IdentityFile {
                path: path.to_owned(),
                error,
            })
        }
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            warn(&format!(
                "identity {} is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(Some(Identities::parse(&text, &path.display().to_string())?))
}

/// Creates a new identity at `path` (its folder made private, 0700; the file written as a new
/// private file) and returns its public recipient. Refuses a path git could commit, and never
/// overwrites an identity.
pub fn create_identity(path: &Path) -> Result<String> {
    if let Some(root) = crate::git::committable_in(path) {
        return Err(WorkspaceError::IdentityInWorkTree {
            path: path.to_owned(),
            root,
        });
    }
    if path.exists() {
        return Err(WorkspaceError::IdentityExists(path.to_owned()));
    }
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir(dir)?;
    }
    let (secret, public) = crypt::generate_identity();
    let text = zeroize::Zeroizing::new(format!(
        "# envault identity: keep this file private\n# public key: {public}\n{}\n",
        secret.as_str()
    ));
    fsutil::write_atomic(&Snapshot::new(path, None), text.as_bytes())?;
    Ok(public)
}

/// The public keys of the identities the user keeps in files or in ENVAULT_IDENTITY_KEY (the
/// default file, ENVAULT_IDENTITY): the recipients a file store is sealed to. SSH keys are not
/// among them.
pub fn own_recipients() -> Vec<String> {
    let mut recipients = Vec::new();
    for p in [
        default_identity(),
        crate::env_vars::ENVAULT_IDENTITY.os().map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(t) = std::fs::read_to_string(&p) {
            recipients.extend(crypt::public_keys_in(&t));
        }
    }
    if let Some(t) = crate::env_vars::ENVAULT_IDENTITY_KEY.get() {
        recipients.extend(crypt::public_keys_in(&t));
    }
    recipients
}
