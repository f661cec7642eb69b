//! `envault textconv`: an env file as `git diff` / `git log -p` should show it.

use super::{emit, Ctx, ExitStatus};
use crate::crypt::{self, HEADER_PREFIX};
use crate::dotenv::{Document, Item, MASK};
use crate::source;

/// Print an env file for `git diff`: values in clear where they are not secret (decrypted
/// when an identity opens the file), secrets masked with a short fingerprint so that a
/// changed secret still shows as a changed line. Meant for `diff.envault.textconv`; never
/// cache its output (it may hold decrypted values).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  git config diff.envault.textconv 'envault textconv'\n  envault textconv .env.prod\n  envault textconv .env.prod --show-secrets"
)]
pub struct Args {
    /// The env file git hands over (a temporary copy of one side of the diff).
    file: std::path::PathBuf,
    /// Show decrypted secrets instead of fingerprints.
    #[arg(long, visible_alias = "show")]
    show_secrets: bool,
}

/// Eight hex digits of a keyed hash: equal values give equal fingerprints within one file.
fn fingerprint(key: &[u8; 32], name: &str, value: &str) -> String {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(name.as_bytes());
    h.update(&[0]);
    h.update(value.as_bytes());
    h.finalize().to_hex()[..8].to_owned()
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let mut l = source::load_path(
        &ctx.cwd.join(&args.file),
        args.file.display().to_string(),
        false,
    )?;
    let header = crypt::header_of(&l.doc)?;
    // Fingerprints of an encrypted file are keyed by its data key (so they reveal nothing to
    // whoever cannot open it); a plaintext file's values are in the file anyway.
    let mut fp_key = blake3::derive_key("envault textconv v1 plaintext", b"");
    let mut opened = false;
    if let Some(h) = &header {
        if let Ok(key) = super::crypt::open_key(ctx, &l.label, h) {
            fp_key = blake3::derive_key("envault textconv v1", key.expose_for_fingerprint());
            l.doc = crypt::decrypt_document(&l.doc, &key, h)?;
            opened = true;
        }
    }
    let classifier = ctx.load_config().map(|c| c.classifier).unwrap_or_default();
    let mut out = String::new();
    if let Some(h) = &header {
        out.push_str(&format!(
            "{HEADER_PREFIX}v1 file {}\n",
            crypt::file_id_text(h)
        ));
        for r in &h.recipients {
            out.push_str(&format!("{HEADER_PREFIX}recipient {r}\n"));
        }
        if !opened {
            out.push_str("# (no identity opens this file: sealed values are fingerprinted)\n");
        }
    }
    // A line kept as written (readers disagree on it) may hold a secret: shown masked, with a
    // fingerprint so that a change to it still shows as a changed line.
    // A commented-out entry of a secret key (`# DB_PASSWORD=old`) is masked as the entry is.
    let opaque = |line: &str| -> Option<String> {
        if args.show_secrets {
            return None;
        }
        if let Some(o) = l.doc.opaque_lines().iter().find(|o| o.is_line(line)) {
            return Some(format!(
                "{} fp:{} (kept as written: dotenv readers disagree on this line)",
                o.error.masked_line(),
                fingerprint(&fp_key, "", line)
            ));
        }
        // Every other reader ends the line at a lone CR (node's dotenv also at U+2028 and
        // U+2029 in a comment): the text after it is a line of its own for them, which may be
        // a secret; and so may any line that is neither blank, a comment nor an entry (under a
        // dialect, a line such a CR split off).
        let body = line.trim_start();
        if line.contains(['\r', '\u{2028}', '\u{2029}'])
            || !(body.is_empty() || body.starts_with('#'))
        {
            let indent = &line[..line.len() - line.trim_start().len()];
            let hash = if line.trim_start().starts_with('#') {
                "# "
            } else {
                ""
            };
            return Some(format!(
                "{indent}{hash}{MASK} fp:{} (kept as written: a carriage return ends this line for other readers)",
                fingerprint(&fp_key, "", line)
            ));
        }
        let body = line.trim_start().strip_prefix('#')?;
        let entry = Document::parse(body.trim_start()).ok()?;
        let e = entry.entries().next()?;
        classifier.masks(e.key(), &[e.value()]).then(|| {
            let indent = &line[..line.len() - line.trim_start().len()];
            format!(
                "{indent}# {}={MASK} fp:{}",
                e.key(),
                fingerprint(&fp_key, e.key(), e.value())
            )
        })
    };
    render(&l.doc, &mut out, &opaque, |key, value| {
        if crypt::is_sealed(value) {
            format!("(encrypted) fp:{}", fingerprint(&fp_key, key, value))
        } else if !args.show_secrets && classifier.masks(key, &[value]) {
            format!("{MASK} fp:{}", fingerprint(&fp_key, key, value))
        } else {
            crate::output::one_line(value).into_owned()
        }
    });
    emit(&out)?;
    Ok(ExitStatus::Clean)
}

/// Comments and blank lines as they are (lines kept as written as `opaque` shows them), entries
/// as `KEY=shown`; the header is left out.
fn render(
    doc: &Document,
    out: &mut String,
    opaque: &dyn Fn(&str) -> Option<String>,
    show: impl Fn(&str, &str) -> String,
) {
    for item in doc.items() {
        match item {
            Item::Trivia(t) if t.starts_with(HEADER_PREFIX) => {}
            Item::Trivia(t) => {
                let line = t.trim_end_matches(['\n', '\r']);
                match opaque(line) {
                    Some(shown) => out.push_str(&shown),
                    None => out.push_str(line),
                }
            }
            Item::Entry(e) => {
                let prefix = if e.is_exported() { "export " } else { "" };
                out.push_str(&format!("{prefix}{}={}", e.key(), show(e.key(), e.value())));
            }
        }
        if !matches!(item, Item::Trivia(t) if t.starts_with(HEADER_PREFIX)) {
            out.push('\n');
        }
    }
}
