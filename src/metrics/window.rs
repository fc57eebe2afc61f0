//! The last few minutes of calls and cache lookups, kept as samples, and the last errors:
//! "how is it doing now" for people, `/health` and the `/status` history. A burst of errors
//! last week does not keep a months-old daemon degraded, and one today is not diluted by a
//! million good calls. Bounded in count ([`MAX_SAMPLES`]) whatever the window; no I/O.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use super::event::{Cache, Call};
use super::summary::{Latency, percentiles};

/// Recent errors kept for `/status`.
const RECENT_ERRORS: usize = 20;

/// Samples kept at most, whatever the window, so memory stays bounded under heavy load. A
/// compressed soak (2,800 calls/s) filled 100,000 of each, 6.3 MB of calls alone plus a copy
/// per snapshot (heaptrack); 20,000 recent calls still give steady percentiles.
const MAX_SAMPLES: usize = 20_000;

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

/// A copy of the window's samples, for a snapshot: calls as (tool, ok, microseconds),
/// lookups as (cache, hit), and the last errors, newest first.
pub(super) struct Samples {
    pub(super) calls: Vec<(&'static str, bool, u64)>,
    pub(super) lookups: Vec<(Cache, bool)>,
    pub(super) errors: Vec<ErrorRecord>,
}

/// The samples of the last `span`.
pub(super) struct Window {
    /// How far back the samples reach.
    span: Duration,
    /// The samples and the last errors; a std mutex, held only to push or copy.
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

impl Window {
    /// An empty window reaching `span` back.
    pub(super) fn new(span: Duration) -> Window {
        Window {
            span,
            recent: Mutex::new(Recent::default()),
        }
    }

    /// How far back the samples reach.
    pub(super) fn span(&self) -> Duration {
        self.span
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps one finished call (and, when it failed, its error with the role label `role`).
    pub(super) fn record_call(&self, call: &Call, role: Option<String>) {
        let ok = call.outcome == "ok";
        let now = Instant::now();
        let mut recent = self.lock();
        recent.calls.push_back(Sample {
            at: now,
            tool: call.tool,
            ok,
            micros: call.elapsed.as_micros().min(u64::MAX as u128) as u64,
        });
        if !ok {
            recent.errors.push_front(ErrorRecord {
                at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                tool: call.tool.to_string(),
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

    /// Keeps one cache lookup.
    pub(super) fn record_lookup(&self, cache: Cache, hit: bool) {
        let now = Instant::now();
        let mut recent = self.lock();
        recent.lookups.push_back((now, cache, hit));
        self.prune(&mut recent, now);
    }

    fn prune(&self, recent: &mut Recent, now: Instant) {
        let fresh = |at: Instant| now.duration_since(at) <= self.span;
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

    /// Calls and cache lookups held (each at most `MAX_SAMPLES`).
    pub(super) fn len(&self) -> u64 {
        let recent = self.lock();
        (recent.calls.len() + recent.lookups.len()) as u64
    }

    /// A copy of the samples still in the window now.
    pub(super) fn samples(&self) -> Samples {
        let mut recent = self.lock();
        self.prune(&mut recent, Instant::now());
        let calls = recent
            .calls
            .iter()
            .map(|s| (s.tool, s.ok, s.micros))
            .collect();
        let lookups = recent.lookups.iter().map(|l| (l.1, l.2)).collect();
        Samples {
            calls,
            lookups,
            errors: recent.errors.iter().cloned().collect(),
        }
    }

    /// The calls and lookups recorded after `since` and up to `until`, within the window.
    pub(super) fn interval(&self, since: Instant, until: Instant) -> Interval {
        let within = |at: Instant| at > since && at <= until;
        let (micros, errors, lookups, hits) = {
            let mut recent = self.lock();
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
