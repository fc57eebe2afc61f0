//! The HTTP surface: MCP Streamable HTTP at `/mcp`, plain JSON at `/mcp/tools/call`, and the
//! operator's view: `/health` (+ `/live`, `/ready`), `/metrics`, the `/status` page with its
//! charts (`/status/history`), and the memory browser at `/memories`.
//!
//! [`serve`] takes a listener that is already bound and a cancellation token, and never binds
//! or installs signal handlers itself, so tests can hand it a port-0 listener. Routes reach
//! memories only through the MCP tools, never through `store/` directly.

mod browser;
mod guard;
mod health;
mod metrics;
pub mod port;
mod resource_metadata;
mod status;
mod tools_call;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::McpSessions;
use crate::metrics::Transport;
use crate::panic_guard;
use crate::tools::MemoryServer;

/// Servers heard from within this many seconds count as the fleet (they announce every 5).
pub const FLEET_FRESH_SECONDS: f64 = 15.0;

/// The route table, behind [`guard`] (host, origin, token, rate and size checks).
pub fn router(app: App, shutdown: &CancellationToken) -> Router {
    let guard = Arc::new(guard::Guard::new(&app));
    let max_body = app.limits().max_body_bytes;
    // The guard checks Host (loopback or [server] allowed_hosts while no credential is
    // needed); whether one is needed changes when the first key is created, which a fixed
    // list in rmcp could not follow.
    let mut mcp_config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_max_request_body_bytes(max_body)
        .disable_allowed_hosts();
    if app.config().server.mcp_sessions == McpSessions::Stateless {
        mcp_config = mcp_config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    let server = MemoryServer::new(app.clone(), Transport::McpHttp);
    let mcp = StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    // The exact route wins over the nested MCP service.
    Router::new()
        .route("/mcp/tools/call", post(tools_call::handle))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::handle))
        .route("/status", get(status::page))
        .route("/status/history", get(status::history))
        .route(guard::METADATA_PATH, get(resource_metadata::handle))
        .route(
            &format!("{}/{{*resource}}", guard::METADATA_PATH),
            get(resource_metadata::handle),
        )
        .with_state(app.clone())
        .merge(browser::router(app.clone()))
        .nest_service("/mcp", mcp)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        // Outermost, so a panic anywhere below (the guard included) still gets an answer.
        .layer(axum::middleware::from_fn_with_state(
            app,
            panic_guard::layer,
        ))
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
    let router = router(app.clone(), &sessions);
    // The charts' sampler lives as long as the server accepts requests.
    let (history, metrics) = app.sampled();
    let sampler = tokio::spawn(crate::metrics_history::sample_forever(
        history,
        metrics,
        shutdown.clone(),
    ));
    // So does the expiry sweep (it purges between requests, in small batches).
    let sweep = tokio::spawn(crate::sweep::sweep_forever(app.clone(), shutdown.clone()));
    // Without TCP_NODELAY, Nagle's algorithm holds back the last small write of an SSE answer
    // on `/mcp` until the client's delayed ACK: about 40 ms added to every MCP call on Linux.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY on a connection");
        }
    });
    // The client's address keys the rate limit.
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let server =
        axum::serve(listener, service).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let served = crate::shutdown::drain(server.into_future(), &shutdown, &sessions).await;
    // Cancelled with `shutdown`; it ends at its next await.
    let _ = sampler.await;
    let _ = sweep.await;
    served
}
