//! Moving memories in and out whole: every memory in rowid order for `export`, and inserting
//! memories with their own ids and timestamps for `import`.
//!
//! What each imported record does (insert, already there, id conflict, duplicate content) is
//! `store::rules::import_outcome`'s decision; this file fetches what it needs and writes.

use deadpool_postgres::Transaction;

use super::PgStore;
use super::columns::get;
use super::lifecycle::{put_version, versions_of};
use super::memories::{COLUMNS, from_row, insert_row};
use crate::error::{Error, Result};
use crate::memory::Memory;
use crate::store::Imported;
use crate::store::row::AFTER_MEMORY;
use crate::store::rules::{Occupant, import_outcome};

impl PgStore {
    /// Up to `limit` memories of every namespace after row `after`, in storing order.
    pub(super) async fn export_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, m.rowid FROM memories m WHERE m.rowid > $1 \
                 ORDER BY m.rowid LIMIT $2"
            ))
            .await?;
        let mut page = client
            .query(&stmt, &[&after, &(limit as i64)])
            .await?
            .iter()
            .map(|r| Ok((get(r, AFTER_MEMORY)?, from_row(r)?)))
            .collect::<Result<Vec<(i64, Memory)>>>()?;
        let changed: Vec<String> = page
            .iter()
            .filter(|(_, m)| m.version > 1)
            .map(|(_, m)| m.id.clone())
            .collect();
        let mut versions = versions_of(&client, &changed).await?;
        for (_, m) in &mut page {
            m.versions = versions.remove(&m.id);
        }
        Ok(page)
    }

    /// Inserts memories exactly as given, each as the rules decide, in one transaction.
    pub(super) async fn import_memories(
        &self,
        memories: Vec<Memory>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> Result<Vec<Imported>> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let mut out = Vec::with_capacity(memories.len());
        for (i, m) in memories.iter().enumerate() {
            let mut outcome = import_outcome(m, &occupants(&tx, m).await?);
            if outcome == Imported::Inserted {
                let v = vectors.get(i).and_then(|v| v.as_deref());
                if insert_row(&tx, m, v).await?.is_none() {
                    // Another process stored the same content between our look and our
                    // insert; the unique index made us wait for its commit, so its row is
                    // visible now.
                    outcome = import_outcome(m, &occupants(&tx, m).await?);
                    if outcome == Imported::Inserted {
                        return Err(Error::Internal(
                            "a conflicting insert left no row behind".into(),
                        ));
                    }
                } else {
                    for version in m.versions.iter().flatten() {
                        put_version(&tx, &m.id, version).await?;
                    }
                }
            }
            out.push(outcome);
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// The stored memories with `m`'s id, or its content in its namespace.
async fn occupants(tx: &Transaction<'_>, m: &Memory) -> Result<Vec<Occupant>> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, namespace, content_hash FROM memories \
             WHERE id = $1 OR (namespace = $2 AND content_hash = $3)",
        )
        .await?;
    tx.query(&stmt, &[&m.id, &m.namespace, &m.content_hash])
        .await?
        .iter()
        .map(|r| {
            Ok(Occupant {
                id: get(r, 0)?,
                namespace: get(r, 1)?,
                content_hash: get(r, 2)?,
            })
        })
        .collect()
}
