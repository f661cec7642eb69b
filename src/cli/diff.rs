//! `envault diff` (two environments) and `envault diff-files` (two files, no config).

use std::path::PathBuf;

use super::{emit, emit_masked, warn_duplicates, Ctx, ExitStatus, Format};
use crate::classify::Classifier;
use crate::diff::diff_documents;
use crate::output::{self, Masker};
use crate::source::{Loaded, Spec};

/// Show key-level differences between two environments.
///
/// Exit status as diff(1): 0 when identical, 1 when they differ, 2 on error.
/// Secret values are masked unless --show-secrets is given.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault diff dev prod\n  envault diff staging prod --format json\n  envault diff dev prod --quiet || echo \"drift!\""
)]
pub struct EnvArgs {
    /// The environment to compare from (a name under `environments:`).
    source: String,
    /// The environment to compare with.
    target: String,
    #[command(flatten)]
    common: Common,
}

/// Show key-level differences between two .env files (no .envault.yml needed).
///
/// Exit status as diff(1): 0 when identical, 1 when they differ, 2 on error.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault diff-files .env.dev .env.prod\n  envault diff-files a.env b.env --show-secrets"
)]
pub struct FileArgs {
    /// The first file (the source): a path, or `REV:PATH` for the file at a git revision.
    file1: PathBuf,
    /// The second file (the target), compared against the first.
    file2: PathBuf,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Print secret values instead of masking them.
    #[arg(long, visible_alias = "show")]
    show_secrets: bool,
    /// Output format; JSON is a stable object (see the README).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print nothing; only the exit status tells.
    #[arg(short, long)]
    quiet: bool,
    /// Count encrypted values that cannot be compared (no identity) as differences.
    #[arg(long)]
    strict: bool,
}

pub fn run_envs(ctx: &Ctx, args: EnvArgs) -> anyhow::Result<ExitStatus> {
    let _warnings = super::warnings_after_report();
    let config = ctx.load_config()?;
    let load = |arg: &str| -> anyhow::Result<Loaded> {
        let spec = Spec::env_side(arg);
        if let Spec::Store(store) = &spec {
            return super::store::load_store(ctx, &config, store);
        }
        let l = spec.load(Some(&config), &ctx.cwd)?;
        if spec.at_revision() {
            warn_if_absent(&l);
        }
        Ok(l)
    };
    let (mut src, mut tgt) = (load(&args.source)?, load(&args.target)?);
    open_or_compare_keys(ctx, &mut src, Some(&config.plaintext_keys))?;
    open_or_compare_keys(ctx, &mut tgt, Some(&config.plaintext_keys))?;
    // A side read from a secrets manager masks every value not declared public.
    let from_secrets_manager = [&args.source, &args.target].into_iter().any(|side| {
        matches!(Spec::env_side(side), Spec::Store(s) if super::store::holds_only_secrets(&config, &s))
    });
    let classifier = if from_secrets_manager {
        config.classifier.secret_unless_public()
    } else {
        config.classifier.clone()
    };
    let code = report(ctx, &src, &tgt, &classifier, &args.common);
    exit_soon((src, tgt));
    code
}

/// A file read from git that did not exist at that revision is compared as empty.
fn warn_if_absent(l: &Loaded) {
    if !l.snapshot.exists() {
        super::warn(&format!(
            "{} does not exist at that revision; compared as empty",
            l.label
        ));
    }
}

pub fn run_files(ctx: &Ctx, args: FileArgs) -> anyhow::Result<ExitStatus> {
    let _warnings = super::warnings_after_report();
    // Only the folder crosses to the loading thread.
    let cwd = &ctx.cwd;
    // Whether a file is encrypted is a pass over all of it: each thread looks at its own.
    let load = |p: &PathBuf| -> anyhow::Result<(Loaded, bool)> {
        let spec = Spec::file_side(cwd, p);
        let l = spec.load(None, cwd)?;
        if spec.at_revision() {
            warn_if_absent(&l);
        }
        let encrypted = crate::workspace::is_encrypted(&l);
        Ok((l, encrypted))
    };
    let (src, tgt) = both(|| load(&args.file1), || load(&args.file2));
    let ((mut src, src_encrypted), (mut tgt, tgt_encrypted)) = (src?, tgt?);
    for (l, encrypted) in [(&mut src, src_encrypted), (&mut tgt, tgt_encrypted)] {
        if encrypted {
            open_or_compare_keys(ctx, l, None)?;
        }
    }
    // Without a config, the default classifier applies; a config's overrides are used when one
    // is found, so masking matches `envault diff`.
    let classifier = ctx.load_config().map(|c| c.classifier).unwrap_or_default();
    let code = report(ctx, &src, &tgt, &classifier, &args.common);
    exit_soon((src, tgt));
    code
}

/// The process ends right after a diff: freeing two large parsed files page by page would
/// only delay the exit, so their memory is left for the OS to reclaim.
fn exit_soon<T>(loaded: T) {
    std::mem::forget(loaded);
}

/// Decrypts an encrypted side when an identity opens it; without one, warns and leaves the
/// values sealed, so the comparison is key-level for them.
fn open_or_compare_keys(
    ctx: &Ctx,
    l: &mut Loaded,
    plaintext_keys: Option<&crate::glob::GlobSet>,
) -> anyhow::Result<()> {
    match super::crypt::decrypt_for_reading(ctx, l, plaintext_keys) {
        Err(e)
            if e.downcast_ref::<crate::workspace::WorkspaceError>()
                .is_some_and(|c| c.no_identity()) =>
        {
            super::warn(&format!(
                "cannot decrypt {}: no identity opens it; its values are compared by key only",
                l.path().display()
            ));
            Ok(())
        }
        other => other,
    }
}

/// Runs two loads at once: reading and parsing large files is most of a diff's time.
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|s| {
        let hb = s.spawn(b);
        let ra = a();
        (ra, hb.join().expect("loading thread does not panic"))
    })
}

fn report(
    ctx: &Ctx,
    src: &Loaded,
    tgt: &Loaded,
    classifier: &Classifier,
    c: &Common,
) -> anyhow::Result<ExitStatus> {
    if !c.quiet {
        warn_duplicates(src);
        warn_duplicates(tgt);
    }
    let mut d = diff_documents(&src.doc, &tgt.doc);
    // Ciphertexts can only be compared under one data key: the same file (same id), e.g. a
    // copy or another revision. Otherwise sealed values that were not opened are set aside.
    let file_id = |l: &Loaded| {
        let lines = l.doc.leading_lines(crate::crypt::HEADER_PREFIX).join("\n");
        crate::crypt::Header::parse(&lines)
            .ok()
            .flatten()
            .map(|h| h.file_id)
    };
    let same_key = file_id(src).is_some() && file_id(src) == file_id(tgt);
    if !same_key {
        d.set_aside(|s, t| crate::crypt::is_sealed(s) || crate::crypt::is_sealed(t));
    }
    let differs = !d.is_empty() || (c.strict && !d.not_compared.is_empty());
    let code = ExitStatus::found_if(differs);
    if c.quiet {
        return Ok(code);
    }
    let masker = Masker {
        classifier,
        show_secrets: c.show_secrets,
    };
    match c.format {
        Format::Text => emit_masked(&output::diff_text(
            &d,
            &src.label,
            &tgt.label,
            masker,
            ctx.paint(c.format),
        ))?,
        Format::Json => emit(&output::diff_json(&d, &src.label, &tgt.label, masker))?,
    }
    Ok(code)
}
