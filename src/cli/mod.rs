//! The command line: clap types, one file per command, and the only code that prints, exits
//! or reads envault's own environment variables.

// Messages to stderr never panic: with stderr closed (`2>&1 | head -1`) std's `eprintln!`
// would, turning any outcome into exit 101. These shadow it for every command module.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
macro_rules! eprint {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod accept;
mod check;
mod crypt;
mod diff;
mod edit;
mod errors;
mod git;
mod init;
mod log;
mod matrix;
mod merge_driver;
mod plan;
mod recipients;
mod rotate;
mod run;
mod scan;
mod store;
mod sync;
mod textconv;
mod values;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError};
use crate::output::{self, ColorChoice, Paint};

const EXAMPLES: &str = "\
Examples:
  envault init my-project             create .envault.yml for dev, staging and prod
  envault diff dev prod               key-level differences, secrets masked
  envault diff-files .env.a .env.b    compare two files without a config
  envault sync dev prod --dry-run     preview promoting dev's keys into prod
  envault rotate DB_PASSWORD          new value in every environment, each its own
  envault encrypt prod                seal prod's values; key names stay readable
  envault run --env prod -- ./server  run a program with prod's values
  envault check                       drift, plaintext secrets, recipients: for CI
  envault matrix --only-drift         which key is where, at a glance
  envault git install                 pre-commit hook, merge driver, textconv
  envault store pull prod             a secret store's values into .env.prod
  envault completions bash > ~/.local/share/bash-completion/completions/envault";

/// The version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ENVAULT_GIT_COMMIT"),
    ")"
);

/// Diff, sync and protect the .env files of a project's environments.
#[derive(Debug, Parser)]
#[command(
    name = "envault",
    version = VERSION,
    after_help = EXAMPLES,
    after_long_help = format!("{EXAMPLES}\n\n{}", crate::env_vars::help_section()),
    max_term_width = 100
)]
pub struct Cli {
    /// Use this .envault.yml instead of searching from the current folder upwards.
    #[arg(long, global = true, env = crate::env_vars::ENVAULT_CONFIG.name, value_name = "PATH", help_heading = GLOBAL)]
    config: Option<PathBuf>,

    /// An age identity file (or unencrypted ssh key) to decrypt with, before ENVAULT_IDENTITY,
    /// ENVAULT_IDENTITY_KEY, ~/.config/envault/identity.txt and ~/.ssh keys.
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    identity: Option<PathBuf>,

    /// When to colour output: auto colours a terminal unless NO_COLOR is set or TERM=dumb.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN", help_heading = GLOBAL)]
    color: ColorArg,

    /// On a failure, also print the underlying library's account of it (a store client's
    /// error chain); never values.
    #[arg(long, short = 'v', global = true, help_heading = GLOBAL)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

/// The heading of the options every command takes, listed apart from a command's own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Output formats of commands that report.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::Args),
    Diff(diff::EnvArgs),
    DiffFiles(diff::FileArgs),
    Sync(sync::Args),
    Rotate(rotate::Args),
    RotateAll(rotate::AllArgs),
    Keygen(crypt::KeygenArgs),
    Encrypt(crypt::EncryptArgs),
    Decrypt(crypt::DecryptArgs),
    Run(run::Args),
    Recipients(recipients::Args),
    Accept(accept::Args),
    Edit(edit::Args),
    Textconv(textconv::Args),
    Log(log::Args),
    MergeDriver(merge_driver::Args),
    Scan(scan::Args),
    Git(git::Args),
    Store(store::Args),
    Check(check::Args),
    Matrix(matrix::Args),
    Trust(store::TrustArgs),
    Get(values::GetArgs),
    Set(values::SetArgs),
    Export(values::ExportArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Write the man pages (roff): envault(1) on stdout, or every page into a folder.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault man | man -l -\n  envault man --dir /usr/local/share/man/man1"
)]
struct ManArgs {
    /// Write envault.1 and a page per command (envault-diff.1, …) into this folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn man(args: ManArgs) -> anyhow::Result<ExitStatus> {
    // The variables get a section of their own (ENVIRONMENT), not the plain text of --help.
    let mut cmd = Cli::command().after_long_help(EXAMPLES);
    // Building names every command as users type it (`envault store push`, the synopsis) and
    // as its page is called (`envault-store-push`), and gives each the global options.
    cmd.build();
    let render = |c: &clap::Command| -> anyhow::Result<(String, Vec<u8>)> {
        // The footer names the page (`envault-store-push 0.1.0`), not the bare `push`; the
        // synopsis keeps the name as typed (its bin name, set by the build); every page shows
        // the version.
        let page_name = c.get_display_name().unwrap_or(c.get_name()).to_owned();
        let man = clap_mangen::Man::new(c.clone().name(page_name).version(VERSION));
        let mut out = Vec::new();
        man.render(&mut out)?;
        // ENVIRONMENT and EXIT STATUS go before VERSION, as man-pages(7) orders sections.
        // clap_mangen puts a command's examples (after_help) under EXTRA.
        let mut page = String::from_utf8(out)?.replace("\n.SH EXTRA\n", "\n.SH EXAMPLES\n");
        let at = page.find("\n.SH VERSION").map_or(page.len(), |i| i + 1);
        page.insert_str(at, &format!("{}{MAN_EXIT_STATUS}", man_environment()));
        Ok((man.get_filename(), page.into_bytes()))
    };
    match args.dir {
        None => {
            io::stdout().write_all(&render(&cmd)?.1)?;
        }
        Some(dir) => {
            let mut pages = Vec::new();
            let mut stack = vec![&cmd];
            while let Some(c) = stack.pop() {
                if c.is_hide_set() || c.get_name() == "help" {
                    continue;
                }
                pages.push(render(c)?);
                stack.extend(c.get_subcommands());
            }
            pages.sort();
            crate::fsutil::write_files_in(&dir, &pages)?;
            eprintln!(
                "Wrote {} man pages to {}; read one with `man -l {}`, or put the folder in a man1/ \
                 folder on MANPATH for `man envault-diff`.",
                pages.len(),
                dir.display(),
                dir.join("envault.1").display()
            );
        }
    }
    Ok(ExitStatus::Clean)
}

/// Every page's EXIT STATUS section (roff).
const MAN_EXIT_STATUS: &str = ".SH \"EXIT STATUS\"
.TP
\\fB0\\fR
Success: nothing to report (no differences, no findings), or the change was written.
.TP
\\fB1\\fR
Something to report: differences (diff, diff\\-files), problems (check), findings (scan), or a
confirmation answered no. Nothing was written.
.TP
\\fB2\\fR
An error: bad input, a file that could not be read or written, a store that refused. The
message says where (file:line:column, the key, the store) and what to do; nothing was written.
";

/// The man page's ENVIRONMENT section (roff), from `env_vars::ALL`.
fn man_environment() -> String {
    // Text into roff: a backslash is `\e`; a line must not start with `.` or `'`.
    let roff = |s: &str| {
        let s = s.replace('\\', "\\e").replace('-', "\\-");
        if s.starts_with(['.', '\'']) {
            format!("\\&{s}")
        } else {
            s
        }
    };
    let mut out = String::from(".SH ENVIRONMENT\n");
    for v in crate::env_vars::ALL {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff(v.name),
            roff(v.about)
        ));
    }
    out
}

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  envault completions bash > ~/.local/share/bash-completion/completions/envault\n  envault completions zsh > ~/.zfunc/_envault\n  envault completions fish > ~/.config/fish/completions/envault.fish"
)]
struct CompletionsArgs {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

/// What every command needs from the process: where it runs and how to print.
pub struct Ctx {
    cwd: PathBuf,
    /// The user's keys, identities loaded once, the first time a command needs them.
    keys: std::cell::OnceCell<crate::workspace::Keys<'static>>,
    config_flag: Option<PathBuf>,
    identity_flag: Option<PathBuf>,
    color: ColorChoice,
    stdout_tty: bool,
    no_color: bool,
    term_dumb: bool,
}

impl Ctx {
    fn paint(&self, format: Format) -> Paint {
        Paint {
            color: output::use_color(
                self.color,
                self.stdout_tty,
                self.no_color,
                self.term_dumb,
                format == Format::Json,
            ),
        }
    }

    /// A path as users read it: relative to the current folder when it lies below it.
    fn display_path(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.cwd)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn load_config(&self) -> Result<Config, ConfigError> {
        let path = match &self.config_flag {
            Some(p) => self.cwd.join(p),
            None => self.discover_config()?,
        };
        self.load_config_at(&path)
    }

    /// Finds the configuration for the current folder (never above the home folder outside a
    /// repository).
    fn discover_config(&self) -> Result<std::path::PathBuf, ConfigError> {
        Config::discover(&self.cwd, crypt::home_dir().as_deref())
    }

    /// Reads the configuration at `path`, its files confined to its repository, envault's own
    /// data folder (`$XDG_DATA_HOME/envault`, for `file` stores), and the folders the user
    /// allowed in their own config (`allowed-paths`, one absolute folder a line).
    fn load_config_at(&self, path: &std::path::Path) -> Result<Config, ConfigError> {
        let mut config = Config::load_allowing(path, &allowed_outside())?;
        // Name env files as users see them from here (`.env.prod`, not an absolute path).
        for env in config.environments.values_mut() {
            if let Ok(rel) = env.file.strip_prefix(&self.cwd) {
                env.file = rel.to_path_buf();
            }
        }
        Ok(config)
    }
}

/// Writes to stdout; a closed pipe surfaces as an error that `main` turns into a quiet exit.
fn emit(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A progress bar on stderr for `len` steps, drawn only when stderr is a terminal.
pub(crate) fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    if !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

/// A spinner on stderr for work of unknown length, drawn only when stderr is a terminal.
pub(crate) fn spinner(what: &str) -> indicatif::ProgressBar {
    if !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(what.to_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    pb
}

/// How a command ended, as its process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done, and nothing was found.
    Clean,
    /// 1: something was found: differences, problems, a conflict, a missing key.
    Found,
    /// 2: an error (bad input, a file or store that failed); nothing was lost.
    Error,
    /// 126 or 127 (as a shell reports it): `envault run` could not start the program.
    CannotRun { not_found: bool },
}

impl ExitStatus {
    /// `Found` when `found`, else `Clean`.
    pub fn found_if(found: bool) -> ExitStatus {
        if found {
            ExitStatus::Found
        } else {
            ExitStatus::Clean
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(match s {
            ExitStatus::Clean => 0,
            ExitStatus::Found => 1,
            ExitStatus::Error => 2,
            ExitStatus::CannotRun { not_found: true } => 127,
            ExitStatus::CannotRun { not_found: false } => 126,
        })
    }
}

fn warn(msg: &str) {
    match held().as_mut() {
        Some(h) => h.lines.push(format!("warning: {msg}")),
        None => eprintln!("warning: {msg}"),
    }
}

/// What stderr holds back while a report is being made (see [`warnings_after_report`]):
/// warnings, and the note on masked values, which comes last.
struct Held {
    lines: Vec<String>,
    note: Option<String>,
}

static HELD: std::sync::Mutex<Option<Held>> = std::sync::Mutex::new(None);

/// What is held now (a panic elsewhere while holding the lock leaves the list usable).
fn held() -> std::sync::MutexGuard<'static, Option<Held>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Holds warnings back until it is dropped, then prints them: a command whose output is a
/// report (diff, sync) prints its warnings after it, where they stay in view, and before any
/// error the command ends with.
#[must_use]
pub(crate) struct WarningsAfterReport(());

pub(crate) fn warnings_after_report() -> WarningsAfterReport {
    held().get_or_insert_with(|| Held {
        lines: Vec::new(),
        note: None,
    });
    WarningsAfterReport(())
}

impl Drop for WarningsAfterReport {
    fn drop(&mut self) {
        if let Some(h) = held().take() {
            for line in h.lines.iter().chain(&h.note) {
                eprintln!("{line}");
            }
        }
    }
}

/// The folders outside a project its files may be in: the user's allowances and envault's
/// data folder.
pub(crate) fn allowed_outside() -> Vec<PathBuf> {
    let mut allowed = crate::settings::allowed_paths();
    allowed.extend(crate::env_vars::folders().data.clone());
    allowed
}

/// Prints `text` (a report in which values may be masked), then, when a value was masked,
/// one line on stderr saying how to see it (after any warnings held back).
fn emit_masked(text: &str) -> io::Result<()> {
    emit(text)?;
    if text.contains(crate::dotenv::MASK) {
        let note = format!(
            "note: values shown as {} are masked; add --show-secrets (or --show) to print them",
            crate::dotenv::MASK
        );
        match held().as_mut() {
            Some(h) => h.note = Some(note),
            None => eprintln!("{note}"),
        }
    }
    Ok(())
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Clean
            }
            .into();
        }
    };
    VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    let ctx = Ctx {
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        keys: std::cell::OnceCell::new(),
        config_flag: cli.config.clone(),
        identity_flag: cli.identity.clone(),
        color: match cli.color {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        },
        stdout_tty: io::stdout().is_terminal(),
        no_color: crate::env_vars::NO_COLOR.os().is_some(),
        term_dumb: crate::env_vars::TERM.is("dumb"),
    };
    // Commands that only read take shared folder locks; the others exclusive ones, from their
    // first read to their last write (fsutil).
    let read_only = matches!(
        cli.command,
        Command::Diff(_)
            | Command::DiffFiles(_)
            | Command::Run(_)
            | Command::Textconv(_)
            | Command::Log(_)
            | Command::Scan(_)
            | Command::Matrix(_)
            | Command::Get(_)
            | Command::Export(_)
            | Command::Completions(_)
            | Command::Man(_)
    );
    crate::fsutil::set_lock_mode(if read_only {
        crate::fsutil::LockMode::Shared
    } else {
        crate::fsutil::LockMode::Exclusive
    });
    crate::fsutil::on_lock_wait(|dir| {
        eprintln!(
            "envault: waiting for another envault command that holds {} (up to {} s)…",
            dir.display(),
            crate::fsutil::LOCK_TIMEOUT.as_secs()
        );
    });
    let result = match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Diff(a) => diff::run_envs(&ctx, a),
        Command::DiffFiles(a) => diff::run_files(&ctx, a),
        Command::Sync(a) => sync::run(&ctx, a),
        Command::Rotate(a) => rotate::run(&ctx, a),
        Command::RotateAll(a) => rotate::run_all(&ctx, a),
        Command::Keygen(a) => crypt::keygen(&ctx, a),
        Command::Encrypt(a) => crypt::encrypt(&ctx, a),
        Command::Decrypt(a) => crypt::decrypt(&ctx, a),
        Command::Run(a) => run::run(&ctx, a),
        Command::Recipients(a) => recipients::run(&ctx, a),
        Command::Accept(a) => accept::run(&ctx, a),
        Command::Edit(a) => edit::run(&ctx, a),
        Command::Textconv(a) => textconv::run(&ctx, a),
        Command::Log(a) => log::run(&ctx, a),
        Command::MergeDriver(a) => merge_driver::run(&ctx, a),
        Command::Scan(a) => scan::run(&ctx, a),
        Command::Git(a) => git::run(&ctx, a),
        Command::Store(a) => store::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Matrix(a) => matrix::run(&ctx, a),
        Command::Trust(a) => store::trust(&ctx, a),
        Command::Get(a) => values::get(&ctx, a),
        Command::Set(a) => values::set(&ctx, a),
        Command::Export(a) => values::export(&ctx, a),
        Command::Man(a) => man(a),
        Command::Completions(a) => {
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "envault", &mut buf);
            emit(&String::from_utf8_lossy(&buf))
                .map(|()| ExitStatus::Clean)
                .map_err(Into::into)
        }
    };
    match result {
        Ok(status) => status.into(),
        Err(e) if is_broken_pipe(&e) => ExitStatus::Clean.into(),
        // Answering no is a choice, not a failure: said plainly, exit 1.
        Err(e) if e.downcast_ref::<Declined>().is_some() => {
            eprintln!("{e}");
            ExitStatus::Found.into()
        }
        Err(e) => {
            report(&e);
            ExitStatus::Error.into()
        }
    }
}

/// The user answered no to a confirmation: nothing was written.
#[derive(Debug)]
pub(crate) struct Declined(pub String);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; nothing was written", self.0)
    }
}

impl std::error::Error for Declined {}

impl crate::error::Hint for Declined {
    fn hint(&self) -> Option<String> {
        None
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints `error:`, its causes, the offending line (masked) and a hint.
pub(crate) fn report(e: &anyhow::Error) {
    let mut text = format!("error: {e}\n");
    for cause in e.chain().skip(1) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    if let Some(x) = errors::excerpt_in(e.chain()) {
        text.push_str(&format!("{:>5} | {}\n", x.line, x.text));
    }
    let hint = errors::hint_in(e.chain());
    if let Some(h) = hint {
        text.push_str(&format!("hint: {h}\n"));
    }
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(d) = crate::store::StoreError::detail_in(e.chain()) {
            text.push_str(&format!("detail: {}\n", output::one_line(&d)));
        }
    }
    eprint!("{text}");
}

/// `--verbose`: set once from the command line, before any command runs.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn hinted(msg: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    crate::error::Hinted::new(msg, hint).into()
}

/// Warns that a written value reads differently in some dotenv libraries.
pub(crate) fn warn_quoting(key: &str, peers: &[crate::dotenv::Peer]) {
    if peers.is_empty() {
        return;
    }
    let mut names: Vec<String> = peers.iter().map(ToString::to_string).collect();
    let last = names.pop().unwrap_or_default();
    let names = if names.is_empty() {
        last
    } else {
        format!("{} and {last}", names.join(", "))
    };
    warn(&format!(
        "{key}: no quoting reads the same in every dotenv library; written for dotenvy, {names} would read it differently (see docs/dotenv-dialect.md)"
    ));
}

/// Warns about keys defined more than once in a loaded file, and about lines kept as they are
/// because dotenvy refuses them (what the other readers read there, values masked).
fn warn_duplicates(l: &crate::source::Loaded) {
    let (label, doc) = (&l.label, &l.doc);
    for o in doc.opaque_lines() {
        warn(&format!(
            "{}:{}: {}",
            l.path().display(),
            o.line,
            o.describe()
        ));
    }
    for d in doc.duplicates() {
        let lines: Vec<String> = d.lines.iter().map(usize::to_string).collect();
        warn(&format!(
            "{label}: {} is defined on lines {}; the last one (line {}) is used",
            d.key,
            lines.join(", "),
            d.lines.last().copied().unwrap_or_default()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument and option of every command, nested ones included, says what it is.
    #[test]
    fn every_argument_and_option_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !a.is_hide_set() && !builtin && a.get_help().is_none() {
                    missing.push(format!("{path}: {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "envault", &mut missing);
        assert!(
            missing.is_empty(),
            "no description:\n{}",
            missing.join("\n")
        );
    }

    /// The global options are under their own heading in every command's help.
    #[test]
    fn global_options_are_listed_apart() {
        let mut cmd = Cli::command();
        cmd.build();
        let diff = cmd.find_subcommand_mut("diff").expect("diff");
        let help = diff.render_help().to_string();
        let global = help.find("Global options:").expect("a heading");
        assert!(
            help.find("--show-secrets").is_some_and(|i| i < global),
            "{help}"
        );
        assert!(help[global..].contains("--identity"), "{help}");
    }
}
