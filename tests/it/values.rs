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

#[test]
fn set_refuses_an_empty_value_unless_asked() {
    let p = Project::tutorial();
    let before = p.read(".env.prod");
    // A pipe whose first command failed, `< /dev/null`, Ctrl-D: nothing arrives.
    let a = p
        .cmd()
        .args(["set", "DB_PASSWORD", "--env", "prod"])
        .write_stdin("")
        .assert()
        .code(2);
    assert!(
        stderr(&a).starts_with("error: DB_PASSWORD in prod: the value read from standard input is empty; nothing was written\nhint: pass --allow-empty"),
        "{}",
        stderr(&a)
    );
    let a = p.run(&["set", "LOG_LEVEL", "", "--env", "prod"]).code(2);
    assert!(stderr(&a).contains("read from the command line is empty"));
    assert_eq!(p.read(".env.prod"), before);
    p.run(&["set", "LOG_LEVEL", "", "--env", "prod", "--allow-empty"])
        .success();
    assert!(p.read(".env.prod").contains("\nLOG_LEVEL=\n"));
}

/// Runs `envault ARGS` on a terminal (util-linux `script`), types `typed` once `prompt` is on
/// the screen, and returns the exit code and the screen.
fn type_after_prompt(p: &Project, args: &str, prompt: &str, typed: &str) -> (i32, String) {
    use std::io::{Read, Write};
    let mut child = crate::common::on_pty(p, &format!("\"$ENVAULT\" {args}"))
        .spawn()
        .expect("util-linux `script` runs");
    let mut out = child.stdout.take().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let screen = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // Typed only once the prompt shows, so the terminal's echo setting is envault's by then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !String::from_utf8_lossy(&screen.lock().unwrap()).contains(prompt) {
        assert!(
            std::time::Instant::now() < deadline,
            "no prompt: {:?}",
            String::from_utf8_lossy(&screen.lock().unwrap())
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(typed.as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let screen = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    (status.code().unwrap_or(-1), screen)
}

#[test]
fn set_asks_for_the_value_on_a_terminal_without_showing_it() {
    let p = Project::tutorial();
    let (code, screen) = type_after_prompt(
        &p,
        "set DB_PASSWORD --env prod",
        "Value for DB_PASSWORD in prod (not shown): ",
        "typed-s3cret-value\n",
    );
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("typed-s3cret-value"), "{screen}");
    assert!(
        screen.contains("Updated DB_PASSWORD in .env.prod"),
        "{screen}"
    );
    assert!(p
        .read(".env.prod")
        .contains("DB_PASSWORD=typed-s3cret-value\n"));
    // The terminal's settings are back afterwards: echo on, as before.
    let (code, screen) = type_after_prompt(
        &p,
        "set API_KEY --env prod; stty -a",
        "Value for API_KEY in prod (not shown): ",
        "hidden-one\n",
    );
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("hidden-one"), "{screen}");
    let flags: Vec<&str> = screen.split([' ', ';', '\n', '\r']).collect();
    assert!(
        flags.contains(&"echo") && flags.contains(&"-echonl"),
        "{screen}"
    );
}
