//! `envault rotate` and `envault rotate-all`: generate, write every file at once, keep the
//! replaced values for `--undo`.

use std::io::{IsTerminal, Write as _};
use std::path::Path;

use super::{emit, hinted, Ctx, ExitStatus};
use crate::classify::{provider_format, url_password, Classification, Reason, SecretKind};
use crate::config::Config;
use crate::rotate::{self, DocPlan, Format};
use crate::workspace::{self, Editing, RotationTarget};

const LENGTH_HELP: &str = "Length of the new value: characters for passwords, URL passwords, API keys and random strings; random BYTES for JWT/signing (base64) and webhook (hex) secrets. Lengths under 128 bits are refused";

/// Generate a new value for a secret and write it into every environment at once.
///
/// The format is inferred from the key name (passwords, URL passwords, prefixed API keys,
/// JWT/signing and webhook secrets, random strings) or set under `rotation:` in .envault.yml.
/// Each environment gets its own value; other keys that embed the old value (a password inside
/// DATABASE_URL) are updated in the same write. The replaced values are saved to a private
/// backup file for `envault rotate --undo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault rotate DB_PASSWORD\n  envault rotate API_KEY --env prod\n  envault rotate JWT_SECRET --dry-run --show\n  envault rotate WEBHOOK_SECRET --length 64     (64 random bytes: 128 hex characters)\n  envault rotate DB_PASSWORD --keep-previous\n  envault rotate --undo --list\n  envault rotate --undo"
)]
pub struct Args {
    /// The key to rotate.
    #[arg(required_unless_present = "undo")]
    key: Option<String>,
    /// Rotate only in this environment (repeatable); an environment lacking the key gets it.
    #[arg(long = "env", value_name = "ENV")]
    envs: Vec<String>,
    #[command(flatten)]
    common: Common,
    /// Write one value into every environment instead of a value each.
    #[arg(long)]
    same_value: bool,
    /// Restore the values replaced by the last rotation made in this project (its git
    /// repository, or its config's folder); backups are kept 30 days.
    #[arg(long, conflicts_with_all = ["key", "envs", "same_value"])]
    undo: bool,
    /// With --undo: list the rotations of this project that can be undone, newest first, and
    /// change nothing.
    #[arg(long, requires = "undo")]
    list: bool,
}

/// Rotate every secret of one environment.
///
/// Keys that are not secrets are left alone, and so are values an outside provider issued
/// (GitHub, GitLab, Slack, Stripe, AWS, Google tokens, PEM keys): rotate those at the provider.
/// On a terminal, asks for confirmation unless --yes.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault rotate-all --env prod --dry-run\n  envault rotate-all --env prod --yes"
)]
pub struct AllArgs {
    /// The environment whose secrets are rotated.
    #[arg(long = "env", value_name = "ENV")]
    env: String,
    #[command(flatten)]
    common: Common,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Debug, clap::Args)]
struct Common {
    #[arg(long, help = LENGTH_HELP, value_name = "N")]
    length: Option<usize>,
    /// Print what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the generated values in clear.
    #[arg(long = "show-secrets", visible_alias = "show")]
    show: bool,
    /// Keep each old value as <KEY>_PREVIOUS, so services can accept both during a changeover.
    #[arg(long)]
    keep_previous: bool,
    /// Rotate keys that do not look like secrets, and values issued by a provider.
    #[arg(long)]
    force: bool,
}

fn masked(value: &str, show: bool) -> String {
    if show {
        value.to_owned()
    } else {
        "•".repeat(value.chars().count().clamp(6, 32))
    }
}

/// "database password (inferred from key name)".
fn describe(key: &str, format: Format, class: &Classification, from_config: bool) -> String {
    let db = crate::classify::names_a_database(key);
    let what = match class.kind {
        Some(SecretKind::Password) if db => "database password".to_owned(),
        Some(kind) if !from_config => kind.describe().to_owned(),
        _ => format.to_string(),
    };
    let why = if from_config {
        "set under rotation: in .envault.yml"
    } else {
        match class.reason {
            Reason::KeyName => "inferred from key name",
            Reason::Value => "inferred from its value",
            Reason::ConfigSecretKeys => "listed in secret_keys",
            Reason::ConfigPublicKeys | Reason::Default => "--force",
        }
    };
    format!("{what} ({why})")
}

/// Refuses keys that are not secrets and values a provider issued, unless forced.
fn check_rotatable(
    key: &str,
    class: &Classification,
    values: &[(&str, &str)],
    force: bool,
) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    if !class.is_secret() {
        return Err(hinted(
            format!("{key} does not look like a secret (neither its name nor its value says so); rotating it would replace a setting with random text"),
            "pass --force to rotate it anyway, or list it under secret_keys: in .envault.yml",
        ));
    }
    for (file, value) in values {
        if let Some(provider) = provider_format(key, value) {
            return Err(hinted(
                format!("{key} in {file} holds a credential issued by {provider}; a value generated here would be rejected"),
                "rotate it at the provider and set the new value, or pass --force",
            ));
        }
    }
    Ok(())
}

fn format_for(config: &Config, key: &str, class: &Classification) -> (Format, Option<usize>, bool) {
    let spec = config.rotation.get(key).copied().unwrap_or_default();
    let format = spec.kind.unwrap_or_else(|| Format::for_kind(class.kind));
    (format, spec.length, spec.kind.is_some())
}

/// The environments to rotate `key` in, opened for writing: those given with `--env`, else
/// every environment that has the key.
fn load_holding(
    ctx: &Ctx,
    config: &Config,
    key: &str,
    envs: &[String],
) -> anyhow::Result<Vec<Editing>> {
    let explicit = !envs.is_empty();
    let names: Vec<String> = if explicit {
        envs.to_vec()
    } else {
        config.environments.keys().cloned().collect()
    };
    let mut loaded = Vec::new();
    for name in &names {
        let e = super::crypt::keys(ctx).edit(config, name)?;
        if explicit || e.loaded.doc.get(key).is_some() {
            loaded.push(e);
        }
    }
    if loaded.is_empty() {
        let files: Vec<String> = names
            .iter()
            .map(|n| config.environments[n].file.display().to_string())
            .collect();
        return Err(hinted(
            format!("{key} is in none of the environments (looked in {})", files.join(", ")),
            format!("check the spelling, or create it with --env ENV (e.g. envault rotate {key} --env dev)"),
        ));
    }
    Ok(loaded)
}

/// `Generated:` with one new value per file, masked unless shown (a URL shows all but its
/// password).
fn generated_lines(labels: &[String], news: &[String], show: bool) -> String {
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = "Generated:\n".to_owned();
    for (label, new) in labels.iter().zip(news) {
        let shown = match url_password(new).filter(|_| !show) {
            Some(r) => format!(
                "{}{}{}",
                &new[..r.start],
                masked(&new[r.clone()], false),
                &new[r.end..]
            ),
            None => masked(new, show),
        };
        out.push_str(&format!("  {label:<width$}   {shown}\n"));
    }
    out
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    if args.undo && args.list {
        return list_undoable(ctx);
    }
    if args.undo {
        return undo(ctx, args.common.force);
    }
    let key = args.key.as_deref().unwrap_or_default();
    let c = &args.common;
    let config = ctx.load_config()?;
    for e in &args.envs {
        config.env(e)?;
    }
    let loaded = load_holding(ctx, &config, key, &args.envs)?;
    let first_value = loaded.iter().find_map(|e| e.loaded.doc.get(key));
    let class = config.classifier.classify(key, first_value);
    let currents: Vec<(String, &str)> = loaded
        .iter()
        .map(|e| {
            let l = &e.loaded;
            (l.path().display().to_string(), l.doc.get(key).unwrap_or(""))
        })
        .collect();
    let pairs: Vec<(&str, &str)> = currents.iter().map(|(f, v)| (f.as_str(), *v)).collect();
    check_rotatable(key, &class, &pairs, c.force)?;
    let (format, spec_length, from_config) = format_for(&config, key, &class);
    let values: Vec<&str> = currents.iter().map(|(_, v)| *v).collect();
    let news = rotate::generate_each(format, &values, c.length.or(spec_length), args.same_value)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot rotate {key} ({format})")))?;
    let mut targets: Vec<RotationTarget> = loaded
        .into_iter()
        .zip(&news)
        .map(|(editing, new)| {
            let plan = rotate::plan_doc(&editing.loaded.doc, &[(key.to_owned(), new.clone())]);
            RotationTarget { editing, plan }
        })
        .collect();

    let labels: Vec<String> = targets
        .iter()
        .map(|t| t.editing.loaded.path().display().to_string())
        .collect();
    let mut out = format!(
        "Key: {key}\nType: {}\n",
        describe(key, format, &class, from_config)
    );
    if args.same_value {
        out.push_str(&format!("Generated: {}\n", masked(&news[0], c.show)));
    } else {
        out.push_str(&generated_lines(&labels, &news, c.show));
    }
    out.push_str(&written_lines(key, &targets, &labels, c));
    if c.dry_run {
        out.push_str(DRY_RUN);
        super::emit_masked(&out)?;
        return Ok(ExitStatus::Clean);
    }
    // The next step is to give the new value to the database or provider: say how to see it.
    let env = match args.envs.as_slice() {
        [one] => one.clone(),
        _ => "<ENV>".to_owned(),
    };
    let see = (!c.show).then(|| {
        format!("The new values are masked: print one with `envault get {key} --env {env}`.\n")
    });
    commit(
        &config,
        &format!("rotate {key}"),
        &mut targets,
        c.keep_previous,
        (out, see),
    )
}

/// Saves the backup, writes every target, and prints the report with the backup's path (see
/// `workspace::commit_rotation`), then `see` (how to print masked new values).
fn commit(
    config: &Config,
    command: &str,
    targets: &mut [RotationTarget],
    keep_previous: bool,
    (mut out, see): (String, Option<String>),
) -> anyhow::Result<ExitStatus> {
    let (backup, warnings) = workspace::commit_rotation(
        (command, project_of(Some(config), &config.path).dir()),
        targets,
        keep_previous,
        &config.plaintext_keys,
    )?;
    for w in warnings {
        super::warn_quoting(&w.key, &w.peers);
    }
    out.push_str(&format!(
        "Previous values saved to {} (restore with `envault rotate --undo`)\n",
        home_relative(&backup)
    ));
    out.push_str(see.as_deref().unwrap_or_default());
    emit(&out)?;
    Ok(ExitStatus::Clean)
}

/// A path under the home folder written as `~/…`.
fn home_relative(path: &Path) -> String {
    let home = super::crypt::home_dir();
    match home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// The report's lines on where the rotation writes: in the conditional for a dry run.
fn written_lines(key: &str, targets: &[RotationTarget], labels: &[String], c: &Common) -> String {
    let say = |done: &'static str, would: &'static str| if c.dry_run { would } else { done };
    let mut out = format!(
        "{}: {}\n",
        say("Updated in", "Would update in"),
        labels.join(", ")
    );
    let added: Vec<&str> = targets
        .iter()
        .zip(labels)
        .filter(|(t, _)| t.plan.rotated[0].old.is_none())
        .map(|(_, l)| l.as_str())
        .collect();
    if !added.is_empty() {
        out.push_str(&format!(
            "{}: {}\n",
            say("Added to", "Would add to"),
            added.join(", ")
        ));
    }
    let also: Vec<String> = targets
        .iter()
        .zip(labels)
        .flat_map(|(t, l)| t.plan.also.iter().map(move |a| format!("{} ({l})", a.key)))
        .collect();
    if !also.is_empty() {
        out.push_str(&format!(
            "{}: {}\n",
            say("Also updated", "Would also update"),
            also.join(", ")
        ));
    }
    if c.keep_previous {
        out.push_str(&format!(
            "{} {key}_PREVIOUS\n",
            say("Previous value kept as", "Would keep the previous value as")
        ));
    }
    out
}

/// rotate-all's report: what was rotated (masked unless shown), what follows, what is left
/// alone and why.
fn all_report(
    env: &str,
    label: &str,
    rotated: &[(String, String, String)],
    plan: &DocPlan,
    left: &[(String, String)],
    (show, dry_run): (bool, bool),
) -> String {
    let mut out = if dry_run {
        format!("Would rotate in {env} ({label}):\n")
    } else {
        format!("Rotated in {env} ({label}):\n")
    };
    if rotated.is_empty() {
        out.push_str("  (none)\n");
    }
    let kw = rotated.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let tw = rotated
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0);
    for (key, kind, new) in rotated {
        out.push_str(&format!(
            "  {key:<kw$}  {kind:<tw$}  {}\n",
            masked(new, show)
        ));
    }
    if !plan.also.is_empty() {
        out.push_str(if dry_run {
            "Would also update (they embed a rotated value):\n"
        } else {
            "Also updated (they embed a rotated value):\n"
        });
        for a in &plan.also {
            out.push_str(&format!("  {}\n", a.key));
        }
    }
    if !left.is_empty() {
        out.push_str("Left alone:\n");
        let lw = left.iter().map(|l| l.0.len()).max().unwrap_or(0);
        for (key, why) in left {
            out.push_str(&format!("  {key:<lw$}  {why}\n"));
        }
    }
    out
}

pub fn run_all(ctx: &Ctx, args: AllArgs) -> anyhow::Result<ExitStatus> {
    let c = &args.common;
    let config = ctx.load_config()?;
    let editing = super::crypt::keys(ctx).edit_existing(&config, &args.env)?;
    let loaded = &editing.loaded;
    let label = loaded.path().display().to_string();
    let map = loaded.doc.to_map();
    let mut left: Vec<(String, String)> = Vec::new();
    let mut candidates: Vec<&str> = Vec::new();
    for (&key, &value) in &map {
        match rotate::left_alone_reason(&config.classifier, key, value, c.force) {
            Some(why) => left.push((key.to_owned(), why)),
            None => candidates.push(key),
        }
    }
    let dependents = rotate::dependents(&loaded.doc, &candidates);
    let mut rotated: Vec<(String, String, String)> = Vec::new(); // key, kind, new
    let mut news: Vec<(String, String)> = Vec::new();
    let bar = super::progress(candidates.len() as u64, "generating new values");
    for &key in &candidates {
        bar.inc(1);
        if dependents.contains(&key) {
            continue; // follows the key it embeds, as "also updated"
        }
        let class = config.classifier.classify(key, map.get(key).copied());
        let (format, spec_length, from_config) = format_for(&config, key, &class);
        match rotate::generate(format, map[key], c.length.or(spec_length)) {
            Ok(new) => {
                rotated.push((
                    key.to_owned(),
                    describe(key, format, &class, from_config),
                    new.clone(),
                ));
                news.push((key.to_owned(), new));
            }
            Err(e) => left.push((key.to_owned(), e.to_string())),
        }
    }
    bar.finish_and_clear();
    let plan = rotate::plan_doc(&loaded.doc, &news);
    drop(map);

    let out = all_report(
        &args.env,
        &label,
        &rotated,
        &plan,
        &left,
        (c.show, c.dry_run),
    );
    if c.dry_run || rotated.is_empty() {
        let dry = if c.dry_run { DRY_RUN } else { "" };
        super::emit_masked(&format!("{out}{dry}"))?;
        return Ok(ExitStatus::Clean);
    }
    if !args.yes
        && std::io::stdin().is_terminal()
        && !confirm(&format!(
            "Rotate {} secret{} in {} ({label})?",
            rotated.len(),
            if rotated.len() == 1 { "" } else { "s" },
            args.env
        ))?
    {
        return Err(super::Declined("Rotation cancelled".to_owned()).into());
    }
    let mut targets = vec![RotationTarget { editing, plan }];
    let see = (!c.show).then(|| {
        format!(
            "The new values are masked: print them with `envault export --env {}`.\n",
            args.env
        )
    });
    commit(
        &config,
        &format!("rotate-all --env {}", args.env),
        &mut targets,
        c.keep_previous,
        (out, see),
    )
}

/// The last line of a dry run: the values shown are a preview, not the ones a real run writes.
const DRY_RUN: &str = "Dry run: nothing written. A real run generates its own values, not these.\n";

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The project rotations are kept for, as the root its files must stay in: the repository
/// (the folder holding `.git`) holding the config (without a config, the current folder),
/// else the config's folder (or the current folder).
fn project_of(config: Option<&Config>, cwd: &Path) -> crate::confine::Root {
    let dir = config.map_or(cwd, |c| c.path.parent().unwrap_or(Path::new("/")));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let dir = dir.canonicalize().unwrap_or(dir);
    // The folder holding `.git`, as config discovery finds it: never a work tree that the
    // repository's own config (core.worktree) names elsewhere.
    let project = crate::config::repository_root(&dir).unwrap_or(&dir);
    crate::confine::Root::new(project).allowing(&super::allowed_outside())
}

/// The project of the current folder (see [`project_of`]). A config that exists but does not
/// load is an error, not a reason to look elsewhere.
fn current_project(ctx: &Ctx) -> anyhow::Result<crate::confine::Root> {
    let config = match ctx.load_config() {
        Ok(c) => Some(c),
        Err(crate::config::ConfigError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(project_of(config.as_ref(), &ctx.cwd))
}

/// `rotate --undo --list`: the rotations of this project an undo can restore, newest first.
fn list_undoable(ctx: &Ctx) -> anyhow::Result<ExitStatus> {
    let root = current_project(ctx)?;
    let listed = workspace::rotations(&root)?;
    for w in &listed.skipped {
        super::warn(w);
    }
    let saved = listed.backups;
    let mut out = format!(
        "Rotations that can be undone in {}:\n",
        home_relative(root.dir())
    );
    if saved.is_empty() {
        out.push_str(&format!(
            "  (none in the last {} days)\n",
            crate::rotate::KEEP_DAYS
        ));
    }
    for (i, s) in saved.iter().enumerate() {
        let files: Vec<String> = s
            .backup
            .files()
            .iter()
            .map(|f| ctx.display_path(f))
            .collect();
        // The command is text from a file: control characters are shown escaped.
        out.push_str(&format!(
            "  {}  {:<14}  envault {}  ({} value(s) in {})\n",
            if i == 0 { "next" } else { "    " },
            ago(s.age_secs()),
            crate::output::one_line(&s.backup.command),
            s.backup.changes.len(),
            crate::output::one_line(&files.join(", "))
        ));
    }
    if !saved.is_empty() {
        out.push_str("`envault rotate --undo` restores the one marked next; run it again for the one below.\n");
    }
    emit(&out)?;
    Ok(ExitStatus::Clean)
}

/// An age in words: "just now", "5 min ago", "3 h ago", "2 days ago".
fn ago(secs: u64) -> String {
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// Restores the values of the newest rotation backup of this project.
fn undo(ctx: &Ctx, force: bool) -> anyhow::Result<ExitStatus> {
    let root = current_project(ctx)?;
    let (undone, skipped) =
        super::crypt::keys(ctx).undo_rotation(&root, force, &|p| ctx.display_path(p))?;
    for w in &skipped {
        super::warn(w);
    }
    let names: Vec<String> = undone.files.iter().map(|f| ctx.display_path(f)).collect();
    emit(&format!(
        "Undid `envault {}`: restored {} value(s) in {}\n",
        crate::output::one_line(&undone.command),
        undone.values,
        names.join(", ")
    ))?;
    Ok(ExitStatus::Clean)
}
