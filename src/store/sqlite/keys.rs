//! Access keys on SQLite (`api_keys`): storing a new one, reading them all, revoking one.
//! What a key may do, and whether it still works, is decided above the seam (`access`); this
//! file runs the statements and hands the values to `store::row::read_key`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Result;
use crate::store::ApiKey;
use crate::store::row::{KEY_COLUMNS, KeyRow, json, read_key, to_json};

/// Stores `key` (its id is new: a clash is a primary-key error, and nothing is written).
pub(super) fn create(conn: &Connection, key: &ApiKey) -> Result<()> {
    let namespaces: Vec<&str> = key.namespaces.iter().map(|p| p.as_str()).collect();
    conn.prepare_cached(&format!(
        "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?
    .execute(params![
        key.id,
        key.label,
        key.scope.name(),
        to_json(&namespaces)?,
        key.hash.as_slice(),
        key.created_at,
        key.expires_at,
        key.revoked_at,
    ])?;
    Ok(())
}

/// Every key, oldest first (the id breaks a tie within a millisecond).
pub(super) fn all(conn: &Connection) -> Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(from_row(r)?);
    }
    Ok(out)
}

/// Marks key `id` revoked at `at`, unless it already is (the first revocation's time stays);
/// the key as it now is, or none when no key has this id.
pub(super) fn revoke(conn: &Connection, id: &str, at: &str) -> Result<Option<ApiKey>> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1 \
         RETURNING {KEY_COLUMNS}"
    ))?;
    let row = stmt
        .query_row(params![id, at], |r| Ok(stored(r)))
        .optional()?;
    Ok(row.transpose()?.map(read_key).transpose()?)
}

fn from_row(r: &Row) -> Result<ApiKey> {
    Ok(read_key(stored(r)?)?)
}

/// The values of a row selected with [`KEY_COLUMNS`].
fn stored(r: &Row) -> Result<KeyRow> {
    let namespaces: String = r.get(3)?;
    Ok(KeyRow {
        id: r.get(0)?,
        label: r.get(1)?,
        scope: r.get(2)?,
        namespaces: json(&namespaces, "namespaces")?,
        hash: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::store::engine_checks;
    use crate::store::sqlite::SqliteStore as Store;

    #[tokio::test]
    async fn keys_are_stored_listed_oldest_first_and_revoked_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memoryd.db")).unwrap();
        engine_checks::keys_round_trip(&store).await;
    }
}
