//! Summaries of samples for people: nearest-rank latency percentiles, means and percentages,
//! rounded to two decimals. Pure functions; no state, no locks.

use serde::Serialize;

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

/// `part` of `whole` in percent (0 when `whole` is 0).
pub(super) fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round2(part as f64 * 100.0 / whole as f64)
    }
}

/// The mean of samples in microseconds, in milliseconds (0 when there are none).
pub(super) fn mean_ms(micros: &[u64]) -> f64 {
    if micros.is_empty() {
        return 0.0;
    }
    round2(micros.iter().sum::<u64>() as f64 / micros.len() as f64 / 1000.0)
}

/// Nearest-rank percentiles of the samples.
pub(super) fn percentiles(mut micros: Vec<u64>) -> Latency {
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
pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
