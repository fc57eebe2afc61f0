//! Signals, the cancellation tree, and the order a server stops in.
//!
//! On the first SIGINT or SIGTERM (or systemd/launchd stopping the service) `memoryd serve`
//! stops in this order, and exits 0 within about 5 s:
//!
//! 1. **Stop accepting**: the signal cancels the token from [`on_signal`]; the HTTP server
//!    closes its listener and tells open connections to close after their current request,
//!    and the `/status` charts' sampler (`metrics_history`) ends at its next tick, as does the
//!    expiry sweep (`sweep`; between two purge batches at the latest).
//! 2. **Drain**: in-flight requests (tool calls, including writes) run to completion, for at
//!    most [`DRAIN_TIMEOUT`] ([`drain`]).
//! 3. **Stop tasks**: the MCP sessions' token is cancelled, which ends long-lived session
//!    streams (and with them the MCP sessions' resource followers) and any call still
//!    running; the server gets [`CLOSE_TIMEOUT`] more to close.
//!    Background tasks (model loading, the embedding backlog) end with the runtime; a memory
//!    they had not embedded yet is embedded at the next start.
//! 4. **Checkpoint the WAL**: `cli/serve.rs` runs `PRAGMA wal_checkpoint(TRUNCATE)` through
//!    the store's writer, so the database file alone holds every write.
//! 5. **Remove the runtime file** (`DATA_DIR/memoryd.json`) and exit 0.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long in-flight requests get to finish after the stop signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the server gets to close after its sessions are cancelled.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A token cancelled on the first SIGINT or SIGTERM. Call from inside a tokio runtime.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        cancel.cancel();
    });
    token
}

/// Runs `server` (a server that stops accepting when `stop` is cancelled and returns once
/// its connections are done) through steps 1–3 above: after `stop`, it gets
/// [`DRAIN_TIMEOUT`] to finish on its own; then `sessions` is cancelled and it gets
/// [`CLOSE_TIMEOUT`] more; then it is dropped.
pub async fn drain<F>(
    server: F,
    stop: &CancellationToken,
    sessions: &CancellationToken,
) -> std::io::Result<()>
where
    F: Future<Output = std::io::Result<()>>,
{
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        _ = stop.cancelled() => {}
    }
    if let Ok(result) = tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await {
        return result;
    }
    tracing::warn!(
        timeout_ms = DRAIN_TIMEOUT.as_millis() as u64,
        "requests still running after the drain timeout; cancelling them"
    );
    sessions.cancel();
    match tokio::time::timeout(CLOSE_TIMEOUT, &mut server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("connections still open; closing them");
            Ok(())
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(%err, "cannot listen for SIGTERM; only Ctrl-C will stop the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_server_that_finishes_is_not_cancelled() {
        let stop = CancellationToken::new();
        let sessions = CancellationToken::new();
        stop.cancel();
        let server = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        };
        drain(server, &stop, &sessions).await.unwrap();
        assert!(!sessions.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_server_gets_its_sessions_cancelled_then_dropped() {
        let stop = CancellationToken::new();
        let sessions = CancellationToken::new();
        stop.cancel();
        let started = tokio::time::Instant::now();
        drain(std::future::pending(), &stop, &sessions)
            .await
            .unwrap();
        assert!(sessions.is_cancelled());
        assert_eq!(started.elapsed(), DRAIN_TIMEOUT + CLOSE_TIMEOUT);
    }
}
