//! Reading a stored memory back, the same way for every engine: the columns in one order,
//! and the one mapping from their values to a [`Memory`] (or to a search [`Hit`], or an
//! access key to an [`ApiKey`]).
//!
//! An engine selects the memory columns in the order of `MEMORY_COLUMNS` and gives typed access
//! to them through [`Columns`]; [`read_memory`] does the rest. A value of the wrong type, a
//! NULL where a value must be, or stored JSON that does not parse is a [`ColumnError`] naming
//! the column, which reaches the caller as an internal error: never a panic.

use super::records::ApiKey;
use super::search::{Hit, excerpt};
use crate::access::{Pattern, Scope};
use crate::error::Error;
use crate::memory::Memory;

/// Where the columns an engine selects after the memory columns start.
pub(crate) const AFTER_MEMORY: usize = 22;

/// The memory columns, in the order [`read_memory`] reads them (positions 0 to 21); each
/// engine's tests check its column list against it.
#[cfg(test)]
pub(crate) const MEMORY_COLUMNS: [&str; AFTER_MEMORY] = [
    "id",
    "namespace",
    "content",
    "title",
    "kind",
    "tags",
    "source",
    "anchor",
    "roles",
    "priority",
    "created_at",
    "updated_at",
    "occurred_at",
    "metadata",
    "content_hash",
    "context",
    "version",
    "superseded_by",
    "valid_until",
    "expires_at",
    "created_by",
    "updated_by",
];

/// A stored value that could not be read as memoryd expects it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ColumnError {
    /// The value is NULL where one is required, or of another type.
    #[error("cannot read column '{column}': {reason}")]
    Unreadable {
        /// The column, as the query named it.
        column: String,
        /// What the database client said.
        reason: String,
    },
    /// A JSON column holds text that is not the JSON expected.
    #[error("stored {column} is not valid JSON: {reason}")]
    Json {
        /// The column.
        column: &'static str,
        /// What the JSON parser said.
        reason: String,
    },
}

impl ColumnError {
    /// The value of `column` could not be read: `reason` says why.
    pub(crate) fn unreadable(column: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        ColumnError::Unreadable {
            column: column.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<ColumnError> for Error {
    fn from(err: ColumnError) -> Self {
        // Stored data that does not read back is a broken invariant, not the caller's fault.
        Error::Internal(err.to_string())
    }
}

/// Typed access, by position, to the columns of one fetched row. Each engine implements it
/// for its own row type; an error names the column.
pub(crate) trait Columns {
    /// A text value that must be there.
    fn text(&self, index: usize) -> Result<String, ColumnError>;
    /// A text value that may be NULL.
    fn optional_text(&self, index: usize) -> Result<Option<String>, ColumnError>;
    /// A 32-bit integer that must be there.
    fn int(&self, index: usize) -> Result<i32, ColumnError>;
}

/// Reads a memory from a row whose first 22 columns are [`MEMORY_COLUMNS`] (the JSON columns
/// as text).
pub(crate) fn read_memory(row: &impl Columns) -> Result<Memory, ColumnError> {
    Ok(Memory {
        id: row.text(0)?,
        namespace: row.text(1)?,
        content: row.text(2)?,
        title: row.optional_text(3)?,
        kind: row.text(4)?,
        tags: json(&row.text(5)?, "tags")?,
        source: row.optional_text(6)?,
        anchor: row.optional_text(7)?,
        roles: json(&row.text(8)?, "roles")?,
        priority: row.int(9)?,
        created_at: row.text(10)?,
        updated_at: row.text(11)?,
        occurred_at: row.text(12)?,
        metadata: json(&row.text(13)?, "metadata")?,
        content_hash: row.text(14)?,
        context: row.optional_text(15)?,
        version: row.int(16)?,
        superseded_by: row.optional_text(17)?,
        valid_until: row.optional_text(18)?,
        expires_at: row.optional_text(19)?,
        created_by: row.optional_text(20)?,
        updated_by: row.optional_text(21)?,
        versions: None,
        supersedes: None,
    })
}

/// The columns [`read_hit`] reads, in its order: the memory's id, its rowid (which the
/// engine reads itself, to put the hit in ranked order), then what a hit shows.
#[cfg(test)]
pub(crate) const HIT_COLUMNS: [&str; 10] = [
    "id",
    "rowid",
    "title",
    "content",
    "source",
    "anchor",
    "kind",
    "tags",
    "occurred_at",
    "superseded_by",
];

/// Reads a search hit (score 0, snippet around `terms`) from a row selected in the order of
/// `HIT_COLUMNS` (the tags as text).
pub(crate) fn read_hit(row: &impl Columns, terms: &[String]) -> Result<Hit, ColumnError> {
    Ok(Hit {
        id: row.text(0)?,
        score: 0.0,
        title: row.optional_text(2)?,
        snippet: excerpt(&row.text(3)?, terms),
        source: row.optional_text(4)?,
        anchor: row.optional_text(5)?,
        kind: row.text(6)?,
        tags: json(&row.text(7)?, "tags")?,
        occurred_at: row.text(8)?,
        superseded_by: row.optional_text(9)?,
    })
}

/// An access key's values as an engine fetched them, before they are checked.
pub(crate) struct KeyRow {
    /// `id`.
    pub(crate) id: String,
    /// `label`.
    pub(crate) label: String,
    /// `scope`, as stored (`read`, `write` or `admin`).
    pub(crate) scope: String,
    /// `namespaces`, each as stored.
    pub(crate) namespaces: Vec<String>,
    /// `hash`.
    pub(crate) hash: Vec<u8>,
    /// `created_at`.
    pub(crate) created_at: String,
    /// `expires_at`.
    pub(crate) expires_at: Option<String>,
    /// `revoked_at`.
    pub(crate) revoked_at: Option<String>,
}

/// The columns of `api_keys` each engine selects, in the order it fills a [`KeyRow`].
pub(crate) const KEY_COLUMNS: &str =
    "id, label, scope, namespaces, hash, created_at, expires_at, revoked_at";

/// Checks a fetched key: a scope, patterns and a hash the server can use. A key that does not
/// read back is a broken invariant (the CLI wrote it), never a key that reaches nothing.
pub(crate) fn read_key(row: KeyRow) -> Result<ApiKey, ColumnError> {
    let scope = Scope::parse(&row.scope)
        .ok_or_else(|| ColumnError::unreadable("scope", format!("'{}' is no scope", row.scope)))?;
    let namespaces = row
        .namespaces
        .iter()
        .map(|p| Pattern::parse(p).map_err(|e| ColumnError::unreadable("namespaces", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let hash: [u8; 32] = row.hash.as_slice().try_into().map_err(|_| {
        ColumnError::unreadable("hash", format!("{} bytes, not 32", row.hash.len()))
    })?;
    Ok(ApiKey {
        id: row.id,
        label: row.label,
        scope,
        namespaces,
        hash,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    })
}

/// Parses the text of the JSON column `column`.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &'static str,
) -> Result<T, ColumnError> {
    serde_json::from_str(text).map_err(|e| ColumnError::Json {
        column,
        reason: e.to_string(),
    })
}

/// The JSON text stored for a list or object column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> crate::error::Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("cannot encode JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as plain values: `None` is NULL.
    struct Values(Vec<Option<&'static str>>);

    impl Columns for Values {
        fn text(&self, i: usize) -> Result<String, ColumnError> {
            self.optional_text(i)?
                .ok_or_else(|| ColumnError::unreadable(MEMORY_COLUMNS[i], "NULL"))
        }
        fn optional_text(&self, i: usize) -> Result<Option<String>, ColumnError> {
            Ok(self.0[i].map(str::to_string))
        }
        fn int(&self, i: usize) -> Result<i32, ColumnError> {
            self.text(i)?
                .parse()
                .map_err(|e| ColumnError::unreadable(MEMORY_COLUMNS[i], e))
        }
    }

    fn row() -> Vec<Option<&'static str>> {
        vec![
            Some("id-1"),
            Some("ns"),
            Some("the content"),
            None,
            Some("note"),
            Some(r#"["a","b"]"#),
            Some("docs/a.md"),
            None,
            Some(r#"["*"]"#),
            Some("7"),
            Some("2026-01-01T00:00:00.000Z"),
            Some("2026-01-02T00:00:00.000Z"),
            Some("2025-12-31T00:00:00.000Z"),
            Some(r#"{"k":1}"#),
            Some("abc"),
            Some("before"),
            Some("2"),
            Some("id-2"),
            Some("2026-02-01T00:00:00.000Z"),
            Some("2026-03-01T00:00:00.000Z"),
            Some("alice"),
            None,
        ]
    }

    #[test]
    fn every_column_lands_in_its_field() {
        let m = read_memory(&Values(row())).unwrap();
        assert_eq!(m.id, "id-1");
        assert_eq!(m.namespace, "ns");
        assert_eq!(m.title, None);
        assert_eq!(m.tags, vec!["a", "b"]);
        assert_eq!(m.source.as_deref(), Some("docs/a.md"));
        assert_eq!(m.roles, vec!["*"]);
        assert_eq!(m.priority, 7);
        assert_eq!(m.updated_at, "2026-01-02T00:00:00.000Z");
        assert_eq!(m.occurred_at, "2025-12-31T00:00:00.000Z");
        assert_eq!(m.metadata["k"], 1);
        assert_eq!(m.content_hash, "abc");
        assert_eq!(m.context.as_deref(), Some("before"));
        assert_eq!(m.version, 2);
        assert_eq!(m.superseded_by.as_deref(), Some("id-2"));
        assert_eq!(m.valid_until.as_deref(), Some("2026-02-01T00:00:00.000Z"));
        assert_eq!(m.expires_at.as_deref(), Some("2026-03-01T00:00:00.000Z"));
        assert_eq!(m.created_by.as_deref(), Some("alice"));
        assert_eq!(m.updated_by, None);
    }

    #[test]
    fn a_hit_reads_its_columns_and_makes_its_snippet() {
        let values = vec![
            Some("id-1"),
            Some("42"),
            Some("T"),
            Some("one two three"),
            None,
            Some("a"),
            Some("note"),
            Some(r#"["x"]"#),
            Some("2026-01-01T00:00:00.000Z"),
            Some("id-2"),
        ];
        let hit = read_hit(&Values(values), &["two".into()]).unwrap();
        assert_eq!(hit.id, "id-1");
        assert_eq!(hit.title.as_deref(), Some("T"));
        assert_eq!(hit.snippet, "one two three");
        assert_eq!(hit.source, None);
        assert_eq!(hit.tags, vec!["x"]);
        assert_eq!(hit.occurred_at, "2026-01-01T00:00:00.000Z");
        assert_eq!(hit.superseded_by.as_deref(), Some("id-2"));
    }

    #[test]
    fn a_key_reads_back_only_when_every_value_is_usable() {
        let row = || KeyRow {
            id: "0123456789abcdef".into(),
            label: "ci".into(),
            scope: "write".into(),
            namespaces: vec!["team-a/*".into(), "shared".into()],
            hash: vec![7; 32],
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: None,
            revoked_at: Some("2026-01-02T00:00:00.000Z".into()),
        };
        let key = read_key(row()).unwrap();
        assert_eq!(key.scope, Scope::Write);
        assert_eq!(key.namespaces[0].as_str(), "team-a/*");
        assert_eq!(key.hash, [7; 32]);
        assert_eq!(key.revoked_at.as_deref(), Some("2026-01-02T00:00:00.000Z"));
        let err = read_key(KeyRow {
            scope: "root".into(),
            ..row()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read column 'scope'"),
            "{err}"
        );
        let err = read_key(KeyRow {
            namespaces: vec!["a b".into()],
            ..row()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read column 'namespaces'"),
            "{err}"
        );
        let err = read_key(KeyRow {
            hash: vec![1; 31],
            ..row()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read column 'hash': 31 bytes, not 32"
        );
    }

    #[test]
    fn bad_json_and_missing_values_name_the_column_and_become_internal_errors() {
        let mut bad = row();
        bad[8] = Some("not json");
        let err = read_memory(&Values(bad)).unwrap_err();
        assert!(
            matches!(
                err,
                ColumnError::Json {
                    column: "roles",
                    ..
                }
            ),
            "{err}"
        );
        let err: Error = err.into();
        assert!(matches!(err, Error::Internal(_)));
        assert!(
            err.to_string()
                .starts_with("internal error: stored roles is not valid JSON")
        );

        let mut null = row();
        null[2] = None;
        let err = read_memory(&Values(null)).unwrap_err();
        assert_eq!(err.to_string(), "cannot read column 'content': NULL");
    }
}
