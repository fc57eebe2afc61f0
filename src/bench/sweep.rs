//! `memoryd bench sweep`: what searches see while the expiry sweep purges a large backlog.
//!
//! A fresh database (a temp data dir, or the `--database-url` one) gets L live memories and E
//! memories expired longer than `[lifecycle] purge_after` ago, written in bulk (the store's
//! `insert_many`, no embedding). A server runs in this process (`http::serve`, as in
//! `memoryd serve`) and closed-loop clients search the live memories over plain JSON, as
//! `bench load` does: first for a while with no sweep running, then while the sweep purges
//! the E memories; the two phases' latencies and the sweep's duration are the result.
//!
//! The server's own sweep is held off (its `purge_after` is set past any data here), so the
//! purge starts at a known moment: the bench calls [`crate::sweep::purge`], the function the
//! server's sweep calls, with the configured `purge_after`. Afterwards it checks that every
//! expired memory is gone and every live one is left. Owns no SQL and no ranking.

use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::client::{Client, Failure, Transport};
use super::corpus::{Corpus, DEFAULT_SEED};
use super::report::Latency;
use super::workload::{Generator, Workload};
use crate::app::App;
use crate::config::Config;
use crate::memory;
use crate::store::Filter;

/// Memories written per `insert_many` call while loading.
const LOAD_BATCH: usize = 5_000;
/// Uncounted searches per client before the first phase (the first loads the keyword index).
const WARMUP: u32 = 5;
/// The server's `purge_after` while the bench runs: past any expiry written here, so its own
/// sweep purges nothing and the bench decides when the purge starts.
const HELD_OFF: &str = "5000w";

/// Why a sweep run could not be made or did not purge what it should.
#[derive(Debug, thiserror::Error)]
pub enum SweepBenchError {
    /// The database could not be opened, loaded, swept or counted.
    #[error(transparent)]
    Store(#[from] crate::error::Error),
    /// No loopback port for the in-process server.
    #[error("cannot listen on a loopback port: {0}\ncheck that 127.0.0.1 is usable")]
    Bind(std::io::Error),
    /// A client could not connect or get its warm-up searches answered.
    #[error("client {client} could not start ({kind}): {detail}\nsee the server's log above")]
    Setup {
        /// Which client.
        client: usize,
        /// The failure's kind.
        kind: String,
        /// What happened.
        detail: String,
    },
    /// Memories that should have been purged are left, or live ones are missing.
    #[error(
        "the sweep left {expired_left} memories expired past purge_after, and {live_left} of the {live} live ones\nsee the log above"
    )]
    Unswept {
        /// Memories expired past `purge_after` not purged.
        expired_left: u64,
        /// Live memories counted in the namespace afterwards.
        live_left: u64,
        /// Live memories counted in the namespace before the purge.
        live: u64,
    },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration (its data dir a fresh one, or a throwaway `database_url`).
    pub config: Config,
    /// Namespace of every memory and search.
    pub namespace: String,
    /// Live memories (never expire).
    pub live: u32,
    /// Memories expired longer than `purge_after` ago.
    pub expired: u32,
    /// Concurrent search clients.
    pub clients: usize,
    /// How long the phase without a sweep runs.
    pub idle: Duration,
    /// What the clients ask (a search workload).
    pub workload: Workload,
    /// How the purge paces itself ([`crate::sweep::PACING`] unless comparing others).
    pub pacing: crate::sweep::Pacing,
}

/// The searches of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Wall time of the phase, seconds.
    pub seconds: f64,
    /// Searches answered and failed.
    pub requests: u64,
    /// Failed searches.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Latency of the answered ones, ms.
    pub latency_ms: Option<Latency>,
}

/// The purge.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// Memories purged.
    pub purged: u64,
    /// Wall time of the purge, seconds.
    pub seconds: f64,
    /// Memories per transaction.
    pub batch: usize,
    /// The rest after each batch, as a multiple of the time it took.
    pub rest: f64,
}

/// What a sweep run measured.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// `sqlite` or `postgres`.
    pub engine: &'static str,
    /// Live memories written.
    pub live: u64,
    /// Expired memories written.
    pub expired: u64,
    /// Seconds the bulk load took.
    pub load_seconds: f64,
    /// What the clients asked.
    pub workload: Workload,
    /// Concurrent search clients.
    pub clients: usize,
    /// Searches with no sweep running.
    pub idle: Phase,
    /// Searches while the sweep purged.
    pub during_sweep: Phase,
    /// The purge.
    pub sweep: Sweep,
    /// Memories expired past `purge_after` left after the purge, in any namespace (0, or the
    /// run fails).
    pub expired_left: u64,
    /// Live memories left in the namespace after the purge (as many as before it, or the run
    /// fails; more than `live` when the database held some already).
    pub live_left: u64,
}

impl SweepReport {
    /// The table people read.
    pub fn table(&self) -> String {
        let mut out = format!(
            "memoryd bench sweep: {}, {} live + {} expired memories (loaded in {:.1} s), {} {} client(s) over JSON\n",
            self.engine,
            self.live,
            self.expired,
            self.load_seconds,
            self.clients,
            searching(self.workload)
        );
        for (name, phase) in [("no sweep", &self.idle), ("sweeping", &self.during_sweep)] {
            let latency = phase.latency_ms.map_or("no answers".into(), |l| {
                format!(
                    "p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                    l.p50, l.p95, l.p99, l.max
                )
            });
            out += &format!(
                "  {name:<8}  {:>6} searches in {:.1} s: {latency}, {} errors\n",
                phase.requests, phase.seconds, phase.errors
            );
        }
        out += &format!(
            "  sweep     {} purged in {:.2} s ({:.0}/s, {} per transaction, rest {}× the batch's time)\n",
            self.sweep.purged,
            self.sweep.seconds,
            self.sweep.purged as f64 / self.sweep.seconds.max(1e-9),
            self.sweep.batch,
            self.sweep.rest
        );
        out
    }
}

/// What the clients of a search workload do, for the table.
fn searching(workload: Workload) -> &'static str {
    match workload {
        Workload::SearchKeyword => "keyword-search",
        Workload::SearchSemantic => "semantic-search",
        _ => "hybrid-search",
    }
}

/// Loads, serves, measures both phases and checks the result.
pub async fn run(options: Options) -> Result<SweepReport, SweepBenchError> {
    let mut config = options.config.clone();
    let purge_after = config.lifecycle.purge_after();
    config.lifecycle.purge_after = HELD_OFF.into();
    let app = App::open(config).await?;
    if options.workload != Workload::SearchKeyword {
        app.load_model_if_installed().await;
    }
    let started = Instant::now();
    load(&app, &options, purge_after).await?;
    // Live ones only (expired memories are not counted); a reused database may hold more.
    let live_before = app
        .store()
        .count(Filter::namespace(options.namespace.clone()))
        .await?;
    let load_seconds = round3(started.elapsed().as_secs_f64());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(SweepBenchError::Bind)?;
    let base = Url::parse(&format!(
        "http://{}/",
        listener.local_addr().map_err(SweepBenchError::Bind)?
    ))
    .expect("a socket address makes a URL");
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(crate::http::serve(
        app.clone(),
        listener,
        stop_server.clone(),
    ));
    let measured = measure(&app, &options, &base, purge_after).await;
    stop_server.cancel();
    let _ = server.await;
    let (idle, during_sweep, sweep) = measured?;

    let age = chrono::Duration::from_std(purge_after).unwrap_or(chrono::Duration::MAX);
    let cutoff = memory::format_time(chrono::Utc::now() - age);
    let expired_left = app.store().expired_count(cutoff).await?;
    let live_left = app
        .store()
        .count(Filter::namespace(options.namespace.clone()))
        .await?;
    if expired_left > 0 || live_left != live_before {
        return Err(SweepBenchError::Unswept {
            expired_left,
            live_left,
            live: live_before,
        });
    }
    Ok(SweepReport {
        engine: app.store().engine().name(),
        live: options.live.into(),
        expired: options.expired.into(),
        load_seconds,
        workload: options.workload,
        clients: options.clients,
        idle,
        during_sweep,
        sweep,
        expired_left,
        live_left,
    })
}

/// Writes the live memories, then the expired ones (expired `purge_after` and an hour ago),
/// from the bench corpus, [`LOAD_BATCH`] per transaction.
async fn load(app: &App, options: &Options, purge_after: Duration) -> Result<(), SweepBenchError> {
    let age = chrono::Duration::from_std(purge_after + Duration::from_secs(3_600))
        .unwrap_or(chrono::Duration::MAX);
    let expired_at = memory::format_time(chrono::Utc::now() - age);
    let mut corpus = Corpus::new(DEFAULT_SEED, None);
    let total = options.live as usize + options.expired as usize;
    let mut written = 0;
    while written < total {
        let n = LOAD_BATCH.min(total - written);
        let batch = corpus
            .by_ref()
            .take(n)
            .enumerate()
            .map(|(i, record)| {
                let mut m = record.into_new_memory(&options.namespace);
                if written + i >= options.live as usize {
                    m.expires_at = Some(expired_at.clone());
                }
                m
            })
            .collect();
        app.store().insert_many(batch, None).await?;
        written += n;
    }
    Ok(())
}

/// The clients of a run, each with its own connection and query generator.
type Clients = Vec<(Client, Generator)>;

/// Connects and warms up the clients, then runs the phase without a sweep and the phase
/// during it.
async fn measure(
    app: &App,
    options: &Options,
    base: &Url,
    purge_after: Duration,
) -> Result<(Phase, Phase, Sweep), SweepBenchError> {
    let mut clients: Clients = Vec::with_capacity(options.clients);
    for i in 0..options.clients {
        let setup = |f: Failure| SweepBenchError::Setup {
            client: i,
            kind: f.kind,
            detail: f.detail,
        };
        let mut client = Client::connect(base, Transport::Json, app.config().server.token.clone())
            .await
            .map_err(setup)?;
        let mut generator = Generator::new(options.workload, Some(options.namespace.clone()), 0, i);
        for _ in 0..WARMUP {
            client.call(&generator.next_call()).await.map_err(setup)?;
        }
        clients.push((client, generator));
    }

    let stop = CancellationToken::new();
    let running = spawn_phase(clients, &stop);
    tokio::time::sleep(options.idle).await;
    stop.cancel();
    let (clients, idle) = finish_phase(running).await;

    let stop = CancellationToken::new();
    let running = spawn_phase(clients, &stop);
    let started = Instant::now();
    // Never cancelled: the purge runs until nothing expired is left, as the server's does.
    let purged =
        crate::sweep::purge(app, purge_after, options.pacing, &CancellationToken::new()).await;
    let sweep_seconds = round3(started.elapsed().as_secs_f64());
    stop.cancel();
    let (clients, during) = finish_phase(running).await;
    for (client, _) in clients {
        client.close().await;
    }
    Ok((
        idle,
        during,
        Sweep {
            purged: purged?,
            seconds: sweep_seconds,
            batch: options.pacing.batch,
            rest: options.pacing.rest,
        },
    ))
}

/// What one client saw in a phase.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

type Running = (
    Instant,
    Vec<tokio::task::JoinHandle<(Client, Generator, Tally)>>,
);

/// Starts every client searching back to back until `stop`; each makes at least one call,
/// so a phase shorter than a search still has one.
fn spawn_phase(clients: Clients, stop: &CancellationToken) -> Running {
    let tasks = clients
        .into_iter()
        .map(|(mut client, mut generator)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let call = generator.next_call();
                    let sent = Instant::now();
                    match client.call(&call).await {
                        Ok(()) => tally.latencies.push(sent.elapsed()),
                        Err(f) => {
                            tally.errors += 1;
                            tally
                                .first_error
                                .get_or_insert_with(|| format!("{}: {}", f.kind, f.detail));
                        }
                    }
                    if stop.is_cancelled() {
                        break;
                    }
                }
                (client, generator, tally)
            })
        })
        .collect();
    (Instant::now(), tasks)
}

/// Waits for a phase's clients and sums what they saw.
async fn finish_phase((started, tasks): Running) -> (Clients, Phase) {
    let mut clients = Vec::with_capacity(tasks.len());
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok((client, generator, tally)) => {
                clients.push((client, generator));
                total.latencies.extend(tally.latencies);
                total.errors += tally.errors;
                if total.first_error.is_none() {
                    total.first_error = tally.first_error;
                }
            }
            Err(err) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("client panicked: {err}"));
            }
        }
    }
    let requests = total.latencies.len() as u64 + total.errors;
    let phase = Phase {
        seconds: round3(started.elapsed().as_secs_f64()),
        requests,
        errors: total.errors,
        first_error: total.first_error,
        latency_ms: Latency::of(&mut total.latencies),
    };
    (clients, phase)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
