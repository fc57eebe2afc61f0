//! Rows of the `memories` table: insert with dedupe, get, update, delete, list, count.
//!
//! Functions here take a connection or a transaction and run synchronously; `Store` runs them
//! in the blocking pool. The FTS5 index follows every change through triggers.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::filter::{Filter, FilterSql};
use crate::error::{Error, Result};
use crate::memory::{self, Memory, NewMemory, Version};
use crate::store::Validity;
use crate::store::row::{AFTER_MEMORY, ColumnError, Columns, json, read_memory, to_json};
use crate::store::rules::{self, Named};
use crate::store::{Dating, Page, Situated, Stored};

/// The columns [`from_row`] reads, in its order, for a table aliased `m`.
pub(super) const COLUMNS: &str = "m.id, m.namespace, m.content, m.title, m.kind, m.tags, \
     m.source, m.anchor, m.roles, m.priority, m.created_at, m.updated_at, m.occurred_at, \
     m.metadata, m.content_hash, m.context, m.version, m.superseded_by, m.valid_until, \
     m.expires_at, m.created_by, m.updated_by";

/// Reads a memory from a row selected with [`COLUMNS`] first.
pub(super) fn from_row(row: &Row) -> Result<Memory> {
    Ok(read_memory(row)?)
}

impl Columns for Row<'_> {
    fn text(&self, index: usize) -> Result<String, ColumnError> {
        self.get(index).map_err(|e| unreadable(self, index, e))
    }

    fn optional_text(&self, index: usize) -> Result<Option<String>, ColumnError> {
        self.get(index).map_err(|e| unreadable(self, index, e))
    }

    fn int(&self, index: usize) -> Result<i32, ColumnError> {
        self.get(index).map_err(|e| unreadable(self, index, e))
    }
}

fn unreadable(row: &Row, index: usize, err: rusqlite::Error) -> ColumnError {
    let column = row.as_ref().column_name(index).unwrap_or("?");
    ColumnError::unreadable(column, err)
}

/// Id of the memory with this content hash in the namespace, if any.
pub(super) fn id_for_hash(
    conn: &Connection,
    namespace: &str,
    hash: &str,
) -> Result<Option<String>> {
    Ok(row_for_hash(conn, namespace, hash)?.map(|(id, _)| id))
}

/// The live (unexpired) memory with this content hash in the namespace, if any.
fn row_for_hash(conn: &Connection, namespace: &str, hash: &str) -> Result<Option<(String, i64)>> {
    Ok(conn
        .query_row(
            "SELECT id, rowid FROM memories WHERE namespace = ?1 AND content_hash = ?2 \
             AND (expires_at IS NULL OR expires_at > ?3)",
            params![namespace, hash, memory::now()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Inserts `m`, or returns the id of the live memory that already has its content (an expired
/// one holding it is purged first: it is gone for every tool, so the content is new again).
pub(super) fn insert(conn: &Connection, m: &NewMemory) -> Result<Stored> {
    let hash = memory::content_hash(&m.content);
    if let Some((id, rowid)) = row_for_hash(conn, &m.namespace, &hash)? {
        return Ok(Stored {
            id,
            rowid,
            deduplicated: true,
        });
    }
    super::expiry::purge_expired_holder(conn, &m.namespace, &hash)?;
    let row = m.stamped(hash);
    let rowid = insert_row(conn, &row)?;
    Ok(Stored {
        id: row.id,
        rowid,
        deduplicated: false,
    })
}

/// Inserts a complete row as given (id, timestamps and hash included); returns its rowid.
pub(super) fn insert_row(conn: &Connection, m: &Memory) -> Result<i64> {
    conn.execute(
        "INSERT INTO memories (id, namespace, content, title, kind, tags, source, anchor, roles, \
         priority, created_at, updated_at, occurred_at, metadata, content_hash, context, \
         version, superseded_by, valid_until, expires_at, created_by, updated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20, ?21, ?22)",
        params![
            m.id,
            m.namespace,
            m.content,
            m.title,
            m.kind,
            to_json(&m.tags)?,
            m.source,
            m.anchor,
            to_json(&m.roles)?,
            m.priority,
            m.created_at,
            m.updated_at,
            m.occurred_at,
            to_json(&m.metadata)?,
            m.content_hash,
            m.context,
            m.version,
            m.superseded_by,
            m.valid_until,
            m.expires_at,
            m.created_by,
            m.updated_by,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Fetches one live (unexpired) memory or says it is not found.
pub(super) fn get(conn: &Connection, namespace: &str, id: &str) -> Result<Memory> {
    let (m, _) = fetch(conn, namespace, id)?;
    if m.expired_at(&memory::now()) {
        return Err(Error::NotFound {
            id: id.to_string(),
            namespace: namespace.to_string(),
        });
    }
    Ok(m)
}

/// Fetches one memory (expired or not) and its rowid, or says it is not found.
pub(super) fn fetch(conn: &Connection, namespace: &str, id: &str) -> Result<(Memory, i64)> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, m.rowid FROM memories m WHERE m.namespace = ?1 AND m.id = ?2"
    ))?;
    let mut rows = stmt.query(params![namespace, id])?;
    match rows.next()? {
        Some(row) => Ok((from_row(row)?, row.get(AFTER_MEMORY)?)),
        None => Err(Error::NotFound {
            id: id.to_string(),
            namespace: namespace.to_string(),
        }),
    }
}

/// Writes every field of `m` to its row `rowid` (the rules above the seam decided them).
pub(super) fn rewrite(conn: &Connection, rowid: i64, m: &Memory) -> Result<()> {
    conn.execute(
        "UPDATE memories SET content = ?1, title = ?2, kind = ?3, tags = ?4, source = ?5, \
         anchor = ?6, roles = ?7, priority = ?8, occurred_at = ?9, metadata = ?10, \
         content_hash = ?11, updated_at = ?12, context = ?13, version = ?14, updated_by = ?16 \
         WHERE rowid = ?15",
        params![
            m.content,
            m.title,
            m.kind,
            to_json(&m.tags)?,
            m.source,
            m.anchor,
            to_json(&m.roles)?,
            m.priority,
            m.occurred_at,
            to_json(&m.metadata)?,
            m.content_hash,
            m.updated_at,
            m.context,
            m.version,
            rowid,
            m.updated_by,
        ],
    )?;
    Ok(())
}

/// Deletes one live memory; `false` when there was none (an expired one is not found, and
/// left to the sweep).
pub(super) fn delete(conn: &Connection, namespace: &str, id: &str) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM memories WHERE namespace = ?1 AND id = ?2 \
         AND (expires_at IS NULL OR expires_at > ?3)",
        params![namespace, id, memory::now()],
    )?;
    Ok(n > 0)
}

/// One page of memories matching `filter`, newest first, after rowid `after`.
pub(super) fn list(
    conn: &Connection,
    filter: &Filter,
    after: Option<i64>,
    limit: usize,
) -> Result<Page> {
    let (mut conditions, mut values) = filter.to_sql();
    if let Some(after) = after {
        conditions.push_str(" AND m.rowid < ?");
        values.push(after.into());
    }
    // One extra row tells whether another page exists.
    values.push((limit as i64 + 1).into());
    let sql = format!(
        "SELECT {COLUMNS}, m.rowid FROM memories m WHERE {conditions} ORDER BY m.rowid DESC LIMIT ?"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows: Vec<(Memory, i64)> = Vec::new();
    let mut found = stmt.query(params_from_iter(values))?;
    while let Some(r) = found.next()? {
        rows.push((from_row(r)?, r.get(AFTER_MEMORY)?));
    }
    let next_after = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, rowid)| *rowid)
    } else {
        None
    };
    Ok(Page {
        memories: rows.into_iter().map(|(m, _)| m).collect(),
        next_after,
    })
}

/// Memories pinned for `role` (or `*`) and valid as `validity` says, highest priority first,
/// then most recently updated.
pub(super) fn pinned_for(
    conn: &Connection,
    namespace: &str,
    role: &str,
    validity: &Validity,
) -> Result<Vec<Memory>> {
    let filter = Filter {
        validity: validity.clone(),
        ..Filter::namespace(namespace)
    };
    let (conditions, mut values) = filter.to_sql();
    values.push(role.to_string().into());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM memories m WHERE {conditions} AND m.roles != '[]' AND EXISTS \
         (SELECT 1 FROM json_each(m.roles) r WHERE r.value = ? OR r.value = '*') \
         ORDER BY m.priority DESC, m.updated_at DESC, m.rowid DESC"
    ))?;
    let mut out = Vec::new();
    let mut rows = stmt.query(params_from_iter(values))?;
    while let Some(r) = rows.next()? {
        out.push(from_row(r)?);
    }
    Ok(out)
}

/// The memories with these rowids, in the order given (missing rowids are skipped).
pub(super) fn by_rowid(conn: &Connection, rowids: &[i64]) -> Result<Vec<(i64, Memory)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM memories m WHERE m.rowid = ?1"
    ))?;
    let mut out = Vec::with_capacity(rowids.len());
    for rowid in rowids {
        if let Some(r) = stmt.query(params![rowid])?.next()? {
            out.push((*rowid, from_row(r)?));
        }
    }
    Ok(out)
}

/// Each memory's date, kind and whether it has a source; see `Backend::dating`.
pub(super) fn dating(conn: &Connection, rowids: &[i64]) -> Result<Vec<Dating>> {
    let mut stmt = conn.prepare_cached(
        "SELECT occurred_at, kind, source IS NOT NULL FROM memories WHERE rowid = ?1",
    )?;
    let mut out = Vec::with_capacity(rowids.len());
    for &rowid in rowids {
        let found = stmt
            .query_row(params![rowid], |r| {
                Ok(Dating {
                    rowid,
                    occurred_at: r.get(0)?,
                    kind: r.get(1)?,
                    sourced: r.get(2)?,
                })
            })
            .optional()?;
        out.extend(found);
    }
    Ok(out)
}

/// Where each memory sits in its namespace's timeline; see `Backend::situate`.
pub(super) fn situate(conn: &Connection, rowids: &[i64]) -> Result<Vec<Situated>> {
    let mut stmt = conn.prepare_cached(SITUATE)?;
    let mut out = Vec::with_capacity(rowids.len());
    for &rowid in rowids {
        let found = stmt
            .query_row(params![rowid], |r| {
                let side = |i: usize| -> rusqlite::Result<Option<(i64, String)>> {
                    Ok(match r.get::<_, Option<i64>>(i)? {
                        Some(row) => Some((row, r.get(i + 1)?)),
                        None => None,
                    })
                };
                Ok(Situated {
                    rowid,
                    occurred_at: r.get(0)?,
                    before: side(1)?,
                    after: side(3)?,
                })
            })
            .optional()?;
        out.extend(found);
    }
    Ok(out)
}

/// One memory's place in its timeline. The row-value comparisons walk the
/// `(namespace, occurred_at)` index (which ends in the rowid) one step either way; a step that
/// lands on another source is no neighbour.
const SITUATE: &str = "SELECT m.occurred_at, b.rowid, b.occurred_at, a.rowid, a.occurred_at \
     FROM memories m \
     LEFT JOIN memories b ON b.rowid = (SELECT x.rowid FROM memories x \
         WHERE x.namespace = m.namespace AND (x.occurred_at, x.rowid) < (m.occurred_at, m.rowid) \
         ORDER BY x.occurred_at DESC, x.rowid DESC LIMIT 1) AND b.source IS m.source \
     LEFT JOIN memories a ON a.rowid = (SELECT x.rowid FROM memories x \
         WHERE x.namespace = m.namespace AND (x.occurred_at, x.rowid) > (m.occurred_at, m.rowid) \
         ORDER BY x.occurred_at, x.rowid LIMIT 1) AND a.source IS m.source \
     WHERE m.rowid = ?1";

/// Marks the memories `supersedes` names as superseded by `by`, once [`rules::supersede`]
/// accepts them; an error writes nothing (the caller's transaction rolls back).
pub(super) fn supersede(conn: &Connection, by: &Memory, supersedes: &[String]) -> Result<()> {
    if supersedes.is_empty() {
        return Ok(());
    }
    // An expired memory is not found: it cannot be named.
    let mut lookup = conn.prepare_cached(
        "SELECT id, namespace, superseded_by FROM memories WHERE id = ?1 \
         AND (expires_at IS NULL OR expires_at > ?2)",
    )?;
    let now = memory::now();
    let mut found = Vec::with_capacity(supersedes.len());
    for id in supersedes.iter().take(rules::MAX_SUPERSEDES + 1) {
        let named = lookup
            .query_row(params![id, now], |r| {
                Ok(Named {
                    id: r.get(0)?,
                    namespace: r.get(1)?,
                    superseded_by: r.get(2)?,
                })
            })
            .optional()?;
        found.extend(named);
    }
    let successors = successors(conn, &by.id)?;
    let Some(marked) = rules::supersede(by, supersedes, &found, &successors)? else {
        return Ok(());
    };
    let mut mark = conn
        .prepare_cached("UPDATE memories SET superseded_by = ?1, valid_until = ?2 WHERE id = ?3")?;
    for id in &marked.ids {
        mark.execute(params![marked.by, marked.until, id])?;
    }
    Ok(())
}

/// The memories that superseded `id`, nearest first (its `superseded_by`, that one's, ...).
fn successors(conn: &Connection, id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE chain(id) AS (SELECT superseded_by FROM memories WHERE id = ?1 \
         UNION SELECT m.superseded_by FROM memories m JOIN chain c ON m.id = c.id) \
         SELECT id FROM chain WHERE id IS NOT NULL",
    )?;
    let rows = stmt.query_map(params![id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Keeps `previous` as a version of the memory `memory_id`.
pub(super) fn put_version(conn: &Connection, memory_id: &str, previous: &Version) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO memory_versions (memory_id, version, changed_at, changed_by, state) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        memory_id,
        previous.version,
        previous.changed_at,
        previous.changed_by,
        to_json(previous)?,
    ])?;
    Ok(())
}

/// The earlier versions of the memory `memory_id`, newest first.
pub(super) fn versions(conn: &Connection, memory_id: &str) -> Result<Vec<Version>> {
    let mut stmt = conn.prepare_cached(
        "SELECT state FROM memory_versions WHERE memory_id = ?1 ORDER BY version DESC",
    )?;
    let mut rows = stmt.query(params![memory_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let state: String = r.get(0)?;
        out.push(json(&state, "state")?);
    }
    Ok(out)
}

/// Ids of the memories of `namespace` that `by` superseded, oldest first (the partial index
/// on superseded memories narrows the scan to those of the namespace).
pub(super) fn superseded_by(conn: &Connection, namespace: &str, by: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM memories WHERE namespace = ?1 AND superseded_by = ?2 ORDER BY rowid",
    )?;
    let ids = stmt.query_map(params![namespace, by], |r| r.get(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}

/// Number of superseded memories in the database.
pub(super) fn superseded_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM memories WHERE superseded_by IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Number of memories within `filter` (never an expired one).
pub(super) fn count(conn: &Connection, filter: &Filter) -> Result<u64> {
    let (conditions, values) = filter.to_sql();
    let n: i64 = conn.query_row(
        &format!("SELECT count(*) FROM memories m WHERE {conditions}"),
        params_from_iter(values),
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Memories per namespace, by namespace name: the counts the generation triggers keep
/// (0012), one row per namespace rather than a count of the whole table.
pub(super) fn namespace_counts(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT namespace, memories FROM namespace_generations WHERE memories > 0 \
         ORDER BY namespace",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPatch;
    use crate::store::sample_memory as new_memory;
    use crate::store::sqlite::SqliteStore as Store;
    use crate::store::{KeywordRanking, query_terms};

    impl Store {
        async fn insert_one(&self, m: NewMemory) -> Result<Stored> {
            self.insert(m, None).await
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memoryd.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn the_columns_are_read_in_the_shared_order() {
        let names: Vec<_> = COLUMNS
            .split(", ")
            .map(|c| c.trim_start_matches("m."))
            .collect();
        assert_eq!(names, crate::store::row::MEMORY_COLUMNS);
    }

    #[tokio::test]
    async fn insert_dedupes_per_namespace_only() {
        let (_dir, store) = open();
        let a = store
            .insert_one(new_memory("one", "same text"))
            .await
            .unwrap();
        let b = store
            .insert_one(new_memory("one", "same text"))
            .await
            .unwrap();
        let c = store
            .insert_one(new_memory("two", "same text"))
            .await
            .unwrap();
        assert!(!a.deduplicated);
        assert!(b.deduplicated);
        assert_eq!(a.id, b.id);
        assert!(!c.deduplicated);
        assert_ne!(a.id, c.id);
        assert_eq!(store.count(Filter::namespace("one")).await.unwrap(), 1);
        assert_eq!(
            store.namespace_counts().await.unwrap(),
            vec![("one".to_string(), 1), ("two".to_string(), 1)]
        );
        let (db, _wal) = store.file_sizes();
        assert!(db > 0, "the database file has a size");
    }

    #[tokio::test]
    async fn keyword_ranking_finds_a_small_namespace_behind_a_big_one() {
        for ranking in [KeywordRanking::Engine, KeywordRanking::InMemory] {
            small_namespace_behind_a_big_one(ranking).await;
        }
    }

    async fn small_namespace_behind_a_big_one(ranking: KeywordRanking) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(&dir.path().join("memoryd.db"), ranking).unwrap();
        for i in 0..30 {
            let content = format!("ledger ledger ledger entry {i}");
            store.insert_one(new_memory("big", &content)).await.unwrap();
        }
        for i in 0..3 {
            let content = format!("the ledger, once, in a longer sentence about item {i}");
            store
                .insert_one(new_memory("small", &content))
                .await
                .unwrap();
        }
        let ranked = |ns: &str, limit: usize| {
            store.keyword_ranked(
                query_terms("ledger").into(),
                crate::store::Filter::namespace(ns),
                limit,
            )
        };
        // Every one of the best 4 × limit matches overall is in "big": the ranking falls back
        // to searching within the filter.
        assert_eq!(ranked("small", 2).await.unwrap().len(), 2);
        assert_eq!(ranked("small", 10).await.unwrap().len(), 3);
        let big = ranked("big", 5).await.unwrap();
        assert_eq!(big.len(), 5);
        assert!(big.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[tokio::test]
    async fn get_round_trips_every_field_and_respects_namespace() {
        let (_dir, store) = open();
        let mut m = new_memory("one", "round trip");
        m.metadata.insert("k".into(), serde_json::json!([1, 2]));
        m.occurred_at = Some("2023-05-08T13:56:00.000Z".into());
        let id = store.insert_one(m).await.unwrap().id;
        let got = store.get("one".into(), id.clone()).await.unwrap();
        assert_eq!(got.content, "round trip");
        assert_eq!(got.tags, vec!["alpha", "beta"]);
        assert_eq!(got.roles, vec!["planner"]);
        assert_eq!(got.anchor.as_deref(), Some("intro"));
        assert_eq!(got.priority, 3);
        assert_eq!(got.occurred_at, "2023-05-08T13:56:00.000Z");
        assert_eq!(got.metadata["k"], serde_json::json!([1, 2]));
        assert_eq!(got.content_hash, memory::content_hash("round trip"));
        let err = store.get("two".into(), id).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }

    #[tokio::test]
    async fn update_reindexes_and_refuses_duplicate_content() {
        let (_dir, store) = open();
        let a = store
            .insert_one(new_memory("ns", "the old words"))
            .await
            .unwrap()
            .id;
        let b = store
            .insert_one(new_memory("ns", "other words"))
            .await
            .unwrap()
            .id;
        let patch = MemoryPatch {
            content: Some("the fresh words".into()),
            title: Some(None),
            ..MemoryPatch::default()
        };
        let (m, _) = store
            .update("ns".into(), a.clone(), patch, None)
            .await
            .unwrap();
        assert_eq!(m.title, None);
        assert!(m.updated_at >= m.created_at);
        let hits = |q: &str| {
            let store = store.clone();
            let terms = query_terms(q);
            async move {
                let ranked = store
                    .keyword_ranked(terms.into(), Filter::namespace("ns"), 10)
                    .await
                    .unwrap();
                let hits = store.hits(ranked, vec![]).await.unwrap();
                hits.into_iter().map(|h| h.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(hits("fresh").await, vec![a.clone()]);
        assert!(hits("old").await.is_empty());

        let dup = MemoryPatch {
            content: Some("other words".into()),
            ..MemoryPatch::default()
        };
        let err = store
            .update("ns".into(), a.clone(), dup, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::DuplicateContent { ref existing_id, .. } if *existing_id == b)
        );
        // the failed update wrote nothing
        let still = store.get("ns".into(), a).await.unwrap();
        assert_eq!(still.content, "the fresh words");
    }

    #[tokio::test]
    async fn delete_removes_row_and_index_entry() {
        let (_dir, store) = open();
        let id = store
            .insert_one(new_memory("ns", "ephemeral thought"))
            .await
            .unwrap()
            .id;
        assert!(store.delete("ns".into(), id.clone()).await.unwrap());
        assert!(!store.delete("ns".into(), id.clone()).await.unwrap());
        let hits = store
            .keyword_ranked(query_terms("ephemeral").into(), Filter::namespace("ns"), 10)
            .await
            .unwrap();
        assert!(hits.is_empty());
    }

    #[tokio::test]
    async fn list_pages_newest_first_with_filters() {
        let (_dir, store) = open();
        let mut ids = Vec::new();
        for i in 0..5 {
            let mut m = new_memory("ns", &format!("memory number {i}"));
            if i % 2 == 0 {
                m.kind = "decision".into();
                m.roles = vec!["*".into()];
            } else {
                m.roles = vec!["reviewer".into()];
            }
            ids.push(store.insert_one(m).await.unwrap().id);
        }
        let first = store.list(Filter::namespace("ns"), None, 2).await.unwrap();
        let got: Vec<_> = first.memories.iter().map(|m| m.id.clone()).collect();
        assert_eq!(got, vec![ids[4].clone(), ids[3].clone()]);
        let second = store
            .list(Filter::namespace("ns"), first.next_after, 2)
            .await
            .unwrap();
        let third = store
            .list(Filter::namespace("ns"), second.next_after, 2)
            .await
            .unwrap();
        assert_eq!(third.memories.len(), 1);
        assert_eq!(third.next_after, None);

        let decisions = Filter {
            kind: Some("decision".into()),
            ..Filter::namespace("ns")
        };
        assert_eq!(
            store
                .list(decisions, None, 10)
                .await
                .unwrap()
                .memories
                .len(),
            3
        );
        let planner = Filter {
            role: Some("planner".into()),
            ..Filter::namespace("ns")
        };
        // pins for '*' count for every role; reviewer-only pins do not
        assert_eq!(
            store.list(planner, None, 10).await.unwrap().memories.len(),
            3
        );
        let tagged = Filter {
            tags: vec!["alpha".into(), "missing".into()],
            ..Filter::namespace("ns")
        };
        assert!(
            store
                .list(tagged, None, 10)
                .await
                .unwrap()
                .memories
                .is_empty()
        );
    }

    #[tokio::test]
    async fn each_version_records_its_writer_and_export_keeps_them() {
        let (dir, store) = open();
        let empty = Store::open(&dir.path().join("copy.db")).unwrap();
        crate::store::engine_checks::writers_round_trip(&store, &empty).await;
    }

    #[tokio::test]
    async fn namespace_counts_follow_every_write() {
        let (_dir, store) = open();
        crate::store::engine_checks::namespace_counts_follow_writes(&store).await;
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memoryd.db");
        let id = {
            let store = Store::open(&path).unwrap();
            store
                .insert_one(new_memory("ns", "durable"))
                .await
                .unwrap()
                .id
        };
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get("ns".into(), id).await.unwrap().content, "durable");
    }
}
