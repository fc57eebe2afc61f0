//! Roles: who is asking for context, and what that changes about the bundle they get.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Rehydrate;
use crate::error::{Error, Result};

/// Whether `name` may name a role: 1 to 64 lowercase letters, digits, `-` and `_`, or `*`
/// (every role). Tool arguments and the config file follow the same rule.
pub fn valid_name(name: &str) -> bool {
    name == "*"
        || (!name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'))
}

/// What a role gets from `rehydrate_memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Role {
    /// Whole-bundle budget in tokens when the caller gives none.
    pub token_budget: usize,
    /// Tokens the pinned section may use at most.
    pub pin_budget: usize,
    /// Evidence items when the caller gives no `limit`.
    pub limit: usize,
    /// Memories with any of these tags rank higher.
    pub prefer_tags: Vec<String>,
    /// Memories with any of these tags are left out.
    pub exclude_tags: Vec<String>,
    /// Memories of these kinds rank higher.
    pub prefer_kinds: Vec<String>,
    /// Memories of these kinds are left out.
    pub exclude_kinds: Vec<String>,
    /// Most evidence items from one `source`.
    pub per_source_cap: usize,
}

/// A new role in the config file starts from these values.
impl Default for Role {
    fn default() -> Self {
        Role {
            token_budget: 1500,
            pin_budget: 200,
            limit: 8,
            prefer_tags: vec![],
            exclude_tags: vec![],
            prefer_kinds: vec![],
            exclude_kinds: vec![],
            per_source_cap: 2,
        }
    }
}

impl Role {
    /// Checks the role against the rehydrate bounds.
    pub fn validate(&self, name: &str, bounds: &Rehydrate) -> Result<()> {
        let bad = |key: &str, why: String| {
            Err(Error::invalid(
                "config",
                format!("roles.{name}.{key}: {why}"),
            ))
        };
        if self.token_budget < bounds.min_token_budget
            || self.token_budget > bounds.max_token_budget
        {
            return bad(
                "token_budget",
                format!(
                    "must be from {} to {}, got {}",
                    bounds.min_token_budget, bounds.max_token_budget, self.token_budget
                ),
            );
        }
        if self.pin_budget > self.token_budget {
            return bad(
                "pin_budget",
                format!(
                    "must be at most the role's token_budget ({}), got {}",
                    self.token_budget, self.pin_budget
                ),
            );
        }
        if self.limit == 0 || self.limit > bounds.max_limit {
            return bad(
                "limit",
                format!("must be from 1 to {}, got {}", bounds.max_limit, self.limit),
            );
        }
        if self.per_source_cap == 0 {
            return bad("per_source_cap", "must be at least 1".into());
        }
        Ok(())
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The built-in roles: planner, implementer, researcher, reviewer, general.
pub fn built_in() -> BTreeMap<String, Role> {
    let mut roles = BTreeMap::new();
    roles.insert(
        "planner".to_string(),
        Role {
            token_budget: 2000,
            limit: 8,
            prefer_kinds: strings(&["decision", "backlog", "research"]),
            per_source_cap: 2,
            ..Role::default()
        },
    );
    roles.insert(
        "implementer".to_string(),
        Role {
            token_budget: 2500,
            limit: 10,
            prefer_kinds: strings(&["convention", "decision", "doc"]),
            per_source_cap: 3,
            ..Role::default()
        },
    );
    roles.insert(
        "researcher".to_string(),
        Role {
            token_budget: 3000,
            limit: 12,
            prefer_kinds: strings(&["research", "doc", "note"]),
            per_source_cap: 3,
            ..Role::default()
        },
    );
    roles.insert(
        "reviewer".to_string(),
        Role {
            token_budget: 1500,
            limit: 8,
            prefer_kinds: strings(&["convention", "decision", "incident"]),
            per_source_cap: 2,
            ..Role::default()
        },
    );
    roles.insert("general".to_string(), Role::default());
    roles
}
