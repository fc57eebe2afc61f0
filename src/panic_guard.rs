//! A panic in a request handler answers as an internal error, and the server keeps serving.
//!
//! Three places catch one: [`layer`] around every HTTP route, [`mcp`] around the handler of
//! every MCP request memoryd answers itself (both protocol revisions, stdio and HTTP), and
//! [`catch`] around every tool call (which also counts the call as an internal error in the
//! call metrics). Each logs the panic
//! once with where it happened and counts it in `/metrics` (`panics_total`). Nothing here
//! retries: a panicked call may have done part of its work, but every write is one
//! transaction, so the database holds it whole or not at all.
//!
//! [`inject`] is the test hook: in debug builds only, `MEMORYD_TEST_PANIC` names one site
//! (`tool:NAME`, `route:PATH` or `mcp:METHOD`) that panics on purpose.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use rmcp::ErrorData;

use crate::app::App;
use crate::error::Error;

/// Where a handler runs: a kind (`tool`, `route`, `mcp`) and its name there, printed as
/// `kind:name`.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a>(pub &'static str, pub &'a str);

impl std::fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

/// Runs `call` at `site`; a panic inside it becomes [`Error::Internal`], logged and counted.
pub async fn catch<T>(
    app: &App,
    site: Site<'_>,
    call: impl Future<Output = T>,
) -> Result<T, Error> {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(value) => Ok(value),
        Err(payload) => Err(caught(app, site, &*payload)),
    }
}

/// Axum middleware: a route whose handler panics answers 500 with the JSON error shape of
/// every other route (`{"error": {"code": "internal", "message"}}`).
pub async fn layer(State(app): State<App>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let site = Site("route", &path);
    let call = async {
        inject(&app, site);
        next.run(request).await
    };
    match catch(&app, site, call).await {
        Ok(response) => response,
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                serde_json::json!({"error": {"code": err.code(), "message": err.to_string()}}),
            ),
        )
            .into_response(),
    }
}

/// Runs the MCP request `method`'s handler inside [`catch`]: a panic answers with a
/// JSON-RPC internal error instead of leaving the client waiting for an answer that never
/// comes.
pub async fn mcp<T>(
    app: &App,
    method: &str,
    call: impl Future<Output = Result<T, ErrorData>>,
) -> Result<T, ErrorData> {
    let site = Site("mcp", method);
    let call = async {
        inject(app, site);
        call.await
    };
    catch(app, site, call).await?
}

/// Logs and counts a caught panic; the error the caller gets.
fn caught(app: &App, site: Site<'_>, payload: &(dyn Any + Send)) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    tracing::error!(%site, panic = %message, "a handler panicked; answered with an internal error");
    app.metrics().record_panic();
    Error::Internal(format!(
        "the server failed while handling this request ({site}); it was logged\nretry, and \
         report it if it happens again"
    ))
}

/// The test hook: panics when this debug build was started with `MEMORYD_TEST_PANIC` naming
/// `site`. Release builds never panic here.
pub fn inject(app: &App, site: Site<'_>) {
    if !cfg!(debug_assertions) {
        return;
    }
    let Some(wanted) = app.config().inject_panic.as_deref() else {
        return;
    };
    if wanted.split_once(':') == Some((site.0, site.1)) {
        panic!("injected panic at {site} (MEMORYD_TEST_PANIC)");
    }
}
