//! The numbers a load run or a cold-start run produces, and how they are shown: a short
//! table for people and JSON (`--json`) for scripts and CI.
//!
//! Percentiles are exact (nearest rank over every sample, sorted), not estimated from
//! buckets: a run keeps one `Duration` per request, a few MB for millions of requests.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::client::Transport;
use super::workload::Workload;

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Fastest sample.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest sample.
    pub max: f64,
}

impl Latency {
    /// The summary of `samples` (sorted here), or `None` without samples.
    pub fn of(samples: &mut [Duration]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let ms = |d: Duration| round3(d.as_secs_f64() * 1000.0);
        let total: Duration = samples.iter().sum();
        Some(Latency {
            min: ms(samples[0]),
            mean: ms(total / samples.len() as u32),
            p50: ms(percentile(samples, 50.0)),
            p95: ms(percentile(samples, 95.0)),
            p99: ms(percentile(samples, 99.0)),
            max: ms(samples[samples.len() - 1]),
        })
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted, non-empty `samples`.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The server's resident memory around a run.
#[derive(Debug, Clone, Serialize)]
pub struct Server {
    /// Its process id.
    pub pid: u32,
    /// `VmRSS` before the first request, MiB.
    pub rss_mib_before: Option<f64>,
    /// `VmRSS` after the last answer, MiB.
    pub rss_mib_after: Option<f64>,
}

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The server's base URL.
    pub url: String,
    /// How the clients talked to it.
    pub transport: Transport,
    /// What they asked.
    pub workload: Workload,
    /// Concurrent clients.
    pub clients: usize,
    /// From the first request sent to the last answer received, seconds.
    pub elapsed_seconds: f64,
    /// Requests answered (right or wrong).
    pub requests: u64,
    /// Requests with a right answer.
    pub ok: u64,
    /// Requests without one.
    pub errors: u64,
    /// Errors by kind (`http 503`, `timeout`, `tool error`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first failure of each kind, to see what went wrong.
    pub first_error: BTreeMap<String, String>,
    /// Requests per second.
    pub throughput_rps: f64,
    /// Latency of the right answers, ms; absent when there were none.
    pub latency_ms: Option<Latency>,
    /// The same by kind of request (`search`, `store`, ...), when the workload mixes kinds.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_by_op_ms: BTreeMap<String, Latency>,
    /// The server's memory, when its pid is known.
    pub server: Option<Server>,
}

/// MiB from KiB, rounded to 0.1.
pub fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn show_mib(v: Option<f64>) -> String {
    v.map_or("unknown".into(), |m| format!("{m} MiB"))
}

impl LoadReport {
    /// The table people read.
    pub fn table(&self) -> String {
        let mut out = format!(
            "memoryd bench load: {} over {}, {} client{}, {:.1} s, {}\n",
            kebab(&self.workload),
            kebab(&self.transport),
            self.clients,
            if self.clients == 1 { "" } else { "s" },
            self.elapsed_seconds,
            self.url
        );
        out += &format!(
            "  requests {}, errors {}, throughput {:.1} req/s\n",
            self.requests, self.errors, self.throughput_rps
        );
        if let Some(l) = &self.latency_ms {
            out += &format!(
                "  latency  p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms (mean {:.3}, min {:.3})\n",
                l.p50, l.p95, l.p99, l.max, l.mean, l.min
            );
        }
        for (op, l) in &self.latency_by_op_ms {
            out += &format!(
                "    {op:<17} p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms\n",
                l.p50, l.p95, l.p99, l.max
            );
        }
        for (kind, n) in &self.errors_by_kind {
            out += &format!(
                "  error    {kind}: {n} (first: {})\n",
                self.first_error.get(kind).map_or("", String::as_str)
            );
        }
        match &self.server {
            Some(s) => {
                out += &format!(
                    "  server   pid {}, RSS {} before, {} after\n",
                    s.pid,
                    show_mib(s.rss_mib_before),
                    show_mib(s.rss_mib_after)
                )
            }
            None => out += "  server   RSS not measured (pass --pid or --data-dir)\n",
        }
        out
    }
}

/// What a cold-start run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ColdStartReport {
    /// Runs made.
    pub runs: usize,
    /// Spawn to `initialize` answered, each run, ms.
    pub samples_ms: Vec<f64>,
    /// Median.
    pub p50_ms: f64,
    /// Fastest.
    pub min_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// The target of issue #8.
    pub target_ms: f64,
}

impl ColdStartReport {
    /// The summary of `samples` (non-empty).
    pub fn of(samples: &[Duration], target_ms: f64) -> ColdStartReport {
        let ms = |d: Duration| round3(d.as_secs_f64() * 1000.0);
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        ColdStartReport {
            runs: samples.len(),
            samples_ms: samples.iter().copied().map(ms).collect(),
            p50_ms: ms(percentile(&sorted, 50.0)),
            min_ms: ms(sorted[0]),
            max_ms: ms(sorted[sorted.len() - 1]),
            target_ms,
        }
    }

    /// The table people read.
    pub fn table(&self) -> String {
        format!(
            "memoryd bench cold-start: spawn to initialize answered, {} run{}\n  p50 {:.1} ms, min {:.1} ms, max {:.1} ms (target ≤ {} ms: {})\n",
            self.runs,
            if self.runs == 1 { "" } else { "s" },
            self.p50_ms,
            self.min_ms,
            self.max_ms,
            self.target_ms,
            if self.p50_ms <= self.target_ms {
                "met"
            } else {
                "missed"
            }
        )
    }
}

/// The kebab-case name clap and serde give a value.
fn kebab(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latency::of(&mut samples).unwrap();
        assert_eq!(
            (l.min, l.p50, l.p95, l.p99, l.max),
            (1.0, 50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(l.mean, 50.5);
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 99.0), Duration::from_millis(7));
        assert!(Latency::of(&mut []).is_none());
    }

    #[test]
    fn cold_start_summary() {
        let r = ColdStartReport::of(&[30, 10, 20].map(Duration::from_millis), 50.0);
        assert_eq!((r.p50_ms, r.min_ms, r.max_ms), (20.0, 10.0, 30.0));
        assert_eq!(r.samples_ms, vec![30.0, 10.0, 20.0]);
        assert!(r.table().contains("met"));
    }
}
