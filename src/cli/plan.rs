//! What `sync`, `store push` and `store pull` share: the plan options, making a plan from the
//! config and the flags, printing it, and applying it to an env file.

use super::{emit, emit_masked, warn, Ctx, Format};
use crate::config::{Config, Strategy};
use crate::output::{self, Masker};
use crate::sync::{self, Options, Plan};

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
    #[arg(long, visible_alias = "show")]
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
    match args.format {
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
            emit_masked(&t)?;
        }
        Format::Json => emit(&output::plan_json(
            plan,
            source,
            target,
            args.dry_run,
            masker,
        ))?,
    }
    Ok(())
}

/// Applies `plan` to the target, seals it again when it is encrypted, and writes it
/// atomically; returns the path written, as users read it.
pub(crate) fn apply_and_write(
    ctx: &Ctx,
    config: &Config,
    plan: &Plan,
    src: &crate::dotenv::Document,
    tgt: &mut crate::workspace::Editing,
) -> anyhow::Result<String> {
    for w in sync::apply(plan, src, &mut tgt.loaded.doc)? {
        super::warn_quoting(&w.key, &w.peers);
    }
    tgt.commit(&config.plaintext_keys)?;
    Ok(ctx.display_path(tgt.loaded.path()))
}
