//! The shared state of a running memoryd: config, store and embedder behind one handle.
//!
//! Every transport (stdio, HTTP) and the CLI build one `App` and pass it explicitly; there is
//! no global state. `App` holds things and starts the background work that keeps them
//! consistent (loading the model, embedding memories stored before it was ready).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::access::gate::Gate;
use crate::config::{Config, Limits, ensure_data_dir};
use crate::embed::{self, Embedder, Layout};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::metrics_history::History;
use crate::rehydrate::Rehydrator;
use crate::retrieve::Searcher;
use crate::store::{KeywordRanking, Location, Pending, Store};

/// Memories embedded per backfill batch.
const BACKFILL_BATCH: usize = 64;

/// Stores with `store_embedding = "background"` queued at most; past it they are found by
/// the database scan instead (a burst of stores must not hold every text in memory).
const QUEUE_CAP: usize = 10_000;

/// This process's memories without a vector, as `/health` reports them.
#[derive(Default)]
struct Backlog {
    /// Stored with `store_embedding = "background"`, oldest first: embedded by rowid, with no
    /// scan of the database for memories without a vector (which reads every memory).
    queue: VecDeque<(Pending, Instant)>,
    /// Written without a vector otherwise (the model not ready, the queue full) since the
    /// scan last found none.
    unqueued: u64,
    /// When the first of those was written.
    since: Option<Instant>,
}

/// Handle on the shared state; clone it freely.
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    /// Settings, fixed for the life of the process.
    config: Config,
    /// The database.
    store: Store,
    /// The embedding model (possibly not loaded yet).
    embedder: Embedder,
    /// Woken when a memory was written without its vector, so the backfill picks it up.
    pending: Notify,
    /// Memories this process wrote without their vector and not yet embedded, for `/health`.
    backlog: std::sync::Mutex<Backlog>,
    /// Bundle cache and tokenizer of `rehydrate_memory`.
    rehydrator: Rehydrator,
    /// Tool-call and cache counters, for `/metrics` and `/health`.
    metrics: Arc<Metrics>,
    /// The points behind the charts on `/status`, filled while `serve` runs (shared with the
    /// sampler task).
    history: Arc<History>,
    /// This server's name in a fleet, set once `serve` knows its port.
    instance: std::sync::OnceLock<String>,
    /// Which principal a request's credential proves (token, keys, OAuth).
    gate: Gate,
}

/// Where the memories of `config` are: its PostgreSQL URL when one is set, else the SQLite
/// file in the data dir.
pub fn location(config: &Config) -> Location {
    match &config.storage.database_url {
        Some(url) => Location::Url(url.clone()),
        None => Location::File(config.database_path()),
    }
}

/// The database of `config`, with its choice of keyword ranking.
async fn open_store(config: &Config) -> Result<Store> {
    let ranking = if config.retrieval.in_memory_keyword_index {
        KeywordRanking::InMemory
    } else {
        KeywordRanking::Engine
    };
    Store::open(&location(config), ranking, config.limits.index_memory_bytes).await
}

impl App {
    /// Creates the data dir if needed, opens (and migrates) the database, and checks that it
    /// was embedded with this build's model. The model itself is not loaded here.
    pub async fn open(config: Config) -> Result<App> {
        ensure_data_dir(&config.data_dir)?;
        let store = open_store(&config).await?;
        store
            .check_model(embed::MODEL_NAME, embed::DIMENSION)
            .await?;
        Self::assemble(config, store)
    }

    fn assemble(config: Config, store: Store) -> Result<App> {
        let metrics = Arc::new(Metrics::new(
            config.roles.keys().cloned().collect(),
            Duration::from_secs(config.health.window_seconds),
        ));
        let embedder = Embedder::counting(Layout::new(&config.model_dir), Some(metrics.clone()));
        let history = Arc::new(History::new(config.health.history_step_seconds));
        let gate = Gate::new(&config, store.clone())?;
        Ok(App(Arc::new(Inner {
            rehydrator: Rehydrator::new(config.rehydrate.cache_entries),
            config,
            store,
            embedder,
            pending: Notify::new(),
            backlog: std::sync::Mutex::new(Backlog::default()),
            history,
            metrics,
            instance: std::sync::OnceLock::new(),
            gate,
        })))
    }

    /// Opens the database for `memoryd reembed`: like [`App::open`] but accepting vectors of
    /// another model (the caller drops them with [`App::reembed`] once the model loads).
    pub async fn open_for_reembed(config: Config) -> Result<App> {
        ensure_data_dir(&config.data_dir)?;
        let store = open_store(&config).await?;
        Self::assemble(config, store)
    }

    /// Drops every vector, records this build's model, and embeds every memory again. Call it
    /// only with the model ready, so a missing model never leaves the database without vectors.
    pub async fn reembed(&self) -> Result<usize> {
        self.0
            .store
            .reset_vectors(embed::MODEL_NAME, embed::DIMENSION)
            .await?;
        self.backfill().await
    }

    /// Names this server (`[server] instance_id`, or `HOSTNAME:PORT`); the first call wins.
    pub fn set_instance(&self, id: String) {
        let _ = self.0.instance.set(id);
    }

    /// This server's name in a fleet; `local` for a process that serves no port.
    pub fn instance(&self) -> &str {
        self.0.instance.get().map(String::as_str).unwrap_or("local")
    }

    /// The settings this process runs with.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.0.config.limits
    }

    /// Which principal a request's credential proves.
    pub fn gate(&self) -> &Gate {
        &self.0.gate
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The embedding model.
    pub fn embedder(&self) -> &Embedder {
        &self.0.embedder
    }

    /// Tool-call and cache counters.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The history of the counters, for the charts on `/status`.
    pub fn history(&self) -> &History {
        &self.0.history
    }

    /// The counters and their history as shared handles, for the `/status` sampler task.
    pub fn sampled(&self) -> (Arc<History>, Arc<Metrics>) {
        (self.0.history.clone(), self.0.metrics.clone())
    }

    /// The `rehydrate_memory` engine.
    pub fn rehydrator(&self) -> &Rehydrator {
        &self.0.rehydrator
    }

    /// A searcher over this app's store and model.
    pub fn searcher(&self) -> Searcher<'_> {
        Searcher {
            store: &self.0.store,
            embedder: &self.0.embedder,
            tuning: &self.0.config.retrieval,
        }
    }

    /// Servers: load the model in the background (installing it first when allowed), then
    /// keep embedding memories that have no vector. Returns at once.
    pub fn start_background(&self) {
        // The tokenizer's encoding is not built here but on the first rehydrate (about
        // 100 ms once): its tables take 26 MB of heap (heaptrack), which a server that only
        // stores and searches never needs. No namespace's search index is loaded here
        // either: each loads on its first search, so start-up does not grow with the
        // database (see `index::namespaces`). The keyword statistics all namespaces share are
        // (a bounded sample, see `index::statistics`), after ready, so no search waits.
        let warm = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match warm.0.store.warm_keyword_statistics().await {
                Ok(Some(memories)) => tracing::info!(
                    memories,
                    ms = started.elapsed().as_millis() as u64,
                    "keyword statistics loaded"
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, "keyword statistics failed to load"),
            }
        });
        let app = self.clone();
        tokio::spawn(async move {
            app.0.embedder.start(app.0.config.auto_install).await;
            if app.0.embedder.is_ready() {
                app.backfill_forever().await;
            }
        });
    }

    /// One-shot commands: load the model now if it is installed; never download.
    pub async fn load_model_if_installed(&self) {
        self.0.embedder.start(false).await;
    }

    fn backlog(&self) -> std::sync::MutexGuard<'_, Backlog> {
        self.0.backlog.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Says a memory was written without its vector: `stored` is queued for the background
    /// embedding when there is one (`store_embedding = "background"` with the model ready),
    /// else the backfill's scan finds it.
    pub fn vector_missing(&self, stored: Option<Pending>) {
        {
            let mut backlog = self.backlog();
            match stored {
                Some(pending) if backlog.queue.len() < QUEUE_CAP => {
                    backlog.queue.push_back((pending, Instant::now()));
                }
                _ => {
                    backlog.unqueued += 1;
                    backlog.since.get_or_insert_with(Instant::now);
                }
            }
        }
        self.0.pending.notify_one();
    }

    /// Memories this process wrote without their vector that are still waiting for one, and
    /// how long the oldest has waited.
    pub fn vector_backlog(&self) -> (u64, Option<Duration>) {
        let backlog = self.backlog();
        let queued = backlog.queue.front().map(|(_, at)| at.elapsed());
        let waited = queued.max(backlog.since.map(|t| t.elapsed()));
        (backlog.queue.len() as u64 + backlog.unqueued, waited)
    }

    async fn backfill_forever(&self) {
        // First what earlier processes left without a vector (a crash after a background
        // store's answer, stores while no model was installed).
        let mut scan = true;
        loop {
            self.embed_queued().await;
            if scan || self.backlog().unqueued > 0 {
                match self.backfill().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(memories = n, "embedded memories that had no vector"),
                    Err(err) => {
                        tracing::warn!(%err, "embedding backlog failed; will retry on the next write")
                    }
                }
                scan = false;
            }
            self.0.pending.notified().await;
        }
    }

    /// Embeds the queued background stores one at a time, each written as soon as it has its
    /// vector: a search waits for at most one memory's embedding (in batches of 64, searches
    /// waited 700 ms and peak RSS rose by 110 MiB in `memoryd bench stdio`). A memory that
    /// fails is left to the scan.
    async fn embed_queued(&self) {
        loop {
            let Some(pending) = self.backlog().queue.front().map(|(p, _)| p.clone()) else {
                return;
            };
            let done = async {
                let Some(mut vectors) = self.0.embedder.embed(vec![pending.text.clone()]).await?
                else {
                    return Ok(false);
                };
                let vector = vectors.pop().ok_or_else(|| {
                    crate::error::Error::Internal("model returned no vector".into())
                })?;
                // Written only if the memory still has this text (else its update embedded
                // it, or queued it again).
                self.0.store.put_vectors(vec![(pending, vector)]).await?;
                Ok::<_, crate::error::Error>(true)
            }
            .await;
            let mut backlog = self.backlog();
            backlog.queue.pop_front();
            if !matches!(done, Ok(true)) {
                if let Err(err) = done {
                    tracing::warn!(%err, "embedding a stored memory failed; the backfill will retry");
                }
                backlog.unqueued += 1;
                backlog.since.get_or_insert_with(Instant::now);
            }
        }
    }

    /// Embeds every memory that has no vector; returns how many got one.
    pub async fn backfill(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let batch = self.0.store.pending_vectors(BACKFILL_BATCH).await?;
            if batch.is_empty() {
                let mut backlog = self.backlog();
                backlog.unqueued = 0;
                backlog.since = None;
                return Ok(total);
            }
            let texts = batch.iter().map(|p| p.text.clone()).collect();
            let Some(vectors) = self.0.embedder.embed(texts).await? else {
                return Ok(total);
            };
            let written = self
                .0
                .store
                .put_vectors(batch.into_iter().zip(vectors).collect())
                .await?;
            if written == 0 {
                // Every memory of the batch changed while we embedded it; the writes that
                // changed them carry their own vectors or will wake us again.
                return Ok(total);
            }
            total += written;
        }
    }
}
