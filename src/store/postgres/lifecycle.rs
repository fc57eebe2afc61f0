//! Supersede marks and versions on PostgreSQL: marking the memories a write supersedes (the
//! named rows locked `FOR UPDATE`), keeping and reading earlier versions, and the supersede
//! chain's lookups. `store::rules` decides what is allowed and what is marked; this file runs
//! the statements inside the caller's transaction.

use std::collections::HashMap;

use deadpool_postgres::Transaction;

use super::PgStore;
use super::columns::get;
use crate::error::Result;
use crate::memory::{self, Memory, Version};
use crate::store::row::{json, to_json};
use crate::store::rules::{self, Named};

/// Marks the memories `supersedes` names as superseded by `by`, once [`rules::supersede`]
/// accepts them; an error writes nothing (the caller's transaction rolls back). The named
/// rows are locked, so two writers cannot both supersede one memory.
pub(super) async fn supersede(
    tx: &Transaction<'_>,
    by: &Memory,
    supersedes: &[String],
) -> Result<()> {
    if supersedes.is_empty() {
        return Ok(());
    }
    let ids: Vec<&String> = supersedes.iter().take(rules::MAX_SUPERSEDES + 1).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT id, namespace, superseded_by FROM memories WHERE id = ANY($1) \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY rowid FOR UPDATE",
        )
        .await?;
    // An expired memory is not found: it cannot be named.
    let found = tx
        .query(&stmt, &[&ids, &memory::now()])
        .await?
        .iter()
        .map(|r| {
            Ok(Named {
                id: get(r, 0)?,
                namespace: get(r, 1)?,
                superseded_by: get(r, 2)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let stmt = tx
        .prepare_cached(
            "WITH RECURSIVE chain(id) AS (SELECT superseded_by FROM memories WHERE id = $1 \
             UNION SELECT m.superseded_by FROM memories m JOIN chain c ON m.id = c.id) \
             SELECT id FROM chain WHERE id IS NOT NULL",
        )
        .await?;
    let successors = tx
        .query(&stmt, &[&by.id])
        .await?
        .iter()
        .map(|r| get(r, 0))
        .collect::<Result<Vec<String>>>()?;
    let Some(marked) = rules::supersede(by, supersedes, &found, &successors)? else {
        return Ok(());
    };
    let stmt = tx
        .prepare_cached(
            "UPDATE memories SET superseded_by = $1, valid_until = $2 WHERE id = ANY($3)",
        )
        .await?;
    tx.execute(&stmt, &[&marked.by, &marked.until, &marked.ids])
        .await?;
    Ok(())
}

/// Keeps `previous` as a version of the memory `memory_id`.
pub(super) async fn put_version(
    tx: &Transaction<'_>,
    memory_id: &str,
    previous: &Version,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO memory_versions (memory_id, version, changed_at, changed_by, state) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &memory_id,
            &previous.version,
            &previous.changed_at,
            &previous.changed_by,
            &to_json(previous)?,
        ],
    )
    .await?;
    Ok(())
}

/// The earlier versions of each of `ids`, newest first, by memory id.
pub(super) async fn versions_of(
    client: &deadpool_postgres::Object,
    ids: &[String],
) -> Result<HashMap<String, Vec<Version>>> {
    let mut out: HashMap<String, Vec<Version>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let stmt = client
        .prepare_cached(
            "SELECT memory_id, state FROM memory_versions WHERE memory_id = ANY($1) \
             ORDER BY memory_id, version DESC",
        )
        .await?;
    for r in client.query(&stmt, &[&ids]).await? {
        let state: &str = get(&r, 1)?;
        out.entry(get(&r, 0)?)
            .or_default()
            .push(json(state, "state")?);
    }
    Ok(out)
}

impl PgStore {
    /// The earlier versions of the memory `id`, newest first.
    pub(super) async fn versions(&self, id: String) -> Result<Vec<Version>> {
        let client = self.conn().await?;
        Ok(versions_of(&client, std::slice::from_ref(&id))
            .await?
            .remove(&id)
            .unwrap_or_default())
    }

    /// Ids of the memories of `namespace` that `by` superseded, oldest first.
    pub(super) async fn superseded_by(&self, namespace: String, by: String) -> Result<Vec<String>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id FROM memories WHERE namespace = $1 AND superseded_by = $2 \
                 ORDER BY rowid",
            )
            .await?;
        let rows = client.query(&stmt, &[&namespace, &by]).await?;
        rows.iter().map(|r| get::<String>(r, 0)).collect()
    }

    /// Number of superseded memories, over every namespace.
    pub(super) async fn superseded_count(&self) -> Result<u64> {
        let client = self.conn().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM memories WHERE superseded_by IS NOT NULL",
                &[],
            )
            .await?;
        Ok(get::<i64>(&row, 0)? as u64)
    }
}
