//! `envault rotate` and `rotate-all` driven through the built binary.

use std::fs;

use crate::common::{stderr, stdout, Project};
use envault::dotenv::Document;

fn value(p: &Project, file: &str, key: &str) -> Option<String> {
    Document::parse(&p.read(file))
        .unwrap()
        .get(key)
        .map(str::to_owned)
}

const FILES: [&str; 3] = [".env.dev", ".env.staging", ".env.prod"];

/// Lines of `after` that differ from `before` (same line count expected).
fn changed_lines(before: &str, after: &str) -> Vec<String> {
    assert_eq!(before.lines().count(), after.lines().count());
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b.split('=').next().unwrap().to_owned())
        .collect()
}

fn is_shell_safe_password(v: &str) -> bool {
    let symbols = "@%+=_-.,:";
    v.len() == 24
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || symbols.contains(c))
        && !v.chars().any(|c| "0Oo1lI|".contains(c))
        && v.chars().any(|c| c.is_ascii_uppercase())
        && v.chars().any(|c| c.is_ascii_lowercase())
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| symbols.contains(c))
}

#[test]
fn tutorial_rotation_gives_each_environment_its_own_value() {
    let p = Project::tutorial();
    let before: Vec<String> = FILES.iter().map(|f| p.read(f)).collect();
    let a = p.run(&["rotate", "DB_PASSWORD"]).success();
    let out = stdout(&a);
    let bullets = "•".repeat(24);
    assert!(
        out.starts_with(&format!(
            "Key: DB_PASSWORD\nType: database password (inferred from key name)\nGenerated:\n  .env.dev       {bullets}\n  .env.staging   {bullets}\n  .env.prod      {bullets}\nUpdated in: .env.dev, .env.staging, .env.prod\nPrevious values saved to "
        )),
        "{out}"
    );
    let values: Vec<String> = FILES
        .iter()
        .map(|f| value(&p, f, "DB_PASSWORD").unwrap())
        .collect();
    for (f, v) in FILES.iter().zip(&values) {
        assert!(is_shell_safe_password(v), "{f}: {v}");
        assert!(!out.contains(v.as_str()), "the value is masked");
    }
    assert!(values[0] != values[1] && values[1] != values[2] && values[0] != values[2]);
    for (f, b) in FILES.iter().zip(&before) {
        assert_eq!(
            changed_lines(b, &p.read(f)),
            ["DB_PASSWORD"],
            "{f}: only that line"
        );
    }
    // The backup is private, in the project's own folder, and holds the old values for --undo.
    let folders: Vec<_> = fs::read_dir(p.path("state/envault/rotations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let backups: Vec<_> = fs::read_dir(&folders[0]).unwrap().collect();
    assert_eq!(backups.len(), 1);
    let backup = backups[0].as_ref().unwrap().path();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(fs::read_to_string(&backup)
        .unwrap()
        .contains("prod_password_789"));

    let a = p.run(&["rotate", "--undo"]).success();
    assert!(
        stdout(&a).starts_with("Undid `envault rotate DB_PASSWORD`"),
        "{}",
        stdout(&a)
    );
    for (f, b) in FILES.iter().zip(&before) {
        assert_eq!(&p.read(f), b, "{f} restored byte for byte");
    }
    p.run(&["rotate", "--undo"])
        .code(2)
        .stderr(predicates::str::contains("no rotation to undo"));
}

/// Two projects share one user (one state folder): an undo in one never restores the other's
/// rotation, `--undo --list` shows only the project's own, and the project's undo still works.
#[test]
fn undo_belongs_to_the_project_it_was_made_in() {
    let a = Project::tutorial();
    let b = Project::tutorial();
    let state = a.path("state");
    let in_b = |args: &[&str]| b.cmd().env("XDG_STATE_HOME", &state).args(args).assert();
    let a_before = a.read(".env.prod");
    a.run(&["rotate", "DB_PASSWORD", "--env", "prod"]).success();
    let a_rotated = a.read(".env.prod");
    assert_ne!(a_rotated, a_before);

    let e = in_b(&["rotate", "--undo"]).code(2);
    let err = stderr(&e);
    assert!(err.contains("no rotation to undo in"), "{err}");
    assert_eq!(a.read(".env.prod"), a_rotated, "project A untouched");
    let listed = stdout(&in_b(&["rotate", "--undo", "--list"]).success());
    assert!(listed.contains("(none in the last 30 days)"), "{listed}");

    let listed = stdout(&a.run(&["rotate", "--undo", "--list"]).success());
    assert!(
        listed.contains("next  just now") && listed.contains("envault rotate DB_PASSWORD"),
        "{listed}"
    );
    assert!(listed.contains("1 value(s) in .env.prod"), "{listed}");
    assert_eq!(a.read(".env.prod"), a_rotated, "--list changes nothing");
    a.run(&["rotate", "--undo"]).success();
    assert_eq!(a.read(".env.prod"), a_before);
    // --list without --undo is a usage error.
    a.run(&["rotate", "--list"]).code(2);
}

/// An undo writes only files inside its project, as every other command: not through a file
/// replaced by a symlink since the rotation, not where a planted backup points, and not from a
/// folder others may write. A backup it cannot read is skipped with a warning.
#[test]
fn undo_never_writes_outside_the_project() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::tutorial();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.env");
    fs::write(&victim, "USER=me\n").unwrap();
    p.run(&["rotate", "DB_PASSWORD", "--env", "prod"]).success();
    let folder = fs::read_dir(p.path("state/envault/rotations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.is_dir())
        .unwrap();

    // The env file swapped for a symlink to a file outside: refused, --force too.
    let prod = fs::read(p.path(".env.prod")).unwrap();
    fs::remove_file(p.path(".env.prod")).unwrap();
    std::os::unix::fs::symlink(&victim, p.path(".env.prod")).unwrap();
    for args in [
        &["rotate", "--undo"][..],
        &["rotate", "--undo", "--force"][..],
    ] {
        let e = p.run(args).code(2);
        assert!(stderr(&e).contains("outside"), "{}", stderr(&e));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "USER=me\n");
    }
    fs::remove_file(p.path(".env.prod")).unwrap();
    fs::write(p.path(".env.prod"), &prod).unwrap();

    // A planted backup naming a file outside, newer than the real one, and an unreadable one.
    let planted = format!(
        r#"{{"version":2,"command":"rotate X\u001b[31m","project":{},"changes":[{{"file":{},"key":"USER","old":"evil","new":"me"}}]}}"#,
        serde_json::to_string(&folder_project(&p)).unwrap(),
        serde_json::to_string(&victim).unwrap()
    );
    fs::write(folder.join("99999999999999999.json"), planted).unwrap();
    fs::write(
        p.path("state/envault/rotations/1700000000000000000.json"),
        "{not json",
    )
    .unwrap();
    fs::set_permissions(
        folder.join("99999999999999999.json"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let a = p.run(&["rotate", "--undo", "--list"]).success();
    let (out, err) = (stdout(&a), stderr(&a));
    assert!(out.contains("envault rotate DB_PASSWORD"), "{out}");
    assert!(!out.contains("rotate X"), "{out}");
    assert!(
        err.contains("victim.env resolves outside this project; left alone"),
        "{err}"
    );
    assert!(err.contains("1700000000000000000.json"), "{err}");
    p.run(&["rotate", "--undo", "--force"]).success();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "USER=me\n");

    // A project folder others may write: nothing in it is trusted.
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o777)).unwrap();
    let e = p.run(&["rotate", "--undo", "--list"]).code(2);
    assert!(stderr(&e).contains("are not private"), "{}", stderr(&e));
    assert!(stderr(&e).contains("chmod 700"), "{}", stderr(&e));
}

/// The project folder as envault records it (symlinks resolved).
fn folder_project(p: &Project) -> std::path::PathBuf {
    fs::canonicalize(p.dir.path()).unwrap()
}

#[test]
fn same_value_dry_run_and_show() {
    let p = Project::tutorial();
    let before: Vec<String> = FILES.iter().map(|f| p.read(f)).collect();
    let a = p
        .run(&[
            "rotate",
            "DB_PASSWORD",
            "--same-value",
            "--dry-run",
            "--show",
        ])
        .success();
    let out = stdout(&a);
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("Generated: "))
        .expect("one Generated line");
    assert!(is_shell_safe_password(generated), "{out}");
    assert!(out.contains("Dry run: nothing written."));
    for (f, b) in FILES.iter().zip(&before) {
        assert_eq!(&p.read(f), b);
    }
    p.run(&["rotate", "DB_PASSWORD", "--same-value"]).success();
    let values: Vec<String> = FILES
        .iter()
        .map(|f| value(&p, f, "DB_PASSWORD").unwrap())
        .collect();
    assert!(values[0] == values[1] && values[1] == values[2]);
}

#[test]
fn embedded_old_values_are_updated_too() {
    let p = Project::tutorial();
    p.write(
        ".env.prod",
        &format!(
            "{}DATABASE_URL=postgres://app:prod_password_789@prod-db.internal:5432/myapp?sslmode=require\n",
            p.read(".env.prod")
        ),
    );
    let before = p.read(".env.prod");
    let a = p
        .run(&["rotate", "DB_PASSWORD", "--env", "prod", "--keep-previous"])
        .success();
    assert!(
        stdout(&a).contains("Also updated: DATABASE_URL (.env.prod)\n"),
        "{}",
        stdout(&a)
    );
    let pw = value(&p, ".env.prod", "DB_PASSWORD").unwrap();
    let url = value(&p, ".env.prod", "DATABASE_URL").unwrap();
    let encoded: String = pw
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    assert_eq!(
        url,
        format!("postgres://app:{encoded}@prod-db.internal:5432/myapp?sslmode=require")
    );
    assert_eq!(
        value(&p, ".env.prod", "DB_PASSWORD_PREVIOUS").as_deref(),
        Some("prod_password_789")
    );
    assert_eq!(
        value(&p, ".env.dev", "DB_PASSWORD").as_deref(),
        Some("dev_password_123"),
        "--env prod only"
    );
    // Undo puts back the password and the URL, and removes the added _PREVIOUS key.
    p.run(&["rotate", "--undo"]).success();
    assert_eq!(p.read(".env.prod"), before);
}

#[test]
fn formats_follow_the_key_name() {
    let p = Project::tutorial();
    p.write(
        ".env.dev",
        "API_KEY=sk_test_v2_abc123\nJWT_SECRET=old\nWEBHOOK_SECRET=old\nSESSION_TOKEN=old\nSESSION_KEY=old\n",
    );
    p.write(
        ".envault.yml",
        "environments:\n  dev: .env.dev\nrotation:\n  SESSION_KEY: {kind: hex, length: 48}\n",
    );
    for key in [
        "API_KEY",
        "JWT_SECRET",
        "WEBHOOK_SECRET",
        "SESSION_TOKEN",
        "SESSION_KEY",
    ] {
        p.run(&["rotate", key]).success();
    }
    let api = value(&p, ".env.dev", "API_KEY").unwrap();
    let rest = api
        .strip_prefix("sk_test_v3_")
        .expect("prefix kept, version bumped");
    assert!(
        rest.len() >= 32 && rest.chars().all(|c| c.is_ascii_alphanumeric()),
        "{api}"
    );
    let jwt = value(&p, ".env.dev", "JWT_SECRET").unwrap();
    assert_eq!(jwt.len(), 44, "256 bits of base64: {jwt}");
    let hook = value(&p, ".env.dev", "WEBHOOK_SECRET").unwrap();
    assert!(
        hook.len() == 64
            && hook
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let token = value(&p, ".env.dev", "SESSION_TOKEN").unwrap();
    assert!(token.len() == 32 && token.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        value(&p, ".env.dev", "SESSION_KEY").unwrap().len(),
        96,
        "48 bytes in hex"
    );

    p.run(&["rotate", "WEBHOOK_SECRET", "--length", "64"])
        .success();
    assert_eq!(value(&p, ".env.dev", "WEBHOOK_SECRET").unwrap().len(), 128);
    let a = p
        .run(&["rotate", "WEBHOOK_SECRET", "--length", "8"])
        .code(2);
    assert!(
        stderr(&a).contains("fewer than 128 random bits"),
        "{}",
        stderr(&a)
    );
    assert!(
        stderr(&a).contains("hint: use --length 16 or more (random bytes)"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn refuses_what_should_not_be_rotated_here() {
    let p = Project::tutorial();
    let a = p.run(&["rotate", "LOG_LEVEL"]).code(2);
    assert!(
        stderr(&a).contains("LOG_LEVEL does not look like a secret"),
        "{}",
        stderr(&a)
    );
    assert!(stderr(&a).contains("hint: pass --force"));
    let a = p.run(&["rotate", "MISSING_KEY"]).code(2);
    assert!(
        stderr(&a).contains("MISSING_KEY is in none of the environments (looked in .env.dev, .env.staging, .env.prod)"),
        "{}",
        stderr(&a)
    );
    p.write(
        ".env.dev",
        "GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a\n",
    );
    let a = p.run(&["rotate", "GITHUB_TOKEN"]).code(2);
    assert!(stderr(&a).contains("issued by GitHub"), "{}", stderr(&a));
    p.run(&["rotate", "GITHUB_TOKEN", "--force"]).success();
    // --env adds the key where it is missing.
    p.run(&["rotate", "NEW_SECRET", "--env", "staging"])
        .success();
    assert_eq!(value(&p, ".env.staging", "NEW_SECRET").unwrap().len(), 32);
}

#[test]
fn a_failed_write_changes_no_file() {
    let p = Project::tutorial();
    let before: Vec<String> = FILES.iter().map(|f| p.read(f)).collect();
    p.write(".envault.yml", "environments:\n  dev: .env.dev\n  staging: .env.staging\n  prod: .env.prod\n  broken: broken/.env\n");
    // A target that is a directory, then one whose folder is gone: the command fails before
    // any file is replaced, and leaves no temporary file or backup behind.
    fs::create_dir_all(p.path("broken/.env")).unwrap();
    for (case, error) in [
        ("a directory", "broken/.env"),
        (
            "a missing folder",
            "cannot create a temporary file in broken",
        ),
    ] {
        let args = [
            "rotate",
            "DB_PASSWORD",
            "--env",
            "dev",
            "--env",
            "staging",
            "--env",
            "broken",
        ];
        let a = p.run(&args).code(2);
        assert!(stderr(&a).contains(error), "{case}: {}", stderr(&a));
        for (f, b) in FILES.iter().zip(&before) {
            assert_eq!(&p.read(f), b, "{case}: {f} untouched");
        }
        let leftovers = fs::read_dir(p.dir.path()).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".envault-")
        });
        assert_eq!(leftovers.count(), 0, "{case}: no temporary files");
        let backups = fs::read_dir(p.path("state/envault/rotations"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(
            backups, 0,
            "{case}: no backup of a rotation that did not happen"
        );
        let _ = fs::remove_dir_all(p.path("broken"));
    }
}

#[test]
fn rotate_all_rotates_secrets_only() {
    let p = Project::tutorial();
    p.write(
        ".env.prod",
        "DB_HOST=prod-db.internal\nDB_PASSWORD=prod_password_789\nDATABASE_URL=postgres://app:prod_password_789@db/app\nGITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a\nJWT_SECRET=old_jwt_secret\nLOG_LEVEL=warn\n",
    );
    let a = p.run(&["rotate-all", "--env", "prod"]).success();
    let out = stdout(&a);
    assert!(
        out.contains("Also updated (they embed a rotated value):\n  DATABASE_URL\n"),
        "{out}"
    );
    assert!(
        out.contains("GITHUB_TOKEN  issued by GitHub: rotate at the provider"),
        "{out}"
    );
    assert!(out.contains("LOG_LEVEL     not a secret"), "{out}");
    assert_eq!(
        value(&p, ".env.prod", "DB_HOST").as_deref(),
        Some("prod-db.internal")
    );
    assert_eq!(value(&p, ".env.prod", "LOG_LEVEL").as_deref(), Some("warn"));
    assert_eq!(
        value(&p, ".env.prod", "GITHUB_TOKEN").as_deref(),
        Some("ghp_16C7e42F292c6912E7710c838347Ae178B4a")
    );
    let pw = value(&p, ".env.prod", "DB_PASSWORD").unwrap();
    assert!(is_shell_safe_password(&pw));
    assert!(value(&p, ".env.prod", "DATABASE_URL")
        .unwrap()
        .starts_with("postgres://app:"));
    assert_ne!(
        value(&p, ".env.prod", "JWT_SECRET").as_deref(),
        Some("old_jwt_secret")
    );
    for secret in [pw.as_str(), "prod_password_789"] {
        assert!(!out.contains(secret), "masked: {out}");
    }
}

/// Runs `envault ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_terminal(p: &Project, args: &str, input: &str) -> (i32, String) {
    use std::io::Write;
    // No echo of the typed answer, so it cannot interleave with the prompt.
    let mut child = crate::common::on_pty(p, &format!("stty -echo; \"$ENVAULT\" {args}"))
        .spawn()
        .expect("util-linux `script` runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn rotate_all_asks_on_a_terminal() {
    let p = Project::tutorial();
    let before = p.read(".env.prod");
    let (code, screen) = on_terminal(&p, "rotate-all --env prod", "n\n");
    assert!(
        screen.contains("Rotate 1 secret in prod (.env.prod)? [y/N]"),
        "{screen}"
    );
    // Answering no is no error: exit 1, said plainly.
    assert_eq!(code, 1, "{screen}");
    assert!(
        screen.contains("Rotation cancelled; nothing was written"),
        "{screen}"
    );
    assert!(!screen.contains("error:"), "{screen}");
    assert_eq!(p.read(".env.prod"), before);

    let (code, _) = on_terminal(&p, "rotate-all --env prod", "y\n");
    assert_eq!(code, 0);
    assert_ne!(p.read(".env.prod"), before);

    // --yes does not ask; neither does a run without a terminal (the other tests).
    let rotated = p.read(".env.prod");
    let (code, screen) = on_terminal(&p, "rotate-all --env prod --yes", "");
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
    assert_ne!(p.read(".env.prod"), rotated);
}

/// The step after a rotation is to hand the new value to its database or provider: a masked
/// report says how to print it; a shown one needs no hint.
#[test]
fn a_masked_rotation_says_how_to_see_the_new_value() {
    let p = Project::tutorial();
    let a = p.run(&["rotate", "DB_PASSWORD", "--env", "prod"]).success();
    assert!(
        stdout(&a).ends_with(
            "The new values are masked: print one with `envault get DB_PASSWORD --env prod`.\n"
        ),
        "{}",
        stdout(&a)
    );
    let a = p
        .run(&["rotate", "DB_PASSWORD", "--env", "prod", "--show"])
        .success();
    assert!(!stdout(&a).contains("are masked"), "{}", stdout(&a));
    let a = p.run(&["rotate-all", "--env", "prod", "--yes"]).success();
    assert!(
        stdout(&a).contains("print them with `envault export --env prod`"),
        "{}",
        stdout(&a)
    );
}
