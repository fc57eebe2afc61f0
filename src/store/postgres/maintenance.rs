//! Looking after the database: its size, its consistency, the planner's statistics, and the
//! generation number that keys the bundle cache.

use super::PgStore;
use super::columns::get;
use super::schema;
use crate::error::Result;
use crate::store::Sizes;

impl PgStore {
    /// A number that changes whenever any memory is written, by any process.
    pub(super) async fn generation(&self) -> Result<i64> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM store_generation WHERE id = 1")
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

    /// The schema version, the content hashes and the generation row: `["ok"]`, or the
    /// problems found.
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
                "SELECT count(*) FILTER (WHERE content_hash = '') , \
                 (SELECT count(*) FROM store_generation) FROM memories",
                &[],
            )
            .await?;
        let unhashed: i64 = get(&row, 0)?;
        if unhashed > 0 {
            problems.push(format!("{unhashed} memories have no content hash"));
        }
        if get::<i64>(&row, 1)? != 1 {
            problems.push("the store_generation row is missing".into());
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
