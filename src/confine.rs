//! The one rule for paths and for text written into git's files. Everything envault reads or
//! writes on behalf of a repository (env files, store files, `.gitattributes`, hooks, husky
//! files) must resolve, with every symlink followed, inside the repository's root, unless the
//! user allowed another folder in their own config (never in the repository). Paths written
//! into git config, attributes and hooks must consist of a safe character set; anything else
//! is refused, never escaped piece by piece.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// `path` made absolute (against the current folder) with `.` and `..` folded, links not
/// followed: the same file named from any folder gives the same text.
pub fn absolute_lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .components()
    {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// How many symlinks one path may pass through (as Linux's `MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// Why a path or a text was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("{} resolves to {}, outside the repository {}", .path.display(), .resolved.display(), .root.display())]
    Outside {
        path: PathBuf,
        resolved: PathBuf,
        root: PathBuf,
    },
    #[error("{} passes through more than {MAX_HOPS} symlinks", .path.display())]
    SymlinkLoop { path: PathBuf },
    #[error("{} resolves to {}, inside the repository's .git folder", .path.display(), .resolved.display())]
    GitDir { path: PathBuf, resolved: PathBuf },
    #[error("{what} `{text}` contains {found}, which envault never writes into {into}")]
    Unsafe {
        what: &'static str,
        text: String,
        found: String,
        into: &'static str,
    },
}

impl crate::error::Hint for ConfineError {
    fn hint(&self) -> Option<String> {
        match self {
            ConfineError::Outside { .. } => Some(
                "keep env and store files inside the repository; to allow a folder outside it, add its absolute path to ~/.config/envault/allowed-paths (your own config, one folder a line)"
                    .into(),
            ),
            ConfineError::SymlinkLoop { .. } => Some("replace the symlink by the file".into()),
            ConfineError::GitDir { .. } => Some(
                "git's own files (hooks, config) are never env or store files: a write there could run code; point the path at a file of the work tree"
                    .into(),
            ),
            ConfineError::Unsafe { .. } => Some(format!(
                "rename the file: paths envault writes into git's files may hold only {SAFE_DESCRIPTION}"
            )),
        }
    }
}

/// The characters a path written into git config, attributes or hooks may hold.
pub const SAFE_DESCRIPTION: &str = "letters, digits, spaces and . _ - / + @ , = :";

fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-/+@,=:".contains(c)
}

/// Refuses `text` unless every character is in the safe set (and it is not empty and does not
/// start with `-`, which commands would read as an option). `what` names it and `into` says
/// where it was going, for the error.
pub fn safe_text(text: &str, what: &'static str, into: &'static str) -> Result<(), ConfineError> {
    let bad = text.chars().find(|c| !is_safe_char(*c));
    let found = match bad {
        Some(c) if c.is_control() => Some(format!("the control character U+{:04X}", c as u32)),
        Some(c) => Some(format!("`{c}`")),
        None if text.is_empty() => Some("nothing".into()),
        None if text.starts_with('-') || text.starts_with(' ') || text.ends_with(' ') => {
            Some("a leading `-` or a space at either end".into())
        }
        None => None,
    };
    match found {
        Some(found) => Err(ConfineError::Unsafe {
            what,
            text: text.escape_debug().to_string(),
            found,
            into,
        }),
        None => Ok(()),
    }
}

/// A root folder and the folders outside it the user allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
    allowed: Vec<PathBuf>,
}

impl Root {
    /// The root at `dir` (resolved, symlinks followed, when it exists).
    pub fn new(dir: &Path) -> Root {
        Root {
            dir: resolve(dir).unwrap_or_else(|_| dir.to_owned()),
            allowed: Vec::new(),
        }
    }

    /// The root at `dir` taken as written, without looking at the file system (for
    /// configurations read from git objects, whose paths are never opened on disk).
    pub fn lexical(dir: &Path) -> Root {
        Root {
            dir: dir.to_owned(),
            allowed: Vec::new(),
        }
    }

    /// Also accepts paths below `dirs` (the user's own allowances).
    pub fn allowing(mut self, dirs: &[PathBuf]) -> Root {
        self.allowed = dirs
            .iter()
            .filter(|d| d.is_absolute())
            .map(|d| resolve(d).unwrap_or_else(|_| d.clone()))
            .collect();
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resolves `path` (relative ones against the root) with every symlink followed, dangling
    /// ones included, and refuses a result outside the root and the allowed folders. Returns
    /// the resolved path.
    pub fn confine(&self, path: &Path) -> Result<PathBuf, ConfineError> {
        let full = self.dir.join(path);
        let resolved = resolve(&full)?;
        let inside =
            resolved.starts_with(&self.dir) || self.allowed.iter().any(|a| resolved.starts_with(a));
        // Inside the root, git's own folder is out of bounds: its hooks and config run code.
        let in_git_dir = resolved.strip_prefix(&self.dir).is_ok_and(|rel| {
            rel.components()
                .any(|c| c.as_os_str().to_string_lossy().eq_ignore_ascii_case(".git"))
        });
        if in_git_dir {
            return Err(ConfineError::GitDir {
                path: path.to_owned(),
                resolved,
            });
        }
        if inside {
            Ok(resolved)
        } else {
            Err(ConfineError::Outside {
                path: path.to_owned(),
                resolved,
                root: self.dir.clone(),
            })
        }
    }

    /// Whether `path` resolves inside the root (the allowed folders do not count): for files
    /// only envault's own setup writes, such as `.gitattributes` and hooks.
    pub fn confine_strictly(&self, path: &Path) -> Result<PathBuf, ConfineError> {
        Root {
            dir: self.dir.clone(),
            allowed: Vec::new(),
        }
        .confine(path)
    }
}

/// `path` made absolute and free of `.`, `..` and symlinks, following symlinks whose targets
/// do not exist too (a write would create the target). Parts that do not exist are taken as
/// written.
pub fn resolve(path: &Path) -> Result<PathBuf, ConfineError> {
    let start = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut todo: VecDeque<OsString> = VecDeque::new();
    push_components(&mut todo, &start, true);
    let mut out = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        if part == ".." {
            out.pop();
            continue;
        }
        if part == "/" {
            out = PathBuf::from("/");
            continue;
        }
        out.push(&part);
        let Ok(meta) = std::fs::symlink_metadata(&out) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(ConfineError::SymlinkLoop {
                    path: path.to_owned(),
                });
            }
            let target = std::fs::read_link(&out).map_err(|_| ConfineError::SymlinkLoop {
                path: path.to_owned(),
            })?;
            out.pop();
            push_components(&mut todo, &target, false);
        }
    }
    Ok(out)
}

/// Puts the components of `p` in front of `todo` (`/` for a root, `..` kept, `.` dropped).
fn push_components(todo: &mut VecDeque<OsString>, p: &Path, at_back: bool) {
    let parts: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Some(OsString::from("/")),
            Component::CurDir => None,
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(n) => Some(n.to_owned()),
        })
        .collect();
    if at_back {
        todo.extend(parts);
    } else {
        for part in parts.into_iter().rev() {
            todo.push_front(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("repo/sub")).unwrap();
        let r = Root::new(&t.path().join("repo"));
        (t, r)
    }

    #[test]
    fn paths_inside_are_accepted_and_resolved() {
        let (_t, r) = root();
        assert_eq!(
            r.confine(Path::new(".env.prod")).unwrap(),
            r.dir().join(".env.prod")
        );
        assert_eq!(
            r.confine(Path::new("sub/../sub/./.env")).unwrap(),
            r.dir().join("sub/.env")
        );
        symlink("sub/real.env", r.dir().join(".env.dev")).unwrap();
        assert_eq!(
            r.confine(Path::new(".env.dev")).unwrap(),
            r.dir().join("sub/real.env")
        );
    }

    #[test]
    fn an_attacker_cannot_leave_the_root() {
        let (t, r) = root();
        std::fs::write(t.path().join(".npmrc"), "secret").unwrap();
        for escape in ["../.npmrc", "sub/../../.npmrc", "/etc/passwd"] {
            let e = r.confine(Path::new(escape)).unwrap_err();
            assert!(matches!(e, ConfineError::Outside { .. }), "{escape}: {e}");
        }
        // A tracked symlink, a dangling one (a write would create its target), a symlinked
        // folder, and a chain of links.
        symlink("../.npmrc", r.dir().join(".env.prod")).unwrap();
        symlink("../../nowhere/new", r.dir().join(".env.new")).unwrap();
        symlink(t.path(), r.dir().join("up")).unwrap();
        symlink(".env.prod", r.dir().join(".env.chain")).unwrap();
        for escape in [
            ".env.prod",
            ".env.new",
            "up/.npmrc",
            ".env.chain",
            "sub/../up/x",
        ] {
            assert!(r.confine(Path::new(escape)).is_err(), "{escape}");
        }
        symlink("loop", r.dir().join("loop")).unwrap();
        assert!(matches!(
            r.confine(Path::new("loop")).unwrap_err(),
            ConfineError::SymlinkLoop { .. }
        ));
    }

    #[test]
    fn the_user_may_allow_a_folder_outside() {
        let (t, r) = root();
        std::fs::create_dir(t.path().join("shared")).unwrap();
        let r = r.allowing(&[t.path().join("shared")]);
        assert!(r.confine(Path::new("../shared/.env")).is_ok());
        assert!(r.confine(Path::new("../.npmrc")).is_err());
        assert!(r.confine_strictly(Path::new("../shared/.env")).is_err());
    }

    #[test]
    fn only_safe_text_goes_into_git_files() {
        for ok in [
            "config/.env.prod",
            "app env/.env",
            "/usr/local/bin/envault",
            "a+b@c,d=e:f",
        ] {
            safe_text(ok, "path", "hooks").unwrap();
        }
        for bad in [
            "x;touch${IFS}/tmp/PWNED;",
            "$(id)",
            "`id`",
            "a\nb",
            "a\"b",
            "a'b",
            "a\\b",
            "*.env",
            "[ab]",
            "!x",
            "#x",
            "-x",
            "",
            " x",
            "é",
        ] {
            assert!(safe_text(bad, "path", "hooks").is_err(), "{bad:?}");
        }
    }
}
