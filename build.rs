//! Embeds the git commit the binary was built from (`envault --version`). `ENVAULT_GIT_COMMIT`
//! overrides it (builds from a source archive); without git it is "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=ENVAULT_GIT_COMMIT");
    let commit = std::env::var("ENVAULT_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ENVAULT_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself and the branch refs (loose ones, and the packed
    // file when there is one). Cargo reruns on every build for a path that does not exist, so
    // only existing paths are named; a linked worktree keeps its refs in the common folder.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or_else(|| dir.clone());
        for path in [
            format!("{dir}/HEAD"),
            format!("{common}/refs/heads"),
            format!("{common}/packed-refs"),
        ] {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
