//! Vectors: the memories still waiting for one, storing the backfill's work, the embedding
//! model the database was made with, and reading vectors back for export.

use deadpool_postgres::Transaction;
use pgvector::Vector;

use super::PgStore;
use super::columns::get;
use crate::error::{Error, Result};
use crate::memory::embedding_text;
use crate::store::Pending;

impl PgStore {
    /// Up to `limit` memories still waiting for a vector, oldest first.
    pub(super) async fn pending_vectors(&self, limit: usize) -> Result<Vec<Pending>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT rowid, namespace, context, content FROM memories \
                 WHERE embedding IS NULL ORDER BY rowid LIMIT $1",
            )
            .await?;
        let rows = client.query(&stmt, &[&(limit as i64)]).await?;
        rows.iter()
            .map(|r| {
                Ok(Pending {
                    rowid: get(r, 0)?,
                    namespace: get(r, 1)?,
                    text: embedding_text(get::<Option<&str>>(r, 2)?, get(r, 3)?),
                })
            })
            .collect()
    }

    /// Number of memories still waiting for a vector.
    pub(super) async fn pending_vector_count(&self) -> Result<u64> {
        let client = self.conn().await?;
        let row = client
            .query_one("SELECT count(*) FROM memories WHERE embedding IS NULL", &[])
            .await?;
        Ok(get::<i64>(&row, 0)? as u64)
    }

    /// Stores vectors made for pending memories whose text is still what was embedded.
    pub(super) async fn put_vectors(&self, mut done: Vec<(Pending, Vec<f32>)>) -> Result<usize> {
        // Every process with the model backfills the same pending rows. Locking them in rowid
        // order, and skipping rows another transaction holds (its process writes the same
        // vector, or a writer changes the row, which makes it pending again), keeps two
        // backfills, or a backfill and a store, from deadlocking: PostgreSQL then aborted one
        // of them with "deadlock detected", and a store failed (four processes storing at
        // once, once the model loaded quickly).
        done.sort_by_key(|(p, _)| p.rowid);
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let read = tx
            .prepare_cached(
                "SELECT context, content FROM memories WHERE rowid = $1 FOR UPDATE SKIP LOCKED",
            )
            .await?;
        let write = tx
            .prepare_cached("UPDATE memories SET embedding = $1 WHERE rowid = $2")
            .await?;
        let mut written = 0;
        for (p, vector) in done {
            let Some(row) = tx.query_opt(&read, &[&p.rowid]).await? else {
                continue;
            };
            if embedding_text(get::<Option<&str>>(&row, 0)?, get(&row, 1)?) == p.text {
                tx.execute(&write, &[&Vector::from(vector), &p.rowid])
                    .await?;
                written += 1;
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Records the embedding model of this database, or refuses a different one.
    pub(super) async fn check_model(&self, model: &'static str, dim: usize) -> Result<()> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        // Two processes opening a fresh database at once must record one model.
        tx.batch_execute("LOCK TABLE meta IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        let rows = tx
            .query(
                "SELECT key, value FROM meta WHERE key IN ('embedding_model', 'embedding_dim')",
                &[],
            )
            .await?;
        let mut stored = (None, None);
        for r in &rows {
            match get::<&str>(r, 0)? {
                "embedding_model" => stored.0 = Some(get::<String>(r, 1)?),
                "embedding_dim" => stored.1 = Some(get::<String>(r, 1)?),
                _ => {}
            }
        }
        match stored {
            (Some(m), Some(d)) if m == model && d == dim.to_string() => {}
            (Some(m), Some(d)) => {
                return Err(Error::ModelMismatch {
                    stored: format!("{m} ({d}-d)"),
                    configured: format!("{model} ({dim}-d)"),
                });
            }
            _ => set_model(&tx, model, dim).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops every vector and records `model` as the database's model (for `reembed`).
    pub(super) async fn reset_vectors(&self, model: &'static str, dim: usize) -> Result<()> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE memories SET embedding = NULL WHERE embedding IS NOT NULL",
            &[],
        )
        .await?;
        // Every namespace's generation moves, even when no memory had a vector.
        tx.execute("UPDATE namespace_generations SET value = value + 1", &[])
            .await?;
        set_model(&tx, model, dim).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored vectors of these rowids (those that have one).
    pub(super) async fn vectors_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Vec<f32>)>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT rowid, embedding FROM memories \
                 WHERE rowid = ANY($1) AND embedding IS NOT NULL ORDER BY rowid",
            )
            .await?;
        client
            .query(&stmt, &[&rowids])
            .await?
            .iter()
            .map(|r| Ok((get(r, 0)?, get::<Vector>(r, 1)?.to_vec())))
            .collect()
    }
}

async fn set_model(tx: &Transaction<'_>, model: &str, dim: usize) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('embedding_model', $1), ('embedding_dim', $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&model, &dim.to_string()],
    )
    .await?;
    Ok(())
}
