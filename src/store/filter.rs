//! Scope and filters shared by listing and searching, rendered as SQL with bound parameters.

use rusqlite::types::Value;

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
