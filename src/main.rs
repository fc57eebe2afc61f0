//! The `memoryd` binary: parses flags, sets up logging, dispatches to a subcommand, and turns
//! the outcome into an exit code. Logic lives in the library.

use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use memoryd::cli::{self, Global};
use tracing_subscriber::EnvFilter;

/// A local-first memory server for AI agents (MCP over stdio and Streamable HTTP).
#[derive(Debug, Parser)]
#[command(name = "memoryd", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,

    /// Log format on stderr
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "MEMORYD_LOG_FORMAT"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP over Streamable HTTP at /mcp (127.0.0.1:3000 by default)
    Serve(cli::serve::ServeArgs),
    /// Serve MCP over stdin/stdout (for Claude Desktop, Claude Code, Cursor, …); forwards to
    /// the daemon when one serves the data dir
    Stdio(cli::stdio::StdioArgs),
    /// Store a memory
    Store(cli::store::StoreCmd),
    /// Search memories
    Search(cli::search::SearchCmd),
    /// Show the context bundle rehydrate_memory gives a role for a task
    Rehydrate(cli::rehydrate::RehydrateCmd),
    /// Show one memory
    Get(cli::get::GetCmd),
    /// Change fields of a memory
    Update(cli::update::UpdateCmd),
    /// Delete a memory
    Delete(cli::delete::DeleteCmd),
    /// List memories, newest first
    List(cli::list::ListCmd),
    /// Import memories from JSONL (as `export` writes) or a folder of Markdown
    Import(cli::import::ImportCmd),
    /// Write every memory as JSONL (what `import` reads back)
    Export(cli::export::ExportCmd),
    /// Copy the database safely while it is in use (SQLite online backup)
    Backup(cli::backup::BackupCmd),
    /// Create, list and revoke the access keys servers accept (stored in the database)
    #[command(subcommand)]
    Key(cli::key::KeyCmd),
    /// Install memoryd as a launchd or systemd service, remove it, or show its state
    #[command(subcommand)]
    Service(cli::service::ServiceCmd),
    /// Print or write the JSON Schemas of every tool
    Schemas(cli::schemas::SchemasCmd),
    /// Install the embedding model, or show its state
    #[command(subcommand)]
    Model(cli::model::ModelCmd),
    /// Re-embed every memory with this build's model
    Reembed,
    /// Check the data dir, database, model, port and service, and say how to fix problems
    Doctor,
    /// Show the effective configuration and where each value came from
    #[command(subcommand)]
    Config(cli::config::ConfigCmd),
    /// Measure retrieval quality on a benchmark
    #[command(subcommand)]
    Eval(cli::eval::EvalCmd),
    /// Generate a synthetic corpus, load a running server, time a cold start
    #[command(subcommand)]
    Bench(cli::bench::BenchCmd),
}

fn init_logging(format: LogFormat, server: bool) {
    // Servers log their lifecycle; one-shot commands only say something when it matters.
    // Dependencies speak up only for warnings.
    let default = if server { "warn,memoryd=info" } else { "warn" };
    // MEMORYD_LOG takes tracing directives (e.g. "debug" or "memoryd=debug,rmcp=info").
    let filter = EnvFilter::try_from_env("MEMORYD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour codes only for a person at a terminal, not in log files (launchd, systemd).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Where each global flag's value came from, for `memoryd config show`.
fn flag_sources(matches: &ArgMatches) -> cli::config::FlagSources {
    let mut sources = cli::config::FlagSources::new();
    for (id, flag, env) in [
        ("data_dir", "data-dir", "MEMORYD_DATA_DIR"),
        ("model_dir", "model-dir", "MEMORYD_MODEL_DIR"),
        ("offline", "offline", "MEMORYD_OFFLINE"),
        ("database_url", "database-url", "MEMORYD_DATABASE_URL"),
    ] {
        // Global flags may be given before or after the subcommand.
        let mut m = Some(matches);
        while let Some(level) = m {
            match level.value_source(id) {
                Some(ValueSource::CommandLine) => {
                    sources.insert(flag, format!("flag --{flag}"));
                }
                Some(ValueSource::EnvVariable) => {
                    sources.insert(flag, format!("env {env}"));
                }
                _ => {}
            }
            m = level.subcommand().map(|(_, sub)| sub);
        }
    }
    sources
}

async fn run(cli: Cli, flags: cli::config::FlagSources) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Serve(args) => cli::serve::run(g, &args).await,
        Command::Stdio(args) => cli::stdio::run(g, &args).await,
        Command::Store(cmd) => cli::store::run(g, cmd).await,
        Command::Search(cmd) => cli::search::run(g, cmd).await,
        Command::Rehydrate(cmd) => cli::rehydrate::run(g, cmd).await,
        Command::Get(cmd) => cli::get::run(g, cmd).await,
        Command::Update(cmd) => cli::update::run(g, cmd).await,
        Command::Delete(cmd) => cli::delete::run(g, cmd).await,
        Command::List(cmd) => cli::list::run(g, cmd).await,
        Command::Import(cmd) => cli::import::run(g, cmd).await,
        Command::Export(cmd) => cli::export::run(g, cmd).await,
        Command::Backup(cmd) => cli::backup::run(g, cmd).await,
        Command::Key(cmd) => cli::key::run(g, cmd).await,
        Command::Service(cmd) => cli::service::run(g, cmd).await,
        Command::Schemas(cmd) => cli::schemas::run(cmd),
        Command::Model(cmd) => cli::model::run(g, cmd).await,
        Command::Reembed => cli::reembed::run(g).await,
        Command::Doctor => cli::doctor::run(g).await,
        Command::Config(cmd) => cli::config::run(g, cmd, &flags),
        Command::Eval(cmd) => cli::eval::run(g, cmd).await,
        Command::Bench(cmd) => cli::bench::run(g, cmd).await,
    }
}

/// Restores the default SIGPIPE action, so `memoryd list | head -1` ends like any Unix tool
/// when `head` stops reading, instead of panicking in `println!` (Rust ignores SIGPIPE by
/// default). Sockets are unaffected: the standard library sends with `MSG_NOSIGNAL` (Linux)
/// or `SO_NOSIGPIPE` (macOS), so a closed connection is still an error, never a signal. The
/// servers keep ignoring it: their stdout is a protocol or a log.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: called once at start, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// How long exit waits for blocking work still running (loading the model, embedding the
/// backlog). Every write commits on its own, so cutting such work short loses nothing.
const EXIT_GRACE: Duration = Duration::from_millis(300);

/// Exit codes: 0 success, 1 the memory asked for does not exist, 2 any other error.
fn main() {
    memoryd::embed::tune_allocator();
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Command::Key(cmd) = &mut cli.command {
        cmd.ignore_environment(&matches);
    }
    let flags = flag_sources(&matches);
    let server = matches!(cli.command, Command::Serve(_) | Command::Stdio(_));
    if !server {
        end_quietly_on_a_closed_pipe();
    }
    init_logging(cli.log_format, server);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(err) => {
            eprintln!("memoryd: cannot start the async runtime: {err}");
            exit_now(2);
        }
    };
    let result = runtime.block_on(run(cli, flags));
    runtime.shutdown_timeout(EXIT_GRACE);
    let code = match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("memoryd: {err:#}");
            let not_found = err
                .chain()
                .any(|e| matches!(e.downcast_ref(), Some(memoryd::Error::NotFound { .. })));
            if not_found { 1 } else { 2 }
        }
    };
    exit_now(code)
}

/// Ends the process without running C++ static destructors. A blocking thread may still be
/// inside ONNX Runtime (loading the model) after [`EXIT_GRACE`]; a normal exit destroys the
/// runtime's globals under it, and `memoryd stdio` closed during a model load died with
/// SIGSEGV. Every write is already committed, so nothing is left to run.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process at once; nothing after it runs.
    unsafe { libc::_exit(code) }
}
