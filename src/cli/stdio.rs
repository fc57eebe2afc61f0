//! `memoryd stdio`: MCP over stdin/stdout, as IDEs and desktop agents start it.
//!
//! stdout carries the protocol and nothing else; logs go to stderr.

use anyhow::Context;
use rmcp::ServiceExt;

use super::Global;
use crate::metrics::Transport;
use crate::shutdown;
use crate::tools::MemoryServer;

/// Serves MCP on stdio until the client closes stdin or a shutdown signal arrives.
pub async fn run(global: &Global) -> anyhow::Result<()> {
    let app = global.open_app().await?;
    // The model loads (or installs) in the background: `initialize` is answered at once.
    app.start_background();
    tracing::info!(data_dir = %app.config().data_dir.display(), "serving MCP on stdio");
    let service = MemoryServer::new(app, Transport::Stdio)
        .serve(rmcp::transport::stdio())
        .await
        .context("MCP initialisation on stdio failed")?;
    let stop = service.cancellation_token();
    let signal = shutdown::on_signal();
    tokio::spawn(async move {
        signal.cancelled().await;
        stop.cancel();
    });
    service
        .waiting()
        .await
        .context("MCP stdio session failed")?;
    Ok(())
}
