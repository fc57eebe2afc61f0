//! Statements built at run time: a [`Filter`] rendered as PostgreSQL conditions with
//! numbered parameters.

use tokio_postgres::types::ToSql;

use super::Param;
use crate::store::{Filter, Validity};

/// SQL text and its parameters, numbered as they are bound.
pub(super) struct Query {
    /// The statement so far.
    pub(super) text: String,
    params: Vec<Param>,
}

impl Query {
    /// A statement starting with `text` (which may use `$1` only if the first bind is it).
    pub(super) fn new(text: String) -> Query {
        Query {
            text,
            params: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub(super) fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Appends the next parameter's placeholder and binds `value` to it.
    pub(super) fn bind<T: ToSql + Sync + Send + 'static>(&mut self, value: T) {
        let n = self.param(value);
        self.text.push_str(&format!("${n}"));
    }

    /// Binds `value` to the next parameter without writing its placeholder (the text names
    /// it already, as `$n`); returns `n`.
    pub(super) fn param<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> usize {
        self.params.push(Box::new(value));
        self.params.len()
    }

    /// Appends the conditions of `filter` on the alias `m`, joined with AND.
    pub(super) fn filter(&mut self, filter: &Filter) {
        self.push("m.namespace = ");
        self.bind(filter.namespace.clone());
        for tag in &filter.tags {
            self.push(" AND m.tags ? ");
            self.bind(tag.clone());
        }
        if let Some(kind) = &filter.kind {
            self.push(" AND m.kind = ");
            self.bind(kind.clone());
        }
        if let Some(role) = &filter.role {
            self.push(" AND (m.roles ? ");
            self.bind(role.clone());
            self.push(" OR m.roles ? '*')");
        }
        if let Some(since) = &filter.since {
            self.push(" AND m.occurred_at >= ");
            self.bind(since.clone());
        }
        if let Some(until) = &filter.until {
            self.push(" AND m.occurred_at <= ");
            self.bind(until.clone());
        }
        match &filter.validity {
            Validity::Current => self.push(" AND m.superseded_by IS NULL"),
            Validity::Any => {}
            Validity::AsOf(t) => {
                self.push(" AND m.occurred_at <= ");
                let n = self.param(t.clone());
                self.push(&format!(
                    "${n} AND (m.valid_until IS NULL OR ${n} < m.valid_until)"
                ));
            }
        }
        // An expired memory is gone for every read, whatever its validity.
        self.push(" AND (m.expires_at IS NULL OR m.expires_at > ");
        self.bind(crate::memory::now());
        self.push(")");
    }

    /// The parameters, as tokio-postgres takes them.
    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_binds_every_value_as_a_parameter() {
        let filter = Filter {
            namespace: "proj".into(),
            tags: vec!["a'; DROP TABLE memories; --".into(), "b".into()],
            kind: Some("note".into()),
            role: Some("planner".into()),
            since: Some("2024-01-01T00:00:00Z".into()),
            until: None,
            validity: Validity::Any,
        };
        let mut q = Query::new("SELECT 1 FROM memories m WHERE ".into());
        q.filter(&filter);
        assert_eq!(
            q.text,
            "SELECT 1 FROM memories m WHERE m.namespace = $1 AND m.tags ? $2 AND m.tags ? $3 \
             AND m.kind = $4 AND (m.roles ? $5 OR m.roles ? '*') AND m.occurred_at >= $6 \
             AND (m.expires_at IS NULL OR m.expires_at > $7)"
        );
        assert_eq!(q.params().len(), 7);
    }
}
