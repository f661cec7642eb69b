//! `envault scan` against real git repositories: the index being committed (including
//! `git commit -a` through GIT_INDEX_FILE), commit ranges, the working tree, and the formats.

use crate::common::{git, git_cmd, stderr, stdout, Project};

/// A pre-commit hook that runs this build's `envault scan --staged`.
fn hook(p: &Project) {
    let bin = assert_cmd::cargo::cargo_bin("envault");
    let path = p.path(".git/hooks/pre-commit");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nexec '{}' scan --staged\n", bin.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn commit(p: &Project, args: &[&str]) -> std::process::Output {
    git_cmd(p).arg("commit").args(args).output().unwrap()
}

#[test]
fn a_fresh_project_is_blocked_out_of_the_box() {
    let p = Project::tutorial_git();
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged"]).code(1);
    let out = stdout(&a);
    for line in [
        ".env.prod:4: plaintext-secret: DB_PASSWORD is a secret in clear in the `prod` environment",
        ".env.dev:4: plaintext-secret:",
        "    value: pr… (17 chars)",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    assert!(!out.contains("prod_password_789"), "never the value");
    assert!(stderr(&a).contains("commit blocked"));
    // Once prod is encrypted and dev/staging declared dummy, the commit passes.
    p.protect();
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged"]).code(0);
    assert_eq!(stdout(&a), "");
}

#[test]
fn the_staged_blob_is_judged_not_the_working_tree() {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "protected"]);
    // Stage a plaintext copy of prod, then encrypt the working tree again without staging.
    let sealed = p.read(".env.prod");
    p.run(&["decrypt", "prod", "--in-place", "--yes"]).success();
    git(&p, &["add", ".env.prod"]);
    p.write(".env.prod", &sealed);
    let a = p.run(&["scan", "--staged"]).code(1);
    assert!(
        stdout(&a).contains(".env.prod:4: plaintext-secret"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn the_hook_covers_commit_all_and_commit_paths() {
    let p = Project::tutorial_git();
    p.protect();
    p.write("app.py", "print('hi')\n");
    git(&p, &["add", "-A"]);
    hook(&p);
    let out = commit(&p, &["-q", "-m", "clean"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A known secret (dev's password) pasted into a tracked file, not staged.
    p.write("app.py", "print('hi')\npassword = 'dev_password_123'\n");
    for args in [&["-a", "-m", "all"][..], &["-m", "path", "app.py"][..]] {
        let out = commit(&p, args);
        // Git sends a hook's output to its stderr.
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "git commit {args:?} must be blocked");
        assert!(text.contains("app.py:2: known-secret"), "{text}");
    }
    // An inline allow lets it through.
    p.write(
        "app.py",
        "print('hi')\npassword = 'dev_password_123'  # envault:allow docs\n",
    );
    let out = commit(&p, &["-q", "-a", "-m", "allowed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ignore_file_fingerprints_and_stray_env_files() {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    p.write(
        ".env.local",
        "STRIPE_SECRET_KEY=sk_abcdefghij0123456789\nDEBUG=1\n",
    );
    p.write(".env.example", "STRIPE_SECRET_KEY=\nDB_PASSWORD=changeme\n");
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged", "--format", "json"]).code(1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let f = &v["findings"];
    assert_eq!(f.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(f[0]["path"], ".env.local");
    assert_eq!(f[0]["rule"], "env-file-secret");
    assert_eq!(f[0]["value"], "sk… (23 chars)");
    let fp = f[0]["fingerprint"].as_str().unwrap().to_owned();
    p.write(".envaultignore", &format!("{fp}  # local test key\n"));
    git(&p, &["add", ".envaultignore"]);
    p.run(&["scan", "--staged"]).code(0);
}

#[test]
fn config_changes_that_weaken_protection_are_findings() {
    let p = Project::tutorial_git();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  dev: .env.dev\n  staging: .env.staging\n  prod: .env.prod\n",
            "  dev: {file: .env.dev, encrypted: false}\n  staging: {file: .env.staging, encrypted: false}\n  prod: {file: .env.prod, encrypted: true}\n",
        ),
    );
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "prod: {file: .env.prod, encrypted: true}",
            "prod: .env.prod",
        ),
    );
    git(&p, &["add", ".envault.yml"]);
    let a = p.run(&["scan", "--staged"]).code(1);
    assert!(
        stdout(&a)
            .contains("config-weakened: `prod` (.env.prod) is no longer marked `encrypted: true`"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn ranges_find_no_verify_commits_and_replaced_data_keys() {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    git(&p, &["checkout", "-q", "-b", "pr"]);
    p.write(
        "ci.yml",
        "token: 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\n",
    );
    git(&p, &["add", "ci.yml"]);
    git(&p, &["commit", "-q", "--no-verify", "-m", "oops"]);
    // A whole new file under a new data key, as anyone with the public recipient could write.
    let other = stdout(&p.run(&["keygen", "--output", "home/other.txt"]).success())
        .lines()
        .last()
        .unwrap()
        .to_owned();
    p.run(&["recipients", "add", "--env", "prod", &other])
        .success();
    p.run(&["recipients", "remove", "--env", "prod", &other])
        .success();
    git(&p, &["commit", "-q", "-am", "rekey"]);
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    let out = stdout(&a);
    assert!(out.contains(" ci.yml:1:8: github-token"), "{out}");
    assert!(out.contains(" .env.prod:1: data-key-replaced"), "{out}");
    // GitHub annotations and SARIF.
    let a = p
        .run(&["scan", "--range", "main..pr", "--format", "github"])
        .code(1);
    assert!(
        stdout(&a).contains("::error file=ci.yml,line=1,col=8,title=envault github-token::"),
        "{}",
        stdout(&a)
    );
    let a = p
        .run(&["scan", "--range", "main..pr", "--format", "sarif"])
        .code(1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    p.run(&["scan", "--range", "main..main"]).code(0);
    p.run(&["scan", "--range", "main"]).code(2);
}

#[test]
fn working_tree_paths() {
    let p = Project::tutorial_git();
    p.protect();
    std::fs::create_dir(p.path("src")).unwrap();
    p.write("src/a.rs", "const KEY: &str = \"AKIAIS5COUHFUMVGU6H4\";\n");
    p.write("README.md", "nothing here\n");
    let a = p.run(&["scan", "src"]).code(1);
    assert_eq!(
        stdout(&a).lines().next().unwrap(),
        "src/a.rs:1:20: aws-access-key-id: an AWS access key id in a committed file"
    );
    p.run(&["scan", "README.md"]).code(0);
}

#[test]
fn a_progress_bar_on_a_terminal_only() {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    for i in 0..3 {
        p.write("notes.txt", &format!("note {i}\n"));
        git(&p, &["add", "notes.txt"]);
        git(&p, &["commit", "-q", "-m", "note"]);
    }
    // Not a terminal: nothing but the report.
    let a = p.run(&["scan", "--range", "HEAD~3..HEAD"]).code(0);
    assert_eq!(stdout(&a), "");
    assert_eq!(stderr(&a), "");
    // On a terminal (util-linux `script` gives it one), the bar counts the commits.
    let bin = assert_cmd::cargo::cargo_bin("envault");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("'{}' scan --range HEAD~3..HEAD", bin.display()),
            "/dev/null",
        ])
        .current_dir(p.dir.path())
        .env("HOME", p.path("home"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("scanning commits ["), "{tty}");
    assert!(tty.contains("] 3/3"), "{tty}");
}

/// A token whose provider checksum holds says so; one whose checksum fails is still reported.
#[test]
fn checksums_raise_confidence_and_never_hide_a_token() {
    let p = Project::tutorial_git();
    p.protect();
    p.write(
        "deploy.sh",
        "export GITHUB_TOKEN=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\nexport OTHER_TOKEN=ghp_cZzfLcZrrkGPwTdbb6WNZS1kkHJztBuR2PdL\n",
    );
    let a = p.run(&["scan", "deploy.sh", "--format", "json"]).code(1);
    let json: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let got: Vec<(u64, u64, &str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["family"].as_str().unwrap(),
                f["confidence"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, 21, "github-token", "checksum-verified"),
            (2, 20, "github-token", "format"),
        ]
    );
    let a = p.run(&["scan", "deploy.sh"]).code(1);
    assert!(
        stdout(&a).contains("    value: gh… (40 chars), checksum verified\n"),
        "{}",
        stdout(&a)
    );
}

/// A repository with secrets in its past adopts the scan with a baseline: it lists what is
/// there (fingerprints, never values), later scans report only what is new, moving lines
/// changes nothing, and entries a change adds to it are shown to the reviewer.
#[test]
fn baselines_let_a_repository_adopt_the_scan() {
    let p = Project::tutorial_git();
    p.protect();
    let legacy = "import os\nAWS_KEY = \"AKIAIS5COUHFUMVGU6H4\"\nTOKEN = \"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\"\n";
    p.write("legacy.py", legacy);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "--no-verify", "-m", "legacy"]);
    p.run(&["scan"]).code(1);

    let a = p.run(&["scan", "--baseline"]).code(0);
    assert_eq!(
        stderr(&a),
        "envault scan: wrote 2 baseline entries to .envault-baseline; scans now report only findings not listed there (commit it)\n"
    );
    let baseline = p.read(".envault-baseline");
    assert!(
        !baseline.contains("AKIAIS5") && !baseline.contains("ghp_9vz"),
        "{baseline}"
    );
    let entries: Vec<&str> = baseline.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(entries.len(), 2, "{baseline}");
    assert!(
        entries.iter().all(|e| e.contains("# legacy.py: ")),
        "{baseline}"
    );

    // Honoured without the flag, and stable when lines move.
    p.run(&["scan"]).code(0);
    p.write("legacy.py", &format!("# moved down\n\n{legacy}"));
    p.run(&["scan"]).code(0);
    // Something new is reported, alone.
    p.write("new.py", "KEY = \"AKIAQ7XW3N5R2T8Y4UBZ\"\n");
    let a = p.run(&["scan", "--format", "json"]).code(1);
    let json: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let paths: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["new.py"]);

    // A change that lists its own secret in the baseline is shown for review.
    git(&p, &["add", ".envault-baseline", "legacy.py"]);
    git(&p, &["commit", "-q", "--no-verify", "-m", "baseline"]);
    let a = p
        .run(&["scan", "new.py", "--baseline", "--update-baseline"])
        .code(0);
    assert!(
        stderr(&a).contains("wrote 1 baseline entry"),
        "{}",
        stderr(&a)
    );
    let fp = p.read(".envault-baseline");
    let fp = fp
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    git(&p, &["checkout", "-q", ".envault-baseline"]);
    p.write(
        ".envault-baseline",
        &format!(
            "{}{fp}  # new.py: aws-access-key-id\n",
            p.read(".envault-baseline")
        ),
    );
    git(&p, &["add", "new.py", ".envault-baseline"]);
    let a = p.run(&["scan", "--staged"]).code(0);
    assert!(
        stdout(&a).contains(&format!(".envault-baseline:6: warning: config-weakened: `.envault-baseline` gains the allow-list entry {fp}, which silences aws-access-key-id at new.py:1")),
        "{}",
        stdout(&a)
    );

    // The baseline belongs in the repository.
    let a = p
        .run(&["scan", "--baseline", "../outside-baseline"])
        .code(2);
    assert!(stderr(&a).contains("is outside"), "{}", stderr(&a));
}
