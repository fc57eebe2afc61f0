//! [`Filter`] rendered as SQLite conditions with bound parameters.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use crate::error::Result;
pub(super) use crate::store::Filter;
use crate::store::Validity;

/// SQLite conditions for a filter.
pub(super) trait FilterSql {
    /// SQL conditions on the alias `m` (joined with AND) and their parameters, in order.
    fn to_sql(&self) -> (String, Vec<Value>);
}

impl FilterSql for Filter {
    fn to_sql(&self) -> (String, Vec<Value>) {
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
        match &self.validity {
            Validity::Current => clauses.push("m.superseded_by IS NULL".into()),
            Validity::Any => {}
            Validity::AsOf(t) => {
                clauses.push(
                    "m.occurred_at <= ? AND (m.valid_until IS NULL OR ? < m.valid_until)".into(),
                );
                params.push(Value::Text(t.clone()));
                params.push(Value::Text(t.clone()));
            }
        }
        // An expired memory is gone for every read, whatever its validity.
        clauses.push("(m.expires_at IS NULL OR m.expires_at > ?)".into());
        params.push(Value::Text(crate::memory::now()));
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
