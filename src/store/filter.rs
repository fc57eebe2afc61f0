//! Scope and filters shared by listing and searching, rendered as SQL with bound parameters.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::error::Result;

/// Which memories a read may see: always one namespace, optionally narrowed further.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The namespace to read (required: every read is scoped).
    pub namespace: String,
    /// Memories must carry every one of these tags.
    pub tags: Vec<String>,
    /// Memories must be of this kind.
    pub kind: Option<String>,
    /// Memories must be pinned for this role (or for `*`).
    pub role: Option<String>,
    /// `occurred_at` at or after this normalised timestamp.
    pub since: Option<String>,
    /// `occurred_at` at or before this normalised timestamp.
    pub until: Option<String>,
}

impl Filter {
    /// A filter that sees a whole namespace.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        Filter {
            namespace: namespace.into(),
            ..Filter::default()
        }
    }

    /// True when the filter narrows more than the namespace.
    pub(super) fn narrows(&self) -> bool {
        !self.tags.is_empty()
            || self.kind.is_some()
            || self.role.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }

    /// SQL conditions on the alias `m` (joined with AND) and their parameters, in order.
    pub(super) fn to_sql(&self) -> (String, Vec<Value>) {
        let mut clauses = vec!["m.namespace = ?".to_string()];
        let mut params = vec![Value::Text(self.namespace.clone())];
        for tag in &self.tags {
            clauses.push("EXISTS (SELECT 1 FROM json_each(m.tags) t WHERE t.value = ?)".into());
            params.push(Value::Text(tag.clone()));
        }
        if let Some(kind) = &self.kind {
            clauses.push("m.kind = ?".into());
            params.push(Value::Text(kind.clone()));
        }
        if let Some(role) = &self.role {
            clauses.push(
                "EXISTS (SELECT 1 FROM json_each(m.roles) r WHERE r.value = ? OR r.value = '*')"
                    .into(),
            );
            params.push(Value::Text(role.clone()));
        }
        if let Some(since) = &self.since {
            clauses.push("m.occurred_at >= ?".into());
            params.push(Value::Text(since.clone()));
        }
        if let Some(until) = &self.until {
            clauses.push("m.occurred_at <= ?".into());
            params.push(Value::Text(until.clone()));
        }
        (clauses.join(" AND "), params)
    }
}

/// Which of `rowids` pass `filter`.
pub(super) fn passing(conn: &Connection, filter: &Filter, rowids: &[i64]) -> Result<HashSet<i64>> {
    if rowids.is_empty() {
        return Ok(HashSet::new());
    }
    let (conditions, values) = filter.to_sql();
    let placeholders = vec!["?"; rowids.len()].join(", ");
    let mut all: Vec<Value> = rowids.iter().map(|&r| r.into()).collect();
    all.extend(values);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT m.rowid FROM memories m WHERE m.rowid IN ({placeholders}) AND {conditions}"
    ))?;
    let keep = stmt
        .query_map(params_from_iter(all), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(keep)
}
