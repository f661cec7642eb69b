//! `envault get`, `set` and `export` driven through the built binary.

use crate::common::{stderr, stdout, Project};

fn encrypted_project() -> Project {
    let p = Project::tutorial();
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    p
}

#[test]
fn get_prints_the_decrypted_value() {
    let p = encrypted_project();
    let a = p.run(&["get", "DB_PASSWORD", "--env", "prod"]).success();
    assert_eq!(stdout(&a), "prod_password_789\n");
    let a = p.run(&["get", "NOPE", "--env", "prod"]).code(1);
    assert_eq!(stderr(&a), "NOPE is not in .env.prod\n");
}

#[test]
fn set_reads_secrets_from_stdin_and_seals_them() {
    let p = encrypted_project();
    let before = p.read(".env.prod");
    let a = p
        .cmd()
        .args(["set", "DB_PASSWORD", "--env", "prod"])
        .write_stdin("n3w s3cret 'quoted'\n")
        .assert()
        .success();
    assert_eq!(stdout(&a), "Updated DB_PASSWORD in .env.prod (sealed)\n");
    let after = p.read(".env.prod");
    assert!(!after.contains("n3w s3cret"));
    let host = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("DB_HOST="))
            .unwrap()
            .to_owned()
    };
    assert_eq!(host(&before), host(&after), "other ciphertext unchanged");
    let a = p.run(&["get", "DB_PASSWORD", "--env", "prod"]).success();
    assert_eq!(stdout(&a), "n3w s3cret 'quoted'\n");

    let a = p
        .run(&["set", "LOG_LEVEL", "info", "--env", "dev"])
        .success();
    assert_eq!(stdout(&a), "Updated LOG_LEVEL in .env.dev\n");
    assert!(p.read(".env.dev").contains("\nLOG_LEVEL=info\n"));
    p.run(&["set", "NEW_KEY", "x y", "--env", "dev"]).success();
    assert!(p.read(".env.dev").ends_with("NEW_KEY=\"x y\"\n"));
    let a = p.run(&["set", "1BAD", "x", "--env", "dev"]).code(2);
    assert!(
        stderr(&a).contains("invalid key name `1BAD`"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn export_formats() {
    let p = encrypted_project();
    p.run(&["set", "QUOTE", "it's", "--env", "prod"]).success();
    let a = p
        .run(&["export", "--env", "prod", "--format", "json"])
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["DB_PASSWORD"], "prod_password_789");
    assert_eq!(v["QUOTE"], "it's");
    let a = p
        .run(&["export", "--env", "prod", "--format", "shell"])
        .success();
    assert!(
        stdout(&a).contains("export QUOTE='it'\\''s'\n"),
        "{}",
        stdout(&a)
    );
    // The shell form evaluates back to the same values.
    let a = p
        .cmd()
        .args(["run", "--env", "dev", "--", "sh", "-c"])
        .arg(format!(
            "{} printf '%s' \"$QUOTE|$DB_PASSWORD\"",
            stdout(&a).replace('\n', "; ")
        ))
        .assert()
        .success();
    assert_eq!(stdout(&a), "it's|prod_password_789");
    let a = p.run(&["export", "--env", "prod"]).success();
    assert!(
        stdout(&a).starts_with("DB_HOST=prod-db.internal\n"),
        "{}",
        stdout(&a)
    );
    assert!(stdout(&a).contains("QUOTE=\"it's\"\n"));
}
