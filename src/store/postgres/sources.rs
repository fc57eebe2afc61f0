//! The PostgreSQL engine as a source for the in-memory keyword index: `text_log` and the rows
//! it names, read on one pooled connection.
//!
//! Writers append to `text_changes` in no useful order (they do not take turns, see
//! migration V7); before reading the newest entry, a reader numbers every committed change
//! into `text_log` under an advisory lock ([`SEQUENCE`]), so `text_log` is numbered in the
//! order changes became visible and an index that reflects entry N has seen all before it.
//!
//! The index is synchronous (it ranks under a std mutex in a blocking task), so these reads
//! block on the async client from that task's thread (`Handle::block_on`; never on a runtime
//! worker).

use std::collections::HashSet;

use futures_util::StreamExt;
use tokio::runtime::Handle;
use tokio_postgres::Row;

use super::columns::get;
use super::sql::Query;
use crate::error::Result;
use crate::index::change_log::Change;
use crate::index::{Document, LogSource, TextSource};
use crate::store::Filter;

/// One connection, read for one search.
pub(super) struct Source<'a> {
    /// The pooled client.
    pub(super) client: &'a deadpool_postgres::Object,
    /// The runtime to block on.
    pub(super) handle: &'a Handle,
    /// The search's filter (for [`TextSource::passing`]).
    pub(super) filter: &'a Filter,
}

impl Source<'_> {
    /// The one value `sql` selects.
    fn scalar(&mut self, sql: &str) -> Result<i64> {
        self.handle.block_on(async {
            let stmt = self.client.prepare_cached(sql).await?;
            get(&self.client.query_one(&stmt, &[]).await?, 0)
        })
    }
}

fn document(r: &Row) -> Result<Document> {
    Ok(Document {
        rowid: get(r, 0)?,
        namespace: get(r, 1)?,
        title: get(r, 2)?,
        content: get(r, 3)?,
        tags: get(r, 4)?,
        superseded: get(r, 5)?,
        expires_at: crate::expiry::millis(get::<Option<String>>(r, 6)?.as_deref()),
    })
}

/// Moves every committed change into `text_log`, numbered one reader at a time (the advisory
/// lock 0x6d64746c, "mdtl", which writers never take), and keeps only the recent past there. Losing this commit in a crash loses nothing: the changes
/// are back in `text_changes` and are numbered again, after anything a reader saw.
const SEQUENCE: &str = "BEGIN; \
     SET LOCAL synchronous_commit = off; \
     SELECT pg_advisory_xact_lock(1835299948); \
     WITH moved AS (DELETE FROM text_changes RETURNING id, memory_rowid) \
     INSERT INTO text_log (memory_rowid) SELECT memory_rowid FROM moved ORDER BY id; \
     DELETE FROM text_log WHERE seq <= (SELECT max(seq) FROM text_log) - 4096; \
     COMMIT";

const DOCUMENT: &str = "SELECT rowid, namespace, title, content, tags::text, \
     superseded_by IS NOT NULL, expires_at FROM memories";

/// The newest `text_log` entry, or -1 when committed changes wait in `text_changes`: one
/// round trip for the usual search, in which nothing changed.
const NEWEST: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM text_changes) THEN -1 \
     ELSE coalesce(max(seq), 0) END FROM text_log";

impl Source<'_> {
    /// Numbers the committed changes into `text_log`.
    fn sequence(&mut self) -> Result<()> {
        self.handle
            .block_on(self.client.batch_execute(SEQUENCE))
            .inspect_err(|_| {
                // A failed statement leaves the transaction open on a pooled connection.
                let _ = self.handle.block_on(self.client.batch_execute("ROLLBACK"));
            })?;
        Ok(())
    }
}

impl LogSource for Source<'_> {
    fn newest(&mut self) -> Result<i64> {
        let newest = self.scalar(NEWEST)?;
        if newest >= 0 {
            return Ok(newest);
        }
        self.sequence()?;
        self.scalar("SELECT coalesce(max(seq), 0) FROM text_log")
    }

    fn oldest(&mut self) -> Result<i64> {
        self.scalar("SELECT coalesce(min(seq), 0) FROM text_log")
    }

    fn since(&mut self, seq: i64) -> Result<Vec<Change>> {
        self.handle.block_on(async {
            let stmt = self
                .client
                .prepare_cached(
                    "SELECT l.memory_rowid, m.namespace FROM text_log l \
                     LEFT JOIN memories m ON m.rowid = l.memory_rowid WHERE l.seq > $1",
                )
                .await?;
            let rows = self.client.query(&stmt, &[&seq]).await?;
            rows.iter()
                .map(|r| {
                    // NULL: changes were dropped unread (see migration V7); the index reloads.
                    Ok(match get::<Option<i64>>(r, 0)? {
                        None => Change::All,
                        Some(rowid) => Change::Memory(rowid, get(r, 1)?),
                    })
                })
                .collect()
        })
    }
}

impl TextSource for Source<'_> {
    fn document(&mut self, rowid: i64) -> Result<Option<Document>> {
        self.handle.block_on(async {
            let stmt = self
                .client
                .prepare_cached(&format!("{DOCUMENT} WHERE rowid = $1"))
                .await?;
            self.client
                .query_opt(&stmt, &[&rowid])
                .await?
                .map(|r| document(&r))
                .transpose()
        })
    }

    fn documents(&mut self, namespace: &str, each: &mut dyn FnMut(Document)) -> Result<()> {
        self.handle.block_on(async {
            let stmt = self
                .client
                .prepare_cached(&format!("{DOCUMENT} WHERE namespace = $1 ORDER BY rowid"))
                .await?;
            // Streamed: a namespace's text is never held twice.
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&namespace];
            let rows = self.client.query_raw(&stmt, params).await?;
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = rows.next().await {
                each(document(&row?)?);
            }
            Ok(())
        })
    }

    fn passing(&mut self, rowids: &[i64]) -> Result<HashSet<i64>> {
        if rowids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut q = Query::new("SELECT m.rowid FROM memories m WHERE ".into());
        q.filter(self.filter);
        q.push(" AND m.rowid = ANY(");
        q.bind(rowids.to_vec());
        q.push(")");
        self.handle.block_on(async {
            let stmt = self.client.prepare_cached(&q.text).await?;
            let rows = self.client.query(&stmt, &q.params()).await?;
            rows.iter().map(|r| get(r, 0)).collect()
        })
    }

    fn highest_rowid(&mut self) -> Result<i64> {
        self.handle.block_on(async {
            let stmt = self
                .client
                .prepare_cached("SELECT coalesce(max(rowid), 0)::bigint FROM memories")
                .await?;
            get(&self.client.query_one(&stmt, &[]).await?, 0)
        })
    }

    fn sample(&mut self, stride: i64, highest: i64, each: &mut dyn FnMut(Document)) -> Result<()> {
        self.handle.block_on(async {
            // Index lookups by rowid, not a scan: a sample of a large database reads its
            // sample only.
            let stmt = self
                .client
                .prepare_cached(&format!(
                    "{DOCUMENT} JOIN generate_series($1::bigint, $2::bigint, $1::bigint) \
                     AS picked(r) ON rowid = picked.r"
                ))
                .await?;
            let stride = stride.max(1);
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&stride, &highest];
            let rows = self.client.query_raw(&stmt, params).await?;
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = rows.next().await {
                each(document(&row?)?);
            }
            Ok(())
        })
    }
}
