//! `envault sync`: plan, print, and (without --dry-run) write the target atomically. The plan
//! options and printing are shared with `store push` / `store pull`.

use super::{emit, hinted, warn, warn_duplicates, Ctx, ExitStatus, Format};
use crate::config::{Config, Strategy};
use crate::fsutil;
use crate::output::{self, Masker};
use crate::source;
use crate::sync::{self, Options, Plan};

/// Copy missing and changed keys from one environment into another.
///
/// Secret keys and values that name their environment (prod-db.internal, myapp_dev) are
/// environment-specific: a differing target value is kept and listed, unless
/// --include-env-specific. Comments, order and quoting of untouched lines stay as they are.
/// Either side may be a store (`store:NAME`): that is `envault store pull` / `push`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault sync dev prod --dry-run\n  envault sync dev prod\n  envault sync dev prod --strategy target_wins\n  envault sync dev prod --allow-delete\n  envault sync dev prod --skip LOG_LEVEL --skip CACHE_TTL\n  envault sync store:ssm-prod prod --dry-run"
)]
pub struct Args {
    /// The environment to take keys from (or store:NAME).
    source: String,
    /// The environment to write (its file is created, mode 0600, when missing), or store:NAME.
    target: String,
    #[command(flatten)]
    plan: PlanArgs,
    /// Overwrite environment-specific values too (secrets, values naming an environment).
    #[arg(long)]
    include_env_specific: bool,
}

/// How a sync, push or pull plans and reports.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Which value wins when both sides differ [default: the config's conflict_strategy].
    #[arg(long, value_enum, value_name = "STRATEGY")]
    strategy: Option<StrategyArg>,
    /// Remove target keys that the source does not have (skipped keys never are).
    #[arg(long)]
    allow_delete: bool,
    /// Leave this key alone (repeatable; globs such as FEATURE_* work; adds to skip_keys).
    #[arg(long, value_name = "KEY")]
    skip: Vec<String>,
    /// Print secret values instead of masking them.
    #[arg(long)]
    show_secrets: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum StrategyArg {
    SourceWins,
    TargetWins,
}

/// Plans `src` into `tgt` (named `source_env` / `target_env` for the environment-specific
/// rule), warning about added values that name the source environment.
pub(crate) fn make_plan(
    config: &Config,
    args: &PlanArgs,
    include_env_specific: bool,
    (source_env, src): (&str, &crate::dotenv::Document),
    (target_env, tgt): (&str, &crate::dotenv::Document),
) -> Plan {
    let mut skip = config.skip_keys.clone();
    skip.extend(args.skip.iter().cloned());
    let strategy = match args.strategy {
        Some(StrategyArg::SourceWins) => Strategy::SourceWins,
        Some(StrategyArg::TargetWins) => Strategy::TargetWins,
        None => config.conflict_strategy,
    };
    let opts = Options {
        source_env,
        target_env,
        strategy,
        allow_delete: args.allow_delete,
        skip: &skip,
        env_specific_keys: &config.env_specific_keys,
        shared_keys: &config.shared_keys,
        include_env_specific,
        classifier: &config.classifier,
    };
    let plan = sync::plan(src, tgt, &opts);
    if source_env != target_env {
        for a in &plan.add {
            if let Some(word) = &a.names_source_env {
                warn(&format!(
                    "{}: the value added to {target_env} names '{word}', the source environment; check that it belongs in {target_env}",
                    a.key
                ));
            }
        }
    }
    plan
}

/// Prints a plan; `wrote` is what was written, for the last line.
pub(crate) fn print_plan(
    ctx: &Ctx,
    config: &Config,
    args: &PlanArgs,
    plan: &Plan,
    (source, target): (&str, &str),
    wrote: Option<String>,
) -> anyhow::Result<()> {
    let masker = Masker {
        classifier: &config.classifier,
        show_secrets: args.show_secrets,
    };
    let text = match args.format {
        Format::Text => {
            let mut t = output::plan_text(
                plan,
                source,
                target,
                args.dry_run,
                masker,
                ctx.paint(args.format),
            );
            if let Some(w) = wrote {
                t.push_str(&format!("Wrote {w}.\n"));
            }
            t
        }
        Format::Json => output::plan_json(plan, source, target, args.dry_run, masker),
    };
    emit(&text)?;
    Ok(())
}

/// Applies `plan` to the target, seals it again when it is encrypted, and writes it
/// atomically; returns the path written, as users read it.
pub(crate) fn apply_and_write(
    ctx: &Ctx,
    config: &Config,
    plan: &Plan,
    src: &crate::dotenv::Document,
    tgt: &mut source::Loaded,
    sealing: Option<super::crypt::Sealing>,
) -> anyhow::Result<String> {
    for w in sync::apply(plan, src, &mut tgt.doc)? {
        super::warn_quoting(&w.key, &w.peers);
    }
    super::crypt::seal_for_writing(sealing.as_ref(), &config.plaintext_keys, tgt)?;
    fsutil::write_atomic(&tgt.snapshot, tgt.doc.render().as_bytes())?;
    Ok(ctx.display_path(tgt.path()))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    match (
        args.source.strip_prefix("store:"),
        args.target.strip_prefix("store:"),
    ) {
        (Some(_), Some(_)) => {
            return Err(hinted(
                "cannot sync one store into another",
                "sync a store with an environment: envault sync store:NAME prod",
            ))
        }
        (Some(store), None) => {
            return super::store::pull(ctx, &config, &args.target, Some(store), &args.plan)
        }
        (None, Some(store)) => {
            return super::store::push(ctx, &config, &args.source, Some(store), &args.plan)
        }
        (None, None) => {}
    }
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

    let plan = make_plan(
        &config,
        &args.plan,
        args.include_env_specific,
        (&args.source, &src.doc),
        (&args.target, &tgt.doc),
    );
    let mut wrote = None;
    if !args.plan.dry_run && plan.changes_target() {
        wrote = Some(apply_and_write(
            ctx, &config, &plan, &src.doc, &mut tgt, sealing,
        )?);
    }
    print_plan(
        ctx,
        &config,
        &args.plan,
        &plan,
        (&args.source, &args.target),
        wrote,
    )?;
    Ok(ExitStatus::Clean)
}
