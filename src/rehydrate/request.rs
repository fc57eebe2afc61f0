//! The first stage: a call's arguments checked against the config, with the role's defaults
//! filled in. An unknown role is an error that lists the known ones. Reads nothing else.

use crate::config::{Config, Role};
use crate::error::{Error, Result};
use crate::memory;
use crate::store::Validity;

/// A validated request with the role's defaults applied.
#[derive(Debug, Clone)]
pub struct Request {
    /// Namespace to read.
    pub namespace: String,
    /// Role name.
    pub role_name: String,
    /// The role's settings.
    pub role: Role,
    /// What the agent is about to do.
    pub task: String,
    /// Most evidence items.
    pub limit: usize,
    /// Budget of the whole text, in tokens.
    pub token_budget: usize,
    /// Build the bundle from the memories valid at this normalised time; `None` for those
    /// that hold now.
    pub as_of: Option<String>,
}

impl Request {
    /// Which memories the bundle may draw on.
    pub fn validity(&self) -> Validity {
        match &self.as_of {
            Some(t) => Validity::AsOf(t.clone()),
            None => Validity::Current,
        }
    }
}

impl Request {
    /// Checks the arguments against the config and fills in the role's defaults.
    pub fn resolve(
        config: &Config,
        namespace: Option<&str>,
        role: &str,
        task: &str,
        limit: Option<i64>,
        token_budget: Option<i64>,
    ) -> Result<Request> {
        let Some(settings) = config.roles.get(role) else {
            let known: Vec<&str> = config.roles.keys().map(String::as_str).collect();
            return Err(Error::invalid(
                "role",
                format!(
                    "'{role}' is not a known role\nthe roles are: {} (add one under [roles.NAME] in the config file)",
                    known.join(", ")
                ),
            ));
        };
        let task = task.trim();
        if task.is_empty() {
            return Err(Error::invalid(
                "task",
                "must not be empty\nsay in a sentence what you are about to do",
            ));
        }
        if task.chars().count() > 4096 {
            return Err(Error::invalid("task", "is longer than 4096 characters"));
        }
        let bounds = &config.rehydrate;
        let token_budget = match token_budget {
            None => settings.token_budget,
            Some(b)
                if b >= bounds.min_token_budget as i64 && b <= bounds.max_token_budget as i64 =>
            {
                b as usize
            }
            Some(b) => {
                return Err(Error::invalid(
                    "token_budget",
                    format!(
                        "must be an integer from {} to {}, got {b}",
                        bounds.min_token_budget, bounds.max_token_budget
                    ),
                ));
            }
        };
        Ok(Request {
            namespace: memory::namespace(namespace)?,
            role_name: role.to_string(),
            task: task.to_string(),
            limit: memory::limit("limit", limit, settings.limit, bounds.max_limit)?,
            token_budget,
            role: settings.clone(),
            as_of: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_roles_and_bad_bounds_are_named() {
        let config = Config::default();
        let err = Request::resolve(&config, None, "wizard", "x", None, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid argument 'role': 'wizard' is not a known role\nthe roles are: general, implementer, planner, researcher, reviewer (add one under [roles.NAME] in the config file)"
        );
        let err = Request::resolve(&config, None, "planner", "x", None, Some(10))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid argument 'token_budget': must be an integer from 64 to 32000, got 10"
        );
        let err = Request::resolve(&config, None, "planner", "x", Some(51), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid argument 'limit': must be an integer from 1 to 50, got 51"
        );
        let ok = Request::resolve(&config, None, "planner", " plan ", None, None).unwrap();
        assert_eq!(
            (ok.limit, ok.token_budget, ok.task.as_str()),
            (8, 2000, "plan")
        );
    }
}
