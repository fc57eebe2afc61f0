//! Expired memories on SQLite: counting them, telling the other processes when some expired,
//! purging them in batches, and writing a changed expiry. The rules (what expired means, when
//! to purge) are the caller's; this file runs the statements.

use rusqlite::{Connection, params};

use super::memories;
use crate::error::Result;
use crate::memory::{self, Memory};

/// Purges the expired memory holding `hash` in the namespace, if any (a store or update of
/// that content makes it new again; the unique index would refuse it otherwise).
pub(super) fn purge_expired_holder(conn: &Connection, namespace: &str, hash: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM memories WHERE namespace = ?1 AND content_hash = ?2 \
         AND expires_at <= ?3",
    )?
    .execute(params![namespace, hash, memory::now()])?;
    Ok(())
}

/// Writes a memory's expiry (the log trigger tells the in-memory indexes).
pub(super) fn set(conn: &Connection, rowid: i64, expires_at: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE memories SET expires_at = ?1 WHERE rowid = ?2")?
        .execute(params![expires_at, rowid])?;
    Ok(())
}

/// One memory by id in its namespace, expired or not.
pub(super) fn get_any(conn: &Connection, namespace: &str, id: &str) -> Result<Memory> {
    memories::fetch(conn, namespace, id).map(|(m, _)| m)
}

/// Memories expired at `now` and not yet purged, over every namespace.
pub(super) fn expired_count(conn: &Connection, now: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM memories WHERE expires_at <= ?1")?
        .query_row(params![now], |r| r.get(0))?;
    Ok(n as u64)
}

/// The soonest `expires_at` after `now` in `namespace`, if any (one probe of the
/// namespace's expiry index).
pub(super) fn next(conn: &Connection, namespace: &str, now: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT min(expires_at) FROM memories WHERE namespace = ?1 AND expires_at > ?2",
        )?
        .query_row(params![namespace, now], |r| r.get(0))?)
}

/// Memories that expired after `since` and by `now`; when there are any, their namespaces'
/// generations move, so caches keyed by them and subscribers (who poll them) hear of it.
pub(super) fn notice(conn: &Connection, since: &str, now: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM memories WHERE expires_at > ?1 AND expires_at <= ?2")?
        .query_row(params![since, now], |r| r.get(0))?;
    if n > 0 {
        conn.prepare_cached(
            "UPDATE namespace_generations SET value = value + 1 WHERE namespace IN \
             (SELECT namespace FROM memories WHERE expires_at > ?1 AND expires_at <= ?2)",
        )?
        .execute(params![since, now])?;
    }
    Ok(n as u64)
}

/// Purges up to `limit` memories that expired at or before `cutoff`, with their versions,
/// vectors and full-text rows (the delete triggers do that and log each to `text_log` and
/// `vector_log`, so every process's indexes drop them); the number purged.
pub(super) fn purge(conn: &Connection, cutoff: &str, limit: usize) -> Result<u64> {
    let n = conn
        .prepare_cached(
            "DELETE FROM memories WHERE rowid IN (SELECT rowid FROM memories \
             WHERE expires_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![cutoff, limit as i64])?;
    Ok(n as u64)
}
