//! `GET /status`: the dashboard, one self-contained HTML page, and `GET /status/history`, the
//! points behind its charts.
//!
//! Inline CSS and JavaScript, nothing fetched from anywhere but this server: it works offline
//! and leaks nothing. The page polls `/metrics` (JSON) and renders it; every number it shows
//! carries a `data-metric` attribute naming its JSON path, which the browser test reads back.
//! The charts (SVG drawn by the page) come from [`crate::metrics_history`].

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;

/// The page.
const PAGE: &str = include_str!("status.html");

/// What the pages served here may load: inline styles and scripts, and this server only.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Serves the page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page may talk to this server only.
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        PAGE,
    )
        .into_response()
}

/// The history: `recent` (the last hour at the default step), `since_start` (down-sampled),
/// `current` (the stretch since the last sample, so the charts reach "now"), and the
/// `[health]` thresholds the charts draw as lines.
pub async fn history(State(app): State<App>) -> Response {
    let views = app.history().views();
    let current = app.history().measure(
        app.metrics(),
        Instant::now(),
        chrono::Utc::now().timestamp(),
    );
    let mut body = json!(views);
    body["current"] = json!(current);
    body["thresholds"] = json!(app.config().health);
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
