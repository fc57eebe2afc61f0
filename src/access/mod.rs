//! Who is calling, and what they may do.
//!
//! Every call reaches memories as a [`Principal`]: the local user (a standalone `memoryd stdio`
//! or a CLI command), anyone at all (a loopback server with no credential configured), the
//! configured token, a key from `memoryd key create` ([`keys`]), or an OAuth access token
//! ([`oauth`]). A principal has a [`Scope`] and the namespace [`Pattern`]s it may reach; the
//! checks here are the only place that decides, so every route asks the same question and
//! gets the same words back.

pub mod gate;
pub mod keys;
pub mod oauth;

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a principal may do in its namespaces; each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Search, get, list, rehydrate; resources, prompts, completions, subscriptions.
    Read,
    /// Also store, update and delete.
    Write,
    /// Every namespace, plus `/metrics`, `/status` and keys.
    Admin,
}

impl Scope {
    /// Every scope, weakest first.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    /// The scope's name: `read`, `write` or `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name`, if any.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The OAuth scope string that grants this scope (`memory:read`, …).
    pub fn oauth(self) -> &'static str {
        match self {
            Scope::Read => "memory:read",
            Scope::Write => "memory:write",
            Scope::Admin => "memory:admin",
        }
    }

    /// What the scope lets a principal do, for messages.
    fn verbs(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "read and write",
            Scope::Admin => "administer",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A namespace pattern: a namespace (`team-a/api`), a prefix glob ending in `*` (`team-a/*`
/// matches every namespace starting with `team-a/`), or `*` (every namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern(String);

impl Pattern {
    /// Checks `text` is a namespace or a namespace prefix followed by one `*`.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let prefix = text.strip_suffix('*').unwrap_or(text);
        let ok_char =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/');
        if text.is_empty() || text.len() > 128 || !prefix.chars().all(ok_char) {
            return Err(format!(
                "'{text}' is not a namespace pattern\nuse a namespace (team-a), a prefix ending in * (team-a/*), or * for every namespace"
            ));
        }
        Ok(Pattern(text.to_string()))
    }

    /// True when `namespace` matches.
    pub fn matches(&self, namespace: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => namespace.starts_with(prefix),
            None => self.0 == namespace,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(text: String) -> Result<Pattern, String> {
        Pattern::parse(&text)
    }
}

impl From<Pattern> for String {
    fn from(pattern: Pattern) -> String {
        pattern.0
    }
}

/// How a principal proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// The local user: a standalone `memoryd stdio` or a CLI command on the data itself.
    Local,
    /// Nobody: a loopback server with no token, key or issuer configured.
    Open,
    /// The configured `[server] token`.
    Token,
    /// A key from `memoryd key create`, by id.
    Key(String),
    /// An OAuth access token from `[auth] issuer`.
    OAuth,
}

/// A caller and what it may do.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Who wrote what: the key's label or the token's `sub`; none for the local user, an open
    /// server or the configured token.
    pub name: Option<String>,
    /// What it may do.
    pub scope: Scope,
    /// The namespaces it may reach (every one for [`Scope::Admin`]).
    pub namespaces: Vec<Pattern>,
    /// How it proved who it is.
    pub via: Via,
}

/// A call the principal may not make: HTTP 403, and a message naming what it may do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// The scope the call needs (for `WWW-Authenticate: … scope=`).
    pub needed: Scope,
    /// What was refused and what the principal may do.
    pub message: String,
}

impl Principal {
    /// The local user: everything.
    pub fn local() -> Principal {
        Principal {
            name: None,
            scope: Scope::Admin,
            namespaces: vec![Pattern("*".into())],
            via: Via::Local,
        }
    }

    /// Anyone, on a server that asks for no credential: everything.
    pub fn open() -> Principal {
        Principal {
            via: Via::Open,
            ..Principal::local()
        }
    }

    /// A request that reached a handler with no principal on it: reaches nothing (fails
    /// closed).
    pub fn nobody() -> Principal {
        Principal {
            name: None,
            scope: Scope::Read,
            namespaces: Vec::new(),
            via: Via::Open,
        }
    }

    /// The configured token: an admin key.
    pub fn token() -> Principal {
        Principal {
            via: Via::Token,
            ..Principal::local()
        }
    }

    /// True when this principal may do everything (admin scope).
    pub fn is_admin(&self) -> bool {
        self.scope == Scope::Admin
    }

    /// True when this principal may read `namespace`.
    pub fn may_read(&self, namespace: &str) -> bool {
        self.is_admin() || self.namespaces.iter().any(|p| p.matches(namespace))
    }

    /// Allows a call that needs `needed` in `namespace`, or says why not.
    pub fn allows(&self, namespace: &str, needed: Scope) -> Result<(), Denied> {
        if self.scope >= needed && self.may_read(namespace) {
            return Ok(());
        }
        let what = if needed == Scope::Read {
            "read"
        } else {
            "write to"
        };
        Err(Denied {
            needed,
            message: format!(
                "{} may not {what} namespace '{namespace}'\n{}",
                self.who(),
                self.may()
            ),
        })
    }

    /// Allows an admin-only route (`/metrics`, `/status`, keys), or says why not.
    pub fn allows_admin(&self, what: &str) -> Result<(), Denied> {
        if self.is_admin() {
            return Ok(());
        }
        Err(Denied {
            needed: Scope::Admin,
            message: format!(
                "{what} needs an admin key or the memory:admin scope\n{}",
                self.may()
            ),
        })
    }

    /// "key 'ci-bot'", "token for 'alice'", for messages.
    fn who(&self) -> String {
        match (&self.via, &self.name) {
            (Via::Key(_), Some(name)) => format!("key '{name}'"),
            (Via::OAuth, Some(name)) => format!("the token of '{name}'"),
            (Via::OAuth, None) => "this token".into(),
            _ => "this key".into(),
        }
    }

    /// "this key may read and write namespaces team-a/*, shared", for messages.
    pub fn may(&self) -> String {
        if self.is_admin() {
            return "it may administer every namespace".into();
        }
        let patterns: Vec<&str> = self.namespaces.iter().map(Pattern::as_str).collect();
        if patterns.is_empty() {
            return format!("it has scope {} but no namespaces: ask for one", self.scope);
        }
        format!(
            "it may {} namespaces {}",
            self.scope.verbs(),
            patterns.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: Scope, patterns: &[&str]) -> Principal {
        Principal {
            name: Some("bot".into()),
            scope,
            namespaces: patterns
                .iter()
                .map(|p| Pattern::parse(p).unwrap())
                .collect(),
            via: Via::Key("k1".into()),
        }
    }

    #[test]
    fn patterns_match_exactly_or_by_prefix() {
        let exact = Pattern::parse("team-a").unwrap();
        assert!(exact.matches("team-a"));
        assert!(!exact.matches("team-ab"));
        let glob = Pattern::parse("team-a/*").unwrap();
        assert!(glob.matches("team-a/api"));
        assert!(glob.matches("team-a/api/v2"));
        assert!(!glob.matches("team-a"));
        assert!(!glob.matches("team-b/api"));
        assert!(Pattern::parse("*").unwrap().matches("anything"));
        for bad in ["", "a b", "te*am", "**", "x;drop"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_and_namespace_both_decide() {
        let reader = key(Scope::Read, &["team-a/*"]);
        assert!(reader.allows("team-a/x", Scope::Read).is_ok());
        let denied = reader.allows("team-a/x", Scope::Write).unwrap_err();
        assert_eq!(denied.needed, Scope::Write);
        assert_eq!(
            denied.message,
            "key 'bot' may not write to namespace 'team-a/x'\nit may read namespaces team-a/*"
        );
        let denied = reader.allows("team-b", Scope::Read).unwrap_err();
        assert!(
            denied
                .message
                .starts_with("key 'bot' may not read namespace 'team-b'")
        );
        let writer = key(Scope::Write, &["a", "b/*"]);
        assert!(writer.allows("b/c", Scope::Write).is_ok());
        assert!(writer.allows_admin("/metrics").is_err());
        let admin = key(Scope::Admin, &[]);
        assert!(admin.allows("anything", Scope::Write).is_ok());
        assert!(admin.allows_admin("/metrics").is_ok());
        assert!(Principal::local().allows("x", Scope::Admin).is_ok());
    }

    #[test]
    fn no_namespaces_reaches_nothing() {
        let nobody = key(Scope::Write, &[]);
        let denied = nobody.allows("default", Scope::Read).unwrap_err();
        assert!(
            denied
                .message
                .ends_with("it has scope write but no namespaces: ask for one")
        );
    }
}
