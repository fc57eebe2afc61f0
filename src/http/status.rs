//! `GET /status`: the dashboard, one self-contained HTML page.
//!
//! Inline CSS and JavaScript, nothing fetched from anywhere but this server: it works offline
//! and leaks nothing. The page polls `/metrics` (JSON) and renders it; every number it shows
//! carries a `data-metric` attribute naming its JSON path, which the browser test reads back.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page.
const PAGE: &str = include_str!("status.html");

/// Serves the page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page may talk to this server only.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
            ),
        ],
        PAGE,
    )
        .into_response()
}
