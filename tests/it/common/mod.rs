//! Shared helpers of the integration tests: a scratch project driving the built binary.
#![allow(dead_code)]

pub mod http;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub const TUTORIAL_CONFIG: &str = "project: my-project\nenvironments:\n  dev: .env.dev\n  staging: .env.staging\n  prod: .env.prod\nconflict_strategy: source_wins\nskip_keys:\n  - COMMIT_SHA\n  - BUILD_NUMBER\n";

/// A scratch project: a temp folder marked as a repository root (so config discovery stops
/// there) with an isolated HOME.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn empty() -> Project {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        Project { dir }
    }

    /// The tutorial's .envault.yml and three env files.
    pub fn tutorial() -> Project {
        let p = Project::empty();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tutorial");
        for f in [".envault.yml", ".env.dev", ".env.staging", ".env.prod"] {
            fs::copy(src.join(f), p.path(f)).unwrap();
        }
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        fs::write(self.path(rel), text).unwrap();
    }

    /// The built binary in the project, with an environment of its own: nothing of the
    /// developer's (`VAULT_TOKEN`, `AWS_PROFILE`, `ENVAULT_*`, `NO_COLOR`…) reaches it.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("envault").unwrap();
        c.current_dir(self.dir.path()).env_clear();
        for (k, v) in isolated_env(&self.path("home")) {
            c.env(k, v);
        }
        c.env("XDG_STATE_HOME", self.path("state"));
        c
    }

    /// Creates the user's identity (`envault keygen`), lists it as the project's recipient, and
    /// appends `extra_config` to .envault.yml; returns the recipient.
    pub fn add_identity(&self, extra_config: &str) -> String {
        let a = self.run(&["keygen"]).success();
        let out = stdout(&a);
        let recipient = out.lines().last().unwrap_or_default().to_owned();
        assert!(recipient.starts_with("age1"), "{out}");
        self.write(
            ".envault.yml",
            &format!(
                "{}recipients: [{recipient}]\n{extra_config}",
                self.read(".envault.yml")
            ),
        );
        recipient
    }

    pub fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd().args(args).assert()
    }
}

pub fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

pub fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

/// The whole environment of a command the tests run: everything else is cleared first.
/// `PATH` is kept (to find git, age, sh), and `TMPDIR` when set.
pub fn isolated_env(home: &Path) -> Vec<(String, std::ffi::OsString)> {
    let mut env = vec![
        ("HOME".to_owned(), home.as_os_str().to_owned()),
        ("GIT_CONFIG_GLOBAL".to_owned(), "/dev/null".into()),
        ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".into()),
    ];
    for keep in ["PATH", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            env.push((keep.to_owned(), v));
        }
    }
    env
}

/// `git` in the project, isolated from the user's configuration, with an identity.
pub fn git_cmd(p: &Project) -> std::process::Command {
    let mut c = std::process::Command::new("git");
    c.current_dir(p.dir.path()).env_clear();
    for (k, v) in isolated_env(&p.path("home")) {
        c.env(k, v);
    }
    c.env("XDG_STATE_HOME", p.path("state"))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    c
}

pub fn git(p: &Project, args: &[&str]) {
    let out = git_cmd(p).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Configures the merge driver the way `envault git install` will.
pub fn use_merge_driver(p: &Project) {
    let bin = assert_cmd::cargo::cargo_bin("envault");
    git(
        p,
        &["config", "merge.envault.name", "envault key-aware merge"],
    );
    git(
        p,
        &[
            "config",
            "merge.envault.driver",
            &format!("{} merge-driver %O %A %B %L %P %S %X %Y", bin.display()),
        ],
    );
    p.write(".gitattributes", ".env.* merge=envault\n");
    git(p, &["add", ".gitattributes"]);
    git(p, &["commit", "-q", "-m", "attributes"]);
}

impl Project {
    /// The tutorial's files in a fresh git repository (branch `main`, nothing committed).
    pub fn tutorial_git() -> Project {
        let p = Project::tutorial();
        fs::remove_dir_all(p.path(".git")).unwrap();
        git(&p, &["init", "-q", "-b", "main"]);
        // The isolated HOME and state folders live beside the project's files but are not
        // part of it (the identity in there must never be committed).
        fs::write(p.path(".git/info/exclude"), "/home/\n/state/\n").unwrap();
        p
    }

    /// Marks dev and staging as dummy values (`encrypted: false`) and encrypts prod to the
    /// user's new identity, so the scan lets the files be committed.
    pub fn protect(&self) {
        self.write(
            ".envault.yml",
            &self.read(".envault.yml").replace(
                "  dev: .env.dev\n  staging: .env.staging\n",
                "  dev: {file: .env.dev, encrypted: false}\n  staging: {file: .env.staging, encrypted: false}\n",
            ),
        );
        self.add_identity("");
        self.run(&["encrypt", "prod"]).success();
    }
}

/// The folder `scripts/install-peers` installs the peers into.
/// `sh -c SCRIPT` on a pseudo-terminal (util-linux `script`) in the project, `$ENVAULT` the
/// built binary; stdin and stdout piped (what is typed, and the screen).
pub fn on_pty(p: &Project, script: &str) -> std::process::Command {
    let mut c = std::process::Command::new("script");
    c.args(["-qec", script, "/dev/null"])
        .current_dir(p.dir.path())
        .env("ENVAULT", assert_cmd::cargo::cargo_bin("envault"))
        .env("HOME", p.path("home"))
        .env("XDG_STATE_HOME", p.path("state"))
        .env_remove("ENVAULT_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    c
}

pub fn peers_dir() -> PathBuf {
    std::env::var_os("ENVAULT_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/envault-peers")
        })
}

/// A peer installed under the peers folder (`rel`), or a failure that says how to install it.
pub fn peer(rel: &str, what: &str) -> PathBuf {
    let p = peers_dir().join(rel);
    assert!(
        p.exists(),
        "{what} is not installed at {}: run scripts/install-peers (scripts/test does)",
        p.display()
    );
    p
}

/// Runs a helper program that must succeed (a peer, a build tool) and returns its stdout; a
/// failure shows both outputs.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
