//! `GET /metrics`: JSON for people and scripts, Prometheus text for scrapers.
//!
//! JSON is the default (`curl …/metrics | jq .error_rate_percent`). The Prometheus text
//! exposition (format 0.0.4) is served when the client asks for it: `?format=prometheus`, or
//! an `Accept` header naming `text/plain` or OpenMetrics, as Prometheus itself sends. The JSON
//! carries the health verdict too, so `/status` needs one request per refresh.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::health::{self, Memories};
use crate::app::App;
use crate::metrics;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Handles one scrape.
pub async fn handle(
    State(app): State<App>,
    guard: Option<axum::Extension<std::sync::Arc<super::guard::Guard>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let prometheus = match query.get("format").map(String::as_str) {
        Some("prometheus") => true,
        Some("json") => false,
        Some(other) => {
            let message = format!(
                "unknown format '{other}'\nuse ?format=json (the default) or ?format=prometheus"
            );
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"code": "bad_request", "message": message}})),
            )
                .into_response();
        }
        None => wants_prometheus(&headers),
    };
    let seen = health::observe(&app).await;
    if prometheus {
        let state = metrics::State {
            memories: seen.memories.clone(),
            superseded: seen.superseded,
            expired: seen.expired,
            database_bytes: seen.database.size_bytes,
            wal_bytes: seen.database.wal_size_bytes,
            pool: [
                seen.database.pool.size,
                seen.database.pool.in_use,
                seen.database.pool.waiting,
            ],
            embedder: seen.embedder.state,
            instance: seen.instance.clone(),
            fleet: seen.fleet.as_ref().map_or(1, |f| f.len() as u64),
            indexes: app.store().index_footprint(),
        };
        let text = app.metrics().prometheus_text(&state);
        return ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response();
    }
    let clients = guard.map_or(0, |g| g.tracked_clients());
    Json(json_body(&app, seen, clients)).into_response()
}

/// The sizes of what a long-running server keeps, so a soak can check that none grows without
/// bound: the process's RSS, the rate limiter's client states, and the caches (bounded in
/// bytes).
fn footprint(app: &App, rate_limited_clients: usize) -> Value {
    let (query_entries, query_bytes) = app.embedder().cache_footprint();
    let (bundle_entries, bundle_bytes) = app.rehydrator().cache_footprint();
    json!({
        "rss_bytes": crate::process::rss_kib(std::process::id()).map(|k| k * 1024),
        "rate_limited_clients": rate_limited_clients,
        "query_cache": {"entries": query_entries, "bytes": query_bytes},
        "bundle_cache": {"entries": bundle_entries, "bytes": bundle_bytes},
        "window_samples": app.metrics().window_samples(),
        "indexes": app.store().index_footprint(),
    })
}

/// True when the `Accept` header asks for a Prometheus format rather than JSON.
fn wants_prometheus(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    accept
        .split(',')
        .map(|part| part.split(';').next().unwrap_or("").trim())
        .any(|kind| kind == "text/plain" || kind == "application/openmetrics-text")
}

/// The JSON document: the counters' snapshot, flattened, plus state and the health verdict.
fn json_body(app: &App, seen: health::Observation, rate_limited_clients: usize) -> Value {
    let (status, alerts) = health::assess(&seen, &app.config().health);
    let memories = Memories {
        total: seen.memories.iter().map(|m| m.1).sum(),
        superseded: seen.superseded,
        expired: seen.expired,
        purged: app.metrics().purged(),
        by_namespace: seen.memories.into_iter().collect(),
    };
    let mut body = serde_json::to_value(&seen.snapshot).expect("a snapshot serialises");
    let extra = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "instance": seen.instance,
        "fleet": seen.fleet,
        "status": status,
        "reasons": alerts.iter().map(|a| a.message.as_str()).collect::<Vec<_>>(),
        "alerts": alerts,
        "thresholds": app.config().health,
        "memories": memories,
        "database": seen.database,
        "embedder": seen.embedder,
        "footprint": footprint(app, rate_limited_clients),
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        h
    }

    #[test]
    fn negotiation_follows_prometheus_accept_headers() {
        assert!(wants_prometheus(&accept("text/plain; version=0.0.4")));
        assert!(wants_prometheus(&accept(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wants_prometheus(&accept("*/*")));
        assert!(!wants_prometheus(&accept("application/json")));
        assert!(!wants_prometheus(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_prometheus(&HeaderMap::new()));
    }
}
