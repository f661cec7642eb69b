//! Secret stores against real servers where one runs here (moto's SSM, RustyVault for Vault
//! KV v1) and in-test servers that follow the vendors' API documents (Vault KV v2, Doppler,
//! 1Password Connect). `scripts/install-peers` installs moto and rvault.

use std::process::{Child, Command, Stdio};

use crate::common::http::{call, free_port, reply, wait_for_port, Request, Response, Server};
use crate::common::{peer, run_ok, stderr, stdout, Project};
use serde_json::json;

/// A server process, stopped when the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> (Proc, String) {
    let bin = peer("venv/bin/moto_server", "moto's server");
    let port = free_port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    (Proc(child), format!("http://127.0.0.1:{port}"))
}

/// The tutorial with `stores` appended to its config. The user trusts the local test servers
/// it names (as `envault trust` records them): a loopback address is not trusted by itself.
fn project(stores: &str) -> Project {
    let p = Project::tutorial();
    p.write(
        ".envault.yml",
        &format!("{}{stores}", p.read(".envault.yml")),
    );
    let local: Vec<&str> = stores
        .match_indices("http://127.0.0.1:")
        .map(|(i, _)| {
            let rest = &stores[i..];
            &rest[..rest.find(['\'', ' ', '}', '\n']).unwrap_or(rest.len())]
        })
        .collect();
    if !local.is_empty() {
        std::fs::create_dir_all(p.path("home/.config/envault")).unwrap();
        p.write(
            "home/.config/envault/trusted-endpoints",
            &(local.join("\n") + "\n"),
        );
    }
    p
}

fn aws(p: &Project) -> assert_cmd::Command {
    let mut c = p.cmd();
    c.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("ENVAULT_TRUSTED_ENDPOINTS");
    c
}

/// Parameter types as moto reports them, through boto3.
fn ssm_types(endpoint: &str) -> String {
    let py = peer("venv/bin/python", "python");
    run_ok(Command::new(py).args([
        "-c",
        "import boto3,sys\nc=boto3.client('ssm',endpoint_url=sys.argv[1],region_name='us-east-1',aws_access_key_id='test',aws_secret_access_key='test')\nfor p in sorted(c.get_parameters_by_path(Path='/production/myapp',Recursive=True)['Parameters'],key=lambda p:p['Name']): print(p['Name'],p['Type'])",
        endpoint,
    ]))
}

#[test]
fn ssm_push_pull_list_get_set_delete() {
    let (_server, url) = moto();
    let p = project(&format!(
        "public_keys: [LOG_LEVEL]\nstores:\n  ssm-prod: {{type: aws_ssm, region: us-east-1, prefix: /production/myapp/, endpoint_url: '{url}'}}\n"
    ));
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            "  prod: {file: .env.prod, store: ssm-prod}\n",
        ),
    );
    let a = aws(&p).args(["store", "push", "prod"]).assert().success();
    assert!(
        stdout(&a).contains("Wrote 6 key(s) to store 'ssm-prod'"),
        "{}",
        stdout(&a)
    );
    // Only a key declared public is a plain String; everything else, secret or not, is
    // SecureString.
    let types = ssm_types(&url);
    assert!(
        types.contains("/production/myapp/LOG_LEVEL String\n"),
        "{types}"
    );
    assert!(
        types.contains("/production/myapp/DB_PASSWORD SecureString\n"),
        "{types}"
    );
    assert!(
        types.contains("/production/myapp/DB_HOST SecureString\n"),
        "{types}"
    );

    let a = aws(&p).args(["store", "list"]).assert().success();
    let out = stdout(&a);
    assert!(out.contains("store 'ssm-prod' (aws_ssm, "), "{out}");
    assert!(
        out.contains("  DB_PASSWORD=••••••\n") && out.contains("  LOG_LEVEL=warn\n"),
        "{out}"
    );
    let a = aws(&p)
        .args(["store", "list", "--prefix", "/production/"])
        .assert()
        .success();
    assert!(
        stdout(&a).contains("  myapp/DB_HOST=prod-db.internal\n"),
        "{}",
        stdout(&a)
    );
    let a = aws(&p)
        .args(["store", "get", "DB_PASSWORD", "--store", "ssm-prod"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "prod_password_789\n");

    // Rotated in the store: pull brings it into the file; diff sees the store as a side.
    aws(&p)
        .args(["store", "set", "DB_PASSWORD", "-", "--store", "ssm-prod"])
        .write_stdin("rotated-in-ssm\n")
        .assert()
        .success();
    let a = aws(&p)
        .args(["diff", "prod", "store:ssm-prod"])
        .assert()
        .code(1);
    assert!(
        stdout(&a).contains("  DB_PASSWORD: •••••• → ••••••\n"),
        "{}",
        stdout(&a)
    );
    aws(&p)
        .args(["store", "pull", "prod", "--dry-run"])
        .assert()
        .success();
    assert!(p
        .read(".env.prod")
        .contains("DB_PASSWORD=prod_password_789\n"));
    aws(&p)
        .args(["sync", "store:ssm-prod", "prod"])
        .assert()
        .success();
    assert!(p.read(".env.prod").contains("DB_PASSWORD=rotated-in-ssm\n"));
    aws(&p)
        .args(["diff", "store:ssm-prod", "prod"])
        .assert()
        .code(0);

    // Deleting: push --allow-delete removes keys the file no longer has.
    p.write(
        ".env.prod",
        &p.read(".env.prod").replace("CACHE_TTL=1200\n", ""),
    );
    aws(&p)
        .args(["store", "push", "prod", "--allow-delete"])
        .assert()
        .success();
    aws(&p)
        .args(["store", "get", "CACHE_TTL", "--store", "ssm-prod"])
        .assert()
        .code(2);
    aws(&p)
        .args(["store", "delete", "LOG_LEVEL", "--store", "ssm-prod"])
        .assert()
        .success();
    assert!(!ssm_types(&url).contains("LOG_LEVEL"));
}

#[test]
fn ssm_failed_push_names_the_keys_written() {
    let (_server, url) = moto();
    let p = project(&format!(
        "stores:\n  root: {{type: aws_ssm, region: us-east-1, prefix: /, endpoint_url: '{url}'}}\n"
    ));
    // AWS (and moto) refuse names that start with "aws".
    p.write(".env.prod", "ALPHA=1\nAWS_THING=2\nBETA=3\n");
    let a = aws(&p)
        .args(["store", "push", "prod", "--store", "root"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(err.contains("error: store 'root' ("), "{err}");
    assert!(err.contains("/AWS_THING"), "{err}");
    assert!(
        err.contains("(written before the failure: ALPHA, BETA)"),
        "{err}"
    );
}

fn rvault() -> (Proc, String, String, tempfile::TempDir) {
    let bin = peer("rvault/bin/rvault", "RustyVault (rvault)");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let conf = dir.path().join("config.hcl");
    std::fs::write(
        &conf,
        format!(
            "storage \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\napi_addr = \"{addr}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .args(["server", "--config", conf.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let (status, body) = call(
        "PUT",
        &format!("{addr}/v1/sys/init"),
        &[],
        r#"{"secret_shares":1,"secret_threshold":1}"#,
    );
    assert_eq!(status, 200, "{body}");
    let init: serde_json::Value = serde_json::from_str(&body).unwrap();
    let key = init["keys"][0].as_str().unwrap().to_owned();
    let token = init["root_token"].as_str().unwrap().to_owned();
    let (status, body) = call(
        "PUT",
        &format!("{addr}/v1/sys/unseal"),
        &[],
        &json!({"key": key}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    (Proc(child), addr, token, dir)
}

#[test]
fn vault_kv1_against_rusty_vault() {
    let (_server, addr, token, _dir) = rvault();
    let p = project(&format!(
        "stores:\n  my-vault: {{type: vault, address: '{addr}', mount: secret, path: myapp/prod, kv_version: 1}}\n"
    ));
    let vault = |p: &Project, token: &str| {
        let mut c = p.cmd();
        c.env("VAULT_TOKEN", token).env_remove("VAULT_ADDR");
        c
    };
    vault(&p, &token)
        .args(["store", "push", "prod", "--store", "my-vault"])
        .assert()
        .success();
    // What Vault holds, read with its own API: one path, the environment's map.
    let (status, body) = call(
        "GET",
        &format!("{addr}/v1/secret/myapp/prod"),
        &[("X-Vault-Token", &token)],
        "",
    );
    assert_eq!(status, 200);
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(data["data"]["DB_PASSWORD"], "prod_password_789");
    assert_eq!(data["data"].as_object().unwrap().len(), 6);

    let a = vault(&p, &token)
        .args(["store", "get", "DB_NAME", "--store", "my-vault"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "myapp_prod\n");
    vault(&p, &token)
        .args(["store", "set", "DB_NAME", "renamed", "--store", "my-vault"])
        .assert()
        .success();
    vault(&p, &token)
        .args(["store", "pull", "prod", "--store", "my-vault"])
        .assert()
        .success();
    assert!(p.read(".env.prod").contains("DB_NAME=renamed\n"));
    let a = vault(&p, &token)
        .args(["store", "list", "--store", "my-vault", "--prefix", "myapp"])
        .assert()
        .success();
    assert!(
        stdout(&a).contains("  myapp/prod/DB_NAME=renamed\n"),
        "{}",
        stdout(&a)
    );

    // A bad token: the error names the store, the endpoint, the path and the fix.
    let a = vault(&p, "not-a-token")
        .args(["store", "list", "--store", "my-vault"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains(&format!(
            "error: store 'my-vault' ({addr}): permission denied on secret/myapp/prod"
        )),
        "{err}"
    );
    assert!(err.contains("hint: check VAULT_TOKEN"), "{err}");
    // A token from ~/.vault-token works as the Vault CLI's does.
    std::fs::write(p.path("home/.vault-token"), format!("{token}\n")).unwrap();
    p.cmd()
        .env_remove("VAULT_TOKEN")
        .args(["store", "get", "DB_NAME", "--store", "my-vault"])
        .assert()
        .success();
}

/// Vault says where a store's mount is wrong, before anything is written: a mistyped mount,
/// and a `kv_version:` the mount contradicts; left out, the version is read from the server.
#[test]
fn vault_mount_and_version_come_from_the_server() {
    let (_server, addr, token, _dir) = rvault();
    let p = project(&format!(
        "stores:\n  nomount: {{type: vault, address: '{addr}', mount: sceret, path: myapp/prod, kv_version: 1}}\n  wrongv: {{type: vault, address: '{addr}', mount: secret, path: myapp/prod, kv_version: 2}}\n  auto: {{type: vault, address: '{addr}', mount: secret, path: myapp/prod}}\n"
    ));
    let vault = |p: &Project| {
        let mut c = p.cmd();
        c.env("VAULT_TOKEN", &token).env_remove("VAULT_ADDR");
        c
    };
    let held = |path: &str| {
        call(
            "GET",
            &format!("{addr}/v1/{path}"),
            &[("X-Vault-Token", &token)],
            "",
        )
        .0
    };
    for args in [
        &["store", "push", "prod", "--store", "nomount"][..],
        &["store", "set", "DB_NAME", "x", "--store", "nomount"],
    ] {
        let a = vault(&p).args(args).assert().code(2);
        let err = stderr(&a);
        assert!(err.contains("Vault has no mount sceret/"), "{err}");
        assert!(err.contains("the KV mounts are secret/"), "{err}");
        assert!(
            !stdout(&a).contains("Wrote") && !stdout(&a).contains("Set "),
            "{}",
            stdout(&a)
        );
    }
    let a = vault(&p)
        .args(["store", "push", "prod", "--store", "wrongv"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains(
            "the mount secret/ is a KV version 1 engine, but the store says kv_version: 2"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: set kv_version: 1, or leave it out"),
        "{err}"
    );
    let a = vault(&p)
        .args(["store", "list", "--store", "wrongv"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("KV version 1 engine"), "{}", stderr(&a));
    assert_eq!(held("secret/myapp/prod"), 404, "nothing was written");
    assert_eq!(held("secret/data/myapp/prod"), 404, "nothing was written");
    // Left out, the version is the server's.
    vault(&p)
        .args(["store", "push", "prod", "--store", "auto"])
        .assert()
        .success();
    assert_eq!(held("secret/myapp/prod"), 200);
    let a = vault(&p)
        .args(["store", "get", "DB_NAME", "--store", "auto"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "myapp_prod\n");
}

/// Where the token may not read the mount table, `kv_version:` must be given; and a write that
/// Vault answers with 404 (no such route) is an error, never "Wrote".
#[test]
fn vault_without_a_mount_table_needs_kv_version_and_404_is_no_write() {
    let server = Server::start(|r: &Request| match (r.method.as_str(), r.path()) {
        (_, p) if p.starts_with("/v1/sys/") => reply(403, json!({"errors": ["permission denied"]})),
        ("GET", _) => reply(404, json!({"errors": []})),
        _ => reply(
            404,
            json!({"errors": ["no handler for route \"kv/myapp/prod\". route entry not found."]}),
        ),
    });
    let p = project(&format!(
        "stores:\n  unknown: {{type: vault, address: '{u}', mount: kv, path: myapp/prod}}\n  v1: {{type: vault, address: '{u}', mount: kv, path: myapp/prod, kv_version: 1}}\n",
        u = server.url
    ));
    let vault = |p: &Project| {
        let mut c = p.cmd();
        c.env("VAULT_TOKEN", "t").env_remove("VAULT_ADDR");
        c
    };
    let a = vault(&p)
        .args(["store", "push", "prod", "--store", "unknown"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("cannot tell the KV version of the mount kv/"),
        "{err}"
    );
    assert!(
        err.contains("hint: set kv_version: 1 or 2 in the store"),
        "{err}"
    );
    assert!(
        !server.requests().iter().any(|r| r.method == "POST"),
        "nothing sent"
    );
    let a = vault(&p)
        .args(["store", "push", "prod", "--store", "v1"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("Vault answered 404 to POST kv/myapp/prod: no handler for route"),
        "{err}"
    );
    assert!(!stdout(&a).contains("Wrote"), "{}", stdout(&a));
    let a = vault(&p)
        .args(["store", "set", "A", "1", "--store", "v1"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("Vault answered 404"), "{}", stderr(&a));
}

/// Vault's KV version 2 API (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2):
/// data under /v1/<mount>/data/<path>, listing under /metadata/; the first two requests fail
/// with 503 to exercise the retries.
/// Vault's response envelope around `data`.
fn envelope(data: serde_json::Value) -> serde_json::Value {
    json!({"request_id": "00000000-0000-0000-0000-000000000000", "lease_id": "", "renewable": false,
           "lease_duration": 0, "data": data, "wrap_info": null, "warnings": null, "auth": null})
}

fn kv2_server() -> Server {
    let store =
        std::sync::Mutex::new(std::collections::BTreeMap::<String, serde_json::Value>::new());
    let hits = std::sync::atomic::AtomicUsize::new(0);
    Server::start(move |r: &Request| {
        if hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            return reply(503, json!({"errors": ["Vault is sealed"]}));
        }
        if r.header("X-Vault-Token") != Some("kv2-token") {
            return reply(403, json!({"errors": ["permission denied"]}));
        }
        let mut s = store.lock().unwrap();
        match (r.method.as_str(), r.path()) {
            // The mount as Vault describes it to any token that may use it.
            ("GET", "/v1/sys/internal/ui/mounts/secret") => reply(
                200,
                envelope(
                    json!({"type": "kv", "path": "secret/", "description": "key/value secret storage", "options": {"version": "2"}}),
                ),
            ),
            ("GET", p) if p.starts_with("/v1/secret/data/") => {
                match s.get(&p["/v1/secret/data/".len()..]) {
                    Some(d) => reply(
                        200,
                        envelope(
                            json!({"data": d, "metadata": {"version": 1, "destroyed": false, "deletion_time": "", "created_time": "2026-11-29T00:00:00Z", "custom_metadata": null}}),
                        ),
                    ),
                    None => reply(404, json!({"errors": []})),
                }
            }
            ("POST" | "PUT", p) if p.starts_with("/v1/secret/data/") => {
                s.insert(
                    p["/v1/secret/data/".len()..].to_owned(),
                    r.json()["data"].clone(),
                );
                reply(
                    200,
                    envelope(
                        json!({"version": 2, "destroyed": false, "deletion_time": "", "created_time": "2026-11-29T00:00:00Z", "custom_metadata": null}),
                    ),
                )
            }
            ("LIST", p) if p.starts_with("/v1/secret/metadata/") => {
                let dir = format!(
                    "{}/",
                    p["/v1/secret/metadata/".len()..].trim_end_matches('/')
                );
                let keys: Vec<String> = s
                    .keys()
                    .filter_map(|k| k.strip_prefix(&dir))
                    .map(str::to_owned)
                    .collect();
                reply(200, envelope(json!({"keys": keys})))
            }
            _ => reply(405, json!({"errors": ["unsupported"]})),
        }
    })
}

#[test]
fn vault_kv2_with_retries() {
    let server = kv2_server();
    let p = project(&format!(
        "stores:\n  v2: {{type: vault, address: '{}', path: myapp/prod}}\n",
        server.url
    ));
    let vault = |p: &Project| {
        let mut c = p.cmd();
        c.env("VAULT_TOKEN", "kv2-token").env_remove("VAULT_ADDR");
        c
    };
    vault(&p)
        .args(["store", "push", "prod", "--store", "v2"])
        .assert()
        .success();
    let reqs = server.requests();
    assert_eq!(reqs[0].method, "GET");
    assert!(reqs.iter().any(|r| r.method == "POST"
        && r.path() == "/v1/secret/data/myapp/prod"
        && r.json()["data"]["DB_PASSWORD"] == "prod_password_789"));
    let a = vault(&p)
        .args(["store", "list", "--prefix", "myapp"])
        .assert()
        .success();
    assert!(
        stdout(&a).contains("  myapp/prod/LOG_LEVEL=warn\n"),
        "{}",
        stdout(&a)
    );
    let a = vault(&p)
        .args(["store", "get", "CACHE_TTL"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "1200\n");
}

/// Doppler's API v3 (https://docs.doppler.com/reference): download, update, one secret, delete;
/// Bearer auth; `{"messages": [...], "success": false}` error bodies; one 429 with Retry-After.
fn doppler_server() -> Server {
    let secrets = std::sync::Mutex::new(std::collections::BTreeMap::<String, String>::new());
    let throttled = std::sync::atomic::AtomicBool::new(false);
    Server::start(move |r: &Request| {
        if r.header("Authorization") != Some("Bearer dp.st.prd.token") {
            return reply(
                401,
                json!({"messages": ["Invalid Auth token"], "success": false}),
            );
        }
        if !throttled.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let mut resp = reply(
                429,
                json!({"messages": ["Too many requests"], "success": false}),
            );
            resp.headers.push(("Retry-After".into(), "0".into()));
            return resp;
        }
        let ok_scope = |project: Option<String>, config: Option<String>| {
            project.as_deref() == Some("myapp") && config.as_deref() == Some("prd")
        };
        let mut s = secrets.lock().unwrap();
        match (r.method.as_str(), r.path()) {
            ("GET", "/v3/configs/config/secrets/download")
                if ok_scope(r.query("project"), r.query("config")) =>
            {
                let mut all = json!({"DOPPLER_PROJECT": "myapp", "DOPPLER_CONFIG": "prd", "DOPPLER_ENVIRONMENT": "prd"});
                for (k, v) in s.iter() {
                    all[k] = json!(v);
                }
                reply(200, all)
            }
            ("POST", "/v3/configs/config/secrets") => {
                let body = r.json();
                if body["project"] != "myapp" || body["config"] != "prd" {
                    return reply(
                        404,
                        json!({"messages": ["Could not find requested config"], "success": false}),
                    );
                }
                for (k, v) in body["secrets"].as_object().unwrap() {
                    s.insert(k.clone(), v.as_str().unwrap().to_owned());
                }
                reply(200, json!({"secrets": {}, "success": true}))
            }
            ("GET", "/v3/configs/config/secret") => {
                match s.get(&r.query("name").unwrap_or_default()) {
                    Some(v) => reply(
                        200,
                        json!({"name": r.query("name"), "value": {"raw": v, "computed": v}, "success": true}),
                    ),
                    None => reply(
                        404,
                        json!({"messages": ["Could not find requested secret"], "success": false}),
                    ),
                }
            }
            ("DELETE", "/v3/configs/config/secret") => {
                s.remove(&r.query("name").unwrap_or_default());
                reply(200, json!({"success": true}))
            }
            _ => reply(404, json!({"messages": ["Not found"], "success": false})),
        }
    })
}

#[test]
fn doppler_push_pull_and_errors() {
    let server = doppler_server();
    let p = project(&format!(
        "stores:\n  doppler: {{type: doppler, project: myapp, config: prd, api_url: '{}'}}\n",
        server.url
    ));
    let dop = |p: &Project, token: &str| {
        let mut c = p.cmd();
        c.env("DOPPLER_TOKEN", token);
        c
    };
    dop(&p, "dp.st.prd.token")
        .args(["store", "push", "prod"])
        .assert()
        .success();
    let a = dop(&p, "dp.st.prd.token")
        .args(["store", "list"])
        .assert()
        .success();
    let out = stdout(&a);
    assert!(
        out.contains("6 key(s)") && !out.contains("DOPPLER_PROJECT"),
        "{out}"
    );
    dop(&p, "dp.st.prd.token")
        .args(["store", "delete", "CACHE_TTL"])
        .assert()
        .success();
    dop(&p, "dp.st.prd.token")
        .args(["store", "pull", "prod", "--allow-delete"])
        .assert()
        .success();
    assert!(!p.read(".env.prod").contains("CACHE_TTL"));
    let a = dop(&p, "wrong").args(["store", "list"]).assert().code(2);
    let err = stderr(&a);
    assert!(
        err.contains("authentication failed: 401 Invalid Auth token"),
        "{err}"
    );
    assert!(err.contains("hint: set DOPPLER_TOKEN"), "{err}");
    let a = p
        .cmd()
        .env_remove("DOPPLER_TOKEN")
        .args(["store", "list"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("DOPPLER_TOKEN is not set"));
    // The token is never printed.
    assert!(!err.contains("wrong"));
}

/// 1Password Connect (https://developer.1password.com/docs/connect/connect-api-reference):
/// vaults and items found by filter, the item read and written whole.
fn connect_server() -> Server {
    let item = std::sync::Mutex::new(json!({
        "id": "item1", "title": "myapp-prod", "category": "SECURE_NOTE", "vault": {"id": "vault1"},
        "fields": [{"id": "notesPlain", "label": "notesPlain", "purpose": "NOTES", "type": "STRING", "value": "kept"}]
    }));
    Server::start(move |r: &Request| {
        if r.header("Authorization") != Some("Bearer op-token") {
            return reply(
                401,
                json!({"status": 401, "message": "Invalid token signature"}),
            );
        }
        match (r.method.as_str(), r.path()) {
            ("GET", "/v1/vaults")
                if r.query("filter").as_deref() == Some("name eq \"Engineering\"") =>
            {
                reply(200, json!([{"id": "vault1", "name": "Engineering"}]))
            }
            ("GET", "/v1/vaults/vault1/items")
                if r.query("filter").as_deref() == Some("title eq \"myapp-prod\"") =>
            {
                reply(200, json!([{"id": "item1", "title": "myapp-prod"}]))
            }
            ("GET", "/v1/vaults/vault1/items/item1") => reply(200, item.lock().unwrap().clone()),
            ("PUT", "/v1/vaults/vault1/items/item1") => {
                *item.lock().unwrap() = r.json();
                reply(200, r.json())
            }
            _ => reply(404, json!({"status": 404, "message": "not found"})),
        }
    })
}

#[test]
fn one_password_connect() {
    let server = connect_server();
    let p = project(&format!(
        "stores:\n  op: {{type: onepassword, vault: Engineering, item: myapp-prod, connect_host: '{}'}}\n",
        server.url
    ));
    let op = |p: &Project| {
        let mut c = p.cmd();
        c.env("OP_CONNECT_TOKEN", "op-token")
            .env_remove("OP_CONNECT_HOST");
        c
    };
    op(&p).args(["store", "push", "prod"]).assert().success();
    let put = server
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PUT")
        .unwrap();
    let fields = put.json()["fields"].as_array().unwrap().clone();
    let field = |label: &str| fields.iter().find(|f| f["label"] == label).unwrap().clone();
    assert_eq!(field("DB_PASSWORD")["type"], "CONCEALED");
    assert_eq!(field("DB_PASSWORD")["value"], "prod_password_789");
    assert_eq!(field("notesPlain")["value"], "kept", "other fields stay");
    let a = op(&p).args(["store", "get", "DB_HOST"]).assert().success();
    assert_eq!(stdout(&a), "prod-db.internal\n");
    op(&p).args(["diff", "prod", "store:op"]).assert().code(0);
}

#[test]
fn endpoints_named_by_the_config_need_trust() {
    let p = project(
        "stores:\n  doppler: {type: doppler, project: myapp, config: prd, api_url: 'http://envault-test.invalid:9'}\n",
    );
    let a = p
        .cmd()
        .env("DOPPLER_TOKEN", "secret-token")
        .args(["store", "list"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(err.contains("error: store 'doppler' (http://envault-test.invalid:9): http://envault-test.invalid:9 is named by .envault.yml but not trusted"), "{err}");
    assert!(
        err.contains("hint: if this endpoint is yours, run `envault trust doppler`"),
        "{err}"
    );
    // Trusted in CI through the environment: the request is now attempted (and fails to
    // resolve, naming the store and endpoint).
    let a = p
        .cmd()
        .env("DOPPLER_TOKEN", "secret-token")
        .env("ENVAULT_TRUSTED_ENDPOINTS", "http://envault-test.invalid:9")
        .args(["store", "list"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("cannot reach the store"),
        "{}",
        stderr(&a)
    );
    // Or by the user, once.
    let a = p.run(&["trust", "doppler"]).success();
    assert!(stdout(&a).contains("Trusted http://envault-test.invalid:9 (store 'doppler')"));
    // Trusting it again records nothing twice.
    let a = p.run(&["trust", "doppler"]).success();
    assert!(
        stdout(&a).contains("http://envault-test.invalid:9 is already trusted"),
        "{}",
        stdout(&a)
    );
    let recorded = p.read("home/.config/envault/trusted-endpoints");
    assert_eq!(
        recorded.matches("http://envault-test.invalid:9").count(),
        1,
        "{recorded}"
    );
    let a = p
        .cmd()
        .env("DOPPLER_TOKEN", "secret-token")
        .args(["store", "list"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("cannot reach the store"),
        "{}",
        stderr(&a)
    );
    assert!(!stderr(&a).contains("secret-token"));
}

#[test]
fn file_store_is_an_age_file_of_the_users_key() {
    let p = project("stores:\n  local: {type: file, path: ~/.local/share/envault/store.age}\n");
    p.run(&["keygen"]).success();
    p.run(&["store", "push", "prod"]).success();
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(p.path("home/.config/envault/identity.txt"))
        .arg(p.path("home/.local/share/envault/store.age"))
        .output()
        .expect("the age CLI (scripts/install-peers installs it)");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DB_PASSWORD=prod_password_789\n"));
    let a = p.run(&["store", "get", "DB_PASSWORD"]).success();
    assert_eq!(stdout(&a), "prod_password_789\n");

    // A store file the age CLI wrote in its default binary form opens too.
    let recipient = p
        .read("home/.config/envault/identity.txt")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .expect("the identity file names its public key");
    let plain = p.path("plain.env");
    std::fs::write(&plain, "API_TOKEN=from-the-age-cli\n").unwrap();
    let store = p.path("home/.local/share/envault/store.age");
    run_ok(
        Command::new("age")
            .args(["-e", "-r", &recipient, "-o"])
            .arg(&store)
            .arg(&plain),
    );
    assert!(
        !std::fs::read(&store).unwrap().starts_with(b"-----BEGIN"),
        "binary, not armored"
    );
    let a = p.run(&["store", "get", "API_TOKEN"]).success();
    assert_eq!(stdout(&a), "from-the-age-cli\n");
    // A file for another key says so in the store's words.
    let other = run_ok(
        Command::new("age-keygen")
            .arg("-y")
            .arg("/dev/stdin")
            .stdin(
                std::fs::File::open({
                    let k = p.path("other.key");
                    run_ok(Command::new("age-keygen").arg("-o").arg(&k));
                    k
                })
                .unwrap(),
            ),
    );
    run_ok(
        Command::new("age")
            .args(["-e", "-r", other.trim(), "-o"])
            .arg(&store)
            .arg(&plain),
    );
    let a = p.run(&["store", "get", "API_TOKEN"]).code(2);
    let err = stderr(&a);
    assert!(
        err.contains("none of your identities opens the store file"),
        "{err}"
    );
    assert!(!err.contains("data key"), "{err}");
}

#[test]
fn a_failed_pull_writes_nothing() {
    let server = Server::start(|_: &Request| -> Response {
        reply(500, json!({"messages": ["boom"], "success": false}))
    });
    let p = project(&format!(
        "stores:\n  doppler: {{type: doppler, project: myapp, config: prd, api_url: '{}'}}\n",
        server.url
    ));
    let before = p.read(".env.prod");
    let a = p
        .cmd()
        .env("DOPPLER_TOKEN", "t")
        .args(["store", "pull", "prod"])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("server error after 4 attempts: 500 boom"),
        "{}",
        stderr(&a)
    );
    assert_eq!(server.requests().len(), 4, "bounded retries");
    assert_eq!(p.read(".env.prod"), before);
}

#[test]
fn pull_into_an_encrypted_environment_writes_it_sealed() {
    let p = project("stores:\n  local: {type: file, path: ~/.local/share/envault/store.age}\n");
    p.add_identity("");
    p.run(&["encrypt", "prod"]).success();
    // Push decrypts; the store holds plain values under its own encryption.
    p.run(&["store", "push", "prod"]).success();
    let a = p.run(&["store", "get", "DB_PASSWORD"]).success();
    assert_eq!(stdout(&a), "prod_password_789\n");
    p.cmd()
        .args(["store", "set", "DB_PASSWORD"])
        .write_stdin("from-the-store\n")
        .assert()
        .success();
    let before = p.read(".env.prod");
    p.run(&["store", "pull", "prod"]).success();
    let after = p.read(".env.prod");
    assert!(!after.contains("from-the-store"), "written sealed: {after}");
    // Only the changed value's line differs; the others keep their ciphertext.
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.starts_with("DB_PASSWORD=enc:v1:"));
    let a = p.run(&["get", "--env", "prod", "DB_PASSWORD"]).success();
    assert_eq!(stdout(&a), "from-the-store\n");
}

/// `store list` shows one line per key: a value's line breaks are escaped, so a value cannot
/// pass for more entries.
#[test]
fn store_list_escapes_line_breaks_in_values() {
    let p = project("stores:\n  local: {type: file, path: ~/.local/share/envault/store.age}\n");
    p.run(&["keygen"]).success();
    let a = p
        .run(&[
            "store",
            "set",
            "NOTE",
            "first\n  FAKE_KEY=injected\r",
            "--store",
            "local",
        ])
        .success();
    // A carriage return has no quoting every dotenv library reads back: said as a pull says it.
    assert!(
        stderr(&a).contains("NOTE: no quoting reads the same in every dotenv library"),
        "{}",
        stderr(&a)
    );
    let a = p
        .run(&["store", "list", "--store", "local", "--show-secrets"])
        .success();
    let out = stdout(&a);
    assert!(
        out.contains("  NOTE=first\\n  FAKE_KEY=injected\\r\n"),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with("  FAKE_KEY")), "{out}");
}

/// SSM failures are one line that names the cause and the fix; the SDK's account is shown with
/// `--verbose` only. Missing credentials are named as such (not as a network problem), and an
/// endpoint that refuses connections fails at once.
#[test]
fn ssm_errors_name_the_cause() {
    let p = project(
        "stores:\n  ssm: {type: aws_ssm, region: us-east-1, prefix: /p/}\n  dead: {type: aws_ssm, region: us-east-1, prefix: /p/, endpoint_url: 'http://127.0.0.1:9'}\n",
    );
    let no_creds = |p: &Project| {
        let mut c = aws(p);
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        c
    };
    let a = no_creds(&p)
        .args(["store", "list", "--store", "ssm"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert_eq!(
        err,
        "error: store 'ssm' (ssm.us-east-1.amazonaws.com): no AWS credentials found (listing /p)\nhint: check your AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, `aws sso login`) and their IAM policy\n"
    );
    let a = no_creds(&p)
        .args(["store", "list", "--store", "ssm", "--verbose"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("\ndetail: "), "{}", stderr(&a));

    let a = aws(&p)
        .env("ENVAULT_TRUSTED_ENDPOINTS", "http://127.0.0.1:9")
        .args(["store", "list", "--store", "dead"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.starts_with("error: store 'dead' (http://127.0.0.1:9): cannot reach http://127.0.0.1:9 (listing /p)\nhint: check the region or endpoint_url and your network"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
}

/// Runs `code` with boto3's Secrets Manager client `c` on `endpoint` (moto) and returns what it
/// prints: the independent reader and writer of the Secrets Manager tests.
fn boto_sm(endpoint: &str, code: &str) -> String {
    let py = peer("venv/bin/python", "python");
    run_ok(Command::new(py).args([
        "-c",
        &format!(
            "import boto3,json,sys\nc=boto3.client('secretsmanager',endpoint_url=sys.argv[1],region_name='us-east-1',aws_access_key_id='test',aws_secret_access_key='test')\n{code}"
        ),
        endpoint,
    ]))
}

/// The tutorial with a Secrets Manager store (`layout`: `prefix: …` or `secret: …`) on moto
/// as prod's store.
fn sm_project(url: &str, layout: &str) -> Project {
    let p = project(&format!(
        "public_keys: [LOG_LEVEL]\nstores:\n  sm-prod: {{type: aws_secretsmanager, region: us-east-1, {layout}, kms_key_id: alias/myapp, tags: {{team: payments, managed-by: envault}}, endpoint_url: '{url}'}}\n"
    ));
    p.write(
        ".envault.yml",
        &p.read(".envault.yml").replace(
            "  prod: .env.prod\n",
            "  prod: {file: .env.prod, store: sm-prod}\n",
        ),
    );
    p
}

#[test]
fn secretsmanager_one_secret_per_key() {
    let (_server, url) = moto();
    let p = sm_project(&url, "prefix: production/myapp/");
    let a = aws(&p).args(["store", "push", "prod"]).assert().success();
    assert!(
        stdout(&a).contains("Wrote 6 key(s) to store 'sm-prod'"),
        "{}",
        stdout(&a)
    );
    // boto3 sees one secret per key, created with the KMS key and the tags.
    let seen = boto_sm(
        &url,
        "for s in sorted(c.list_secrets()['SecretList'],key=lambda s:s['Name']):\n  v=c.get_secret_value(SecretId=s['Name'])['SecretString']\n  t=sorted((x['Key'],x['Value']) for x in s.get('Tags',[]))\n  print(s['Name'],v,s.get('KmsKeyId'),t)",
    );
    assert!(
        seen.contains("production/myapp/DB_PASSWORD prod_password_789 alias/myapp [('managed-by', 'envault'), ('team', 'payments')]\n"),
        "{seen}"
    );
    assert_eq!(seen.lines().count(), 6, "{seen}");

    // A secret another tool wrote under the prefix is read; one outside it is not.
    boto_sm(
        &url,
        "c.create_secret(Name='production/myapp/FROM_CONSOLE',SecretString='console value')\nc.create_secret(Name='production/other/NOT_OURS',SecretString='x')\nc.create_secret(Name='production/myappx/NOT_OURS',SecretString='x')",
    );
    let a = aws(&p)
        .args(["store", "list", "--show-secrets"])
        .assert()
        .success();
    let out = stdout(&a);
    assert!(
        out.contains("store 'sm-prod' (aws_secretsmanager, ") && out.contains(": 7 key(s)\n"),
        "{out}"
    );
    assert!(out.contains("  FROM_CONSOLE=console value\n"), "{out}");
    assert!(!out.contains("NOT_OURS"), "{out}");
    let a = aws(&p)
        .args(["store", "get", "DB_PASSWORD", "--store", "sm-prod"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "prod_password_789\n");

    // Set, then diff and sync see the store as a side.
    aws(&p)
        .args(["store", "set", "DB_PASSWORD", "-", "--store", "sm-prod"])
        .write_stdin("rotated-by-hand\n")
        .assert()
        .success();
    let got = boto_sm(
        &url,
        "print(c.get_secret_value(SecretId='production/myapp/DB_PASSWORD')['SecretString'])",
    );
    assert_eq!(got, "rotated-by-hand\n");
    // What a secrets manager holds is masked in a diff too, whatever the key's name.
    let a = aws(&p)
        .args(["diff", "prod", "store:sm-prod"])
        .assert()
        .code(1);
    assert!(
        stdout(&a).contains("  FROM_CONSOLE=••••••\n"),
        "{}",
        stdout(&a)
    );
    assert!(!stdout(&a).contains("console value"), "{}", stdout(&a));
    aws(&p)
        .args(["sync", "store:sm-prod", "prod", "--skip", "FROM_CONSOLE"])
        .assert()
        .success();
    assert!(p
        .read(".env.prod")
        .contains("DB_PASSWORD=rotated-by-hand\n"));

    // Deleting schedules the secret for deletion (AWS keeps it restorable); writing the key
    // again restores it with the new value.
    aws(&p)
        .args(["store", "delete", "CACHE_TTL", "--store", "sm-prod"])
        .assert()
        .success();
    let state = boto_sm(
        &url,
        "print('DeletedDate' in c.describe_secret(SecretId='production/myapp/CACHE_TTL'))",
    );
    assert_eq!(state, "True\n");
    aws(&p)
        .args(["store", "get", "CACHE_TTL", "--store", "sm-prod"])
        .assert()
        .code(2);
    aws(&p)
        .args(["store", "set", "CACHE_TTL", "900", "--store", "sm-prod"])
        .assert()
        .success();
    let got = boto_sm(
        &url,
        "d=c.describe_secret(SecretId='production/myapp/CACHE_TTL')\nprint('DeletedDate' in d, c.get_secret_value(SecretId='production/myapp/CACHE_TTL')['SecretString'])",
    );
    assert_eq!(got, "False 900\n");
    // A push with --allow-delete removes what the file does not hold.
    aws(&p)
        .args(["store", "push", "prod", "--allow-delete"])
        .assert()
        .success();
    let left = boto_sm(
        &url,
        "print(sorted(s['Name'] for s in c.list_secrets()['SecretList'] if s['Name'].startswith('production/myapp/')))",
    );
    assert!(!left.contains("FROM_CONSOLE"), "{left}");
    assert!(left.contains("production/myapp/DB_HOST"), "{left}");
}

#[test]
fn secretsmanager_one_json_secret() {
    let (_server, url) = moto();
    let p = sm_project(&url, "secret: production/myapp");
    // Another tool's secret: a number and a nested object among the strings.
    boto_sm(
        &url,
        "c.create_secret(Name='production/myapp',SecretString=json.dumps({'DB_PORT':5432,'EXTRA':{'a':1},'DB_PASSWORD':'from-aws'}))",
    );
    let a = aws(&p)
        .args(["store", "list", "--show-secrets"])
        .assert()
        .success();
    let out = stdout(&a);
    assert!(out.contains("  DB_PORT=5432\n"), "{out}");
    // A nested value reads as its JSON text, exactly as written.
    assert!(out.contains("  EXTRA={\"a\": 1}\n"), "{out}");
    assert!(out.contains("  DB_PASSWORD=from-aws\n"), "{out}");

    aws(&p).args(["store", "push", "prod"]).assert().success();
    // One secret, its keys in their order, the number still a number; keys envault did not
    // change keep their values.
    let body = boto_sm(
        &url,
        "print(c.get_secret_value(SecretId='production/myapp')['SecretString'])",
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["DB_PORT"], json!(5432), "{body}");
    assert_eq!(v["DB_PASSWORD"], json!("prod_password_789"), "{body}");
    assert_eq!(v["EXTRA"], json!({"a": 1}), "{body}");
    assert_eq!(v["LOG_LEVEL"], json!("warn"), "{body}");
    assert!(body.starts_with("{\"DB_PORT\":5432,\"EXTRA\""), "{body}");
    let a = aws(&p)
        .args(["store", "get", "DB_HOST", "--store", "sm-prod"])
        .assert()
        .success();
    assert_eq!(stdout(&a), "prod-db.internal\n");

    // Pull brings a value boto3 changed into the file.
    boto_sm(
        &url,
        "v=json.loads(c.get_secret_value(SecretId='production/myapp')['SecretString'])\nv['DB_NAME']='renamed_db'\nc.put_secret_value(SecretId='production/myapp',SecretString=json.dumps(v))",
    );
    aws(&p).args(["store", "pull", "prod"]).assert().success();
    assert!(p.read(".env.prod").contains("DB_NAME=renamed_db\n"));

    // A secret that is not an object of keys is refused, naming it.
    boto_sm(
        &url,
        "c.put_secret_value(SecretId='production/myapp',SecretString='just-a-password')",
    );
    let a = aws(&p)
        .args(["store", "list", "--store", "sm-prod"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("secret production/myapp holds a plain value, not a JSON object of keys")
            && err.contains("hint: "),
        "{err}"
    );
    assert!(!err.contains("just-a-password"), "{err}");
}

#[test]
fn secretsmanager_rotation_is_shown_and_guarded() {
    let (_server, url) = moto();
    let p = sm_project(&url, "prefix: production/myapp/");
    aws(&p).args(["store", "push", "prod"]).assert().success();
    // AWS rotates DB_PASSWORD from now on.
    boto_sm(
        &url,
        "c.rotate_secret(SecretId='production/myapp/DB_PASSWORD',RotationRules={'AutomaticallyAfterDays':30},RotateImmediately=False)",
    );
    let a = aws(&p).args(["store", "list"]).assert().success();
    let out = stdout(&a);
    assert!(
        out.contains("  DB_PASSWORD=••••••  (rotated by AWS)\n"),
        "{out}"
    );
    assert!(out.contains("  DB_HOST="), "{out}");
    assert!(!out.contains("DB_HOST=prod-db.internal  (rotated"), "{out}");
    let a = aws(&p)
        .args(["store", "list", "--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let keys = v["stores"][0]["keys"].as_array().unwrap();
    let pw = keys.iter().find(|k| k["key"] == "DB_PASSWORD").unwrap();
    assert_eq!(pw["rotated_by_service"], json!(true));

    let before = boto_sm(
        &url,
        "print(c.get_secret_value(SecretId='production/myapp/DB_PASSWORD')['SecretString'])",
    );
    let a = aws(&p)
        .args([
            "store",
            "set",
            "DB_PASSWORD",
            "by-hand",
            "--store",
            "sm-prod",
        ])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("AWS rotates DB_PASSWORD") && err.contains("--force"),
        "{err}"
    );
    // A push that would change it is refused whole.
    p.write(
        ".env.prod",
        &p.read(".env.prod")
            .replace("DB_PASSWORD=prod_password_789", "DB_PASSWORD=changed")
            .replace("LOG_LEVEL=warn", "LOG_LEVEL=info"),
    );
    aws(&p).args(["store", "push", "prod"]).assert().code(2);
    let after = boto_sm(
        &url,
        "print(c.get_secret_value(SecretId='production/myapp/DB_PASSWORD')['SecretString'], c.get_secret_value(SecretId='production/myapp/LOG_LEVEL')['SecretString'])",
    );
    assert_eq!(after, format!("{} warn\n", before.trim_end()));
    aws(&p)
        .args([
            "store",
            "set",
            "DB_PASSWORD",
            "by-hand",
            "--store",
            "sm-prod",
            "--force",
        ])
        .assert()
        .success();
    let forced = boto_sm(
        &url,
        "print(c.get_secret_value(SecretId='production/myapp/DB_PASSWORD')['SecretString'])",
    );
    assert_eq!(forced, "by-hand\n");

    // One JSON secret that AWS rotates: any write to it is a write to the rotated secret,
    // a new key included; the dry run says the push would stop.
    let p = sm_project(&url, "secret: production/json");
    aws(&p).args(["store", "push", "prod"]).assert().success();
    boto_sm(
        &url,
        "c.rotate_secret(SecretId='production/json',RotationRules={'AutomaticallyAfterDays':30},RotateImmediately=False)",
    );
    p.write(".env.prod", &(p.read(".env.prod") + "NEW_FLAG=1\n"));
    let a = aws(&p)
        .args(["store", "push", "prod", "--dry-run"])
        .assert()
        .success();
    assert!(
        stderr(&a).contains("AWS rotates NEW_FLAG")
            && stderr(&a).contains("the push would stop here"),
        "{}",
        stderr(&a)
    );
    aws(&p).args(["store", "push", "prod"]).assert().code(2);
    assert_eq!(sm_json(&url, "production/json")["NEW_FLAG"], json!(null));
    aws(&p)
        .args(["store", "push", "prod", "--force"])
        .assert()
        .success();
    assert_eq!(sm_json(&url, "production/json")["NEW_FLAG"], json!("1"));
}

/// When the other writer of [`racing_proxy`] writes.
#[derive(Clone, Copy, PartialEq)]
enum Race {
    /// Before each of envault's first n writes lands (each from the version then current).
    Before(usize),
    /// Once before envault's first write, and once right after it (from envault's version).
    Around,
}

/// A proxy in front of moto that lets another writer change the JSON secret around envault's
/// writes: the races two pushes into one secret can run. The other writer adds a key of its
/// own (`OTHER_1`, `OTHER_2`…) to whatever version is current.
fn racing_proxy(moto: &str, secret: &'static str, race: Race) -> Server {
    let moto = moto.to_owned();
    let writes = std::sync::atomic::AtomicUsize::new(0);
    let others = std::sync::atomic::AtomicUsize::new(0);
    Server::start(move |req: &Request| {
        let target = req.header("X-Amz-Target").unwrap_or("").to_owned();
        let forward = |target: &str, body: &str| {
            call(
                "POST",
                &format!("{moto}/"),
                &[
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", target),
                    (
                        "Authorization",
                        req.header("Authorization").unwrap_or_default(),
                    ),
                ],
                body,
            )
        };
        // The other writer: reads the current keys, adds its own, writes.
        let other_writes = || {
            let n = others.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let (_, got) = forward(
                "secretsmanager.GetSecretValue",
                &json!({"SecretId": secret}).to_string(),
            );
            let got: serde_json::Value = serde_json::from_str(&got).unwrap();
            let mut keys: serde_json::Value =
                serde_json::from_str(got["SecretString"].as_str().unwrap()).unwrap();
            keys[format!("OTHER_{n}")] = json!("theirs");
            let (status, body) = forward(
                "secretsmanager.PutSecretValue",
                &json!({"SecretId": secret, "SecretString": keys.to_string()}).to_string(),
            );
            assert_eq!(status, 200, "{body}");
        };
        let ours = target == "secretsmanager.PutSecretValue";
        let nth = if ours {
            writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        } else {
            usize::MAX
        };
        let before = match race {
            Race::Before(n) => nth < n,
            Race::Around => nth == 0,
        };
        if ours && before {
            other_writes();
        }
        let (status, body) = forward(&target, &req.body);
        if ours && nth == 0 && race == Race::Around {
            other_writes();
        }
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    })
}

/// The JSON secret as boto3 reads it.
fn sm_json(url: &str, secret: &str) -> serde_json::Value {
    let body = boto_sm(
        url,
        &format!("print(c.get_secret_value(SecretId='{secret}')['SecretString'])"),
    );
    serde_json::from_str(&body).unwrap()
}

#[test]
fn secretsmanager_json_write_keeps_another_writers_keys() {
    for (race, others) in [
        (Race::Before(1), 1),
        (Race::Around, 2),
        (Race::Before(2), 2),
    ] {
        let (_server, url) = moto();
        boto_sm(
            &url,
            "c.create_secret(Name='production/myapp',SecretString=json.dumps({'DB_PASSWORD':'old'}))",
        );
        let proxy = racing_proxy(&url, "production/myapp", race);
        let p = sm_project(&proxy.url, "secret: production/myapp");
        let a = aws(&p).args(["store", "push", "prod"]).assert().success();
        let err = stderr(&a);
        assert!(
            err.contains("another writer changed secret production/myapp"),
            "{err}"
        );
        // Every other writer's key and every key of the push are there (the second writer
        // of Before(2) started from envault's first attempt, which lacked OTHER_1).
        let v = sm_json(&url, "production/myapp");
        for n in 1..=others {
            assert_eq!(v[format!("OTHER_{n}")], json!("theirs"), "{v}");
        }
        assert_eq!(v["DB_PASSWORD"], json!("prod_password_789"), "{v}");
        assert_eq!(v["CACHE_TTL"], json!("1200"), "{v}");
    }
}

#[test]
fn secretsmanager_json_write_that_keeps_losing_the_race_says_what_it_wrote() {
    let (_server, url) = moto();
    boto_sm(
        &url,
        "c.create_secret(Name='production/myapp',SecretString=json.dumps({'A':'1'}))",
    );
    let proxy = racing_proxy(&url, "production/myapp", Race::Before(usize::MAX));
    let p = sm_project(&proxy.url, "secret: production/myapp");
    let a = aws(&p)
        .args(["store", "set", "MINE", "1", "--store", "sm-prod"])
        .assert()
        .code(2);
    let err = stderr(&a);
    assert!(
        err.contains("kept changing under this write (5 attempts)")
            && err.contains("(written before the failure: MINE)"),
        "{err}"
    );
    assert!(!err.contains("nothing was written"), "{err}");
    assert_eq!(sm_json(&url, "production/myapp")["MINE"], json!("1"));
}

#[test]
fn secretsmanager_json_values_keep_their_text_and_odd_secrets_are_handled() {
    let (_server, url) = moto();
    let p = sm_project(&url, "secret: production/myapp");
    let raw = r#"{"NESTED": {"zeta": 1, "alpha": 2}, "HUGE": 123456789012345678901234, "VER": 3.10, "K": "v"}"#;
    boto_sm(
        &url,
        &format!("c.create_secret(Name='production/myapp',SecretString='{raw}')"),
    );
    aws(&p)
        .args(["store", "set", "K", "v3", "--store", "sm-prod"])
        .assert()
        .success();
    aws(&p)
        .args([
            "store",
            "set",
            "NESTED",
            r#"{"b": [1, 2]}"#,
            "--store",
            "sm-prod",
        ])
        .assert()
        .success();
    let body = boto_sm(
        &url,
        "print(c.get_secret_value(SecretId='production/myapp')['SecretString'])",
    );
    assert_eq!(
        body,
        "{\"NESTED\":{\"b\": [1, 2]},\"HUGE\":123456789012345678901234,\"VER\":3.10,\"K\":\"v3\"}\n"
    );
    let a = aws(&p)
        .args(["store", "pull", "prod", "--dry-run", "--show-secrets"])
        .assert()
        .success();
    assert!(stdout(&a).contains("VER=3.10"), "{}", stdout(&a));

    // The same key twice: JSON readers disagree on which one counts, so it is refused.
    boto_sm(
        &url,
        r#"c.put_secret_value(SecretId='production/myapp',SecretString='{"DUP": "one", "DUP": "two"}')"#,
    );
    let a = aws(&p).args(["store", "list"]).assert().code(2);
    assert!(
        stderr(&a).contains("holds the key DUP twice"),
        "{}",
        stderr(&a)
    );

    // Created without a value (as Terraform does): the first write gives it one.
    let p2 = sm_project(&url, "secret: tf/placeholder");
    boto_sm(&url, "c.create_secret(Name='tf/placeholder')");
    let a = aws(&p2).args(["store", "list"]).assert().success();
    assert!(stdout(&a).contains(": 0 key(s)"), "{}", stdout(&a));
    aws(&p2)
        .args(["store", "set", "A", "1", "--store", "sm-prod"])
        .assert()
        .success();
    assert_eq!(sm_json(&url, "tf/placeholder"), json!({"A": "1"}));

    // Scheduled for deletion: reads see nothing, a write restores it.
    boto_sm(&url, "c.delete_secret(SecretId='tf/placeholder')");
    let a = aws(&p2).args(["store", "list"]).assert().success();
    assert!(stdout(&a).contains(": 0 key(s)"), "{}", stdout(&a));
    aws(&p2)
        .args(["store", "set", "B", "2", "--store", "sm-prod"])
        .assert()
        .success();
    let state = boto_sm(
        &url,
        "d=c.describe_secret(SecretId='tf/placeholder')\nprint('DeletedDate' in d, c.get_secret_value(SecretId='tf/placeholder')['SecretString'])",
    );
    // Restored holding only what was written: reads showed it empty, and it is so.
    assert_eq!(state, "False {\"B\":\"2\"}\n");
}

#[test]
fn secretsmanager_per_key_leaves_out_what_is_not_a_value_and_masks_by_default() {
    let (_server, url) = moto();
    let p = sm_project(&url, "prefix: production/myapp/");
    boto_sm(
        &url,
        "c.create_secret(Name='production/myapp/DB_HOST',SecretString='db.internal')\nc.create_secret(Name='production/myapp/LOG_LEVEL',SecretString='warn')\nc.create_secret(Name='production/myapp/RDS',SecretString=json.dumps({'username':'admin','password':'Rds-Pass-77'}))\nc.create_secret(Name='production/myapp/EMPTY')\nc.create_secret(Name='production/myapp/BLOB',SecretBinary=b'\\x00\\x01')",
    );
    let a = aws(&p).args(["store", "list"]).assert().success();
    let (out, err) = (stdout(&a), stderr(&a));
    // Everything a secrets manager holds is masked unless declared public.
    assert!(out.contains("  DB_HOST=••••••\n"), "{out}");
    assert!(out.contains("  RDS=••••••\n"), "{out}");
    assert!(out.contains("  LOG_LEVEL=warn\n"), "{out}");
    assert!(!out.contains("Rds-Pass-77"), "{out}");
    assert!(out.contains(": 3 key(s)"), "{out}");
    assert!(
        err.contains("secret production/myapp/EMPTY has no value yet; left out")
            && err.contains("secret production/myapp/BLOB holds binary data, not text; left out"),
        "{err}"
    );
    // An empty value is refused before anything is written.
    let a = aws(&p)
        .args([
            "store",
            "set",
            "NEW_KEY",
            "",
            "--store",
            "sm-prod",
            "--allow-empty",
        ])
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("NEW_KEY: an empty value (Secrets Manager holds none)"),
        "{}",
        stderr(&a)
    );
}
/// An AWS JSON-protocol error, as SSM and Secrets Manager send them.
fn aws_error(code: &str, message: &str) -> Response {
    reply(400, json!({"__type": code, "message": message}))
}

/// An endpoint that answers as AWS does when it refuses: each store's path picks the refusal.
fn refusing_aws() -> Server {
    Server::start(|req: &Request| {
        let body = req.json();
        let denied = |action: &str, resource: &str| {
            aws_error(
                "AccessDeniedException",
                &format!("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"),
            )
        };
        match req.header("X-Amz-Target").unwrap_or("") {
            "AmazonSSM.GetParametersByPath" => match body["Path"].as_str().unwrap_or("") {
                "/denied" => denied(
                    "ssm:GetParametersByPath",
                    "arn:aws:ssm:us-east-1:123456789012:parameter/denied",
                ),
                "/expired" => aws_error(
                    "ExpiredTokenException",
                    "The security token included in the request is expired",
                ),
                _ => aws_error("ThrottlingException", "Rate exceeded"),
            },
            "secretsmanager.ListSecrets" => {
                let prefix = body["Filters"][0]["Values"][0].as_str().unwrap_or("");
                if prefix == "denied/" {
                    denied(
                        "secretsmanager:ListSecrets",
                        "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
                    )
                } else {
                    reply(
                        200,
                        json!({"SecretList": [{"Name": format!("{prefix}DB_PASSWORD"), "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}]}),
                    )
                }
            }
            // A batch read answers 200 and names each secret it could not read.
            "secretsmanager.BatchGetSecretValue" => reply(
                200,
                json!({"SecretValues": [], "Errors": [{"SecretId": "batch/DB_PASSWORD", "ErrorCode": "AccessDeniedException", "Message": "not authorized to perform: secretsmanager:GetSecretValue on resource: batch/DB_PASSWORD"}]}),
            ),
            // An answer cut short, with a secret in what arrived.
            "secretsmanager.GetSecretValue" if body["SecretId"] == "garbled" => Response {
                status: 200,
                headers: Vec::new(),
                body: r#"{"Name":"garbled","SecretString":"{\"DB_PASSWORD\":\"Very-Secret-Pw-42"#.to_owned(),
            },
            "secretsmanager.GetSecretValue" => aws_error(
                "DecryptionFailure",
                "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
            ),
            other => panic!("unexpected request {other}"),
        }
    })
}

#[test]
fn aws_refusals_name_the_cause() {
    let server = refusing_aws();
    let url = &server.url;
    let p = project(&format!(
        "stores:\n  denied: {{type: aws_ssm, region: us-east-1, prefix: /denied/, endpoint_url: '{url}'}}\n  expired: {{type: aws_ssm, region: us-east-1, prefix: /expired/, endpoint_url: '{url}'}}\n  throttled: {{type: aws_ssm, region: us-east-1, prefix: /throttled/, endpoint_url: '{url}'}}\n  sm-denied: {{type: aws_secretsmanager, region: us-east-1, prefix: denied/, endpoint_url: '{url}'}}\n  sm-batch: {{type: aws_secretsmanager, region: us-east-1, prefix: batch/, endpoint_url: '{url}'}}\n  sm-kms: {{type: aws_secretsmanager, region: us-east-1, secret: kms, endpoint_url: '{url}'}}\n  sm-garbled: {{type: aws_secretsmanager, region: us-east-1, secret: garbled, endpoint_url: '{url}'}}\n"
    ));
    let fails = |store: &str| {
        let a = aws(&p)
            .args(["store", "list", "--store", store])
            .assert()
            .code(2);
        stderr(&a)
    };
    let err = fails("denied");
    assert_eq!(
        err,
        format!("error: store 'denied' ({url}): access denied (listing /denied): User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ssm:GetParametersByPath on resource: arn:aws:ssm:us-east-1:123456789012:parameter/denied because no identity-based policy allows the ssm:GetParametersByPath action\nhint: grant the action on the resource in the identity's IAM policy\n")
    );
    let err = fails("expired");
    assert_eq!(
        err,
        format!("error: store 'expired' ({url}): the AWS credentials have expired (listing /expired)\nhint: renew them (`aws sso login`, or new keys) and try again\n")
    );
    let err = fails("throttled");
    assert!(
        err.starts_with(&format!(
            "error: store 'throttled' ({url}): throttled by AWS (listing /throttled)\n"
        )),
        "{err}"
    );
    // Throttling was retried: four attempts.
    let throttled = server
        .requests()
        .iter()
        .filter(|r| r.body.contains("/throttled"))
        .count();
    assert_eq!(throttled, 4);

    let err = fails("sm-denied");
    assert!(
        err.starts_with(&format!("error: store 'sm-denied' ({url}): access denied (listing secrets): User: arn:aws:iam::123456789012:user/ci is not authorized to perform: secretsmanager:ListSecrets")),
        "{err}"
    );
    let err = fails("sm-batch");
    assert!(
        err.starts_with(&format!("error: store 'sm-batch' ({url}): access denied (reading batch/DB_PASSWORD): not authorized to perform: secretsmanager:GetSecretValue")),
        "{err}"
    );
    let err = fails("sm-kms");
    assert!(
        err.starts_with(&format!("error: store 'sm-kms' ({url}): KMS refused (reading kms): Secrets Manager can't decrypt")),
        "{err}"
    );
    assert!(
        err.contains("\nhint: the identity needs kms:Decrypt"),
        "{err}"
    );
}
