//! `memoryd stdio`: MCP over stdin/stdout, as IDEs and desktop agents start it.
//!
//! When a daemon (`memoryd serve`) already serves the data dir, this process only forwards
//! the protocol to it over HTTP (`proxy`): one database and one model in memory, however many
//! agent sessions there are. Otherwise it opens the database and serves the tools itself.
//! stdout carries the protocol and nothing else; logs go to stderr.

use anyhow::Context;
use rmcp::ServiceExt;

use super::Global;
use crate::metrics::Transport;
use crate::runtime;
use crate::tools::MemoryServer;
use crate::{proxy, shutdown};

/// Flags of `memoryd stdio`.
#[derive(Debug, clap::Args)]
pub struct StdioArgs {
    /// Serve from this process even when a daemon serves the data dir (no forwarding)
    #[arg(long)]
    pub standalone: bool,
    /// The key (from `memoryd key create`) to send to the daemon when forwarding; without
    /// one the configured token is sent. A standalone process is the local user and needs none
    #[arg(long, env = "MEMORYD_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Serves MCP on stdio until the client closes stdin or a shutdown signal arrives.
pub async fn run(global: &Global, args: &StdioArgs) -> anyhow::Result<()> {
    let config = global.config()?;
    let token = args.key.clone().or_else(|| config.server.token.clone());
    if !args.standalone
        && let Some(daemon) = runtime::running_daemon(&config.data_dir, token.as_deref()).await
    {
        tracing::info!(url = %daemon.url, pid = daemon.pid, "forwarding MCP on stdio to the daemon");
        return proxy::run(daemon.url, token, shutdown::on_signal())
            .await
            .context("forwarding MCP to the daemon failed");
    }
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
