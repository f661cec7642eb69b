//! Pinned outputs: every `--help` text and the text and JSON outputs of the tutorial's
//! commands, as snapshot files under `tests/it/snapshots/`. A change of output shows up as a
//! diff of a reviewed file. After an intended change: `cargo insta review` (or run the tests
//! with `INSTA_UPDATE=always` and read `git diff tests/it/snapshots`).

use crate::common::Project;

/// What a terminal shows for one command: the command line, its exit status, stdout and
/// stderr, with the scratch folder's path (which differs per run) written as `[PROJECT]`.
fn transcript(p: &Project, args: &[&str]) -> String {
    let out = p.cmd().args(args).output().expect("envault runs");
    let root = p.dir.path().display().to_string();
    let clean = |bytes: &[u8]| {
        let text = String::from_utf8(bytes.to_vec()).expect("output is UTF-8");
        scrub_rotation_ids(&text.replace(&root, "[PROJECT]"))
    };
    format!(
        "$ envault {}\nexit status: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status
            .code()
            .map_or("signal".to_owned(), |c| c.to_string()),
        clean(&out.stdout),
        clean(&out.stderr),
    )
}

/// A rotation's backup file is in its project's folder (`<name>-<16 hex>`), named by its time:
/// `rotations/<folder>/<digits>.json` → `rotations/[PROJECT-FOLDER]/[ID].json`.
fn scrub_rotation_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("rotations/") {
        let (head, tail) = rest.split_at(at + "rotations/".len());
        out.push_str(head);
        let folder = tail.find('/').map(|i| &tail[..i]).filter(|f| {
            f.rsplit_once('-')
                .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        let file = folder.map_or(tail, |f| &tail[f.len() + 1..]);
        let digits = file.bytes().take_while(u8::is_ascii_digit).count();
        if folder.is_some() && digits > 0 && file[digits..].starts_with(".json") {
            out.push_str("[PROJECT-FOLDER]/[ID]");
            rest = &file[digits..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let Some(start) = help.find("\nCommands:\n") else {
        return Vec::new();
    };
    help[start + "\nCommands:\n".len()..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

/// Every command's `--help`, nested subcommands included, found by walking the help texts.
#[test]
fn help_texts() {
    let p = Project::empty();
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = 0;
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let text = transcript(&p, &args);
        let name = if path.is_empty() {
            "help".to_owned()
        } else {
            format!("help-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, text);
        seen += 1;
        for sub in subcommands(&text) {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
    }
    // The walk found the commands (a changed help layout must not shrink this to nothing).
    assert!(seen > 25, "only {seen} help texts found");
}

/// The tutorial's project, step by step, as the tutorial runs it.
#[test]
fn tutorial_outputs() {
    let p = Project::empty();
    insta::assert_snapshot!("init", transcript(&p, &["init", "my-project"]));
    insta::assert_snapshot!("init-config", p.read(".envault.yml"));

    let p = Project::tutorial();
    let steps: &[(&str, &[&str])] = &[
        ("diff", &["diff", "dev", "prod"]),
        ("diff-json", &["diff", "dev", "prod", "--format", "json"]),
        (
            "diff-show-secrets",
            &["diff", "dev", "prod", "--show-secrets"],
        ),
        ("diff-unknown-env", &["diff", "dev", "nope"]),
        ("diff-files", &["diff-files", ".env.dev", ".env.prod"]),
        (
            "diff-files-json",
            &["diff-files", ".env.dev", ".env.prod", "--format", "json"],
        ),
        ("sync-dry-run", &["sync", "dev", "prod", "--dry-run"]),
        (
            "sync-dry-run-json",
            &["sync", "dev", "prod", "--dry-run", "--format", "json"],
        ),
        (
            "sync-target-wins",
            &[
                "sync",
                "dev",
                "prod",
                "--dry-run",
                "--strategy",
                "target_wins",
            ],
        ),
        (
            "sync-allow-delete",
            &["sync", "staging", "dev", "--dry-run", "--allow-delete"],
        ),
        (
            "sync-skip",
            &[
                "sync",
                "dev",
                "prod",
                "--dry-run",
                "--skip",
                "LOG_LEVEL",
                "--skip",
                "CACHE_TTL",
            ],
        ),
        ("matrix", &["matrix"]),
        ("matrix-json", &["matrix", "--format", "json"]),
        ("check", &["check"]),
        ("check-json", &["check", "--format", "json"]),
        ("rotate-dry-run", &["rotate", "DB_PASSWORD", "--dry-run"]),
    ];
    for (name, args) in steps {
        insta::assert_snapshot!(*name, transcript(&p, args));
    }
    // A scan of the working tree: the tutorial's files and a note with a token in it.
    p.write(
        "notes.txt",
        "deploy token: ghp_Wq3ZpL8vNc2RtY6mKd4HsX9bJf1AeG7uTo5i\n",
    );
    for (name, format) in [
        ("scan", "text"),
        ("scan-json", "json"),
        ("scan-sarif", "sarif"),
    ] {
        insta::assert_snapshot!(name, transcript(&p, &["scan", "--format", format]));
    }
    std::fs::remove_file(p.path("notes.txt")).unwrap();
    insta::assert_snapshot!("sync", transcript(&p, &["sync", "dev", "prod"]));
    insta::assert_snapshot!("sync-result", p.read(".env.prod"));
    insta::assert_snapshot!("rotate", transcript(&p, &["rotate", "DB_PASSWORD"]));
}

/// The man page's ENVIRONMENT section names every variable `--help` lists, and the page
/// does not repeat the plain-text list.
#[test]
fn man_page_lists_the_environment() {
    let p = Project::empty();
    let help = crate::common::stdout(&p.run(&["--help"]).success());
    let section = &help[help
        .find("\nEnvironment:\n")
        .expect("an Environment section")..];
    let names: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(str::trim)
        .collect();
    assert!(names.contains(&"ENVAULT_IDENTITY_KEY"), "{names:?}");
    assert!(names.contains(&"VAULT_TOKEN"), "{names:?}");
    let man = crate::common::stdout(&p.run(&["man"]).success());
    let env = &man[man
        .find(".SH ENVIRONMENT\n")
        .expect("an ENVIRONMENT section")..];
    for name in &names {
        assert!(
            env.contains(&format!("\\fB{}\\fR", name.replace('-', "\\-"))),
            "{name} is missing from the man page"
        );
    }
    assert!(!man.contains("Environment:"), "the plain list is repeated");
}
