//! `memoryd serve`: MCP over Streamable HTTP until SIGINT/SIGTERM.

use std::io::Write;
use std::net::IpAddr;

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use super::Global;
use crate::{http, shutdown};

/// Flags of `memoryd serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; only loopback addresses are allowed for now
    #[arg(long, default_value = "127.0.0.1", env = "MEMORYD_BIND")]
    pub bind: IpAddr,

    /// Port to listen on (0 picks a free one)
    #[arg(long, short = 'p', default_value_t = 3000, env = "MEMORYD_PORT")]
    pub port: u16,
}

/// Binds, prints the address, and serves until a shutdown signal.
pub async fn run(global: &Global, args: &ServeArgs) -> anyhow::Result<()> {
    if !args.bind.is_loopback() {
        bail!(
            "refusing to listen on {}: it is not a loopback address and anyone who can reach it \
             could read every memory\nuse --bind 127.0.0.1 (token authentication for other \
             addresses is not available yet)",
            args.bind
        );
    }
    let app = global.open_app().await?;
    let listener = TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    // Scripts and tests read this line to learn the port (it matters with --port 0).
    println!("memoryd listening on http://{addr}/mcp");
    std::io::stdout().flush()?;
    tracing::info!(%addr, data_dir = %app.config().data_dir.display(), "serving MCP over HTTP");
    app.start_background();
    http::serve(app, listener, shutdown::on_signal())
        .await
        .context("HTTP server failed")?;
    tracing::info!("stopped");
    Ok(())
}
