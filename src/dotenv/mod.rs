//! The lossless .env document: parse, render byte for byte, and edit single entries.

pub mod expand;
mod parse;
pub mod quote;
pub mod readers;

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

/// Hash maps keyed by env keys: keys come from local files, so a fast hasher is safe.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Effective values by key, in the order keys first appear.
pub type KeyMap<'a> = IndexMap<&'a str, &'a str, foldhash::fast::RandomState>;

pub use quote::{Peer, Style};

/// One parsed file: the entries and everything between them, kept verbatim.
#[derive(Clone, Default)]
pub struct Document {
    bom: bool,
    items: Vec<Item>,
    index: KeyIndex,
    /// Lines kept as they are because they do not parse (files read with [`Document::read`]).
    opaque: Vec<Opaque>,
    /// The reader whose reading the values are ([`Document::apply_dialect`]); dotenvy's when
    /// `None`.
    dialect: Option<Dialect>,
    /// The items as dotenvy reads them, kept when the dialect's reader groups lines otherwise
    /// (for [`Document::hidden_readings`], which says where dotenvy's reading hides a line).
    dotenvy_items: Option<Vec<Item>>,
}

/// A line that dotenvy refuses but other readers read (an unquoted value with spaces, a `//`
/// comment, a bare key, an escape dotenvy does not know): kept byte for byte as a line that is
/// not an entry, and reported, rather than failing the file.
#[derive(Clone, PartialEq, Eq)]
pub struct Opaque {
    /// Its line number (1-based).
    pub line: usize,
    /// Why dotenvy refuses it.
    pub error: ParseError,
    /// The line as written: it may hold a secret, so it is shown only through [`Opaque::readings`]
    /// and [`ParseError::masked_line`].
    text: String,
    /// An `export NAME…` line whose names the file sets above it: the Ruby gem accepts it
    /// (it refuses one naming a key not set yet).
    exports_set: bool,
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opaque")
            .field("line", &self.line)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// What one reader reads on a line: a key and its value (`None`: a bare key), or nothing.
pub type Reading = Option<(String, Option<String>)>;

/// The reader an environment's app uses (`dialect:` in `.envault.yml`): it decides what a
/// one-line entry's value is, and how `envault run` expands `$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Dialect {
    #[serde(rename = "dotenvy")]
    Dotenvy,
    #[serde(rename = "python-dotenv")]
    PythonDotenv,
    #[serde(rename = "node")]
    Node,
    /// vlucas/phpdotenv 5.
    #[serde(rename = "php")]
    Php,
    /// The Ruby dotenv gem 2.
    #[serde(rename = "ruby")]
    Ruby,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Dotenvy => "dotenvy",
            Dialect::PythonDotenv => "python-dotenv",
            Dialect::Node => "node",
            Dialect::Php => "php",
            Dialect::Ruby => "ruby",
        })
    }
}

impl Dialect {
    /// How the dialect's reader reads one line.
    fn reading(self, line: &str) -> Option<Reading> {
        match self {
            Dialect::Dotenvy => None,
            Dialect::Node => Some(node_reading(line)),
            Dialect::PythonDotenv => Some(readers::python_line(line)),
            Dialect::Php => Some(php_reading(line)),
            Dialect::Ruby => Some(ruby_reading(line)),
        }
    }

    /// Whether the dialect's reader reads no entry on `line` and goes on with the file (it
    /// neither reads a key nor fails the file there).
    fn skips(self, line: &str) -> bool {
        match self {
            Dialect::Dotenvy => false,
            Dialect::Node => readers::node_line(line).is_none(),
            Dialect::PythonDotenv => readers::python_line(line).is_none(),
            Dialect::Php => matches!(readers::php_line(line), Ok(None)),
            Dialect::Ruby => matches!(readers::ruby_line(line), Ok(None)),
        }
    }

    /// Whether `peer` is this dialect's reader.
    fn is_peer(self, peer: Peer) -> bool {
        matches!(
            (self, peer),
            (Dialect::Node, Peer::NodeDotenv)
                | (Dialect::PythonDotenv, Peer::PythonDotenv)
                | (Dialect::Php, Peer::Php)
                | (Dialect::Ruby, Peer::Ruby)
        )
    }

    /// How the dialect's reader expands `$` in `envault run`.
    pub fn expansion(self) -> expand::Style {
        match self {
            Dialect::Dotenvy => expand::Style::Dotenvy,
            Dialect::PythonDotenv => expand::Style::Braces,
            Dialect::Node => expand::Style::Shell,
            Dialect::Php => expand::Style::Php,
            Dialect::Ruby => expand::Style::Ruby,
        }
    }
}

/// A key as a warning may name it: `None` when it does not look like a name (a line that is
/// not an entry may be a token, or a line of a private key, that a reader takes for a key).
pub fn shown_key(key: &str) -> Option<&str> {
    (is_valid_key(key)
        && crate::catalogue::identify(key).is_none()
        && (written_as_words(key) || !crate::catalogue::looks_random(key)))
    .then_some(key)
}

/// Whether `key` is written as names are, in words: each part between `_` and `.` is letters
/// of one case, with digits only at its start or end (`SERVICE_102_SECRET`, `OAUTH2_CLIENT`,
/// `s3_bucket`, `2FA_CODE`). A random string of mixed classes is not.
fn written_as_words(key: &str) -> bool {
    if !key.contains(['_', '.']) {
        return camel_case_words(key);
    }
    key.split(['_', '.']).all(|part| {
        let letters = part.trim_matches(|c: char| c.is_ascii_digit()).as_bytes();
        letters.iter().all(u8::is_ascii_uppercase) || letters.iter().all(u8::is_ascii_lowercase)
    })
}

/// Whether `key` is words in camel case (`OAuth2ClientSecret`, `dbPassword`): each word
/// capitals then small letters and digits (the first may start small), at least two words of
/// four characters on average, and few digits. A random mixed-case string has short "words"
/// and many digits (`Xk9pL2mQ7vR4zT8wBn3`).
fn camel_case_words(key: &str) -> bool {
    let b = key.as_bytes();
    let mut words = 1;
    for i in 1..b.len() {
        if b[i].is_ascii_uppercase() && (b[i - 1].is_ascii_lowercase() || b[i - 1].is_ascii_digit())
        {
            words += 1;
        }
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let alphanumeric = b.iter().all(u8::is_ascii_alphanumeric);
    alphanumeric && words >= 2 && b.len() >= 4 * words && digits * 4 <= b.len()
}

/// A key that a reader reads without a value (a line without `=`), as a warning may name it:
/// only when it is written as env names conventionally are (no lowercase letters), since a
/// word alone on a line may be a password, such as a line of a value that spans lines.
pub fn shown_bare_key(key: &str) -> Option<&str> {
    shown_key(key).filter(|k| !k.bytes().any(|b| b.is_ascii_lowercase()))
}

/// The key of a reading as a warning may name it ([`shown_key`], or [`shown_bare_key`] for a
/// key without a value).
pub fn shown_reading_key(reading: &(String, Option<String>)) -> Option<&str> {
    match reading.1 {
        Some(_) => shown_key(&reading.0),
        None => shown_bare_key(&reading.0),
    }
}

fn bare_key_words(key: &str) -> String {
    shown_bare_key(key).map_or_else(
        || format!("a key of {} characters", key.chars().count()),
        str::to_owned,
    )
}

fn key_words(key: &str) -> String {
    shown_key(key).map_or_else(
        || format!("a key of {} characters", key.chars().count()),
        str::to_owned,
    )
}

/// Node's dotenv's reading of one line (it has no bare keys).
fn node_reading(line: &str) -> Reading {
    readers::node_line(line).map(|(k, v)| (k, Some(v)))
}

/// phpdotenv's reading of one line (nothing where it fails the file).
fn php_reading(line: &str) -> Reading {
    php_of(readers::php_line(line))
}

fn php_of(r: Result<Reading, readers::Refused>) -> Reading {
    r.ok().flatten()
}

/// The Ruby gem's reading of one line, before its substitutions (it has no bare keys).
fn ruby_reading(line: &str) -> Reading {
    ruby_of(readers::ruby_line(line))
}

fn ruby_of(r: Result<Option<(String, String, Option<char>)>, readers::Refused>) -> Reading {
    r.ok().flatten().map(|(k, v, _)| (k, Some(v)))
}

/// How the other readers read one line.
fn peer_readings(line: &str) -> [(Peer, Reading); 4] {
    read_by_peers(line).0
}

/// How the other readers read one line, and which of them fail the whole file on it
/// (phpdotenv and the Ruby gem throw); each reader reads the line once.
fn read_by_peers(line: &str) -> ([(Peer, Reading); 4], Vec<Peer>) {
    let (php, ruby) = (readers::php_line(line), readers::ruby_line(line));
    let mut refused = Vec::new();
    if php.is_err() {
        refused.push(Peer::Php);
    }
    if ruby.is_err() {
        refused.push(Peer::Ruby);
    }
    (
        [
            (Peer::NodeDotenv, node_reading(line)),
            (Peer::PythonDotenv, readers::python_line(line)),
            (Peer::Php, php_of(php)),
            (Peer::Ruby, ruby_of(ruby)),
        ],
        refused,
    )
}

/// How the other readers read the pieces of one line that a lone carriage return splits (each
/// a line to them), each reading them as it reads a whole file: node's dotenv, python-dotenv
/// and phpdotenv carry a quoted value on over the pieces, the Ruby gem reads each apart. Every
/// reading of each reader in order (`None` alone where it reads nothing, and last where it
/// fails the whole file), and the readers that fail the whole file on them. A reader that
/// fails keeps the readings of the lines it read before: the hook judges those too.
fn read_pieces_by_peers(node: &[&str], pieces: &[&str]) -> (Vec<(Peer, Reading)>, Vec<Peer>) {
    let mut refused = Vec::new();
    let mut php = Vec::new();
    for (_, r) in readers::php_statements(pieces) {
        match r {
            Ok(r) => php.push(r),
            Err(_) => {
                refused.push(Peer::Php);
                break;
            }
        }
    }
    let mut ruby = Vec::new();
    for piece in pieces {
        match readers::ruby_line(piece) {
            Ok(r) => ruby.push(ruby_of(Ok(r))),
            Err(_) => {
                refused.push(Peer::Ruby);
                break;
            }
        }
    }
    let statements = |s: Vec<readers::Statement>| s.into_iter().map(|(_, r)| r).collect();
    let mut out = Vec::new();
    for (peer, readings) in [
        (Peer::NodeDotenv, statements(readers::node_statements(node))),
        (
            Peer::PythonDotenv,
            statements(readers::python_statements(pieces)),
        ),
        (Peer::Php, php),
        (Peer::Ruby, ruby),
    ] {
        let readings: Vec<Reading> = readings;
        let read: Vec<Reading> = readings.into_iter().filter(Option::is_some).collect();
        let fails = refused.contains(&peer);
        let nothing = read.is_empty();
        out.extend(read.into_iter().map(|r| (peer, r)));
        if nothing || fails {
            out.push((peer, None));
        }
    }
    (out, refused)
}

/// The lines other readers read in `text`, one line to dotenvy: (node's dotenv's, the others').
/// Every reader ends a line at a lone CR. Node's also ends one at U+2028 and U+2029 where its
/// expression reads a comment (`.` stops at them, and `^` matches after them): from byte
/// `comment_from` on.
fn reader_lines(text: &str, comment_from: usize) -> (Vec<&str>, Vec<&str>) {
    let others: Vec<&str> = text.split('\r').collect();
    let mut node = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '\r' || (i >= comment_from && matches!(c, '\u{2028}' | '\u{2029}')) {
            node.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    node.push(&text[start..]);
    (node, others)
}

/// Whether `text` holds a character that ends a line for another reader and not for dotenvy.
fn breaks_for_others(text: &str) -> bool {
    text.contains(['\r', '\u{2028}', '\u{2029}'])
}

/// How a warning says what `peer` reads (`None`: it reads no entry on the line).
fn reading_words(peer: Peer, reading: &Reading, refused: bool, line_key: Option<&str>) -> String {
    match reading {
        Some((k, Some(_))) if line_key.is_none() => match shown_key(k) {
            Some(k) => format!("{peer} reads {k}={MASK}"),
            None => format!("{peer} reads {}={MASK}", key_words(k)),
        },
        Some((k, Some(v))) if Some(k.as_str()) == line_key => {
            format!("{peer} reads {}", value_size(v))
        }
        Some((k, Some(v))) => format!("{peer} reads {} with {}", key_words(k), value_size(v)),
        Some((k, None)) => format!("{peer} reads {} without a value", bare_key_words(k)),
        None if refused => format!("{peer} refuses it and fails the whole file"),
        None => format!("{peer} skips it"),
    }
}

/// What each reader reads, for a warning: one part per reader, its readings in order
/// (`node dotenv reads a value of 1 character and B with a value of 1 character`).
fn readings_words(
    readings: &[(Peer, Reading)],
    refused: &[Peer],
    line_key: Option<&str>,
) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut last: Option<Peer> = None;
    for (peer, r) in readings {
        let words = reading_words(*peer, r, refused.contains(peer), line_key);
        let prefix = format!("{peer} reads ");
        match (parts.last_mut(), words.strip_prefix(&prefix)) {
            (Some(part), Some(rest)) if last == Some(*peer) => {
                part.push_str(" and ");
                part.push_str(rest);
            }
            _ => parts.push(words),
        }
        last = Some(*peer);
    }
    parts
}

/// A value described by its length only.
fn value_size(v: &str) -> String {
    match v.chars().count() {
        0 => "an empty value".to_owned(),
        1 => "a value of 1 character".to_owned(),
        n => format!("a value of {n} characters"),
    }
}

/// An entry on one line that another reader reads differently from dotenvy (another value,
/// or no entry at all). Values are held, never shown: Debug lists only where and who.
#[derive(Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub line: usize,
    pub key: String,
    /// The reader whose value the document holds (dotenvy, or the environment's dialect).
    pub reader: Dialect,
    /// That reader's value.
    pub value: String,
    /// The readers that read the line otherwise, and what they read.
    pub others: Vec<(Peer, Reading)>,
    /// The line after the value's text (a comment, for dotenvy).
    pub after_value: String,
    /// The value's text as written (quotes and escapes included).
    pub value_text: String,
    /// The readers among `others` that fail the whole file on the line.
    pub refused: Vec<Peer>,
}

impl Disagreement {
    /// Whether another reader reads a value in what dotenvy takes for a comment: sealing the
    /// value would leave that one in clear.
    /// A reader whose value holds more `#` than the value's text reads on into the comment
    /// (`PASS='it\' #1 tail'`, which node's dotenv reads whole): a reader may drop characters
    /// from the text (quotes, escapes), never add a `#`.
    /// And where the comment holds a line break for another reader (a lone CR, or U+2028 for
    /// node's dotenv), anything another reader reads otherwise with a value is taken for a line
    /// in the comment, the same key included (`A=x #c␍A="…"` sets `A` again for them).
    pub fn value_in_comment(&self) -> bool {
        let in_text = self.value_text.matches('#').count();
        let comment = self.after_value.contains('#');
        let breaks = breaks_for_others(&self.after_value);
        self.others.iter().any(|(_, r)| {
            matches!(r, Some((_, Some(v))) if !v.is_empty()
                && (self.after_value.contains(v.as_str())
                    || (comment && v.matches('#').count() > in_text)
                    || breaks))
        })
    }
}

/// An entry another reader finds where dotenvy reads none ([`Document::hidden_readings`]):
/// in a comment (`within` is `None`) or inside the value of the key `within`. Values are held,
/// never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden {
    pub line: usize,
    pub within: Option<String>,
    pub readings: Vec<(Peer, Reading)>,
    /// In a comment: what ends the line there for the readers (a lone CR, or a line separator
    /// U+2028 or U+2029 that only node's dotenv ends a line at).
    pub separator: &'static str,
}

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peers: Vec<Peer> = self.readings.iter().map(|(p, _)| *p).collect();
        f.debug_struct("Hidden")
            .field("line", &self.line)
            .field("readers", &peers)
            .finish_non_exhaustive()
    }
}

impl Hidden {
    /// One line for a warning, every value masked.
    pub fn describe(&self) -> String {
        let read = readings_words(&self.readings, &[], None);
        match &self.within {
            None => format!(
                "dotenvy reads a comment, but {} ends the line for other readers: {}",
                self.separator,
                read.join(", ")
            ),
            Some(k) => format!(
                "this line is inside the value of {}, but the Ruby gem reads each line on its own: {}",
                key_words(k),
                read.join(", ")
            ),
        }
    }
}

impl fmt::Debug for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peers: Vec<Peer> = self.others.iter().map(|(p, _)| *p).collect();
        f.debug_struct("Disagreement")
            .field("line", &self.line)
            .field("key", &self.key)
            .field("others", &peers)
            .finish_non_exhaustive()
    }
}

impl Disagreement {
    /// One line for a warning, values described by their length only.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} reads {}", self.reader, value_size(&self.value))];
        parts.extend(readings_words(&self.others, &self.refused, Some(&self.key)));
        format!(
            "{} is read differently: {}",
            key_words(&self.key),
            parts.join(", ")
        )
    }
}

impl Opaque {
    /// Whether this is the line `text` (as written, without its line ending).
    pub fn is_line(&self, text: &str) -> bool {
        self.text == text
    }

    /// How the other readers read the line: the key and value each finds, if any
    /// (python-dotenv and phpdotenv read a bare key as a key without a value).
    pub fn readings(&self) -> [(Peer, Reading); 4] {
        peer_readings(&self.text)
    }

    /// One line for a warning: what dotenvy says and what the other readers read, every
    /// value masked.
    pub fn describe(&self) -> String {
        let (readings, mut refused) = read_by_peers(&self.text);
        if self.exports_set {
            refused.retain(|p| *p != Peer::Ruby);
        }
        let read = readings_words(&readings, &refused, None);
        format!(
            "dotenvy refuses it ({}); read on its own, {}; envault keeps the line as written and leaves it out of diff and sync",
            self.error.kind,
            read.join(", ")
        )
    }
}

/// Marks the `export NAME…` lines kept as they are whose names entries above them set: the
/// Ruby gem reads those lines as no entry rather than refusing the file.
fn mark_exports_set(items: &[Item], opaque: &mut [Opaque]) {
    for o in opaque.iter_mut() {
        let mut words = o.text.split_whitespace();
        if words.next() != Some("export") {
            continue;
        }
        let names: Vec<&str> = words.collect();
        let set_above = |name: &str| {
            items.iter().any(
                |i| matches!(i, Item::Entry(e) if (e.line as usize) < o.line && e.key() == name),
            )
        };
        o.exports_set = !names.is_empty() && names.iter().all(|n| set_above(n));
    }
}

/// For each key, the item index of its effective (last) entry; rebuilt whenever items move.
#[derive(Clone, Default)]
struct KeyIndex {
    table: hashbrown::HashTable<u32>,
    duplicates: bool,
}

fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(key)
}

fn item_key(item: &Item) -> &str {
    match item {
        Item::Entry(e) => e.key(),
        Item::Trivia(_) => "",
    }
}

impl KeyIndex {
    fn build(items: &[Item]) -> KeyIndex {
        let keys: Vec<(u64, u32)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Item::Entry(e) => Some((key_hash(e.key()), i as u32)),
                Item::Trivia(_) => None,
            })
            .collect();
        KeyIndex::from_keys(items, &keys)
    }

    /// The index of `items` from each entry's key hash and position, in file order. The
    /// parser hashes each key while its bytes are in cache: a second pass over a large file's
    /// items and text would cost more than the table itself.
    fn from_keys(items: &[Item], keys: &[(u64, u32)]) -> KeyIndex {
        let mut table = hashbrown::HashTable::with_capacity(keys.len());
        let mut duplicates = false;
        let key = |j: u32| item_key(&items[j as usize]);
        for &(hash, i) in keys {
            // Keys are compared only when their hashes' tags agree: a duplicate, or rarely
            // another key; the table never grows past its capacity, so nothing is rehashed.
            match table.entry(hash, |&j| key(j) == key(i), |&j| key_hash(key(j))) {
                hashbrown::hash_table::Entry::Occupied(mut o) => {
                    *o.get_mut() = i;
                    duplicates = true;
                }
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        KeyIndex { table, duplicates }
    }
}

fn same_span(a: &Text, b: &Text) -> bool {
    Arc::ptr_eq(&a.src, &b.src) && a.start == b.start && a.end == b.end
}

fn item_text(item: &Item) -> &Text {
    match item {
        Item::Entry(e) => &e.raw,
        Item::Trivia(t) => t,
    }
}

/// The physical lines of `raw`, each with its line ending: `\r\n`, `\n` or a lone `\r`, which
/// every other reader takes for a line end.
fn line_segments(raw: &Text) -> Vec<Text> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'\n' => i + 1,
            b'\r' if b.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(raw.sub(start, end));
        start = end;
        i = end;
    }
    if start < b.len() {
        out.push(raw.sub(start, b.len()));
    }
    out
}

/// dotenvy's reading of `text` on its own: the entry, when it reads exactly one.
fn dotenvy_entry_alone(text: &str) -> Option<Entry> {
    let alone = Arc::new(Buf(text.to_owned()));
    match parse::parse_items(&alone, 0, None) {
        Ok((items, _)) => match <[Item; 1]>::try_from(items) {
            Ok([Item::Entry(e)]) => Some(e),
            _ => None,
        },
        Err(_) => None,
    }
}

/// The line number of each of `segments` (physical lines, each with its line ending), the
/// first being line 1: a lone CR ends a line for the other readers, not in envault's count.
fn segment_numbers<'a>(segments: impl IntoIterator<Item = &'a Text>) -> Vec<usize> {
    let mut number = 1;
    segments
        .into_iter()
        .map(|t| {
            let here = number;
            number += usize::from(t.ends_with('\n'));
            here
        })
        .collect()
}

/// Each physical line of `text` (its first is line `first`) read on its own, as
/// [`line_alone`]; a lone CR ends a line for the other readers, not in envault's count.
fn lines_alone(text: &Text, first: usize, dialect: Dialect) -> Vec<Item> {
    let segments = line_segments(text);
    let numbers = segment_numbers(&segments);
    segments
        .into_iter()
        .zip(numbers)
        .map(|(s, n)| line_alone(s, first + n - 1, dialect))
        .collect()
}

/// One physical line of an entry that spans lines, read on its own: an entry where dotenvy
/// reads one there, else a line that is not an entry unless `dialect`'s reader reads a key and
/// a value on it.
fn line_alone(line: Text, number: usize, dialect: Dialect) -> Item {
    if let Some(e) = dotenvy_entry_alone(&line) {
        return Item::Entry(Entry {
            raw: line,
            line: number as u32,
            ..e
        });
    }
    let text = line.trim_end_matches(['\n', '\r']).to_owned();
    match dialect.reading(&text) {
        Some(Some((k, Some(v)))) => match Entry::from_reading(line.clone(), &k, v, number) {
            Some(e) => Item::Entry(e),
            None => Item::Trivia(line),
        },
        _ => Item::Trivia(line),
    }
}

/// The leading comment lines of `items` that start with `prefix`, without line endings.
pub fn leading_lines_of<'a>(items: &'a [Item], prefix: &str) -> Vec<&'a str> {
    items
        .iter()
        .map_while(|i| match i {
            Item::Trivia(t) if t.starts_with(prefix) => Some(t.trim_end_matches(['\n', '\r'])),
            _ => None,
        })
        .collect()
}

/// Whether `text` holds one of `needles`. The needles' last bytes are searched for, and each
/// place checked: faster than a substring search per needle when those bytes are rarer in the
/// text than their first ones (the `:` of `#envault:` and `enc:v1:`).
fn text_mentions(text: &[u8], needles: &[&[u8]]) -> bool {
    let mut last: Vec<u8> = needles.iter().filter_map(|n| n.last().copied()).collect();
    last.sort_unstable();
    last.dedup();
    let at = |i: usize| needles.iter().any(|n| text[..=i].ends_with(n));
    match *last.as_slice() {
        [] => !needles.is_empty(),
        [a] => memchr::memchr_iter(a, text).any(at),
        [a, b] => memchr::memchr2_iter(a, b, text).any(at),
        [a, b, c] => memchr::memchr3_iter(a, b, c, text).any(at),
        _ => needles
            .iter()
            .any(|n| memchr::memmem::find(text, n).is_some()),
    }
}

/// A run of the file: a `KEY=value` entry, or trivia (blank lines, comments).
#[derive(Clone)]
pub enum Item {
    Entry(Entry),
    Trivia(Text),
}

/// A file's text, shared by its items; cleared when the last item using it is dropped, since it
/// may hold secrets.
pub(crate) struct Buf(String);

impl Drop for Buf {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

impl Deref for Buf {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A slice of a parsed file's text. Items share the file's buffer rather than each owning a
/// copy: parsing a large file then costs no allocation per line.
#[derive(Clone)]
pub struct Text {
    src: Arc<Buf>,
    start: u32,
    end: u32,
}

impl Text {
    fn span(src: &Arc<Buf>, start: usize, end: usize) -> Text {
        Text {
            src: Arc::clone(src),
            start: start as u32,
            end: end as u32,
        }
    }

    /// One text of `parts` that follow each other in the same source, or `None`.
    fn joined<'a>(mut parts: impl Iterator<Item = &'a Text>) -> Option<Text> {
        let mut out = parts.next()?.clone();
        for t in parts {
            if !Arc::ptr_eq(&out.src, &t.src) || t.start != out.end {
                return None;
            }
            out.end = t.end;
        }
        Some(out)
    }

    /// The part of this text from byte `start` to `end` (offsets within it).
    fn sub(&self, start: usize, end: usize) -> Text {
        Text {
            src: Arc::clone(&self.src),
            start: self.start + start as u32,
            end: self.start + end as u32,
        }
    }

    fn owned(s: String) -> Text {
        let end = s.len() as u32;
        Text {
            src: Arc::new(Buf(s)),
            start: 0,
            end,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.src[self.start as usize..self.end as usize]
    }

    /// Appends a line ending (the text then gets a buffer of its own).
    fn push_eol(&mut self, eol: &str) {
        *self = Text::owned(format!("{}{eol}", self.as_str()));
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// One `KEY=value` entry with its raw text (line ending and trailing comment included).
#[derive(Clone)]
pub struct Entry {
    /// Offsets below are relative to the start of this text.
    raw: Text,
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
    /// The semantic value when it differs from the raw value text.
    value: Unescaped,
    export: bool,
    line: u32,
}

impl Entry {
    /// The entry another reader reads on the line `raw`: `key` where it is written, and
    /// `value` as that reader reads it, its text the rest of the line.
    fn from_reading(raw: Text, key: &str, value: String, line: usize) -> Option<Entry> {
        let text: &str = &raw;
        let lead = text.len() - text.trim_start().len();
        let export = text[lead..].starts_with("export")
            && text[lead + "export".len()..].starts_with(char::is_whitespace);
        let key_start = lead + text[lead..].find(key)?;
        let key_end = key_start + key.len();
        let after = &text[key_end..];
        let sep = after.find(['=', ':'])?;
        let mut value_start = key_end + sep + 1;
        value_start +=
            text[value_start..].len() - text[value_start..].trim_start_matches([' ', '\t']).len();
        let body = text.trim_end_matches(['\n', '\r']);
        let value_end = body.len().max(value_start);
        Some(Entry {
            key_start: key_start as u32,
            key_end: key_end as u32,
            value_start: value_start as u32,
            value_end: value_end as u32,
            value: Unescaped::Owned(zeroize::Zeroizing::new(value)),
            export,
            line: line as u32,
            raw,
        })
    }

    pub fn key(&self) -> &str {
        &self.raw[self.key_start as usize..self.key_end as usize]
    }

    /// The value as dotenvy reads it, without variable expansion.
    pub fn value(&self) -> &str {
        match &self.value {
            Unescaped::Raw => self.raw_value(),
            Unescaped::InsideQuotes => {
                let raw = self.raw_value();
                &raw[1..raw.len() - 1]
            }
            Unescaped::Owned(v) => v,
        }
    }

    /// The value exactly as written in the file (quotes and escapes included).
    pub fn raw_value(&self) -> &str {
        &self.raw[self.value_start as usize..self.value_end as usize]
    }

    /// The 1-based line the entry starts on (as parsed; edits do not renumber).
    pub fn line(&self) -> usize {
        self.line as usize
    }

    /// Whether the entry carries an `export ` prefix.
    pub fn is_exported(&self) -> bool {
        self.export
    }

    /// This entry with its raw value text replaced by `raw` verbatim (layout, `export` and
    /// trailing comment kept), when that reads back as one entry.
    pub fn with_raw_value(&self, raw: &str) -> Option<Entry> {
        replace_raw_value(self, self.key(), raw).ok()
    }

    /// The entry's full text, line ending included.
    pub fn raw(&self) -> &str {
        self.raw.as_str()
    }
}

/// How an entry's value relates to its raw text; most need no copy of their own.
#[derive(Clone)]
enum Unescaped {
    /// The raw value text is the value (no quotes, no escapes).
    Raw,
    /// The value is the raw text without its enclosing quotes.
    InsideQuotes,
    Owned(zeroize::Zeroizing<String>),
}

// Values and trivia may hold secrets (a commented-out old password), so Debug shows neither.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key())
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Entry(e) => e.fmt(f),
            Item::Trivia(t) => write!(f, "Trivia({} bytes)", t.len()),
        }
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("bom", &self.bom)
            .field("items", &self.items)
            .finish()
    }
}

/// What is wrong with an input that cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    BadKeyStart,
    ExpectedEquals,
    UnquotedWhitespace,
    BadEscape(char),
    UnterminatedQuote(char),
    TrailingBackslash,
    InvalidUtf8,
    NulByte,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::BadKeyStart => f.write_str("expected a key name"),
            ParseErrorKind::ExpectedEquals => f.write_str("expected `=` after the key"),
            ParseErrorKind::UnquotedWhitespace => {
                f.write_str("whitespace inside an unquoted value")
            }
            ParseErrorKind::BadEscape(c) => {
                write!(f, "unsupported escape `\\{}` in a value", c.escape_debug())
            }
            ParseErrorKind::UnterminatedQuote(q) => write!(
                f,
                "unterminated {} value: the quote opened here is never closed",
                if *q == '\'' {
                    "single-quoted"
                } else {
                    "double-quoted"
                }
            ),
            ParseErrorKind::TrailingBackslash => f.write_str("the file ends inside a `\\` escape"),
            ParseErrorKind::InvalidUtf8 => f.write_str("not valid UTF-8 text"),
            ParseErrorKind::NulByte => f.write_str("contains a NUL byte"),
        }
    }
}

impl ParseErrorKind {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ParseErrorKind::BadKeyStart => {
                "a key starts with a letter or `_` and holds letters, digits, `_` and `.`; comment lines start with `#`"
            }
            ParseErrorKind::ExpectedEquals => "write entries as KEY=value",
            ParseErrorKind::UnquotedWhitespace => {
                "quote the value (KEY=\"a b\"), or put whitespace before `#` to start a comment"
            }
            ParseErrorKind::BadEscape(_) => {
                "supported escapes are \\n \\\\ \\\" \\' \\$ and `\\ `; inside single quotes a backslash is literal"
            }
            ParseErrorKind::UnterminatedQuote(_) => {
                "close the quote; a quote inside a value needs a backslash (\\\") or the other quote style"
            }
            ParseErrorKind::TrailingBackslash => "remove the trailing `\\` or add the escaped character",
            ParseErrorKind::InvalidUtf8 | ParseErrorKind::NulByte => {
                "env files are UTF-8 text; is this a binary file, or the wrong path?"
            }
        }
    }
}

/// A parse failure with its position. `line_text` is the raw line: show it only through
/// [`ParseError::masked_line`], since it may hold a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ParseError {
    pub path: Option<PathBuf>,
    pub line: usize,
    pub column: usize,
    pub kind: ParseErrorKind,
    line_text: String,
    /// Whether the line continues an entry begun above (a multi-line value): all value.
    continuation: bool,
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("path", &self.path)
            .field("line", &self.line)
            .field("column", &self.column)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}:", p.display())?;
        }
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}

impl std::error::Error for ParseError {}

impl crate::error::Hint for ParseError {
    fn hint(&self) -> Option<String> {
        Some(self.kind.hint().to_owned())
    }

    fn excerpt(&self) -> Option<crate::error::Excerpt> {
        let text = self.masked_line();
        (!text.is_empty()).then_some(crate::error::Excerpt {
            line: self.line,
            text,
        })
    }
}

/// The mask shown in place of a secret.
pub const MASK: &str = "••••••";

impl ParseError {
    /// Attaches the file the text came from.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The offending line with everything after the key name masked; a line that does not
    /// start with a key, or that continues a value begun above, is masked whole.
    pub fn masked_line(&self) -> String {
        let t = &self.line_text;
        if self.continuation {
            return if t.trim().is_empty() {
                String::new()
            } else {
                MASK.to_owned()
            };
        }
        let mut i = t.len() - t.trim_start().len();
        let body = &t[i..];
        if let Some(rest) = body.strip_prefix("export") {
            if rest.starts_with([' ', '\t']) {
                i += "export".len();
                i = t.len() - t[i..].trim_start().len();
            }
        }
        let key_len = t[i..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            .count();
        if key_len == 0 || !t[i..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return if t.trim().is_empty() {
                String::new()
            } else {
                MASK.to_owned()
            };
        }
        let after = t[i + key_len..].trim_start();
        if !after.starts_with(['=', ':']) && shown_bare_key(&t[i..i + key_len]).is_none() {
            // A word without `=` may be a secret on a line of its own.
            return MASK.to_owned();
        }
        let mut end = i + key_len;
        end = t.len() - t[end..].trim_start().len();
        let mut out = t[..end].to_owned();
        if t[end..].starts_with('=') {
            out.push('=');
            if t.len() > end + 1 {
                out.push_str(MASK);
            }
        } else if end < t.len() {
            out.push_str(MASK);
        }
        out
    }
}

/// A problem with an edit request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    #[error("invalid key name `{0}`")]
    InvalidKey(String),
    /// Environment values cannot hold NUL (the OS passes them as C strings).
    #[error("the value for `{0}` contains a NUL byte")]
    NulInValue(String),
    #[error("`{0}` is not in the file")]
    NoSuchKey(String),
    #[error("`{0}`: the new value text does not read back as one value")]
    BadRawValue(String),
}

impl crate::error::Hint for EditError {
    fn hint(&self) -> Option<String> {
        match self {
            EditError::InvalidKey(_) => Some(
                "a key starts with a letter or `_` and holds letters, digits, `_` and `.`"
                    .to_owned(),
            ),
            EditError::NulInValue(_) => Some("environment values cannot hold NUL bytes".to_owned()),
            EditError::NoSuchKey(_) | EditError::BadRawValue(_) => None,
        }
    }
}

/// Whether `key` is a name the parser reads back as a key.
pub fn is_valid_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// A key that appears more than once; the last occurrence is the effective one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub lines: Vec<usize>,
}

const BOM: &str = "\u{feff}";

impl Document {
    /// Parses UTF-8 text. Every accepted input renders back byte for byte.
    pub fn parse(src: &str) -> Result<Document, ParseError> {
        Document::parse_owned(src.to_owned())
    }

    /// Parses text it takes ownership of; entries share that buffer instead of copying it.
    pub fn parse_owned(src: String) -> Result<Document, ParseError> {
        let bom = src.starts_with(BOM);
        let from = if bom { BOM.len() } else { 0 };
        if let Some(at) = memchr::memchr(0, &src.as_bytes()[from..]) {
            let (line, column) = parse::line_col(&src[from..], at);
            return Err(ParseError {
                path: None,
                line,
                column,
                kind: ParseErrorKind::NulByte,
                line_text: String::new(),
                continuation: false,
            });
        }
        let (items, keys) = parse::parse_items(&Arc::new(Buf(src)), from, None)?;
        let index = KeyIndex::from_keys(&items, &keys);
        Ok(Document {
            bom,
            items,
            index,
            opaque: Vec::new(),
            dialect: None,
            dotenvy_items: None,
        })
    }

    /// Reads an env file's bytes as envault reads files: as [`Document::parse_vec`], except
    /// that a line that does not parse is kept as it is, not an entry, and listed in
    /// [`Document::opaque_lines`]. Only bytes that are not text (invalid UTF-8, NUL) fail.
    pub fn read(bytes: Vec<u8>) -> Result<Document, ParseError> {
        let src = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => return Document::parse_vec(e.into_bytes()),
        };
        if src.contains('\0') {
            return Document::parse_owned(src);
        }
        let bom = src.starts_with(BOM);
        let from = if bom { BOM.len() } else { 0 };
        let mut opaque = Vec::new();
        let (items, keys) = parse::parse_items(&Arc::new(Buf(src)), from, Some(&mut opaque))?;
        let index = KeyIndex::from_keys(&items, &keys);
        if !opaque.is_empty() {
            mark_exports_set(&items, &mut opaque);
        }
        Ok(Document {
            bom,
            items,
            index,
            opaque,
            dialect: None,
            dotenvy_items: None,
        })
    }

    /// Entries whose value spans lines, as `dialect`'s reader reads their lines: one entry with
    /// the value it reads, or each line on its own (the gem reads no multi-line values; node's
    /// dotenv and python-dotenv read the first line alone when the quote does not close for
    /// them), when it reads them otherwise than dotenvy.
    fn read_multiline_entries(&mut self, dialect: Dialect) -> Option<Vec<(String, usize)>> {
        if let Some(bare) = self.regroup(dialect) {
            return Some(bare);
        }
        let spans = |e: &Entry| parse::strip_eol(e.raw()).contains(['\n', '\r']);
        // A lone CR ends a line for every other reader: in a comment or a line dotenvy
        // refuses, the text after it is a line of its own for them.
        let lone_cr = |t: &Text| parse::strip_eol(t).contains('\r');
        let splits = |item: &Item| match item {
            Item::Entry(e) => spans(e),
            Item::Trivia(t) => lone_cr(t),
        };
        if !self.items.iter().any(splits) {
            return None;
        }
        self.dotenvy_items = Some(self.items.clone());
        let mut items = Vec::with_capacity(self.items.len());
        let mut line = 1;
        for item in std::mem::take(&mut self.items) {
            let first = line;
            line += memchr::memchr_iter(b'\n', item_text(&item).as_bytes()).count();
            let mut e = match item {
                Item::Entry(e) if spans(&e) => e,
                Item::Trivia(t) if lone_cr(&t) => {
                    // The dialect's reader reads its lines: no longer a line left out.
                    self.opaque.retain(|o| !o.is_line(parse::strip_eol(&t)));
                    items.extend(lines_alone(&t, first, dialect));
                    continue;
                }
                other => {
                    items.push(other);
                    continue;
                }
            };
            let segments = line_segments(&e.raw);
            let lines: Vec<&str> = segments
                .iter()
                .map(|t| t.trim_end_matches(['\n', '\r']))
                .collect();
            let joined = || lines.join("\n");
            let reading = match dialect {
                Dialect::Dotenvy => continue,
                Dialect::Ruby => None,
                // Only a quoted value spans lines for node; else it reads the lines apart.
                Dialect::Node => readers::node_lines(&joined()).map(|(k, v)| Some((k, Some(v)))),
                Dialect::PythonDotenv => match readers::python_lines(&joined()) {
                    readers::PythonLines::Joined(r) => Some(r),
                    readers::PythonLines::Apart => None,
                    readers::PythonLines::Skipped => {
                        items.extend(segments.into_iter().map(Item::Trivia));
                        continue;
                    }
                },
                // phpdotenv refuses the file when it does not join these lines: dotenvy's
                // reading stays (the app does not start).
                Dialect::Php => Some(readers::php_lines(&lines).flatten()),
            };
            match reading {
                Some(Some((k, Some(v)))) if k == e.key() => {
                    if v != e.value() {
                        e.value = Unescaped::Owned(zeroize::Zeroizing::new(v));
                    }
                    items.push(Item::Entry(e));
                }
                Some(_) => items.push(Item::Entry(e)),
                None => items.extend(lines_alone(&e.raw, e.line as usize, dialect)),
            }
        }
        self.items = items;
        None
    }

    /// Where phpdotenv joins other lines than dotenvy (it counts quotes line by line, and a
    /// value it never sees closing runs on to the end of the file, which it then drops), the
    /// items become its logical lines: each an entry where it reads a key and a value, else a
    /// line that is not an entry. Returns the bare keys it reads (key, item) when it did; not
    /// when the lines are grouped alike, when phpdotenv refuses the file (the app does not
    /// start), or when the items are not one text (an edited document).
    fn regroup(&mut self, dialect: Dialect) -> Option<Vec<(String, usize)>> {
        if !matches!(
            dialect,
            Dialect::Php | Dialect::PythonDotenv | Dialect::Node
        ) {
            return None;
        }
        let mut segments: Vec<(Text, usize)> = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            segments.extend(line_segments(item_text(item)).into_iter().map(|t| (t, i)));
        }
        let lines: Vec<&str> = segments
            .iter()
            .map(|(t, _)| t.trim_end_matches(['\n', '\r']))
            .collect();
        let statements: Vec<readers::Statement> = if dialect == Dialect::Php {
            let mut statements = Vec::new();
            for (g, r) in readers::php_statements(&lines) {
                statements.push((g, r.ok()?));
            }
            statements
        } else if dialect == Dialect::Node {
            readers::node_statements(&lines)
        } else {
            readers::python_statements(&lines)
        };
        // Alike: each group is all the lines of one item, each entry's lines one group, and
        // the reader reads a key and a value on each entry.
        let item_of = |r: &std::ops::Range<usize>| {
            let i = segments[r.start].1;
            segments[r.clone()].iter().all(|s| s.1 == i).then_some(i)
        };
        let mut lines_of = vec![0; self.items.len()];
        for s in &segments {
            lines_of[s.1] += 1;
        }
        let mut covered = vec![false; self.items.len()];
        let alike = statements.iter().all(|(g, reading)| match item_of(g) {
            Some(i) if !covered[i] && lines_of[i] == g.len() => {
                covered[i] = true;
                matches!(reading, Some((_, Some(_)))) || matches!(self.items[i], Item::Trivia(_))
            }
            _ => false,
        }) && (self.items.iter().zip(&covered)).all(|(it, &c)| {
            // A line dotenvy refuses that no statement covers (inside a value phpdotenv never
            // sees closing) is not read on its own either.
            c || matches!(it, Item::Trivia(t) if !self.opaque.iter().any(|o| {
                o.is_line(parse::strip_eol(t))
                    && matches!(dialect.reading(&o.text), Some(Some((_, Some(_)))))
            }))
        });
        if alike {
            return None;
        }
        let numbers = segment_numbers(segments.iter().map(|(t, _)| t));
        let mut items = Vec::with_capacity(segments.len());
        let mut bare = Vec::new();
        let mut next = statements.into_iter().peekable();
        let mut i = 0;
        while i < segments.len() {
            let Some((g, reading)) = next.next_if(|(g, _)| g.start == i) else {
                items.push(Item::Trivia(segments[i].0.clone()));
                i += 1;
                continue;
            };
            let text = Text::joined(segments[g.clone()].iter().map(|s| &s.0))?;
            let entry = match reading {
                Some((k, Some(v))) => Entry::from_reading(text.clone(), &k, v, numbers[g.start]),
                Some((k, None)) => {
                    bare.push((k, items.len()));
                    None
                }
                None => None,
            };
            items.push(entry.map_or(Item::Trivia(text), Item::Entry));
            i = g.end;
        }
        self.dotenvy_items = Some(std::mem::replace(&mut self.items, items));
        // A line dotenvy refuses that is now part of the reader's entry is no longer left out.
        let mut in_entries = Vec::new();
        let mut line = 1;
        for item in &self.items {
            let lines = memchr::memchr_iter(b'\n', item_text(item).as_bytes()).count();
            if matches!(item, Item::Entry(_)) {
                in_entries.push(line..line + lines.max(1));
            }
            line += lines;
        }
        self.opaque
            .retain(|o| !in_entries.iter().any(|r| r.contains(&o.line)));
        Some(bare)
    }

    /// Where the dialect's reader groups the lines otherwise than dotenvy (it splits a value
    /// that spans lines, joins entries, or reads a line dotenvy reads as an entry as none):
    /// the first line where the two readings part. Sealing such a document could leave text in
    /// clear (a line of a value read apart, an entry inside another that stays in clear), or
    /// fold entries into one sealed value that other readers then lose.
    pub fn dialect_regrouped_at(&self) -> Option<usize> {
        let dotenvy = self.dotenvy_items.as_ref()?;
        let mut line = 1;
        for (i, item) in dotenvy.iter().enumerate() {
            let same = match (item, self.items.get(i)) {
                (Item::Entry(a), Some(Item::Entry(b))) => same_span(&a.raw, &b.raw),
                (Item::Trivia(a), Some(Item::Trivia(b))) => same_span(a, b),
                _ => false,
            };
            if !same {
                return Some(line);
            }
            line += memchr::memchr_iter(b'\n', item_text(item).as_bytes()).count();
        }
        None
    }

    /// Under a `dialect:`, the first entry (its line and key) whose value the dialect's reader
    /// reads otherwise than dotenvy reads the entry's text, or that dotenvy does not read as an
    /// entry at all. Sealing keeps a value's text as written, and a sealed value is read back
    /// as dotenvy reads that text: sealing such an entry would change what the app gets (or
    /// seal dotenvy's empty value, leaving the reader's value in what dotenvy calls a comment).
    pub fn dialect_value_differs_at(&self) -> Option<(usize, &str)> {
        self.dialect.filter(|d| *d != Dialect::Dotenvy)?;
        self.entries()
            .find(|e| {
                let text = parse::strip_eol(e.raw());
                let text = text.strip_suffix('\r').unwrap_or(text);
                !dotenvy_entry_alone(text)
                    .is_some_and(|d| d.key() == e.key() && d.value() == e.value())
            })
            .map(|e| (e.line(), e.key()))
    }

    /// What each other reader reads in the whole file as it would be written: (line, reader,
    /// key, value), for every statement that reads a key. The line endings are theirs (a lone
    /// CR ends a line); phpdotenv's lines it fails on are read on their own.
    pub fn peer_readings(&self) -> Vec<(usize, Peer, String, Option<String>)> {
        let text = self.render();
        let buf = Text::owned(text);
        let segments = line_segments(&buf);
        let lines: Vec<&str> = segments
            .iter()
            .map(|t| t.trim_end_matches(['\n', '\r']))
            .collect();
        let numbers = segment_numbers(&segments);
        let mut out = Vec::new();
        let mut push = |first: usize, peer: Peer, r: Reading| {
            if let Some((k, v)) = r {
                out.push((numbers.get(first).copied().unwrap_or(1), peer, k, v));
            }
        };
        for (g, r) in readers::node_statements(&lines) {
            push(g.start, Peer::NodeDotenv, r);
        }
        for (g, r) in readers::python_statements(&lines) {
            push(g.start, Peer::PythonDotenv, r);
        }
        for (g, r) in readers::php_statements(&lines) {
            match r {
                Ok(r) => push(g.start, Peer::Php, r),
                Err(_) => {
                    for i in g {
                        push(i, Peer::Php, php_reading(lines[i]));
                    }
                }
            }
        }
        for (i, line) in lines.iter().enumerate() {
            push(i, Peer::Ruby, ruby_reading(line));
        }
        out
    }

    /// The reader the values were read for (`None`: dotenvy's, no `dialect:`).
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// The lines [`Document::read`] kept as they are because they do not parse.
    pub fn opaque_lines(&self) -> &[Opaque] {
        &self.opaque
    }

    /// Reads the document as `dialect`'s reader does: a one-line entry gets the value that
    /// reader reads there, and a line kept as it is becomes an entry when that reader reads a
    /// key and a value on it. Entries that span lines are read as that reader reads their
    /// lines (see `read_multiline_entries`).
    pub fn apply_dialect(&mut self, dialect: Dialect) {
        self.dialect = Some(dialect);
        if dialect == Dialect::Dotenvy {
            return;
        }
        let regrouped = self.read_multiline_entries(dialect);
        let mut skipped = self.read_one_line_entries(dialect);
        // Where the reader's statements became the items, every line it reads is an entry
        // already: the lines left as written are lines it does not read.
        let cleared = match regrouped {
            Some(bare) => bare,
            None => self.read_opaque_lines(dialect),
        };
        // A bare key after the last entry of its key clears that key for python-dotenv and
        // phpdotenv: the app gets no value from those entries.
        for (key, at) in cleared {
            let entries = || {
                self.items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, it)| match it {
                        Item::Entry(e) if e.key() == key => Some(i),
                        _ => None,
                    })
            };
            // Items, not line numbers: a lone CR ends a line for these readers.
            if entries().all(|i| i < at) {
                skipped.extend(entries().collect::<Vec<_>>());
            }
        }
        if !skipped.is_empty() {
            // Kept apart as dotenvy reads them: sealing refuses such a document, since the
            // lines would stay in clear.
            if self.dotenvy_items.is_none() {
                self.dotenvy_items = Some(self.items.clone());
            }
            for i in skipped {
                if let Item::Entry(e) = &self.items[i] {
                    self.items[i] = Item::Trivia(e.raw.clone());
                }
            }
        }
        self.index = KeyIndex::build(&self.items);
    }

    /// Gives each one-line entry the value `dialect`'s reader reads there. Returns the entries
    /// on lines the reader skips (reads no entry, without failing the file), such as a line
    /// the Ruby gem does not match.
    fn read_one_line_entries(&mut self, dialect: Dialect) -> Vec<usize> {
        let mut skipped = Vec::new();
        for (i, item) in self.items.iter_mut().enumerate() {
            let Item::Entry(e) = item else { continue };
            // A line split at a lone CR ends with it: that CR is its line ending.
            let line = parse::strip_eol(e.raw());
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.contains(['\n', '\r']) {
                continue;
            }
            match dialect.reading(line) {
                Some(Some((k, Some(v)))) if k == e.key() && v != e.value() => {
                    e.value = Unescaped::Owned(zeroize::Zeroizing::new(v));
                }
                Some(None) if dialect.skips(line) => skipped.push(i),
                _ => {}
            }
        }
        skipped
    }

    /// Makes each line kept as it is an entry where `dialect`'s reader reads a key and a value
    /// on it. Returns the bare keys it reads (a key without `=`), with their items' places.
    fn read_opaque_lines(&mut self, dialect: Dialect) -> Vec<(String, usize)> {
        let mut bare = Vec::new();
        let opaque = std::mem::take(&mut self.opaque);
        for o in opaque {
            let (k, v) = match dialect.reading(&o.text) {
                Some(Some((k, Some(v)))) => (k, v),
                Some(Some((k, None))) => {
                    // The item on the line (lines of the same text may repeat).
                    let mut line = 1;
                    let at = self.items.iter().position(|it| {
                        let here = line;
                        line += memchr::memchr_iter(b'\n', item_text(it).as_bytes()).count();
                        here == o.line
                            && matches!(it, Item::Trivia(t) if parse::strip_eol(t) == o.text)
                    });
                    bare.extend(at.map(|i| (k, i)));
                    self.opaque.push(o);
                    continue;
                }
                _ => {
                    self.opaque.push(o);
                    continue;
                }
            };
            let at = self
                .items
                .iter()
                .position(|it| matches!(it, Item::Trivia(t) if parse::strip_eol(t) == o.text));
            let entry = at.and_then(|i| match &self.items[i] {
                Item::Trivia(t) => Entry::from_reading(t.clone(), &k, v, o.line),
                Item::Entry(_) => None,
            });
            match (at, entry) {
                (Some(i), Some(e)) => self.items[i] = Item::Entry(e),
                _ => self.opaque.push(o),
            }
        }
        bare
    }

    /// The one-line entries that node's dotenv or python-dotenv reads differently from
    /// dotenvy (entries that span lines are left out: the line readers read one line).
    pub fn disagreements(&self) -> Vec<Disagreement> {
        let mut out = Vec::new();
        for e in self.entries() {
            let line = parse::strip_eol(e.raw());
            if line.contains('\n') {
                continue;
            }
            // Every other reader ends a line at a lone carriage return too, where dotenvy
            // reads on: each piece is a line for them (a dialect split the entry at the last).
            let same = Some((e.key().to_owned(), Some(e.value().to_owned())));
            let body = line.strip_suffix('\r').unwrap_or(line);
            let (readings, refused) = if breaks_for_others(body) {
                let (node, pieces) = reader_lines(body, e.value_end as usize);
                read_pieces_by_peers(&node, &pieces)
            } else {
                let (readings, refused) = read_by_peers(body);
                (readings.to_vec(), refused)
            };
            // The held value is the dialect's where its reader read this entry so.
            let reader = self
                .dialect
                .filter(|&d| {
                    let mut of_dialect = readings.iter().filter(|(p, _)| d.is_peer(*p));
                    of_dialect.next().is_some_and(|(_, r)| *r == same)
                        && of_dialect.next().is_none()
                })
                .unwrap_or(Dialect::Dotenvy);
            let others: Vec<(Peer, Reading)> =
                readings.into_iter().filter(|(_, r)| *r != same).collect();
            if !others.is_empty() {
                out.push(Disagreement {
                    line: e.line(),
                    key: e.key().to_owned(),
                    reader,
                    value: e.value().to_owned(),
                    after_value: line[(e.value_end as usize).min(line.len())..].to_owned(),
                    value_text: e.raw_value().to_owned(),
                    others,
                    refused,
                });
            }
        }
        out
    }

    /// Entries other readers find where dotenvy reads none: after a lone carriage return in
    /// a comment (every other reader ends a line there), and on the inner lines of a value
    /// that spans lines (the Ruby gem reads each physical line on its own). Only readings
    /// with a value are listed: they are what an app would load.
    pub fn hidden_readings(&self) -> Vec<Hidden> {
        let mut out = Vec::new();
        let mut line = 1usize;
        for item in self.dotenvy_items.as_ref().unwrap_or(&self.items) {
            match item {
                Item::Trivia(t) => {
                    let text = parse::strip_eol(t);
                    if breaks_for_others(text) {
                        // The text before the first break is dotenvy's comment; in a line
                        // dotenvy refuses, node reads on over U+2028.
                        let comment = text.trim_start().starts_with('#');
                        let (node, pieces) =
                            reader_lines(text, if comment { 0 } else { text.len() });
                        let readings: Vec<(Peer, Reading)> =
                            read_pieces_by_peers(&node[1..], &pieces[1..])
                                .0
                                .into_iter()
                                .filter(|(_, r)| matches!(r, Some((_, Some(_)))))
                                .collect();
                        if !readings.is_empty() {
                            out.push(Hidden {
                                line,
                                within: None,
                                readings,
                                separator: if text.contains('\r') {
                                    "a lone carriage return"
                                } else {
                                    "a line separator (U+2028 or U+2029, for node's dotenv)"
                                },
                            });
                        }
                    }
                    line += t.matches('\n').count();
                }
                Item::Entry(e) => {
                    let raw = parse::strip_eol(e.raw());
                    for (i, physical) in raw.split('\n').enumerate().skip(1) {
                        let readings: Vec<(Peer, Reading)> = physical
                            .split('\r')
                            .map(|piece| (Peer::Ruby, ruby_reading(piece)))
                            .filter(|(_, r)| matches!(r, Some((_, Some(_)))))
                            .collect();
                        if !readings.is_empty() {
                            out.push(Hidden {
                                line: line + i,
                                within: Some(e.key().to_owned()),
                                readings,
                                separator: "a line feed",
                            });
                        }
                    }
                    line += e.raw().matches('\n').count();
                }
            }
        }
        out
    }

    /// Parses raw bytes, rejecting invalid UTF-8 with the position of the first bad byte.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Document, ParseError> {
        Document::parse_vec(bytes.to_vec())
    }

    /// [`Document::parse_bytes`] without copying the bytes.
    pub fn parse_vec(bytes: Vec<u8>) -> Result<Document, ParseError> {
        match String::from_utf8(bytes) {
            Ok(s) => Document::parse_owned(s),
            Err(e) => {
                let bytes = e.as_bytes();
                let valid = e.utf8_error().valid_up_to();
                let good = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let (line, column) = parse::line_col(good, good.len());
                Err(ParseError {
                    path: None,
                    line,
                    column,
                    kind: ParseErrorKind::InvalidUtf8,
                    line_text: String::new(),
                    continuation: false,
                })
            }
        }
    }

    /// The file's text, identical to the parsed input where nothing was edited.
    pub fn render(&self) -> String {
        let len = self.bom as usize * 3
            + self
                .items
                .iter()
                .map(|i| match i {
                    Item::Entry(e) => e.raw.len(),
                    Item::Trivia(t) => t.len(),
                })
                .sum::<usize>();
        let mut out = String::with_capacity(len);
        if self.bom {
            out.push_str(BOM);
        }
        for item in &self.items {
            out.push_str(match item {
                Item::Entry(e) => e.raw(),
                Item::Trivia(t) => t,
            });
        }
        out
    }

    /// Whether the file starts with a UTF-8 byte-order mark (kept on render).
    pub fn has_bom(&self) -> bool {
        self.bom
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Every entry in file order, duplicates included.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            Item::Trivia(_) => None,
        })
    }

    /// The effective value of `key` (its last occurrence).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(Entry::value)
    }

    /// The effective entry of `key` (its last occurrence).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.items[self.index_of(key)?] {
            Item::Entry(e) => Some(e),
            Item::Trivia(_) => None,
        }
    }

    /// The item index of `key`'s effective entry.
    pub(crate) fn index_of(&self, key: &str) -> Option<usize> {
        self.index
            .table
            .find(key_hash(key), |&j| item_key(&self.items[j as usize]) == key)
            .map(|&j| j as usize)
    }

    /// Whether some key appears more than once.
    pub fn has_duplicates(&self) -> bool {
        self.index.duplicates
    }

    /// Effective values in the order keys first appear; the last occurrence wins.
    pub fn to_map(&self) -> KeyMap<'_> {
        let mut map = KeyMap::with_capacity_and_hasher(self.items.len(), Default::default());
        for e in self.entries() {
            map.insert(e.key(), e.value());
        }
        map
    }

    /// Keys that appear more than once, with every line they appear on.
    pub fn duplicates(&self) -> Vec<Duplicate> {
        if !self.has_duplicates() {
            return Vec::new();
        }
        let mut seen: IndexMap<&str, Vec<usize>> = IndexMap::new();
        for e in self.entries() {
            seen.entry(e.key()).or_default().push(e.line());
        }
        seen.into_iter()
            .filter(|(_, lines)| lines.len() > 1)
            .map(|(k, lines)| Duplicate {
                key: k.to_owned(),
                lines,
            })
            .collect()
    }

    /// The line ending new lines get: the file's first one, else `\n`.
    pub fn eol(&self) -> &'static str {
        for item in &self.items {
            let t: &str = match item {
                Item::Entry(e) => e.raw(),
                Item::Trivia(t) => t,
            };
            if t.ends_with("\r\n") {
                return "\r\n";
            }
            if t.ends_with('\n') {
                return "\n";
            }
        }
        "\n"
    }

    /// Whether the text of any item holds one of `needles`: a quick test before a closer
    /// look, which may also find a needle across two items.
    pub fn mentions(&self, needles: &[&str]) -> bool {
        let needles: Vec<&[u8]> = needles.iter().map(|n| n.as_bytes()).collect();
        let hit = |(src, start, end): (&Arc<Buf>, u32, u32)| {
            text_mentions(&src.as_bytes()[start as usize..end as usize], &needles)
        };
        // The items read from one text follow each other in it: each run of them is searched
        // at once.
        let mut run: Option<(&Arc<Buf>, u32, u32)> = None;
        for item in &self.items {
            let t = match item {
                Item::Entry(e) => &e.raw,
                Item::Trivia(t) => t,
            };
            match &mut run {
                Some((src, _, end)) if Arc::ptr_eq(src, &t.src) && *end == t.start => {
                    *end = t.end;
                }
                _ => {
                    if run.is_some_and(hit) {
                        return true;
                    }
                    run = Some((&t.src, t.start, t.end));
                }
            }
        }
        run.is_some_and(hit)
    }

    /// The leading comment lines that start with `prefix` (e.g. an encryption header), without
    /// line endings.
    pub fn leading_lines(&self, prefix: &str) -> Vec<&str> {
        leading_lines_of(&self.items, prefix)
    }

    /// The items as dotenvy reads the file, whatever the dialect: where the dialect's reader
    /// groups lines otherwise, the items before its reading. Header lines are judged on these,
    /// as every reader without the dialect sees them.
    pub fn dotenvy_items(&self) -> &[Item] {
        self.dotenvy_items.as_deref().unwrap_or(&self.items)
    }

    /// Replaces the leading comment lines that start with `prefix` by `lines` (none removes
    /// them), keeping the file's line ending.
    pub fn set_leading_lines(&mut self, prefix: &str, lines: &[String]) {
        let eol = self.eol();
        let old = self
            .items
            .iter()
            .take_while(|i| matches!(i, Item::Trivia(t) if t.starts_with(prefix)))
            .count();
        let new = lines
            .iter()
            .map(|l| Item::Trivia(Text::owned(format!("{l}{eol}"))));
        self.items.splice(0..old, new);
        self.index = KeyIndex::build(&self.items);
    }

    /// Sets `key` to `value`: the effective entry is rewritten in place (its quoting style kept
    /// when the value allows it), else a new entry is appended. Returns the readers that would
    /// read the written value differently (empty when all agree).
    pub fn set(&mut self, key: &str, value: &str) -> Result<Vec<Peer>, EditError> {
        let mut out = self.edit(&[Edit::Set { key, value }])?;
        Ok(out.warnings.pop().map(|w| w.peers).unwrap_or_default())
    }

    /// Inserts a new entry after the effective entry of `after` (or at the end when `after` is
    /// `None` or absent). Returns the readers that would read the value differently.
    pub fn insert(
        &mut self,
        key: &str,
        value: &str,
        after: Option<&str>,
    ) -> Result<Vec<Peer>, EditError> {
        let mut out = self.edit(&[Edit::Insert { key, value, after }])?;
        Ok(out.warnings.pop().map(|w| w.peers).unwrap_or_default())
    }

    /// Removes every occurrence of `key` (so an old value cannot resurface); returns how many.
    pub fn remove(&mut self, key: &str) -> usize {
        self.edit(&[Edit::Remove { key }])
            .map(|o| o.removed)
            .unwrap_or_default()
    }

    /// Applies many edits in one pass over the document, as if applied one after another (each
    /// key in at most one edit). An insert may anchor on a key inserted earlier in the batch.
    pub fn edit(&mut self, edits: &[Edit]) -> Result<EditOutcome, EditError> {
        for e in edits {
            match *e {
                Edit::Set { key, value } | Edit::Insert { key, value, .. } => {
                    check_key_value(key, value)?
                }
                Edit::SetRaw { key, raw } => check_key_value(key, raw)?,
                Edit::Remove { .. } => {}
            }
        }
        let eol = self.eol();
        let mut plan = EditPlan::default();
        for e in edits {
            match *e {
                Edit::Set { key, value } => self.plan_set(&mut plan, key, value, eol),
                Edit::Insert { key, value, after } => {
                    self.plan_insert(&mut plan, key, value, after, eol);
                }
                Edit::SetRaw { key, raw } => {
                    let i = self
                        .index_of(key)
                        .ok_or_else(|| EditError::NoSuchKey(key.to_owned()))?;
                    let Item::Entry(old) = &self.items[i] else {
                        unreachable!("the index holds entries")
                    };
                    if old.raw_value() != raw {
                        plan.replacements
                            .push((i, replace_raw_value(old, key, raw)?));
                    }
                }
                Edit::Remove { key } => {
                    plan.removed.insert(key);
                }
            }
        }
        Ok(self.apply(plan, eol))
    }

    /// Plans `Edit::Set`: the effective entry rewritten, or a new entry at the end.
    fn plan_set<'e>(&self, plan: &mut EditPlan<'e>, key: &'e str, value: &str, eol: &'static str) {
        match self.index_of(key) {
            Some(i) => {
                let Item::Entry(old) = &self.items[i] else {
                    unreachable!("the index holds entries")
                };
                if old.value() != value {
                    let (entry, peers) = rewrite_value(old, key, value);
                    plan.note(key, peers);
                    plan.replacements.push((i, entry));
                }
            }
            None => {
                let (entry, peers) = new_entry(key, value, false, eol);
                plan.note(key, peers);
                plan.slots.entry(None).or_default().push(entry);
                plan.inserted.insert(key, None);
            }
        }
    }

    /// Plans `Edit::Insert`: a new entry right after its anchor's effective entry.
    fn plan_insert<'e>(
        &self,
        plan: &mut EditPlan<'e>,
        key: &'e str,
        value: &str,
        after: Option<&str>,
        eol: &'static str,
    ) {
        // The anchor's effective entry: whichever of its original last occurrence and an
        // entry inserted in this batch comes later.
        let anchor = after.filter(|a| !plan.removed.contains(a));
        let anchor = anchor.and_then(|a| match (self.index_of(a), plan.inserted.get(a)) {
            (Some(j), Some(&s)) if s.is_none_or(|i| i >= j) => Some((s, a)),
            (Some(j), _) => Some((Some(j), a)),
            (None, Some(&s)) => Some((s, a)),
            (None, None) => None,
        });
        let slot = anchor.and_then(|(s, _)| s);
        let list = plan.slots.entry(slot).or_default();
        // Right after the anchor: the original item leads its slot; an inserted anchor sits
        // in the slot's list.
        let (pos, export) = match anchor {
            Some((_, a)) => match list.iter().rposition(|e| e.key() == a) {
                Some(p) => (p + 1, list[p].export),
                None => match slot.map(|i| &self.items[i]) {
                    Some(Item::Entry(e)) if e.key() == a => (0, e.export),
                    _ => (list.len(), false),
                },
            },
            None => (list.len(), false),
        };
        let (entry, peers) = new_entry(key, value, export, eol);
        list.insert(pos, entry);
        plan.note(key, peers);
        plan.inserted.insert(key, slot);
    }

    /// Carries a plan out: replacements in place, then one pass that drops removed entries
    /// and places new ones in their slots.
    fn apply(&mut self, plan: EditPlan, eol: &'static str) -> EditOutcome {
        let EditPlan {
            mut outcome,
            replacements,
            mut slots,
            removed,
            ..
        } = plan;
        for (i, entry) in replacements {
            self.items[i] = Item::Entry(entry);
        }
        if slots.is_empty() && removed.is_empty() {
            return outcome;
        }
        let is_removed = |item: &Item| matches!(item, Item::Entry(e) if removed.contains(e.key()));
        let old = std::mem::take(&mut self.items);
        let mut items = Vec::with_capacity(old.len() + slots.values().map(Vec::len).sum::<usize>());
        let mut push_slot =
            |items: &mut Vec<Item>, slot: Option<usize>, outcome: &mut EditOutcome| {
                if let Some(new) = slots.remove(&slot) {
                    for e in new {
                        let item = Item::Entry(e);
                        if is_removed(&item) {
                            outcome.removed += 1;
                            continue;
                        }
                        // The line before a new entry must end with a line ending.
                        if let Some(prev) = items.last_mut() {
                            let text = match prev {
                                Item::Entry(e) => &mut e.raw,
                                Item::Trivia(t) => t,
                            };
                            if !text.ends_with('\n') {
                                text.push_eol(eol);
                            }
                        }
                        items.push(item);
                    }
                }
            };
        for (i, item) in old.into_iter().enumerate() {
            if is_removed(&item) {
                outcome.removed += 1;
            } else {
                items.push(item);
            }
            push_slot(&mut items, Some(i), &mut outcome);
        }
        push_slot(&mut items, None, &mut outcome);
        self.index = KeyIndex::build(&items);
        self.items = items;
        outcome
    }
}

/// A batch of edits, planned against the document before any item moves.
#[derive(Default)]
struct EditPlan<'e> {
    outcome: EditOutcome,
    /// Entries rewritten in place, by item index.
    replacements: Vec<(usize, Entry)>,
    /// New entries per slot: after original item `i` (`Some(i)`) or at the end (`None`).
    slots: HashMap<Option<usize>, Vec<Entry>>,
    /// Where each key inserted in this batch went.
    inserted: HashMap<&'e str, Option<usize>>,
    removed: HashSet<&'e str>,
}

impl EditPlan<'_> {
    /// Records that `key`'s written value reads differently in `peers`.
    fn note(&mut self, key: &str, peers: Vec<Peer>) {
        if !peers.is_empty() {
            self.outcome.warnings.push(QuoteWarning {
                key: key.to_owned(),
                peers,
            });
        }
    }
}

/// One change in a batch given to [`Document::edit`].
#[derive(Debug, Clone, Copy)]
pub enum Edit<'a> {
    /// Rewrite the effective entry, or append when the key is absent.
    Set { key: &'a str, value: &'a str },
    /// Add a new entry after `after`'s effective entry, or at the end.
    Insert {
        key: &'a str,
        value: &'a str,
        after: Option<&'a str>,
    },
    /// Write `raw` as the effective entry's value text exactly as given (it must read back as
    /// one value, e.g. a sealed `enc:v1:…`); the key must exist.
    SetRaw { key: &'a str, raw: &'a str },
    /// Delete every occurrence.
    Remove { key: &'a str },
}

/// A written value that another dotenv reader would read differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteWarning {
    pub key: String,
    pub peers: Vec<Peer>,
}

/// What a batch of edits did besides editing.
#[derive(Debug, Default)]
pub struct EditOutcome {
    pub warnings: Vec<QuoteWarning>,
    /// How many entries were removed.
    pub removed: usize,
}

/// `old` with its raw value text replaced by `raw` verbatim.
fn replace_raw_value(old: &Entry, key: &str, raw: &str) -> Result<Entry, EditError> {
    let old_raw = old.raw();
    let (vs, ve) = (old.value_start as usize, old.value_end as usize);
    let after = &old_raw[ve..];
    let sep = if vs == ve && after.starts_with('#') {
        " "
    } else {
        ""
    };
    let text = format!("{}{raw}{sep}{after}", &old_raw[..vs]);
    reparse_entry(&text, old.line)
        .filter(|e| e.key() == key && e.raw_value() == raw)
        .ok_or_else(|| EditError::BadRawValue(key.to_owned()))
}

/// `old` with its value replaced by `value`, its layout and quoting style kept where possible.
fn rewrite_value(old: &Entry, key: &str, value: &str) -> (Entry, Vec<Peer>) {
    let rendered = quote::render(value, Some(Style::of_raw(old.raw_value())));
    let (vs, ve) = (old.value_start as usize, old.value_end as usize);
    let old_raw = old.raw();
    let after = &old_raw[ve..];
    // An empty value followed directly by a comment needs a separating blank.
    let sep = if vs == ve && after.starts_with('#') {
        " "
    } else {
        ""
    };
    let mut raw = String::with_capacity(old_raw.len() + rendered.text.len());
    raw.push_str(&old_raw[..vs]);
    raw.push_str(&rendered.text);
    raw.push_str(sep);
    raw.push_str(after);
    let entry = reparse_entry(&raw, old.line)
        .filter(|e| e.key() == key && e.value() == value)
        .unwrap_or_else(|| {
            // The surrounding text does not combine with the new value (rare layouts):
            // write a plain entry, keeping the line ending.
            let prefix = if old.export { "export " } else { "" };
            let raw = format!("{prefix}{key}={}{}", rendered.text, eol_of(old_raw));
            reparse_entry(&raw, old.line).expect("a rendered entry parses")
        });
    (entry, rendered.disagree)
}

fn new_entry(key: &str, value: &str, export: bool, eol: &str) -> (Entry, Vec<Peer>) {
    let rendered = quote::render(value, None);
    let prefix = if export { "export " } else { "" };
    let raw = format!("{prefix}{key}={}{eol}", rendered.text);
    let entry = reparse_entry(&raw, 0).expect("a rendered entry parses");
    (entry, rendered.disagree)
}

fn check_key_value(key: &str, value: &str) -> Result<(), EditError> {
    if !is_valid_key(key) {
        Err(EditError::InvalidKey(key.to_owned()))
    } else if value.contains('\0') {
        Err(EditError::NulInValue(key.to_owned()))
    } else {
        Ok(())
    }
}

fn eol_of(raw: &str) -> &'static str {
    if raw.ends_with("\r\n") {
        "\r\n"
    } else if raw.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}

/// Parses the text of one entry; `None` when it is not exactly one entry.
fn reparse_entry(raw: &str, line: u32) -> Option<Entry> {
    let (mut items, _) = parse::parse_items(&Arc::new(Buf(raw.to_owned())), 0, None).ok()?;
    if items.len() != 1 {
        return None;
    }
    match items.pop() {
        Some(Item::Entry(mut e)) => {
            e.line = line;
            Some(e)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
