//! The background sweep: notices memories that expired (so caches and subscribers hear of
//! it) and purges those expired longer than `[lifecycle] purge_after`, with their versions,
//! vectors and index entries.
//!
//! It runs in `memoryd serve` beside the `/status` sampler and stops with it (see
//! `shutdown`). Each tick (every second, or `sweep_every` when shorter) it asks the store how
//! many memories expired since the last tick; when some did, the store's generation moves,
//! which misses the bundle cache and wakes the MCP sessions' resource followers. Every
//! `sweep_every` it purges, [`BATCH`] memories per transaction with a rest after each batch as
//! long as the batch took, so no lock is held across the sweep and requests have the
//! database and the CPU at least half of the time it runs. On PostgreSQL each
//! batch takes a transaction-level advisory lock: while one server of a fleet purges, the
//! others skip their sweep. It owns no SQL (that is `store/`'s) and decides no expiry (that
//! is `expiry.rs`').

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::error::Result;
use crate::memory;

/// How the sweep purges: [`BATCH`] memories per transaction, then a rest of [`REST`] times as
/// long as the batch took (at least [`PAUSE`]).
pub const PACING: Pacing = Pacing {
    batch: BATCH,
    rest: REST,
};
/// Memories purged per transaction. Kept under the 1,024 changes an in-memory index applies
/// from the change log before it reloads whole: measured with 2,000, a search after each batch
/// waited for a reload of the keyword index (1.4 s at 100,000 memories).
pub const BATCH: usize = 500;
/// The rest after a batch, as a multiple of the time the batch took: the sweep works at most
/// `1 / (1 + REST)` of the time it runs, and requests get the CPU and the database the rest.
pub const REST: f64 = 1.0;
/// The shortest rest between two batches.
const PAUSE: Duration = Duration::from_millis(5);

/// How a purge paces itself (the sweep uses [`PACING`]; `memoryd bench sweep` can compare
/// others).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Pacing {
    /// Memories purged per transaction.
    pub batch: usize,
    /// The rest after each batch, as a multiple of the time it took (at least 5 ms).
    pub rest: f64,
}
/// The most time between two looks for newly expired memories.
const NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Notices expiries and purges, as the module doc says, until `stop` is cancelled.
pub async fn sweep_forever(app: App, stop: CancellationToken) {
    let lifecycle = app.config().lifecycle.clone();
    let every = lifecycle.sweep_every();
    let mut ticks = tokio::time::interval(every.min(NOTICE_EVERY));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = memory::now();
    let mut next_sweep = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = memory::now();
        match app.store().notice_expired(seen.clone(), now.clone()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "memories expired"),
            Err(err) => tracing::warn!(%err, "could not look for expired memories; retrying"),
        }
        seen = now;
        if Instant::now() >= next_sweep {
            next_sweep = Instant::now() + every;
            if let Err(err) = purge(&app, lifecycle.purge_after(), PACING, &stop).await {
                tracing::warn!(%err, "the expiry sweep failed; it runs again in sweep_every");
            }
        }
    }
}

/// Purges every memory expired for at least `purge_after`, a batch at a time with a rest
/// after each as `pacing` says, until none is left, another server holds the sweep, or `stop`
/// is cancelled; the number purged.
pub async fn purge(
    app: &App,
    purge_after: Duration,
    pacing: Pacing,
    stop: &CancellationToken,
) -> Result<u64> {
    let age = chrono::Duration::from_std(purge_after).unwrap_or(chrono::Duration::MAX);
    let cutoff = memory::format_time(chrono::Utc::now() - age);
    let started = std::time::Instant::now();
    let mut total = 0;
    loop {
        let batch_started = std::time::Instant::now();
        let Some(n) = app
            .store()
            .purge_expired(cutoff.clone(), pacing.batch)
            .await?
        else {
            tracing::debug!("another server is sweeping");
            break;
        };
        total += n;
        app.metrics().record_purged(n);
        if (n as usize) < pacing.batch || stop.is_cancelled() {
            break;
        }
        // A rest as long as the batch (REST = 1): the batch's transaction and its CPU are
        // what a request waits behind, so the sweep leaves them free half of the time.
        let rest = batch_started.elapsed().mul_f64(pacing.rest.max(0.0));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(rest.max(PAUSE)) => {}
        }
    }
    if total > 0 {
        tracing::info!(
            purged = total,
            ms = started.elapsed().as_millis() as u64,
            "purged expired memories"
        );
    }
    Ok(total)
}
