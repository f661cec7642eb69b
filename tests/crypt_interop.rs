//! The encrypted format against independent implementations: the stock `age` CLI opens the
//! data-key block, and a Python script using PyNaCl (written from docs/format.md alone) opens
//! the values. Both are installed by scripts/install-peers; missing, these tests fail and say so.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use envault::crypt::{self, generate_identity, DataKey, Header, Identities};
use envault::dotenv::Document;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crypt")
}

fn peers_python() -> PathBuf {
    common::peer("venv/bin/python", "PyNaCl's venv")
}

/// The data key, as the stock age CLI decrypts the `#envault:key` lines (docs/format.md).
fn data_key_with_age_cli(env_text: &str, identity_file: &Path) -> Vec<u8> {
    let armored: String = env_text
        .lines()
        .filter_map(|l| l.strip_prefix("#envault:key "))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut child = Command::new("age")
        .args(["-d", "-i"])
        .arg(identity_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the age CLI is installed (scripts/install-peers, or apt-get install age)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 32, "the data key is 32 bytes");
    out.stdout
}

/// Opens every sealed value of `env_path` with an independent Python implementation.
fn values_with_python(env_path: &Path, key: &[u8]) -> BTreeMap<String, String> {
    python_open(env_path, key).unwrap_or_else(|e| panic!("python: {e}"))
}

fn python_open(env_path: &Path, key: &[u8]) -> Result<BTreeMap<String, String>, String> {
    const SCRIPT: &str = r##"
import base64, json, sys
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt as open_

def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

path, key = sys.argv[1], bytes.fromhex(sys.argv[2])
file_id, out = None, {}
for line in open(path, encoding="utf-8").read().splitlines():
    if line.startswith("#envault:v1 id="):
        file_id = b64(line[len("#envault:v1 id="):])
    elif not line.startswith("#") and "=" in line:
        name, value = line.split("=", 1)
        if value.startswith("enc:v1:"):
            blob = b64(value[len("enc:v1:"):])
            aad = b"envault:v1\0" + file_id + b"\0" + name.encode()
            out[name] = open_(blob[24:], aad, blob[:24], key).decode()
print(json.dumps(out))
"##;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new(peers_python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(env_path)
        .arg(hex)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

#[derive(serde::Deserialize)]
struct Vector {
    raw: BTreeMap<String, String>,
    values: BTreeMap<String, String>,
}

fn read_value(raw: &str) -> String {
    Document::parse(&format!("K={raw}\n"))
        .unwrap()
        .get("K")
        .unwrap()
        .to_owned()
}

#[test]
fn test_vectors_decrypt() {
    let text = std::fs::read_to_string(fixtures().join("vector.env")).unwrap();
    let vector: Vector =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("vector.json")).unwrap())
            .unwrap();
    let ids = Identities::parse(
        &std::fs::read_to_string(fixtures().join("identity.txt")).unwrap(),
        "identity.txt",
    )
    .unwrap();
    let header = Header::parse(&text).unwrap().expect("a header");
    let key = header.unwrap(&ids).unwrap();
    let doc = Document::parse(&text).unwrap();
    let mut values = BTreeMap::new();
    for e in doc.entries() {
        let value = if crypt::is_sealed(e.raw_value()) {
            let raw = crypt::open(&key, &header.file_id, e.key(), e.raw_value()).unwrap();
            assert_eq!(
                Some(raw.as_str()),
                vector.raw.get(e.key()).map(String::as_str)
            );
            read_value(&raw)
        } else {
            e.value().to_owned()
        };
        values.insert(e.key().to_owned(), value);
    }
    assert_eq!(values, vector.values);
}

#[test]
fn stock_age_and_python_open_the_vectors() {
    let path = fixtures().join("vector.env");
    let text = std::fs::read_to_string(&path).unwrap();
    let key = data_key_with_age_cli(&text, &fixtures().join("identity.txt"));
    let vector: Vector =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("vector.json")).unwrap())
            .unwrap();
    assert_eq!(values_with_python(&path, &key), vector.raw);
}

#[test]
fn stock_age_and_python_open_a_fresh_file() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = generate_identity();
    let id_path = dir.path().join("identity.txt");
    std::fs::write(&id_path, format!("{}\n", secret.as_str())).unwrap();
    let key = DataKey::generate().unwrap();
    let header = Header::seal_key(&key, &[public.parse().unwrap()]).unwrap();
    let secrets = [
        ("DB_PASSWORD", "p@ss w0rd"),
        ("NOTE", "\"ünïcode \\n line\""),
        ("EMPTY", ""),
    ];
    let mut text = header.lines().join("\r\n") + "\r\n";
    for (k, raw) in secrets {
        text.push_str(&format!(
            "{k}={}\r\n",
            crypt::seal(&key, &header.file_id, k, raw).unwrap()
        ));
    }
    let path = dir.path().join(".env.prod");
    std::fs::write(&path, &text).unwrap();
    let from_age = data_key_with_age_cli(&text, &id_path);
    let got = values_with_python(&path, &from_age);
    let want: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
    // And a value moved to another key does not open, in Python either.
    let swapped = text.replace("NOTE=", "MOVED=");
    std::fs::write(&path, swapped).unwrap();
    let e =
        python_open(&path, &from_age).expect_err("python must refuse a value moved to another key");
    assert!(e.contains("CryptoError"), "{e}");
}
