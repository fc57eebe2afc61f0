//! Access keys on PostgreSQL (`api_keys`): storing a new one, reading them all, revoking one.
//! What a key may do, and whether it still works, is decided above the seam (`access`); this
//! file runs the statements and hands the values to `store::row::read_key`.

use tokio_postgres::Row;

use super::PgStore;
use super::columns::get;
use crate::error::Result;
use crate::store::ApiKey;
use crate::store::row::{KEY_COLUMNS, KeyRow, read_key};

impl PgStore {
    /// Stores `key` (its id is new: a clash is a primary-key error, and nothing is written).
    pub(super) async fn create_key(&self, key: ApiKey) -> Result<()> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .await?;
        let namespaces: Vec<&str> = key.namespaces.iter().map(|p| p.as_str()).collect();
        client
            .execute(
                &stmt,
                &[
                    &key.id,
                    &key.label,
                    &key.scope.name(),
                    &namespaces,
                    &key.hash.as_slice(),
                    &key.created_at,
                    &key.expires_at,
                    &key.revoked_at,
                ],
            )
            .await?;
        Ok(())
    }

    /// Every key, oldest first (the id breaks a tie within a millisecond).
    pub(super) async fn keys(&self) -> Result<Vec<ApiKey>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Marks key `id` revoked at `at`, unless it already is (the first revocation's time
    /// stays); the key as it now is, or none when no key has this id.
    pub(super) async fn revoke_key(&self, id: String, at: String) -> Result<Option<ApiKey>> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 \
                 RETURNING {KEY_COLUMNS}"
            ))
            .await?;
        client
            .query_opt(&stmt, &[&id, &at])
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }
}

/// The key in a row selected with [`KEY_COLUMNS`].
fn from_row(r: &Row) -> Result<ApiKey> {
    Ok(read_key(KeyRow {
        id: get(r, 0)?,
        label: get(r, 1)?,
        scope: get(r, 2)?,
        namespaces: get(r, 3)?,
        hash: get(r, 4)?,
        created_at: get(r, 5)?,
        expires_at: get(r, 6)?,
        revoked_at: get(r, 7)?,
    })?)
}
