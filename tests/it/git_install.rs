//! `envault git install / uninstall / doctor` in real repositories: hooks in the folder git
//! uses (core.hooksPath, linked worktrees), chained hooks, husky, the pre-commit framework,
//! the fail-closed hook, and byte-for-byte uninstall.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{git, git_cmd, mode_of, run_ok, stdout, Project};

/// The tutorial committed in a fresh repository, dev and staging marked dummy and prod
/// encrypted, so a clean commit passes the scan.
fn repo() -> Project {
    let p = Project::tutorial_git();
    p.protect();
    p.write(".gitattributes", "*.png binary\n");
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    p
}

fn commit_all(p: &Project, msg: &str) -> (bool, String) {
    let out = git_cmd(p)
        .args(["commit", "-a", "-m", msg])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn leak(p: &Project) {
    p.write(
        ".env.dev",
        &(p.read(".env.dev") + "# copied from prod\nOTHER=prod_password_789\n"),
    );
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn git_config(p: &Project, key: &str) -> Option<String> {
    let out = git_cmd(p).args(["config", "--get", key]).output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

#[test]
fn install_chains_an_existing_hook_and_uninstall_restores_everything() {
    let p = repo();
    let old_hook = "#!/bin/sh\necho previous hook ran\n";
    let hook = p.path(".git/hooks/pre-commit");
    write_exec(&hook, old_hook);
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o750)).unwrap();
    let a = p.run(&["git", "install"]).success();
    assert!(stdout(&a).contains("runs first, as pre-commit.envault-chained"));
    // Idempotent.
    let before = std::fs::read_to_string(&hook).unwrap();
    p.run(&["git", "install"]).success();
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), before);
    assert_eq!(
        p.read(".gitattributes"),
        "*.png binary\n# >>> envault >>> env files (managed by `envault git install`)\n/.env.dev merge=envault diff=envault\n/.env.prod merge=envault diff=envault\n/.env.staging merge=envault diff=envault\n# <<< envault <<<\n"
    );
    let bin = assert_cmd::cargo::cargo_bin("envault")
        .canonicalize()
        .unwrap();
    assert_eq!(
        git_config(&p, "merge.envault.driver").unwrap(),
        format!("'{}' merge-driver %O %A %B %L %P %S %X %Y", bin.display())
    );

    // A leaked prod secret in dev is blocked, after the previous hook ran.
    leak(&p);
    let (ok, out) = commit_all(&p, "leak");
    assert!(!ok, "{out}");
    assert!(out.contains("previous hook ran"), "{out}");
    assert!(out.contains(".env.dev:11: known-secret"), "{out}");
    // The chained hook's failure still blocks.
    p.write(
        ".env.dev",
        &p.read(".env.dev").replace("OTHER=prod_password_789\n", ""),
    );
    write_exec(
        &p.path(".git/hooks/pre-commit.envault-chained"),
        "#!/bin/sh\necho previous hook says no\nexit 3\n",
    );
    let (ok, out) = commit_all(&p, "blocked by the chained hook");
    assert!(!ok && out.contains("previous hook says no"), "{out}");
    write_exec(&p.path(".git/hooks/pre-commit.envault-chained"), old_hook);
    std::fs::set_permissions(
        p.path(".git/hooks/pre-commit.envault-chained"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let (ok, out) = commit_all(&p, "clean");
    assert!(ok, "{out}");

    p.run(&["git", "doctor"]).code(0);
    p.run(&["git", "uninstall"]).success();
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), old_hook);
    assert_eq!(mode_of(&hook), 0o750);
    assert!(!p.path(".git/hooks/pre-merge-commit").exists());
    assert!(!p.path(".git/hooks/pre-commit.envault-chained").exists());
    assert_eq!(p.read(".gitattributes"), "*.png binary\n");
    for key in [
        "merge.envault.name",
        "merge.envault.driver",
        "diff.envault.textconv",
    ] {
        assert_eq!(git_config(&p, key), None, "{key}");
    }
}

#[test]
fn the_hook_fails_closed_when_envault_is_gone() {
    let p = repo();
    // Install from a copy of the binary, then remove the copy.
    let copy = p.path("home/bin/envault");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(assert_cmd::cargo::cargo_bin("envault"), &copy).unwrap();
    // Running a file just written can fail with ETXTBSY while another test thread forks with
    // the copy's write handle still open in the child; it clears once that child execs.
    let mut tries = 0;
    let out = loop {
        let run = std::process::Command::new(&copy)
            .args(["git", "install"])
            .current_dir(p.dir.path())
            .env("HOME", p.path("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output();
        match run {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap(),
        }
    };
    assert!(out.status.success());
    std::fs::remove_file(&copy).unwrap();
    p.write("README.md", "hello\n");
    git(&p, &["add", "README.md"]);
    let out = git_cmd(&p).args(["commit", "-m", "x"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is missing") && err.contains("--no-verify"),
        "{err}"
    );
    let a = p.run(&["git", "doctor"]).code(1);
    let text = stdout(&a);
    assert!(text.contains("✗ the pre-commit hook's envault"), "{text}");
    assert!(text.contains("✗ the merge driver's binary"), "{text}");
}

#[test]
fn hooks_path_and_linked_worktrees() {
    let p = repo();
    git(&p, &["config", "core.hooksPath", "githooks"]);
    // A stale hook where git no longer looks.
    write_exec(
        &p.path(".git/hooks/pre-commit"),
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/envault-hook.sh"),
        )
        .unwrap(),
    );
    p.run(&["git", "install"]).success();
    assert!(p.path("githooks/pre-commit").is_file());
    let a = p.run(&["git", "doctor"]).code(1);
    assert!(
        stdout(&a).contains("✗ no envault hook sits unused in .git/hooks"),
        "{}",
        stdout(&a)
    );
    std::fs::remove_file(p.path(".git/hooks/pre-commit")).unwrap();
    p.run(&["git", "doctor"]).code(0);
    // A hook git cannot execute is skipped silently by git.
    std::fs::set_permissions(
        p.path("githooks/pre-commit"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let a = p.run(&["git", "doctor"]).code(1);
    assert!(
        stdout(&a).contains("✗ githooks/pre-commit is executable\n    fix: chmod +x "),
        "{}",
        stdout(&a)
    );
    p.run(&["git", "install"]).success();
    git(&p, &["config", "diff.envault.cachetextconv", "true"]);
    let a = p.run(&["git", "doctor"]).code(1);
    assert!(stdout(&a).contains("✗ git does not cache envault's textconv output"));
    git(&p, &["config", "--unset", "diff.envault.cachetextconv"]);
    p.run(&["git", "doctor"]).code(0);

    // A linked worktree uses the same hooks: install from inside it writes to the common dir.
    git(&p, &["config", "--unset", "core.hooksPath"]);
    let wt: PathBuf = p.path("home/wt");
    git(&p, &["worktree", "add", "-q", wt.to_str().unwrap()]);
    let a = p
        .cmd()
        .current_dir(&wt)
        .args(["git", "install"])
        .assert()
        .success();
    assert!(stdout(&a).contains("pre-commit hook: "), "{}", stdout(&a));
    assert!(p.path(".git/hooks/pre-commit").is_file());
    std::fs::write(
        wt.join(".env.dev"),
        std::fs::read_to_string(wt.join(".env.dev")).unwrap() + "OTHER=prod_password_789\n",
    )
    .unwrap();
    let out = git_cmd(&p)
        .current_dir(&wt)
        .args(["commit", "-a", "-m", "leak"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the worktree's commit is scanned");
    assert!(String::from_utf8_lossy(&out.stderr).contains("known-secret"));
}

#[test]
fn husky_gets_a_block_in_its_committed_hook() {
    let p = repo();
    std::fs::create_dir_all(p.path(".husky/_")).unwrap();
    p.write(".husky/pre-commit", "npm test\n");
    git(&p, &["config", "core.hooksPath", ".husky/_"]);
    p.run(&["git", "install"]).success();
    let text = p.read(".husky/pre-commit");
    assert!(text.starts_with("npm test\n# >>> envault >>>"), "{text}");
    assert!(text.contains("envault scan --staged || exit $?\n"));
    assert!(
        !p.path(".husky/_/pre-commit").exists(),
        "husky's own folder is left alone"
    );
    p.run(&["git", "uninstall"]).success();
    assert_eq!(p.read(".husky/pre-commit"), "npm test\n");
}

fn pre_commit_bin() -> PathBuf {
    crate::common::peer("venv/bin/pre-commit", "the pre-commit framework")
}

#[test]
fn the_pre_commit_framework_gets_a_snippet_that_works() {
    let pc = pre_commit_bin();
    let p = repo();
    p.write(".pre-commit-config.yaml", "repos: []\n");
    let a = p.run(&["git", "install"]).success();
    let out = stdout(&a);
    assert!(
        !p.path(".git/hooks/pre-commit").exists(),
        "its hook is not touched"
    );
    let snippet: String = out
        .lines()
        .skip_while(|l| !l.starts_with("-   repo: local"))
        .take_while(|l| !l.starts_with('✓'))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(snippet.contains("entry: envault scan --staged"), "{out}");
    p.write(".pre-commit-config.yaml", &format!("repos:\n{}", snippet));
    git(&p, &["add", ".pre-commit-config.yaml"]);
    let bin_dir = assert_cmd::cargo::cargo_bin("envault")
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        git_cmd(&p)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", p.path("home/pre-commit"))
            .args(args)
            .output()
            .unwrap()
    };
    run_ok(
        std::process::Command::new(&pc)
            .args(["validate-config", ".pre-commit-config.yaml"])
            .current_dir(p.dir.path()),
    );
    run_ok(
        std::process::Command::new(&pc)
            .arg("install")
            .current_dir(p.dir.path())
            .env("HOME", p.path("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("PRE_COMMIT_HOME", p.path("home/pre-commit")),
    );
    let out = run(&["commit", "-q", "-m", "pre-commit config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    leak(&p);
    let out = run(&["commit", "-a", "-m", "leak"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("known-secret"), "{text}");
    // The repository's own manifest is valid for pre-commit users.
    run_ok(
        std::process::Command::new(&pc)
            .args(["validate-manifest", ".pre-commit-hooks.yaml"])
            .current_dir(env!("CARGO_MANIFEST_DIR")),
    );
}

#[test]
fn attributes_cover_every_config_of_a_monorepo() {
    let p = repo();
    std::fs::create_dir_all(p.path("services/api")).unwrap();
    p.write(
        "services/api/.envault.yml",
        "environments:\n  dev: {file: .env.dev, encrypted: false}\n  prod: config/.env.prod\n",
    );
    p.write("services/api/.env.dev", "A=1\n");
    p.run(&["git", "install"]).success();
    let attrs = p.read(".gitattributes");
    for f in [
        "/.env.prod ",
        "/services/api/.env.dev ",
        "/services/api/config/.env.prod ",
    ] {
        assert!(attrs.contains(f), "{f}\n{attrs}");
    }
    // Git agrees, and doctor sees every file covered.
    let out = git_cmd(&p)
        .args(["check-attr", "merge", "--", "services/api/.env.dev"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "services/api/.env.dev: merge: envault\n"
    );
    p.run(&["git", "doctor"]).code(0);
    // Attributes without driver configuration: git would line-merge silently.
    git(&p, &["config", "--unset", "merge.envault.driver"]);
    let a = p.run(&["git", "doctor"]).code(1);
    assert!(stdout(&a).contains("✗ merge.envault.driver is configured"));
}

#[test]
fn the_pre_merge_commit_hook_scans_merges() {
    let p = repo();
    p.run(&["git", "install"]).success();
    git(&p, &["checkout", "-q", "-b", "side"]);
    p.write("notes.txt", "db: prod_password_789\n");
    git(&p, &["add", "notes.txt"]);
    git(
        &p,
        &["commit", "-q", "--no-verify", "-m", "skipped the hook"],
    );
    git(&p, &["checkout", "-q", "main"]);
    p.write("other.txt", "x\n");
    git(&p, &["add", "other.txt"]);
    git(&p, &["commit", "-q", "-m", "main moves on"]);
    let out = git_cmd(&p)
        .args(["merge", "--no-edit", "side"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("notes.txt:1: known-secret"), "{err}");
}
