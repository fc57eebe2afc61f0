//! The fleet: every server on this database records itself in `instances` while it serves,
//! so any of them can say which others are up.

use super::PgStore;
use super::columns::get;
use crate::error::Result;
use crate::store::Member;

impl PgStore {
    /// Records that the server `instance` is serving now.
    pub(super) async fn announce(&self, instance: &str) -> Result<()> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO instances (id, version) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = now(), version = excluded.version",
            )
            .await?;
        client
            .execute(&stmt, &[&instance, &env!("CARGO_PKG_VERSION")])
            .await?;
        Ok(())
    }

    /// Removes `instance` from the fleet (it is stopping).
    pub(super) async fn retire(&self, instance: &str) -> Result<()> {
        let client = self.conn().await?;
        client
            .execute("DELETE FROM instances WHERE id = $1", &[&instance])
            .await?;
        Ok(())
    }

    /// The servers heard from within `fresh` seconds.
    pub(super) async fn fleet(&self, fresh: f64) -> Result<Vec<Member>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, version, extract(epoch FROM now() - seen_at)::float8 AS ago \
                 FROM instances WHERE seen_at > now() - make_interval(secs => $1) ORDER BY id",
            )
            .await?;
        client
            .query(&stmt, &[&fresh])
            .await?
            .iter()
            .map(|r| {
                Ok(Member {
                    id: get(r, 0)?,
                    version: get(r, 1)?,
                    seen_seconds_ago: (get::<f64>(r, 2)? * 10.0).round() / 10.0,
                })
            })
            .collect()
    }
}
