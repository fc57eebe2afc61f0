//! Rows of the `memories` table: insert with dedupe, get, update, delete, list, pins, the
//! timeline around a memory, counts. Supersede marks and versions are in `lifecycle.rs`.
//!
//! An update fetches the row, and `store::rules` decides the patched memory, the duplicate
//! check and what becomes of the vector; this file only runs the statements.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use pgvector::Vector;
use tokio_postgres::Row;

use super::PgStore;
use super::columns::get;
use super::lifecycle::{put_version, supersede};
use super::sql::Query;
use crate::error::{Error, Result};
use crate::memory::{self, Memory, MemoryPatch, NewMemory};
use crate::store::row::{AFTER_MEMORY, read_memory, to_json};
use crate::store::rules::{self, VectorWrite};
use crate::store::{Filter, Page, Situated, Stored, Validity};

/// The columns [`from_row`] reads, in its order (`store::row::MEMORY_COLUMNS`, the JSON ones
/// as text), for a table aliased `m`.
pub(super) const COLUMNS: &str = "m.id, m.namespace, m.content, m.title, m.kind, m.tags::text, \
     m.source, m.anchor, m.roles::text, m.priority, m.created_at, m.updated_at, m.occurred_at, \
     m.metadata, m.content_hash, m.context, m.version, m.superseded_by, m.valid_until, \
     m.expires_at, m.created_by, m.updated_by";

/// Reads a memory from a row selected with [`COLUMNS`] first.
pub(super) fn from_row(r: &Row) -> Result<Memory> {
    Ok(read_memory(r)?)
}

const INSERT: &str = "INSERT INTO memories (id, namespace, content, title, kind, tags, source, \
     anchor, roles, priority, created_at, updated_at, occurred_at, metadata, content_hash, \
     context, embedding, version, superseded_by, valid_until, expires_at, created_by, \
     updated_by) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9::text::jsonb, $10, $11, \
     $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
     ON CONFLICT (namespace, content_hash) DO NOTHING RETURNING rowid";

/// Inserts a complete row as given; its rowid, or `None` when the namespace already holds the
/// content.
pub(super) async fn insert_row(
    tx: &Transaction<'_>,
    m: &Memory,
    vector: Option<&[f32]>,
) -> Result<Option<i64>> {
    let stmt = tx.prepare_cached(INSERT).await?;
    let tags = to_json(&m.tags)?;
    let roles = to_json(&m.roles)?;
    let metadata = to_json(&m.metadata)?;
    let embedding = vector.map(|v| Vector::from(v.to_vec()));
    let row = tx
        .query_opt(
            &stmt,
            &[
                &m.id,
                &m.namespace,
                &m.content,
                &m.title,
                &m.kind,
                &tags,
                &m.source,
                &m.anchor,
                &roles,
                &m.priority,
                &m.created_at,
                &m.updated_at,
                &m.occurred_at,
                &metadata,
                &m.content_hash,
                &m.context,
                &embedding,
                &m.version,
                &m.superseded_by,
                &m.valid_until,
                &m.expires_at,
                &m.created_by,
                &m.updated_by,
            ],
        )
        .await?;
    row.map(|r| get(&r, 0)).transpose()
}

/// The id and rowid of the live memory holding this content hash in the namespace, if any.
async fn row_for_hash(
    tx: &Transaction<'_>,
    namespace: &str,
    hash: &str,
) -> Result<Option<(String, i64)>> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, rowid FROM memories WHERE namespace = $1 AND content_hash = $2 \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .await?;
    match tx
        .query_opt(&stmt, &[&namespace, &hash, &memory::now()])
        .await?
    {
        Some(r) => Ok(Some((get(&r, 0)?, get(&r, 1)?))),
        None => Ok(None),
    }
}

/// Inserts `m` (stamping id and times), or returns the memory that already has its content.
async fn insert_new(tx: &Transaction<'_>, m: &NewMemory, vector: Option<&[f32]>) -> Result<Stored> {
    let hash = memory::content_hash(&m.content);
    if let Some((id, rowid)) = row_for_hash(tx, &m.namespace, &hash).await? {
        return Ok(Stored {
            id,
            rowid,
            deduplicated: true,
        });
    }
    // An expired memory holding the content is gone for every tool: the content is new again.
    super::expiry::purge_expired_holder(tx, &m.namespace, &hash).await?;
    let row = m.stamped(hash.clone());
    match insert_row(tx, &row, vector).await? {
        Some(rowid) => Ok(Stored {
            id: row.id,
            rowid,
            deduplicated: false,
        }),
        // Another process stored the same content between our look and our insert; the
        // unique index made us wait for its commit, so its row is visible now.
        None => {
            let (id, rowid) = row_for_hash(tx, &m.namespace, &hash)
                .await?
                .ok_or_else(|| Error::Internal("a conflicting insert left no row behind".into()))?;
            Ok(Stored {
                id,
                rowid,
                deduplicated: true,
            })
        }
    }
}

impl PgStore {
    /// Id of the memory holding exactly this content in the namespace, if any.
    pub(super) async fn id_for_content(
        &self,
        namespace: String,
        content_hash: String,
    ) -> Result<Option<String>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id FROM memories WHERE namespace = $1 AND content_hash = $2 \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .await?;
        client
            .query_opt(&stmt, &[&namespace, &content_hash, &memory::now()])
            .await?
            .map(|r| get(&r, 0))
            .transpose()
    }

    /// Inserts a memory (with its vector), or returns the one holding its content.
    pub(super) async fn insert(
        &self,
        memory: NewMemory,
        vector: Option<Vec<f32>>,
    ) -> Result<Stored> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let stored = insert_new(&tx, &memory, vector.as_deref()).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// [`PgStore::insert`], and the memories `supersedes` names marked as superseded by the
    /// stored one in the same transaction (nothing is written when one is refused).
    pub(super) async fn insert_superseding(
        &self,
        memory: NewMemory,
        vector: Option<Vec<f32>>,
        supersedes: Vec<String>,
    ) -> Result<Stored> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let stored = insert_new(&tx, &memory, vector.as_deref()).await?;
        if !supersedes.is_empty() {
            let stmt = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM memories m WHERE m.rowid = $1"
                ))
                .await?;
            let by = from_row(&tx.query_one(&stmt, &[&stored.rowid]).await?)?;
            supersede(&tx, &by, &supersedes).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Inserts many memories in one transaction; `vectors[i]` belongs to `memories[i]`.
    pub(super) async fn insert_many(
        &self,
        memories: Vec<NewMemory>,
        vectors: Option<Vec<Vec<f32>>>,
    ) -> Result<Vec<Stored>> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let mut out = Vec::with_capacity(memories.len());
        for (i, m) in memories.iter().enumerate() {
            let v = vectors.as_ref().map(|vs| vs[i].as_slice());
            out.push(insert_new(&tx, m, v).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Fetches one memory by id within a namespace; an expired one is not found.
    pub(super) async fn get(&self, namespace: String, id: String) -> Result<Memory> {
        let m = self.get_any(namespace.clone(), id.clone()).await?;
        if m.expired_at(&memory::now()) {
            return Err(Error::NotFound { id, namespace });
        }
        Ok(m)
    }

    /// Applies a patch as `store::rules` decides, in one transaction holding the row.
    pub(super) async fn update(
        &self,
        namespace: String,
        id: String,
        patch: MemoryPatch,
        vector: Option<(String, Vec<f32>)>,
    ) -> Result<(Memory, bool)> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, m.rowid, m.embedding IS NOT NULL FROM memories m \
                 WHERE m.namespace = $1 AND m.id = $2 FOR UPDATE"
            ))
            .await?;
        let Some(row) = tx.query_opt(&stmt, &[&namespace, &id]).await? else {
            return Err(Error::NotFound { id, namespace });
        };
        let rowid: i64 = get(&row, AFTER_MEMORY)?;
        let had_vector: bool = get(&row, AFTER_MEMORY + 1)?;
        let patched = rules::update(from_row(&row)?, &patch)?;
        if let Some(hash) = &patched.duplicate_check {
            let holder = row_for_hash(&tx, &namespace, hash).await?;
            patched.refuse_duplicate(holder.map(|(id, _)| id))?;
            super::expiry::purge_expired_holder(&tx, &namespace, hash).await?;
        }
        if let Some(expires_at) = &patched.expiry {
            super::expiry::set(&tx, rowid, expires_at.as_deref()).await?;
        }
        let (change, missing) = patched.vector(had_vector, vector);
        let Some(previous) = &patched.previous else {
            // Nothing of the memory changes: it only supersedes others.
            supersede(&tx, &patched.memory, &patch.supersedes).await?;
            tx.commit().await?;
            return Ok((patched.memory, missing));
        };
        let (set_vector, new_vector) = match change {
            VectorWrite::Keep => (false, None),
            VectorWrite::Put(v) => (true, Some(Vector::from(v))),
            VectorWrite::Clear => (true, None),
        };
        let m = &patched.memory;
        let tags = to_json(&m.tags)?;
        let roles = to_json(&m.roles)?;
        let metadata = to_json(&m.metadata)?;
        let stmt = tx
            .prepare_cached(
                "UPDATE memories SET content = $1, title = $2, kind = $3, tags = $4::text::jsonb, \
                 source = $5, anchor = $6, roles = $7::text::jsonb, priority = $8, \
                 occurred_at = $9, metadata = $10, content_hash = $11, updated_at = $12, \
                 context = $13, embedding = CASE WHEN $14 THEN $15 ELSE embedding END, \
                 version = $17, updated_by = $18 WHERE rowid = $16",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &m.content,
                &m.title,
                &m.kind,
                &tags,
                &m.source,
                &m.anchor,
                &roles,
                &m.priority,
                &m.occurred_at,
                &metadata,
                &m.content_hash,
                &m.updated_at,
                &m.context,
                &set_vector,
                &new_vector,
                &rowid,
                &m.version,
                &m.updated_by,
            ],
        )
        .await?;
        put_version(&tx, &m.id, previous).await?;
        supersede(&tx, m, &patch.supersedes).await?;
        tx.commit().await?;
        Ok((patched.memory, missing))
    }

    /// Deletes one memory; `false` when there was none with that id.
    pub(super) async fn delete(&self, namespace: String, id: String) -> Result<bool> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM memories WHERE namespace = $1 AND id = $2 \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .await?;
        Ok(client
            .execute(&stmt, &[&namespace, &id, &memory::now()])
            .await?
            > 0)
    }

    /// One page of memories, newest first, after the row `after`.
    pub(super) async fn list(
        &self,
        filter: Filter,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Page> {
        let mut q = Query::new(format!("SELECT {COLUMNS}, m.rowid FROM memories m WHERE "));
        q.filter(&filter);
        if let Some(after) = after {
            q.push(" AND m.rowid < ");
            q.bind(after);
        }
        q.push(" ORDER BY m.rowid DESC LIMIT ");
        // One extra row tells whether another page exists.
        q.bind(limit as i64 + 1);
        let rows = self.query(&q).await?;
        let mut memories = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows.iter().take(limit) {
            memories.push(from_row(row)?);
            last = Some(get::<i64>(row, AFTER_MEMORY)?);
        }
        Ok(Page {
            next_after: if rows.len() > limit { last } else { None },
            memories,
        })
    }

    /// Memories pinned for `role` (or for every role) and valid as `validity` says, highest
    /// priority first.
    pub(super) async fn pinned_for(
        &self,
        namespace: String,
        role: String,
        validity: Validity,
    ) -> Result<Vec<Memory>> {
        let filter = Filter {
            validity,
            ..Filter::namespace(namespace)
        };
        let mut q = Query::new(format!("SELECT {COLUMNS} FROM memories m WHERE "));
        q.filter(&filter);
        q.push(" AND m.roles <> '[]'::jsonb AND (m.roles ? ");
        q.bind(role);
        q.push(" OR m.roles ? '*') ORDER BY m.priority DESC, m.updated_at DESC, m.rowid DESC");
        self.query(&q).await?.iter().map(from_row).collect()
    }

    /// The memories with these rowids, in their order (missing ones are skipped).
    pub(super) async fn memories_by_rowid(&self, rowids: Vec<i64>) -> Result<Vec<(i64, Memory)>> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, m.rowid FROM memories m WHERE m.rowid = ANY($1)"
            ))
            .await?;
        let mut found: HashMap<i64, Memory> = HashMap::new();
        for row in client.query(&stmt, &[&rowids]).await? {
            found.insert(get(&row, AFTER_MEMORY)?, from_row(&row)?);
        }
        Ok(rowids
            .iter()
            .filter_map(|r| found.remove(r).map(|m| (*r, m)))
            .collect())
    }

    /// Where each of these memories sits in its namespace's timeline (see
    /// `Backend::situate`).
    pub(super) async fn situate(&self, rowids: Vec<i64>) -> Result<Vec<Situated>> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.conn().await?;
        // As on SQLite: one step either way along the (namespace, occurred_at) index, the rowid
        // breaking ties; a step that lands on another source is no neighbour.
        let stmt = client
            .prepare_cached(
                "SELECT m.rowid, m.occurred_at, b.rowid, b.occurred_at, a.rowid, a.occurred_at \
                 FROM memories m \
                 LEFT JOIN LATERAL (SELECT x.rowid, x.occurred_at, x.source FROM memories x \
                     WHERE x.namespace = m.namespace \
                     AND (x.occurred_at, x.rowid) < (m.occurred_at, m.rowid) \
                     ORDER BY x.occurred_at DESC, x.rowid DESC LIMIT 1) b \
                     ON b.source IS NOT DISTINCT FROM m.source \
                 LEFT JOIN LATERAL (SELECT x.rowid, x.occurred_at, x.source FROM memories x \
                     WHERE x.namespace = m.namespace \
                     AND (x.occurred_at, x.rowid) > (m.occurred_at, m.rowid) \
                     ORDER BY x.occurred_at, x.rowid LIMIT 1) a \
                     ON a.source IS NOT DISTINCT FROM m.source \
                 WHERE m.rowid = ANY($1)",
            )
            .await?;
        let mut found: HashMap<i64, Situated> = HashMap::new();
        for r in client.query(&stmt, &[&rowids]).await? {
            let side = |i: usize| -> Result<Option<(i64, String)>> {
                match get::<Option<i64>>(&r, i)? {
                    Some(row) => Ok(Some((row, get(&r, i + 1)?))),
                    None => Ok(None),
                }
            };
            let rowid: i64 = get(&r, 0)?;
            found.insert(
                rowid,
                Situated {
                    rowid,
                    occurred_at: get(&r, 1)?,
                    before: side(2)?,
                    after: side(4)?,
                },
            );
        }
        Ok(rowids.iter().filter_map(|r| found.remove(r)).collect())
    }

    /// Number of memories within `filter` (never an expired one).
    pub(super) async fn count(&self, filter: Filter) -> Result<u64> {
        let mut q = Query::new("SELECT count(*) FROM memories m WHERE ".to_string());
        q.filter(&filter);
        let rows = self.query(&q).await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Internal("count(*) returned no row".into()))?;
        Ok(get::<i64>(row, 0)? as u64)
    }

    /// Memories per namespace, by namespace name: the counts the generation triggers keep
    /// (V8), one row per namespace rather than a count of the whole table.
    pub(super) async fn namespace_counts(&self) -> Result<Vec<(String, u64)>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT namespace, memories FROM namespace_generations WHERE memories > 0 \
                 ORDER BY namespace",
            )
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|r| Ok((get(r, 0)?, get::<i64>(r, 1)? as u64)))
            .collect()
    }
}
