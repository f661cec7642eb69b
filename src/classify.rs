//! Which keys hold secrets, and of what kind: the one classifier behind masking, rotation,
//! encryption, stores and scanning.
//!
//! A key is judged by the `_`-separated segments at the END of its name (so `SMTP_PASS` is a
//! password but `PASSWORD_MIN_LENGTH` is not), then by its value where that says more (a URL
//! carrying a password), and the config's `secret_keys:` / `public_keys:` globs override both.

use std::fmt;

use crate::glob::GlobSet;

/// The kind of secret a key holds; it decides how values are masked and generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    Password,
    /// A URL or DSN whose user-info carries a password (`postgres://u:p@host/db`).
    DatabaseUrl,
    ApiKey,
    /// JWT and other HMAC signing secrets.
    SigningSecret,
    WebhookSecret,
    Generic,
}

impl SecretKind {
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::DatabaseUrl => "database URL",
            SecretKind::ApiKey => "API key",
            SecretKind::SigningSecret => "JWT/signing secret",
            SecretKind::WebhookSecret => "webhook secret",
            SecretKind::Generic => "secret",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a key was judged the way it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    KeyName,
    Value,
    ConfigSecretKeys,
    ConfigPublicKeys,
    Default,
}

/// The verdict for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub kind: Option<SecretKind>,
    pub reason: Reason,
}

impl Classification {
    pub fn is_secret(&self) -> bool {
        self.kind.is_some()
    }
}

/// The classifier with the project's overrides.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    secret_keys: GlobSet,
    public_keys: GlobSet,
    /// Every value is masked unless its key is declared public (values from a secrets manager).
    secret_unless_public: bool,
}

impl Classifier {
    pub fn new(secret_keys: Vec<String>, public_keys: Vec<String>) -> Classifier {
        // A secret-keys pattern ignores case, as names are judged; the public list stays
        // exact: ignoring case there would quietly unmask more keys.
        Classifier {
            secret_keys: GlobSet::ignoring_case(secret_keys),
            public_keys: GlobSet::new(public_keys),
            secret_unless_public: false,
        }
    }

    /// This classifier for output that shows values a secrets manager holds: every one is
    /// masked unless its key is declared public.
    pub fn secret_unless_public(&self) -> Classifier {
        Classifier {
            secret_unless_public: true,
            ..self.clone()
        }
    }

    /// Classifies `key`, looking at `value` too when one is given. The order of precedence:
    /// `secret_keys:` (a key listed in both stays masked), then `public_keys:`, then a value
    /// of a family public by design (a publishable key, an OAuth client id: not secret
    /// whatever its name), then the key's name, then a value of a credential family or a URL
    /// with a password (secret whatever its name).
    pub fn classify(&self, key: &str, value: Option<&str>) -> Classification {
        let public_value = value.is_some_and(is_public_value);
        let inferred = kind_from_name(key)
            .map(|k| (k, Reason::KeyName))
            .or_else(|| value.and_then(kind_from_value).map(|k| (k, Reason::Value)));
        if self.secret_keys.matches(key) {
            return Classification {
                kind: Some(inferred.map_or(SecretKind::Generic, |(k, _)| k)),
                reason: Reason::ConfigSecretKeys,
            };
        }
        if self.public_keys.matches(key) {
            return Classification {
                kind: None,
                reason: Reason::ConfigPublicKeys,
            };
        }
        if public_value {
            return Classification {
                kind: None,
                reason: Reason::Value,
            };
        }
        match inferred {
            Some((kind, reason)) => Classification {
                kind: Some(kind),
                reason,
            },
            None => Classification {
                kind: None,
                reason: Reason::Default,
            },
        }
    }

    /// Whether the project declares `key` public (`public_keys:`, and not `secret_keys:`): the
    /// only keys a store may hold unprotected.
    pub fn is_declared_public(&self, key: &str) -> bool {
        self.public_keys.matches(key) && !self.secret_keys.matches(key)
    }

    /// Whether values under `key` are masked on output: [`Classifier::is_secret`], or a
    /// value holds a token of a family that is not public anywhere in it (a reader may read
    /// more around a token, as the Ruby gem keeps `" # "` after a quoted one).
    pub fn masks(&self, key: &str, values: &[&str]) -> bool {
        self.judge(key, values, true)
    }

    /// Whether a value under `key` must be masked: secret by name, or by either value.
    pub fn is_secret(&self, key: &str, values: &[&str]) -> bool {
        self.judge(key, values, false)
    }

    /// [`Classifier::is_secret`], and with `anywhere` a secret token inside a value counts
    /// too. The catalogue runs once per value (large diffs judge many values).
    fn judge(&self, key: &str, values: &[&str], anywhere: bool) -> bool {
        if self.secret_keys.matches(key) {
            return true;
        }
        if self.public_keys.matches(key) {
            return false;
        }
        if self.secret_unless_public {
            return true;
        }
        let (mut all_public, mut secret_token) = (!values.is_empty(), false);
        for v in values {
            let t = v.trim();
            let found = crate::catalogue::find(t.as_bytes());
            let whole = |m: &crate::catalogue::Match| {
                m.name.is_none() && m.span.start == 0 && m.span.end == t.len()
            };
            // A secret token is never inside a value that is one public token.
            secret_token |= found
                .iter()
                .any(|m| m.name.is_none() && !m.family.public && (anywhere || whole(m)));
            all_public &= found.iter().any(|m| whole(m) && m.family.public);
        }
        if all_public {
            return false;
        }
        // As `kind_from_value`: a URL with a password, or a token that is not public.
        secret_token
            || kind_from_name(key).is_some()
            || values.iter().any(|v| url_password(v).is_some())
            || values.iter().any(|v| self.embeds_secret_entry(v))
            || (anywhere && values.iter().any(|v| self.embeds_secret_field(v)))
    }

    /// Whether `value` holds a field named as a secret, with a value: `Password=…;` or
    /// `AccountKey=…;` in a connection string, `password=…` or `sig=…` in a query,
    /// `"clientSecret": "…"` in JSON, `--requirepass …` on a command line, or a credential
    /// after `Basic ` or `Bearer `.
    fn embeds_secret_field(&self, value: &str) -> bool {
        let b = value.as_bytes();
        // A name of words (`User Id=`) is a connection string's; before `:` a name is one word,
        // else any phrase would be one (`Invalid password: try again`).
        let name_byte = |c: u8, sep: u8| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'_' | b'.' | b'-')
                || (c == b' ' && sep == b'=')
        };
        let by_separator = memchr::memchr2_iter(b'=', b':', b).any(|i| {
            let mut j = i;
            while j > 0 && b[j - 1] == b' ' {
                j -= 1;
            }
            if j > 0 && matches!(b[j - 1], b'"' | b'\'') {
                j -= 1;
            }
            let end = j;
            while j > 0 && name_byte(b[j - 1], b[i]) {
                j -= 1;
            }
            let rest = value[i + 1..].trim_start();
            // Before `:`, a field starts the text, an object, a list or a quote, or follows a
            // separator (not a word of a sentence: `Invalid password: try again`).
            let starts_field = value[..j]
                .trim_end_matches(' ')
                .bytes()
                .last()
                .is_none_or(|c| b"{[(,;&?\n\"'".contains(&c));
            // `scheme://` is a URL (its password is judged as one).
            !(b[i] == b':' && (rest.starts_with("//") || !starts_field))
                && self.secret_field(value[j..end].trim(), rest.trim_start_matches(['"', '\'']))
        });
        by_separator
            || memchr::memmem::find_iter(b, b"--").any(|i| {
                let rest = &value[i + 2..];
                let n = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
                    .count();
                rest[n..].starts_with(' ')
                    && !rest[n..].trim_start().starts_with('-')
                    && self.secret_field(&rest[..n], rest[n..].trim_start())
            })
            || ["requirepass ", "masterauth "].iter().any(|word| {
                // Redis configuration, as a value of its own lines or arguments.
                value.split(word).skip(1).any(|rest| {
                    let v = rest.trim_start();
                    !v.starts_with('-') && self.secret_field(word.trim_end(), v)
                })
            })
            || ["Basic ", "Bearer "].iter().any(|scheme| {
                value.split(scheme).skip(1).any(|rest| {
                    let token = rest.split([' ', '"', '\'', ';', ',']).next().unwrap_or("");
                    // Base64 of `user:password`, or a bearer token: not a word (`Basic Plan`)
                    // nor a `realm=` parameter.
                    let b64 = |c: u8| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_' | b'.' | b'~')
                    };
                    token.len() >= 12
                        && token.bytes().all(b64)
                        && token.bytes().any(|c| c.is_ascii_digit() || c == b'=')
                        && !token.contains("realm=")
                })
            })
    }

    /// Whether a line inside `value` (after a line feed, or a lone carriage return that other
    /// readers take as a line end) reads as an entry of a secret key: the Ruby gem and others
    /// read `A='x\nDB_PASSWORD=…'` or `A=1\rDB_PASSWORD=…` as two entries.
    fn embeds_secret_entry(&self, value: &str) -> bool {
        if memchr::memchr2(b'\n', b'\r', value.as_bytes()).is_none() {
            return false;
        }
        value.split(['\n', '\r']).skip(1).any(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let Some((key, _)) = line.split_once('=') else {
                return false;
            };
            let key = key.trim_end();
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
                && !self.public_keys.matches(key)
                && (self.secret_keys.matches(key) || kind_from_name(key).is_some())
        })
    }

    /// Whether a field `name` (as written: `Password`, `clientSecret`, `_authToken`) holds a
    /// secret in `rest`, the text after its separator: a value that is not empty, a
    /// reference to a variable, a number or a word such as `true`.
    fn secret_field(&self, name: &str, rest: &str) -> bool {
        let field = rest
            .split([';', '&', ',', '"', '\'', '}', ' '])
            .next()
            .unwrap_or("");
        let reference = field.starts_with("${")
            || field.strip_prefix('$').is_some_and(|n| {
                n.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                    && n.bytes()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
            });
        let switch = [
            "true", "false", "null", "none", "yes", "no", "on", "off", "enabled", "disabled",
            "required", "optional",
        ]
        .iter()
        .any(|w| field.eq_ignore_ascii_case(w));
        // A number (`100`, `30s`, `100/min`) is a setting, except under a password's name.
        let unit = field.trim_start_matches(|c: char| c.is_ascii_digit());
        let unit = unit.strip_prefix('/').unwrap_or(unit);
        let number = unit.len() < field.len()
            && unit.len() <= 4
            && unit.bytes().all(|c| c.is_ascii_lowercase());
        // A nested object or list (`"auth": {"provider": …}`) is judged by its own fields.
        let nested = rest.starts_with(['{', '[']);
        if name.is_empty() || field.is_empty() || reference || switch || nested {
            return false;
        }
        // Words apart: `clientSecret` is CLIENT_SECRET, `--requirepass` is __REQUIREPASS.
        let mut words = String::with_capacity(name.len() + 4);
        let mut prev_lower = false;
        for c in name.chars() {
            if c.is_ascii_uppercase() && prev_lower {
                words.push('_');
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            words.push(match c {
                ' ' | '-' => '_',
                c => c.to_ascii_uppercase(),
            });
        }
        if self.public_keys.matches(&words) {
            return false;
        }
        let (last, prev, _) = last_segments(unnumbered(&words));
        let field_word = match (prev, last) {
            (Some("ACCOUNT"), Some("KEY")) => true,
            // Docker's `"auth"` holds base64 of `user:password`, not a word (`?auth=jwt`).
            (_, Some("AUTH")) => field.len() >= 12,
            (_, Some(w)) => ["SIG", "REQUIREPASS", "MASTERAUTH"].contains(&w),
            _ => false,
        };
        let kind = kind_from_name(&words);
        if number && kind != Some(SecretKind::Password) {
            return false;
        }
        field_word || self.secret_keys.matches(&words) || kind.is_some()
    }
}

const PASSWORD_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "PASSPHRASE",
    // libpq's environment variable, also written before commands (`PGPASSWORD=… pg_dump`).
    "PGPASSWORD",
];
const GENERIC_WORDS: &[&str] = &["SECRET", "TOKEN", "CREDENTIALS", "CREDENTIAL"];
/// Words that make a trailing `KEY` a secret; an unqualified `KEY` is not one.
const KEY_QUALIFIERS: &[(&str, SecretKind)] = &[
    ("API", SecretKind::ApiKey),
    ("ACCESS", SecretKind::ApiKey),
    ("SECRET", SecretKind::ApiKey),
    ("PRIVATE", SecretKind::Generic),
    ("SIGNING", SecretKind::SigningSecret),
    ("ENCRYPTION", SecretKind::Generic),
    ("MASTER", SecretKind::Generic),
    ("ADMIN", SecretKind::ApiKey),
];

/// The last two non-empty `_`/`.`-separated segments of `key`, and whether there are more.
fn last_segments(key: &str) -> (Option<&str>, Option<&str>, bool) {
    let b = key.as_bytes();
    let is_sep = |c: u8| c == b'_' || c == b'.';
    let mut end = b.len();
    let mut segs = [None, None];
    for seg in &mut segs {
        while end > 0 && is_sep(b[end - 1]) {
            end -= 1;
        }
        if end == 0 {
            break;
        }
        let mut start = end;
        while start > 0 && !is_sep(b[start - 1]) {
            start -= 1;
        }
        // Cuts fall next to ASCII separators, so they are character boundaries.
        *seg = Some(&key[start..end]);
        end = start;
    }
    let more = b[..end].iter().any(|&c| !is_sep(c));
    (segs[0], segs[1], more)
}

/// `key` without a trailing number or version: `DB_PASSWORD2`, `MYAPP_PASSWORD_V2` and
/// `API_KEY_1` name the same kind of value as `DB_PASSWORD`, `MYAPP_PASSWORD` and `API_KEY`.
fn unnumbered(key: &str) -> &str {
    let k = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if k.len() == key.len() {
        return key;
    }
    let k = k
        .strip_suffix("_V")
        .or_else(|| k.strip_suffix("_v"))
        .unwrap_or(k)
        .trim_end_matches(['_', '.']);
    if k.is_empty() {
        key
    } else {
        k
    }
}

/// The kind implied by the key name alone.
pub fn kind_from_name(key: &str) -> Option<SecretKind> {
    let key = unnumbered(key);
    let (last, prev, more) = last_segments(key);
    let last = last?;
    let is = |seg: &str, word: &str| seg.eq_ignore_ascii_case(word);
    let prev_is = |word: &str| prev.is_some_and(|p| is(p, word));
    if PASSWORD_WORDS.iter().any(|w| is(last, w)) {
        return Some(SecretKind::Password);
    }
    if is(last, "APIKEY") {
        return Some(SecretKind::ApiKey);
    }
    if is(last, "KEY") {
        return KEY_QUALIFIERS
            .iter()
            .find(|(q, _)| prev_is(q))
            .map(|(_, k)| *k);
    }
    if is(last, "SECRET") {
        return Some(if prev_is("WEBHOOK") {
            SecretKind::WebhookSecret
        } else if prev_is("JWT") || prev_is("SIGNING") {
            SecretKind::SigningSecret
        } else if prev_is("STRIPE") && !more {
            // The tutorial's example of an API-key-shaped secret.
            SecretKind::ApiKey
        } else {
            SecretKind::Generic
        });
    }
    if GENERIC_WORDS.iter().any(|w| is(last, w)) {
        return Some(SecretKind::Generic);
    }
    if is(last, "DSN") || key.eq_ignore_ascii_case("DATABASE_URL") {
        return Some(SecretKind::DatabaseUrl);
    }
    None
}

/// The kind implied by a value: a URL whose user-info carries a password.
/// Whether a variable makes the program it is given to run other code, or load code from
/// elsewhere: the dynamic loader's (`LD_*`, `DYLD_*`), interpreters' start-up hooks and module
/// paths, shells' start-up files, git's and ssh's helper commands, pagers' preprocessors, and
/// `PATH` itself. An env file is repository content: it must not decide what code runs.
pub fn controls_execution(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "IFS",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONUSERBASE",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "PERL5DB",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "GIT_EXEC_PATH",
        "GIT_EXTERNAL_DIFF",
        "GIT_PROXY_COMMAND",
        "GIT_PAGER",
        "GIT_EDITOR",
        "GIT_TEMPLATE_DIR",
        "SSH_ASKPASS",
        "PAGER",
        "LESSOPEN",
        "LESSCLOSE",
        "EDITOR",
        "VISUAL",
        "GCONV_PATH",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "RES_OPTIONS",
        "TMPDIR",
    ];
    const PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG"];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

pub fn kind_from_value(value: &str) -> Option<SecretKind> {
    if url_password(value).is_some() {
        return Some(SecretKind::DatabaseUrl);
    }
    crate::catalogue::identify(value)
        .filter(|f| !f.public)
        .map(|_| SecretKind::ApiKey)
}

/// Whether `value` is a credential family's value that is public by design (Stripe's
/// publishable keys, Google OAuth client ids).
pub fn is_public_value(value: &str) -> bool {
    crate::catalogue::identify(value).is_some_and(|f| f.public)
}

/// The byte range of the password inside `scheme://user:password@host…`, if there is one.
pub fn url_password(value: &str) -> Option<std::ops::Range<usize>> {
    // The scheme ends at the first colon.
    let scheme_end = memchr::memchr(b':', value.as_bytes())?;
    if !value[scheme_end..].starts_with("://") {
        return None;
    }
    let scheme = &value[..scheme_end];
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let auth_start = scheme_end + 3;
    let rest = &value[auth_start..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    // The last `@` ends the user-info (a password may itself contain a raw `@`).
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let colon = userinfo.find(':')?;
    let start = auth_start + colon + 1;
    let end = auth_start + at;
    (end > start).then_some(start..end)
}

/// The format a rotated value is generated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Letters, digits and shell-safe symbols, at least one of each class.
    Password,
    /// Only the password inside `scheme://user:password@host…` is replaced.
    UrlPassword,
    /// A prefixed, versioned key: `sk_live_v2_…`.
    ApiKey,
    /// Random bytes, standard base64.
    Base64,
    /// Random bytes, lowercase hex.
    Hex,
    /// Random letters and digits.
    Alphanumeric,
}

impl Format {
    /// The format for a classified secret kind.
    pub fn for_kind(kind: Option<SecretKind>) -> Format {
        match kind {
            Some(SecretKind::Password) => Format::Password,
            Some(SecretKind::DatabaseUrl) => Format::UrlPassword,
            Some(SecretKind::ApiKey) => Format::ApiKey,
            Some(SecretKind::SigningSecret) => Format::Base64,
            Some(SecretKind::WebhookSecret) => Format::Hex,
            Some(SecretKind::Generic) | None => Format::Alphanumeric,
        }
    }

    /// Whether `--length` counts random bytes (else characters).
    pub fn length_in_bytes(self) -> bool {
        matches!(self, Format::Base64 | Format::Hex)
    }

    /// The default length (characters, or bytes for byte-based formats).
    pub fn default_length(self) -> usize {
        match self {
            Format::Password | Format::UrlPassword => 24,
            Format::ApiKey | Format::Alphanumeric | Format::Base64 | Format::Hex => 32,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Password => "password",
            Format::UrlPassword => "URL password",
            Format::ApiKey => "API key",
            Format::Base64 => "base64 secret",
            Format::Hex => "hex secret",
            Format::Alphanumeric => "random string",
        })
    }
}

/// Whether a key names a database (`DB_PASSWORD`, `POSTGRES_URL`, `MONGO.PASS`): one of its
/// `_`/`.`-separated words is a database word.
pub fn names_a_database(key: &str) -> bool {
    const WORDS: [&str; 7] = [
        "DB", "DATABASE", "POSTGRES", "PG", "MYSQL", "MARIADB", "MONGO",
    ];
    let upper = key.to_ascii_uppercase();
    upper.split(['_', '.']).any(|s| WORDS.contains(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `secret_keys:` patterns ignore case; `public_keys:` ones stay exact, so an upgrade never
    /// unmasks a key.
    #[test]
    fn secret_patterns_ignore_case_and_public_ones_do_not() {
        let c = Classifier::new(vec!["internal_*".into()], vec!["log_*".into()]);
        assert!(c.is_secret("INTERNAL_FOO", &["plain"]));
        assert!(c.masks("Internal_Bar", &["plain"]));
        assert!(c.is_secret("LOG_PASSWORD", &["x"]));
        assert!(!c.is_secret("log_password", &["x"]));
    }

    fn kind(key: &str) -> Option<SecretKind> {
        Classifier::default().classify(key, None).kind
    }

    /// Numbered and versioned names are the kind of the name without the number.
    #[test]
    fn numbered_names_keep_their_kind() {
        use SecretKind::*;
        for (key, want) in [
            ("DB_PASSWORD2", Some(Password)),
            ("MYAPP_PASSWORD_V2", Some(Password)),
            ("SECRET2", Some(Generic)),
            ("STRIPE_API_KEY_1", Some(ApiKey)),
            ("REDIS_DB_0", None),
            ("OAUTH2", None),
            ("PASSWORD_LENGTH_12", None),
            ("2", None),
        ] {
            assert_eq!(kind(key), want, "{key}");
        }
    }

    /// A value holding a line that other readers read as a secret entry is masked.
    #[test]
    fn values_that_embed_a_secret_entry_are_masked() {
        let c = Classifier::default();
        for v in [
            "1\rDB_PASSWORD=crsecret2",
            "x\nDB_PASSWORD=sq1\n",
            "x\n  export API_TOKEN=abc",
        ] {
            assert!(c.masks("A", &[v]), "{v:?}");
        }
        for v in ["line one\nline two", "a\nLOG_LEVEL=debug", "x\n=y"] {
            assert!(!c.masks("A", &[v]), "{v:?}");
        }
        let public = Classifier::new(vec![], vec!["DB_PASSWORD".into()]);
        assert!(!public.masks("A", &["x\nDB_PASSWORD=shown"]));
    }

    /// Found by a review: a connection string or a JSON value holding a password was shown by
    /// `diff` and `textconv` under a name that is not secret.
    #[test]
    fn values_that_hold_a_secret_field_are_masked() {
        let c = Classifier::new(vec![], vec![]);
        for v in [
            "Server=db;User Id=sa;Password=MyP4ssw0rd!;",
            "Data Source=db; Pwd = s3cr3t-42",
            "{\"user\":\"app\",\"password\":\"zzTopSecret9\"}",
            "{'api_key': 'k-7f3a9c'}",
            "host=db sslmode=require password=Xk9pL2mQ",
            "https://api.example.com/v1?client_secret=Xk9pL2mQ&x=1",
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=q0ZxkW9vTm3sPl2Y7rB4cN8dHj6==;EndpointSuffix=core.windows.net",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=Zk3mQ9pL2vR7xT4w=",
            "{\"clientId\":\"c-1\",\"clientSecret\":\"Vq8~rT2pLm5sKx9\"}",
            "-Djavax.net.ssl.keyStorePassword=Kx9pL2mQ -Dother=1",
            "//registry.npmjs.org/:_authToken=npm_Zk3mQ9pL2vR7xT4wYb6n",
            "redis-server --requirepass Kx9pL2mQ7v --port 6380",
            "requirepass Kx9pL2mQ7v",
            "PGPASSWORD=Xk29vLqTz81w pg_dump -h db app",
            "{\"appId\":\"ABC123\",\"adminKey\":\"6be0576ff61c053d5f9a3225e2a90f76\"}",
            "Server=db;User Id=sa;Password=20241987;",
            "Server=db;Password=$ecretPassw0rd;",
            "SharedAccessSignature sr=ns&sig=Zk3mQ9pL2vR7xT4w%3D&se=1893456000",
            "Basic YWRtaW46S3g5cEwybVE=",
            "{\"auths\":{\"registry.example.com\":{\"auth\":\"YWRtaW46S3g5cEwybVE=\"}}}",
        ] {
            assert!(c.masks("CONN", &[v]), "{v}");
        }
        for v in [
            "Server=db;User Id=sa;Password=;",
            "Server=db;Password=${DB_PASSWORD}",
            "https://example.com:8443/path",
            "{\"password_min_length\": 12, \"timeout\": 30}",
            "Note: the token rotates daily",
            "12:30",
            "SharedAccessKeyName=send;Endpoint=sb://ns/",
            "{\"auth\": false, \"token_ttl\": 3600}",
            "--password-file /run/secrets/db --port 5432",
            "Bearer ${API_TOKEN}",
            // Found by the third review: settings, words and phrases that are no secrets.
            "{\"auth\":{\"provider\":\"google\"}}",
            "{\"token\":{\"expiresIn\":3600}}",
            "wss://stream.example.com/socket?auth=jwt",
            "--auth sasl",
            "Basic Personal",
            "Basic realm=Restricted",
            "show_password:on,dark_mode:off",
            "api_key:100/min",
            "Invalid password: please try again",
        ] {
            assert!(!c.masks("CONN", &[v]), "{v}");
        }
        // Declared public, the field is shown.
        let public = Classifier::new(vec![], vec!["PASSWORD".into()]);
        assert!(!public.masks("CONN", &["Server=db;Password=shown"]));
    }

    #[test]
    fn secret_by_trailing_segments() {
        use SecretKind::*;
        for (key, want) in [
            ("DB_PASSWORD", Password),
            ("SMTP_PASS", Password),
            ("MYSQL_PWD", Password),
            ("GPG_PASSPHRASE", Password),
            ("LDAP_PASSWD", Password),
            ("API_KEY", ApiKey),
            ("STRIPE_API_KEY", ApiKey),
            ("SENDGRID_APIKEY", ApiKey),
            ("AWS_SECRET_ACCESS_KEY", ApiKey),
            ("DJANGO_SECRET_KEY", ApiKey),
            ("STRIPE_SECRET", ApiKey),
            ("JWT_SECRET", SigningSecret),
            ("AUTH_JWT_SECRET", SigningSecret),
            ("COOKIE_SIGNING_KEY", SigningSecret),
            ("WEBHOOK_SECRET", WebhookSecret),
            ("GITHUB_WEBHOOK_SECRET", WebhookSecret),
            ("SESSION_SECRET", Generic),
            ("GITHUB_TOKEN", Generic),
            ("GOOGLE_CREDENTIALS", Generic),
            ("TLS_PRIVATE_KEY", Generic),
            ("DATA_ENCRYPTION_KEY", Generic),
            ("RAILS_MASTER_KEY", Generic),
            ("SENTRY_DSN", DatabaseUrl),
            ("DATABASE_URL", DatabaseUrl),
            ("db_password", Password),
        ] {
            assert_eq!(kind(key), Some(want), "{key}");
        }
    }

    #[test]
    fn not_secret() {
        for key in [
            "TOKEN_TTL",
            "PASSWORD_MIN_LENGTH",
            "KEYBOARD_LAYOUT",
            "KEY",
            "CACHE_KEY",
            "DB_HOST",
            "LOG_LEVEL",
            "CACHE_TTL",
            "PASSPORT_NUMBER_FORMAT",
            "AWS_ACCESS_KEY_ID",
            "REDIS_URL",
            "SECRETARY_NAME",
        ] {
            assert_eq!(kind(key), None, "{key}");
        }
    }

    #[test]
    fn urls_with_passwords_are_secrets() {
        let c = Classifier::default();
        let v = "redis://default:s3cr3t@cache:6379/0";
        assert_eq!(
            c.classify("REDIS_URL", Some(v)).kind,
            Some(SecretKind::DatabaseUrl)
        );
        assert_eq!(&v[url_password(v).unwrap()], "s3cr3t");
        assert_eq!(
            c.classify("REDIS_URL", Some("redis://cache:6379")).kind,
            None
        );
        assert_eq!(
            c.classify("HOME_URL", Some("https://user@host/")).kind,
            None
        );
        let v = "postgres://u:p@ss@[::1]:5432/db?x=1";
        assert_eq!(&v[url_password(v).unwrap()], "p@ss");
        assert_eq!(url_password("mailto:a:b@c"), None);
    }

    #[test]
    fn config_overrides() {
        let c = Classifier::new(
            vec!["INTERNAL_*".into()],
            vec!["PUBLIC_*".into(), "API_KEY".into()],
        );
        assert_eq!(
            c.classify("INTERNAL_ID", None).kind,
            Some(SecretKind::Generic)
        );
        assert_eq!(c.classify("PUBLIC_TOKEN", None).kind, None);
        assert_eq!(c.classify("API_KEY", None).reason, Reason::ConfigPublicKeys);
        let both = Classifier::new(vec!["X_*".into()], vec!["X_*".into()]);
        assert!(both.classify("X_TOKEN", None).is_secret());
        // The fast check agrees with the full verdict.
        for (cl, key, vals) in [
            (&c, "INTERNAL_ID", vec!["x"]),
            (&c, "PUBLIC_TOKEN", vec!["redis://u:p@h"]),
            (&c, "REDIS_URL", vec!["redis://h", "redis://u:p@h"]),
            (&c, "REDIS_URL", vec!["redis://h"]),
            (&c, "DB_PASSWORD", vec![]),
            (&both, "X_TOKEN", vec!["a"]),
        ] {
            let full = if vals.is_empty() {
                cl.classify(key, None).is_secret()
            } else {
                vals.iter().any(|v| cl.classify(key, Some(v)).is_secret())
            };
            assert_eq!(cl.is_secret(key, &vals), full, "{key}");
        }
    }
}

/// The outside provider that issued `value`, when it has a provider's format (see
/// `catalogue::issuer_of`): such values cannot be rotated locally (a fresh random `ghp_…` is
/// rejected by GitHub).
pub fn provider_format(key: &str, value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.starts_with("-----BEGIN ") && v.contains("PRIVATE KEY") {
        return Some("a PEM private key (issued with its certificate or by its owner)");
    }
    crate::catalogue::issuer_of(key, v).map(|f| f.provider)
}

#[cfg(test)]
mod provider_tests {
    use super::provider_format;

    #[test]
    fn recognises_provider_formats() {
        let cases = [
            (
                "GITHUB_TOKEN",
                "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                Some("GitHub"),
            ),
            ("GITLAB_TOKEN", "glpat-xxxxxxxxxxxxxxxxxxxx", Some("GitLab")),
            (
                "SLACK_BOT_TOKEN",
                "xoxb-1234567890-abcdefghij",
                Some("Slack"),
            ),
            (
                "STRIPE_SECRET",
                "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                Some("Stripe"),
            ),
            (
                "STRIPE_SECRET",
                "sk_live_v2_4eC39HqLyjWDarjtT1zdp7dcXXXXXXXXXXXXXXX",
                None,
            ),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", Some("AWS")),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                Some("AWS"),
            ),
            (
                "MAPS_API_KEY",
                "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
                Some("Google"),
            ),
            (
                "TLS_PRIVATE_KEY",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
                Some("a PEM private key (issued with its certificate or by its owner)"),
            ),
            ("DB_PASSWORD", "prod_password_789", None),
            ("API_KEY", "dev_key_abc123", None),
        ];
        for (key, value, want) in cases {
            assert_eq!(provider_format(key, value), want, "{key}={value}");
        }
    }
}
