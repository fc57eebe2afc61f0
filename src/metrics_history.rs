//! The numbers behind the charts on `/status`: a small history of tool calls, latency, cache
//! hits and resident memory, kept in memory and bounded in bytes.
//!
//! A sampler task ([`sample_forever`], started by `http::serve`, stopped by its shutdown
//! token) closes one [`Point`] every `[health] history_step_seconds` from the calls
//! [`Metrics`] recorded since the last one. The history keeps two
//! views: the last [`RECENT_POINTS`] points as they were taken (an hour at the default 10 s),
//! and every point since start down-sampled into at most [`OVERVIEW_POINTS`] (two neighbours
//! merge into one whenever the overview fills up, so its step doubles). Both are allocated
//! once, so the history never holds more than [`HISTORY_BYTES`] however long the server runs.
//! This module does no I/O but reading the process's own resident memory. It is handed the
//! history and the counters, never the whole `App` (which holds the history: `app` →
//! `metrics_history` only, no circle).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Points of the recent view: one hour at the default step of 10 s.
pub const RECENT_POINTS: usize = 360;
/// Points of the since-start view, at most.
pub const OVERVIEW_POINTS: usize = 360;
/// The most the history's points take, in bytes.
pub const HISTORY_BYTES: usize = 32 * 1024;

// Both views and the overview point being filled fit in the budget.
const _: () = assert!((RECENT_POINTS + OVERVIEW_POINTS + 1) * size_of::<Point>() <= HISTORY_BYTES);

/// What happened in one stretch of time. Counts, not rates, so that merging two neighbours
/// is exact for everything but the percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Point {
    /// End of the stretch, Unix seconds.
    pub at: i64,
    /// Length of the stretch, seconds.
    pub seconds: u32,
    /// Tool calls that finished in it.
    pub calls: u32,
    /// Those that failed.
    pub errors: u32,
    /// Cache lookups (bundles and query embeddings).
    pub lookups: u32,
    /// Those that hit.
    pub hits: u32,
    /// Median latency, ms (merged points: the mean of the medians, weighted by calls).
    #[serde(serialize_with = "two_decimals")]
    pub p50_ms: f32,
    /// 95th percentile latency, ms (merged points: the worst of the two).
    #[serde(serialize_with = "two_decimals")]
    pub p95_ms: f32,
    /// Resident memory of the process at the end of the stretch, KiB (merged points: the
    /// larger); 0 where the system does not say.
    pub rss_kib: u32,
}

/// An `f32` as JSON with two decimals (`62.62`, not `62.619998931884766`).
fn two_decimals<S: serde::Serializer>(value: &f32, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_f64((f64::from(*value) * 100.0).round() / 100.0)
}

impl Point {
    /// The two neighbours `self` (older) and `next` as one point.
    fn merge(self, next: Point) -> Point {
        let calls = self.calls.saturating_add(next.calls);
        let p50_ms = if calls == 0 {
            0.0
        } else {
            ((f64::from(self.p50_ms) * f64::from(self.calls)
                + f64::from(next.p50_ms) * f64::from(next.calls))
                / f64::from(calls)) as f32
        };
        Point {
            at: next.at,
            seconds: self.seconds.saturating_add(next.seconds),
            calls,
            errors: self.errors.saturating_add(next.errors),
            lookups: self.lookups.saturating_add(next.lookups),
            hits: self.hits.saturating_add(next.hits),
            p50_ms,
            p95_ms: self.p95_ms.max(next.p95_ms),
            rss_kib: self.rss_kib.max(next.rss_kib),
        }
    }
}

/// Both views, as `GET /status/history` serves them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Views {
    /// Seconds between samples.
    pub step_seconds: u64,
    /// The last points as taken, oldest first.
    pub recent: Vec<Point>,
    /// Every point since start, down-sampled, oldest first.
    pub since_start: Vec<Point>,
    /// Seconds each since-start point covers (a multiple of the step).
    pub since_start_step_seconds: u64,
}

/// The history; the `App` holds it, shared with the sampler task.
pub struct History {
    /// Seconds between samples.
    step_seconds: u64,
    /// The points; a std mutex, held only to push or copy.
    inner: Mutex<Inner>,
}

struct Inner {
    /// The last [`RECENT_POINTS`] points, oldest first.
    recent: VecDeque<Point>,
    /// Down-sampled points since start, oldest first.
    overview: Vec<Point>,
    /// The overview point being filled.
    pending: Option<Point>,
    /// Samples per overview point; doubles whenever the overview fills up.
    per_overview_point: u32,
    /// Samples merged into `pending` so far.
    pending_samples: u32,
    /// End of the last sample (or the start): where the next one begins.
    since: Instant,
}

impl History {
    /// An empty history sampled every `step_seconds`.
    pub fn new(step_seconds: u64) -> History {
        History {
            step_seconds,
            inner: Mutex::new(Inner {
                recent: VecDeque::with_capacity(RECENT_POINTS),
                overview: Vec::with_capacity(OVERVIEW_POINTS),
                pending: None,
                per_overview_point: 1,
                pending_samples: 0,
                since: Instant::now(),
            }),
        }
    }

    /// Seconds between samples.
    pub fn step(&self) -> Duration {
        Duration::from_secs(self.step_seconds)
    }

    /// Where the next sample begins: the end of the last one, or the start.
    pub fn since(&self) -> Instant {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).since
    }

    /// Adds one sample, ending at `until`, to both views.
    pub fn push(&self, point: Point, until: Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.since = until;
        if inner.recent.len() == RECENT_POINTS {
            inner.recent.pop_front();
        }
        inner.recent.push_back(point);
        let merged = match inner.pending {
            Some(pending) => pending.merge(point),
            None => point,
        };
        inner.pending_samples += 1;
        if inner.pending_samples < inner.per_overview_point {
            inner.pending = Some(merged);
            return;
        }
        inner.pending = None;
        inner.pending_samples = 0;
        if inner.overview.len() == OVERVIEW_POINTS {
            // Full: halve the resolution in place, so the allocation never grows.
            let halved: Vec<Point> = inner
                .overview
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => a.merge(*b),
                    [a] => *a,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            inner.overview.clear();
            inner.overview.extend(halved);
            inner.per_overview_point *= 2;
        }
        inner.overview.push(merged);
    }

    /// Both views now; the since-start view ends with the point still being filled.
    pub fn views(&self) -> Views {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut since_start = inner.overview.clone();
        since_start.extend(inner.pending);
        Views {
            step_seconds: self.step_seconds,
            recent: inner.recent.iter().copied().collect(),
            since_start,
            since_start_step_seconds: self.step_seconds * u64::from(inner.per_overview_point),
        }
    }

    /// Bytes the points can take (the allocations, not just the points in use).
    pub fn bytes(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.recent.capacity() + inner.overview.capacity() + 1) * size_of::<Point>()
    }
}

impl History {
    /// The stretch from the end of the last sample to `until` (`until_unix` on the wall
    /// clock), from the calls and lookups `metrics` recorded in it.
    pub fn measure(&self, metrics: &Metrics, until: Instant, until_unix: i64) -> Point {
        let since = self.since();
        let interval = metrics.interval(since, until);
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let seconds = until.saturating_duration_since(since).as_secs_f64().round() as u64;
        Point {
            at: until_unix,
            seconds: clamp(seconds).max(1),
            calls: clamp(interval.calls),
            errors: clamp(interval.errors),
            lookups: clamp(interval.lookups),
            hits: clamp(interval.hits),
            p50_ms: interval.latency_ms.p50 as f32,
            p95_ms: interval.latency_ms.p95 as f32,
            rss_kib: clamp(crate::process::rss_kib(std::process::id()).unwrap_or(0)),
        }
    }
}

/// Takes a sample of `metrics` into `history` every step until `stop` is cancelled.
pub async fn sample_forever(history: Arc<History>, metrics: Arc<Metrics>, stop: CancellationToken) {
    let step = history.step();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + step, step);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let until = Instant::now();
        history.push(
            history.measure(&metrics, until, chrono::Utc::now().timestamp()),
            until,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: i64, calls: u32) -> Point {
        Point {
            at,
            seconds: 10,
            calls,
            errors: calls / 10,
            lookups: 4,
            hits: 1,
            p50_ms: calls as f32,
            p95_ms: at as f32,
            rss_kib: 1000 + at as u32,
        }
    }

    #[test]
    fn merging_sums_counts_and_keeps_the_worst() {
        let m = point(10, 10).merge(point(20, 30));
        assert_eq!((m.at, m.seconds, m.calls, m.errors), (20, 20, 40, 4));
        assert_eq!((m.lookups, m.hits), (8, 2));
        assert_eq!(m.p50_ms, 25.0, "weighted by calls");
        assert_eq!((m.p95_ms, m.rss_kib), (20.0, 1020));
        assert_eq!(Point::default().merge(Point::default()).p50_ms, 0.0);
    }

    #[test]
    fn recent_keeps_the_last_hour() {
        let h = History::new(10);
        for i in 1..=400 {
            h.push(point(i * 10, 1), Instant::now());
        }
        let v = h.views();
        assert_eq!(v.recent.len(), RECENT_POINTS);
        assert_eq!(
            v.recent.first().unwrap().at,
            (400 - RECENT_POINTS as i64 + 1) * 10
        );
        assert_eq!(v.recent.last().unwrap().at, 4000);
    }

    #[test]
    fn since_start_is_down_sampled_and_complete() {
        let h = History::new(10);
        let n = 10_000;
        for i in 1..=n {
            h.push(point(i * 10, 2), Instant::now());
        }
        let v = h.views();
        assert!(v.since_start.len() <= OVERVIEW_POINTS + 1);
        assert!(
            v.since_start.len() > OVERVIEW_POINTS / 2,
            "{}",
            v.since_start.len()
        );
        // Nothing is lost: every call and every second since start is in some point.
        let calls: u64 = v.since_start.iter().map(|p| u64::from(p.calls)).sum();
        let seconds: u64 = v.since_start.iter().map(|p| u64::from(p.seconds)).sum();
        assert_eq!(calls, 2 * n as u64);
        assert_eq!(seconds, 10 * n as u64);
        assert_eq!(v.since_start.last().unwrap().at, n * 10);
        assert_eq!(
            v.since_start_step_seconds,
            10 * 32,
            "10,000 samples in 360 points"
        );
        assert!(v.since_start.windows(2).all(|w| w[0].at < w[1].at));
    }

    /// The sampler closes a point per step from the calls in between, and stops with the
    /// token.
    #[tokio::test(start_paused = true)]
    async fn the_sampler_closes_a_point_per_step_and_stops() {
        let history = Arc::new(History::new(10));
        let metrics = Arc::new(Metrics::new(vec![], Duration::from_secs(300)));
        let stop = CancellationToken::new();
        let sampler = tokio::spawn(sample_forever(
            history.clone(),
            metrics.clone(),
            stop.clone(),
        ));
        let call = |outcome| crate::metrics::Call {
            tool: "search_memory",
            role: None,
            transport: crate::metrics::Transport::ToolsCall,
            outcome,
            error: None,
            elapsed: Duration::from_millis(4),
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        for outcome in ["ok", "ok", "not_found"] {
            metrics.record_call(&call(outcome));
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        metrics.record_call(&call("ok"));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let views = history.views();
        let points: Vec<(u32, u32)> = views.recent.iter().map(|p| (p.calls, p.errors)).collect();
        assert_eq!(points, [(3, 1), (1, 0)]);
        assert_eq!(views.recent[0].p50_ms, 4.0);
        stop.cancel();
        sampler.await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(history.views().recent.len(), 2, "no samples after the stop");
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let h = History::new(1);
        let before = h.bytes();
        for i in 1..=100_000 {
            h.push(point(i, 1), Instant::now());
        }
        assert_eq!(h.bytes(), before, "no allocation grows");
        assert!(h.bytes() <= HISTORY_BYTES, "{} bytes", h.bytes());
    }
}
