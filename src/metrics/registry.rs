//! Lifetime counters and latency histograms in a Prometheus registry (the `prometheus`
//! crate), the scrape-time gauges, and their text exposition. Scrapers compute their own
//! windows with `rate()`; the recent view is the window's job, not this one's.

use std::collections::BTreeMap;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::event::{Cache, Call};

/// Database and model facts gathered by the caller at scrape time.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Memories per namespace.
    pub memories: Vec<(String, u64)>,
    /// Memories superseded by another, over every namespace.
    pub superseded: u64,
    /// Memories expired and not yet purged, over every namespace.
    pub expired: u64,
    /// Size of the database file.
    pub database_bytes: u64,
    /// Size of its write-ahead log.
    pub wal_bytes: u64,
    /// Database connections: open, in use, and callers waiting for one.
    pub pool: [u64; 3],
    /// The embedder's state name (`ready`, `loading`, …).
    pub embedder: &'static str,
    /// Which server this is.
    pub instance: String,
    /// Servers sharing the database (1 when the engine has no fleet).
    pub fleet: u64,
    /// What the in-memory indexes hold and how often namespaces loaded and were evicted.
    pub indexes: crate::index::IndexFootprint,
}

/// Embedder states, one-hot in `memoryd_embedder_state`.
const EMBEDDER_STATES: [&str; 5] = ["not_installed", "installing", "loading", "ready", "failed"];

/// Everything exposed to Prometheus.
pub(super) struct Counters {
    /// The registry every metric below is registered in.
    registry: Registry,
    /// `memoryd_tool_calls_total{tool, transport, outcome}`.
    pub(super) calls: IntCounterVec,
    /// `memoryd_rehydrate_calls_total{role, outcome}`.
    pub(super) rehydrates: IntCounterVec,
    /// `memoryd_tool_duration_seconds{tool}`.
    latency: HistogramVec,
    /// `memoryd_cache_lookups_total{cache, result}`.
    pub(super) lookups: IntCounterVec,
    /// `memoryd_panics_total`: handlers that panicked and were answered with an internal
    /// error (see `panic_guard`).
    pub(super) panics: IntCounter,
    /// `memoryd_memories_purged_total`: expired memories this process's sweep purged.
    pub(super) purged: IntCounter,
    /// Scrape-time gauges, set from [`State`] just before encoding.
    memories: IntGaugeVec,
    superseded: IntGauge,
    expired: IntGauge,
    database_bytes: IntGauge,
    wal_bytes: IntGauge,
    pool: IntGaugeVec,
    instance: IntGaugeVec,
    fleet: IntGauge,
    uptime: IntGauge,
    embedder: IntGaugeVec,
    /// The in-memory indexes: namespaces loaded, bytes against the budget, and the engine's
    /// lifetime load and eviction counts (copied in at scrape time; no namespace label, so
    /// the series stay bounded however many namespaces there are).
    index_loaded: IntGauge,
    index_bytes: IntGauge,
    index_statistics_bytes: IntGauge,
    index_budget: IntGauge,
    index_loads: IntCounter,
    index_load_failures: IntCounter,
    index_evictions: IntCounter,
}

impl Counters {
    /// Every metric, registered and at zero (`build_info` at 1).
    pub(super) fn new() -> Counters {
        let registry =
            Registry::new_custom(Some("memoryd".into()), None).expect("a valid metrics prefix");
        let calls = IntCounterVec::new(
            Opts::new(
                "tool_calls_total",
                "Tool calls by tool, transport and outcome.",
            ),
            &["tool", "transport", "outcome"],
        )
        .expect("valid metric");
        let rehydrates = IntCounterVec::new(
            Opts::new(
                "rehydrate_calls_total",
                "rehydrate_memory calls by role and outcome.",
            ),
            &["role", "outcome"],
        )
        .expect("valid metric");
        // 0.25 ms … ~4 s: rehydrate is a few ms, a cold model call tens of ms.
        let latency = HistogramVec::new(
            HistogramOpts::new("tool_duration_seconds", "Time spent in a tool call.").buckets(
                prometheus::exponential_buckets(0.000_25, 2.0, 15).expect("valid buckets"),
            ),
            &["tool"],
        )
        .expect("valid metric");
        let lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups by cache and result."),
            &["cache", "result"],
        )
        .expect("valid metric");
        let panics = IntCounter::new(
            "panics_total",
            "Request handlers that panicked (each answered with an internal error).",
        )
        .expect("valid metric");
        let memories = IntGaugeVec::new(
            Opts::new("memories", "Memories stored, by namespace."),
            &["namespace"],
        )
        .expect("valid metric");
        let superseded = IntGauge::new(
            "memories_superseded",
            "Memories another memory superseded, over every namespace (kept, left out of search).",
        )
        .expect("valid metric");
        let expired = IntGauge::new(
            "memories_expired",
            "Memories past their expires_at, not yet purged, over every namespace (found by no tool).",
        )
        .expect("valid metric");
        let purged = IntCounter::new(
            "memories_purged_total",
            "Expired memories this server's sweep purged since it started.",
        )
        .expect("valid metric");
        let database_bytes = IntGauge::new("database_size_bytes", "Size of the database file.")
            .expect("valid metric");
        let wal_bytes = IntGauge::new("wal_size_bytes", "Size of the write-ahead log file.")
            .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "database_pool_connections",
                "Database connections of this process: open, in_use, and callers waiting.",
            ),
            &["state"],
        )
        .expect("valid metric");
        let instance = IntGaugeVec::new(
            Opts::new(
                "instance_info",
                "Always 1; the label names the server that answered.",
            ),
            &["id"],
        )
        .expect("valid metric");
        let fleet = IntGauge::new(
            "fleet_instances",
            "Servers the database heard from in the last 15 s (1 on SQLite).",
        )
        .expect("valid metric");
        let uptime = IntGauge::new("uptime_seconds", "Seconds since the process started.")
            .expect("valid metric");
        let embedder = IntGaugeVec::new(
            Opts::new(
                "embedder_state",
                "1 for the embedding model's current state, 0 for the others.",
            ),
            &["state"],
        )
        .expect("valid metric");
        let build = IntGaugeVec::new(
            Opts::new("build_info", "Always 1; the version is the label."),
            &["version"],
        )
        .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let index_loaded = IntGauge::new(
            "index_namespaces_loaded",
            "Namespace search indexes in memory (keyword and vector copies count apart).",
        )
        .expect("valid metric");
        let index_bytes = IntGauge::new(
            "index_bytes",
            "Estimated bytes the in-memory search indexes hold.",
        )
        .expect("valid metric");
        let index_statistics_bytes = IntGauge::new(
            "index_statistics_bytes",
            "Estimated bytes the database-wide keyword statistics hold (a bounded sample).",
        )
        .expect("valid metric");
        let index_budget = IntGauge::new(
            "index_budget_bytes",
            "Bytes the in-memory search indexes may hold ([limits] index_memory_bytes).",
        )
        .expect("valid metric");
        let index_loads = IntCounter::new(
            "index_loads_total",
            "Namespace search indexes loaded into memory since start.",
        )
        .expect("valid metric");
        let index_load_failures = IntCounter::new(
            "index_load_failures_total",
            "Namespace search index loads that failed since start.",
        )
        .expect("valid metric");
        let index_evictions = IntCounter::new(
            "index_evictions_total",
            "Namespace search indexes evicted to stay within the budget since start.",
        )
        .expect("valid metric");
        for collector in [
            Box::new(calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rehydrates.clone()),
            Box::new(latency.clone()),
            Box::new(lookups.clone()),
            Box::new(panics.clone()),
            Box::new(memories.clone()),
            Box::new(superseded.clone()),
            Box::new(expired.clone()),
            Box::new(purged.clone()),
            Box::new(database_bytes.clone()),
            Box::new(wal_bytes.clone()),
            Box::new(pool.clone()),
            Box::new(instance.clone()),
            Box::new(fleet.clone()),
            Box::new(uptime.clone()),
            Box::new(embedder.clone()),
            Box::new(build),
            Box::new(index_loaded.clone()),
            Box::new(index_bytes.clone()),
            Box::new(index_statistics_bytes.clone()),
            Box::new(index_budget.clone()),
            Box::new(index_loads.clone()),
            Box::new(index_load_failures.clone()),
            Box::new(index_evictions.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Counters {
            registry,
            calls,
            rehydrates,
            latency,
            lookups,
            panics,
            memories,
            superseded,
            expired,
            purged,
            database_bytes,
            wal_bytes,
            pool,
            instance,
            fleet,
            uptime,
            embedder,
            index_loaded,
            index_bytes,
            index_statistics_bytes,
            index_budget,
            index_loads,
            index_load_failures,
            index_evictions,
        }
    }

    /// Counts one finished call; `role` is its role label, for `rehydrate_memory` only.
    pub(super) fn record_call(&self, call: &Call, role: Option<&str>) {
        let tool = call.tool;
        self.calls
            .with_label_values(&[tool, call.transport.name(), call.outcome])
            .inc();
        self.latency
            .with_label_values(&[tool])
            .observe(call.elapsed.as_secs_f64());
        if let Some(role) = role {
            self.rehydrates
                .with_label_values(&[role, call.outcome])
                .inc();
        }
    }

    /// Counts one cache lookup.
    pub(super) fn record_lookup(&self, cache: Cache, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.lookups
            .with_label_values(&[cache.name(), result])
            .inc();
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, with the scrape-time
    /// gauges taken from `state` and the uptime from `uptime_seconds`.
    pub(super) fn text(&self, state: &State, uptime_seconds: u64) -> String {
        self.memories.reset();
        for (namespace, n) in &state.memories {
            self.memories
                .with_label_values(&[namespace.as_str()])
                .set(clamp(*n));
        }
        self.superseded.set(clamp(state.superseded));
        self.expired.set(clamp(state.expired));
        self.database_bytes.set(clamp(state.database_bytes));
        self.wal_bytes.set(clamp(state.wal_bytes));
        self.instance.reset();
        self.instance
            .with_label_values(&[state.instance.as_str()])
            .set(1);
        self.fleet.set(clamp(state.fleet));
        for (name, n) in ["open", "in_use", "waiting"].iter().zip(state.pool) {
            self.pool.with_label_values(&[name]).set(clamp(n));
        }
        self.uptime.set(clamp(uptime_seconds));
        for name in EMBEDDER_STATES {
            self.embedder
                .with_label_values(&[name])
                .set(i64::from(name == state.embedder));
        }
        let indexes = &state.indexes;
        self.index_loaded.set(clamp(indexes.namespaces_loaded));
        self.index_bytes.set(clamp(indexes.bytes));
        self.index_statistics_bytes
            .set(clamp(indexes.statistics_bytes));
        self.index_budget.set(clamp(indexes.budget_bytes));
        catch_up(&self.index_loads, indexes.loads);
        catch_up(&self.index_load_failures, indexes.load_failures);
        catch_up(&self.index_evictions, indexes.evictions);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Moves `counter` up to `total`, a count the engine keeps (a counter cannot be set, and the
/// engine's never goes down).
fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// Every sample of `counters` as (labels, value); collects that one family only, not the
/// whole registry with its histograms.
pub(super) fn counter_values(counters: &IntCounterVec) -> Vec<(BTreeMap<String, String>, u64)> {
    use prometheus::core::Collector;
    counters
        .collect()
        .into_iter()
        .flat_map(|f| f.get_metric().to_vec())
        .map(|m| {
            let labels = m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().to_string()))
                .collect();
            (labels, m.get_counter().get_value() as u64)
        })
        .collect()
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
