//! `envault sync`: plan, print, and (without --dry-run) write the target atomically (the
//! planning and printing are `cli::plan`'s, shared with `store push` / `store pull`).

use super::plan::{apply_and_write, make_plan, print_plan, PlanArgs};
use super::{hinted, warn_duplicates, Ctx, ExitStatus};
use crate::source::Spec;

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

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let _warnings = super::warnings_after_report();
    let config = ctx.load_config()?;
    match (Spec::env_side(&args.source), Spec::env_side(&args.target)) {
        (Spec::Store(_), Spec::Store(_)) => {
            return Err(hinted(
                "cannot sync one store into another",
                "sync a store with an environment: envault sync store:NAME prod",
            ))
        }
        (Spec::Store(store), _) => {
            return super::store::pull(ctx, &config, &args.target, Some(&store), &args.plan)
        }
        (_, Spec::Store(store)) => {
            return super::store::push(ctx, &config, &args.source, Some(&store), &args.plan, false)
        }
        _ => {}
    }
    config.env(&args.source)?;
    config.env(&args.target)?;
    if args.source == args.target {
        return Err(hinted(
            format!("cannot sync '{}' into itself", args.source),
            "name two different environments: envault sync <source> <target>",
        ));
    }
    let src = super::crypt::keys(ctx).read(&config, &args.source)?;
    let mut tgt = super::crypt::keys(ctx).edit(&config, &args.target)?;
    warn_duplicates(&src);
    warn_duplicates(&tgt.loaded);

    let plan = make_plan(
        &config,
        &args.plan,
        args.include_env_specific,
        (&args.source, &src.doc),
        (&args.target, &tgt.loaded.doc),
    );
    let mut wrote = None;
    if !args.plan.dry_run && plan.changes_target() {
        wrote = Some(apply_and_write(ctx, &config, &plan, &src.doc, &mut tgt)?);
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
