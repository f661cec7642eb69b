//! `envault run` driven through the built binary.

mod common;

use std::os::unix::process::ExitStatusExt;

use common::{stderr, stdout, Project};

#[test]
fn runs_a_program_with_the_environment() {
    let p = Project::tutorial();
    let a = p
        .run(&["run", "--env", "prod", "--", "printenv", "DB_HOST"])
        .success();
    assert_eq!(stdout(&a), "prod-db.internal\n");
    // A later --env wins over an earlier one.
    let a = p
        .run(&[
            "run", "--env", "prod", "--env", "dev", "--", "printenv", "DB_HOST",
        ])
        .success();
    assert_eq!(stdout(&a), "localhost\n");
    // The process environment wins unless --override.
    let a = p
        .cmd()
        .env("DB_HOST", "mine")
        .args(["run", "--env", "prod", "--", "printenv", "DB_HOST"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "mine\n");
    let a = p
        .cmd()
        .env("DB_HOST", "mine")
        .args([
            "run",
            "--env",
            "prod",
            "--override",
            "--",
            "printenv",
            "DB_HOST",
        ])
        .assert()
        .success();
    assert_eq!(stdout(&a), "prod-db.internal\n");
}

#[test]
fn expansion_is_the_same_before_and_after_encryption() {
    let p = Project::tutorial();
    p.write(
        ".env.prod",
        &format!(
            "{}DATABASE_URL=\"postgres://app:${{DB_PASSWORD}}@${{DB_HOST}}/db\"\nSHORT=$DB_HOST\nLITERAL='$DB_HOST'\nESCAPED=\\$DB_HOST\n",
            p.read(".env.prod")
        ),
    );
    let show = [
        "run",
        "--env",
        "prod",
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s|%s' \"$DATABASE_URL\" \"$SHORT\" \"$LITERAL\" \"$ESCAPED\"",
    ];
    let a = p.run(&show).success();
    // As in dotenvy, an unbraced name stops at `_`: `$DB_HOST` is `$DB` then `_HOST`.
    let want = "postgres://app:prod_password_789@prod-db.internal/db|_HOST|$DB_HOST|$DB_HOST";
    assert_eq!(stdout(&a), want);

    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    assert!(!p.read(".env.prod").contains("prod_password_789"));
    let a = p.run(&show).success();
    assert_eq!(stdout(&a), want);
}

#[test]
fn the_identity_key_is_not_passed_on() {
    let p = Project::tutorial();
    p.run(&["keygen", "--output", "ci.txt"]).success();
    let key = std::fs::read_to_string(p.path("ci.txt")).unwrap();
    let a = p
        .cmd()
        .env("ENVAULT_IDENTITY_KEY", key.lines().last().unwrap())
        .args([
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "echo ${ENVAULT_IDENTITY_KEY:-unset}",
        ])
        .assert()
        .success();
    assert_eq!(stdout(&a), "unset\n");
}

#[test]
fn exit_status_and_signals_are_the_programs() {
    let p = Project::tutorial();
    p.run(&["run", "--env", "dev", "--", "sh", "-c", "exit 7"])
        .code(7);
    let a = p.run(&["run", "--env", "dev", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        a.get_output().status.signal(),
        Some(15),
        "the program itself got the signal"
    );
    let a = p
        .run(&["run", "--env", "dev", "--", "no-such-program-here"])
        .code(127);
    assert!(
        stderr(&a).contains("cannot run `no-such-program-here`"),
        "{}",
        stderr(&a)
    );
}
