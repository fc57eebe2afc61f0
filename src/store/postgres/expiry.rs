//! Expired memories on PostgreSQL: counting them, telling the other servers when some expired,
//! purging them in batches (one server of a fleet at a time), and writing a changed expiry.
//! The rules (what expired means, when to purge) are the caller's; this file runs the
//! statements.

use deadpool_postgres::Transaction;

use super::PgStore;
use super::columns::get;
use super::memories::{COLUMNS, from_row};
use crate::error::{Error, Result};
use crate::memory::{self, Memory};

/// The key of the transaction-level advisory lock a purge batch takes: while one server's
/// batch holds it, another server's `pg_try_advisory_xact_lock` fails and that server skips
/// its sweep. Chosen apart from the migration lock's key.
const SWEEP_LOCK: i64 = 0x6d656d6f72796401; // "memoryd\x01"

/// Purges the expired memory holding `hash` in the namespace, if any (a store or update of
/// that content makes it new again; the unique index would refuse it otherwise).
pub(super) async fn purge_expired_holder(
    tx: &Transaction<'_>,
    namespace: &str,
    hash: &str,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "DELETE FROM memories WHERE namespace = $1 AND content_hash = $2 \
             AND expires_at <= $3",
        )
        .await?;
    tx.execute(&stmt, &[&namespace, &hash, &memory::now()])
        .await?;
    Ok(())
}

/// Writes a memory's expiry (the log trigger tells the in-memory keyword indexes).
pub(super) async fn set(tx: &Transaction<'_>, rowid: i64, expires_at: Option<&str>) -> Result<()> {
    let stmt = tx
        .prepare_cached("UPDATE memories SET expires_at = $1 WHERE rowid = $2")
        .await?;
    tx.execute(&stmt, &[&expires_at, &rowid]).await?;
    Ok(())
}

impl PgStore {
    /// One memory by id in its namespace, expired or not.
    pub(super) async fn get_any(&self, namespace: String, id: String) -> Result<Memory> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM memories m WHERE m.namespace = $1 AND m.id = $2"
            ))
            .await?;
        match client.query_opt(&stmt, &[&namespace, &id]).await? {
            Some(row) => from_row(&row),
            None => Err(Error::NotFound { id, namespace }),
        }
    }

    /// Memories expired at `now` and not yet purged, over every namespace.
    pub(super) async fn expired_count(&self, now: String) -> Result<u64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM memories WHERE expires_at <= $1")
            .await?;
        Ok(get::<i64>(&client.query_one(&stmt, &[&now]).await?, 0)? as u64)
    }

    /// The soonest `expires_at` after `now` in `namespace`, if any (one probe of the
    /// namespace's expiry index).
    pub(super) async fn next_expiry(
        &self,
        namespace: String,
        now: String,
    ) -> Result<Option<String>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT min(expires_at) FROM memories WHERE namespace = $1 AND expires_at > $2",
            )
            .await?;
        get(&client.query_one(&stmt, &[&namespace, &now]).await?, 0)
    }

    /// Memories that expired after `since` and by `now`; when there are any, their
    /// namespaces' generations move, so every server's caches of those namespaces miss and
    /// subscribers (who poll the generations) hear of it.
    pub(super) async fn notice_expired(&self, since: String, now: String) -> Result<u64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT count(*) FROM memories WHERE expires_at > $1 AND expires_at <= $2",
            )
            .await?;
        let n = get::<i64>(&client.query_one(&stmt, &[&since, &now]).await?, 0)? as u64;
        if n > 0 {
            // In namespace order, as the write triggers lock them, so this cannot deadlock
            // with a write over several namespaces.
            let stmt = client
                .prepare_cached(
                    "UPDATE namespace_generations SET value = value + 1 WHERE namespace IN \
                     (SELECT namespace FROM namespace_generations WHERE namespace IN \
                      (SELECT namespace FROM memories WHERE expires_at > $1 AND expires_at <= $2) \
                      ORDER BY namespace FOR NO KEY UPDATE)",
                )
                .await?;
            client.execute(&stmt, &[&since, &now]).await?;
        }
        Ok(n)
    }

    /// Purges up to `limit` memories that expired by `cutoff` in one transaction, holding the
    /// sweep's advisory lock for that transaction only; `None` when another server holds it.
    /// Versions go by their foreign key, vectors with the row, and the delete trigger logs
    /// each to `text_log` so every server's keyword index drops it.
    pub(super) async fn purge_expired(&self, cutoff: String, limit: usize) -> Result<Option<u64>> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let locked: bool = get(
            &tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&SWEEP_LOCK])
                .await?,
            0,
        )?;
        if !locked {
            return Ok(None);
        }
        let stmt = tx
            .prepare_cached(
                "DELETE FROM memories WHERE rowid IN (SELECT rowid FROM memories \
                 WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await?;
        let n = tx.execute(&stmt, &[&cutoff, &(limit as i64)]).await?;
        tx.commit().await?;
        Ok(Some(n))
    }
}
