//! keygen, encrypt and decrypt driven through the built binary.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{mode_of, stderr, stdout, Project};

/// A tutorial project whose user has an identity listed as the project's recipient.
fn project_with_identity(extra_config: &str) -> (Project, String) {
    let p = Project::tutorial();
    let a = p.run(&["keygen"]).success();
    let recipient = stdout(&a).lines().last().unwrap().to_owned();
    assert!(recipient.starts_with("age1"), "{}", stdout(&a));
    p.write(
        ".envault.yml",
        &format!(
            "{}recipients: [{recipient}]\n{extra_config}",
            p.read(".envault.yml")
        ),
    );
    (p, recipient)
}

fn identity_path(p: &Project) -> std::path::PathBuf {
    p.path("home/.config/envault/identity.txt")
}

#[test]
fn keygen_writes_a_private_identity_once() {
    let p = Project::empty();
    let a = p.run(&["keygen"]).success();
    let id = identity_path(&p);
    assert_eq!(mode_of(&id), 0o600);
    let text = fs::read_to_string(&id).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1"));
    assert!(
        !stdout(&a).contains("AGE-SECRET-KEY"),
        "the secret is not printed"
    );
    let a = p.run(&["keygen"]).code(2);
    assert!(stderr(&a).contains("already exists; an identity is never overwritten"));
    assert_eq!(fs::read_to_string(&id).unwrap(), text);
}

#[test]
fn encrypt_seals_values_keeps_keys_and_round_trips() {
    let (p, recipient) = project_with_identity("plaintext_keys: [LOG_LEVEL, CACHE_TTL]\n");
    let original = p.read(".env.prod");
    let a = p.run(&["encrypt", "prod"]).success();
    assert!(
        stdout(&a).starts_with(".env.prod: 4 values sealed, 2 left in clear (plaintext_keys)"),
        "{}",
        stdout(&a)
    );
    let sealed = p.read(".env.prod");
    assert!(sealed.starts_with("#envault:v1 id="));
    assert!(sealed.contains(&format!("#envault:recipient {recipient}\n")));
    for key in ["DB_HOST", "DB_PORT", "DB_NAME", "DB_PASSWORD"] {
        assert!(
            sealed.contains(&format!("\n{key}=enc:v1:")),
            "{key}: {sealed}"
        );
    }
    assert!(sealed.contains("\nLOG_LEVEL=warn\nCACHE_TTL=1200\n"));
    assert!(!sealed.contains("prod_password_789") && !sealed.contains("prod-db.internal"));

    // Idempotent.
    let a = p.run(&["encrypt", "prod"]).success();
    assert_eq!(stdout(&a), ".env.prod: already encrypted; nothing to do\n");
    assert_eq!(p.read(".env.prod"), sealed);

    // Decrypting gives the original bytes back.
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert_eq!(stdout(&a), original);

    // diff compares the decrypted values: the same report as before encryption.
    let a = p.run(&["diff", "dev", "prod"]).code(1);
    assert!(
        stdout(&a).contains("  DB_HOST: localhost → prod-db.internal\n"),
        "{}",
        stdout(&a)
    );
    assert!(stdout(&a).contains("  DB_PASSWORD: •••••• → ••••••\n"));
}

#[test]
fn identities_come_from_the_standard_places() {
    let (p, _) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    let key = fs::read_to_string(identity_path(&p)).unwrap();
    fs::rename(identity_path(&p), p.path("moved-identity.txt")).unwrap();

    let a = p.run(&["decrypt", "prod", "--stdout"]).code(2);
    let err = stderr(&a);
    assert!(err.contains("error: cannot decrypt .env.prod: none of your identities is a recipient (recipients: age1"), "{err}");
    assert!(err.contains("hint: use --identity FILE"), "{err}");

    p.run(&[
        "--identity",
        "moved-identity.txt",
        "decrypt",
        "prod",
        "--stdout",
    ])
    .success();
    p.cmd()
        .env("ENVAULT_IDENTITY", p.path("moved-identity.txt"))
        .args(["decrypt", "prod", "--stdout"])
        .assert()
        .success();
    p.cmd()
        .env("ENVAULT_IDENTITY_KEY", key.lines().last().unwrap())
        .args(["decrypt", "prod", "--stdout"])
        .assert()
        .success();

    // A world-readable identity file gets a warning.
    fs::set_permissions(
        p.path("moved-identity.txt"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let a = p
        .run(&[
            "--identity",
            "moved-identity.txt",
            "decrypt",
            "prod",
            "--stdout",
        ])
        .success();
    assert!(
        stderr(&a).contains("is readable by other users"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn tampering_and_missing_recipients_are_clear_errors() {
    let (p, _) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    let sealed = p.read(".env.prod");
    // Move DB_NAME's ciphertext under DB_HOST: it is bound to its key.
    let line = |k: &str| {
        sealed
            .lines()
            .find(|l| l.starts_with(&format!("{k}=")))
            .unwrap()
            .to_owned()
    };
    let (host, name) = (line("DB_HOST"), line("DB_NAME"));
    let swapped = sealed.replace(&host, &format!("DB_HOST={}", &name["DB_NAME=".len()..]));
    p.write(".env.prod", &swapped);
    let a = p.run(&["decrypt", "prod", "--stdout"]).code(2);
    assert!(
        stderr(&a).contains("cannot decrypt DB_HOST: the value was altered"),
        "{}",
        stderr(&a)
    );

    let p = Project::tutorial();
    let a = p.run(&["encrypt", "prod"]).code(2);
    assert!(
        stderr(&a).contains("prod has no recipients"),
        "{}",
        stderr(&a)
    );
    assert!(stderr(&a).contains("hint: run `envault keygen`"));
    assert!(!p.read(".env.prod").contains("#envault"));
}

#[test]
fn writers_leave_encrypted_files_alone_for_now() {
    let (p, _) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    let sealed = p.read(".env.prod");
    for args in [
        &["sync", "dev", "prod"][..],
        &["rotate", "DB_PASSWORD"],
        &["rotate-all", "--env", "prod", "--yes"],
    ] {
        let a = p.run(args).code(2);
        assert!(
            stderr(&a).contains(".env.prod is encrypted"),
            "{args:?}: {}",
            stderr(&a)
        );
        assert_eq!(p.read(".env.prod"), sealed, "{args:?}");
    }
}

#[test]
fn encrypt_all_respects_encrypted_false() {
    let (p, _) = project_with_identity("");
    let cfg = p.read(".envault.yml").replace(
        "  dev: .env.dev\n",
        "  dev: {file: .env.dev, encrypted: false}\n",
    );
    p.write(".envault.yml", &cfg);
    let dev = p.read(".env.dev");
    p.run(&["encrypt", "--all"]).success();
    assert_eq!(p.read(".env.dev"), dev);
    assert!(p.read(".env.staging").starts_with("#envault:v1"));
    assert!(p.read(".env.prod").starts_with("#envault:v1"));
    let a = p.run(&["encrypt", "dev"]).code(2);
    assert!(
        stderr(&a).contains("dev is marked `encrypted: false`"),
        "{}",
        stderr(&a)
    );
}
