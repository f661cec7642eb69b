//! The envelope of encrypted env files (docs/format.md): a random data key per file, wrapped
//! with age to the file's recipients in `#envault:` comment lines at the top, and each value
//! sealed with XChaCha20-Poly1305 under that key, bound to the format version, the file's
//! random id and the key name.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::TryRngCore;
use zeroize::Zeroizing;

/// Every header line starts with this.
pub const HEADER_PREFIX: &str = "#envault:";
/// A sealed value starts with this.
pub const VALUE_PREFIX: &str = "enc:v1:";
const AAD_TAG: &[u8] = b"envault:v1";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const ID_LEN: usize = 16;

/// What can go wrong with keys, headers and sealed values. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("invalid recipient `{recipient}`: {reason}")]
    BadRecipient { recipient: String, reason: String },
    #[error("invalid identity: {0}")]
    BadIdentity(String),
    #[error("no recipients: a data key must be wrapped to at least one")]
    NoRecipients,
    #[error("header line {line}: {what}")]
    BadHeader { line: usize, what: String },
    #[error("none of your identities is a recipient (recipients: {})", .recipients.join(", "))]
    NotARecipient { recipients: Vec<String> },
    #[error("the data key block cannot be opened: {0}")]
    Unwrap(String),
    #[error("cannot decrypt {key}: the value was altered, or sealed for another key or file")]
    Open { key: String },
    #[error("{key} is not an envault sealed value")]
    NotSealed { key: String },
    #[error("the header was changed by someone without its data key ({what}); nothing in it can be trusted")]
    Tampered { what: String },
    #[error("the encryption header is damaged at line {line}: {what}")]
    Damaged { line: usize, what: String },
}

impl CryptError {
    /// The line of the file the error is about, when it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            CryptError::BadHeader { line, .. } | CryptError::Damaged { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl crate::error::Hint for CryptError {
    fn hint(&self) -> Option<String> {
        match self {
            CryptError::NotARecipient { .. } => Some(
                "ask someone who can open the file to add your recipient (`envault recipients add`), or point --identity at the right key".to_owned(),
            ),
            CryptError::BadRecipient { .. } => Some(
                "a recipient is an age public key (age1…) or an ssh public key (ssh-ed25519 / ssh-rsa)".to_owned(),
            ),
            CryptError::Tampered { .. } | CryptError::Damaged { .. } | CryptError::BadHeader { .. } => Some(
                "restore the `#envault:` lines from a commit you trust; nothing was read or written".to_owned(),
            ),
            _ => None,
        }
    }
}

/// A file's data key. Zeroed when dropped; never printed.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

fn random(buf: &mut [u8]) -> Result<(), CryptError> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| CryptError::Random(e.to_string()))
}

impl DataKey {
    pub fn generate() -> Result<DataKey, CryptError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        random(&mut k[..])?;
        Ok(DataKey(k))
    }

    fn from_bytes(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    fn bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// The key's bytes, only to derive a fingerprint key from (never to print or store).
    pub fn expose_for_fingerprint(&self) -> &[u8] {
        self.bytes()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(self.bytes()))
    }
}

/// A recipient a data key can be wrapped to: an age X25519 key, or an ssh-ed25519 / ssh-rsa
/// public key.
pub struct Recipient {
    text: String,
    inner: Box<dyn age::Recipient + Send>,
}

impl Recipient {
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.text)
    }
}

impl FromStr for Recipient {
    type Err = CryptError;

    fn from_str(s: &str) -> Result<Recipient, CryptError> {
        let text = s.trim().to_owned();
        let bad = |reason: String| CryptError::BadRecipient {
            recipient: text.clone(),
            reason,
        };
        let inner: Box<dyn age::Recipient + Send> = if text.starts_with("age1") {
            Box::new(age::x25519::Recipient::from_str(&text).map_err(|e| bad(e.to_string()))?)
        } else if text.starts_with("ssh-") {
            Box::new(
                age::ssh::Recipient::from_str(&text)
                    .map_err(|e| bad(format!("unsupported ssh key ({e:?})")))?,
            )
        } else {
            return Err(bad(
                "expected an age1… key or an ssh-ed25519 / ssh-rsa public key".into(),
            ));
        };
        Ok(Recipient { text, inner })
    }
}

/// Identities that may open data keys (age identity files, ssh private keys).
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} identities)", self.0.len())
    }
}

impl Identities {
    /// Reads an age identity file (`AGE-SECRET-KEY-1…` lines, comments allowed) or an
    /// unencrypted OpenSSH private key. `name` names the source in errors.
    pub fn parse(text: &str, name: &str) -> Result<Identities, CryptError> {
        if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
            let id = age::ssh::Identity::from_buffer(text.as_bytes(), Some(name.to_owned()))
                .map_err(|e| CryptError::BadIdentity(format!("{name}: {e}")))?;
            return Ok(Identities(vec![Box::new(id)]));
        }
        let file = age::IdentityFile::from_buffer(text.as_bytes())
            .map_err(|e| CryptError::BadIdentity(format!("{name}: {e}")))?;
        let ids = file
            .into_identities()
            .map_err(|e| CryptError::BadIdentity(format!("{name}: {e}")))?;
        if ids.is_empty() {
            return Err(CryptError::BadIdentity(format!(
                "{name}: no identity in it"
            )));
        }
        Ok(Identities(ids))
    }

    /// No identity at all.
    pub fn empty() -> Identities {
        Identities(Vec::new())
    }

    /// Adds the identities of `other`.
    pub fn extend(&mut self, other: Identities) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A new X25519 identity: its secret text (`AGE-SECRET-KEY-1…`) and its public recipient.
pub fn generate_identity() -> (Zeroizing<String>, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let secret = Zeroizing::new(id.to_string().expose_secret().to_owned());
    (secret, id.to_public().to_string())
}

/// The header of an encrypted file.
///
/// Format version 2 adds a public commitment to the data key and a MAC, keyed from the data
/// key, over everything else in the header: a recipient line added or changed by someone
/// without the key fails [`Header::unwrap`], and a data key replaced by someone who wrapped a
/// fresh one to the public recipients shows as a changed commitment without any key (see
/// docs/format.md). Version 1 headers have neither; they are upgraded on the next write.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2.
    pub version: u8,
    pub file_id: [u8; ID_LEN],
    /// The recipients the data key was wrapped to, as written. Authenticated by the MAC in
    /// version 2 once [`Header::unwrap`] succeeded; display text only in version 1.
    pub recipients: Vec<String>,
    /// The age-encrypted data key, ASCII-armored, one line per entry.
    pub wrapped: Vec<String>,
    /// Version 2: the public commitment to the data key.
    pub commitment: Option<[u8; COMMIT_LEN]>,
    /// Version 2: the header MAC.
    pub mac: Option<[u8; COMMIT_LEN]>,
}

/// Length of the key commitment and of the header MAC (HMAC-SHA256).
pub const COMMIT_LEN: usize = 32;
/// The current header format version.
pub const HEADER_VERSION: u8 = 2;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; COMMIT_LEN] {
    use hmac::Mac;
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The public commitment to a data key: HMAC-SHA256 keyed with the data key over a fixed
/// label. It reveals nothing of the key and no other key yields it.
pub fn commitment(key: &DataKey) -> [u8; COMMIT_LEN] {
    hmac(key.bytes(), &[b"envault:v2 key commitment"])
}

/// The header MAC: HMAC-SHA256 keyed with HMAC-SHA256(data key, "envault:v2 header mac")
/// over the version tag, the file id, the commitment, every recipient line and every key
/// line (each followed by a newline).
fn header_mac(
    key: &DataKey,
    file_id: &[u8; ID_LEN],
    commitment: &[u8; COMMIT_LEN],
    recipients: &[String],
    wrapped: &[String],
) -> [u8; COMMIT_LEN] {
    let mac_key = Zeroizing::new(hmac(key.bytes(), &[b"envault:v2 header mac"]));
    let mut parts: Vec<&[u8]> = vec![b"envault:v2\0", file_id, b"\0", commitment, b"\0"];
    for r in recipients {
        parts.push(r.as_bytes());
        parts.push(b"\n");
    }
    parts.push(b"\0");
    for w in wrapped {
        parts.push(w.as_bytes());
        parts.push(b"\n");
    }
    hmac(&mac_key[..], &parts)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How many recipient stanzas an ASCII-armored age header holds, when it can be read. Every
/// recipient gets exactly one, so a header listing more recipients than there are stanzas
/// lists someone the key was never wrapped to.
fn stanza_count(wrapped: &[String]) -> Option<usize> {
    let body: String = wrapped
        .iter()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| l.trim())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let end = memchr::memmem::find(&bytes, b"\n---")?;
    Some(
        bytes[..end]
            .split(|b| *b == b'\n')
            .filter(|l| {
                // Only the recipient types envault wraps to: the age library adds random
                // "grease" stanzas too.
                [&b"-> X25519 "[..], b"-> ssh-ed25519 ", b"-> ssh-rsa "]
                    .iter()
                    .any(|t| l.starts_with(t))
            })
            .count(),
    )
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("file_id", &B64.encode(self.file_id))
            .field("recipients", &self.recipients)
            .finish_non_exhaustive()
    }
}

impl Header {
    /// Wraps `key` to `recipients` under a new random file id.
    pub fn seal_key(key: &DataKey, recipients: &[Recipient]) -> Result<Header, CryptError> {
        let mut file_id = [0u8; ID_LEN];
        random(&mut file_id)?;
        Header::wrap(key, file_id, recipients)
    }

    /// Wraps `key` to `recipients`, keeping `file_id` (adding a recipient changes only the
    /// header).
    pub fn wrap(
        key: &DataKey,
        file_id: [u8; ID_LEN],
        recipients: &[Recipient],
    ) -> Result<Header, CryptError> {
        let armored = age_seal(key.bytes(), recipients)?;
        let wrapped = armored.lines().map(str::to_owned).collect();
        Ok(Header::authenticated(
            key,
            file_id,
            recipients.iter().map(|r| r.text.clone()).collect(),
            wrapped,
        ))
    }

    /// A version 2 header over these parts, with its commitment and MAC.
    fn authenticated(
        key: &DataKey,
        file_id: [u8; ID_LEN],
        recipients: Vec<String>,
        wrapped: Vec<String>,
    ) -> Header {
        let c = commitment(key);
        let mac = header_mac(key, &file_id, &c, &recipients, &wrapped);
        Header {
            version: HEADER_VERSION,
            file_id,
            recipients,
            wrapped,
            commitment: Some(c),
            mac: Some(mac),
        }
    }

    /// This header in the current version, its data key block untouched: nobody gains or
    /// loses access. `key` must be the header's key (from [`Header::unwrap`]).
    pub fn upgraded(&self, key: &DataKey) -> Header {
        if self.version == HEADER_VERSION {
            return self.clone();
        }
        Header::authenticated(
            key,
            self.file_id,
            self.recipients.clone(),
            self.wrapped.clone(),
        )
    }

    /// Opens the data key with any of `identities`, and checks that the header belongs to it:
    /// in version 2 the commitment and the MAC must match the key, so recipient lines that
    /// someone without the key added or changed are refused here, before anything could be
    /// wrapped to them.
    pub fn unwrap(&self, identities: &Identities) -> Result<DataKey, CryptError> {
        let armored = self.wrapped.join("\n") + "\n";
        let bytes = age_open(armored.as_bytes(), identities).map_err(|e| match e {
            CryptError::NotARecipient { .. } => CryptError::NotARecipient {
                recipients: self.recipients.clone(),
            },
            other => other,
        })?;
        let key = DataKey::from_bytes(&bytes)
            .ok_or_else(|| CryptError::Unwrap("the data key has the wrong length".into()))?;
        self.verify(&key)?;
        Ok(key)
    }

    /// Checks the header against its data key (see [`Header::unwrap`]).
    pub fn verify(&self, key: &DataKey) -> Result<(), CryptError> {
        if let Some(n) = stanza_count(&self.wrapped) {
            if self.recipients.len() > n {
                return Err(CryptError::Tampered {
                    what: format!(
                        "it lists {} recipients but the data key was wrapped to {n}",
                        self.recipients.len()
                    ),
                });
            }
        }
        if self.version < 2 {
            return Ok(());
        }
        let (Some(c), Some(mac)) = (&self.commitment, &self.mac) else {
            return Err(CryptError::Tampered {
                what: "the commitment or the MAC is missing".into(),
            });
        };
        if !ct_eq(c, &commitment(key)) {
            return Err(CryptError::Tampered {
                what: "the data key does not match the header's commitment".into(),
            });
        }
        let want = header_mac(key, &self.file_id, c, &self.recipients, &self.wrapped);
        if !ct_eq(mac, &want) {
            return Err(CryptError::Tampered {
                what: "its recipient or key lines do not match its MAC".into(),
            });
        }
        Ok(())
    }

    /// The recipients this header names that `base` did not.
    pub fn recipients_added_since<'a>(&'a self, base: &Header) -> Vec<&'a str> {
        self.recipients
            .iter()
            .filter(|r| !base.recipients.contains(r))
            .map(String::as_str)
            .collect()
    }

    /// Whether this header's data key differs from `base`'s, judged without any key: the file
    /// id or the public commitment changed; where a side has no commitment (version 1),
    /// nothing binds the key block to a key, so any new key block counts (an upgrade to
    /// version 2 keeps the block as it was; a version 1 file re-wrapped for a new recipient is
    /// reported too, once).
    pub fn key_replaced_since(&self, base: &Header) -> bool {
        self.file_id != base.file_id
            || match (base.commitment, self.commitment) {
                (Some(a), Some(b)) => a != b,
                _ => base.wrapped != self.wrapped,
            }
    }

    /// The public commitment as written in the header (version 2), base64url.
    pub fn commitment_text(&self) -> Option<String> {
        self.commitment.map(|c| B64.encode(c))
    }

    /// The header's lines (without line endings).
    pub fn lines(&self) -> Vec<String> {
        let id = B64.encode(self.file_id);
        let mut out = vec![match self.commitment {
            Some(c) if self.version >= 2 => {
                format!("{HEADER_PREFIX}v2 id={id} commit={}", B64.encode(c))
            }
            _ => format!("{HEADER_PREFIX}v1 id={id}"),
        }];
        out.extend(
            self.recipients
                .iter()
                .map(|r| format!("{HEADER_PREFIX}recipient {r}")),
        );
        out.extend(
            self.wrapped
                .iter()
                .map(|l| format!("{HEADER_PREFIX}key {l}")),
        );
        if let (2.., Some(mac)) = (self.version, self.mac) {
            out.push(format!("{HEADER_PREFIX}mac {}", B64.encode(mac)));
        }
        out
    }

    /// Reads the header from the leading `#envault:` lines of `text`; `None` when the file
    /// has none (it is not encrypted).
    pub fn parse(text: &str) -> Result<Option<Header>, CryptError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .take_while(|(_, l)| l.starts_with(HEADER_PREFIX))
            .map(|(n, l)| (n, &l[HEADER_PREFIX.len()..]));
        let Some((n, first)) = lines.next() else {
            return Ok(None);
        };
        let bad = |line: usize, what: &str| CryptError::BadHeader {
            line,
            what: what.to_owned(),
        };
        let (version, id, commit) = if let Some(rest) = first.strip_prefix("v1 id=") {
            (1, rest, None)
        } else if let Some(rest) = first.strip_prefix("v2 id=") {
            let (id, commit) = rest
                .split_once(" commit=")
                .ok_or_else(|| bad(n, "expected `#envault:v2 id=… commit=…`"))?;
            (2, id, Some(commit))
        } else {
            return Err(bad(
                n,
                "expected `#envault:v1 id=…` or `#envault:v2 id=… commit=…` (a newer format version? upgrade envault)",
            ));
        };
        let id = B64
            .decode(id.trim())
            .ok()
            .and_then(|b| <[u8; ID_LEN]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| bad(n, "the file id is not 16 bytes of base64url"))?;
        let digest = |text: &str, line: usize, what: &str| {
            B64.decode(text.trim())
                .ok()
                .and_then(|b| <[u8; COMMIT_LEN]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| bad(line, &format!("the {what} is not 32 bytes of base64url")))
        };
        let commitment = match commit {
            Some(c) => Some(digest(c, n, "commitment")?),
            None => None,
        };
        let mut header = Header {
            version,
            file_id: id,
            recipients: Vec::new(),
            wrapped: Vec::new(),
            commitment,
            mac: None,
        };
        let mut last = n;
        for (n, line) in lines {
            last = n;
            if header.mac.is_some() {
                return Err(bad(n, "nothing may follow `#envault:mac`"));
            }
            if let Some(r) = line.strip_prefix("recipient ") {
                if !header.wrapped.is_empty() {
                    return Err(bad(n, "recipient lines come before the key lines"));
                }
                header.recipients.push(r.trim().to_owned());
            } else if let Some(k) = line.strip_prefix("key ") {
                header.wrapped.push(k.trim().to_owned());
            } else if let (2, Some(m)) = (version, line.strip_prefix("mac ")) {
                header.mac = Some(digest(m, n, "MAC")?);
            } else {
                return Err(bad(
                    n,
                    if version == 2 {
                        "expected `recipient …`, `key …` or `mac …`"
                    } else {
                        "expected `recipient …` or `key …`"
                    },
                ));
            }
        }
        if version == 2 && header.mac.is_none() {
            return Err(bad(
                last,
                "no `#envault:mac` line: the header cannot be checked",
            ));
        }
        if header.wrapped.is_empty() {
            return Err(bad(
                last,
                "no `#envault:key` lines: the data key is missing",
            ));
        }
        Ok(Some(header))
    }
}

/// `bytes` encrypted with age to `recipients`, ASCII-armored (readable by `age -d`).
pub fn age_seal(bytes: &[u8], recipients: &[Recipient]) -> Result<String, CryptError> {
    if recipients.is_empty() {
        return Err(CryptError::NoRecipients);
    }
    let err = |e: String| CryptError::Unwrap(e);
    let encryptor = age::Encryptor::with_recipients(
        recipients
            .iter()
            .map(|r| r.inner.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| err(e.to_string()))?;
    let mut armored = Vec::new();
    let mut w = encryptor
        .wrap_output(
            age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
                .map_err(|e| err(e.to_string()))?,
        )
        .map_err(|e| err(e.to_string()))?;
    w.write_all(bytes).map_err(|e| err(e.to_string()))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| err(e.to_string()))?;
    Ok(String::from_utf8_lossy(&armored).into_owned())
}

/// Opens an age file (armored or binary) with any of `identities`.
/// Opens an age file, armored (`age -a`) or binary (age's default).
pub fn age_open(data: &[u8], identities: &Identities) -> Result<Zeroizing<Vec<u8>>, CryptError> {
    let reader = age::armor::ArmoredReader::new(data);
    let decryptor =
        age::Decryptor::new_buffered(reader).map_err(|e| CryptError::Unwrap(e.to_string()))?;
    let mut stream = match decryptor.decrypt(
        identities
            .0
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity),
    ) {
        Ok(s) => s,
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(CryptError::NotARecipient {
                recipients: Vec::new(),
            })
        }
        Err(e) => return Err(CryptError::Unwrap(e.to_string())),
    };
    let mut bytes = Zeroizing::new(Vec::new());
    stream
        .read_to_end(&mut bytes)
        .map_err(|e| CryptError::Unwrap(e.to_string()))?;
    Ok(bytes)
}

/// The public keys (recipients) of the age identities in an identity file's text.
pub fn public_keys_in(identity_text: &str) -> Vec<String> {
    identity_text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .filter_map(|l| age::x25519::Identity::from_str(l).ok())
        .map(|i| i.to_public().to_string())
        .collect()
}

/// The associated data binding a sealed value to its format, file and key.
fn aad(file_id: &[u8; ID_LEN], key_name: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD_TAG.len() + ID_LEN + key_name.len() + 2);
    a.extend_from_slice(AAD_TAG);
    a.push(0);
    a.extend_from_slice(file_id);
    a.push(0);
    a.extend_from_slice(key_name.as_bytes());
    a
}

/// Whether a raw value is an envault sealed value.
pub fn is_sealed(raw_value: &str) -> bool {
    raw_value.starts_with(VALUE_PREFIX)
}

/// Seals `plaintext` (the value's raw text as it would be written, quotes included) for the key
/// `key_name` of the file `file_id`.
pub fn seal(
    key: &DataKey,
    file_id: &[u8; ID_LEN],
    key_name: &str,
    plaintext: &str,
) -> Result<String, CryptError> {
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    let ct = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: &aad(file_id, key_name),
            },
        )
        .map_err(|_| CryptError::Open {
            key: key_name.to_owned(),
        })?;
    let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ct);
    Ok(format!("{VALUE_PREFIX}{}", B64.encode(blob)))
}

/// Opens a sealed value of the key `key_name` in the file `file_id`.
pub fn open(
    key: &DataKey,
    file_id: &[u8; ID_LEN],
    key_name: &str,
    sealed: &str,
) -> Result<Zeroizing<String>, CryptError> {
    let body = sealed
        .strip_prefix(VALUE_PREFIX)
        .ok_or_else(|| CryptError::NotSealed {
            key: key_name.to_owned(),
        })?;
    let fail = || CryptError::Open {
        key: key_name.to_owned(),
    };
    let blob = B64.decode(body).map_err(|_| fail())?;
    if blob.len() < NONCE_LEN + 16 {
        return Err(fail());
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let pt = key
        .cipher()
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &aad(file_id, key_name),
            },
        )
        .map_err(|_| fail())?;
    let pt = Zeroizing::new(pt);
    Ok(Zeroizing::new(
        String::from_utf8(pt.to_vec()).map_err(|_| fail())?,
    ))
}

#[cfg(test)]
mod tests;

/// Why a document cannot be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error(transparent)]
    Crypt(#[from] CryptError),
    #[error(transparent)]
    Edit(#[from] crate::dotenv::EditError),
    #[error(
        "{key} is defined more than once (lines {lines}); an older definition would stay in clear"
    )]
    Duplicate { key: String, lines: String },
    #[error("line {line} is not an entry every reader agrees on ({why}); it would stay in clear")]
    Opaque { line: usize, why: String },
    #[error(
        "line {line}: the environment's dialect reads the value of {key} otherwise than dotenvy, and a sealed value is read back as dotenvy reads it; sealing would change it"
    )]
    DialectValue { line: usize, key: String },
}

/// Refuses a document with lines that are not entries, or with a value that another reader
/// reads in what dotenvy takes for a comment (`KEY= #value` for python-dotenv): sealing leaves
/// those in clear.
fn refuse_opaque(doc: &crate::dotenv::Document) -> Result<(), DocError> {
    if let Some(o) = doc.opaque_lines().first() {
        return Err(DocError::Opaque {
            line: o.line,
            why: o.error.kind.to_string(),
        });
    }
    if let Some(line) = doc.dialect_regrouped_at() {
        return Err(DocError::Opaque {
            line,
            why: "the environment's dialect reads the lines from here otherwise than dotenvy"
                .to_owned(),
        });
    }
    if let Some((line, key)) = doc.dialect_value_differs_at() {
        return Err(DocError::DialectValue {
            line,
            key: crate::dotenv::shown_key(key)
                .unwrap_or("its entry")
                .to_owned(),
        });
    }
    // Key names stay in clear: a key that reads as a credential (a token pasted as a name, or
    // a line of a value another reader joins) would be left readable.
    if let Some(e) = doc
        .entries()
        .find(|e| crate::dotenv::shown_key(e.key()).is_none())
    {
        return Err(DocError::Opaque {
            line: e.line(),
            why: "its key looks like a credential, and key names stay in clear".to_owned(),
        });
    }
    match doc
        .disagreements()
        .into_iter()
        .find(|d| d.value_in_comment())
    {
        Some(d) => Err(DocError::Opaque {
            line: d.line,
            why: "another reader reads a value in what dotenvy takes for a comment".to_owned(),
        }),
        // A comment with a lone carriage return holds a line other readers read.
        None => match doc
            .hidden_readings()
            .into_iter()
            .find(|h| h.within.is_none())
        {
            Some(h) => Err(DocError::Opaque {
                line: h.line,
                why: format!(
                    "{} in a comment starts a line other readers read",
                    h.separator
                ),
            }),
            None => Ok(()),
        },
    }
}

impl crate::error::Hint for DocError {
    fn hint(&self) -> Option<String> {
        match self {
            DocError::Crypt(e) => e.hint(),
            DocError::Edit(e) => e.hint(),
            DocError::Duplicate { .. } => {
                Some("remove the older definitions, then run the command again".to_owned())
            }
            DocError::Opaque { .. } => Some(
                "write the line as KEY=value (quote a value with spaces: KEY=\"a b\"), or make it a `#` comment, then run the command again"
                    .to_owned(),
            ),
            DocError::DialectValue { .. } => Some(
                "write the value the dialect's reader reads in double quotes, with `\\\"` for a quote and `\\\\` for a backslash, which dotenvy reads alike, then run the command again"
                    .to_owned(),
            ),
        }
    }
}

/// Seals every value of `doc` that is not sealed yet, except keys matching `plaintext_keys`,
/// and writes `header` at the top. Returns how many values were sealed.
pub fn encrypt_document(
    doc: &mut crate::dotenv::Document,
    key: &DataKey,
    header: &Header,
    plaintext_keys: &crate::glob::GlobSet,
) -> Result<usize, DocError> {
    refuse_opaque(doc)?;
    if let Some(d) = doc.duplicates().into_iter().next() {
        let lines: Vec<String> = d.lines.iter().map(usize::to_string).collect();
        return Err(DocError::Duplicate {
            key: d.key,
            lines: lines.join(", "),
        });
    }
    let mut sealed = Vec::new();
    for e in doc.entries() {
        if plaintext_keys.matches(e.key()) || is_sealed(e.raw_value()) {
            continue;
        }
        sealed.push((
            e.key().to_owned(),
            seal(key, &header.file_id, e.key(), e.raw_value())?,
        ));
    }
    let edits: Vec<crate::dotenv::Edit> = sealed
        .iter()
        .map(|(k, raw)| crate::dotenv::Edit::SetRaw { key: k, raw })
        .collect();
    doc.edit(&edits)?;
    finish_sealing(doc, header, plaintext_keys)?;
    Ok(sealed.len())
}

/// Puts `header` at the top of a document whose values were just sealed, then makes the last
/// check ([`left_nothing_in_clear`]).
fn finish_sealing(
    doc: &mut crate::dotenv::Document,
    header: &Header,
    plaintext_keys: &crate::glob::GlobSet,
) -> Result<(), DocError> {
    let lines = header.lines();
    let before = doc.leading_lines(HEADER_PREFIX).len();
    if doc.leading_lines(HEADER_PREFIX) != lines {
        doc.set_leading_lines(HEADER_PREFIX, &lines);
    }
    left_nothing_in_clear(doc, plaintext_keys, lines.len().saturating_sub(before))
}

/// The last check of sealing, whatever the checks before it missed: every value that any
/// reader (node's dotenv, python-dotenv, phpdotenv, the Ruby gem) reads in the sealed text is
/// a sealed value, empty, or under a key of `plaintext_keys`, and every key it reads is shown
/// as a name. Else the document is refused (the caller writes nothing). Lines are told as in
/// the file before sealing, without the `added` header lines.
fn left_nothing_in_clear(
    doc: &crate::dotenv::Document,
    plaintext_keys: &crate::glob::GlobSet,
    added: usize,
) -> Result<(), DocError> {
    let sealed_token = |v: &str| {
        v.strip_prefix(VALUE_PREFIX).is_some_and(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
    };
    for (line, peer, key, value) in doc.peer_readings() {
        let line = line.saturating_sub(added).max(1);
        let Some(shown) = crate::dotenv::shown_key(&key) else {
            return Err(DocError::Opaque {
                line,
                why: format!(
                    "{peer} would read a key that looks like a credential there, and key names stay in clear"
                ),
            });
        };
        let clear = value
            .as_deref()
            .is_some_and(|v| !v.is_empty() && !sealed_token(v));
        if clear && !plaintext_keys.matches(shown) {
            return Err(DocError::Opaque {
                line,
                why: format!("after sealing, {peer} would still read {shown} in clear there"),
            });
        }
    }
    Ok(())
}

/// The plaintext document: every sealed value opened to the text it was sealed from, and the
/// header removed.
pub fn decrypt_document(
    doc: &crate::dotenv::Document,
    key: &DataKey,
    header: &Header,
) -> Result<crate::dotenv::Document, DocError> {
    let mut opened = Vec::new();
    for e in doc.entries() {
        if is_sealed(e.raw_value()) {
            opened.push((
                e.key().to_owned(),
                open(key, &header.file_id, e.key(), e.raw_value())?,
            ));
        }
    }
    let mut plain = doc.clone();
    let edits: Vec<crate::dotenv::Edit> = opened
        .iter()
        .map(|(k, raw)| crate::dotenv::Edit::SetRaw { key: k, raw })
        .collect();
    plain.edit(&edits)?;
    plain.set_leading_lines(HEADER_PREFIX, &[]);
    Ok(plain)
}

/// Turns an edited plaintext document back into its encrypted form with stable ciphertext: a
/// value whose text did not change keeps its old ciphertext (so `git diff` shows only the keys
/// that changed), other values are sealed anew, `plaintext_keys` stay in clear, and the header
/// is written at the top.
pub fn reseal_document(
    new_plain: &mut crate::dotenv::Document,
    old_sealed: &crate::dotenv::Document,
    old_plain: &crate::dotenv::Document,
    key: &DataKey,
    header: &Header,
    plaintext_keys: &crate::glob::GlobSet,
) -> Result<(), DocError> {
    refuse_opaque(new_plain)?;
    let mut raws: Vec<(String, String)> = Vec::new();
    for e in new_plain.entries() {
        let k = e.key();
        if plaintext_keys.matches(k) {
            continue;
        }
        let unchanged = old_plain
            .entry(k)
            .is_some_and(|o| o.raw_value() == e.raw_value());
        let previous = old_sealed
            .entry(k)
            .map(|o| o.raw_value())
            .filter(|r| is_sealed(r));
        let sealed = match (unchanged, previous) {
            (true, Some(old)) => old.to_owned(),
            _ => seal(key, &header.file_id, k, e.raw_value())?,
        };
        raws.push((k.to_owned(), sealed));
    }
    let edits: Vec<crate::dotenv::Edit> = raws
        .iter()
        .map(|(k, raw)| crate::dotenv::Edit::SetRaw { key: k, raw })
        .collect();
    new_plain.edit(&edits)?;
    finish_sealing(new_plain, header, plaintext_keys)
}

/// The header of `doc`, read from its leading `#envault:` lines; `None` when it has none.
///
/// A file whose header is not where every reader looks is damaged, never plaintext: an
/// `#envault:` line below the leading block, or a sealed value in a file with no header (a
/// line inserted above the header would otherwise make every command treat the file as
/// plaintext, and write new secrets in clear).
pub fn header_of(doc: &crate::dotenv::Document) -> Result<Option<Header>, CryptError> {
    use crate::dotenv::Item;
    // Most files are plaintext: one search of their text rules out every case below.
    if !doc.mentions(&[HEADER_PREFIX, VALUE_PREFIX]) {
        return Ok(None);
    }
    // Judged as dotenvy groups the lines, whatever the dialect: a dialect's reader that ends a
    // line at a lone CR would otherwise split a header line from the entry it hides.
    let items = doc.dotenvy_items();
    let leading = crate::dotenv::leading_lines_of(items, HEADER_PREFIX);
    let below = items.iter().enumerate().skip(leading.len()).find(|(_, item)| {
        matches!(item, Item::Trivia(t) if t.as_str().trim_start().starts_with(HEADER_PREFIX))
    });
    if let Some((i, _)) = below {
        // Its line: one more than the line endings before it (counted only here).
        let line = 1 + items[..i]
            .iter()
            .map(|item| match item {
                Item::Trivia(t) => t.as_str(),
                Item::Entry(e) => e.raw(),
            })
            .map(|text| memchr::memchr_iter(b'\n', text.as_bytes()).count())
            .sum::<usize>();
        return Err(CryptError::Damaged {
            line,
            what: "an `#envault:` line below the header (header lines come first, together, at the top of the file)".to_owned(),
        });
    }
    // Header lines and sealed values stand on lines of their own. A header line inside an
    // entry's text (a quoted value, or a comment whose quote dotenvy joins to the next lines),
    // a sealed value on a later line of an entry, or a sealed value anywhere in a file without a
    // header, quoted or commented out, means the file was damaged or made to hide them: read
    // as plaintext, it would get new secrets written in clear. One pass over the items.
    let mut line = 1;
    for item in items {
        let (text, key) = match item {
            Item::Trivia(t) => (t.as_str(), None),
            Item::Entry(e) => (e.raw(), Some(e.key())),
        };
        for (i, l) in text.lines().enumerate() {
            let inner = i > 0 && key.is_some();
            let what = if inner && l.trim_start().starts_with(HEADER_PREFIX) {
                "`#envault:` header lines (a header wrapped in a quoted value, or in a comment with a quote that dotenvy joins to the next lines)"
            } else if inner && l.contains(VALUE_PREFIX) {
                "a sealed value on a line of its text after the first (sealed values stand on lines of their own)"
            } else if leading.is_empty() && l.contains(VALUE_PREFIX) {
                "a sealed value (`enc:v1:`), but the file has no `#envault:` header at its top"
            } else {
                continue;
            };
            return Err(CryptError::Damaged {
                line: line + i,
                what: match key {
                    Some(k) if inner => format!("the entry {k} holds {what}"),
                    _ => format!("this line holds {what}"),
                },
            });
        }
        line += memchr::memchr_iter(b'\n', text.as_bytes()).count();
    }
    Header::parse(&leading.join("\n"))
}

/// The keys of `doc` whose values are not sealed, in file order.
pub fn clear_keys(doc: &crate::dotenv::Document) -> Vec<String> {
    doc.entries()
        .filter(|e| !is_sealed(e.raw_value()))
        .map(|e| e.key().to_owned())
        .collect()
}

/// A header's file id as written in the header line.
pub fn file_id_text(h: &Header) -> String {
    B64.encode(h.file_id)
}
