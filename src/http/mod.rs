//! The HTTP surface: MCP Streamable HTTP at `/mcp`, plain JSON at `/mcp/tools/call`, and the
//! operator's view: `/health` (+ `/live`, `/ready`), `/metrics` and the `/status` page.
//!
//! [`serve`] takes a listener that is already bound and a cancellation token, and never binds
//! or installs signal handlers itself, so tests can hand it a port-0 listener. Routes reach
//! memories only through the MCP tools, never through `store/` directly.

mod health;
mod metrics;
mod status;
pub mod port;
mod tools_call;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::metrics::Transport;
use crate::tools::MemoryServer;

/// The route table.
pub fn router(app: App, shutdown: &CancellationToken) -> Router {
    let server = MemoryServer::new(app.clone(), Transport::McpHttp);
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(shutdown.child_token()),
    );
    // The exact route wins over the nested MCP service.
    Router::new()
        .route("/mcp/tools/call", post(tools_call::handle))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::handle))
        .route("/status", get(status::page))
        .with_state(app)
        .nest_service("/mcp", mcp)
}

/// Serves HTTP on `listener` until `shutdown` is cancelled, then drains in-flight requests
/// (with a timeout, see [`crate::shutdown::drain`]).
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // Sessions outlive the stop signal so in-flight calls finish (see `shutdown`).
    let sessions = CancellationToken::new();
    let router = router(app, &sessions);
    // Without TCP_NODELAY, Nagle's algorithm holds back the last small write of an SSE answer
    // on `/mcp` until the client's delayed ACK: about 40 ms added to every MCP call on Linux.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY on a connection");
        }
    });
    let server =
        axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    crate::shutdown::drain(server.into_future(), &shutdown, &sessions).await
}
