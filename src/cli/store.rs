//! `envault store list|get|set|delete|push|pull` and `envault trust`: secret stores declared in
//! .envault.yml. The tokio runtime exists only while one of these runs.

use serde_json::json;

use super::plan::{apply_and_write, make_plan, print_plan, PlanArgs};
use super::{emit, hinted, warn, Ctx, ExitStatus, Format};
use crate::config::{Config, StoreSpec};
use crate::dotenv::{Document, MASK};
use crate::source::{self, Loaded};
use crate::store::{self, Entries, SecretStore, Store};

/// Work with the secret stores declared under `stores:` in .envault.yml.
///
/// Credentials come from each ecosystem's usual places (the AWS credential chain; VAULT_ADDR,
/// VAULT_TOKEN, ~/.vault-token; DOPPLER_TOKEN; OP_CONNECT_HOST, OP_CONNECT_TOKEN) and are only
/// sent to endpoints you trust (see `envault trust`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// List keys (values masked) of every store, or of one.
    #[command(
        after_help = "Examples:\n  envault store list\n  envault store list --prefix /production/\n  envault store list --store my-vault --format json"
    )]
    List {
        /// Only this store, as named under `stores:` in .envault.yml (default: every store).
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
        /// An absolute path in the store's own namespace (an SSM parameter path, a Vault path
        /// under the mount) instead of the configured one.
        #[arg(long)]
        prefix: Option<String>,
        /// Show secret values instead of masking them.
        #[arg(long, visible_alias = "show")]
        show_secrets: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print one raw value on stdout (for scripts).
    #[command(
        after_help = "Examples:\n  envault store get DB_PASSWORD --store my-vault\n  export TOKEN=\"$(envault store get API_TOKEN --store doppler)\""
    )]
    Get {
        /// The key to print.
        key: String,
        /// The store, as named under `stores:` in .envault.yml (default: the only one).
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
    },
    /// Set one value; read from stdin when VALUE is `-` or omitted.
    #[command(
        after_help = "Examples:\n  envault store set DB_PASSWORD new_value --store my-vault\n  printf %s \"$NEW\" | envault store set DB_PASSWORD --store my-vault\n  envault store set DB_PASSWORD --store sm-prod --force     (a secret AWS rotates)"
    )]
    Set {
        /// The key to set (letters, digits, `_` and `.`; not starting with a digit).
        key: String,
        /// The new value; `-` or nothing reads it from stdin (on a terminal: asked for, not
        /// shown), so it never has to be on a command line.
        value: Option<String>,
        /// The store, as named under `stores:` in .envault.yml (default: the only one).
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
        /// Set an empty value on purpose (refused otherwise: most often a failed pipe).
        #[arg(long)]
        allow_empty: bool,
        /// Write keys that the store's own service rotates (AWS Secrets Manager with rotation
        /// turned on); without it such keys are refused.
        #[arg(long)]
        force: bool,
    },
    /// Delete one key.
    #[command(
        after_help = "Examples:\n  envault store delete OLD_FLAG --store ssm-prod\n  envault store delete DB_PASSWORD --store sm-prod --force     (a secret AWS rotates)"
    )]
    Delete {
        /// The key to delete.
        key: String,
        /// The store, as named under `stores:` in .envault.yml (default: the only one).
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
        /// Write keys that the store's own service rotates (AWS Secrets Manager with rotation
        /// turned on); without it such keys are refused.
        #[arg(long)]
        force: bool,
    },
    /// Write an environment's keys into its store: the same plan as `sync`.
    #[command(
        after_help = "Examples:\n  envault store push prod --dry-run\n  envault store push prod --store ssm-prod --allow-delete\n  envault store push prod --store sm-prod --force     (also writes secrets AWS rotates)"
    )]
    Push {
        /// The environment whose keys are written (a name under `environments:`).
        env: String,
        /// Default: the environment's `store:`.
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
        /// Write keys that the store's own service rotates (AWS Secrets Manager with rotation
        /// turned on); without it such keys are refused.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        plan: PlanArgs,
    },
    /// Write a store's keys into an environment's file (sealed when it is encrypted).
    #[command(
        after_help = "Examples:\n  envault store pull prod --dry-run\n  envault store pull prod --store ssm-prod"
    )]
    Pull {
        /// The environment whose file is written (a name under `environments:`).
        env: String,
        /// Default: the environment's `store:`.
        #[arg(long, value_name = "STORE")]
        store: Option<String>,
        #[command(flatten)]
        plan: PlanArgs,
    },
}

/// Trust a store's endpoint with your credentials.
///
/// .envault.yml comes from pull requests, so an endpoint it names does not get your token just
/// because it is there. This shows the endpoint and records it in your own config
/// (~/.config/envault/trusted-endpoints). In CI, list endpoints in ENVAULT_TRUSTED_ENDPOINTS.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault trust my-vault\n  ENVAULT_TRUSTED_ENDPOINTS=https://vault.internal:8200 envault store list   (CI)"
)]
pub struct TrustArgs {
    /// The store whose endpoint to trust, as named under `stores:` in .envault.yml.
    store: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The endpoint a store's spec names, for `trust` and messages.
fn endpoint_of(spec: &StoreSpec) -> Option<String> {
    match spec {
        StoreSpec::AwsSsm { endpoint_url, .. }
        | StoreSpec::AwsSecretsmanager { endpoint_url, .. } => endpoint_url.clone(),
        StoreSpec::Vault { address, .. } => address.clone(),
        StoreSpec::Doppler { api_url, .. } => api_url.clone(),
        StoreSpec::Onepassword { connect_host, .. } => connect_host.clone(),
        StoreSpec::File { .. } => None,
    }
}

fn spec<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c StoreSpec> {
    config.stores.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.stores.keys().map(String::as_str).collect();
        let hint = match crate::config::suggest(name, known.iter().copied()) {
            Some(s) => format!("did you mean '{s}'?"),
            None if known.is_empty() => "declare stores under `stores:` in .envault.yml".into(),
            None => format!("known stores: {}", known.join(", ")),
        };
        hinted(format!("unknown store '{name}'"), hint)
    })
}

/// The store to use when none is named: the only one declared.
fn only_store(config: &Config, named: Option<&str>) -> anyhow::Result<String> {
    match named {
        Some(n) => Ok(n.to_owned()),
        None if config.stores.len() == 1 => {
            Ok(config.stores.keys().next().cloned().unwrap_or_default())
        }
        None => Err(hinted(
            "which store?",
            format!(
                "name one with --store ({})",
                config.stores.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

async fn open(ctx: &Ctx, config: &Config, name: &str) -> anyhow::Result<Store> {
    let spec = spec(config, name)?;
    Ok(super::crypt::keys(ctx)
        .open_store(config, name, spec)
        .await?)
}

/// Whether every value store `name` holds is a secret unless its key is declared public
/// (a secrets manager's), for output that shows them.
pub(crate) fn holds_only_secrets(config: &Config, name: &str) -> bool {
    matches!(
        config.stores.get(name),
        Some(StoreSpec::AwsSecretsmanager { .. })
    )
}

/// `config` as output about store `name` masks with (see [`holds_only_secrets`]).
pub(crate) fn masking<'c>(config: &'c Config, name: &str) -> std::borrow::Cow<'c, Config> {
    if !holds_only_secrets(config, name) {
        return std::borrow::Cow::Borrowed(config);
    }
    let mut c = config.clone();
    c.classifier = config.classifier.secret_unless_public();
    std::borrow::Cow::Owned(c)
}

/// The store's entries as an env document (keys that cannot be env keys are left out, with a
/// warning).
fn entries_doc(store: &str, entries: &Entries) -> anyhow::Result<Document> {
    let (doc, left_out) = store::entries_doc(entries)?;
    for k in left_out {
        warn(&format!(
            "store '{store}': `{k}` is not a valid env key name; left out"
        ));
    }
    Ok(doc)
}

/// Everything the store `name` holds under its configured path.
fn list_store(ctx: &Ctx, config: &Config, name: &str) -> anyhow::Result<Entries> {
    let spin = super::spinner(&format!("reading store '{name}'"));
    let r = runtime()?.block_on(async {
        let s = open(ctx, config, name).await?;
        let entries = s.list(None).await?;
        tell(&s);
        anyhow::Ok(entries)
    });
    spin.finish_and_clear();
    r
}

/// `store:NAME` loaded as an environment (for `diff`).
pub(crate) fn load_store(ctx: &Ctx, config: &Config, name: &str) -> anyhow::Result<Loaded> {
    let entries = list_store(ctx, config, name)?;
    Ok(Loaded::detached(
        format!("store:{name}"),
        entries_doc(name, &entries)?,
    ))
}

fn store_for_env(config: &Config, env: &str, named: Option<&str>) -> anyhow::Result<String> {
    let e = config.env(env)?;
    match named.map(str::to_owned).or_else(|| e.store.clone()) {
        Some(s) => Ok(s),
        None => only_store(config, None).map_err(|_| {
            hinted(
                format!("environment '{env}' has no store"),
                format!("name one with --store, or set `store:` on '{env}' in .envault.yml"),
            )
        }),
    }
}

/// `store pull`: the store's keys into the environment's file.
pub(crate) fn pull(
    ctx: &Ctx,
    config: &Config,
    env: &str,
    named: Option<&str>,
    plan_args: &PlanArgs,
) -> anyhow::Result<ExitStatus> {
    let name = store_for_env(config, env, named)?;
    // Nothing is written locally unless the whole store was read.
    let src = list_store(ctx, config, &name)?;
    let src_doc = entries_doc(&name, &src)?;
    let mut tgt = super::crypt::keys(ctx).edit(config, env)?;
    let label = format!("store:{name}");
    // The store holds this same environment: its values are not another environment's.
    let plan = make_plan(
        config,
        plan_args,
        true,
        (env, &src_doc),
        (env, &tgt.loaded.doc),
    );
    let mut wrote = None;
    if !plan_args.dry_run && plan.changes_target() {
        wrote = Some(apply_and_write(ctx, config, &plan, &src_doc, &mut tgt)?);
    }
    print_plan(
        ctx,
        &masking(config, &name),
        plan_args,
        &plan,
        (&label, env),
        wrote,
    )?;
    Ok(ExitStatus::Clean)
}

/// `store push`: the environment's keys into the store. Keys the store's service rotates are
/// refused unless `force`.
pub(crate) fn push(
    ctx: &Ctx,
    config: &Config,
    env: &str,
    named: Option<&str>,
    plan_args: &PlanArgs,
    force: bool,
) -> anyhow::Result<ExitStatus> {
    let name = store_for_env(config, env, named)?;
    let src = super::crypt::keys(ctx).read(config, env)?;
    let rt = runtime()?;
    let label = format!("store:{name}");
    rt.block_on(async {
        let s = open(ctx, config, &name).await?;
        let current = s.list(None).await?;
        tell(&s);
        let tgt_doc = entries_doc(&name, &current)?;
        let plan = make_plan(config, plan_args, true, (env, &src.doc), (env, &tgt_doc));
        let (sets, deletes) = plan.writes();
        let written: Vec<String> = sets
            .iter()
            .map(|(k, _)| k.to_string())
            .chain(deletes.iter().map(|k| k.to_string()))
            .collect();
        if plan_args.dry_run {
            // The preview says what the real push would refuse.
            if let Err(e) = refuse_rotated(&s, &name, &written, force).await {
                warn(&format!("{e} (the push would stop here)"));
            }
        }
        let mut wrote = None;
        if !plan_args.dry_run && plan.changes_target() {
            let public = |k: &str| !config.classifier.is_declared_public(k);
            refuse_rotated(&s, &name, &written, force).await?;
            let spin = super::spinner(&format!(
                "writing {} keys to store '{name}'",
                sets.len() + deletes.len()
            ));
            let r = store::push(&s, &plan, &public).await;
            spin.finish_and_clear();
            tell(&s);
            wrote = Some(format!(
                "{} key(s) to store '{name}' ({})",
                r?,
                s.named().endpoint
            ));
        }
        print_plan(
            ctx,
            &masking(config, &name),
            plan_args,
            &plan,
            (env, &label),
            wrote,
        )?;
        anyhow::Ok(ExitStatus::Clean)
    })
}

/// Refuses to write keys that the store's own service rotates, unless `force`.
async fn refuse_rotated(s: &Store, name: &str, keys: &[String], force: bool) -> anyhow::Result<()> {
    if force || keys.is_empty() {
        return Ok(());
    }
    let rotated = s.rotated(keys).await?;
    if rotated.is_empty() {
        return Ok(());
    }
    Err(hinted(
        format!(
            "store '{name}': AWS rotates {} (rotation is turned on); a value written by hand is \
             replaced at the next rotation and can break it (nothing was written)",
            rotated.join(", ")
        ),
        "change it through its rotation (`aws secretsmanager rotate-secret`), or write it anyway with \
         `envault store set … --force` / `envault store push … --force`",
    ))
}

/// Prints what the store's writes did that the user should know.
fn tell(s: &Store) {
    for note in s.notes() {
        warn(&note);
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    match args.command {
        Sub::Push {
            env,
            store,
            force,
            plan,
        } => push(ctx, &config, &env, store.as_deref(), &plan, force),
        Sub::Pull { env, store, plan } => pull(ctx, &config, &env, store.as_deref(), &plan),
        Sub::Get { key, store } => {
            let name = only_store(&config, store.as_deref())?;
            let v = runtime()?.block_on(async {
                let s = open(ctx, &config, &name).await?;
                anyhow::Ok(s.get(&key).await?)
            })?;
            match v {
                Some(v) => {
                    emit(&format!("{}\n", v.expose()))?;
                    Ok(ExitStatus::Clean)
                }
                None => Err(hinted(
                    format!("store '{name}' has no {key}"),
                    format!("see what it holds with `envault store list --store {name}`"),
                )),
            }
        }
        Sub::Set {
            key,
            value,
            store,
            force,
            allow_empty,
        } => {
            let name = only_store(&config, store.as_deref())?;
            if !crate::dotenv::is_valid_key(&key) {
                return Err(hinted(
                    format!("`{key}` is not a valid key name"),
                    "a key starts with a letter or _ and holds letters, digits, _ and .",
                ));
            }
            let value = store::Secret::new(super::values::read_value(
                value,
                &format!("{key} in store '{name}'"),
                allow_empty,
            )?);
            // The file store is an env file inside: the same quoting warning as a pull.
            let unportable = matches!(config.stores[&name], StoreSpec::File { .. })
                .then(|| crate::dotenv::quote::render(value.expose(), None).disagree)
                .unwrap_or_default();
            runtime()?.block_on(async {
                let s = open(ctx, &config, &name).await?;
                refuse_rotated(&s, &name, std::slice::from_ref(&key), force).await?;
                let public = |k: &str| !config.classifier.is_declared_public(k);
                s.set_many(&[(key.clone(), value)], &public).await?;
                tell(&s);
                super::warn_quoting(&key, &unportable);
                eprintln!("Set {key} in store '{name}'.");
                anyhow::Ok(ExitStatus::Clean)
            })
        }
        Sub::Delete { key, store, force } => {
            let name = only_store(&config, store.as_deref())?;
            runtime()?.block_on(async {
                let s = open(ctx, &config, &name).await?;
                refuse_rotated(&s, &name, std::slice::from_ref(&key), force).await?;
                if s.get(&key).await?.is_none() {
                    return Err(hinted(
                        format!("store '{name}' has no {key}"),
                        "nothing was deleted",
                    ));
                }
                s.delete_many(std::slice::from_ref(&key)).await?;
                tell(&s);
                eprintln!("Deleted {key} from store '{name}'.");
                anyhow::Ok(ExitStatus::Clean)
            })
        }
        Sub::List {
            store,
            prefix,
            show_secrets,
            format,
        } => list(ctx, &config, store, prefix.as_deref(), show_secrets, format),
    }
}

/// `store list`: every store's keys (or one store's), secrets masked unless asked for; a
/// store that fails is reported and the others are still listed.
fn list(
    ctx: &Ctx,
    config: &Config,
    store: Option<String>,
    prefix: Option<&str>,
    show_secrets: bool,
    format: Format,
) -> anyhow::Result<ExitStatus> {
    let names: Vec<String> = match store {
        Some(s) => {
            spec(config, &s)?;
            vec![s]
        }
        None if config.stores.is_empty() => {
            return Err(hinted(
                "no stores are declared",
                "declare them under `stores:` in .envault.yml (see the README)",
            ))
        }
        None => config.stores.keys().cloned().collect(),
    };
    let rt = runtime()?;
    let mut failed = 0;
    let mut text = String::new();
    let mut items = Vec::new();
    let paint = ctx.paint(format);
    for name in &names {
        let r = rt.block_on(async {
            let s = open(ctx, config, name).await?;
            if prefix.is_some() && !s.capabilities().paths {
                warn(&format!(
                    "store '{name}' has no paths; --prefix filters its key names"
                ));
            }
            let entries = s.list(prefix).await?;
            tell(&s);
            let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
            let rotated = s.rotated(&keys).await?;
            anyhow::Ok((s.named().endpoint.clone(), entries, rotated))
        });
        let (endpoint, entries, rotated) = match r {
            Ok(x) => x,
            Err(e) => {
                failed += 1;
                super::report(&e);
                continue;
            }
        };
        // Everything a secrets manager holds is a secret unless the project declares it public.
        let masking = masking(config, name);
        let shown = |k: &str, v: &str| -> String {
            if !show_secrets && masking.classifier.masks(k, &[v]) {
                MASK.to_owned()
            } else {
                v.to_owned()
            }
        };
        let kind = config.stores[name].type_name();
        text.push_str(&format!(
            "{} ({kind}, {endpoint}): {} key(s)\n",
            paint.bold(&format!("store '{name}'")),
            entries.len()
        ));
        // One line per key: a value's line breaks and control characters are escaped, so
        // one value cannot look like several entries (JSON keeps the value as it is).
        let rotates = |k: &String| rotated.contains(k);
        for (k, v) in &entries {
            text.push_str(&format!(
                "  {}={}{}\n",
                crate::output::one_line(k),
                crate::output::one_line(&shown(k, v.expose())),
                if rotates(k) {
                    paint.dim("  (rotated by AWS)").into_owned()
                } else {
                    String::new()
                }
            ));
        }
        items.push(json!({
            "store": name,
            "type": kind,
            "endpoint": endpoint,
            "keys": entries.iter().map(|(k, v)| {
                let mut o = json!({"key": k, "value": shown(k, v.expose())});
                if rotates(k) {
                    o["rotated_by_service"] = json!(true);
                }
                o
            }).collect::<Vec<_>>(),
        }));
    }
    match format {
        Format::Text => super::emit_masked(&text)?,
        Format::Json => emit(&(serde_json::to_string_pretty(&json!({"stores": items}))? + "\n"))?,
    }
    Ok(if failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Clean
    })
}

pub fn trust(ctx: &Ctx, args: TrustArgs) -> anyhow::Result<ExitStatus> {
    let config = ctx.load_config()?;
    let spec = spec(&config, &args.store)?;
    let Some(url) = endpoint_of(spec) else {
        emit(&format!(
            "store '{}' uses its service's own endpoint (or the ecosystem's setting); nothing to trust\n",
            args.store
        ))?;
        return Ok(ExitStatus::Clean);
    };
    let origin = store::trust::origin(&url).ok_or_else(|| {
        hinted(
            format!("`{url}` is not a valid URL"),
            "fix the store's endpoint in .envault.yml",
        )
    })?;
    let path = crate::settings::file(store::trust::FILE).ok_or_else(|| {
        hinted(
            "cannot find your home folder, so there is no place to record trust",
            "set HOME (or XDG_CONFIG_HOME), or list the endpoint in ENVAULT_TRUSTED_ENDPOINTS",
        )
    })?;
    let note = format!("store '{}' of {}", args.store, config.path.display());
    if !store::trust::record(&path, &origin, &note)? {
        emit(&format!("{origin} is already trusted\n"))?;
        return Ok(ExitStatus::Clean);
    }
    emit(&format!(
        "Trusted {origin} (store '{}'): your credentials for it may now be sent there.\nRecorded in {}.\n",
        args.store,
        path.display()
    ))?;
    Ok(ExitStatus::Clean)
}

/// `check --stores`: for each environment that names a store, the keys that differ between
/// the file and the store. Values the user cannot decrypt are compared as keys only.
pub(crate) fn drift(
    ctx: &Ctx,
    config: &Config,
    root: &std::path::Path,
) -> anyhow::Result<Vec<crate::check::Problem>> {
    let mut out = Vec::new();
    for env in config.environments.values() {
        let Some(store) = &env.store else { continue };
        let mut l = source::load_env(config, &env.name, true)?;
        let opened = super::crypt::decrypt_for_reading(ctx, &mut l, None).is_ok();
        let entries = list_store(ctx, config, store)?;
        let store_doc = entries_doc(store, &entries)?;
        let path = l
            .path()
            .strip_prefix(root)
            .unwrap_or(l.path())
            .display()
            .to_string();
        out.extend(crate::check::store_drift(
            (&env.name, &path, &l.doc),
            (store, &store_doc),
            opened,
        ));
    }
    Ok(out)
}
