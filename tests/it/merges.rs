//! The merge driver under real git operations: merges of encrypted files, rebase, cherry-pick,
//! revert, add/add, and the fixture cases under fixtures/merge.

use std::path::Path;

use crate::common::{git, git_cmd, stderr, stdout, use_merge_driver, Project};

/// The tutorial in a fresh repository with the merge driver configured; prod encrypted to the
/// user's identity when `encrypted`.
fn merge_repo(encrypted: bool) -> Project {
    let p = Project::tutorial_git();
    if encrypted {
        p.add_identity("");
        p.run(&["encrypt", "prod"]).success();
    }
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
    use_merge_driver(&p);
    p
}

fn set(p: &Project, key: &str, value: &str) {
    p.run(&["set", "--env", "prod", key, value]).success();
}

fn get(p: &Project, key: &str) -> String {
    stdout(&p.run(&["get", "--env", "prod", key]).success())
        .trim_end()
        .to_owned()
}

fn identity(p: &Project) -> std::path::PathBuf {
    p.path("home/.config/envault/identity.txt")
}

/// Takes the user's identity away (as on a machine that cannot decrypt), or gives it back.
fn hide_identity(p: &Project, hidden: bool) {
    let stash = p.path("home/identity.stash");
    if hidden {
        std::fs::rename(identity(p), stash).unwrap();
    } else {
        std::fs::rename(stash, identity(p)).unwrap();
    }
}

/// Runs `git args`, expecting it to stop on a conflict; returns its stdout and stderr.
fn git_fails(p: &Project, args: &[&str]) -> String {
    let out = git_cmd(p).args(args).output().unwrap();
    assert!(
        !out.status.success(),
        "git {args:?} should stop on a conflict"
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn branch_with(p: &Project, name: &str, from: &str, change: impl FnOnce(&Project)) {
    git(p, &["checkout", "-q", "-b", name, from]);
    change(p);
    git(p, &["commit", "-q", "-am", name]);
}

#[test]
fn encrypted_one_sided_changes_merge_without_an_identity() {
    let p = merge_repo(true);
    branch_with(&p, "left", "main", |p| set(p, "LOG_LEVEL", "error"));
    branch_with(&p, "right", "main", |p| {
        set(p, "DB_PASSWORD", "rotated-by-right")
    });
    hide_identity(&p, true);
    git(&p, &["merge", "-q", "--no-edit", "left"]);
    let merged = p.read(".env.prod");
    assert!(!merged.contains("rotated-by-right"));
    assert!(!merged.contains("<<<<<<<"), "{merged}");
    hide_identity(&p, false);
    assert_eq!(get(&p, "LOG_LEVEL"), "error");
    assert_eq!(get(&p, "DB_PASSWORD"), "rotated-by-right");
    // Untouched values kept their ciphertext: only the two changed lines differ from main.
    let out = git_cmd(&p)
        .args(["diff", "--numstat", "main", "--", ".env.prod"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\t2\t.env.prod\n");
}

#[test]
fn encrypted_equal_changes_on_both_sides_merge_with_an_identity() {
    let p = merge_repo(true);
    branch_with(&p, "left", "main", |p| set(p, "LOG_LEVEL", "error"));
    branch_with(&p, "right", "main", |p| set(p, "LOG_LEVEL", "error"));
    // Equal plaintexts, different ciphertexts (fresh nonces).
    assert_ne!(p.read(".env.prod"), {
        git(&p, &["checkout", "-q", "left"]);
        let t = p.read(".env.prod");
        git(&p, &["checkout", "-q", "right"]);
        t
    });
    git(&p, &["merge", "-q", "--no-edit", "left"]);
    assert_eq!(get(&p, "LOG_LEVEL"), "error");
}

/// A branch that re-keyed (a recipient added, then removed) against a branch that changed a
/// value: the driver never takes a new data key silently, identity or not. A key holder
/// settles it by taking the re-keyed side and redoing the value change.
#[test]
fn a_re_keyed_branch_is_a_conflict_for_a_key_holder() {
    let p = merge_repo(true);
    let (_, other) = {
        let a = p.run(&["keygen", "--output", "home/other.txt"]).success();
        ((), stdout(&a).lines().last().unwrap().to_owned())
    };
    // The value change comes first: once this user re-keyed, they no longer seal new values
    // under the old key (the removed reader holds it), on any branch.
    branch_with(&p, "right", "main", |p| set(p, "CACHE_TTL", "60"));
    branch_with(&p, "left", "main", |p| {
        p.run(&["recipients", "add", "--env", "prod", &other])
            .success();
        p.run(&["recipients", "remove", "--env", "prod", &other])
            .success();
    });
    git(&p, &["checkout", "-q", "right"]);
    let a = p.run(&["set", "--env", "prod", "CACHE_TTL", "90"]).code(2);
    assert!(
        stderr(&a).contains("one that a newer key replaced"),
        "{}",
        stderr(&a)
    );
    let before = p.read(".env.prod");
    for hidden in [true, false] {
        hide_identity(&p, hidden);
        let out = git_fails(&p, &["merge", "--no-edit", "left"]);
        assert!(out.contains("theirs replaces the data key"), "{out}");
        assert!(out.contains("envault recipients add"), "{out}");
        assert_eq!(p.read(".env.prod"), before, "ours is left as it was");
        git(&p, &["merge", "--abort"]);
    }
    // The documented way out: take the re-keyed side, redo the value change.
    git_fails(&p, &["merge", "--no-edit", "left"]);
    git(&p, &["checkout", "--theirs", "--", ".env.prod"]);
    set(&p, "CACHE_TTL", "60");
    git(&p, &["add", ".env.prod"]);
    git(&p, &["commit", "-q", "--no-edit"]);
    assert_eq!(get(&p, "CACHE_TTL"), "60");
    let merged = p.read(".env.prod");
    git(&p, &["checkout", "-q", "left"]);
    let id = |t: &str| t.lines().next().unwrap().to_owned();
    assert_eq!(id(&merged), id(&p.read(".env.prod")), "left's data key");
}

#[test]
fn rebase_cherry_pick_and_revert_use_the_driver() {
    let p = merge_repo(false);
    // Both branches append a key at the end of dev: a line merge conflicts every time.
    branch_with(&p, "topic", "main", |p| {
        p.write(".env.dev", &(p.read(".env.dev") + "TOPIC=1\n"))
    });
    git(&p, &["checkout", "-q", "main"]);
    p.write(".env.dev", &(p.read(".env.dev") + "MAIN=1\n"));
    git(&p, &["commit", "-q", "-am", "main adds"]);

    git(&p, &["checkout", "-q", "topic"]);
    git(&p, &["rebase", "-q", "main"]);
    // In a rebase "ours" is upstream: topic's key lands after its predecessor there.
    assert!(
        p.read(".env.dev")
            .ends_with("CACHE_TTL=300\nTOPIC=1\nMAIN=1\n"),
        "{}",
        p.read(".env.dev")
    );

    git(&p, &["checkout", "-q", "-b", "pick", "main~1"]);
    p.write(".env.dev", &(p.read(".env.dev") + "PICK=1\n"));
    git(&p, &["commit", "-q", "-am", "pick base"]);
    git(&p, &["cherry-pick", "topic"]);
    assert!(
        p.read(".env.dev")
            .ends_with("CACHE_TTL=300\nTOPIC=1\nPICK=1\n"),
        "{}",
        p.read(".env.dev")
    );

    // Revert the commit that added MAIN after TOPIC landed next to it.
    git(&p, &["checkout", "-q", "topic"]);
    git(&p, &["revert", "--no-edit", "main"]);
    let dev = p.read(".env.dev");
    assert!(!dev.contains("MAIN=1"), "{dev}");
    assert!(dev.ends_with("TOPIC=1\n"), "{dev}");
}

#[test]
fn add_add_with_no_base() {
    let p = merge_repo(false);
    branch_with(&p, "left", "main", |p| {
        p.write(".env.preview", "A=1\nLEFT=l\n");
        git(p, &["add", ".env.preview"]);
    });
    branch_with(&p, "right", "main", |p| {
        p.write(".env.preview", "A=1\nRIGHT=r\n");
        git(p, &["add", ".env.preview"]);
    });
    git(&p, &["merge", "-q", "--no-edit", "left"]);
    assert_eq!(p.read(".env.preview"), "A=1\nLEFT=l\nRIGHT=r\n");
    // Created on both branches with different values of one key: that key conflicts.
    branch_with(&p, "l2", "main", |p| {
        p.write(".env.qa", "A=1\nB=left\n");
        git(p, &["add", ".env.qa"]);
    });
    branch_with(&p, "r2", "main", |p| {
        p.write(".env.qa", "A=1\nB=right\n");
        git(p, &["add", ".env.qa"]);
    });
    let out = git_fails(&p, &["merge", "--no-edit", "l2"]);
    assert!(out.contains("conflicts in B"), "{out}");
    assert_eq!(
        p.read(".env.qa"),
        "A=1\n<<<<<<< HEAD\nB=right\n=======\nB=left\n>>>>>>> l2\n"
    );
}

/// Runs the driver on fixtures/merge/<case>/{base,ours,theirs}.env; returns the merged file,
/// the exit status and stderr.
fn merge_fixture(case: &Path) -> (String, i32, String) {
    let p = Project::empty();
    for side in ["base", "ours", "theirs"] {
        std::fs::copy(case.join(format!("{side}.env")), p.path(side)).unwrap();
    }
    let out = p
        .cmd()
        .args([
            "merge-driver",
            "base",
            "ours",
            "theirs",
            "7",
            ".env",
            "base",
            "ours",
            "theirs",
        ])
        .output()
        .unwrap();
    (
        p.read("ours"),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/merge")
}

/// fixtures/merge/<case>: the merge gives `expected.env`, with the exit status in
/// `expected.code` (1 for conflicts; 0 when there is no such file).
fn passing_case(name: &str) {
    let case = fixtures().join(name);
    let (merged, code, stderr) = merge_fixture(&case);
    let expected = std::fs::read_to_string(case.join("expected.env")).unwrap();
    let expected_code = std::fs::read_to_string(case.join("expected.code"))
        .map(|c| c.trim().parse().unwrap())
        .unwrap_or(0);
    assert_eq!(merged, expected, "case {name}: {stderr}");
    assert_eq!(code, expected_code, "case {name}: {stderr}");
}

/// fixtures/merge/failing/<case>: a known gap. The merge still gives `current.env`, which
/// differs from `ideal.env`. When a change closes the gap this fails: move the case up to
/// fixtures/merge/ with `ideal.env` as its `expected.env`.
fn failing_case(name: &str) {
    let case = fixtures().join("failing").join(name);
    let (merged, _, stderr) = merge_fixture(&case);
    let current = std::fs::read_to_string(case.join("current.env")).unwrap();
    let ideal = std::fs::read_to_string(case.join("ideal.env")).unwrap();
    assert_ne!(
        current, ideal,
        "case {name}: current and ideal are the same"
    );
    assert_eq!(
        merged,
        current,
        "case {name} merges differently now{}: {stderr}",
        if merged == ideal {
            " (ideally: move it out of failing/)"
        } else {
            ""
        }
    );
}

/// One test per fixture folder, and a check that no folder lacks its test.
macro_rules! merge_cases {
    (passing: $($p:ident),* ; failing: $($f:ident),* $(,)?) => {
        $(
            #[test]
            fn $p() {
                passing_case(&stringify!($p).replace('_', "-"));
            }
        )*
        mod failing {
            use super::failing_case;
            $(
                #[test]
                fn $f() {
                    failing_case(&stringify!($f).replace('_', "-"));
                }
            )*
        }

        #[test]
        fn every_fixture_folder_has_its_test() {
            let listed = |dir: std::path::PathBuf| -> Vec<String> {
                let mut v: Vec<String> = std::fs::read_dir(dir)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "failing")
                    .collect();
                v.sort();
                v
            };
            let mut passing: Vec<String> = vec![$(stringify!($p).replace('_', "-")),*];
            passing.sort();
            let mut failing: Vec<String> = vec![$(stringify!($f).replace('_', "-")),*];
            failing.sort();
            assert_eq!(listed(fixtures()), passing, "fixtures/merge and merge_cases! differ");
            // Git keeps no empty folder: no failing/ is no known gap.
            let gaps = fixtures().join("failing");
            let gaps = if gaps.exists() { listed(gaps) } else { Vec::new() };
            assert_eq!(gaps, failing, "fixtures/merge/failing and merge_cases! differ");
        }
    };
}

merge_cases!(
    passing:
        add_add_no_base,
        blank_line_inserted_beside_a_blank,
        both_add_after_predecessors,
        comment_and_value_of_one_entry,
        comment_changed_beside_blank_lines_added,
        comment_edit_from_theirs,
        comment_edited_on_both_sides,
        comments_travel_with_keys,
        conflict_one_key,
        crlf_kept,
        delete_versus_change,
        deletion_one_side,
        identical_changes,
        key_moved_on_one_side_changed_on_the_other,
        multiline_values,
        one_sided_changes,
        quoting_and_export_kept,
        section_comments_and_blank_lines_from_theirs,
        trailing_comment_edit_from_theirs,
        trailing_comment_of_a_rewritten_entry,
        trailing_comment_without_final_newline,
        unchanged_both,
        unterminated_quote_on_one_side;
    failing:
        lines_of_one_multiline_value,
);

/// A quote one side left open merges as a line merge does, and the driver says so: the line
/// is not an entry (git calls the merge clean), and the warning masks the value.
#[test]
fn a_clean_merge_warns_about_a_line_that_is_not_an_entry() {
    let (merged, code, stderr) = merge_fixture(&fixtures().join("unterminated-quote-on-one-side"));
    assert_eq!(code, 0);
    assert_eq!(merged, "A=\"x-hunter2\nB=2\nC=4\n");
    assert!(
        stderr.contains(
            "envault merge: warning: .env:1: dotenvy refuses it (unterminated double-quoted value"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// A pull request that appends a line in clear to an encrypted file, written so that dotenvy
/// refuses it (other readers read a key and its value there), is refused by the driver rather
/// than merged into the file in clear.
#[test]
fn an_encrypted_file_never_takes_a_line_that_is_not_an_entry() {
    let p = merge_repo(true);
    branch_with(&p, "left", "main", |p| set(p, "LOG_LEVEL", "error"));
    branch_with(&p, "right", "main", |p| {
        p.write(
            ".env.prod",
            &(p.read(".env.prod") + "LEAKED_TOKEN=ghp live token\n"),
        )
    });
    let out = git_fails(&p, &["merge", "--no-edit", "left"]);
    assert!(
        out.contains("holds a line that is not an entry (it would stay in clear)"),
        "{out}"
    );
}
