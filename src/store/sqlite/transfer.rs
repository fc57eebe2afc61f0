//! Moving memories in and out whole: every memory in rowid order for `export`, and inserting
//! memories with their own ids and timestamps for `import`.
//!
//! Unlike `insert`, which makes a new id and stamps the time, these keep every field as
//! given, so an export imported into an empty database gives the same memories. What each
//! imported record does is `store::rules::import_outcome`'s decision.

use rusqlite::{Connection, params};

use super::memories::{self, COLUMNS, from_row, insert_row};
use super::{SqliteStore, vectors};
use crate::error::Result;
use crate::memory::Memory;
use crate::store::Imported;
use crate::store::row::AFTER_MEMORY;
use crate::store::rules::{Occupant, import_outcome};

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
                let (outcome, rowid) = import_one(tx, m)?;
                if let (Some(rowid), Some(Some(v))) = (rowid, vectors.get(i)) {
                    vectors::put(tx, rowid, &m.namespace, v)?;
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
    let mut out = Vec::new();
    let mut rows = stmt.query(params![after, limit as i64])?;
    while let Some(r) = rows.next()? {
        out.push((r.get::<_, i64>(AFTER_MEMORY)?, from_row(r)?));
    }
    for (_, m) in &mut out {
        if m.version > 1 {
            m.versions = Some(memories::versions(conn, &m.id)?).filter(|v| !v.is_empty());
        }
    }
    Ok(out)
}

/// Imports one memory (with its earlier versions) if the rules say so; its rowid when it
/// was inserted.
fn import_one(conn: &Connection, m: &Memory) -> Result<(Imported, Option<i64>)> {
    let outcome = import_outcome(m, &occupants(conn, m)?);
    if outcome != Imported::Inserted {
        return Ok((outcome, None));
    }
    let rowid = insert_row(conn, m)?;
    for version in m.versions.iter().flatten() {
        memories::put_version(conn, &m.id, version)?;
    }
    Ok((outcome, Some(rowid)))
}

/// The stored memories with `m`'s id, or its content in its namespace.
fn occupants(conn: &Connection, m: &Memory) -> Result<Vec<Occupant>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, namespace, content_hash FROM memories \
         WHERE id = ?1 OR (namespace = ?2 AND content_hash = ?3)",
    )?;
    let rows = stmt.query_map(params![m.id, m.namespace, m.content_hash], |r| {
        Ok(Occupant {
            id: r.get(0)?,
            namespace: r.get(1)?,
            content_hash: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
