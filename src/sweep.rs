//! The background sweep: notices memories that expired (so caches and subscribers hear of
//! it) and purges those expired longer than `[lifecycle] purge_after`, with their versions,
//! vectors and index entries.
//!
//! It runs in `memoryd serve` beside the `/status` sampler and stops with it (see
//! `shutdown`). Each tick (every second, or `sweep_every` when shorter) it asks the store how
//! many memories expired since the last tick; when some did, the store's generation moves,
//! which misses the bundle cache and wakes the MCP sessions' resource followers. Every
//! `sweep_every` it purges, [`BATCH`] memories per transaction with a pause between batches,
//! so no lock is held across the sweep and requests run between batches. On PostgreSQL each
//! batch takes a transaction-level advisory lock: while one server of a fleet purges, the
//! others skip their sweep. It owns no SQL (that is `store/`'s) and decides no expiry (that
//! is `expiry.rs`').

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::error::Result;
use crate::memory;

/// Memories purged per transaction.
pub const BATCH: usize = 500;
/// The pause between two batches, in which requests get the database.
const PAUSE: Duration = Duration::from_millis(5);
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
            if let Err(err) = purge(&app, lifecycle.purge_after(), &stop).await {
                tracing::warn!(%err, "the expiry sweep failed; it runs again in sweep_every");
            }
        }
    }
}

/// Purges every memory expired for at least `purge_after`, a batch at a time, until none is
/// left, another server holds the sweep, or `stop` is cancelled; the number purged.
pub async fn purge(app: &App, purge_after: Duration, stop: &CancellationToken) -> Result<u64> {
    let age = chrono::Duration::from_std(purge_after).unwrap_or(chrono::Duration::MAX);
    let cutoff = memory::format_time(chrono::Utc::now() - age);
    let started = std::time::Instant::now();
    let mut total = 0;
    loop {
        let Some(n) = app.store().purge_expired(cutoff.clone(), BATCH).await? else {
            tracing::debug!("another server is sweeping");
            break;
        };
        total += n;
        app.metrics().record_purged(n);
        if (n as usize) < BATCH || stop.is_cancelled() {
            break;
        }
        tokio::time::sleep(PAUSE).await;
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
