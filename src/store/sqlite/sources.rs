//! The SQLite engine as a source for the in-memory indexes: its change logs (`text_log`,
//! `vector_log`) and the rows they name, read on one connection.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};

use super::filter::{self, Filter};
use crate::error::Result;
use crate::index::change_log::Change;
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
    since: "SELECT l.memory_rowid, m.namespace FROM text_log l \
            LEFT JOIN memories m ON m.rowid = l.memory_rowid WHERE l.seq > ?1",
};

const VECTOR_LOG: Log = Log {
    newest: "SELECT ifnull(max(seq), 0) FROM vector_log",
    oldest: "SELECT ifnull(min(seq), 0) FROM vector_log",
    since: "SELECT l.memory_rowid, m.namespace FROM vector_log l \
            LEFT JOIN memories m ON m.rowid = l.memory_rowid WHERE l.seq > ?1",
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

    fn since(&mut self, seq: i64) -> Result<Vec<Change>> {
        let mut stmt = self.conn.prepare_cached(self.log.since)?;
        let rows = stmt
            .query_map(params![seq], |r| {
                // A NULL rowid stands for every memory (vectors dropped for re-embedding).
                Ok(match r.get::<_, Option<i64>>(0)? {
                    None => Change::All,
                    Some(rowid) => Change::Memory(rowid, r.get(1)?),
                })
            })?
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

    fn sample(&mut self, stride: i64, highest: i64, each: &mut dyn FnMut(Document)) -> Result<()> {
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
        match chunks_of(self.conn) {
            Some(chunks) => chunks.read(self.conn, namespace, each),
            None => from_virtual_table(self.conn, namespace, each),
        }
    }

    fn passing(&mut self, rowids: &[i64]) -> Result<HashSet<i64>> {
        filter::passing(self.conn, self.filter, rowids)
    }
}

/// sqlite-vec's own tables behind `memory_vectors`, read directly: a namespace's vectors
/// come a chunk of 1,024 at a time, where selecting them from the virtual table costs a
/// blob lookup per vector (17 ms per 1,000 measured, and a scan of every namespace, since
/// only its nearest-neighbour queries use the partition key).
///
/// The layout is sqlite-vec 0.1's (`Cargo.lock` pins it): `_chunks` holds each chunk's
/// partition, a validity bitmap and its rowids (little-endian i64); `_vector_chunks00` the
/// chunk's vectors, end to end. A test checks this reads what the virtual table does, and
/// when the tables are not as expected the virtual table is read instead.
struct Chunks;

/// The chunk reader, when the tables have the layout it knows.
fn chunks_of(conn: &Connection) -> Option<Chunks> {
    conn.prepare_cached(CHUNKS).ok().map(|_| Chunks)
}

/// A namespace's chunks: validity bitmap, rowids, slots, vectors.
/// (`v._rowid_`, the table's own rowid, is what sqlite-vec reads a chunk by; its column
/// named `rowid` has no type, and joining on it scanned every chunk of every namespace.)
const CHUNKS: &str = "SELECT c.validity, c.rowids, c.size, v.vectors \
     FROM memory_vectors_chunks c JOIN memory_vectors_vector_chunks00 v \
     ON v._rowid_ = c.chunk_id WHERE c.partition00 = ?1";

impl Chunks {
    fn read(
        &self,
        conn: &Connection,
        namespace: &str,
        each: &mut dyn FnMut(i64, Vec<f32>, Standing),
    ) -> Result<()> {
        // One snapshot for the standings and the vectors.
        let _snapshot = if conn.is_autocommit() {
            Some(conn.unchecked_transaction()?)
        } else {
            None
        };
        let tx = conn;
        let mut standings: HashMap<i64, Standing> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT rowid, superseded_by IS NOT NULL, expires_at FROM memories \
                 WHERE namespace = ?1",
            )?;
            let mut rows = stmt.query(params![namespace])?;
            while let Some(r) = rows.next()? {
                standings.insert(r.get(0)?, standing(r, 1)?);
            }
        }
        let never = Standing {
            superseded: false,
            expires_at: i64::MAX,
        };
        let mut stmt = tx.prepare_cached(CHUNKS)?;
        let mut rows = stmt.query(params![namespace])?;
        while let Some(r) = rows.next()? {
            let blob = |i: usize| -> rusqlite::Result<&[u8]> {
                r.get_ref(i)?.as_blob().map_err(rusqlite::Error::from)
            };
            let (validity, rowids, vectors) = (blob(0)?, blob(1)?, blob(3)?);
            let size = usize::try_from(r.get::<_, i64>(2)?).unwrap_or(0);
            if size == 0 || rowids.len() < size * 8 || validity.len() * 8 < size {
                continue;
            }
            let width = vectors.len() / size;
            for slot in 0..size {
                if validity[slot / 8] & (1 << (slot % 8)) == 0 {
                    continue;
                }
                let rowid = i64::from_le_bytes(
                    rowids[slot * 8..slot * 8 + 8]
                        .try_into()
                        .expect("eight bytes"),
                );
                if let Some(vector) = decode(&vectors[slot * width..(slot + 1) * width]) {
                    // A vector whose memory went in the meantime stands as the join did.
                    let standing = standings.get(&rowid).copied().unwrap_or(never);
                    each(rowid, vector, standing);
                }
            }
        }
        Ok(())
    }
}

/// A namespace's vectors selected from the virtual table, one blob lookup each (see
/// [`Chunks`]).
fn from_virtual_table(
    conn: &Connection,
    namespace: &str,
    each: &mut dyn FnMut(i64, Vec<f32>, Standing),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::corpus::{Corpus, Rng};
    use crate::store::KeywordRanking;
    use crate::store::sqlite::SqliteStore;

    /// Every vector of `namespace` by rowid, read one way or the other.
    fn read(
        conn: &Connection,
        namespace: &str,
        chunks: bool,
    ) -> std::collections::BTreeMap<i64, (Vec<f32>, Standing)> {
        let mut out = std::collections::BTreeMap::new();
        let mut each = |rowid, vector, standing| {
            out.insert(rowid, (vector, standing));
        };
        if chunks {
            chunks_of(conn)
                .expect("sqlite-vec's layout")
                .read(conn, namespace, &mut each)
                .unwrap();
        } else {
            from_virtual_table(conn, namespace, &mut each).unwrap();
        }
        out
    }

    #[tokio::test]
    async fn the_chunks_hold_what_the_virtual_table_does() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open_with(&dir.path().join("m.db"), KeywordRanking::InMemory).unwrap();
        let mut rng = Rng::new(5);
        // Past one chunk of 1,024 in "a", a few in "b" (chunks are per namespace).
        for (namespace, n) in [("a", 1100), ("b", 7)] {
            let memories: Vec<_> = Corpus::new(9, Some(namespace.into()))
                .take(n)
                .map(|r| r.into_new_memory(namespace))
                .collect();
            let vectors = (0..n).map(|_| rng.unit_vector(384)).collect();
            store.insert_many(memories, Some(vectors)).await.unwrap();
        }
        // Deleted vectors leave holes in their chunk.
        for rowid in [3_i64, 500, 1050] {
            store
                .write(move |tx| {
                    tx.execute("DELETE FROM memories WHERE rowid = ?1", [rowid])?;
                    Ok(())
                })
                .await
                .unwrap();
        }
        let (a, b) = store
            .read(|c| {
                for namespace in ["a", "b"] {
                    assert_eq!(read(c, namespace, true), read(c, namespace, false));
                }
                Ok((read(c, "a", true), read(c, "b", true)))
            })
            .await
            .unwrap();
        assert_eq!((a.len(), b.len()), (1097, 7));
        assert!(!a.contains_key(&500));
        assert!(a.values().all(|(v, _)| v.len() == 384));
    }
}
