//! The counters at one moment, as `/metrics` (JSON) and `/health` report them: lifetime
//! totals from the registry, rates and percentiles over the window's samples, a row for
//! every tool, role and cache whether used or not. Reads both; records nothing.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use serde::Serialize;

use super::Metrics;
use super::event::{Cache, Transport};
use super::registry::counter_values;
use super::summary::{Latency, mean_ms, percent, percentiles};
use super::window::ErrorRecord;

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
    /// Request handlers that panicked since start (each answered with an internal error).
    pub panics_total: u64,
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
    /// The numbers now, with a row for each of `tools` (called or not).
    pub fn snapshot(&self, tools: &[&'static str]) -> Snapshot {
        let known = tools;
        let samples = self.window.samples();
        let (window_calls, window_lookups, recent_errors) =
            (samples.calls, samples.lookups, samples.errors);

        let mut tools: BTreeMap<&'static str, ToolStats> =
            known.iter().map(|t| (*t, ToolStats::default())).collect();
        let mut transports: BTreeMap<&'static str, u64> =
            [Transport::Stdio, Transport::McpHttp, Transport::ToolsCall]
                .iter()
                .map(|t| (t.name(), 0))
                .collect();
        let (mut requests_total, mut errors_total) = (0, 0);
        for (labels, n) in counter_values(&self.counters.calls) {
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
        for (labels, n) in counter_values(&self.counters.rehydrates) {
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
        for (labels, n) in counter_values(&self.counters.lookups) {
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
            window_seconds: self.window.span().as_secs(),
            requests_total,
            errors_total,
            panics_total: self.counters.panics.get(),
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
}
