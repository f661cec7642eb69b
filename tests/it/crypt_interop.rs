//! The encrypted format against independent implementations: the stock `age` CLI opens the
//! data-key block, and a Python script using PyNaCl (written from docs/format.md alone) opens
//! the values. Both are installed by scripts/install-peers; missing, these tests fail and say so.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use envault::crypt::{self, generate_identity, DataKey, Header, Identities};
use envault::dotenv::Document;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crypt")
}

fn peers_python() -> PathBuf {
    crate::common::peer("venv/bin/python", "PyNaCl's venv")
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
import base64, hashlib, hmac, json, sys
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt as open_

def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def H(k, m):
    return hmac.new(k, m, hashlib.sha256).digest()

path, key = sys.argv[1], bytes.fromhex(sys.argv[2])
lines = open(path, encoding="utf-8").read().lstrip("\ufeff").splitlines()
header = []
for line in lines:
    if not line.startswith("#envault:"):
        break
    header.append(line[len("#envault:"):])
first = header[0]
if first.startswith("v1 id="):
    version, file_id = 1, b64(first[len("v1 id="):].strip())
elif first.startswith("v2 id="):
    id_text, commit_text = first[len("v2 id="):].split(" commit=")
    version, file_id, commit = 2, b64(id_text.strip()), b64(commit_text.strip())
else:
    sys.exit("unknown format version")
recipients = [h[len("recipient "):].strip() for h in header if h.startswith("recipient ")]
wrapped = [h[len("key "):].strip() for h in header if h.startswith("key ")]
if version == 2:
    # docs/format.md: the commitment and the MAC bind the header to the data key.
    mac = b64([h for h in header if h.startswith("mac ")][0][len("mac "):].strip())
    if not hmac.compare_digest(H(key, b"envault:v2 key commitment"), commit):
        sys.exit("HeaderError: the data key does not match the commitment")
    msg = (b"envault:v2\0" + file_id + b"\0" + commit + b"\0"
           + b"".join(r.encode() + b"\n" for r in recipients) + b"\0"
           + b"".join(w.encode() + b"\n" for w in wrapped))
    if not hmac.compare_digest(H(H(key, b"envault:v2 header mac"), msg), mac):
        sys.exit("HeaderError: the header MAC does not match")
out = {}
for line in lines:
    if not line.startswith("#") and "=" in line:
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
    // A recipient line added without the key fails the header MAC, in Python too.
    let forged = text.replacen(
        "\r\n",
        "\r\n#envault:recipient age1mallory0000000000000000000000000000000000000000000000000000\r\n",
        1,
    );
    std::fs::write(&path, forged).unwrap();
    let e = python_open(&path, &from_age).expect_err("python must refuse a forged header");
    assert!(e.contains("header MAC"), "{e}");
}

/// The version 2 vector: the version 1 vector's file upgraded (same key block and values,
/// commitment and MAC added), as `envault encrypt` writes it.
#[test]
fn version_2_vector_opens_in_rust_age_and_python() {
    let path = fixtures().join("vector-v2.env");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("#envault:v2 id="));
    let v1 = std::fs::read_to_string(fixtures().join("vector.env")).unwrap();
    let key_lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("#envault:key "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        key_lines(&text),
        key_lines(&v1),
        "an upgrade keeps the key block"
    );
    let ids = Identities::parse(
        &std::fs::read_to_string(fixtures().join("identity.txt")).unwrap(),
        "identity.txt",
    )
    .unwrap();
    let header = Header::parse(&text).unwrap().unwrap();
    assert_eq!(header.version, 2);
    header.unwrap(&ids).unwrap();
    let key = data_key_with_age_cli(&text, &fixtures().join("identity.txt"));
    let vector: Vector =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("vector.json")).unwrap())
            .unwrap();
    assert_eq!(values_with_python(&path, &key), vector.raw);
}
