//! The trust boundary, tried as an attacker would: repository content (headers, .envault.yml,
//! tracked symlinks, file names), pull requests merged with the driver, and endpoints named by
//! the repository must never hand over a data key, write outside the repository, run code or
//! send a token elsewhere. Real git, the real `age` CLI, real loopback listeners.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::http::{reply, Request, Response, Server};
use crate::common::{git, git_cmd, stderr, stdout, use_merge_driver, Project};

/// An age identity made by the stock `age-keygen`: (identity file, public recipient).
fn age_keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen (scripts/install-peers installs the age CLI)");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    (path, public)
}

/// Whether the stock age CLI opens the data-key block of `env_text` with `identity`.
fn age_opens(env_text: &str, identity: &Path) -> bool {
    let block: String = env_text
        .lines()
        .filter_map(|l| l.strip_prefix("#envault:key "))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the age CLI");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(block.as_bytes())
        .unwrap();
    child.wait().unwrap().success()
}

/// The tutorial committed with prod encrypted to the user, the merge driver configured.
fn protected_repo() -> Project {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    use_merge_driver(&p);
    p
}

/// `text` with a recipient line for `who` inserted after the header's first line.
fn with_forged_recipient(text: &str, who: &str) -> String {
    let (first, rest) = text.split_once('\n').unwrap();
    format!("{first}\n#envault:recipient {who}\n{rest}")
}

/// Finding 1: a pull request that only adds a recipient line to prod's header. Merged with
/// the driver while main changed the file too, at the next `recipients add`, and in CI.
#[test]
fn a_forged_recipient_line_never_gets_the_data_key() {
    let p = protected_repo();
    let outside = tempfile::tempdir().unwrap();
    let (mallory_id, mallory) = age_keygen(outside.path(), "mallory.txt");
    let (_, bob) = age_keygen(outside.path(), "bob.txt");

    git(&p, &["checkout", "-q", "-b", "pr"]);
    p.write(
        ".env.prod",
        &with_forged_recipient(&p.read(".env.prod"), &mallory),
    );
    git(&p, &["commit", "-q", "-am", "innocent-looking change"]);
    git(&p, &["checkout", "-q", "main"]);
    p.run(&["set", "--env", "prod", "LOG_LEVEL", "error"])
        .success();
    git(&p, &["commit", "-q", "-am", "main changes prod"]);

    // CI sees it without any key.
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    assert!(
        stdout(&a).contains("recipients-changed") && stdout(&a).contains(&mallory),
        "{}",
        stdout(&a)
    );

    // The maintainer merges with the driver (identity available): a conflict, never a take.
    let out = git_cmd(&p).args(["merge", "pr"]).output().unwrap();
    assert!(!out.status.success(), "the merge must stop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("theirs adds recipient"), "{err}");
    let merged = p.read(".env.prod");
    assert!(!merged.contains(&mallory), "ours is kept as it was");
    assert!(!age_opens(&merged, &mallory_id));
    git(&p, &["merge", "--abort"]);

    // Had the line landed anyway, no key holder's command wraps the key to it.
    git(&p, &["checkout", "-q", "pr"]);
    let a = p
        .run(&["recipients", "add", &bob, "--env", "prod", "--yes"])
        .code(2);
    assert!(
        stderr(&a).contains("changed by someone without its data key"),
        "{}",
        stderr(&a)
    );
    assert!(!age_opens(&p.read(".env.prod"), &mallory_id));
    // `recipients list` does not present the planted line as a reader: a key holder gets the
    // tampering error, anyone else an unverified list.
    let a = p.run(&["recipients", "list", "--env", "prod"]).code(2);
    assert!(
        stderr(&a).contains("changed by someone without its data key"),
        "{}",
        stderr(&a)
    );
    let a = p
        .cmd()
        .env("HOME", p.path("home/ci"))
        .env("XDG_STATE_HOME", p.path("home/ci/state"))
        .args(["recipients", "list", "--env", "prod"])
        .assert()
        .success();
    assert!(stdout(&a).contains("(not verified:"), "{}", stdout(&a));
    // `check` (no key needed) compares the header with what .envault.yml declares, and does
    // not word the planted line as a stale reader.
    let a = p.run(&["check"]).code(1);
    let line = stdout(&a)
        .lines()
        .find(|l| l.contains("recipient-not-listed"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains(&format!(
            "names {mallory} as a reader, but .envault.yml does not declare it"
        )),
        "{}",
        stdout(&a)
    );
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    p.run(&["set", "--env", "prod", "DB_PASSWORD", "new"])
        .code(2);
    assert!(!age_opens(&p.read(".env.prod"), &mallory_id));
}

/// Finding 1, keyless side: a maintainer without an identity merges the same pull request;
/// header lines are never merged as text.
#[test]
fn without_an_identity_differing_headers_are_a_conflict() {
    let p = protected_repo();
    let outside = tempfile::tempdir().unwrap();
    let (_, mallory) = age_keygen(outside.path(), "mallory.txt");
    git(&p, &["checkout", "-q", "-b", "pr"]);
    p.write(
        ".env.prod",
        &with_forged_recipient(&p.read(".env.prod"), &mallory),
    );
    git(&p, &["commit", "-q", "-am", "pr"]);
    git(&p, &["checkout", "-q", "main"]);
    // A one-key change on main, sealed under the same key (stable ciphertext elsewhere).
    p.run(&["set", "--env", "prod", "LOG_LEVEL", "error"])
        .success();
    git(&p, &["commit", "-q", "-am", "main"]);
    let id = p.path("home/.config/envault/identity.txt");
    std::fs::rename(&id, p.path("home/id.stash")).unwrap();
    let out = git_cmd(&p).args(["merge", "pr"]).output().unwrap();
    assert!(!out.status.success());
    assert!(!p.read(".env.prod").contains(&mallory));
    // An unparseable side does not buy a line merge either.
    git(&p, &["merge", "--abort"]);
    git(&p, &["checkout", "-q", "pr"]);
    p.write(".env.prod", &(p.read(".env.prod") + "NOT VALID\n"));
    git(&p, &["commit", "-q", "-am", "pr2"]);
    git(&p, &["checkout", "-q", "main"]);
    let out = git_cmd(&p).args(["merge", "pr"]).output().unwrap();
    assert!(!out.status.success());
    assert!(!p.read(".env.prod").contains(&mallory));
}

/// Finding 7: a pull request replaces prod's data key (keeping the file id) with one it
/// wrapped to the public recipients itself. CI reports it without any key.
#[test]
fn a_replaced_data_key_is_reported_without_a_key() {
    let p = protected_repo();
    let recipient = p
        .read(".env.prod")
        .lines()
        .find_map(|l| l.strip_prefix("#envault:recipient "))
        .unwrap()
        .to_owned();
    git(&p, &["checkout", "-q", "-b", "pr"]);
    // The attacker's tools: a fresh project sealed to the same public recipient, whose header
    // is then given the original file id.
    let other = Project::tutorial();
    other.write(
        ".envault.yml",
        &format!("{}recipients: [{recipient}]\n", other.read(".envault.yml")),
    );
    other.run(&["encrypt", "prod"]).success();
    let original_id = p.read(".env.prod").lines().next().unwrap().to_owned();
    let forged = other.read(".env.prod");
    let (_, rest) = forged.split_once('\n').unwrap();
    let id_part = original_id.split(' ').nth(1).unwrap();
    let commit_part = forged.lines().next().unwrap().split(' ').nth(2).unwrap();
    p.write(
        ".env.prod",
        &format!("#envault:v2 {id_part} {commit_part}\n{rest}"),
    );
    git(&p, &["commit", "-q", "-am", "pr"]);
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    assert!(stdout(&a).contains("data-key-replaced"), "{}", stdout(&a));
    // And a merge by a key holder is a conflict, not a silent take of the attacker's key.
    git(&p, &["checkout", "-q", "main"]);
    p.run(&["set", "--env", "prod", "LOG_LEVEL", "error"])
        .success();
    git(&p, &["commit", "-q", "-am", "main"]);
    let out = git_cmd(&p).args(["merge", "pr"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("replaces the data key"));
}

/// Finding 2: `git install` in a repository that tracks `.gitattributes -> ~/.bashrc`
/// and declares an env file whose name is shell code.
#[test]
fn git_install_never_writes_outside_or_writes_code() {
    let outside = tempfile::tempdir().unwrap();
    let bashrc = outside.path().join(".bashrc");
    std::fs::write(&bashrc, "# the user's shell setup\n").unwrap();

    let p = Project::tutorial_git();
    symlink(&bashrc, p.path(".gitattributes")).unwrap();
    let a = p.run(&["git", "install"]).code(2);
    assert!(
        stderr(&a).contains("outside the repository"),
        "{}",
        stderr(&a)
    );
    assert_eq!(
        std::fs::read_to_string(&bashrc).unwrap(),
        "# the user's shell setup\n"
    );
    assert!(
        !p.path(".git/hooks/pre-commit").exists(),
        "nothing is half installed"
    );

    let p = Project::tutorial_git();
    let evil = "x;touch${IFS}pwned;";
    p.write(evil, "A=1\n");
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("  prod: .env.prod\n", &format!("  prod: '{evil}'\n")),
    );
    let a = p.run(&["git", "install"]).code(2);
    assert!(stderr(&a).contains("never writes"), "{}", stderr(&a));
    assert!(!p.path(".gitattributes").exists());
    assert!(!p.path(".git/hooks/pre-commit").exists());
    assert!(!p.path("pwned").exists());
}

/// Finding 3: env and store paths that leave the repository, by name or by tracked symlink.
#[test]
fn environment_paths_stay_inside_the_repository() {
    let outside = tempfile::tempdir().unwrap();
    let npmrc = outside.path().join(".npmrc");
    std::fs::write(
        &npmrc,
        "//registry.npmjs.org/:_authToken=npm_secret_token_value\n",
    )
    .unwrap();

    // By name: relative and absolute.
    for named in [
        format!("{}", npmrc.display()),
        "../../../../../../../../../../..".to_owned() + &npmrc.display().to_string(),
    ] {
        let p = Project::tutorial();
        p.write(
            ".envault.yml",
            &p.read(".envault.yml")
                .replace("  prod: .env.prod\n", &format!("  prod: '{named}'\n")),
        );
        for args in [
            &["sync", "staging", "prod"][..],
            &["diff", "staging", "prod", "--show-secrets"],
            &["export", "--env", "prod"],
            &["matrix"],
        ] {
            let a = p.run(args).code(2);
            let out = format!("{}{}", stdout(&a), stderr(&a));
            assert!(out.contains("outside the repository"), "{args:?}: {out}");
            assert!(!out.contains("npm_secret"), "{args:?}: {out}");
        }
    }
    // By a tracked symlink.
    let p = Project::tutorial();
    std::fs::remove_file(p.path(".env.prod")).unwrap();
    symlink(&npmrc, p.path(".env.prod")).unwrap();
    let a = p.run(&["sync", "staging", "prod"]).code(2);
    assert!(
        stderr(&a).contains("outside the repository"),
        "{}",
        stderr(&a)
    );
    assert_eq!(
        std::fs::read_to_string(&npmrc).unwrap(),
        "//registry.npmjs.org/:_authToken=npm_secret_token_value\n"
    );
    // A symlink inside the repository is fine.
    std::fs::remove_file(p.path(".env.prod")).unwrap();
    std::fs::create_dir(p.path("envs")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tutorial/.env.prod"),
        p.path("envs/prod.env"),
    )
    .unwrap();
    symlink("envs/prod.env", p.path(".env.prod")).unwrap();
    p.run(&["diff", "staging", "prod"]).code(1);

    // A file store outside the repository.
    let p = Project::tutorial();
    p.write(
        ".envault.yml",
        &format!(
            "{}stores:\n  local: {{type: file, path: '{}'}}\n",
            p.read(".envault.yml"),
            outside.path().join("x.age").display()
        ),
    );
    let a = p.run(&["store", "list"]).code(2);
    assert!(
        stderr(&a).contains("outside the repository"),
        "{}",
        stderr(&a)
    );
    assert!(!outside.path().join("x.age").exists());

    // The user may allow a folder in their own config.
    let p = Project::tutorial();
    let shared = outside.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::copy(p.path(".env.prod"), shared.join(".env.prod")).unwrap();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            &format!("  prod: '{}'\n", shared.join(".env.prod").display()),
        ),
    );
    p.run(&["diff", "staging", "prod"]).code(2);
    std::fs::create_dir_all(p.path("home/.config/envault")).unwrap();
    p.write(
        "home/.config/envault/allowed-paths",
        &format!("{}\n", shared.display()),
    );
    p.run(&["diff", "staging", "prod"]).code(1);
}

/// Outside a repository, a configuration planted by another user (or above the home folder)
/// configures nothing.
#[test]
fn configs_others_could_have_planted_are_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let top = tempfile::tempdir().unwrap();
    let home = top.path().join("home");
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        top.path().join(".envault.yml"),
        crate::common::TUTORIAL_CONFIG,
    )
    .unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("envault")
            .unwrap()
            .current_dir(&work)
            .env("HOME", &home)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("ENVAULT_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .args(args)
            .assert()
    };
    // Above the home folder: not found.
    let a = run(&["diff", "dev", "prod"]).code(2);
    assert!(
        stderr(&a).contains("no .envault.yml found"),
        "{}",
        stderr(&a)
    );
    // Writable by others: ignored, and said why.
    let planted = work.join(".envault.yml");
    std::fs::write(&planted, crate::common::TUTORIAL_CONFIG).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    let a = run(&["diff", "dev", "prod"]).code(2);
    assert!(
        stderr(&a).contains("other users may write it"),
        "{}",
        stderr(&a)
    );
    // A symlink: ignored.
    std::fs::remove_file(&planted).unwrap();
    symlink(top.path().join(".envault.yml"), &planted).unwrap();
    let a = run(&["diff", "dev", "prod"]).code(2);
    assert!(stderr(&a).contains("symlink"), "{}", stderr(&a));
}

/// A listener on a loopback port that counts connections and answers 200 `{}`.
fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        }
    });
    (url, hits)
}

/// Finding 5: a loopback address named by the repository gets no token.
#[test]
fn a_local_listener_named_by_the_repository_gets_no_token() {
    let (url, hits) = counting_listener();
    for store in [
        format!("{{type: vault, address: '{url}', path: app/prod}}"),
        format!("{{type: doppler, project: p, config: c, api_url: '{url}'}}"),
        format!("{{type: onepassword, vault: v, item: i, connect_host: '{url}'}}"),
    ] {
        let p = Project::tutorial();
        p.write(
            ".envault.yml",
            &format!("{}stores:\n  s: {store}\n", p.read(".envault.yml")),
        );
        let a = p
            .cmd()
            .env("VAULT_TOKEN", "hvs.secret-token")
            .env("DOPPLER_TOKEN", "dp.st.secret")
            .env("OP_CONNECT_TOKEN", "op-secret")
            .env_remove("VAULT_ADDR")
            .env_remove("OP_CONNECT_HOST")
            .env_remove("ENVAULT_TRUSTED_ENDPOINTS")
            .args(["store", "list"])
            .assert()
            .code(2);
        assert!(stderr(&a).contains("not trusted"), "{}", stderr(&a));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");
}

/// Finding 4: a trusted Vault answers 307 to an origin the trust rule refuses; the token and
/// the secret's path must not follow (KV v1 and v2).
#[test]
fn vault_redirects_are_not_followed_with_the_token() {
    let (evil, evil_hits) = counting_listener();
    let target = evil.clone();
    let trusted = Server::start(move |r: &Request| -> Response {
        let mut resp = reply(307, serde_json::Value::Null);
        resp.headers
            .push(("Location".into(), format!("{target}{}", r.target)));
        resp
    });
    for kv in ["1", "2"] {
        let p = Project::tutorial();
        p.write(
            ".envault.yml",
            &format!(
                "{}stores:\n  v: {{type: vault, address: '{}', path: app/prod, kv_version: {kv}}}\n",
                p.read(".envault.yml"),
                trusted.url
            ),
        );
        let a = p
            .cmd()
            .env("VAULT_TOKEN", "hvs.secret-token")
            .env("VAULT_ADDR", &trusted.url)
            .args(["store", "pull", "prod", "--store", "v"])
            .assert()
            .code(2);
        assert!(!stderr(&a).contains("hvs.secret-token"));
    }
    assert!(
        !trusted.requests().is_empty(),
        "the trusted server was asked"
    );
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "nothing followed the redirect"
    );
}

/// A pull request downgrades prod's header to version 1 (whose recipient lines nothing
/// authenticates), keeping the key block: CI reports it without a key.
#[test]
fn a_downgraded_header_is_reported() {
    let p = protected_repo();
    git(&p, &["checkout", "-q", "-b", "pr"]);
    let text = p.read(".env.prod");
    let first = text.lines().next().unwrap();
    let v1_first = first
        .replace("#envault:v2 ", "#envault:v1 ")
        .split(" commit=")
        .next()
        .unwrap()
        .to_owned();
    let downgraded: String = text
        .lines()
        .filter(|l| !l.starts_with("#envault:mac "))
        .map(|l| {
            if l == first {
                v1_first.clone()
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    p.write(".env.prod", &downgraded);
    git(&p, &["commit", "-q", "-am", "pr"]);
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    assert!(
        stdout(&a).contains("downgraded to format version 1"),
        "{}",
        stdout(&a)
    );
    // Locally too: this user accepted a version 2 key for the file, so the downgraded one (whose
    // recipient lines nothing binds any more) is neither read nor re-wrapped.
    let outside = tempfile::tempdir().unwrap();
    let (mallory_id, mallory) = age_keygen(outside.path(), "mallory.txt");
    let (_, bob) = age_keygen(outside.path(), "bob.txt");
    let me = downgraded
        .lines()
        .find_map(|l| l.strip_prefix("#envault:recipient "))
        .unwrap()
        .to_owned();
    p.write(".env.prod", &downgraded.replace(&me, &mallory));
    let a = p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    assert!(
        stderr(&a).contains("the header was downgraded"),
        "{}",
        stderr(&a)
    );
    for args in [
        &["recipients", "add", &bob, "--env", "prod", "--yes"][..],
        &["recipients", "remove", &me, "--env", "prod", "--yes"][..],
    ] {
        p.run(args).code(2);
        assert!(!age_opens(&p.read(".env.prod"), &mallory_id), "{args:?}");
    }
}

/// A file restored from before this user's `recipients remove`: the removed reader holds its
/// key, so nothing new is sealed under it (reading warns).
#[test]
fn a_key_restored_from_before_a_removal_is_not_written_with() {
    let p = protected_repo();
    let outside = tempfile::tempdir().unwrap();
    let (bob_id, bob) = age_keygen(outside.path(), "bob.txt");
    p.run(&["recipients", "add", &bob, "--env", "prod", "--yes"])
        .success();
    git(&p, &["commit", "-q", "-am", "bob joins"]);
    let with_bob = p.read(".env.prod");
    p.run(&["recipients", "remove", &bob, "--env", "prod", "--yes"])
        .success();
    git(&p, &["commit", "-q", "-am", "bob leaves"]);
    // The pull request puts the old file back.
    p.write(".env.prod", &with_bob);
    let a = p.run(&["get", "--env", "prod", "DB_PASSWORD"]).success();
    assert!(
        stderr(&a).contains("a newer key replaced"),
        "{}",
        stderr(&a)
    );
    let a = p
        .run(&[
            "set",
            "--env",
            "prod",
            "NEW_SECRET",
            "only-for-current-readers",
        ])
        .code(2);
    assert!(
        stderr(&a).contains("a reader was removed since, and holds it"),
        "{}",
        stderr(&a)
    );
    assert_eq!(p.read(".env.prod"), with_bob);
    assert!(age_opens(&with_bob, &bob_id), "bob does hold this key");
}

/// A line inserted above the header must not turn an encrypted file into plaintext: every
/// command refuses the file, and CI and `check` report it.
#[test]
fn a_header_pushed_down_is_damage_not_plaintext() {
    let p = protected_repo();
    git(&p, &["checkout", "-q", "-b", "pr"]);
    let sealed = p.read(".env.prod");
    p.write(".env.prod", &format!("\n{sealed}"));
    git(&p, &["commit", "-q", "-am", "blank line"]);
    let a = p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    assert!(stderr(&a).contains("header is damaged"), "{}", stderr(&a));
    p.run(&[
        "set",
        "--env",
        "prod",
        "INTERNAL_SIGNING",
        "tok-9f8e7d6c5b4a",
    ])
    .code(2);
    p.run(&["run", "--env", "prod", "--", "true"]).code(2);
    assert_eq!(p.read(".env.prod"), format!("\n{sealed}"));
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    assert!(stdout(&a).contains("damaged-header"), "{}", stdout(&a));
    let a = p.run(&["check"]).code(1);
    assert!(stdout(&a).contains("damaged-header"), "{}", stdout(&a));
    // The same for a stray header line further down, and for sealed values with no header.
    let no_header: String = sealed
        .lines()
        .filter(|l| !l.starts_with("#envault:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let header: String = sealed
        .lines()
        .filter(|l| l.starts_with("#envault:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let sealed_entry = no_header
        .lines()
        .find(|l| l.contains("=enc:v1:"))
        .expect("a sealed entry")
        .to_owned();
    for text in [
        format!("{sealed}#envault:recipient age1x\n"),
        no_header.clone(),
        format!("JUNK=\"\n{sealed}\"\n"),
        // A review found these: after an even number of blanks a `#` does not end the line
        // for dotenvy's splitter, so the quote in this "comment" swallows the header into an
        // entry whose value is only `x`.
        format!("A=x  #\"\n{sealed}\"\n"),
        format!("A='x'  # '\n{sealed}'\n"),
        // A second review: sealed values quoted or commented out in a file without a header,
        // and sealed lines swallowed into an entry below an intact header.
        format!("{}\"\n", sealed_entry.replacen('=', "=\"", 1)),
        format!("{}'\n", sealed_entry.replacen('=', "='", 1)),
        format!("# {sealed_entry}\n"),
        format!("{header}A=x  #\"\n{no_header}\"\n"),
        format!("{header}A=\"x\n{sealed_entry}\ny\"\n"),
    ] {
        p.write(".env.prod", &text);
        p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
        p.run(&["set", "--env", "prod", "X", "y"]).code(2);
        assert_eq!(p.read(".env.prod"), text);
    }
}

/// A pull request branch older than a rotation on main copies the value main retired: judged
/// against the branch it is to be merged into.
#[test]
fn a_value_main_retired_copied_into_an_older_branch_is_flagged() {
    let p = protected_repo();
    p.run(&["set", "--env", "prod", "API_TOKEN", "k2-leaked-in-a-log"])
        .success();
    git(&p, &["commit", "-q", "-am", "add API_TOKEN"]);
    let leaked = sealed_line(&p.read(".env.prod"), "API_TOKEN");
    p.run(&["set", "--env", "prod", "API_TOKEN", "k3-after-the-leak"])
        .success();
    git(&p, &["commit", "-q", "-am", "rotate API_TOKEN"]);
    git(&p, &["checkout", "-q", "-b", "fork", "main~2"]);
    p.write(".env.prod", &format!("{}{leaked}\n", p.read(".env.prod")));
    git(&p, &["commit", "-q", "-am", "fix api token"]);
    let a = p.run(&["scan", "--range", "main..fork"]).code(1);
    assert!(
        stdout(&a).contains("replayed-value") && stdout(&a).contains("API_TOKEN"),
        "{}",
        stdout(&a)
    );
}

/// Finding 8: concurrent writers of one file take turns; no update is lost, whether they are
/// `set`s of different keys or `sync`s (scripts/stress-locks runs 1,000 pairs).
#[test]
fn concurrent_writers_lose_nothing() {
    let p = Project::tutorial();
    let bin = assert_cmd::cargo::cargo_bin("envault");
    let spawn = |args: Vec<String>| {
        Command::new(&bin)
            .current_dir(p.dir.path())
            .env("HOME", p.path("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("ENVAULT_CONFIG")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..40)
        .map(|i| {
            spawn(vec![
                "set".into(),
                "--env".into(),
                "prod".into(),
                format!("KEY_{i}"),
                format!("value-{i}"),
            ])
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let prod = p.read(".env.prod");
    for i in 0..40 {
        assert!(
            prod.contains(&format!("KEY_{i}=value-{i}\n")),
            "KEY_{i} lost:\n{prod}"
        );
    }
    // Two syncs into one file at once: both land.
    p.write(".env.dev", &(p.read(".env.dev") + "ONLY_DEV=1\n"));
    p.write(
        ".env.staging",
        &(p.read(".env.staging") + "ONLY_STAGING=1\n"),
    );
    let a = spawn(vec!["sync".into(), "dev".into(), "prod".into()]);
    let b = spawn(vec!["sync".into(), "staging".into(), "prod".into()]);
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.code() == Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let prod = p.read(".env.prod");
    assert!(
        prod.contains("ONLY_DEV=1\n") && prod.contains("ONLY_STAGING=1\n"),
        "{prod}"
    );
}

/// Finding 6: the hook judged configured env files by key name only. A token whose format
/// says what it is, under a name that does not, in a configured environment declared to hold
/// dummy values; a staged `public_keys` that declares a password public; and `.env.prod`
/// moved under an `encrypted: false` environment.
#[test]
fn the_hook_judges_env_files_by_value_and_by_file() {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "protected"]);
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("deploy");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_path)
        .output()
        .expect("ssh-keygen (scripts/install-peers installs openssh-client)");
    assert!(out.status.success());
    let pem = std::fs::read_to_string(&key_path).unwrap();
    let (age_key_path, _) = age_keygen(dir.path(), "id.txt");
    let age_key = std::fs::read_to_string(age_key_path)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned();
    // dev is `encrypted: false` (dummy values): real tokens there are still blocked.
    let dev = p.read(".env.dev");
    for (line, rule, col) in [
        (
            "GITHUB_PAT=ghp_R8vK2mQ7xT4nW9pL3sZ6yB1cF5hJ0dG8aE2u".to_owned(),
            "github-token",
            12,
        ),
        (
            "AWS_KEY_ID=AKIAZ7Q3W5N2R8T4Y6UB".to_owned(),
            "aws-access-key-id",
            12,
        ),
        (format!("SSH_KEY=\"{}\"", pem.trim_end()), "private-key", 10),
        (format!("IDENTITY={age_key}"), "age-secret-key", 10),
    ] {
        p.write(".env.dev", &format!("{dev}{line}\n"));
        git(&p, &["add", ".env.dev"]);
        let a = p.run(&["scan", "--staged"]).code(1);
        let n = dev.lines().count() + 1;
        assert!(
            stdout(&a).contains(&format!(".env.dev:{n}:{col}: {rule}")),
            "{line}: {}",
            stdout(&a)
        );
    }
    // The same in a file nobody configured.
    p.write(".env.dev", &dev);
    p.write("notes.md", &format!("my key: {age_key}\n"));
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged"]).code(1);
    assert!(
        stdout(&a).contains("notes.md:1:9: age-secret-key"),
        "{}",
        stdout(&a)
    );
    git(&p, &["rm", "-q", "--cached", "notes.md"]);
    std::fs::remove_file(p.path("notes.md")).unwrap();

    // A staged public_keys that declares the staging password public.
    let config = p.read(".envault.yml");
    p.write(".envault.yml", &format!("{config}public_keys: [DB_*]\n"));
    git(&p, &["add", ".envault.yml"]);
    let a = p.run(&["scan", "--staged"]).code(1);
    assert!(
        stdout(&a).contains("config-weakened")
            && stdout(&a).contains("makes the secret DB_PASSWORD public"),
        "{}",
        stdout(&a)
    );

    // .env.prod moved under an environment declared `encrypted: false`, its values in clear.
    p.write(".envault.yml", &config);
    p.run(&["decrypt", "prod", "--in-place", "--yes"]).success();
    // dev was already `encrypted: false`; it now names prod's file (and prod dev's).
    p.write(
        ".envault.yml",
        &config
            .replace(
                "{file: .env.dev, encrypted: false}",
                "{file: .env.prod, encrypted: false}",
            )
            .replace("  prod: .env.prod\n", "  prod: .env.dev\n"),
    );
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged"]).code(1);
    assert!(
        stdout(&a)
            .contains("`dev` is marked `encrypted: false` but its file .env.prod holds secrets"),
        "{}",
        stdout(&a)
    );
}

/// Finding 10: plaintext secrets envault writes are private, and pages that hold secrets say
/// so; without a home folder nothing lands in the current folder (a repository).
#[test]
fn secrets_in_clear_are_written_private() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::tutorial();
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    std::fs::set_permissions(p.path(".env.prod"), std::fs::Permissions::from_mode(0o644)).unwrap();
    p.run(&["decrypt", "prod", "--in-place", "--yes"]).success();
    assert_eq!(crate::common::mode_of(&p.path(".env.prod")), 0o600);

    p.run(&["matrix", "--format", "html", "--output", "report.html"])
        .success();
    assert!(p.read("report.html").contains("Secret values are masked."));
    p.run(&[
        "matrix",
        "--format",
        "html",
        "--show-secrets",
        "--output",
        "report.html",
    ])
    .success();
    let page = p.read("report.html");
    assert!(page.contains("prod_password_789"));
    assert!(!page.contains("Secret values are masked."));
    assert!(page.contains("shows secret values in clear"));
    assert_eq!(crate::common::mode_of(&p.path("report.html")), 0o600);

    // No usable home folder (HOME relative): keygen refuses rather than writing
    // ./relative-home/.config/envault/identity.txt inside the repository.
    let a = p
        .cmd()
        .env("HOME", "relative-home")
        .arg("keygen")
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("cannot find your home folder"),
        "{}",
        stderr(&a)
    );
    assert!(!p.path("relative-home").exists() && !p.path(".config").exists());
}

/// Finding 10: `edit` killed by SIGTERM or SIGHUP (a closed terminal or ssh session) while the
/// editor is open still removes the decrypted file; a folder left by an earlier crash is
/// removed after a day.
#[test]
fn edit_removes_the_plaintext_on_sigterm_and_sighup() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::tutorial();
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    std::fs::create_dir(p.path("tmp")).unwrap();
    // The "editor" says it is open, then waits to be told to quit (as a person would).
    p.write(
        "editor.sh",
        "#!/bin/sh\ntouch \"$READY\"\nwhile [ ! -e \"$GO\" ]; do sleep 0.02; done\nexit 1\n",
    );
    std::fs::set_permissions(p.path("editor.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    for signal in ["TERM", "HUP"] {
        let (ready, go) = (p.path("ready"), p.path("go"));
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_file(&go);
        let child = Command::new(assert_cmd::cargo::cargo_bin("envault"))
            .current_dir(p.dir.path())
            .env("HOME", p.path("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("EDITOR", p.path("editor.sh"))
            .env_remove("VISUAL")
            .env("TMPDIR", p.path("tmp"))
            .env("READY", &ready)
            .env("GO", &go)
            .args(["edit", "prod"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        while !ready.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(std::fs::read_dir(p.path("tmp")).unwrap().count(), 1);
        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        // The editor goes on (the signal was envault's); once it quits, nothing remains.
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::write(&go, "").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{signal}: the editor failed, nothing written"
        );
        assert_eq!(
            std::fs::read_dir(p.path("tmp")).unwrap().count(),
            0,
            "{signal}: the plaintext folder is removed"
        );
    }
}

/// Finding 7, for the people who hold the key: each user records a file's data-key
/// commitment the first time they open it. A key replaced since (by a teammate's re-key, or by
/// anyone who knows the public recipients) is refused until the user reviews and accepts it.
#[test]
fn a_changed_data_key_is_refused_until_accepted() {
    let p = protected_repo();
    // Alice (this HOME) reads prod: its commitment is recorded.
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).success();
    // Bob, another key holder on another machine (another HOME), re-keys prod.
    let bob_home = p.path("home/bob");
    std::fs::create_dir_all(&bob_home).unwrap();
    let bob = |args: &[&str]| {
        p.cmd()
            .env("HOME", &bob_home)
            .env("XDG_STATE_HOME", bob_home.join("state"))
            .args(args)
            .assert()
    };
    let bob_public = stdout(&bob(&["keygen"]).success())
        .lines()
        .last()
        .unwrap()
        .to_owned();
    p.run(&["recipients", "add", &bob_public, "--env", "prod", "--yes"])
        .success();
    git(&p, &["commit", "-q", "-am", "give bob access"]);
    let (_, carol) = age_keygen(p.dir.path(), "carol.txt");
    bob(&["recipients", "add", &carol, "--env", "prod", "--yes"]).success();
    bob(&["recipients", "remove", &carol, "--env", "prod", "--yes"]).success();
    git_cmd(&p)
        .env("GIT_AUTHOR_NAME", "Bob Builder")
        .env("GIT_AUTHOR_EMAIL", "bob@example.com")
        .args(["commit", "-q", "-am", "re-key prod after carol left"])
        .status()
        .unwrap();
    // Alice's next read is refused, and says how to review it.
    let a = p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    assert!(
        stderr(&a).contains("changed to one you never accepted")
            && stderr(&a).contains("envault accept prod"),
        "{}",
        stderr(&a)
    );
    p.run(&["set", "--env", "prod", "DB_PASSWORD", "x"]).code(2);
    let a = p.run(&["accept", "prod", "--yes"]).success();
    let out = stdout(&a);
    assert!(
        out.contains("by Bob Builder <bob@example.com>: re-key prod after carol left"),
        "{out}"
    );
    assert!(out.contains(&bob_public), "{out}");
    let a = p.run(&["get", "--env", "prod", "DB_PASSWORD"]).success();
    assert_eq!(stdout(&a), "prod_password_789\n");
}

/// The sealed line of `key` in an env file's text.
fn sealed_line(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(&format!("{key}=enc:v1:")))
        .unwrap_or_else(|| panic!("{key} is not sealed in:\n{text}"))
        .to_owned()
}

/// Finding 9: after a rotation, a pull request pastes the old sealed value back. Nobody needs a
/// key for that, and the value still opens; CI (`scan --range`), `check` and the merge driver
/// say so, without an identity, and an ordinary change or a deliberate re-seal is not flagged.
#[test]
fn an_old_sealed_value_brought_back_is_flagged() {
    let p = protected_repo();
    let leaked = sealed_line(&p.read(".env.prod"), "DB_PASSWORD");
    p.run(&[
        "set",
        "--env",
        "prod",
        "DB_PASSWORD",
        "rotated-after-the-leak",
    ])
    .success();
    git(&p, &["commit", "-q", "-am", "rotate the leaked password"]);
    let rotation = String::from_utf8(
        git_cmd(&p)
            .args(["rev-parse", "--short=7", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();

    // An ordinary pull request: a fresh value, and a key nobody touched before.
    git(&p, &["checkout", "-q", "-b", "fine"]);
    p.run(&["set", "--env", "prod", "DB_PASSWORD", "another-new-one"])
        .success();
    p.run(&["set", "--env", "prod", "CACHE_TTL", "60"])
        .success();
    git(&p, &["commit", "-q", "-am", "fine"]);
    p.run(&["scan", "--range", "main..fine"]).success();

    // The replay, made without any key.
    git(&p, &["checkout", "-q", "-b", "pr", "main"]);
    let now = sealed_line(&p.read(".env.prod"), "DB_PASSWORD");
    p.write(".env.prod", &p.read(".env.prod").replace(&now, &leaked));
    git(&p, &["commit", "-q", "-am", "tidy up"]);
    // It opens silently: only history can tell.
    let a = p
        .cmd()
        .env(
            "ENVAULT_IDENTITY",
            p.path("home/.config/envault/identity.txt"),
        )
        .args(["get", "--env", "prod", "DB_PASSWORD"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "prod_password_789\n");

    let keyless = |args: &[&str]| {
        p.cmd()
            .env("HOME", p.path("home/ci"))
            .env("XDG_STATE_HOME", p.path("home/ci/state"))
            .args(args)
            .assert()
    };
    let a = keyless(&["scan", "--range", "main..pr"]).code(1);
    let out = stdout(&a);
    assert!(
        out.contains("replayed-value")
            && out.contains("DB_PASSWORD")
            && out.contains(&format!("commit {rotation} had replaced")),
        "{out}"
    );
    assert!(!out.contains("prod_password_789"), "{out}");
    let a = keyless(&["scan", "--range", "main..pr", "--format", "json"]).code(1);
    assert!(stdout(&a).contains("\"rule\": \"replayed-value\""));
    let a = keyless(&["check"]).code(1);
    let out = stdout(&a);
    let replayed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("replayed-value"))
        .collect();
    assert!(
        replayed.len() == 1 && replayed[0].contains("DB_PASSWORD"),
        "{out}"
    );

    // Merged with the driver while main changed the file too: a conflict, main's file kept.
    git(&p, &["checkout", "-q", "main"]);
    p.run(&["set", "--env", "prod", "LOG_LEVEL", "error"])
        .success();
    git(&p, &["commit", "-q", "-am", "main"]);
    let before = p.read(".env.prod");
    let out = git_cmd(&p).args(["merge", "pr"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("brought back from history"), "{err}");
    assert_eq!(p.read(".env.prod"), before);
    git(&p, &["merge", "--abort"]);

    // A revert of the rotation brings it back too; sealing it afresh is how it is accepted.
    git(&p, &["checkout", "-q", "-b", "revert", &rotation]);
    git(&p, &["revert", "--no-edit", &rotation]);
    let a = keyless(&["scan", "--range", &format!("{rotation}..revert")]).code(1);
    assert!(stdout(&a).contains("replayed-value"), "{}", stdout(&a));
    let flagged = |a: &assert_cmd::assert::Assert| stdout(a).contains("replayed-value");
    assert!(flagged(&keyless(&["check"])));
    p.run(&["set", "--env", "prod", "DB_PASSWORD", "prod_password_789"])
        .success();
    assert_ne!(sealed_line(&p.read(".env.prod"), "DB_PASSWORD"), leaked);
    assert!(!flagged(&keyless(&["check"])));
}

/// A change that allows its own finding (an `envault:allow` comment, a `.envaultignore` entry)
/// is reported where a reviewer sees it: by the hook, and by `scan --range` as CI warnings.
#[test]
fn allowances_a_change_adds_are_reported() {
    let p = Project::tutorial_git();
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "protected"]);
    git(&p, &["checkout", "-q", "-b", "pr"]);
    let token = "ghp_R8vK2mQ7xT4nW9pL3sZ6yB1cF5hJ0dG8aE2u";
    p.write("deploy.sh", &format!("TOKEN={token} # envault:allow\n"));
    git(&p, &["add", "deploy.sh"]);
    // Not blocked (the committer's own allowance), but not silent either.
    let a = p.run(&["scan", "--staged"]).success();
    let out = stdout(&a);
    assert!(
        out.contains("deploy.sh:1: warning: config-weakened: an `envault:allow` comment was added, which silences github-token at deploy.sh:1"),
        "{out}"
    );
    assert!(!out.contains(token), "{out}");
    git(&p, &["commit", "-q", "-m", "deploy script"]);
    let a = p
        .run(&["scan", "--range", "main..pr", "--format", "github"])
        .success();
    assert!(
        stdout(&a).starts_with("::warning file=deploy.sh,line=1,title=envault config-weakened::"),
        "{}",
        stdout(&a)
    );
    let a = p
        .run(&["scan", "--range", "main..pr", "--format", "sarif"])
        .success();
    let log: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(log["runs"][0]["results"][0]["level"], "warning");
    // Without the comment the token is a finding; its fingerprint in .envaultignore is
    // reported the same way.
    p.write("deploy.sh", &format!("TOKEN={token}\n"));
    git(&p, &["add", "deploy.sh"]);
    let a = p.run(&["scan", "--staged", "--format", "json"]).code(1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let fp = doc["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    p.write(".envaultignore", &format!("{fp}\n"));
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged"]).success();
    assert!(
        stdout(&a).contains(&format!(
            ".envaultignore:1: warning: config-weakened: `.envaultignore` gains the allow-list entry {fp}, which silences github-token at deploy.sh:1"
        )),
        "{}",
        stdout(&a)
    );
}

/// Finding 10: a private key written where `git add -A` would commit it. `keygen` refuses any
/// path inside a work tree that git does not ignore, its default path included (a HOME inside
/// a repository), and writes nothing.
#[test]
fn keygen_never_writes_into_a_work_tree() {
    let p = Project::tutorial_git();
    std::fs::remove_file(p.path(".git/info/exclude")).unwrap();
    for args in [
        &["keygen"][..],
        &["keygen", "--output", "ci-identity.txt"][..],
        &["keygen", "--output", "keys/new/ci.txt"][..],
    ] {
        let a = p.run(args).code(2);
        assert!(
            stderr(&a).contains("where `git add` would commit your private key"),
            "{args:?}: {}",
            stderr(&a)
        );
    }
    assert!(!p.path("home/.config").exists());
    assert!(!p.path("ci-identity.txt").exists() && !p.path("keys").exists());
    // Through a symlinked folder that leads into the work tree, too.
    let outside = tempfile::tempdir().unwrap();
    let link = outside.path().join("into-repo");
    symlink(p.dir.path(), &link).unwrap();
    p.run(&["keygen", "--output", link.join("id.txt").to_str().unwrap()])
        .code(2);
    // Through a dangling symlink whose target is in the work tree (the default path too).
    let dangling = outside.path().join("dangling");
    symlink(p.path("k7.txt"), &dangling).unwrap();
    p.run(&["keygen", "--output", dangling.to_str().unwrap()])
        .code(2);
    assert!(!p.path("k7.txt").exists());
    std::fs::create_dir_all(p.path("home/.config/envault")).unwrap();
    symlink(
        p.path("dotfiles/identity.txt"),
        p.path("home/.config/envault/identity.txt"),
    )
    .unwrap();
    p.run(&["keygen"]).code(2);
    std::fs::remove_file(p.path("home/.config/envault/identity.txt")).unwrap();
    // A path git ignores, or one outside, is fine.
    p.write(".gitignore", "/secrets/\n");
    p.run(&["keygen", "--output", "secrets/ci.txt"]).success();
    p.run(&[
        "keygen",
        "--output",
        outside.path().join("ci.txt").to_str().unwrap(),
    ])
    .success();
}

/// Turning `.env.prod` into a link to another file must not hide what that file brings: an
/// old value or a replaced data key is judged through the link, by the hook, `scan --range`
/// and `check` (and an unchanged value is not flagged).
#[test]
fn an_env_file_turned_into_a_link_is_judged_through_it() {
    let p = protected_repo();
    let leaked = sealed_line(&p.read(".env.prod"), "DB_PASSWORD");
    p.run(&["set", "--env", "prod", "DB_PASSWORD", "rotated"])
        .success();
    git(&p, &["commit", "-q", "-am", "rotate"]);
    git(&p, &["checkout", "-q", "-b", "pr"]);
    let now = sealed_line(&p.read(".env.prod"), "DB_PASSWORD");
    std::fs::create_dir(p.path("cfg")).unwrap();
    p.write("cfg/.env.prod", &p.read(".env.prod").replace(&now, &leaked));
    std::fs::remove_file(p.path(".env.prod")).unwrap();
    symlink("cfg/.env.prod", p.path(".env.prod")).unwrap();
    git(&p, &["add", "-A"]);
    let ci = |args: &[&str]| {
        p.cmd()
            .env("HOME", p.path("home/ci"))
            .env("XDG_STATE_HOME", p.path("home/ci/state"))
            .args(args)
            .assert()
    };
    git(
        &p,
        &[
            "commit",
            "-q",
            "--no-verify",
            "-m",
            "move env files to cfg/",
        ],
    );
    let a = ci(&["scan", "--range", "main..pr"]).code(1);
    assert!(stdout(&a).contains("replayed-value"), "{}", stdout(&a));
    let a = ci(&["check"]);
    let replayed: Vec<String> = stdout(&a)
        .lines()
        .filter(|l| l.contains("replayed-value"))
        .map(str::to_owned)
        .collect();
    assert!(
        replayed.len() == 1 && replayed[0].contains("DB_PASSWORD"),
        "{replayed:?}"
    );
    // A whole new data key behind the link.
    let recipient = p
        .read("cfg/.env.prod")
        .lines()
        .find_map(|l| l.strip_prefix("#envault:recipient "))
        .unwrap()
        .to_owned();
    let other = Project::tutorial();
    other.write(
        ".envault.yml",
        &format!("{}recipients: [{recipient}]\n", other.read(".envault.yml")),
    );
    other.run(&["encrypt", "prod"]).success();
    p.write("cfg/.env.prod", &other.read(".env.prod"));
    git(&p, &["commit", "-q", "--no-verify", "-am", "tidy"]);
    let a = ci(&["scan", "--range", "main..pr"]).code(1);
    assert!(stdout(&a).contains("data-key-replaced"), "{}", stdout(&a));
    // And the user's own commands refuse the key they never accepted.
    p.run(&["set", "--env", "prod", "NEW_SECRET", "x"]).code(2);
}

/// A key written by someone who knows only the public recipients, sealed under a fresh file id
/// (as `Project::tutorial` + `encrypt` in another folder does).
fn forged_prod(p: &Project) -> String {
    let recipient = p
        .read(".envault.yml")
        .lines()
        .find_map(|l| l.strip_prefix("recipients: ["))
        .unwrap()
        .trim_end_matches(']')
        .to_owned();
    let other = Project::tutorial();
    other.write(
        ".envault.yml",
        &format!("{}recipients: [{recipient}]\n", other.read(".envault.yml")),
    );
    other.run(&["encrypt", "prod"]).success();
    other.read(".env.prod")
}

/// The record of accepted keys is the same whatever folder a command runs from, whatever link
/// leads to the file, and whatever path the config gives the environment.
#[test]
fn a_forged_key_is_refused_from_anywhere_it_is_reached() {
    let p = protected_repo();
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).success();
    std::fs::create_dir(p.path("sub")).unwrap();
    let from_sub = |args: &[&str]| p.cmd().current_dir(p.path("sub")).args(args).assert();
    from_sub(&["get", "--env", "prod", "DB_PASSWORD"]).success();

    // The file itself replaced: refused from the root and from a subfolder.
    let real = p.read(".env.prod");
    p.write(".env.prod", &forged_prod(&p));
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    from_sub(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    from_sub(&["set", "--env", "prod", "NEW_SECRET", "x"]).code(2);
    p.write(".env.prod", &real);

    // The config pointed at another file holding the forged key: the same environment.
    git(&p, &["checkout", "-q", "-b", "pr"]);
    p.write(".env.production", &forged_prod(&p));
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("prod: .env.prod", "prod: .env.production"),
    );
    git(&p, &["add", "-A"]);
    git(
        &p,
        &["commit", "-q", "--no-verify", "-m", "rename prod's file"],
    );
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    assert!(stdout(&a).contains("data-key-replaced"), "{}", stdout(&a));
}

/// An env file in a folder that a pull request turns into a link to another folder.
#[test]
fn a_linked_folder_on_the_way_is_followed() {
    let p = Project::tutorial_git();
    std::fs::create_dir(p.path("cfg")).unwrap();
    std::fs::rename(p.path(".env.prod"), p.path("cfg/.env.prod")).unwrap();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml")
            .replace("prod: .env.prod", "prod: cfg/.env.prod"),
    );
    p.protect();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "base"]);
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).success();
    git(&p, &["checkout", "-q", "-b", "pr"]);
    let forged = forged_prod(&p);
    git(&p, &["rm", "-q", "-r", "cfg"]);
    std::fs::create_dir(p.path("evil")).unwrap();
    p.write("evil/.env.prod", &forged);
    symlink("evil", p.path("cfg")).unwrap();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "--no-verify", "-m", "move"]);
    let a = p.run(&["scan", "--range", "main..pr"]).code(1);
    assert!(stdout(&a).contains("data-key-replaced"), "{}", stdout(&a));
    p.run(&["get", "--env", "prod", "DB_PASSWORD"]).code(2);
    p.run(&["set", "--env", "prod", "NEW_SECRET", "x"]).code(2);
}

/// A data key replaced in two steps (the header removed in one commit, a forged one written in
/// the next), and a config planted in a subfolder that takes `--env prod` over there: CI sees
/// both without a key.
#[test]
fn a_key_replaced_in_steps_or_by_a_planted_config_is_reported() {
    let p = protected_repo();
    git(&p, &["checkout", "-q", "-b", "steps"]);
    p.write(".env.prod", "LOG_LEVEL=warn\n");
    git(&p, &["commit", "-q", "--no-verify", "-am", "prod: reset"]);
    p.write(".env.prod", &forged_prod(&p));
    git(
        &p,
        &["commit", "-q", "--no-verify", "-am", "prod: re-encrypt"],
    );
    let a = p.run(&["scan", "--range", "main..steps"]).code(1);
    let out = stdout(&a);
    assert!(
        out.contains("encryption header of `prod` was removed")
            && out.contains("data-key-replaced"),
        "{out}"
    );

    git(&p, &["checkout", "-q", "-b", "planted", "main"]);
    std::fs::create_dir(p.path("src")).unwrap();
    p.write(
        "src/.envault.yml",
        "environments:\n  prod: ../.env.production\nrecipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]\n",
    );
    p.write(".env.production", "LOG_LEVEL=warn\n");
    git(&p, &["add", "-A"]);
    let a = p.run(&["scan", "--staged"]).code(1);
    assert!(
        stdout(&a).contains("a new src/.envault.yml takes over commands run below src/"),
        "{}",
        stdout(&a)
    );
    git(&p, &["commit", "-q", "--no-verify", "-m", "service config"]);
    let a = p.run(&["scan", "--range", "main..planted"]).code(1);
    assert!(stdout(&a).contains("takes over commands"), "{}", stdout(&a));
}

/// `scan --baseline` writes into the repository. A pull request that commits the baseline as a
/// symlink (or a folder link on its way) must not turn that write into one outside it; a work
/// tree scan reads a symlink's text as git stores it, never the file it points to; and a file
/// name cannot add lines to the baseline it is listed in.
#[test]
fn a_baseline_write_stays_in_the_repository() {
    let p = Project::tutorial_git();
    p.protect();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("bashrc");
    std::fs::write(&victim, "alias ls='ls --color'\n").unwrap();
    p.write(
        "legacy.py",
        "TOKEN = \"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\"\n",
    );

    // The default baseline, committed as a link out.
    symlink(&victim, p.path(".envault-baseline")).unwrap();
    let a = p.run(&["scan", "--baseline", "--update-baseline"]).code(2);
    assert!(stderr(&a).contains("is a symlink"), "{}", stderr(&a));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "alias ls='ls --color'\n"
    );
    // A dangling one: the write would create the target.
    std::fs::remove_file(p.path(".envault-baseline")).unwrap();
    let planted = outside.path().join("planted");
    symlink(&planted, p.path(".envault-baseline")).unwrap();
    p.run(&["scan", "--baseline"]).code(2);
    assert!(!planted.exists());
    // A link into git's own folder (a hook that would then let every secret through), and
    // a path there named outright.
    std::fs::remove_file(p.path(".envault-baseline")).unwrap();
    std::fs::create_dir_all(p.path(".git/hooks")).unwrap();
    let hook = "#!/bin/sh\nexec envault scan --staged\n";
    std::fs::write(p.path(".git/hooks/pre-commit"), hook).unwrap();
    symlink(".git/hooks/pre-commit", p.path(".envault-baseline")).unwrap();
    p.run(&["scan", "--baseline", "--update-baseline"]).code(2);
    std::fs::remove_file(p.path(".envault-baseline")).unwrap();
    let a = p
        .run(&["scan", "--baseline", ".git/info/attributes"])
        .code(2);
    assert!(stderr(&a).contains(".git folder"), "{}", stderr(&a));
    assert!(!p.path(".git/info/attributes").exists());
    assert_eq!(
        std::fs::read_to_string(p.path(".git/hooks/pre-commit")).unwrap(),
        hook
    );
    // A named baseline below a folder that links out.
    symlink(outside.path(), p.path("ci")).unwrap();
    let a = p.run(&["scan", "--baseline", "ci/baseline"]).code(2);
    assert!(stderr(&a).contains("outside"), "{}", stderr(&a));
    assert!(!outside.path().join("baseline").exists());

    // A link to a secret elsewhere is scanned as its text, not followed.
    std::fs::remove_file(p.path("ci")).unwrap();
    std::fs::write(
        outside.path().join("credentials"),
        "aws_secret_access_key = 9sK2vLq8ZtR4xW1nB6mC3pH7jD5fG0aQeYuIoT2k\n",
    )
    .unwrap();
    symlink(outside.path().join("credentials"), p.path("creds")).unwrap();
    let a = p.run(&["scan", "creds", "--format", "json"]).code(0);
    assert!(!stdout(&a).contains("creds"), "{}", stdout(&a));

    // A file name with a newline stays on its comment line.
    std::fs::remove_file(p.path("creds")).unwrap();
    let fake = "0123456789abcdef0123456789abcdef";
    p.write(
        &format!("x\n{fake}  # .py"),
        "TOKEN = \"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\"\n",
    );
    p.run(&["scan", "--baseline"]).code(0);
    let baseline = p.read(".envault-baseline");
    assert!(!baseline.lines().any(|l| l.starts_with(fake)), "{baseline}");
    assert!(baseline.contains("# x\\n0123"), "{baseline}");
}

/// A repository's `.envault.yml` cannot make envault write into git's own folder: a hook or
/// git's config there would run code the next time git runs.
#[test]
fn env_files_never_live_in_the_git_folder() {
    let p = Project::tutorial_git();
    std::fs::create_dir_all(p.path(".git/hooks")).unwrap();
    let hook = "#!/bin/sh\necho checked\n";
    std::fs::write(p.path(".git/hooks/post-checkout"), hook).unwrap();
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            "  prod: .env.prod\n  hook: {file: .git/hooks/post-checkout, encrypted: false}\n",
        ),
    );
    let a = p.run(&["sync", "dev", "hook"]).code(2);
    assert!(stderr(&a).contains(".git folder"), "{}", stderr(&a));
    assert_eq!(
        std::fs::read_to_string(p.path(".git/hooks/post-checkout")).unwrap(),
        hook
    );
}

/// `$ENVAULT_IDENTITY_KEY` in a repository's env file never expands to the key `run` holds.
#[test]
fn an_env_file_cannot_copy_the_identity_key() {
    let p = Project::tutorial();
    p.write(
        ".env.dev",
        "LEAK=${ENVAULT_IDENTITY_KEY}\nALSO=${UNSET:-${LEAK:-none}}x\n",
    );
    let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let a = p
        .cmd()
        .env("ENVAULT_IDENTITY_KEY", key)
        .args([
            "run",
            "--env",
            "dev",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$LEAK\" \"$ALSO\"",
        ])
        .assert()
        .success();
    assert_eq!(stdout(&a), "|nonex");
    let a = p
        .cmd()
        .env("ENVAULT_IDENTITY_KEY", key)
        .args(["export", "--env", "dev", "--expand"])
        .assert();
    assert!(!stdout(&a).contains("AGE-SECRET"), "{}", stdout(&a));
}

/// A file name is repository content: an escape sequence in it must reach the terminal as
/// text, never as a control character that rewrites what the user sees.
#[test]
fn control_characters_in_file_names_are_shown_escaped() {
    let p = Project::tutorial_git();
    p.protect();
    let name = "notes\u{1b}[2K\rclean.txt";
    p.write(
        name,
        "TOKEN = \"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\"\n",
    );
    let a = p.run(&["scan", "--format", "text"]).code(1);
    let out = stdout(&a);
    assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
    assert!(
        out.contains("notes\\u{1b}[2K\\rclean.txt:1:10: github-token"),
        "{out}"
    );
}
