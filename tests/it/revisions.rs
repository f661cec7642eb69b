//! Diffs across git revisions, with the real git CLI.

use crate::common::{git, git_cmd, stderr, stdout, use_merge_driver, Project};

/// The tutorial committed on `main`, then a `feature` branch that changes prod.
fn repo() -> Project {
    let p = Project::tutorial_git();
    git(
        &p,
        &[
            "add",
            ".envault.yml",
            ".env.dev",
            ".env.staging",
            ".env.prod",
        ],
    );
    git(&p, &["commit", "-q", "-m", "tutorial"]);
    git(&p, &["checkout", "-q", "-b", "feature"]);
    let changed = p
        .read(".env.prod")
        .replace("LOG_LEVEL=warn", "LOG_LEVEL=error")
        + "NEW_FLAG=on\n";
    p.write(".env.prod", &changed);
    git(&p, &["commit", "-q", "-am", "prod: quieter logs, new flag"]);
    p
}

#[test]
fn environments_at_revisions() {
    let p = repo();
    let a = p.run(&["diff", "prod@main", "prod@feature"]).code(1);
    assert_eq!(
        stdout(&a),
        "═══ Diff: prod@main → prod@feature ═══\n\nOnly in prod@main:\n  (none)\n\nOnly in prod@feature:\n  NEW_FLAG=on\n\nDifferent values:\n  LOG_LEVEL: warn → error\n"
    );
    // No `@`: the working tree.
    p.write(
        ".env.prod",
        &p.read(".env.prod").replace("NEW_FLAG=on", "NEW_FLAG=off"),
    );
    let a = p.run(&["diff", "prod@HEAD", "prod"]).code(1);
    assert!(
        stdout(&a).contains("  NEW_FLAG: on → off\n"),
        "{}",
        stdout(&a)
    );
    p.run(&["diff", "prod@main~0", "prod@main"]).code(0);
}

#[test]
fn files_at_revisions_and_absent_files() {
    let p = repo();
    let a = p
        .run(&["diff-files", "main:.env.prod", "HEAD:.env.prod"])
        .code(1);
    assert!(
        stdout(&a).starts_with("═══ Diff: main:.env.prod → HEAD:.env.prod ═══"),
        "{}",
        stdout(&a)
    );
    assert!(stdout(&a).contains("  LOG_LEVEL: warn → error\n"));
    let a = p.run(&["diff-files", "main:.env.qa", ".env.dev"]).code(1);
    assert!(
        stderr(&a).contains("main:.env.qa does not exist at that revision; compared as empty"),
        "{}",
        stderr(&a)
    );
    let a = p.run(&["diff", "prod@no-such-branch", "prod"]).code(2);
    assert!(
        stderr(&a).contains("unknown revision `no-such-branch`"),
        "{}",
        stderr(&a)
    );
    assert!(stderr(&a).contains("git branch -a"), "{}", stderr(&a));
    // Counting back past the first commit: the hint names that, not the very form that failed.
    let a = p.run(&["diff", "prod@HEAD~40", "prod"]).code(2);
    let err = stderr(&a);
    assert!(
        err.contains("`HEAD~40` counts back past the first commit"),
        "{err}"
    );
    assert!(!err.contains("such as HEAD~"), "{err}");
}

/// Outside a repository, commands that need one say so without talking about revisions.
#[test]
fn outside_a_repository_the_hint_fits_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let p = crate::common::Project::empty();
    for args in [&["git", "install"][..], &["log", "prod"][..]] {
        let a = p
            .cmd()
            .current_dir(dir.path())
            .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
            .args(args)
            .assert()
            .code(2);
        let err = stderr(&a);
        assert!(!err.contains("NAME@REV"), "{args:?}: {err}");
    }
}

#[test]
fn environment_names_resolve_through_the_config_of_that_revision() {
    let p = repo();
    // On feature, prod moves to another file; main still knows the old one.
    git(&p, &["mv", ".env.prod", ".env.production"]);
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("prod: .env.prod", "prod: .env.production"),
    );
    git(&p, &["commit", "-q", "-am", "rename prod"]);
    let a = p.run(&["diff", "prod@main", "prod@feature"]).code(1);
    assert!(
        stdout(&a).contains("  LOG_LEVEL: warn → error\n"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn textconv_shows_keys_and_masks_secrets_with_fingerprints() {
    let p = Project::tutorial();
    let a = p.run(&["textconv", ".env.prod"]).success();
    let out = stdout(&a);
    assert!(
        out.starts_with(
            "DB_HOST=prod-db.internal\nDB_PORT=5432\nDB_NAME=myapp_prod\nDB_PASSWORD=•••••• fp:"
        ),
        "{out}"
    );
    assert!(!out.contains("prod_password_789"));
    let fp = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("DB_PASSWORD="))
            .unwrap()
            .to_owned()
    };
    let before = fp(&out);
    p.write(
        ".env.prod",
        &p.read(".env.prod")
            .replace("prod_password_789", "rotated_password_1"),
    );
    let after = fp(&stdout(&p.run(&["textconv", ".env.prod"]).success()));
    assert_ne!(before, after, "a changed secret shows as a changed line");
    let a = p
        .run(&["textconv", ".env.prod", "--show-secrets"])
        .success();
    assert!(stdout(&a).contains("DB_PASSWORD=rotated_password_1\n"));

    // A line dotenv readers disagree on (kept as written) is masked too, and still shows a
    // change as a changed line.
    let line = "DJANGO_SECRET_KEY=change me to s3cret words";
    p.write(".env.dev", &format!("{}{line}\n", p.read(".env.dev")));
    let shown = |p: &Project| {
        let out = stdout(&p.run(&["textconv", ".env.dev"]).success());
        out.lines()
            .find(|l| l.starts_with("DJANGO_SECRET_KEY"))
            .unwrap()
            .to_owned()
    };
    let before = shown(&p);
    assert!(!before.contains("s3cret"), "{before}");
    assert!(
        before.contains("fp:") && before.contains("kept as written"),
        "{before}"
    );
    p.write(".env.dev", &p.read(".env.dev").replace("s3cret", "0ther"));
    assert_ne!(shown(&p), before);
    let a = p.run(&["textconv", ".env.dev", "--show-secrets"]).success();
    assert!(stdout(&a).contains(&line.replace("s3cret", "0ther")));

    // A commented-out secret entry, and a secret entry other readers find inside a value
    // (after a lone carriage return, or on a line of a quoted value).
    p.write(
        ".env.dev",
        "# DB_PASSWORD=hunter2commented\nA=1\rDB_PASSWORD=crsecret2\nB='x\nAPI_TOKEN=sq1secret\n'\n",
    );
    let out = stdout(&p.run(&["textconv", ".env.dev"]).success());
    for secret in ["hunter2commented", "crsecret2", "sq1secret"] {
        assert!(!out.contains(secret), "{secret} in:\n{out}");
    }
    assert!(out.starts_with("# DB_PASSWORD=•••••• fp:"), "{out}");
    let a = p.run(&["diff-files", ".env.dev", ".env.prod"]).code(1);
    for secret in ["crsecret2", "sq1secret"] {
        assert!(!stdout(&a).contains(secret), "{secret} in:\n{}", stdout(&a));
    }
}

#[test]
fn git_diff_of_an_encrypted_file_through_textconv() {
    let p = repo();
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    git(&p, &["commit", "-q", "-am", "encrypt prod"]);
    p.run(&["set", "LOG_LEVEL", "debug", "--env", "prod"])
        .success();
    p.write(".gitattributes", ".env.prod diff=envault\n");
    let bin = assert_cmd::cargo::cargo_bin("envault");
    let textconv = format!("diff.envault.textconv={} textconv", bin.display());
    let out = git_cmd(&p)
        .args(["-c", &textconv, "diff", "--", ".env.prod"])
        .output()
        .unwrap();
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("\n-LOG_LEVEL=error\n+LOG_LEVEL=debug\n"),
        "{diff}"
    );
    // An unchanged secret is at most a context line: same fingerprint on both sides.
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with("-DB_PASSWORD") || l.starts_with("+DB_PASSWORD")),
        "{diff}"
    );
    assert!(!diff.contains("enc:v1:"), "{diff}");
}

#[test]
fn log_lists_key_changes_per_commit_and_follows_renames() {
    let p = repo();
    let drop_cache = p.read(".env.prod").replace("CACHE_TTL=1200\n", "");
    p.write(".env.prod", &drop_cache);
    git(&p, &["commit", "-q", "-am", "drop cache ttl"]);
    git(&p, &["mv", ".env.prod", ".env.production"]);
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("prod: .env.prod", "prod: .env.production"),
    );
    git(&p, &["commit", "-q", "-am", "rename prod"]);
    p.write(
        ".env.production",
        &(p.read(".env.production") + "# a comment\n"),
    );
    git(&p, &["commit", "-q", "-am", "comment"]);
    let a = p.run(&["log", "prod"]).success();
    let out = stdout(&a);
    let lines: Vec<&str> = out
        .lines()
        .map(|l| {
            l.split_once(' ')
                .map_or(l, |(id, rest)| if id.len() == 7 { rest } else { l })
        })
        .collect();
    assert_eq!(
        lines,
        [
            "comment",
            "  (layout or comments only)",
            "drop cache ttl",
            "  - CACHE_TTL",
            "prod: quieter logs, new flag",
            "  + NEW_FLAG",
            "  ~ LOG_LEVEL",
            "tutorial",
            "  + DB_HOST",
            "  + DB_PORT",
            "  + DB_NAME",
            "  + DB_PASSWORD",
            "  + LOG_LEVEL",
            "  + CACHE_TTL",
        ],
        "{out}"
    );
    let a = p.run(&["log", "prod", "-n", "1"]).success();
    assert_eq!(stdout(&a).lines().count(), 2);
}

#[test]
fn git_merge_combines_keys_added_on_both_branches() {
    let p = repo();
    git(&p, &["checkout", "-q", "main"]);
    use_merge_driver(&p);
    git(&p, &["checkout", "-q", "-b", "left"]);
    p.write(".env.dev", &(p.read(".env.dev") + "LEFT_KEY=l\n"));
    git(&p, &["commit", "-q", "-am", "left"]);
    git(&p, &["checkout", "-q", "main"]);
    let dev = p
        .read(".env.dev")
        .replace("LOG_LEVEL=debug", "LOG_LEVEL=trace")
        + "RIGHT_KEY=r\n";
    p.write(".env.dev", &dev);
    git(&p, &["commit", "-q", "-am", "right"]);
    // A line merge would conflict (both appended); the key-aware merge does not.
    git(&p, &["merge", "-q", "--no-edit", "left"]);
    let merged = p.read(".env.dev");
    assert!(merged.contains("LOG_LEVEL=trace\n"), "{merged}");
    // Each added key lands after its predecessor: LEFT_KEY followed CACHE_TTL on its branch.
    assert!(
        merged.ends_with("CACHE_TTL=300\nLEFT_KEY=l\nRIGHT_KEY=r\n"),
        "{merged}"
    );
}

#[test]
fn git_merge_marks_only_the_conflicting_key() {
    let p = repo();
    git(&p, &["checkout", "-q", "main"]);
    use_merge_driver(&p);
    git(&p, &["checkout", "-q", "-b", "left"]);
    p.write(
        ".env.dev",
        &p.read(".env.dev")
            .replace("CACHE_TTL=300", "CACHE_TTL=1")
            .replace("DB_PORT=5432", "DB_PORT=6543"),
    );
    git(&p, &["commit", "-q", "-am", "left"]);
    git(&p, &["checkout", "-q", "main"]);
    p.write(
        ".env.dev",
        &p.read(".env.dev").replace("CACHE_TTL=300", "CACHE_TTL=2"),
    );
    git(&p, &["commit", "-q", "-am", "right"]);
    let out = git_cmd(&p)
        .args(["merge", "--no-edit", "left"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the merge stops on the conflict");
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("CONFLICT (content): Merge conflict in .env.dev"));
    let merged = p.read(".env.dev");
    assert!(
        merged.contains("DB_PORT=6543\n"),
        "the other change merged: {merged}"
    );
    assert!(merged.contains("<<<<<<< "), "{merged}");
    let block: Vec<&str> = merged
        .lines()
        .skip_while(|l| !l.starts_with("<<<<<<<"))
        .take_while(|l| !l.starts_with(">>>>>>>"))
        .collect();
    assert_eq!(
        block[1..],
        ["CACHE_TTL=2", "=======", "CACHE_TTL=1"],
        "{merged}"
    );
}

/// The driver as git calls it, with placeholders left unexpanded (git older than 2.44).
const DRIVER_ARGS: [&str; 9] = [
    "merge-driver",
    "base",
    "ours",
    "theirs",
    "7",
    ".env",
    "%S",
    "%X",
    "%Y",
];

#[test]
fn merge_driver_falls_back_to_a_line_merge() {
    let p = Project::empty();
    p.write("base", "A=1\nB=2\n");
    std::fs::write(p.path("ours"), b"A=1\nB=2\nNOT_TEXT=\xff\n").unwrap();
    p.write("theirs", "A=one\nB=2\n");
    let a = p.run(&DRIVER_ARGS).code(0);
    assert!(
        stderr(&a).contains("falling back to a line merge"),
        "{}",
        stderr(&a)
    );
    assert_eq!(
        std::fs::read(p.path("ours")).unwrap(),
        b"A=one\nB=2\nNOT_TEXT=\xff\n"
    );
    // A line that is not an entry is merged as a line, without falling back.
    p.write("ours", "A=1\nB=2\nnot an entry\n");
    let a = p.run(&DRIVER_ARGS).code(0);
    assert!(!stderr(&a).contains("falling back"), "{}", stderr(&a));
    assert_eq!(p.read("ours"), "A=one\nB=2\nnot an entry\n");
    // ENVAULT_MERGE_DISABLE=1 forces the line merge: both appended lines conflict there.
    p.write("ours", "A=1\nB=2\nO=1\n");
    p.write("theirs", "A=1\nB=2\nT=1\n");
    p.cmd()
        .env("ENVAULT_MERGE_DISABLE", "1")
        .args(DRIVER_ARGS)
        .assert()
        .code(1);
    assert!(
        p.read("ours").contains("<<<<<<< ours"),
        "{}",
        p.read("ours")
    );
    p.write("ours", "A=1\nB=2\nO=1\n");
    p.run(&DRIVER_ARGS).code(0);
    // Both additions land, each after its predecessor (B on both sides).
    assert_eq!(p.read("ours"), "A=1\nB=2\nT=1\nO=1\n");
}
