//! `envault sync`: plan, print, and (without --dry-run) write the target atomically.

use super::{emit, hinted, warn, warn_duplicates, Ctx, Format};
use crate::config::Strategy;
use crate::fsutil;
use crate::output::{self, Masker};
use crate::source;
use crate::sync::{self, Options};

/// Copy missing and changed keys from one environment into another.
///
/// Secret keys and values that name their environment (prod-db.internal, myapp_dev) are
/// environment-specific: a differing target value is kept and listed, unless
/// --include-env-specific. Comments, order and quoting of untouched lines stay as they are.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault sync dev prod --dry-run\n  envault sync dev prod\n  envault sync dev prod --strategy target_wins\n  envault sync dev prod --allow-delete\n  envault sync dev prod --skip LOG_LEVEL --skip CACHE_TTL"
)]
pub struct Args {
    /// The environment to take keys from.
    source: String,
    /// The environment to write (its file is created, mode 0600, when missing).
    target: String,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Which value wins when both sides differ [default: the config's conflict_strategy].
    #[arg(long, value_enum, value_name = "STRATEGY")]
    strategy: Option<StrategyArg>,
    /// Remove target keys that the source does not have (skipped keys never are).
    #[arg(long)]
    allow_delete: bool,
    /// Leave this key alone (repeatable; globs such as FEATURE_* work; adds to skip_keys).
    #[arg(long, value_name = "KEY")]
    skip: Vec<String>,
    /// Overwrite environment-specific values too (secrets, values naming an environment).
    #[arg(long)]
    include_env_specific: bool,
    /// Print secret values instead of masking them.
    #[arg(long)]
    show_secrets: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum StrategyArg {
    SourceWins,
    TargetWins,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let config = ctx.load_config()?;
    config.env(&args.source)?;
    config.env(&args.target)?;
    if args.source == args.target {
        return Err(hinted(
            format!("cannot sync '{}' into itself", args.source),
            "name two different environments: envault sync <source> <target>",
        ));
    }
    let mut src = source::load_env(&config, &args.source, false)?;
    let mut tgt = source::load_env(&config, &args.target, true)?;
    super::crypt::decrypt_for_reading(ctx, &mut src, Some(&config.plaintext_keys))?;
    let sealing = super::crypt::open_for_writing(ctx, &config, &args.target, &mut tgt)?;
    warn_duplicates(&src.label, &src.doc);
    warn_duplicates(&tgt.label, &tgt.doc);

    let mut skip = config.skip_keys.clone();
    skip.extend(args.skip.iter().cloned());
    let strategy = match args.strategy {
        Some(StrategyArg::SourceWins) => Strategy::SourceWins,
        Some(StrategyArg::TargetWins) => Strategy::TargetWins,
        None => config.conflict_strategy,
    };
    let opts = Options {
        source_env: &args.source,
        target_env: &args.target,
        strategy,
        allow_delete: args.allow_delete,
        skip: &skip,
        env_specific_keys: &config.env_specific_keys,
        shared_keys: &config.shared_keys,
        include_env_specific: args.include_env_specific,
        classifier: &config.classifier,
    };
    let plan = sync::plan(&src.doc, &tgt.doc, &opts);
    for a in &plan.add {
        if let Some(word) = &a.names_source_env {
            warn(&format!(
                "{}: the value added to {} names '{word}', the source environment; check that it belongs in {}",
                a.key, args.target, args.target
            ));
        }
    }

    let mut written = false;
    if !args.dry_run && plan.changes_target() {
        let quote_warnings = sync::apply(&plan, &src.doc, &mut tgt.doc)?;
        for w in quote_warnings {
            super::warn_quoting(&w.key, &w.peers);
        }
        super::crypt::seal_for_writing(sealing.as_ref(), &config.plaintext_keys, &mut tgt)?;
        fsutil::write_atomic(&tgt.snapshot, tgt.doc.render().as_bytes())?;
        written = true;
    }

    let masker = Masker {
        classifier: &config.classifier,
        show_secrets: args.show_secrets,
    };
    let text = match args.format {
        Format::Text => {
            let mut t = output::plan_text(
                &plan,
                &args.source,
                &args.target,
                args.dry_run,
                masker,
                ctx.paint(args.format),
            );
            if written {
                t.push_str(&format!("Wrote {}.\n", ctx.display_path(tgt.path())));
            }
            t
        }
        Format::Json => output::plan_json(&plan, &args.source, &args.target, args.dry_run, masker),
    };
    emit(&text)?;
    Ok(0)
}
