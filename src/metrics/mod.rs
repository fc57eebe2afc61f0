//! What memoryd counts about itself: tool calls, their latency and outcome, cache lookups.
//!
//! Two views of the same events, one file each. Lifetime counters and latency histograms
//! live in a Prometheus registry ([`registry`]) and are exposed as text for scrapers, which
//! compute their own windows with `rate()`. People and `/health` need "how is it doing now",
//! so the last few minutes of calls and lookups are also kept as samples ([`window`]);
//! [`Metrics::snapshot`] ([`snapshot`]) computes exact percentiles and rates over them
//! ([`summary`]). [`Metrics`] is the one handle that records into both.
//!
//! Labels stay bounded: tool names are the tools that exist (anything else is `unknown`),
//! roles are the configured ones (anything else is `other`). This module does no I/O; the
//! HTTP layer gathers database and model state and hands it in.

mod event;
mod registry;
mod snapshot;
mod summary;
mod window;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub use event::{Cache, Call, Transport};
pub use registry::State;
pub use snapshot::{CacheStats, RoleStats, Snapshot, ToolStats};
pub use summary::Latency;
pub use window::{ErrorRecord, Interval};

use registry::Counters;
use window::Window;

/// The process's counters; shared as an `Arc` through `App`.
pub struct Metrics {
    /// When the process started counting.
    started: Instant,
    /// The same moment on the wall clock, for people.
    started_at: DateTime<Utc>,
    /// Role names that get their own label; others count as `other`.
    roles: Vec<String>,
    /// Lifetime counters and histograms, exposed to Prometheus.
    counters: Counters,
    /// The samples [`Metrics::snapshot`] computes rates over, and the last errors.
    window: Window,
}

impl Metrics {
    /// Counters for a process whose configured roles are `roles`, with rates over `window`.
    pub fn new(roles: Vec<String>, window: Duration) -> Metrics {
        Metrics {
            started: Instant::now(),
            started_at: Utc::now(),
            roles,
            counters: Counters::new(),
            window: Window::new(window),
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
        let role = (call.tool == "rehydrate_memory").then(|| self.role_label(call.role.as_deref()));
        self.counters.record_call(call, role.as_deref());
        self.window.record_call(call, role);
    }

    /// Counts one cache lookup.
    pub fn record_lookup(&self, cache: Cache, hit: bool) {
        self.counters.record_lookup(cache, hit);
        self.window.record_lookup(cache, hit);
    }

    /// Counts one handler that panicked (and was answered with an internal error).
    pub fn record_panic(&self) {
        self.counters.panics.inc();
    }

    /// Counts memories this process's sweep purged.
    pub fn record_purged(&self, n: u64) {
        self.counters.purged.inc_by(n);
    }

    /// Memories this process's sweep purged since it started.
    pub fn purged(&self) -> u64 {
        self.counters.purged.get()
    }

    /// Calls and cache lookups held for the window (each at most a fixed number).
    pub fn window_samples(&self) -> u64 {
        self.window.len()
    }

    /// Seconds since start.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, with the scrape-time
    /// gauges taken from `state`.
    pub fn prometheus_text(&self, state: &State) -> String {
        self.counters.text(state, self.uptime_seconds())
    }

    /// The calls and lookups recorded after `since` and up to `until`. Reads the window's
    /// samples, so a stretch longer than `[health] window_seconds` is cut to the window.
    pub fn interval(&self, since: Instant, until: Instant) -> Interval {
        self.window.interval(since, until)
    }
}

#[cfg(test)]
mod tests {
    use super::summary::round2;
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
            superseded: 3,
            expired: 4,
            database_bytes: 4096,
            wal_bytes: 8,
            pool: [5, 2, 1],
            embedder: "ready",
            instance: "db-1:3000".into(),
            fleet: 3,
            indexes: crate::index::IndexFootprint {
                namespaces_loaded: 2,
                bytes: 1500,
                budget_bytes: 4096,
                loads: 5,
                evictions: 3,
                ..Default::default()
            },
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
            "memoryd_memories_superseded 3",
            "memoryd_memories_expired 4",
            "memoryd_memories_purged_total 0",
            "memoryd_database_size_bytes 4096",
            "memoryd_wal_size_bytes 8",
            "memoryd_embedder_state{state=\"ready\"} 1",
            "memoryd_embedder_state{state=\"loading\"} 0",
            "memoryd_index_namespaces_loaded 2",
            "memoryd_index_bytes 1500",
            "memoryd_index_budget_bytes 4096",
            "memoryd_index_loads_total 5",
            "memoryd_index_load_failures_total 0",
            "memoryd_index_evictions_total 3",
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
