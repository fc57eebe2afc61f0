//! What memoryd counts about itself: tool calls, their latency and outcome, cache lookups.
//!
//! Two views of the same events. Lifetime counters and latency histograms live in a
//! Prometheus registry (the `prometheus` crate) and are exposed as text for scrapers, which
//! compute their own windows with `rate()`. People and `/health` need "how is it doing now",
//! so the last few minutes of calls and lookups are also kept as samples ([`Metrics::snapshot`]
//! computes exact percentiles and rates over them): a burst of errors last week does not keep
//! a months-old daemon degraded, and one today is not diluted by a million good calls.
//!
//! Labels stay bounded: tool names are the tools that exist (anything else is `unknown`),
//! roles are the configured ones (anything else is `other`). This module does no I/O; the
//! HTTP layer gathers database and model state and hands it in.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use serde::Serialize;

/// Recent errors kept for `/status`.
const RECENT_ERRORS: usize = 20;

/// Samples kept at most, whatever the window, so memory stays bounded under heavy load. A
/// compressed soak (2,800 calls/s) filled 100,000 of each, 6.3 MB of calls alone plus a copy
/// per snapshot (heaptrack); 20,000 recent calls still give steady percentiles.
const MAX_SAMPLES: usize = 20_000;

/// How a call reached memoryd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `memoryd stdio`.
    Stdio,
    /// MCP Streamable HTTP at `/mcp`.
    McpHttp,
    /// Plain JSON at `POST /mcp/tools/call`.
    ToolsCall,
}

impl Transport {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::McpHttp => "mcp_http",
            Transport::ToolsCall => "tools_call",
        }
    }
}

/// A cache whose lookups are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cache {
    /// `rehydrate_memory` bundles.
    Bundle,
    /// Query text → embedding vector.
    QueryEmbedding,
}

impl Cache {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Bundle => "rehydrate_bundle",
            Cache::QueryEmbedding => "query_embedding",
        }
    }
}

/// One finished tool call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The tool's label: its name when it exists (the caller checks against the tool
    /// table), `unknown` otherwise, so labels stay bounded.
    pub tool: &'static str,
    /// `role` argument of `rehydrate_memory`, if any.
    pub role: Option<String>,
    /// How it arrived.
    pub transport: Transport,
    /// `ok`, or the error's code (`invalid_argument`, `not_found`, `unknown_tool`, `internal`).
    pub outcome: &'static str,
    /// The error's first line, for the recent-errors list.
    pub error: Option<String>,
    /// Time spent in the tool.
    pub elapsed: Duration,
}

/// The process's counters; shared as an `Arc` through `App`.
pub struct Metrics {
    /// When the process started counting.
    started: Instant,
    /// The same moment on the wall clock, for people.
    started_at: DateTime<Utc>,
    /// Role names that get their own label; others count as `other`.
    roles: Vec<String>,
    /// How far back [`Metrics::snapshot`] looks.
    window: Duration,
    /// Everything exposed to Prometheus.
    registry: Registry,
    /// `memoryd_tool_calls_total{tool, transport, outcome}`.
    calls: IntCounterVec,
    /// `memoryd_rehydrate_calls_total{role, outcome}`.
    rehydrates: IntCounterVec,
    /// `memoryd_tool_duration_seconds{tool}`.
    latency: HistogramVec,
    /// `memoryd_cache_lookups_total{cache, result}`.
    lookups: IntCounterVec,
    /// Scrape-time gauges, set from [`State`] just before encoding.
    memories: IntGaugeVec,
    database_bytes: IntGauge,
    wal_bytes: IntGauge,
    pool: IntGaugeVec,
    instance: IntGaugeVec,
    fleet: IntGauge,
    uptime: IntGauge,
    embedder: IntGaugeVec,
    /// Samples of the window and the last errors; a std mutex, held only to push or copy.
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    calls: VecDeque<Sample>,
    lookups: VecDeque<(Instant, Cache, bool)>,
    errors: VecDeque<ErrorRecord>,
}

struct Sample {
    at: Instant,
    tool: &'static str,
    ok: bool,
    micros: u64,
}

/// One failed call, as `/metrics` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorRecord {
    /// When it failed (RFC 3339, UTC).
    pub at: String,
    /// The tool.
    pub tool: String,
    /// The role label, for `rehydrate_memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How it arrived.
    pub transport: &'static str,
    /// The error code.
    pub code: &'static str,
    /// What went wrong (first line of the message).
    pub message: String,
}

/// Database and model facts gathered by the caller at scrape time.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Memories per namespace.
    pub memories: Vec<(String, u64)>,
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
}

/// Embedder states, one-hot in `memoryd_embedder_state`.
const EMBEDDER_STATES: [&str; 5] = ["not_installed", "installing", "loading", "ready", "failed"];

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// One tool's numbers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ToolStats {
    /// Calls since start.
    pub calls: u64,
    /// Failed calls since start.
    pub errors: u64,
    /// Calls in the window.
    pub window_calls: u64,
    /// Mean latency in the window, ms.
    pub avg_ms: f64,
    /// Latency percentiles in the window, ms.
    pub latency_ms: Latency,
}

/// One role's numbers (`rehydrate_memory` only).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RoleStats {
    /// Calls since start.
    pub calls: u64,
    /// Failed calls since start.
    pub errors: u64,
}

/// One cache's numbers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CacheStats {
    /// Hits since start.
    pub hits: u64,
    /// Misses since start.
    pub misses: u64,
    /// Lookups in the window.
    pub window_lookups: u64,
    /// Hits per lookup in the window, percent (0 when there were none).
    pub hit_rate_percent: f64,
}

/// The counters at one moment: what `/metrics` (JSON) and `/health` report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The window that the rates and percentiles cover, in seconds.
    pub window_seconds: u64,
    /// Tool calls since start, every transport.
    pub requests_total: u64,
    /// Failed tool calls since start.
    pub errors_total: u64,
    /// Tool calls in the window.
    pub window_requests: u64,
    /// Failed calls per call in the window, percent.
    pub error_rate_percent: f64,
    /// Mean tool latency in the window, ms.
    pub avg_response_time_ms: f64,
    /// Latency percentiles over every tool in the window, ms.
    pub latency_ms: Latency,
    /// Cache hits per lookup in the window over every cache, percent (0 with no lookups).
    pub cache_hit_rate_percent: f64,
    /// Cache lookups in the window over every cache.
    pub cache_lookups: u64,
    /// Per cache.
    pub caches: BTreeMap<&'static str, CacheStats>,
    /// Per tool (every tool is listed, called or not).
    pub tools: BTreeMap<&'static str, ToolStats>,
    /// Per role, for `rehydrate_memory` (every configured role is listed).
    pub roles: BTreeMap<String, RoleStats>,
    /// Calls since start per transport.
    pub transports: BTreeMap<&'static str, u64>,
    /// The last failed calls, newest first.
    pub recent_errors: Vec<ErrorRecord>,
}

impl Metrics {
    /// Counters for a process whose configured roles are `roles`, with rates over `window`.
    pub fn new(roles: Vec<String>, window: Duration) -> Metrics {
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
        let memories = IntGaugeVec::new(
            Opts::new("memories", "Memories stored, by namespace."),
            &["namespace"],
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
        for collector in [
            Box::new(calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rehydrates.clone()),
            Box::new(latency.clone()),
            Box::new(lookups.clone()),
            Box::new(memories.clone()),
            Box::new(database_bytes.clone()),
            Box::new(wal_bytes.clone()),
            Box::new(pool.clone()),
            Box::new(instance.clone()),
            Box::new(fleet.clone()),
            Box::new(uptime.clone()),
            Box::new(embedder.clone()),
            Box::new(build),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            started: Instant::now(),
            started_at: Utc::now(),
            roles,
            window,
            registry,
            calls,
            rehydrates,
            latency,
            lookups,
            memories,
            database_bytes,
            wal_bytes,
            pool,
            instance,
            fleet,
            uptime,
            embedder,
            recent: Mutex::new(Recent::default()),
        }
    }

    /// The role label for `role`.
    fn role_label(&self, role: Option<&str>) -> String {
        match role {
            Some(r) if self.roles.iter().any(|k| k == r) => r.to_string(),
            _ => "other".to_string(),
        }
    }

    /// Counts one finished tool call.
    pub fn record_call(&self, call: &Call) {
        let tool = call.tool;
        let ok = call.outcome == "ok";
        self.calls
            .with_label_values(&[tool, call.transport.name(), call.outcome])
            .inc();
        self.latency
            .with_label_values(&[tool])
            .observe(call.elapsed.as_secs_f64());
        let role = (tool == "rehydrate_memory").then(|| self.role_label(call.role.as_deref()));
        if let Some(role) = &role {
            self.rehydrates
                .with_label_values(&[role.as_str(), call.outcome])
                .inc();
        }
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.calls.push_back(Sample {
            at: now,
            tool,
            ok,
            micros: call.elapsed.as_micros().min(u64::MAX as u128) as u64,
        });
        if !ok {
            recent.errors.push_front(ErrorRecord {
                at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                tool: tool.to_string(),
                role,
                transport: call.transport.name(),
                code: call.outcome,
                message: call
                    .error
                    .as_deref()
                    .and_then(|m| m.lines().next())
                    .unwrap_or("")
                    .to_string(),
            });
            recent.errors.truncate(RECENT_ERRORS);
        }
        self.prune(&mut recent, now);
    }

    /// Counts one cache lookup.
    pub fn record_lookup(&self, cache: Cache, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.lookups
            .with_label_values(&[cache.name(), result])
            .inc();
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.lookups.push_back((now, cache, hit));
        self.prune(&mut recent, now);
    }

    fn prune(&self, recent: &mut Recent, now: Instant) {
        let fresh = |at: Instant| now.duration_since(at) <= self.window;
        while recent.calls.len() > MAX_SAMPLES || recent.calls.front().is_some_and(|s| !fresh(s.at))
        {
            recent.calls.pop_front();
        }
        while recent.lookups.len() > MAX_SAMPLES
            || recent.lookups.front().is_some_and(|l| !fresh(l.0))
        {
            recent.lookups.pop_front();
        }
    }

    /// Calls and cache lookups held for the window (each at most `MAX_SAMPLES`).
    pub fn window_samples(&self) -> u64 {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        (recent.calls.len() + recent.lookups.len()) as u64
    }

    /// Seconds since start.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The numbers now, with a row for each of `tools` (called or not).
    pub fn snapshot(&self, tools: &[&'static str]) -> Snapshot {
        let known = tools;
        let now = Instant::now();
        let (window_calls, window_lookups, recent_errors) = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            self.prune(&mut recent, now);
            let calls: Vec<(&'static str, bool, u64)> = recent
                .calls
                .iter()
                .map(|s| (s.tool, s.ok, s.micros))
                .collect();
            let lookups: Vec<(Cache, bool)> = recent.lookups.iter().map(|l| (l.1, l.2)).collect();
            (calls, lookups, recent.errors.iter().cloned().collect())
        };

        let mut tools: BTreeMap<&'static str, ToolStats> =
            known.iter().map(|t| (*t, ToolStats::default())).collect();
        let mut transports: BTreeMap<&'static str, u64> =
            [Transport::Stdio, Transport::McpHttp, Transport::ToolsCall]
                .iter()
                .map(|t| (t.name(), 0))
                .collect();
        let (mut requests_total, mut errors_total) = (0, 0);
        for (labels, n) in counter_values(&self.calls) {
            let (tool, transport, outcome) =
                (&labels["tool"], &labels["transport"], &labels["outcome"]);
            requests_total += n;
            let failed = outcome != "ok";
            if failed {
                errors_total += n;
            }
            if let Some(t) = transports.get_mut(transport.as_str()) {
                *t += n;
            }
            let label = known
                .iter()
                .find(|t| **t == tool.as_str())
                .copied()
                .unwrap_or("unknown");
            let stats = tools.entry(label).or_default();
            stats.calls += n;
            if failed {
                stats.errors += n;
            }
        }
        for (tool, stats) in tools.iter_mut() {
            let micros: Vec<u64> = window_calls
                .iter()
                .filter(|c| c.0 == *tool)
                .map(|c| c.2)
                .collect();
            stats.window_calls = micros.len() as u64;
            stats.avg_ms = mean_ms(&micros);
            stats.latency_ms = percentiles(micros);
        }

        let mut roles: BTreeMap<String, RoleStats> = self
            .roles
            .iter()
            .map(|r| (r.clone(), RoleStats::default()))
            .collect();
        for (labels, n) in counter_values(&self.rehydrates) {
            let stats = roles.entry(labels["role"].clone()).or_default();
            stats.calls += n;
            if labels["outcome"] != "ok" {
                stats.errors += n;
            }
        }

        let mut caches: BTreeMap<&'static str, CacheStats> = [Cache::Bundle, Cache::QueryEmbedding]
            .iter()
            .map(|c| (c.name(), CacheStats::default()))
            .collect();
        for (labels, n) in counter_values(&self.lookups) {
            if let Some(stats) = caches.get_mut(labels["cache"].as_str()) {
                if labels["result"] == "hit" {
                    stats.hits += n;
                } else {
                    stats.misses += n;
                }
            }
        }
        for cache in [Cache::Bundle, Cache::QueryEmbedding] {
            let seen: Vec<bool> = window_lookups
                .iter()
                .filter(|l| l.0 == cache)
                .map(|l| l.1)
                .collect();
            let stats = caches.get_mut(cache.name()).expect("listed above");
            stats.window_lookups = seen.len() as u64;
            stats.hit_rate_percent = percent(seen.iter().filter(|h| **h).count(), seen.len());
        }
        let hits = window_lookups.iter().filter(|l| l.1).count();

        let micros: Vec<u64> = window_calls.iter().map(|c| c.2).collect();
        let failed = window_calls.iter().filter(|c| !c.1).count();
        Snapshot {
            uptime_seconds: self.uptime_seconds(),
            started_at: self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            window_seconds: self.window.as_secs(),
            requests_total,
            errors_total,
            window_requests: window_calls.len() as u64,
            error_rate_percent: percent(failed, window_calls.len()),
            avg_response_time_ms: mean_ms(&micros),
            latency_ms: percentiles(micros),
            cache_hit_rate_percent: percent(hits, window_lookups.len()),
            cache_lookups: window_lookups.len() as u64,
            caches,
            tools,
            roles,
            transports,
            recent_errors,
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, with the scrape-time
    /// gauges taken from `state`.
    pub fn prometheus_text(&self, state: &State) -> String {
        self.memories.reset();
        for (namespace, n) in &state.memories {
            self.memories
                .with_label_values(&[namespace.as_str()])
                .set(clamp(*n));
        }
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
        self.uptime.set(clamp(self.uptime_seconds()));
        for name in EMBEDDER_STATES {
            self.embedder
                .with_label_values(&[name])
                .set(i64::from(name == state.embedder));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The calls and cache lookups of one stretch of time, for the history on `/status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interval {
    /// Tool calls that finished in the stretch.
    pub calls: u64,
    /// Those that failed.
    pub errors: u64,
    /// Their latency percentiles, ms.
    pub latency_ms: Latency,
    /// Cache lookups, every cache.
    pub lookups: u64,
    /// Those that hit.
    pub hits: u64,
}

impl Metrics {
    /// The calls and lookups recorded after `since` and up to `until`. Reads the window's
    /// samples, so a stretch longer than `[health] window_seconds` is cut to the window.
    pub fn interval(&self, since: Instant, until: Instant) -> Interval {
        let within = |at: Instant| at > since && at <= until;
        let (micros, errors, lookups, hits) = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            self.prune(&mut recent, Instant::now());
            let calls = recent.calls.iter().filter(|s| within(s.at));
            let micros: Vec<u64> = calls.clone().map(|s| s.micros).collect();
            let errors = calls.filter(|s| !s.ok).count() as u64;
            let lookups = recent.lookups.iter().filter(|l| within(l.0));
            let (lookups, hits) = lookups.fold((0, 0), |(n, h), l| (n + 1, h + u64::from(l.2)));
            (micros, errors, lookups, hits)
        };
        // Sorted outside the lock, so calls finishing meanwhile do not wait.
        Interval {
            calls: micros.len() as u64,
            errors,
            latency_ms: percentiles(micros),
            lookups,
            hits,
        }
    }
}

/// Every sample of `counters` as (labels, value); collects that one family only, not the
/// whole registry with its histograms.
fn counter_values(counters: &IntCounterVec) -> Vec<(BTreeMap<String, String>, u64)> {
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

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round2(part as f64 * 100.0 / whole as f64)
    }
}

fn mean_ms(micros: &[u64]) -> f64 {
    if micros.is_empty() {
        return 0.0;
    }
    round2(micros.iter().sum::<u64>() as f64 / micros.len() as f64 / 1000.0)
}

/// Nearest-rank percentiles of the samples.
fn percentiles(mut micros: Vec<u64>) -> Latency {
    if micros.is_empty() {
        return Latency::default();
    }
    micros.sort_unstable();
    let rank = |p: f64| {
        let i = ((p / 100.0) * micros.len() as f64).ceil() as usize;
        round2(micros[i.clamp(1, micros.len()) - 1] as f64 / 1000.0)
    };
    Latency {
        p50: rank(50.0),
        p95: rank(95.0),
        p99: rank(99.0),
        max: round2(*micros.last().expect("not empty") as f64 / 1000.0),
    }
}

/// Two decimals are plenty for people and keep JSON readable.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(
            vec!["planner".into(), "implementer".into()],
            Duration::from_secs(300),
        )
    }

    /// The tool list the snapshots below report on.
    const TOOLS: [&str; 3] = ["get_memory", "rehydrate_memory", "search_memory"];

    fn call(tool: &'static str, role: Option<&str>, outcome: &'static str, ms: u64) -> Call {
        Call {
            tool,
            role: role.map(String::from),
            transport: Transport::ToolsCall,
            outcome,
            error: (outcome != "ok").then(|| format!("{outcome} happened\nhint")),
            elapsed: Duration::from_millis(ms),
        }
    }

    #[test]
    fn rates_and_percentiles_follow_the_calls() {
        let m = metrics();
        for ms in 1..=100 {
            m.record_call(&call("search_memory", None, "ok", ms));
        }
        m.record_call(&call("rehydrate_memory", Some("planner"), "ok", 5));
        m.record_call(&call(
            "rehydrate_memory",
            Some("nobody"),
            "invalid_argument",
            1,
        ));
        let s = m.snapshot(&TOOLS);
        assert_eq!(s.requests_total, 102);
        assert_eq!(s.errors_total, 1);
        assert_eq!(s.error_rate_percent, round2(100.0 / 102.0));
        let search = &s.tools["search_memory"];
        assert_eq!((search.calls, search.errors), (100, 0));
        assert_eq!(search.latency_ms.p50, 50.0);
        assert_eq!(search.latency_ms.p95, 95.0);
        assert_eq!(search.latency_ms.p99, 99.0);
        assert_eq!(search.latency_ms.max, 100.0);
        assert_eq!(search.avg_ms, 50.5);
        assert_eq!(
            s.roles["planner"],
            RoleStats {
                calls: 1,
                errors: 0
            }
        );
        assert_eq!(
            s.roles["other"],
            RoleStats {
                calls: 1,
                errors: 1
            }
        );
        assert_eq!(s.roles["implementer"], RoleStats::default());
        assert_eq!(s.transports["tools_call"], 102);
        assert_eq!(s.recent_errors.len(), 1);
        assert_eq!(s.recent_errors[0].message, "invalid_argument happened");
        assert_eq!(s.recent_errors[0].role.as_deref(), Some("other"));
    }

    #[test]
    fn cache_rates_per_cache_and_overall() {
        let m = metrics();
        m.record_lookup(Cache::Bundle, false);
        m.record_lookup(Cache::Bundle, true);
        m.record_lookup(Cache::Bundle, true);
        m.record_lookup(Cache::QueryEmbedding, false);
        let s = m.snapshot(&TOOLS);
        assert_eq!(s.caches["rehydrate_bundle"].hit_rate_percent, 66.67);
        assert_eq!(
            (
                s.caches["rehydrate_bundle"].hits,
                s.caches["rehydrate_bundle"].misses
            ),
            (2, 1)
        );
        assert_eq!(s.cache_hit_rate_percent, 50.0);
        assert_eq!(s.cache_lookups, 4);
    }

    #[test]
    fn samples_older_than_the_window_leave_the_rates_but_not_the_totals() {
        let m = Metrics::new(vec![], Duration::ZERO);
        m.record_call(&call("get_memory", None, "not_found", 3));
        std::thread::sleep(Duration::from_millis(2));
        let s = m.snapshot(&TOOLS);
        assert_eq!((s.requests_total, s.errors_total), (1, 1));
        assert_eq!((s.window_requests, s.error_rate_percent), (0, 0.0));
    }

    #[test]
    fn every_listed_tool_has_a_row_and_unknown_calls_have_their_own() {
        let m = metrics();
        m.record_call(&call("unknown", None, "unknown_tool", 0));
        m.record_call(&call("unknown", None, "unknown_tool", 0));
        let text = m.prometheus_text(&State::default());
        assert!(text.contains(
            "memoryd_tool_calls_total{outcome=\"unknown_tool\",tool=\"unknown\",transport=\"tools_call\"} 2"
        ), "{text}");
        let s = m.snapshot(&TOOLS);
        let rows: Vec<&str> = s.tools.keys().copied().collect();
        assert_eq!(
            rows,
            ["get_memory", "rehydrate_memory", "search_memory", "unknown"]
        );
        assert_eq!(s.tools["unknown"].errors, 2);
    }

    #[test]
    fn gauges_come_from_the_state() {
        let m = metrics();
        let state = State {
            memories: vec![("default".into(), 7), ("proj".into(), 2)],
            database_bytes: 4096,
            wal_bytes: 8,
            pool: [5, 2, 1],
            embedder: "ready",
            instance: "db-1:3000".into(),
            fleet: 3,
        };
        let text = m.prometheus_text(&state);
        for line in [
            "memoryd_database_pool_connections{state=\"open\"} 5",
            "memoryd_instance_info{id=\"db-1:3000\"} 1",
            "memoryd_fleet_instances 3",
            "memoryd_database_pool_connections{state=\"in_use\"} 2",
            "memoryd_database_pool_connections{state=\"waiting\"} 1",
            "memoryd_memories{namespace=\"default\"} 7",
            "memoryd_memories{namespace=\"proj\"} 2",
            "memoryd_database_size_bytes 4096",
            "memoryd_wal_size_bytes 8",
            "memoryd_embedder_state{state=\"ready\"} 1",
            "memoryd_embedder_state{state=\"loading\"} 0",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        // A namespace that emptied disappears rather than staying at its last value.
        let text = m.prometheus_text(&State {
            memories: vec![("default".into(), 7)],
            ..state
        });
        assert!(!text.contains("namespace=\"proj\""));
    }
}
