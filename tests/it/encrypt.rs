//! keygen, encrypt and decrypt driven through the built binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{mode_of, stderr, stdout, Project};

/// A tutorial project whose user has an identity listed as the project's recipient.
fn project_with_identity(extra_config: &str) -> (Project, String) {
    let p = Project::tutorial();
    let recipient = p.add_identity(extra_config);
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
    assert_eq!(
        stderr(&a).replace(p.path("").to_str().unwrap().trim_end_matches('/'), "<root>"),
        "error: <root>/home/.config/envault/identity.txt already exists; an identity is never overwritten\n\
         hint: keep using it, or remove it yourself if you really mean to lose access to what it opens\n"
    );
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
    assert!(sealed.starts_with("#envault:v2 id="));
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
    let recipient = key
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    assert_eq!(stderr(&a).replace(recipient, "<recipient>"), 
        "error: cannot decrypt .env.prod: none of your identities is a recipient (recipients: <recipient>)\n\
         hint: use --identity FILE or ENVAULT_IDENTITY / ENVAULT_IDENTITY_KEY, or ask a recipient to add you (envault recipients add)\n"
    );

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
    assert_eq!(
        stderr(&a),
        "error: prod has no recipients: nobody could decrypt .env.prod\n\
         hint: run `envault keygen`, then list the printed age1… key under recipients: in .envault.yml\n"
    );
    assert!(!p.read(".env.prod").contains("#envault"));
}

/// The lines of `text` starting with `KEY=`.
fn line_of(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(&format!("{key}=")))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn sync_and_rotate_write_sealed_values_with_stable_ciphertext() {
    let (p, _) = project_with_identity("plaintext_keys: [LOG_LEVEL, CACHE_TTL]\n");
    p.run(&["encrypt", "prod"]).success();
    let before = p.read(".env.prod");

    p.run(&["sync", "dev", "prod"]).success();
    let after = p.read(".env.prod");
    // Kept (environment-specific) values keep their exact ciphertext; the header is unchanged.
    for key in ["DB_HOST", "DB_PORT", "DB_NAME", "DB_PASSWORD"] {
        assert_eq!(line_of(&before, key), line_of(&after, key), "{key}");
    }
    assert_eq!(
        before
            .lines()
            .take_while(|l| l.starts_with("#envault:"))
            .collect::<Vec<_>>(),
        after
            .lines()
            .take_while(|l| l.starts_with("#envault:"))
            .collect::<Vec<_>>()
    );
    assert!(
        line_of(&after, "API_KEY").starts_with("API_KEY=enc:v1:"),
        "added values are sealed"
    );
    assert!(line_of(&after, "FEATURE_DARK_MODE").starts_with("FEATURE_DARK_MODE=enc:v1:"));
    assert_eq!(
        line_of(&after, "LOG_LEVEL"),
        "LOG_LEVEL=debug",
        "plaintext_keys stay in clear"
    );
    assert!(!after.contains("dev_key_abc123"));
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert!(
        stdout(&a).contains("API_KEY=dev_key_abc123\n"),
        "{}",
        stdout(&a)
    );

    p.run(&["rotate", "DB_PASSWORD", "--env", "prod"]).success();
    let rotated = p.read(".env.prod");
    assert_ne!(
        line_of(&rotated, "DB_PASSWORD"),
        line_of(&after, "DB_PASSWORD")
    );
    assert_eq!(line_of(&rotated, "DB_HOST"), line_of(&after, "DB_HOST"));
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert!(!stdout(&a).contains("prod_password_789"));
    p.run(&["rotate", "--undo"]).success();
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert!(stdout(&a).contains("DB_PASSWORD=prod_password_789\n"));

    p.run(&["rotate-all", "--env", "prod"]).success();
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert!(!stdout(&a).contains("prod_password_789"));
}

/// An undo never writes an encrypted environment's old values in clear: not into a plaintext
/// file swapped in for it, and not through a link to another env file; --force neither.
#[test]
fn undo_never_writes_an_encrypted_files_old_values_in_clear() {
    let (p, _) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    p.run(&["rotate", "DB_PASSWORD", "--env", "prod"]).success();
    let sealed = p.read(".env.prod");
    let dev = p.read(".env.dev");

    // .env.prod now a link to the plaintext .env.dev.
    fs::remove_file(p.path(".env.prod")).unwrap();
    std::os::unix::fs::symlink(".env.dev", p.path(".env.prod")).unwrap();
    for args in [
        &["rotate", "--undo"][..],
        &["rotate", "--undo", "--force"][..],
    ] {
        let e = p.run(args).code(2);
        assert!(
            stderr(&e).contains("is not the file the rotation wrote any more"),
            "{}",
            stderr(&e)
        );
    }
    assert_eq!(p.read(".env.dev"), dev);

    // .env.prod replaced by a plaintext file.
    fs::remove_file(p.path(".env.prod")).unwrap();
    fs::write(p.path(".env.prod"), "DB_HOST=x\nDB_PASSWORD=attacker\n").unwrap();
    let e = p.run(&["rotate", "--undo", "--force"]).code(2);
    assert!(
        stderr(&e).contains("was encrypted when it was rotated and is not now"),
        "{}",
        stderr(&e)
    );
    assert!(!p.read(".env.prod").contains("prod_password_789"));

    // Put back, the undo works.
    fs::write(p.path(".env.prod"), &sealed).unwrap();
    p.run(&["rotate", "--undo"]).success();
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert!(stdout(&a).contains("DB_PASSWORD=prod_password_789\n"));
}

#[test]
fn writing_an_encrypted_file_needs_an_identity() {
    let (p, _) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    fs::remove_file(identity_path(&p)).unwrap();
    let sealed = p.read(".env.prod");
    for args in [
        &["sync", "dev", "prod"][..],
        &["rotate", "DB_PASSWORD"],
        &["rotate-all", "--env", "prod", "--yes"],
    ] {
        let a = p.run(args).code(2);
        assert!(
            stderr(&a).contains("none of your identities is a recipient"),
            "{args:?}: {}",
            stderr(&a)
        );
        assert_eq!(p.read(".env.prod"), sealed, "{args:?}");
    }
}

#[test]
fn a_new_file_declared_encrypted_is_created_encrypted() {
    let (p, _) = project_with_identity("");
    let cfg = p.read(".envault.yml").replace(
        "  prod: .env.prod\n",
        "  prod: {file: .env.prod, encrypted: true}\n",
    );
    p.write(".envault.yml", &cfg);
    fs::remove_file(p.path(".env.prod")).unwrap();
    p.run(&["sync", "dev", "prod"]).success();
    let prod = p.read(".env.prod");
    assert!(prod.starts_with("#envault:v2 id="), "{prod}");
    assert!(!prod.contains("dev_password_123") && !prod.contains("localhost"));
    assert_eq!(mode_of(&p.path(".env.prod")), 0o600);
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert_eq!(stdout(&a), p.read(".env.dev"));
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
    assert!(p.read(".env.staging").starts_with("#envault:v2"));
    assert!(p.read(".env.prod").starts_with("#envault:v2"));
    let a = p.run(&["encrypt", "dev"]).code(2);
    assert!(
        stderr(&a).contains("dev is marked `encrypted: false`"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn recipients_are_added_and_removed_explicitly() {
    let (p, me) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    // A teammate's identity, kept apart from ours.
    let a = p.run(&["keygen", "--output", "mate.txt"]).success();
    let mate = stdout(&a).lines().last().unwrap().to_owned();
    let as_mate = |args: &[&str]| {
        p.cmd()
            .args(["--identity", "mate.txt"])
            .args(args)
            .env("HOME", p.path("nohome"))
            .assert()
    };

    // Listing the teammate in .envault.yml grants nothing.
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace(&format!("[{me}]"), &format!("[{me}, {mate}]")),
    );
    as_mate(&["decrypt", "prod", "--stdout"]).code(2);
    let a = p.run(&["recipients", "list", "--env", "prod"]).success();
    assert!(
        stdout(&a).contains(&format!(
            "not given access (run `envault recipients add`):\n  {mate}\n"
        )),
        "{}",
        stdout(&a)
    );

    let before = p.read(".env.prod");
    p.run(&["recipients", "add", &mate, "--env", "prod"])
        .success();
    let after = p.read(".env.prod");
    let values = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("#envault:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values(&before),
        values(&after),
        "adding a recipient changes only the header"
    );
    assert_eq!(
        stdout(&as_mate(&["get", "DB_PASSWORD", "--env", "prod"]).success()),
        "prod_password_789\n"
    );

    let a = p
        .run(&["recipients", "remove", &mate, "--env", "prod", "--yes"])
        .success();
    assert!(
        stdout(&a).contains("could read: DB_HOST, DB_PORT, DB_NAME, DB_PASSWORD"),
        "{}",
        stdout(&a)
    );
    assert!(stdout(&a).contains("envault rotate-all --env prod"));
    as_mate(&["decrypt", "prod", "--stdout"]).code(2);
    let a = p.run(&["decrypt", "prod", "--stdout"]).success();
    assert!(stdout(&a).contains("DB_PASSWORD=prod_password_789\n"));
    let removed = p.read(".env.prod");
    assert_ne!(
        removed.lines().find(|l| l.starts_with("DB_HOST=")),
        after.lines().find(|l| l.starts_with("DB_HOST=")),
        "every value is sealed again under the new key"
    );
    let a = p
        .run(&["recipients", "remove", &me, "--env", "prod"])
        .code(2);
    assert!(
        stderr(&a).contains("is the only recipient"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn edit_works_in_a_private_folder_and_reseals() {
    let (p, _) = project_with_identity("plaintext_keys: [LOG_LEVEL]\n");
    p.run(&["encrypt", "prod"]).success();
    let before = p.read(".env.prod");
    fs::create_dir(p.path("tmp")).unwrap();
    // The "editor" records where it ran, then changes one value.
    p.write(
        "editor.sh",
        "#!/bin/sh\nstat -c '%a' \"$(dirname \"$1\")\" > \"$RECORD\"\nstat -c '%a' \"$1\" >> \"$RECORD\"\nsed -i 's/^DB_NAME=.*/DB_NAME=renamed_db/' \"$1\"\n",
    );
    fs::set_permissions(p.path("editor.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let edit = |editor: &str| {
        p.cmd()
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .env("TMPDIR", p.path("tmp"))
            .env("RECORD", p.path("record.txt"))
            .args(["edit", "prod"])
            .assert()
    };
    let a = edit(p.path("editor.sh").to_str().unwrap()).success();
    assert_eq!(stdout(&a), ".env.prod: saved (sealed)\n");
    assert_eq!(
        p.read("record.txt"),
        "700\n600\n",
        "private folder and file"
    );
    assert_eq!(
        fs::read_dir(p.path("tmp")).unwrap().count(),
        0,
        "the folder is removed"
    );
    let after = p.read(".env.prod");
    assert_eq!(
        line_of(&before, "DB_HOST"),
        line_of(&after, "DB_HOST"),
        "stable ciphertext"
    );
    assert_ne!(line_of(&before, "DB_NAME"), line_of(&after, "DB_NAME"));
    assert!(!after.contains("renamed_db"));
    let a = p.run(&["get", "DB_NAME", "--env", "prod"]).success();
    assert_eq!(stdout(&a), "renamed_db\n");

    // A failing editor writes nothing and still cleans up.
    let a = edit("false").code(2);
    assert!(stderr(&a).contains("nothing was written"), "{}", stderr(&a));
    assert_eq!(p.read(".env.prod"), after);
    assert_eq!(fs::read_dir(p.path("tmp")).unwrap().count(), 0);
    // Saving without changes writes nothing.
    let a = edit("true").success();
    assert_eq!(stdout(&a), ".env.prod: no changes\n");
}

#[test]
fn diff_without_an_identity_compares_keys() {
    let (p, _) = project_with_identity("plaintext_keys: [LOG_LEVEL, CACHE_TTL]\n");
    fs::copy(p.path(".env.prod"), p.path(".env.prod2")).unwrap();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            "  prod: .env.prod\n  prod2: .env.prod2\n",
        ),
    );
    p.run(&["encrypt", "prod", "prod2"]).success();
    fs::remove_file(identity_path(&p)).unwrap();

    let a = p.run(&["diff", "dev", "prod"]).code(1);
    let out = stdout(&a);
    assert!(
        stderr(&a).contains("cannot decrypt .env.prod: no identity opens it"),
        "{}",
        stderr(&a)
    );
    assert!(
        out.contains("Different values:\n  LOG_LEVEL: debug → warn\n  CACHE_TTL: 300 → 1200\n"),
        "{out}"
    );
    assert!(
        out.ends_with("Not compared (encrypted, no identity to open them):\n  DB_HOST\n  DB_PORT\n  DB_NAME\n  DB_PASSWORD\n"),
        "{out}"
    );
    assert!(!out.contains("enc:v1:"), "ciphertext is never shown: {out}");

    // Only unopenable values differ: not counted unless --strict.
    p.run(&["diff", "prod", "prod2"]).code(0);
    p.run(&["diff", "prod", "prod2", "--strict"]).code(1);
    let a = p
        .run(&["diff", "prod", "prod2", "--format", "json"])
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["not_compared"].as_array().unwrap().len(), 4);
}

#[test]
fn ssh_keys_work_as_recipient_and_identity() {
    let p = Project::tutorial();
    fs::create_dir_all(p.path("home/.ssh")).unwrap();
    let key = p.path("home/.ssh/id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen is installed (scripts/install-peers)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    p.write(
        ".envault.yml",
        &format!(
            "{}recipients: [\"{}\"]\n",
            p.read(".envault.yml"),
            public.trim()
        ),
    );
    p.run(&["encrypt", "prod"]).success();
    assert!(p
        .read(".env.prod")
        .contains("#envault:recipient ssh-ed25519 "));
    // No age identity at all: ~/.ssh/id_ed25519 opens it.
    let a = p.run(&["get", "DB_PASSWORD", "--env", "prod"]).success();
    assert_eq!(stdout(&a), "prod_password_789\n");
}

#[test]
fn values_left_in_clear_are_warned_about_and_sealed_by_encrypt() {
    let (p, _) = project_with_identity("plaintext_keys: [LOG_LEVEL]\n");
    p.run(&["encrypt", "prod"]).success();
    // Someone appends a secret in clear to the encrypted file.
    p.write(
        ".env.prod",
        &format!("{}STRAY_TOKEN=oops_in_clear\n", p.read(".env.prod")),
    );
    let a = p.run(&["get", "DB_NAME", "--env", "prod"]).success();
    assert!(
        stderr(&a).contains(
            ".env.prod is encrypted but STRAY_TOKEN is in clear; `envault encrypt` seals it"
        ),
        "{}",
        stderr(&a)
    );
    let a = p.run(&["encrypt", "prod"]).success();
    assert!(
        stdout(&a).starts_with(".env.prod: 1 value sealed"),
        "{}",
        stdout(&a)
    );
    assert!(!p.read(".env.prod").contains("oops_in_clear"));
    let a = p.run(&["get", "STRAY_TOKEN", "--env", "prod"]).success();
    assert_eq!(stdout(&a), "oops_in_clear\n");
    assert_eq!(stderr(&a), "");
}

#[test]
fn copies_of_one_encrypted_file_compare_by_ciphertext() {
    let (p, _) = project_with_identity("");
    p.run(&["encrypt", "prod"]).success();
    fs::copy(p.path(".env.prod"), p.path("backup.env")).unwrap();
    p.run(&["set", "DB_NAME", "other", "--env", "prod"])
        .success();
    fs::remove_file(identity_path(&p)).unwrap();
    // Same data key: an unchanged value has the same ciphertext, a changed one does not.
    let a = p.run(&["diff-files", "backup.env", ".env.prod"]).code(1);
    let out = stdout(&a);
    assert!(
        out.ends_with("Different values:\n  DB_NAME: changed (encrypted)\n"),
        "{out}"
    );
    assert!(!out.contains("Not compared"), "{out}");
}

/// Under a `dialect:` whose reader groups lines otherwise than dotenvy, sealing could leave
/// text in clear: an entry in none of the reader's entries (phpdotenv runs on from an unclosed
/// `="` to the end of the file; python-dotenv skips a statement with text after its closing
/// quote), the inner lines of a value the Ruby gem reads apart (a private key's body), an entry
/// inside another that is a plaintext key, node's backtick value over lines. And key names stay
/// in clear, so a key that reads as a token (a line of such a value, for dotenvy) would too. Found by reviews; encrypt refuses each,
/// and the file stays as it was.
#[test]
fn encrypt_never_leaves_text_in_clear_where_readers_group_lines_otherwise() {
    let regrouped = "the environment's dialect reads the lines from here otherwise than dotenvy";
    let cases = [
        ("php", "", "A=\"x\n\"y\nDB_PASSWORD=hunter2-in-clear\n", regrouped),
        ("python-dotenv", "", "A=\"x\ny\"z\nDB_PASSWORD=\"hunter2-in-clear\"x\nB=1\n", regrouped),
        (
            "ruby",
            "",
            "TLS_KEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvhunter2-in-clear\n-----END PRIVATE KEY-----\"\n",
            regrouped,
        ),
        ("php", "plaintext_keys: [A]\n", "A=\"x\n\"#c\nB=hunter2-in-clear\nC=\"y\"\n", regrouped),
        (
            "node",
            "",
            "GH_TOKEN=`\nghp_R3alTok3nhunter2inclear0123456789abcd=\n# `\n",
            regrouped,
        ),
        (
            "dotenvy",
            "",
            "GH_TOKEN=`\nghp_R3alTok3nhunter2inclear0123456789abcd=\n# `\n",
            "its key looks like a credential",
        ),
        // The Ruby gem skips a line indented with a no-break space: not an entry for it.
        ("ruby", "", "B=1\n\u{a0}DB_PASSWORD=hunter2-in-clear\n", regrouped),
    ];
    for (dialect, extra, text, why) in cases {
        let (p, _) = project_with_identity(extra);
        p.write(
            ".envault.yml",
            &p.read(".envault.yml").replace(
                "  prod: .env.prod",
                &format!("  prod: {{file: .env.prod, dialect: {dialect}}}"),
            ),
        );
        p.write(".env.prod", text);
        let a = p.run(&["encrypt", "prod"]).code(2);
        assert!(stderr(&a).contains(why), "{dialect}: {}", stderr(&a));
        assert!(!stderr(&a).contains("hunter2"), "{}", stderr(&a));
        assert_eq!(p.read(".env.prod"), text, "{dialect}: untouched");
    }
}

/// `prod` read under `dialect`.
fn with_dialect(p: &Project, dialect: &str) {
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod",
            &format!("  prod: {{file: .env.prod, dialect: {dialect}}}"),
        ),
    );
}

/// Sealing keeps a value's text as written and reads it back as dotenvy does. Found by a
/// review: under a dialect whose reader reads the text otherwise, encrypt sealed dotenvy's
/// reading, so python-dotenv's value after `=` stayed in clear in what dotenvy calls a comment
/// (`KEY=#value`), node's value changed (`a#b`), and a line dotenvy refuses was sealed into a
/// value nothing could read back. And an escaped quote before ` #` let node's dotenv read on
/// into the comment, which stayed in clear, without any dialect. encrypt refuses each; the
/// file stays as it was, and a value every reader reads alike still seals and reads back.
#[test]
fn sealing_never_changes_or_leaves_what_the_apps_reader_reads() {
    let differs = "reads the value of";
    let cases = [
        ("python-dotenv", "DB_PASSWORD=#hunter2horse\n", differs),
        ("python-dotenv", "DB_PASSWORD= #hunter2horse\n", differs),
        ("node", "PASS='it\\' #1 hunter2 tail'\n", differs),
        (
            "dotenvy",
            "PASS='it\\' #1 hunter2 tail'\n",
            "in what dotenvy takes for a comment",
        ),
        (
            "dotenvy",
            "PASS=\"C:\\\\\" #hunter2 tail\"\n",
            "in what dotenvy takes for a comment",
        ),
        ("node", "NAME=OpenID hunter2\nB=2\n", differs),
        ("ruby", "NAME=OpenID hunter2\nB=2\n", differs),
        ("node", "A=a#hunter2\n", differs),
        ("node", "A=`hunter2`\n", differs),
        ("python-dotenv", "A='a\\\\hunter2'\n", differs),
        ("php", "A=\"x\r\nhunter2\"\r\n", differs),
        // A second review: node's expression ends a line at U+2028 in a comment, and a line
        // after a lone CR in a comment may hold a value no `#` or substring test finds.
        (
            "dotenvy",
            "A=x\n# rotated\u{2028}DB_PASSWORD=hunter2secret\n",
            "a line separator",
        ),
        (
            "node",
            "A=x\n# rotated\u{2029}DB_PASSWORD=hunter2secret\n",
            "a line separator",
        ),
        (
            "dotenvy",
            "A=x #c\u{2028}B=hunter2\n",
            "in what dotenvy takes for a comment",
        ),
        (
            "dotenvy",
            "APP_ENV=prod # ops\rPRIVATE_KEY=\"-----BEGIN-----\\nhunter2\\n-----END-----\"\n",
            "in what dotenvy takes for a comment",
        ),
        // A third review: the same key set again after the break.
        (
            "dotenvy",
            "GITHUB_TOKEN=changeme #old:\rGITHUB_TOKEN=\"hunter2\\n\"\n",
            "in what dotenvy takes for a comment",
        ),
        (
            "node",
            "A=x #c\u{2028}A=\"hunter2\\nx\"\n",
            "in what dotenvy takes for a comment",
        ),
    ];
    for (dialect, text, why) in cases {
        let (p, _) = project_with_identity("");
        with_dialect(&p, dialect);
        p.write(".env.prod", text);
        let a = p.run(&["encrypt", "prod"]).code(2);
        assert!(
            stderr(&a).contains(why),
            "{dialect} {text:?}: {}",
            stderr(&a)
        );
        assert!(!stderr(&a).contains("hunter2"), "{}", stderr(&a));
        assert_eq!(p.read(".env.prod"), text, "{dialect}: untouched");
    }
    // Quoted so that every reader reads it alike, it seals and reads back as before.
    let (p, _) = project_with_identity("");
    with_dialect(&p, "node");
    p.write(".env.prod", "NAME=\"OpenID hunter2\"\nA=\"a\"\n");
    let before = stdout(
        &p.run(&["export", "--env", "prod", "--format", "json"])
            .success(),
    );
    p.run(&["encrypt", "prod"]).success();
    assert!(!p.read(".env.prod").contains("hunter2"));
    let after = stdout(
        &p.run(&["export", "--env", "prod", "--format", "json"])
            .success(),
    );
    assert_eq!(after, before);
}

/// Found by a review: a reader that ends a line at a lone CR split a header line from an entry
/// written after it (`#envault:mac …␍PLAIN=…`), and under a dialect the file read as encrypted
/// with that entry in clear. Header lines are judged as dotenvy groups the lines, whatever
/// the dialect: the header is damaged, and nothing is read or written.
#[test]
fn a_header_line_never_hides_an_entry_behind_a_lone_carriage_return() {
    for dialect in ["dotenvy", "node", "python-dotenv", "php", "ruby"] {
        let (p, _) = project_with_identity("");
        with_dialect(&p, dialect);
        p.run(&["encrypt", "prod"]).success();
        let sealed = p.read(".env.prod");
        let tampered: String = sealed
            .lines()
            .map(|l| {
                if l.starts_with("#envault:mac") {
                    format!("{l}\rPLAIN=hunter2-in-clear\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert_ne!(tampered, sealed);
        p.write(".env.prod", &tampered);
        for args in [
            &["export", "--env", "prod", "--format", "json"][..],
            &["get", "--env", "prod", "PLAIN"],
            &["set", "--env", "prod", "X", "y"],
        ] {
            let a = p.run(args).code(2);
            assert!(
                stderr(&a).contains("header"),
                "{dialect} {args:?}: {}",
                stderr(&a)
            );
            assert!(!stdout(&a).contains("hunter2"), "{dialect} {args:?}");
        }
        assert_eq!(p.read(".env.prod"), tampered, "{dialect}: untouched");
    }
}

/// A line that is not an entry (dotenvy refuses it; other readers read a key and a value)
/// would stay in clear in an encrypted file: encrypt, set and the merge driver refuse it and
/// leave every file as it was.
#[test]
fn lines_that_are_not_entries_are_never_left_in_clear() {
    let (p, _) = project_with_identity("");
    let prod = p.read(".env.prod") + "STRIPE_SECRET=sk live with spaces\n";
    p.write(".env.prod", &prod);
    let a = p.run(&["encrypt", "prod"]).code(2);
    assert!(
        stderr(&a).contains("line 7 is not an entry every reader agrees on (whitespace inside an unquoted value); it would stay in clear"),
        "{}",
        stderr(&a)
    );
    assert!(!stderr(&a).contains("sk live"), "{}", stderr(&a));
    assert_eq!(p.read(".env.prod"), prod, "untouched");
    // Once fixed, it encrypts; a line added in clear later blocks writes again.
    p.write(
        ".env.prod",
        &prod.replace("sk live with spaces", "\"sk live with spaces\""),
    );
    p.run(&["encrypt", "prod"]).success();
    let sealed = p.read(".env.prod") + "OOPS=a b\n";
    p.write(".env.prod", &sealed);
    p.run(&["set", "LOG_LEVEL", "info", "--env", "prod"])
        .code(2);
    assert_eq!(p.read(".env.prod"), sealed, "untouched");
    // A comment whose lone carriage return starts a line every other reader reads (found by
    // a red-team: encrypt said there was nothing to do, and left the secret in clear).
    let hidden = sealed.replace(
        "OOPS=a b\n",
        "#\rAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYz8Qp3kLm2T\n",
    );
    p.write(".env.prod", &hidden);
    let a = p.run(&["encrypt", "prod"]).code(2);
    assert!(
        stderr(&a).contains("a lone carriage return in a comment starts a line other readers read"),
        "{}",
        stderr(&a)
    );
    assert!(!stderr(&a).contains("wJalr"), "{}", stderr(&a));
    assert_eq!(p.read(".env.prod"), hidden, "untouched");
}

/// Found by a red-team: `KEY= #value` is an empty value for dotenvy but `#value` for
/// python-dotenv; sealing the empty value left the other in clear, and the hook then passed.
#[test]
fn a_value_only_another_reader_sees_is_never_left_in_clear() {
    let (p, _) = project_with_identity("");
    let prod = p.read(".env.prod") + "API_TOKEN= #Xk9pL2mQ7vR4zT8wBn3\n";
    p.write(".env.prod", &prod);
    let a = p.run(&["encrypt", "prod"]).code(2);
    assert!(
        stderr(&a).contains("another reader reads a value in what dotenvy takes for a comment"),
        "{}",
        stderr(&a)
    );
    assert!(!stderr(&a).contains("Xk9pL2"), "{}", stderr(&a));
    assert_eq!(p.read(".env.prod"), prod, "untouched");
}

/// Found by a review: the last check of sealing ran in `encrypt` only. `set` of a plaintext
/// key whose value holds a lone CR wrote a line the Ruby gem reads as a second key in clear,
/// shadowing a sealed one. `set` now refuses as encrypt does, and writes nothing; and a plain
/// value of a plaintext key is not announced as sealed.
#[test]
fn set_refuses_a_plaintext_value_that_a_reader_reads_as_another_key() {
    let (p, _) = project_with_identity("plaintext_keys: [LOG_*]\n");
    p.run(&["encrypt", "prod"]).success();
    let sealed = p.read(".env.prod");
    let a = p
        .cmd()
        .args(["set", "--env", "prod", "LOG_Z", "-"])
        .write_stdin("x\rDB_PASSWORD=hunter2")
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("would still read DB_PASSWORD in clear"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(p.read(".env.prod"), sealed, "untouched");
    let a = p.run(&["set", "--env", "prod", "LOG_Z", "debug"]).success();
    assert!(!stdout(&a).contains("(sealed)"), "{}", stdout(&a));
}
