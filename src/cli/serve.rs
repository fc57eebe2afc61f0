//! `memoryd serve`: MCP over Streamable HTTP until SIGINT/SIGTERM.
//!
//! The startup sequence: refuse a second daemon on the same data dir → open the database →
//! bind (the explicit port, or the default one and its fallbacks) → write the runtime file →
//! print the address → tell systemd it is ready → serve. Stopping follows `shutdown`'s order
//! and ends with a WAL checkpoint and removing the runtime file.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Global;
use crate::config::Config;
use crate::http::port::{self, PortChoice};
use crate::runtime::{self, Runtime};
use crate::{http, memory, shutdown};

/// Flags of `memoryd serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; any but a loopback address needs a credential: a key, a token
    /// (MEMORYD_TOKEN, --token-file or server.token) or an [auth] issuer
    #[arg(long, default_value = "127.0.0.1", env = "MEMORYD_BIND")]
    pub bind: IpAddr,

    /// File whose first line is the bearer token clients must send
    #[arg(long, env = "MEMORYD_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Port to listen on; an error when taken (0 picks a free one) [default: 3000, or the
    /// next free one up to 3010]
    #[arg(long, short = 'p', env = "MEMORYD_PORT")]
    pub port: Option<u16>,
}

/// Which ports `serve` may use: the flag, then the config's `server.port`, then the default
/// port with its fallbacks.
pub fn port_choice(flag: Option<u16>, config: &Config) -> PortChoice {
    match flag.or(config.server.port) {
        Some(port) => PortChoice::Explicit(port),
        None => PortChoice::Default {
            first: config.server.default_port,
            fallback: config.server.fallback_ports,
        },
    }
}

/// Binds, prints the address, and serves until a shutdown signal.
pub async fn run(global: &Global, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = global.config()?;
    config.server.read_token_file(args.token_file.as_deref())?;
    let data_dir = config.data_dir.clone();
    if let Some(other) = runtime::running_daemon(&data_dir, config.server.token.as_deref()).await {
        bail!(
            "a memoryd daemon (pid {}) already serves {} at {}\nuse it, or stop it first",
            other.pid,
            data_dir.display(),
            other.url
        );
    }
    let choice = port_choice(args.port, &config);
    let app = super::open_app_with(config.clone()).await?;
    // Keys live in the database, so this is known only once it is open.
    if !args.bind.is_loopback() && !app.gate().required().await? {
        bail!(
            "refusing to listen on {} without a credential: it is not a loopback address, and \
             anyone who can reach it could read every memory\ncreate a key (memoryd key create), \
             set a token (MEMORYD_TOKEN, --token-file or [server] token; `openssl rand -hex 32` \
             makes one) or an OAuth issuer ([auth] issuer), or use --bind 127.0.0.1",
            args.bind
        );
    }
    let listener = port::bind(args.bind, choice).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}/mcp");
    let pid = std::process::id();
    Runtime {
        pid,
        url: url.clone(),
        port: addr.port(),
        bind: args.bind,
        version: env!("CARGO_PKG_VERSION").into(),
        data_dir: data_dir.clone(),
        started_at: memory::now(),
    }
    .write()?;
    // Scripts and tests read this line to learn the port (it matters with --port 0 and
    // when the default port was taken).
    println!("memoryd listening on {url}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, data_dir = %data_dir.display(), "serving MCP over HTTP");
    let instance = config
        .server
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("{}:{}", hostname(), addr.port()));
    app.set_instance(instance.clone());
    // Type=notify units wait for this; outside systemd it does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    app.start_background();
    let heartbeat = tokio::spawn(announce_forever(app.clone(), instance.clone()));

    let stop = shutdown::on_signal();
    let served = http::serve(app.clone(), listener, stop).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    heartbeat.abort();
    if let Err(err) = app.store().retire(&instance).await {
        tracing::warn!(%err, "could not remove this instance from the fleet view");
    }
    match app.store().checkpoint().await {
        Ok(None) => {}
        Ok(Some(c)) if c.busy => tracing::warn!(
            "WAL checkpoint could not finish (another process is reading); SQLite completes it later"
        ),
        Ok(Some(_)) => tracing::info!("WAL checkpointed into the database and truncated"),
        Err(err) => tracing::warn!(%err, "WAL checkpoint failed; SQLite finishes it on next open"),
    }
    Runtime::remove_if_owned(&data_dir, pid);
    served.context("HTTP server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// How often a server tells the database it is serving (the fleet view counts those heard
/// from within [`crate::http::FLEET_FRESH_SECONDS`]).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// Records this server in the database's fleet view now and every [`HEARTBEAT`]; a failure
/// (the database restarting) is logged and retried on the next beat.
async fn announce_forever(app: crate::app::App, instance: String) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut failing = false;
    loop {
        beat.tick().await;
        match app.store().announce(&instance).await {
            Ok(()) => failing = false,
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(%err, "could not record this instance in the fleet view; retrying");
            }
            Err(_) => {}
        }
    }
}

/// This machine's host name (for the default instance id).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_config_beats_default() {
        let mut config = Config::default();
        assert_eq!(
            port_choice(None, &config),
            PortChoice::Default {
                first: 3000,
                fallback: 10
            }
        );
        config.server.port = Some(4000);
        assert_eq!(port_choice(None, &config), PortChoice::Explicit(4000));
        assert_eq!(port_choice(Some(0), &config), PortChoice::Explicit(0));
    }
}
