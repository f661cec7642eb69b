//! `envault run` driven through the built binary.

use std::os::unix::process::ExitStatusExt;

use crate::common::{stderr, stdout, Project};

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
    // As shells read it, not as dotenvy: `$DB_HOST` is the variable DB_HOST, not `$DB` then
    // `_HOST`.
    let want =
        "postgres://app:prod_password_789@prod-db.internal/db|prod-db.internal|$DB_HOST|$DB_HOST";
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

/// An env file (repository content) must not choose code the program runs: a `BASH_ENV` that
/// makes `bash -c` source a script, an `LD_PRELOAD`, a `PATH` putting a planted `ls` first.
#[test]
fn env_files_cannot_make_the_program_run_their_code() {
    let p = Project::tutorial();
    p.write("evil.sh", "touch pwned\n");
    for (line, program) in [
        ("BASH_ENV=./evil.sh", vec!["bash", "-c", "true"]),
        ("LD_PRELOAD=./evil.so", vec!["true"]),
        ("PATH=.:/usr/bin:/bin", vec!["true"]),
        ("NODE_OPTIONS='--require ./evil.js'", vec!["true"]),
        ("GIT_SSH_COMMAND=./evil.sh", vec!["true"]),
    ] {
        let original = p.read(".env.prod");
        p.write(".env.prod", &format!("{original}{line}\n"));
        let mut args = vec!["run", "--env", "prod", "--"];
        args.extend(&program);
        let a = p.run(&args).code(2);
        let key = line.split('=').next().unwrap();
        assert!(
            stderr(&a).contains(&format!(
                ".env.prod:7: {key} would let the env file choose code"
            )),
            "{}",
            stderr(&a)
        );
        assert!(!p.path("pwned").exists());
        p.write(".env.prod", &original);
    }
    // Allowed by name in the user's own config, it is passed on.
    p.write(".env.prod", &(p.read(".env.prod") + "BASH_ENV=./evil.sh\n"));
    std::fs::create_dir_all(p.path("home/.config/envault")).unwrap();
    p.write(
        "home/.config/envault/run-allowed-variables",
        "BASH_ENV  # my own project\n",
    );
    p.run(&["run", "--env", "prod", "--", "bash", "-c", "true"])
        .success();
    assert!(p.path("pwned").exists());
}

/// `--override` lets the file's values replace the process's, and expansion follows: the
/// file's earlier keys first, then the process environment (`${HOME}` is still the home
/// folder, not empty).
#[test]
fn override_expands_from_the_file_then_the_process() {
    let p = Project::tutorial();
    p.write(
        ".env.dev",
        "DB_HOST=filehost\nCACHE=${HOME}/cache\nURL=http://$DB_HOST:${PORT:-8080}\n",
    );
    let show = |extra: &[&str]| {
        let mut args = vec!["run", "--env", "dev"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", "printf '%s|%s' \"$CACHE\" \"$URL\""]);
        let a = p
            .cmd()
            .env("DB_HOST", "prochost")
            .args(&args)
            .assert()
            .success();
        stdout(&a)
    };
    let home = p.path("home");
    let home = home.to_str().unwrap();
    assert_eq!(show(&[]), format!("{home}/cache|http://prochost:8080"));
    assert_eq!(
        show(&["--override"]),
        format!("{home}/cache|http://filehost:8080")
    );
}
