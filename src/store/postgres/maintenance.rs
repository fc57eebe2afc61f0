//! Looking after the database: its size, its consistency, the planner's statistics, and the
//! per-namespace generation numbers that key the bundle cache.

use super::PgStore;
use super::columns::get;
use super::schema;
use crate::error::Result;
use crate::store::Sizes;

impl PgStore {
    /// A number that changes whenever a memory in `namespace` is written, by any process.
    pub(super) async fn generation(&self, namespace: String) -> Result<i64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT coalesce((SELECT value FROM namespace_generations WHERE namespace = $1), 0)",
            )
            .await?;
        get(&client.query_one(&stmt, &[&namespace]).await?, 0)
    }

    /// The sum of every namespace's generation: changes whenever any memory is written.
    pub(super) async fn generation_sum(&self) -> Result<i64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT coalesce(sum(value), 0)::bigint FROM namespace_generations")
            .await?;
        get(&client.query_one(&stmt, &[]).await?, 0)
    }

    /// Bytes the database takes (PostgreSQL has no WAL of memoryd's to count).
    pub(super) async fn sizes(&self) -> Result<Sizes> {
        let client = self.conn().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(Sizes {
            database: get::<i64>(&row, 0)? as u64,
            wal: 0,
        })
    }

    /// The schema version and the content hashes: `["ok"]`, or the problems found.
    pub(super) async fn integrity_check(&self, _full: bool) -> Result<Vec<String>> {
        let client = self.conn().await?;
        let mut problems = Vec::new();
        let version = schema::applied_version(&client).await?;
        let latest = schema::latest_version();
        if version != latest {
            problems.push(format!(
                "schema version {version}, this memoryd expects {latest}"
            ));
        }
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE content_hash = '') FROM memories",
                &[],
            )
            .await?;
        let unhashed: i64 = get(&row, 0)?;
        if unhashed > 0 {
            problems.push(format!("{unhashed} memories have no content hash"));
        }
        if problems.is_empty() {
            problems.push("ok".into());
        }
        Ok(problems)
    }

    /// `ANALYZE`: until autovacuum gets to it, a freshly imported table is planned as if it
    /// were empty.
    pub(super) async fn refresh_statistics(&self) -> Result<()> {
        self.conn().await?.batch_execute("ANALYZE memories").await?;
        Ok(())
    }
}
