//! `GET /health`, `/health/live` and `/health/ready`: is this server well, and why not.
//!
//! [`observe`] gathers everything the health and metrics routes report (counters, database,
//! model) and [`assess`] turns it into a status and the reasons for it, against the
//! configured thresholds. `/metrics` and `/status` show the same assessment, so a person, a
//! probe and a scraper never disagree about what "degraded" means.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::config::Health;
use crate::embed::{self, State as EmbedderState};
use crate::metrics::Snapshot;
use crate::store::{Member, PoolStatus};

/// How long the database may take to answer a health read before it counts as unreachable.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything within thresholds.
    Healthy,
    /// Serving, but something needs attention (see the reasons).
    Degraded,
    /// The database cannot be read.
    Unhealthy,
}

/// One threshold that is crossed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `error_rate`, `latency`, `cache_hit_rate`, `semantic_search` or `database`.
    pub name: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// The measured value, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The configured limit it crossed, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// The database as `/health` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Database {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The file, or the URL without its password.
    pub location: String,
    /// `ok` or `unreachable`.
    pub status: &'static str,
    /// One round trip (`SELECT 1`), in milliseconds; absent when unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip_ms: Option<f64>,
    /// Connections of the pool: open, in use, callers waiting.
    pub pool: PoolStatus,
    /// Why it is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Size of the database file.
    pub size_bytes: u64,
    /// Size of its write-ahead log.
    pub wal_size_bytes: u64,
}

/// The embedding model as `/health` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Embedder {
    /// `ready`, `loading`, `installing`, `not_installed` or `failed`.
    pub state: &'static str,
    /// The model's name.
    pub model: &'static str,
    /// Whether search and rehydrate use vectors now.
    pub semantic_search: bool,
    /// Why semantic search is off, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Memories this server stored without their vector (with `store_embedding =
    /// "background"`, or while the model loads) that are not embedded yet.
    pub pending_vectors: u64,
    /// How long the oldest of them has waited, ms (null when none waits): the delay before
    /// a new memory is found by meaning.
    pub oldest_pending_ms: Option<u64>,
}

/// Memory counts.
#[derive(Debug, Clone, Serialize)]
pub struct Memories {
    /// Across namespaces.
    pub total: u64,
    /// Of those, how many another memory superseded (kept for history and `as_of`, left out
    /// of search, list and rehydrate).
    pub superseded: u64,
    /// Of those, how many expired and wait for the sweep to purge them (found by no tool).
    pub expired: u64,
    /// Expired memories this server's sweep purged since it started.
    pub purged: u64,
    /// Per namespace.
    pub by_namespace: std::collections::BTreeMap<String, u64>,
}

/// Everything the health and metrics routes report, gathered once per request.
pub struct Observation {
    /// Which server answered.
    pub instance: String,
    /// The servers sharing this database, as it last heard of them (PostgreSQL only).
    pub fleet: Option<Vec<Member>>,
    /// Counters.
    pub snapshot: Snapshot,
    /// The database.
    pub database: Database,
    /// Memories per namespace (empty when the database is unreachable).
    pub memories: Vec<(String, u64)>,
    /// Memories superseded by another, over every namespace (0 when unknown).
    pub superseded: u64,
    /// Memories expired and not yet purged, over every namespace (0 when unknown).
    pub expired: u64,
    /// The embedding model.
    pub embedder: Embedder,
}

/// Reads counters, database and model state now.
pub async fn observe(app: &App) -> Observation {
    let store = app.store();
    let started = std::time::Instant::now();
    let ping = tokio::time::timeout(DATABASE_TIMEOUT, store.ping()).await;
    let round_trip_ms = matches!(ping, Ok(Ok(())))
        .then(|| (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0);
    let counts = tokio::time::timeout(DATABASE_TIMEOUT, store.namespace_counts()).await;
    let (memories, error) = match counts {
        Ok(Ok(counts)) => (counts, None),
        Ok(Err(err)) => (Vec::new(), Some(err.to_string())),
        Err(_) => (
            Vec::new(),
            Some(format!("no answer within {} s", DATABASE_TIMEOUT.as_secs())),
        ),
    };
    let sizes = match error {
        None => tokio::time::timeout(DATABASE_TIMEOUT, store.sizes())
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default(),
        Some(_) => Default::default(),
    };
    let superseded = match error {
        None => tokio::time::timeout(DATABASE_TIMEOUT, store.superseded_count())
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default(),
        Some(_) => 0,
    };
    let expired = match error {
        None => tokio::time::timeout(DATABASE_TIMEOUT, store.expired_count(crate::memory::now()))
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default(),
        Some(_) => 0,
    };
    let fleet = match error {
        None => tokio::time::timeout(DATABASE_TIMEOUT, store.fleet(super::FLEET_FRESH_SECONDS))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten(),
        Some(_) => None,
    };
    let state = app.embedder().state();
    let (pending_vectors, waited) = app.vector_backlog();
    let oldest_pending_ms = waited.map(|d| d.as_millis() as u64);
    Observation {
        instance: app.instance().to_string(),
        fleet,
        snapshot: app.metrics().snapshot(&crate::tools::NAMES),
        database: Database {
            backend: store.engine().name(),
            location: store.location(),
            status: if error.is_none() { "ok" } else { "unreachable" },
            round_trip_ms,
            pool: store.pool_status(),
            error,
            size_bytes: sizes.database,
            wal_size_bytes: sizes.wal,
        },
        memories,
        superseded,
        expired,
        embedder: Embedder {
            state: state.name(),
            model: embed::MODEL_NAME,
            semantic_search: state == EmbedderState::Ready,
            reason: state.reason_off(),
            pending_vectors,
            oldest_pending_ms,
        },
    }
}

/// The verdict on `seen` against `limits`, with every crossed threshold.
pub fn assess(seen: &Observation, limits: &Health) -> (Status, Vec<Alert>) {
    let s = &seen.snapshot;
    let mut alerts = Vec::new();
    if let Some(err) = &seen.database.error {
        alerts.push(Alert {
            name: "database",
            message: format!("the database cannot be read: {err}"),
            value: None,
            threshold: None,
        });
    }
    if let Some(ms) = seen.database.round_trip_ms
        && ms > limits.max_database_round_trip_ms
    {
        alerts.push(Alert {
            name: "database_latency",
            message: format!(
                "one round trip to the database took {ms} ms, over the {} ms threshold",
                limits.max_database_round_trip_ms
            ),
            value: Some(ms),
            threshold: Some(limits.max_database_round_trip_ms),
        });
    }
    if s.window_requests >= limits.min_calls {
        if s.error_rate_percent > limits.max_error_rate_percent {
            alerts.push(Alert {
                name: "error_rate",
                message: format!(
                    "error rate {}% of {} calls in the last {} s is over the {}% threshold",
                    s.error_rate_percent,
                    s.window_requests,
                    s.window_seconds,
                    limits.max_error_rate_percent
                ),
                value: Some(s.error_rate_percent),
                threshold: Some(limits.max_error_rate_percent),
            });
        }
        if s.avg_response_time_ms > limits.max_avg_response_ms {
            alerts.push(Alert {
                name: "latency",
                message: format!(
                    "average response time {} ms in the last {} s is over the {} ms threshold",
                    s.avg_response_time_ms, s.window_seconds, limits.max_avg_response_ms
                ),
                value: Some(s.avg_response_time_ms),
                threshold: Some(limits.max_avg_response_ms),
            });
        }
    }
    if s.cache_lookups >= limits.min_cache_lookups
        && s.cache_hit_rate_percent < limits.min_cache_hit_rate_percent
    {
        alerts.push(Alert {
            name: "cache_hit_rate",
            message: format!(
                "cache hit rate {}% of {} lookups in the last {} s is under the {}% threshold",
                s.cache_hit_rate_percent,
                s.cache_lookups,
                s.window_seconds,
                limits.min_cache_hit_rate_percent
            ),
            value: Some(s.cache_hit_rate_percent),
            threshold: Some(limits.min_cache_hit_rate_percent),
        });
    }
    if let Some(reason) = &seen.embedder.reason {
        alerts.push(Alert {
            name: "semantic_search",
            message: reason.lines().next().unwrap_or_default().to_string(),
            value: None,
            threshold: None,
        });
    }
    let status = if seen.database.error.is_some() {
        Status::Unhealthy
    } else if alerts.is_empty() {
        Status::Healthy
    } else {
        Status::Degraded
    };
    (status, alerts)
}

/// `GET /health`: 200 when healthy or degraded, 503 when unhealthy.
pub async fn health(State(app): State<App>) -> Response {
    let seen = observe(&app).await;
    let limits = &app.config().health;
    let (status, alerts) = assess(&seen, limits);
    let s = &seen.snapshot;
    let body = json!({
        "status": status,
        "reasons": alerts.iter().map(|a| a.message.as_str()).collect::<Vec<_>>(),
        "version": env!("CARGO_PKG_VERSION"),
        "instance": seen.instance,
        "fleet": seen.fleet,
        "uptime_seconds": s.uptime_seconds,
        "error_rate_percent": s.error_rate_percent,
        "cache_hit_rate_percent": s.cache_hit_rate_percent,
        "avg_response_time_ms": s.avg_response_time_ms,
        "requests_total": s.requests_total,
        "window_seconds": s.window_seconds,
        "memory_count": seen.memories.iter().map(|m| m.1).sum::<u64>(),
        "database": seen.database,
        "embedder": seen.embedder,
        "alerts": alerts,
        "thresholds": limits,
    });
    let code = if status == Status::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}

/// `GET /health/live`: the process answers HTTP.
pub async fn live() -> Response {
    Json(json!({"status": "alive"})).into_response()
}

/// `GET /health/ready`: the database answers, so tool calls can be served (semantic search
/// may still be loading; keyword search works meanwhile).
pub async fn ready(State(app): State<App>) -> Response {
    match tokio::time::timeout(DATABASE_TIMEOUT, app.store().ping()).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        Ok(Err(err)) => not_ready(err.to_string()),
        Err(_) => not_ready(format!(
            "the database gave no answer within {} s",
            DATABASE_TIMEOUT.as_secs()
        )),
    }
}

fn not_ready(reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not_ready", "reason": reason})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Cache, Call, Metrics, Transport};

    fn seen(metrics: &Metrics, state: EmbedderState, db_error: Option<&str>) -> Observation {
        Observation {
            instance: "test:1".into(),
            fleet: None,
            snapshot: metrics.snapshot(&crate::tools::NAMES),
            database: Database {
                backend: "sqlite",
                location: "memoryd.db".into(),
                round_trip_ms: Some(0.1),
                pool: PoolStatus::default(),
                status: if db_error.is_none() {
                    "ok"
                } else {
                    "unreachable"
                },
                error: db_error.map(String::from),
                size_bytes: 0,
                wal_size_bytes: 0,
            },
            memories: Vec::new(),
            superseded: 0,
            expired: 0,
            embedder: Embedder {
                state: state.name(),
                model: embed::MODEL_NAME,
                semantic_search: state == EmbedderState::Ready,
                reason: state.reason_off(),
                pending_vectors: 0,
                oldest_pending_ms: None,
            },
        }
    }

    fn calls(metrics: &Metrics, n: usize, outcome: &'static str, ms: u64) {
        for _ in 0..n {
            metrics.record_call(&Call {
                tool: "search_memory",
                role: None,
                transport: Transport::McpHttp,
                outcome,
                error: None,
                elapsed: Duration::from_millis(ms),
            });
        }
    }

    fn names(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|a| a.name).collect()
    }

    #[test]
    fn quiet_and_ready_is_healthy() {
        let m = Metrics::new(vec![], Duration::from_secs(60));
        calls(&m, 50, "ok", 1);
        let (status, alerts) = assess(&seen(&m, EmbedderState::Ready, None), &Health::default());
        assert_eq!((status, alerts), (Status::Healthy, vec![]));
    }

    #[test]
    fn each_threshold_degrades_with_its_reason() {
        let limits = Health::default();
        let m = Metrics::new(vec![], Duration::from_secs(60));
        calls(&m, 8, "ok", 150);
        calls(&m, 2, "internal", 150);
        for _ in 0..20 {
            m.record_lookup(Cache::QueryEmbedding, false);
        }
        let (status, alerts) = assess(&seen(&m, EmbedderState::Loading, None), &limits);
        assert_eq!(status, Status::Degraded);
        assert_eq!(
            names(&alerts),
            vec!["error_rate", "latency", "cache_hit_rate", "semantic_search"]
        );
        assert_eq!(
            alerts[0].message,
            "error rate 20% of 10 calls in the last 60 s is over the 10% threshold"
        );
        assert_eq!(alerts[1].value, Some(150.0));
    }

    #[test]
    fn too_few_samples_do_not_alert() {
        let m = Metrics::new(vec![], Duration::from_secs(60));
        calls(&m, 9, "internal", 500);
        for _ in 0..19 {
            m.record_lookup(Cache::Bundle, false);
        }
        let (status, _) = assess(&seen(&m, EmbedderState::Ready, None), &Health::default());
        assert_eq!(status, Status::Healthy);
    }

    #[test]
    fn unreadable_database_is_unhealthy() {
        let m = Metrics::new(vec![], Duration::from_secs(60));
        let (status, alerts) = assess(
            &seen(&m, EmbedderState::Ready, Some("disk I/O error")),
            &Health::default(),
        );
        assert_eq!(status, Status::Unhealthy);
        assert_eq!(
            alerts[0].message,
            "the database cannot be read: disk I/O error"
        );
    }
}
