//! The tutorial driven through the built binary: init, diff, diff-files, sync.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::Stdio;

use crate::common::{git, mode_of, stderr, stdout, Project, TUTORIAL_CONFIG};
use predicates::prelude::*;

const SECRETS: &[&str] = &[
    "dev_password_123",
    "prod_password_789",
    "staging_password_456",
    "dev_key_abc123",
    "staging_key_def456",
];

fn assert_no_secrets(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "secret {s} leaked:\n{text}");
    }
}

// ---- init ----------------------------------------------------------------------------------

#[test]
fn init_writes_the_tutorial_config() {
    let p = Project::empty();
    let a = p.run(&["init", "my-project"]).success();
    assert_eq!(p.read(".envault.yml"), TUTORIAL_CONFIG);
    assert!(stdout(&a).contains("environments dev, staging, prod"));
    assert_eq!(mode_of(&p.path(".envault.yml")), 0o644);
}

#[test]
fn init_never_overwrites_without_force() {
    let p = Project::empty();
    p.write(".envault.yml", "project: mine\nenvironments: {a: .env.a}\n");
    let a = p.run(&["init", "other"]).code(2);
    assert_eq!(
        stderr(&a).replace(p.path("").to_str().unwrap().trim_end_matches('/'), "<root>"),
        "error: <root>/.envault.yml already exists; it was left as it is\n\
         hint: pass --force to replace it\n"
    );
    assert_eq!(
        p.read(".envault.yml"),
        "project: mine\nenvironments: {a: .env.a}\n"
    );
    p.run(&["init", "my-project", "--force"]).success();
    assert_eq!(p.read(".envault.yml"), TUTORIAL_CONFIG);
}

#[test]
fn init_takes_environments_from_existing_files() {
    let p = Project::empty();
    for f in [
        ".env.production",
        ".env.development",
        ".env.example",
        ".env",
    ] {
        p.write(f, "A=1\n");
    }
    // dotenvx's private keys and encrypted bundle, and templates, are never environments.
    for f in [".env.keys", ".env.vault", ".env.sample", ".env.Example"] {
        p.write(f, "A=1\n");
    }
    let a = p.run(&["init", "shop"]).success();
    assert_eq!(
        p.read(".envault.yml"),
        "project: shop\nenvironments:\n  local: .env\n  development: .env.development\n  production: .env.production\nconflict_strategy: source_wins\nskip_keys:\n  - COMMIT_SHA\n  - BUILD_NUMBER\n"
    );
    // The next step it names works now.
    let next = stdout(&a);
    let next = next.lines().last().unwrap().strip_prefix("Next: ").unwrap();
    assert_eq!(next, "envault diff local production");
    let args: Vec<&str> = next.split(' ').skip(1).collect();
    p.run(&args).code(predicates::ord::lt(2));
}

/// A project with only a plain `.env` gets it as `dev`, and a next step that works with one
/// environment; with no env files at all, the next step says which files to create first.
#[test]
fn init_with_one_env_file_or_none() {
    let p = Project::empty();
    p.write(".env", "A=1\n");
    let a = p.run(&["init", "solo"]).success();
    assert!(p.read(".envault.yml").contains("  dev: .env\n"));
    let out = stdout(&a);
    assert!(out.contains("Next: `envault check` reads it"), "{out}");
    p.run(&["check"]).code(predicates::ord::lt(2));

    let p = Project::empty();
    let out = stdout(&p.run(&["init", "new"]).success());
    assert!(
        out.contains("Next: put each environment's variables in .env.dev, .env.staging, .env.prod, then run `envault diff dev prod`\n"),
        "{out}"
    );
}

// ---- diff ----------------------------------------------------------------------------------

const TUTORIAL_DIFF: &str = "\
═══ Diff: dev → prod ═══

Only in dev:
  API_KEY=••••••
  FEATURE_NEW_CHECKOUT=true
  FEATURE_DARK_MODE=false

Only in prod:
  (none)

Different values:
  DB_HOST: localhost → prod-db.internal
  DB_NAME: myapp_dev → myapp_prod
  DB_PASSWORD: •••••• → ••••••
  LOG_LEVEL: debug → warn
  CACHE_TTL: 300 → 1200
";

#[test]
fn diff_dev_prod_matches_the_tutorial_with_secrets_masked() {
    let p = Project::tutorial();
    let a = p.run(&["diff", "dev", "prod"]).code(1);
    assert_eq!(stdout(&a), TUTORIAL_DIFF);
    assert_eq!(stderr(&a), UNMASK_NOTE);
    // Nothing masked, no note.
    let a = p.run(&["diff", "dev", "prod", "--show"]).code(1);
    assert_eq!(stderr(&a), "");
    let a = p.run(&["diff", "dev", "prod", "--format", "json"]).code(1);
    assert_eq!(stderr(&a), "");
}

#[test]
fn diff_show_secrets_reveals_values() {
    let p = Project::tutorial();
    let a = p.run(&["diff", "dev", "prod", "--show-secrets"]).code(1);
    let out = stdout(&a);
    assert!(out.contains("  API_KEY=dev_key_abc123\n"));
    assert!(out.contains("  DB_PASSWORD: dev_password_123 → prod_password_789\n"));
}

#[test]
fn diff_exit_codes_and_quiet() {
    let p = Project::tutorial();
    p.run(&["diff", "dev", "dev"]).code(0);
    let a = p.run(&["diff", "dev", "prod", "--quiet"]).code(1);
    assert_eq!(stdout(&a), "");
    p.write(".env.copy", &p.read(".env.prod"));
    p.run(&["diff-files", ".env.prod", ".env.copy", "-q"])
        .code(0)
        .stdout("");
}

#[test]
fn diff_json_is_masked_and_stable() {
    let p = Project::tutorial();
    let a = p
        .run(&["diff", "staging", "prod", "--format", "json"])
        .code(1);
    let out = stdout(&a);
    assert_no_secrets(&out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["source"], "staging");
    assert_eq!(v["target"], "prod");
    assert_eq!(v["identical"], false);
    assert_eq!(v["only_in_source"][0]["key"], "API_KEY");
    assert_eq!(v["only_in_source"][0]["masked"], true);
    assert_eq!(v["only_in_target"], serde_json::json!([]));
    let changed: Vec<&str> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        [
            "DB_HOST",
            "DB_NAME",
            "DB_PASSWORD",
            "LOG_LEVEL",
            "CACHE_TTL"
        ]
    );
    assert_eq!(v["changed"][0]["source"], "staging-db.internal");
    assert_eq!(v["changed"][2]["source"], "••••••");
    // JSON is never coloured, even when asked.
    let a = p.run(&[
        "diff", "dev", "prod", "--format", "json", "--color", "always",
    ]);
    assert!(!stdout(&a).contains('\x1b'));
}

#[test]
fn diff_files_needs_no_config() {
    let p = Project::empty();
    p.write("a.env", "A=1\nSAME=x\nSMTP_PASS=hunter22\n");
    p.write("b.env", "A=2\nSAME=x\nONLY_B=\"multi\nline\"\n");
    let a = p.run(&["diff-files", "a.env", "b.env"]).code(1);
    assert_eq!(
        stdout(&a),
        "═══ Diff: a.env → b.env ═══\n\nOnly in a.env:\n  SMTP_PASS=••••••\n\nOnly in b.env:\n  ONLY_B=multi\\nline\n\nDifferent values:\n  A: 1 → 2\n"
    );
}

#[test]
fn multiline_changes_show_a_line_diff() {
    let p = Project::empty();
    p.write("a.env", "CERT=\"one\\ntwo\\nthree\"\n");
    p.write("b.env", "CERT=\"one\\n2\\nthree\"\n");
    let a = p.run(&["diff-files", "a.env", "b.env"]).code(1);
    assert!(
        stdout(&a)
            .ends_with("Different values:\n  CERT:\n      one\n    - two\n    + 2\n      three\n"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let p = Project::tutorial();
    let a = p.run(&["diff", "dev", "prod", "--color", "always"]);
    assert!(stdout(&a).contains("\x1b["));
    let a = p.run(&["diff", "dev", "prod"]);
    assert!(!stdout(&a).contains('\x1b'), "not a terminal: no colour");
    let a = p.run(&["diff", "dev", "prod", "--color", "never"]);
    assert!(!stdout(&a).contains('\x1b'));
}

#[test]
fn unknown_environment_suggests_a_name() {
    let p = Project::tutorial();
    p.run(&["diff", "dev", "prd"]).code(2).stderr(
        "error: unknown environment 'prd' (known: dev, staging, prod)\nhint: did you mean 'prod'?\n",
    );
}

#[test]
fn missing_config_says_where_it_looked() {
    let p = Project::empty();
    fs::create_dir(p.path("sub")).unwrap();
    let a = p
        .cmd()
        .current_dir(p.path("sub"))
        .args(["diff", "dev", "prod"])
        .assert()
        .code(2);
    assert_eq!(
        stderr(&a).replace(p.path("").to_str().unwrap().trim_end_matches('/'), "<root>"),
        "error: no .envault.yml found in <root>/sub or any folder above it up to <root>\n\
         hint: run `envault init <project>` to create one, or point at it with --config PATH or ENVAULT_CONFIG\n"
    );
}

#[test]
fn config_is_found_upwards_and_overridable() {
    let p = Project::tutorial();
    fs::create_dir_all(p.path("deep/er")).unwrap();
    p.cmd()
        .current_dir(p.path("deep/er"))
        .args(["diff", "dev", "prod", "-q"])
        .assert()
        .code(1);

    fs::create_dir(p.path("other")).unwrap();
    p.write(
        "other/.envault.yml",
        "environments:\n  x: ../.env.dev\n  y: ../.env.dev\n",
    );
    p.run(&["--config", "other/.envault.yml", "diff", "x", "y"])
        .code(0);
    p.cmd()
        .env("ENVAULT_CONFIG", p.path("other/.envault.yml"))
        .args(["diff", "x", "y"])
        .assert()
        .code(0);

    // `.envault.yaml` is found too; both side by side is refused, not guessed at.
    fs::create_dir(p.path("yaml")).unwrap();
    p.write(
        "yaml/.envault.yaml",
        "environments:\n  x: ../.env.dev\n  y: ../.env.prod\n",
    );
    p.cmd()
        .current_dir(p.path("yaml"))
        .args(["diff", "x", "y", "-q"])
        .assert()
        .code(1);
    p.write(
        "yaml/.envault.yml",
        "environments:\n  x: ../.env.dev\n  y: ../.env.dev\n",
    );
    let a = p
        .cmd()
        .current_dir(p.path("yaml"))
        .args(["diff", "x", "y", "-q"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("both .envault.yml and .envault.yaml are in ")
            && stderr(&a).contains("hint: keep one of the two files"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn bad_config_points_at_the_line() {
    let p = Project::tutorial();
    p.write(
        ".envault.yml",
        "project: x\nenvironments:\n  dev: .env.dev\nconflict_stratgy: source_wins\n",
    );
    let a = p.run(&["diff", "dev", "dev"]).code(2);
    let err = stderr(&a);
    assert!(
        err.contains(".envault.yml:4:1: unknown field `conflict_stratgy`"),
        "{err}"
    );
    assert!(
        err.contains("hint: did you mean 'conflict_strategy'?"),
        "{err}"
    );
}

#[test]
fn lines_dotenvy_refuses_are_kept_and_named_with_the_value_masked() {
    let p = Project::tutorial();
    p.write(
        ".env.prod",
        "DB_HOST=prod-db.internal\nDB_PASSWORD=super secret value\n",
    );
    let a = p.run(&["sync", "prod", "dev"]).code(0);
    let err = stderr(&a);
    assert!(
        err.contains("warning: .env.prod:2: dotenvy refuses it (whitespace inside an unquoted value); read on its own, node dotenv reads DB_PASSWORD=••••••, python-dotenv reads DB_PASSWORD=••••••, phpdotenv refuses it and fails the whole file, ruby dotenv reads DB_PASSWORD=••••••; envault keeps the line as written and leaves it out of diff and sync"),
        "{err}"
    );
    assert!(
        !err.contains("super") && !err.contains("secret value"),
        "{err}"
    );
    assert!(!p.read(".env.dev").contains("super"), "not synced");
    assert_eq!(
        p.read(".env.prod"),
        "DB_HOST=prod-db.internal\nDB_PASSWORD=super secret value\n",
        "kept byte for byte"
    );
}

/// A word alone on a line, such as a line of a value that spans lines which dotenvy refuses,
/// may be a password: warnings, `check` and `textconv` never name it as a key, unless it is
/// written as env names are (upper case).
#[test]
fn a_word_alone_on_a_line_is_never_shown_as_a_key() {
    let p = Project::tutorial();
    git(&p, &["init", "-q"]);
    for (text, secret) in [
        ("K=\"x\nP4ssw0rd\n\\q\"\nB=2\n", "P4ssw0rd"),
        ("A=\n\"hunter2\"\nB=2\n", "hunter2"),
        ("A=1\ncorrect-horse\n", "correct-horse"),
        // Every other reader ends the comment at the lone CR.
        ("# note\rcrword55\nA=1\n", "crword55"),
        // node's dotenv ends a comment at U+2028 (found by a review: textconv showed it).
        ("# note\u{2028}DB_PASSWORD=lsword77\nA=1\n", "lsword77"),
    ] {
        p.write(".env.dev", text);
        for args in [
            &["export", "--env", "dev", "--format", "json"][..],
            &["diff-files", ".env.dev", ".env.prod"],
            &["check"],
            &["textconv", ".env.dev"],
        ] {
            let a = p.run(args);
            let out = format!("{}{}", stdout(&a), stderr(&a));
            assert!(!out.contains(secret), "{args:?} on {text:?}: {out}");
        }
    }
    // A conventional name without `=` is still named.
    p.write(".env.dev", "A=1\nFEATURE_FLAG\n");
    let a = p.run(&["export", "--env", "dev"]);
    assert!(
        stderr(&a).contains("reads FEATURE_FLAG without a value"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn binary_files_are_rejected_clearly() {
    let p = Project::empty();
    fs::write(p.path("a.env"), b"A=1\n\xff\xfe\x00\x01").unwrap();
    p.write("b.env", "A=1\n");
    let a = p.run(&["diff-files", "a.env", "b.env"]).code(2);
    assert!(
        stderr(&a).contains("a.env:2:1: not valid UTF-8 text"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let p = Project::empty();
    let big: String = (0..20_000)
        .map(|i| format!("KEY_{i}=value_{i}\n"))
        .collect();
    p.write("a.env", &big);
    p.write("b.env", "");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("envault"))
        .current_dir(p.dir.path())
        .args(["diff-files", "a.env", "b.env"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("Diff"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
}

// ---- sync ----------------------------------------------------------------------------------

const TUTORIAL_DRY_RUN: &str = "\
═══ Dry Run: sync dev → prod ═══

Would add:
  API_KEY=••••••
  FEATURE_NEW_CHECKOUT=true
  FEATURE_DARK_MODE=false

Would update:
  LOG_LEVEL: warn → debug
  CACHE_TTL: 1200 → 300

Kept (environment-specific):
  DB_HOST: prod-db.internal (prod's value names 'prod')
  DB_NAME: myapp_prod (dev's value names 'dev')
  DB_PASSWORD: •••••• (secret)
  (to copy these too, add --include-env-specific)

Dry run: 3 added, 2 updated, 3 kept, 0 deleted; nothing written.
";

/// The one line masked output ends with, on stderr.
const UNMASK_NOTE: &str =
    "note: values shown as •••••• are masked; add --show-secrets (or --show) to print them\n";

#[test]
fn sync_dry_run_shows_the_plan_and_changes_nothing() {
    let p = Project::tutorial();
    let before = fs::read(p.path(".env.prod")).unwrap();
    let mtime = fs::metadata(p.path(".env.prod"))
        .unwrap()
        .modified()
        .unwrap();
    let a = p.run(&["sync", "dev", "prod", "--dry-run"]).success();
    assert_eq!(stdout(&a), TUTORIAL_DRY_RUN);
    // Warnings come after the report (held back while it is made), then the unmask note.
    assert_eq!(
        stderr(&a),
        format!("warning: API_KEY: the value added to prod names 'dev', the source environment; check that it belongs in prod\n{UNMASK_NOTE}")
    );
    assert_eq!(fs::read(p.path(".env.prod")).unwrap(), before);
    assert_eq!(
        fs::metadata(p.path(".env.prod"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
}

#[test]
fn sync_writes_the_plan_keeping_layout() {
    let p = Project::tutorial();
    p.write(
        ".env.prod",
        "# Production — edit with care\nDB_HOST=prod-db.internal\nDB_PORT=5432\r\n\nDB_NAME=myapp_prod # the main db\nDB_PASSWORD='prod_password_789'\nLOG_LEVEL=\"warn\"\nCACHE_TTL=1200",
    );
    fs::set_permissions(p.path(".env.prod"), fs::Permissions::from_mode(0o640)).unwrap();
    let a = p.run(&["sync", "dev", "prod"]).success();
    let out = stdout(&a);
    assert!(
        out.starts_with("═══ Sync: dev → prod ═══\n\nAdded:\n  API_KEY=••••••\n"),
        "{out}"
    );
    assert!(
        out.contains("Synced dev → prod: 3 added, 2 updated, 3 kept, 0 deleted."),
        "{out}"
    );
    assert_no_secrets(&out);
    assert_eq!(
        p.read(".env.prod"),
        "# Production — edit with care\nDB_HOST=prod-db.internal\nDB_PORT=5432\r\n\nDB_NAME=myapp_prod # the main db\nDB_PASSWORD='prod_password_789'\nAPI_KEY=dev_key_abc123\nLOG_LEVEL=\"debug\"\nFEATURE_NEW_CHECKOUT=true\nFEATURE_DARK_MODE=false\nCACHE_TTL=300",
        "untouched bytes stay, including the missing final newline"
    );
    assert_eq!(mode_of(&p.path(".env.prod")), 0o640);
    // Synced keys now agree; what stays different is the environment-specific set.
    let a = p.run(&["diff", "dev", "prod", "--format", "json"]).code(1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let changed: Vec<&str> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["DB_HOST", "DB_NAME", "DB_PASSWORD"]);
    assert_eq!(v["only_in_source"], serde_json::json!([]));
}

#[test]
fn sync_strategies_skips_and_deletes() {
    let p = Project::tutorial();
    let a = p
        .run(&[
            "sync",
            "dev",
            "prod",
            "--dry-run",
            "--strategy",
            "target_wins",
        ])
        .success();
    let out = stdout(&a);
    assert!(!out.contains("Would update:"), "{out}");
    assert!(out.contains("Kept (target wins):\n  LOG_LEVEL: warn (target wins)\n  CACHE_TTL: 1200 (target wins)\n"), "{out}");

    let a = p
        .run(&[
            "sync",
            "dev",
            "prod",
            "--dry-run",
            "--skip",
            "LOG_LEVEL",
            "--skip",
            "FEATURE_*",
        ])
        .success();
    let out = stdout(&a);
    assert!(
        out.contains("Would update:\n  CACHE_TTL: 1200 → 300\n\n"),
        "{out}"
    );
    assert!(
        out.contains("Skipped:\n  LOG_LEVEL\n  FEATURE_NEW_CHECKOUT\n  FEATURE_DARK_MODE\n"),
        "{out}"
    );

    p.write(
        ".env.prod",
        &format!("{}OLD_FLAG=1\nCOMMIT_SHA=abc\n", p.read(".env.prod")),
    );
    p.run(&["sync", "dev", "prod", "--allow-delete"]).success();
    let prod = p.read(".env.prod");
    assert!(!prod.contains("OLD_FLAG"), "{prod}");
    assert!(
        prod.contains("COMMIT_SHA=abc\n"),
        "skipped keys are never deleted: {prod}"
    );

    p.run(&["sync", "dev", "prod", "--include-env-specific"])
        .success();
    assert_eq!(
        p.read(".env.prod").lines().next(),
        Some("DB_HOST=localhost")
    );
}

#[test]
fn sync_creates_a_missing_target_privately() {
    let p = Project::tutorial();
    fs::remove_file(p.path(".env.staging")).unwrap();
    p.run(&["sync", "dev", "staging"]).success();
    assert_eq!(p.read(".env.staging"), p.read(".env.dev"));
    assert_eq!(mode_of(&p.path(".env.staging")), 0o600);
}

#[test]
fn sync_writes_through_a_symlink() {
    let p = Project::tutorial();
    fs::create_dir(p.path("shared")).unwrap();
    fs::rename(p.path(".env.prod"), p.path("shared/prod.env")).unwrap();
    symlink("shared/prod.env", p.path(".env.prod")).unwrap();
    p.run(&["sync", "dev", "prod"]).success();
    assert!(fs::symlink_metadata(p.path(".env.prod"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(p
        .read("shared/prod.env")
        .contains("FEATURE_DARK_MODE=false"));
}

#[test]
fn sync_json_plan() {
    let p = Project::tutorial();
    let a = p
        .run(&["sync", "dev", "prod", "--dry-run", "--format", "json"])
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_no_secrets(&stdout(&a));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["written"], false);
    assert_eq!(v["update"][0]["key"], "LOG_LEVEL");
    assert_eq!(v["update"][0]["source"], "debug");
    assert_eq!(v["kept"][2]["reason"], "secret");
}

#[test]
fn missing_files_are_clear_errors_and_nothing_is_written() {
    let p = Project::tutorial();
    fs::remove_file(p.path(".env.dev")).unwrap();
    p.run(&["diff", "dev", "prod"]).code(2).stderr(
        "error: .env.dev does not exist\nhint: create the file, or fix the path of 'dev' under `environments:`\n",
    );
    let before = p.read(".env.prod");
    p.run(&["sync", "dev", "prod"]).code(2);
    assert_eq!(p.read(".env.prod"), before);

    let p = Project::tutorial();
    p.write(
        ".envault.yml",
        "environments:\n  dev: .env.dev\n  gone: nowhere/.env.gone\n",
    );
    let a = p.run(&["sync", "dev", "gone"]).code(2);
    assert!(
        stderr(&a).contains("cannot create a temporary file in nowhere"),
        "{}",
        stderr(&a)
    );
    assert!(!p.path("nowhere").exists());
}

#[test]
fn sync_into_itself_is_an_error() {
    let p = Project::tutorial();
    p.run(&["sync", "dev", "dev"])
        .code(2)
        .stderr(predicate::str::contains("into itself"));
}

// ---- help and completions --------------------------------------------------------------------

#[test]
fn every_command_has_help_with_an_example() {
    let p = Project::empty();
    for cmd in [
        "init",
        "diff",
        "diff-files",
        "sync",
        "rotate",
        "rotate-all",
        "keygen",
        "encrypt",
        "decrypt",
        "edit",
        "get",
        "set",
        "export",
        "recipients",
        "run",
        "completions",
    ] {
        let a = p.run(&[cmd, "--help"]).success();
        assert!(
            stdout(&a).contains("Examples:\n  envault "),
            "{cmd}: {}",
            stdout(&a)
        );
    }
    let a = p.run(&["--help"]).success();
    assert!(stdout(&a).contains("Examples:"));
}

#[test]
fn completions_for_each_shell() {
    let p = Project::empty();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let a = p.run(&["completions", shell]).success();
        assert!(stdout(&a).contains("diff-files"), "{shell}");
    }
    p.run(&["completions", "tcsh"]).code(2);
}

/// A closed stderr (`2>&1 | head -1`) never turns an outcome into a panic (exit 101).
#[test]
fn a_closed_stderr_does_not_panic() {
    let p = Project::tutorial();
    for args in [&["get", "--env", "nosuch", "X"][..], &["check"][..]] {
        let bin = assert_cmd::cargo::cargo_bin("envault");
        let mut child = std::process::Command::new(bin)
            .args(args)
            .current_dir(p.dir.path())
            .env("HOME", p.path("home"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(101), "{args:?}");
        assert!(status.code().is_some(), "{args:?}: killed by a signal");
    }
}

/// One flag reveals secrets everywhere: `--show-secrets`, with `--show` as its alias.
#[test]
fn show_and_show_secrets_are_one_flag() {
    let p = Project::tutorial();
    let long = p.run(&["diff", "dev", "prod", "--show-secrets"]).code(1);
    let short = p.run(&["diff", "dev", "prod", "--show"]).code(1);
    assert_eq!(stdout(&long), stdout(&short));
    assert!(
        stdout(&short).contains("prod_password_789"),
        "{}",
        stdout(&short)
    );
    let a = p
        .run(&[
            "rotate",
            "DB_PASSWORD",
            "--env",
            "prod",
            "--dry-run",
            "--show-secrets",
        ])
        .success();
    assert!(!stdout(&a).contains("••••"), "{}", stdout(&a));
    let a = p
        .run(&["sync", "dev", "prod", "--dry-run", "--show"])
        .success();
    assert!(!stdout(&a).contains("••••"), "{}", stdout(&a));
}
