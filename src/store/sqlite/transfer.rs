//! Moving memories in and out whole: every memory in rowid order for `export`, and inserting
//! memories with their own ids and timestamps for `import`.
//!
//! Unlike `insert`, which makes a new id and stamps the time, these keep every field as
//! given, so an export imported into an empty database gives the same memories.

use rusqlite::{Connection, OptionalExtension, params};

use super::memories::{COLUMNS, from_row, insert_row};
use super::{SqliteStore, vectors};
use crate::error::Result;
use crate::memory::Memory;
use crate::store::Imported;

impl SqliteStore {
    /// Up to `limit` memories of every namespace with rowid above `after`, in rowid (storing)
    /// order, with their rowids.
    pub async fn export_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>> {
        self.read(move |c| export_page(c, after, limit)).await
    }

    /// Inserts memories exactly as given (ids, timestamps, hashes) in one transaction;
    /// `vectors[i]`, when there is one, belongs to `memories[i]`.
    pub async fn import_memories(
        &self,
        memories: Vec<Memory>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> Result<Vec<Imported>> {
        self.write(move |tx| {
            let mut out = Vec::with_capacity(memories.len());
            for (i, m) in memories.iter().enumerate() {
                let outcome = import_one(tx, m)?;
                if let (Imported::Inserted, Some(Some(v))) = (&outcome, vectors.get(i)) {
                    vectors::put(tx, tx.last_insert_rowid(), &m.namespace, v)?;
                }
                out.push(outcome);
            }
            Ok(out)
        })
        .await
    }
}

fn export_page(conn: &Connection, after: i64, limit: usize) -> Result<Vec<(i64, Memory)>> {
    // The rowid comes after the columns `from_row` reads.
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS}, m.rowid FROM memories m WHERE m.rowid > ?1 ORDER BY m.rowid LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after, limit as i64], |r| {
        Ok((r.get::<_, i64>(16)?, from_row(r)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn import_one(conn: &Connection, m: &Memory) -> Result<Imported> {
    let by_id: Option<(String, String)> = conn
        .query_row(
            "SELECT namespace, content_hash FROM memories WHERE id = ?1",
            params![m.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((namespace, hash)) = by_id {
        return Ok(if hash == m.content_hash && namespace == m.namespace {
            Imported::AlreadyPresent
        } else {
            Imported::IdConflict { namespace }
        });
    }
    let existing: Option<String> = conn
        .query_row(
            "SELECT id FROM memories WHERE namespace = ?1 AND content_hash = ?2",
            params![m.namespace, m.content_hash],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(existing_id) = existing {
        return Ok(Imported::DuplicateContent { existing_id });
    }
    insert_row(conn, m)?;
    Ok(Imported::Inserted)
}
