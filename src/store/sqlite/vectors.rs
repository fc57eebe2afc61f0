//! The vec0 index: one embedding per memory, KNN within a namespace, and the model record.

use rusqlite::{Connection, OptionalExtension, params};
use zerocopy::IntoBytes;

use super::filter::{self, Filter};
use crate::error::{Error, Result};
use crate::index::vectors::VectorIndex;
use crate::memory::embedding_text;
use crate::store::{Pending, Ranked};

/// The text the row's vector must have been made from, if the row exists.
pub(super) fn current_text(conn: &Connection, rowid: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT context, content FROM memories WHERE rowid = ?1",
            params![rowid],
            |r| {
                let context: Option<String> = r.get(0)?;
                let content: String = r.get(1)?;
                Ok(embedding_text(context.as_deref(), &content))
            },
        )
        .optional()?)
}

/// Writes (or replaces) the vector of one memory.
pub(super) fn put(conn: &Connection, rowid: i64, namespace: &str, vector: &[f32]) -> Result<()> {
    conn.execute(
        "DELETE FROM memory_vectors WHERE rowid = ?1",
        params![rowid],
    )?;
    conn.execute(
        "INSERT INTO memory_vectors (rowid, namespace, embedding) VALUES (?1, ?2, ?3)",
        params![rowid, namespace, vector.as_bytes()],
    )?;
    log_change(conn, Some(rowid))
}

/// Removes the vector of one memory, if it has one.
pub(super) fn remove(conn: &Connection, rowid: i64) -> Result<()> {
    let removed = conn.execute(
        "DELETE FROM memory_vectors WHERE rowid = ?1",
        params![rowid],
    )?;
    if removed > 0 {
        log_change(conn, Some(rowid))?;
    }
    Ok(())
}

/// Records in `vector_log` that the vector of `rowid` (of every memory, for `None`) changed.
fn log_change(conn: &Connection, rowid: Option<i64>) -> Result<()> {
    conn.prepare_cached("INSERT INTO vector_log (memory_rowid) VALUES (?1)")?
        .execute(params![rowid])?;
    Ok(())
}

/// The vectors of these rowids, for those that have one.
pub(super) fn by_rowid(conn: &Connection, rowids: &[i64]) -> Result<Vec<(i64, Vec<f32>)>> {
    let mut stmt = conn.prepare_cached("SELECT embedding FROM memory_vectors WHERE rowid = ?1")?;
    let mut out = Vec::with_capacity(rowids.len());
    for &rowid in rowids {
        let blob: Option<Vec<u8>> = stmt.query_row(params![rowid], |r| r.get(0)).optional()?;
        if let Some(blob) = blob {
            let v = blob
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            out.push((rowid, v));
        }
    }
    Ok(out)
}

/// True when the memory has a vector.
pub(super) fn has_vector(conn: &Connection, rowid: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM memory_vectors WHERE rowid = ?1",
            params![rowid],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Writes vectors made for pending memories whose content is still what was embedded.
pub(super) fn put_pending(conn: &Connection, done: &[(Pending, Vec<f32>)]) -> Result<usize> {
    let mut written = 0;
    let mut namespaces = std::collections::BTreeSet::new();
    for (p, vector) in done {
        if current_text(conn, p.rowid)?.as_deref() == Some(p.text.as_str()) {
            put(conn, p.rowid, &p.namespace, vector)?;
            namespaces.insert(p.namespace.as_str());
            written += 1;
        }
    }
    for namespace in namespaces {
        bump_generation(conn, Some(namespace))?;
    }
    Ok(written)
}

/// Up to `limit` memories that have no vector yet, oldest first.
pub(super) fn pending(conn: &Connection, limit: usize) -> Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.rowid, m.namespace, m.context, m.content FROM memories m \
         WHERE NOT EXISTS (SELECT 1 FROM memory_vectors v WHERE v.rowid = m.rowid) \
         ORDER BY m.rowid LIMIT ?1",
    )?;
    let rows = stmt
        .query_map(params![limit as i64], |r| {
            let context: Option<String> = r.get(2)?;
            let content: String = r.get(3)?;
            Ok(Pending {
                rowid: r.get(0)?,
                namespace: r.get(1)?,
                text: embedding_text(context.as_deref(), &content),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Number of memories without a vector.
pub(super) fn pending_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM memories m \
         WHERE NOT EXISTS (SELECT 1 FROM memory_vectors v WHERE v.rowid = m.rowid)",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Removes every vector (before re-embedding with another model).
pub(super) fn clear(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM memory_vectors", [])?;
    log_change(conn, None)?;
    bump_generation(conn, None)
}

/// The `k` memories nearest to `query` within `filter`, nearest first; score = cosine
/// similarity. Filters apply to the nearest candidates, so a narrowing filter looks further.
pub(super) fn knn(
    conn: &Connection,
    index: &VectorIndex,
    query: &[f32],
    filter: &Filter,
    k: usize,
) -> Result<Vec<Ranked>> {
    let narrowed = filter.narrows();
    let want = if narrowed {
        k.saturating_mul(10).max(200)
    } else {
        k
    };
    let mut source = super::sources::Source::vectors(conn, filter);
    let nearest: Vec<Ranked> = index
        .nearest(
            &mut source,
            &filter.namespace,
            query,
            want,
            !filter.validity.skips_superseded(),
        )?
        .into_iter()
        .map(|(rowid, score)| Ranked {
            rowid,
            score: f64::from(score),
        })
        .collect();
    if !narrowed || nearest.is_empty() {
        // The copy is per namespace: without other filters every candidate qualifies.
        return Ok(nearest);
    }
    let rowids: Vec<i64> = nearest.iter().map(|r| r.rowid).collect();
    let keep = filter::passing(conn, filter, &rowids)?;
    Ok(nearest
        .into_iter()
        .filter(|r| keep.contains(&r.rowid))
        .take(k)
        .collect())
}

/// Moves the generation of `namespace` (`None`: of every namespace): vectors changed without
/// a write to `memories`, so caches keyed by it (rehydrate bundles) must not be reused.
fn bump_generation(conn: &Connection, namespace: Option<&str>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE namespace_generations SET value = value + 1 \
         WHERE ?1 IS NULL OR namespace = ?1",
    )?
    .execute(params![namespace])?;
    Ok(())
}

/// Records `model`/`dim` as the database's embedding model, or refuses a different one.
pub(super) fn check_model(conn: &Connection, model: &str, dim: usize) -> Result<()> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
            r.get(0)
        })
        .optional()
    };
    match (get("embedding_model")?, get("embedding_dim")?) {
        (Some(m), Some(d)) if m == model && d == dim.to_string() => Ok(()),
        (Some(m), Some(d)) => Err(Error::ModelMismatch {
            stored: format!("{m} ({d}-d)"),
            configured: format!("{model} ({dim}-d)"),
        }),
        _ => set_model(conn, model, dim),
    }
}

/// Records `model`/`dim` as the database's embedding model.
pub(super) fn set_model(conn: &Connection, model: &str, dim: usize) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('embedding_model', ?1), ('embedding_dim', ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![model, dim.to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod store_tests {
    use crate::memory::{MemoryPatch, NewMemory};
    use crate::store::Filter;
    use crate::store::sqlite::SqliteStore as Store;
    use std::sync::Arc;

    fn unit(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; 384];
        v[i] = 1.0;
        v
    }

    fn memory(content: &str) -> NewMemory {
        NewMemory {
            namespace: "ns".into(),
            content: content.into(),
            title: None,
            kind: "note".into(),
            tags: vec![],
            source: None,
            anchor: None,
            context: None,
            roles: vec![],
            priority: 0,
            occurred_at: None,
            metadata: serde_json::Map::new(),
            expires_at: None,
            by: None,
        }
    }

    async fn nearest(store: &Store, i: usize) -> Vec<String> {
        let ranked = store
            .vector_ranked(Arc::new(unit(i)), Filter::namespace("ns"), 10)
            .await
            .unwrap();
        let hits = store.hits(ranked, vec![]).await.unwrap();
        hits.into_iter().map(|h| h.id).collect()
    }

    #[tokio::test]
    async fn vectors_follow_content_not_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        let a = store.insert(memory("alpha"), Some(unit(0))).await.unwrap();
        let b = store.insert(memory("beta"), Some(unit(1))).await.unwrap();
        assert_eq!(nearest(&store, 0).await[0], a.id);

        // A title-only update keeps the vector (the trigger fires only on a real change).
        let title = MemoryPatch {
            title: Some(Some("t".into())),
            ..MemoryPatch::default()
        };
        let (_, missing) = store
            .update("ns".into(), a.id.clone(), title, None)
            .await
            .unwrap();
        assert!(!missing);
        assert_eq!(store.pending_vector_count().await.unwrap(), 0);

        // New content without a vector: the old vector is gone and the memory is pending.
        let content = MemoryPatch {
            content: Some("gamma".into()),
            ..MemoryPatch::default()
        };
        let (_, missing) = store
            .update("ns".into(), a.id.clone(), content, None)
            .await
            .unwrap();
        assert!(missing);
        assert_eq!(nearest(&store, 0).await, vec![b.id.clone()]);
        let pending = store.pending_vectors(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].text, "gamma");

        // A vector made for text the row no longer has is not written.
        let stale = pending[0].clone();
        let again = MemoryPatch {
            content: Some("delta".into()),
            ..MemoryPatch::default()
        };
        store
            .update("ns".into(), a.id.clone(), again, None)
            .await
            .unwrap();
        assert_eq!(store.put_vectors(vec![(stale, unit(2))]).await.unwrap(), 0);
        let fresh = store.pending_vectors(10).await.unwrap();
        assert_eq!(fresh[0].text, "delta");
        assert_eq!(
            store
                .put_vectors(vec![(fresh[0].clone(), unit(2))])
                .await
                .unwrap(),
            1
        );
        assert_eq!(nearest(&store, 2).await[0], a.id);

        // Deleting a memory deletes its vector.
        store.delete("ns".into(), a.id.clone()).await.unwrap();
        assert_eq!(nearest(&store, 2).await, vec![b.id]);
    }

    /// Every id in namespace "ns" ranked by similarity to `query`, as a fresh copy sees it.
    async fn ranking(store: &Store, query: &[f32]) -> Vec<String> {
        let ranked = store
            .vector_ranked(Arc::new(query.to_vec()), Filter::namespace("ns"), 100_000)
            .await
            .unwrap();
        let hits = store.hits(ranked, vec![]).await.unwrap();
        hits.into_iter().map(|h| h.id).collect()
    }

    #[tokio::test]
    async fn the_copy_follows_writes_of_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let searcher = Store::open(&path).unwrap();
        let writer = Store::open(&path).unwrap();
        let query: Vec<f32> = (0..384).map(|i| (i as f32 * 0.37).sin()).collect();
        let vector = |i: usize| crate::bench::corpus::Rng::new(i as u64).unit_vector(384);
        let mut ids = Vec::new();
        for i in 0..20 {
            let m = writer
                .insert(memory(&format!("m{i}")), Some(vector(i)))
                .await
                .unwrap();
            ids.push(m.id);
        }
        assert_eq!(ranking(&searcher, &query).await.len(), 20);

        // Each kind of change, one at a time, then checked against a copy loaded afresh.
        writer
            .insert(memory("new"), Some(vector(99)))
            .await
            .unwrap();
        assert_eq!(
            ranking(&searcher, &query).await,
            ranking(&Store::open(&path).unwrap(), &query).await
        );
        writer.delete("ns".into(), ids[3].clone()).await.unwrap();
        assert_eq!(
            ranking(&searcher, &query).await,
            ranking(&Store::open(&path).unwrap(), &query).await
        );
        let patch = MemoryPatch {
            content: Some("changed".into()),
            ..MemoryPatch::default()
        };
        let embedded = crate::memory::embedding_text(None, "changed");
        writer
            .update(
                "ns".into(),
                ids[5].clone(),
                patch,
                Some((embedded, vector(77))),
            )
            .await
            .unwrap();
        assert_eq!(
            ranking(&searcher, &query).await,
            ranking(&Store::open(&path).unwrap(), &query).await
        );
        let patch = MemoryPatch {
            content: Some("changed again".into()),
            ..MemoryPatch::default()
        };
        writer
            .update("ns".into(), ids[6].clone(), patch, None)
            .await
            .unwrap();
        let now = ranking(&searcher, &query).await;
        assert_eq!(now.len(), 19, "a memory without a vector is not searched");
        assert_eq!(now, ranking(&Store::open(&path).unwrap(), &query).await);

        // More changes than are applied one by one: the copy reloads.
        let many: Vec<_> = (0..1100).map(|i| memory(&format!("bulk {i}"))).collect();
        let vectors = (0..1100).map(|i| vector(1000 + i)).collect();
        writer.insert_many(many, Some(vectors)).await.unwrap();
        assert_eq!(ranking(&searcher, &query).await.len(), 1119);
        assert_eq!(
            ranking(&searcher, &query).await,
            ranking(&Store::open(&path).unwrap(), &query).await
        );

        // Every vector dropped (re-embedding): the copy empties.
        writer.reset_vectors("model-b", 384).await.unwrap();
        assert!(ranking(&searcher, &query).await.is_empty());
    }

    #[tokio::test]
    async fn the_log_keeps_only_the_recent_past_and_a_copy_behind_it_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let searcher = Store::open(&path).unwrap();
        let writer = Store::open(&path).unwrap();
        let first = writer.insert(memory("first"), Some(unit(0))).await.unwrap();
        assert_eq!(nearest(&searcher, 0).await, vec![first.id.clone()]);
        // 6,000 vector writes: at entry 5,120, the entries up to 1,024 are pruned.
        let many: Vec<_> = (0..6000).map(|i| memory(&format!("bulk {i}"))).collect();
        let vectors = (0..6000).map(|i| unit(1 + i % 300)).collect();
        writer.insert_many(many, Some(vectors)).await.unwrap();
        writer.delete("ns".into(), first.id.clone()).await.unwrap();
        let (kept, oldest): (i64, i64) = writer
            .read(|c| {
                Ok(
                    c.query_row("SELECT count(*), min(seq) FROM vector_log", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?,
                )
            })
            .await
            .unwrap();
        assert!(kept <= 4096 + 1024, "{kept} entries kept");
        assert_eq!(oldest, 1025);
        let got = nearest(&searcher, 0).await;
        assert_eq!(got.len(), 10);
        assert!(!got.contains(&first.id));
        assert_eq!(
            searcher
                .vector_ranked(Arc::new(unit(0)), Filter::namespace("ns"), 100_000)
                .await
                .unwrap()
                .len(),
            6000
        );
    }

    #[tokio::test]
    async fn another_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        store.check_model("model-a", 384).await.unwrap();
        store.check_model("model-a", 384).await.unwrap();
        let err = store
            .check_model("model-b", 384)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("the database was embedded with model-a (384-d), but this memoryd uses model-b (384-d)"), "{err}");
        store.reset_vectors("model-b", 384).await.unwrap();
        store.check_model("model-b", 384).await.unwrap();
    }
}
