//! The SQLite engine as a source for the in-memory indexes: its change logs (`text_log`,
//! `vector_log`) and the rows they name, read on one connection.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};

use super::filter::{self, Filter};
use crate::error::Result;
use crate::index::{Document, LogSource, Standing, TextSource, VectorSource};

/// The statements that read one log table (each a lone min() or max(), which SQLite answers
/// from the index; together in one SELECT they would scan the table).
#[derive(Clone, Copy)]
struct Log {
    newest: &'static str,
    oldest: &'static str,
    since: &'static str,
}

const TEXT_LOG: Log = Log {
    newest: "SELECT ifnull(max(seq), 0) FROM text_log",
    oldest: "SELECT ifnull(min(seq), 0) FROM text_log",
    since: "SELECT memory_rowid FROM text_log WHERE seq > ?1",
};

const VECTOR_LOG: Log = Log {
    newest: "SELECT ifnull(max(seq), 0) FROM vector_log",
    oldest: "SELECT ifnull(min(seq), 0) FROM vector_log",
    since: "SELECT memory_rowid FROM vector_log WHERE seq > ?1",
};

/// One connection read for one search.
pub(super) struct Source<'a> {
    conn: &'a Connection,
    log: Log,
    filter: &'a Filter,
}

impl<'a> Source<'a> {
    /// What the keyword index reads, for a search within `filter`.
    pub(super) fn text(conn: &'a Connection, filter: &'a Filter) -> Source<'a> {
        Source {
            conn,
            log: TEXT_LOG,
            filter,
        }
    }

    /// What the vector copy reads, for a search within `filter`.
    pub(super) fn vectors(conn: &'a Connection, filter: &'a Filter) -> Source<'a> {
        Source {
            conn,
            log: VECTOR_LOG,
            filter,
        }
    }
}

impl LogSource for Source<'_> {
    fn newest(&mut self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(self.log.newest)?
            .query_row([], |r| r.get(0))?)
    }

    fn oldest(&mut self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(self.log.oldest)?
            .query_row([], |r| r.get(0))?)
    }

    fn since(&mut self, seq: i64) -> Result<Vec<Option<i64>>> {
        let mut stmt = self.conn.prepare_cached(self.log.since)?;
        let rows = stmt
            .query_map(params![seq], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

fn document(r: &rusqlite::Row) -> rusqlite::Result<Document> {
    Ok(Document {
        rowid: r.get(0)?,
        namespace: r.get(1)?,
        title: r.get(2)?,
        content: r.get(3)?,
        tags: r.get(4)?,
        superseded: r.get(5)?,
        expires_at: crate::expiry::millis(r.get::<_, Option<String>>(6)?.as_deref()),
    })
}

impl TextSource for Source<'_> {
    fn document(&mut self, rowid: i64) -> Result<Option<Document>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT rowid, namespace, title, content, tags, superseded_by IS NOT NULL, \
                 expires_at FROM memories WHERE rowid = ?1",
            )?
            .query_row(params![rowid], document)
            .optional()?)
    }

    fn documents(&mut self, namespace: &str, each: &mut dyn FnMut(Document)) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, namespace, title, content, tags, superseded_by IS NOT NULL, \
             expires_at FROM memories WHERE namespace = ?1 ORDER BY rowid",
        )?;
        let mut rows = stmt.query(params![namespace])?;
        while let Some(r) = rows.next()? {
            each(document(r)?);
        }
        Ok(())
    }

    fn passing(&mut self, rowids: &[i64]) -> Result<HashSet<i64>> {
        filter::passing(self.conn, self.filter, rowids)
    }

    fn highest_rowid(&mut self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT coalesce(max(rowid), 0) FROM memories")?
            .query_row([], |r| r.get(0))?)
    }

    fn sample(
        &mut self,
        stride: i64,
        highest: i64,
        each: &mut dyn FnMut(Document),
    ) -> Result<()> {
        // Rowid lookups, not a scan: a sample of a large database reads its sample only.
        let mut stmt = self.conn.prepare_cached(
            "WITH RECURSIVE picked(r) AS (SELECT ?1 UNION ALL SELECT r + ?1 FROM picked \
             WHERE r + ?1 <= ?2) \
             SELECT m.rowid, m.namespace, m.title, m.content, m.tags, \
             m.superseded_by IS NOT NULL, m.expires_at FROM picked JOIN memories m \
             ON m.rowid = picked.r",
        )?;
        let mut rows = stmt.query(params![stride.max(1), highest])?;
        while let Some(r) = rows.next()? {
            each(document(r)?);
        }
        Ok(())
    }
}

/// The vector in a stored blob, if it is whole little-endian f32s.
fn decode(blob: &[u8]) -> Option<Vec<f32>> {
    blob.len().is_multiple_of(4).then(|| {
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

/// Whether the memory of a vector is superseded, and when it expires, for a vector selected
/// as `v` joined with [`MEMORY`].
const SUPERSEDED: &str = "ifnull(m.superseded_by IS NOT NULL, 0), m.expires_at";

/// The memory of a vector selected as `v` (none when it went in the meantime).
const MEMORY: &str = "LEFT JOIN memories m ON m.rowid = v.rowid";

/// A vector's memory's standing from the two columns [`SUPERSEDED`] selects, at `i`.
fn standing(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Standing> {
    Ok(Standing {
        superseded: r.get(i)?,
        expires_at: crate::expiry::millis(r.get::<_, Option<String>>(i + 1)?.as_deref()),
    })
}

impl VectorSource for Source<'_> {
    fn vector(&mut self, rowid: i64) -> Result<Option<(String, Vec<f32>, Standing)>> {
        let row: Option<(String, Vec<u8>, Standing)> = self
            .conn
            .prepare_cached(&format!(
                "SELECT v.namespace, v.embedding, {SUPERSEDED} FROM memory_vectors v \
                 {MEMORY} WHERE v.rowid = ?1"
            ))?
            .query_row(params![rowid], |r| {
                Ok((r.get(0)?, r.get(1)?, standing(r, 2)?))
            })
            .optional()?;
        Ok(row.and_then(|(namespace, blob, superseded)| {
            Some((namespace, decode(&blob)?, superseded))
        }))
    }

    fn vectors(
        &mut self,
        namespace: &str,
        each: &mut dyn FnMut(i64, Vec<f32>, Standing),
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT v.rowid, v.embedding, {SUPERSEDED} FROM memory_vectors v \
             {MEMORY} WHERE v.namespace = ?1"
        ))?;
        let mut rows = stmt.query(params![namespace])?;
        while let Some(row) = rows.next()? {
            let blob: Vec<u8> = row.get(1)?;
            if let Some(vector) = decode(&blob) {
                each(row.get(0)?, vector, standing(row, 2)?);
            }
        }
        Ok(())
    }

    fn passing(&mut self, rowids: &[i64]) -> Result<HashSet<i64>> {
        filter::passing(self.conn, self.filter, rowids)
    }
}
