//! `memoryd bench corpus|load|cold-start|stdio|sweep`: build a synthetic corpus, drive a
//! running server with concurrent clients, time a cold start and a stdio session, and search
//! while the expiry sweep purges. The flags are checked here (with messages
//! that name the flag); the work is in [`crate::bench`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Url;

use super::Global;
use crate::bench::client::Transport;
use crate::bench::workload::Workload;
use crate::bench::{cold_start, corpus, load, stdio, sweep};
use crate::runtime::Runtime;

/// Most clients of one load run.
const MAX_CLIENTS: usize = 1024;
/// Longest load run, seconds (a day).
const MAX_SECONDS: f64 = 86_400.0;
/// Most requests of one load run.
const MAX_REQUESTS: u64 = 1_000_000_000;
/// Most memories in one corpus.
const MAX_MEMORIES: u64 = 100_000_000;
/// Namespaces `bench corpus` spreads over, at most.
const MAX_NAMESPACES: u64 = 1_000_000;
/// Most warm-up requests per client.
const MAX_WARMUP: u32 = 1000;
/// Most cold-start runs.
const MAX_RUNS: usize = 1000;
/// Load run length when neither --seconds nor --requests is given.
const DEFAULT_SECONDS: f64 = 10.0;

/// Flags of `memoryd bench`.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// Write a deterministic synthetic corpus as JSONL for `memoryd import` (the namespace is
    /// the global --namespace, or the import's when not given)
    Corpus(CorpusArgs),
    /// Drive a running server with concurrent closed-loop clients and report throughput,
    /// latency percentiles, errors and the server's memory
    Load(LoadArgs),
    /// Time spawn → MCP initialize answered for `memoryd stdio --standalone` on a fresh data
    /// dir (the model loads in the background and is not included)
    ColdStart(ColdStartArgs),
    /// Spawn `memoryd stdio --standalone` on a fresh data dir with the model, store N short
    /// memories then run M uncached searches one at a time; latency, server CPU per call and
    /// the RSS curve and peak
    Stdio(StdioArgs),
    /// Load L live and E long-expired memories in bulk into a fresh database, serve it in
    /// this process, and search the live ones with no sweep running, then while the expiry
    /// sweep purges the expired ones; p50/p95 of both and how long the purge took
    Sweep(SweepArgs),
}

/// Flags of `memoryd bench sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Memories expired longer than [lifecycle] purge_after ago, for the sweep to purge (1 to
    /// 10,000,000)
    #[arg(long, default_value_t = 100_000, value_name = "E")]
    pub expired: u32,
    /// Live memories the clients search (1 to 10,000,000)
    #[arg(long, default_value_t = 3_000, value_name = "L")]
    pub live: u32,
    /// Concurrent search clients (1 to 1024)
    #[arg(long, short = 'c', default_value_t = 1, value_name = "N")]
    pub clients: usize,
    /// How long to search with no sweep running, seconds
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    pub seconds: f64,
    /// search-keyword (BM25, no model needed), search (hybrid) or search-semantic
    #[arg(long, value_enum, default_value = "search-keyword")]
    pub workload: Workload,
    /// Memories purged per transaction, to compare with the sweep's own (1 to 100,000)
    #[arg(long, default_value_t = crate::sweep::BATCH, value_name = "N")]
    pub batch: usize,
    /// The rest after each batch as a multiple of the time it took, to compare with the
    /// sweep's own (0 to 100; at least 5 ms)
    #[arg(long, default_value_t = crate::sweep::REST, value_name = "X")]
    pub rest: f64,
}

/// Flags of `memoryd bench stdio`.
#[derive(Debug, clap::Args)]
pub struct StdioArgs {
    /// Memories to store (1 to 1,000,000)
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub memories: u32,
    /// Uncached searches after them (1 to 1,000,000)
    #[arg(long, default_value_t = 200, value_name = "M")]
    pub searches: u32,
    /// The memoryd binary to spawn [default: this one]
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

/// Flags of `memoryd bench corpus`.
#[derive(Debug, clap::Args)]
pub struct CorpusArgs {
    /// How many memories to write (1 to 100,000,000)
    #[arg(long, value_name = "N")]
    pub memories: u64,
    /// Seed of the generator: the same seed and count give byte-identical files
    #[arg(long, value_name = "S", default_value_t = corpus::DEFAULT_SEED)]
    pub seed: u64,
    /// The JSONL file to write (replaced whole when complete); `-` writes stdout
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Spread the memories over N namespaces, `{--namespace}-0` to `-{N-1}` (`scale-…`
    /// without --namespace), round-robin (1 to 1,000,000)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub namespaces: u64,
    /// The first namespace holds N of the memories; the others share the rest evenly
    /// (needs --namespaces 2 or more)
    #[arg(long, value_name = "N")]
    pub largest: Option<u64>,
    /// Give each memory a random unit vector, as `export --vectors` writes them, so `import`
    /// stores it without embedding (for timing search at scale without a model's time)
    #[arg(long)]
    pub vectors: bool,
}

/// Flags of `memoryd bench load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The server, such as http://127.0.0.1:3000 [default: the daemon serving --data-dir]
    #[arg(long)]
    pub url: Option<String>,
    /// Another server of the same fleet (repeatable): clients are spread round-robin over
    /// --url and these
    #[arg(long, value_name = "URL", requires = "url")]
    pub also_url: Vec<String>,
    /// Spread the clients over N namespaces: client i uses `{--namespace}-{i % N}`
    /// (`bench-{i % N}` without --namespace), e.g. to time writes that do not share one
    #[arg(long, value_name = "N")]
    pub namespaces: Option<usize>,
    /// Concurrent clients, each with its own connection (1 to 1024)
    #[arg(long, short = 'c', default_value_t = 8, value_name = "N")]
    pub clients: usize,
    /// Run for this many seconds [default: 10]
    #[arg(long, value_name = "S", conflicts_with = "requests")]
    pub seconds: Option<f64>,
    /// Stop after this many requests over all clients instead
    #[arg(long, value_name = "R")]
    pub requests: Option<u64>,
    /// json: POST /mcp/tools/call; mcp: one MCP Streamable HTTP session per client
    #[arg(long, value_enum, default_value = "json")]
    pub transport: Transport,
    /// What the clients ask
    #[arg(long, value_enum, default_value = "rehydrate-cached")]
    pub workload: Workload,
    /// Bearer token [default: the configured server token, if any]
    #[arg(long)]
    pub token: Option<String>,
    /// Requests each client sends before the clock starts, not counted (0 to 1000); a
    /// failed one stops the run before it starts
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub warmup: u32,
    /// The server's process id, to report its memory [default: from the runtime file of
    /// --data-dir]
    #[arg(long)]
    pub pid: Option<u32>,
}

/// Flags of `memoryd bench cold-start`.
#[derive(Debug, clap::Args)]
pub struct ColdStartArgs {
    /// How many starts to time (1 to 1000)
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: usize,
}

/// Runs one `bench` subcommand.
pub async fn run(global: &Global, cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Corpus(args) => run_corpus(global, args).await,
        BenchCmd::Load(args) => run_load(global, args).await,
        BenchCmd::ColdStart(args) => run_cold_start(global, args).await,
        BenchCmd::Stdio(args) => run_stdio(global, args).await,
        BenchCmd::Sweep(args) => run_sweep(global, args).await,
    }
}

async fn run_corpus(global: &Global, args: CorpusArgs) -> anyhow::Result<()> {
    if !(1..=MAX_MEMORIES).contains(&args.memories) {
        bail!(
            "invalid argument '--memories': must be from 1 to {MAX_MEMORIES}, got {}\npass the number of memories to generate, such as --memories 10000",
            args.memories
        );
    }
    if !(1..=MAX_NAMESPACES).contains(&args.namespaces) {
        bail!(
            "invalid argument '--namespaces': must be from 1 to {MAX_NAMESPACES}, got {}\npass how many namespaces to spread the memories over, such as --namespaces 100",
            args.namespaces
        );
    }
    if args.namespaces > args.memories {
        bail!(
            "invalid argument '--namespaces': {} namespaces need at least as many memories, got --memories {}\nask for fewer namespaces or more memories",
            args.namespaces,
            args.memories
        );
    }
    if let Some(largest) = args.largest {
        if args.namespaces < 2 {
            bail!(
                "invalid argument '--largest': it sizes the first of several namespaces\npass --namespaces 2 or more with it"
            );
        }
        let others = args.namespaces - 1;
        if largest == 0 || largest > args.memories - others {
            bail!(
                "invalid argument '--largest': must be from 1 to {} (the other {others} namespaces need a memory each), got {largest}",
                args.memories - others
            );
        }
    }
    let namespace = global
        .namespace
        .as_deref()
        .map(|ns| crate::memory::namespace(Some(ns)))
        .transpose()?;
    let layout = corpus::Layout {
        namespace,
        namespaces: args.namespaces,
        largest: args.largest,
        vectors: args.vectors,
    };
    let (n, seed) = (args.memories, args.seed);
    if args.out.as_os_str() == "-" {
        return tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            corpus::write_jsonl(&mut out, n, seed, &layout)?;
            out.flush()
        })
        .await?
        .context("cannot write the corpus to stdout");
    }
    let path = args.out;
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            bail!(
                "invalid argument '--out': the folder {} does not exist\ncreate it first, or write elsewhere",
                dir.display()
            );
        }
        // A temp file renamed over the target: an interrupted run leaves no half corpus.
        let tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        let mut out = std::io::BufWriter::new(tmp);
        corpus::write_jsonl(&mut out, n, seed, &layout)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let tmp = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", path.display()))?;
        // A corpus is data to share, not a secret: the usual permissions, not the temp
        // file's owner-only ones.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })
    .await??;
    eprintln!("wrote {n} memories to {shown} (seed {seed})");
    Ok(())
}

/// The server's base URL from `--url` (with or without a trailing `/mcp`).
fn parse_url(raw: &str) -> anyhow::Result<Url> {
    let bad = || {
        anyhow::anyhow!(
            "invalid argument '--url': '{raw}' is not an http URL\npass the server's address, such as http://127.0.0.1:3000"
        )
    };
    let mut url = Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad());
    }
    let path = url
        .path()
        .trim_end_matches('/')
        .trim_end_matches("/mcp")
        .to_string();
    url.set_path(&format!("{path}/"));
    url.set_query(None);
    Ok(url)
}

async fn run_load(global: &Global, args: LoadArgs) -> anyhow::Result<()> {
    if !(1..=MAX_CLIENTS).contains(&args.clients) {
        bail!(
            "invalid argument '--clients': must be from 1 to {MAX_CLIENTS}, got {}\npass how many clients run at once, such as --clients 8",
            args.clients
        );
    }
    if args.warmup > MAX_WARMUP {
        bail!(
            "invalid argument '--warmup': must be from 0 to {MAX_WARMUP}, got {}\npass how many uncounted requests each client sends first, such as --warmup 1",
            args.warmup
        );
    }
    let stop = match (args.seconds, args.requests) {
        (Some(s), _) if !(s > 0.0 && s <= MAX_SECONDS) => bail!(
            "invalid argument '--seconds': must be more than 0 and at most {MAX_SECONDS}, got {s}\npass how long to run, such as --seconds 10"
        ),
        (Some(s), _) => load::Stop::After(Duration::from_secs_f64(s)),
        (None, Some(r)) if !(1..=MAX_REQUESTS).contains(&r) => bail!(
            "invalid argument '--requests': must be from 1 to {MAX_REQUESTS}, got {r}\npass how many requests to send in all, such as --requests 10000"
        ),
        (None, Some(r)) => load::Stop::Requests(r),
        (None, None) => load::Stop::After(Duration::from_secs_f64(DEFAULT_SECONDS)),
    };
    let namespace = global
        .namespace
        .as_deref()
        .map(|ns| crate::memory::namespace(Some(ns)))
        .transpose()?;
    if let Some(n) = args.namespaces {
        if !(1..=MAX_CLIENTS).contains(&n) {
            bail!(
                "invalid argument '--namespaces': must be from 1 to {MAX_CLIENTS}, got {n}\npass how many namespaces the clients spread over, such as --namespaces 16"
            );
        }
        // The longest name a client gets must be a valid namespace too.
        let prefix = namespace.as_deref().unwrap_or("bench");
        crate::memory::namespace(Some(&format!("{prefix}-{}", n - 1)))?;
    }
    let more = args
        .also_url
        .iter()
        .map(|raw| parse_url(raw))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = global.config()?;
    let daemon = Runtime::read(&config.data_dir);
    let (base, from_runtime) = match (&args.url, &daemon) {
        (Some(raw), _) => (parse_url(raw)?, false),
        (None, Some(d)) => (parse_url(&d.url)?, true),
        (None, None) => bail!(
            "no --url given and no memoryd daemon serves {}\npass --url http://127.0.0.1:PORT, or start 'memoryd serve' first",
            config.data_dir.display()
        ),
    };
    // The runtime file gives the pid when it describes the server under load.
    let pid = match (args.pid, &daemon) {
        (Some(pid), _) => Some(pid),
        (None, Some(d)) if from_runtime || global.data_dir.is_some() => {
            if parse_url(&d.url)? != base {
                bail!(
                    "the daemon of {} (pid {}) serves {}, not --url {base}\npass --pid for the server under load, or drop --data-dir",
                    config.data_dir.display(),
                    d.pid,
                    d.base_url()
                );
            }
            Some(d.pid)
        }
        _ => None,
    };
    let report = load::run(load::Options {
        base,
        clients: args.clients,
        stop,
        transport: args.transport,
        workload: args.workload,
        token: args.token.or(config.server.token),
        namespace,
        namespaces: args.namespaces,
        more,
        pid,
        warmup: args.warmup,
    })
    .await?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if report.errors > 0 {
        bail!(
            "{} of {} requests failed\nsee the errors above and the server's log",
            report.errors,
            report.requests
        );
    }
    Ok(())
}

async fn run_cold_start(global: &Global, args: ColdStartArgs) -> anyhow::Result<()> {
    if !(1..=MAX_RUNS).contains(&args.runs) {
        bail!(
            "invalid argument '--runs': must be from 1 to {MAX_RUNS}, got {}\npass how many starts to time, such as --runs 10",
            args.runs
        );
    }
    let exe = cold_start::this_binary()?;
    let model_dir = global.model_dir.clone();
    let runs = args.runs;
    let samples = tokio::task::spawn_blocking(move || {
        (0..runs)
            .map(|_| cold_start::measure(&exe, model_dir.as_deref()))
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    let report = crate::bench::report::ColdStartReport::of(&samples, cold_start::TARGET_MS);
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Most stores or searches of one stdio run.
const MAX_STDIO_CALLS: u32 = 1_000_000;

async fn run_stdio(global: &Global, args: StdioArgs) -> anyhow::Result<()> {
    for (flag, n) in [("--memories", args.memories), ("--searches", args.searches)] {
        if !(1..=MAX_STDIO_CALLS).contains(&n) {
            bail!(
                "invalid argument '{flag}': must be from 1 to {MAX_STDIO_CALLS}, got {n}\npass how many calls to make, such as {flag} 1000"
            );
        }
    }
    let exe = match args.binary {
        Some(path) if !path.is_file() => bail!(
            "invalid argument '--binary': {} is not a file\npass the path of a memoryd binary, such as target/release/memoryd",
            path.display()
        ),
        Some(path) => path,
        None => stdio::default_exe()?,
    };
    let options = stdio::Options {
        exe,
        model_dir: global.model_dir.clone(),
        memories: args.memories,
        searches: args.searches,
    };
    let report = tokio::task::spawn_blocking(move || stdio::run(&options)).await??;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Most memories of either kind in one sweep run.
const MAX_SWEEP_MEMORIES: u32 = 10_000_000;

async fn run_sweep(global: &Global, args: SweepArgs) -> anyhow::Result<()> {
    for (flag, n) in [("--expired", args.expired), ("--live", args.live)] {
        if !(1..=MAX_SWEEP_MEMORIES).contains(&n) {
            bail!(
                "invalid argument '{flag}': must be from 1 to {MAX_SWEEP_MEMORIES}, got {n}\npass how many memories to write, such as {flag} 1000"
            );
        }
    }
    if !(1..=MAX_CLIENTS).contains(&args.clients) {
        bail!(
            "invalid argument '--clients': must be from 1 to {MAX_CLIENTS}, got {}\npass how many clients search at once, such as --clients 1",
            args.clients
        );
    }
    if !(args.seconds > 0.0 && args.seconds <= MAX_SECONDS) {
        bail!(
            "invalid argument '--seconds': must be more than 0 and at most {MAX_SECONDS}, got {}\npass how long to search before the sweep, such as --seconds 10",
            args.seconds
        );
    }
    if !matches!(
        args.workload,
        Workload::Search | Workload::SearchKeyword | Workload::SearchSemantic
    ) {
        bail!(
            "invalid argument '--workload': must be search-keyword, search or search-semantic, got {}\nthe sweep bench measures searches",
            clap::ValueEnum::to_possible_value(&args.workload)
                .map_or("?".into(), |v| v.get_name().to_string())
        );
    }
    if !(1..=100_000).contains(&args.batch) {
        bail!(
            "invalid argument '--batch': must be from 1 to 100000, got {}\npass how many memories to purge per transaction, such as --batch {}",
            args.batch,
            crate::sweep::BATCH
        );
    }
    if !(0.0..=100.0).contains(&args.rest) {
        bail!(
            "invalid argument '--rest': must be from 0 to 100, got {}\npass the rest after a batch as a multiple of its time, such as --rest {}",
            args.rest,
            crate::sweep::REST
        );
    }
    let mut config = global.config()?;
    // A fresh data dir every run (the database too, unless --database-url names one).
    let data = tempfile::tempdir().context("cannot create a temp data dir")?;
    config.data_dir = data.path().to_path_buf();
    let namespace = crate::memory::namespace(global.namespace.as_deref())?;
    let report = sweep::run(sweep::Options {
        config,
        namespace,
        live: args.live,
        expired: args.expired,
        clients: args.clients,
        idle: Duration::from_secs_f64(args.seconds),
        workload: args.workload,
        pacing: crate::sweep::Pacing {
            batch: args.batch,
            rest: args.rest,
        },
    })
    .await?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    let errors = report.idle.errors + report.during_sweep.errors;
    if errors > 0 {
        bail!("{errors} searches failed\nsee the errors in the report and the log above");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_mcp_and_keep_the_host() {
        let base = parse_url("http://127.0.0.1:3000/mcp").unwrap();
        assert_eq!(base.as_str(), "http://127.0.0.1:3000/");
        assert_eq!(parse_url("http://127.0.0.1:3000").unwrap(), base);
        let err = parse_url("127.0.0.1:3000").unwrap_err().to_string();
        assert!(err.contains("'--url'"), "{err}");
        assert!(parse_url("ftp://x").is_err());
    }
}
