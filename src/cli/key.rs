//! `memoryd key create|list|revoke`: the access keys servers accept (see `access::keys`).
//!
//! Keys live in the database, so these commands work on the data itself, like `list`, on
//! either engine, with no server running; every server of the database sees a new key or a
//! revocation within a second. `create` prints the secret once; the database keeps only its
//! hash. Every flag is checked before the database is opened, so a refused command writes
//! nothing.

use chrono::Utc;
use clap::parser::ValueSource;
use serde::Serialize;

use super::{Global, print_json};
use crate::access::keys::{self, PREFIX};
use crate::access::{Pattern, Scope};
use crate::error::Error;
use crate::memory;
use crate::store::ApiKey;

/// Most characters in a key's label.
const MAX_LABEL: usize = 64;

/// `memoryd key …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCmd {
    /// Make a key and print it (the only time it is shown)
    Create(CreateCmd),
    /// Show every key: id, label, scope, namespaces, when made, expiry and status (never the
    /// secret)
    List,
    /// Revoke a key: every server refuses it within a second
    Revoke(RevokeCmd),
}

/// Flags of `memoryd key create`.
#[derive(Debug, clap::Args)]
pub struct CreateCmd {
    /// A namespace the key reaches: a namespace (team-a), a prefix ending in * ('team-a/*'),
    /// or '*' for every one; repeat for more. Required for read and write keys
    // The same id as the global `--namespace`, which clap then leaves to this flag here (two
    // arguments may not share a flag); `ignore_environment` drops MEMORYD_NAMESPACE's value.
    #[arg(
        long = "namespace",
        short = 'n',
        id = "namespace",
        value_name = "PATTERN"
    )]
    pub namespaces: Vec<String>,
    /// What the key may do: read (search, get, list, rehydrate), write (also store, update,
    /// delete) or admin (every namespace, /metrics, /status, /memories)
    #[arg(long, value_parser = ["read", "write", "admin"])]
    pub scope: String,
    /// Who holds the key (1 to 64 characters; need not be unique): recorded as created_by and
    /// updated_by on what it writes
    #[arg(long)]
    pub label: String,
    /// The key stops working this long from now: a whole number and s, m, h, d or w (such as
    /// 90d) [default: never]
    #[arg(long, value_name = "DUR")]
    pub expires: Option<String>,
}

/// Flags of `memoryd key revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeCmd {
    /// The key's id (16 hex digits, as 'memoryd key list' shows it)
    pub id: String,
}

impl KeyCmd {
    /// Forgets a `--namespace` that came from `MEMORYD_NAMESPACE` rather than the command
    /// line: that variable names where to read and write, and a key's reach must be given on
    /// purpose. `matches` are the whole command line's.
    pub fn ignore_environment(&mut self, matches: &clap::ArgMatches) {
        let KeyCmd::Create(cmd) = self else { return };
        let source = matches
            .subcommand_matches("key")
            .and_then(|m| m.subcommand_matches("create"))
            .and_then(|m| m.value_source("namespace"));
        if source != Some(ValueSource::CommandLine) {
            cmd.namespaces.clear();
        }
    }
}

/// Runs one `key` subcommand.
pub async fn run(global: &Global, cmd: KeyCmd) -> anyhow::Result<()> {
    match cmd {
        KeyCmd::Create(cmd) => create(global, cmd).await,
        KeyCmd::List => list(global).await,
        KeyCmd::Revoke(cmd) => revoke(global, cmd).await,
    }
}

/// What `key create --json` prints: the key as stored, and the text to send.
#[derive(Serialize)]
struct Created<'a> {
    id: &'a str,
    key: &'a str,
    label: &'a str,
    scope: Scope,
    namespaces: &'a [Pattern],
    created_at: &'a str,
    expires_at: Option<&'a str>,
}

/// A key as `key list --json` and `key revoke --json` show it.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    key: &'a ApiKey,
    status: &'static str,
}

async fn create(global: &Global, cmd: CreateCmd) -> anyhow::Result<()> {
    let scope = Scope::parse(&cmd.scope).ok_or_else(|| {
        Error::invalid(
            "scope",
            format!("'{}' is not a scope\nuse read, write or admin", cmd.scope),
        )
    })?;
    let namespaces = namespaces(scope, &cmd.namespaces)?;
    let label = label(&cmd.label)?;
    let now = Utc::now();
    let expires_at = match &cmd.expires {
        Some(text) => {
            let d =
                crate::config::parse_duration(text).map_err(|e| Error::invalid("expires", e))?;
            let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
            Some(memory::format_time(now + d))
        }
        None => None,
    };
    let app = global.open_app().await?;
    let minted = keys::mint();
    let key = ApiKey {
        id: minted.id,
        label,
        scope,
        namespaces,
        hash: minted.hash,
        created_at: memory::format_time(now),
        expires_at,
        revoked_at: None,
    };
    app.store().create_key(key.clone()).await?;
    if global.json {
        return print_json(&Created {
            id: &key.id,
            key: &minted.key,
            label: &key.label,
            scope: key.scope,
            namespaces: &key.namespaces,
            created_at: &key.created_at,
            expires_at: key.expires_at.as_deref(),
        });
    }
    println!(
        "created key {} '{}': {} {}; {}",
        key.id,
        key.label,
        key.scope,
        reach(&key),
        match &key.expires_at {
            Some(at) => format!("expires {at}"),
            None => "never expires".into(),
        }
    );
    println!();
    println!("{}", minted.key);
    println!();
    println!("this is the only time the key is shown: memoryd keeps only its hash, so copy it now");
    println!("send it with every request as the header  Authorization: Bearer {PREFIX}…");
    Ok(())
}

async fn list(global: &Global) -> anyhow::Result<()> {
    let app = global.open_app().await?;
    let keys = app.store().keys().await?;
    let now = memory::now();
    if global.json {
        let shown: Vec<Shown> = keys
            .iter()
            .map(|key| Shown {
                key,
                status: status(key, &now),
            })
            .collect();
        return print_json(&shown);
    }
    if keys.is_empty() {
        println!("no keys\nmake one with 'memoryd key create'");
        return Ok(());
    }
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|k| {
            [
                k.id.clone(),
                k.label.clone(),
                k.scope.to_string(),
                patterns(k),
                k.created_at.clone(),
                k.expires_at.clone().unwrap_or_else(|| "never".into()),
                status(k, &now).into(),
            ]
        })
        .collect();
    let head = [
        "ID",
        "LABEL",
        "SCOPE",
        "NAMESPACES",
        "CREATED",
        "EXPIRES",
        "STATUS",
    ]
    .map(String::from);
    let mut widths = head.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&head).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

async fn revoke(global: &Global, cmd: RevokeCmd) -> anyhow::Result<()> {
    let id = key_id(&cmd.id)?;
    let app = global.open_app().await?;
    let at = memory::now();
    let Some(key) = app.store().revoke_key(id.clone(), at.clone()).await? else {
        anyhow::bail!("no key has id {id}; 'memoryd key list' shows them");
    };
    if global.json {
        return print_json(&Shown {
            status: status(&key, &at),
            key: &key,
        });
    }
    match key.revoked_at.as_deref() {
        Some(first) if first != at => {
            println!(
                "key {} ({}) was already revoked at {first}",
                key.id, key.label
            )
        }
        _ => println!("revoked key {} ({})", key.id, key.label),
    }
    Ok(())
}

/// The patterns of a `--scope` key: at least one for read and write; for admin, `*` (given
/// or not) and nothing else, so that no one believes an admin key is narrower than it is.
fn namespaces(scope: Scope, given: &[String]) -> Result<Vec<Pattern>, Error> {
    let mut out: Vec<Pattern> = Vec::with_capacity(given.len());
    for text in given {
        let pattern = Pattern::parse(text.trim()).map_err(|e| Error::invalid("namespace", e))?;
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    if scope == Scope::Admin {
        if let Some(narrow) = out.iter().find(|p| p.as_str() != "*") {
            return Err(Error::invalid(
                "namespace",
                format!(
                    "an admin key reaches every namespace, so it cannot be limited to '{}'\ndrop --namespace for an admin key, or make a read or write key for '{}'",
                    narrow.as_str(),
                    narrow.as_str()
                ),
            ));
        }
        return Ok(vec![Pattern::parse("*").expect("* is a pattern")]);
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "namespace",
            format!(
                "a {scope} key needs at least one --namespace\nname what it may reach: --namespace team-a, --namespace 'team-a/*', or --namespace '*' for every namespace"
            ),
        ));
    }
    Ok(out)
}

/// Checks a label: 1 to 64 characters (surrounding spaces dropped), no control characters.
fn label(text: &str) -> Result<String, Error> {
    let label = text.trim();
    let count = label.chars().count();
    if count == 0 || count > MAX_LABEL {
        return Err(Error::invalid(
            "label",
            format!(
                "must be 1 to {MAX_LABEL} characters, got {count}\nname who holds the key, such as ci-bot or alice"
            ),
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(Error::invalid(
            "label",
            "must not contain control characters such as newlines",
        ));
    }
    Ok(label.to_string())
}

/// Checks a key id: 16 hex digits (any case; stored in lowercase).
fn key_id(text: &str) -> Result<String, Error> {
    let id = text.trim().to_ascii_lowercase();
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(id);
    }
    // A whole key is a secret: say so without printing it back.
    let reason = if id.starts_with(PREFIX) {
        "that is a whole key, secret included; pass only its id, the 16 hex digits after mdk_"
            .to_string()
    } else {
        format!(
            "'{text}' is not a key id\na key id is 16 hex digits, as 'memoryd key list' shows it"
        )
    };
    Err(Error::invalid("id", reason))
}

/// `active`, `expired` or `revoked` (a revoked key says so even after it expired).
fn status(key: &ApiKey, now: &str) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.as_deref().is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

/// The key's patterns, comma-separated.
fn patterns(key: &ApiKey) -> String {
    let list: Vec<&str> = key.namespaces.iter().map(Pattern::as_str).collect();
    list.join(",")
}

/// "every namespace", or "on namespaces a, b/*", for `create`'s summary.
fn reach(key: &ApiKey) -> String {
    if key.scope == Scope::Admin {
        return "on every namespace".into();
    }
    let list: Vec<&str> = key.namespaces.iter().map(Pattern::as_str).collect();
    format!("on namespaces {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn namespaces_are_required_for_read_and_write_and_only_star_for_admin() {
        let got = namespaces(Scope::Write, &strings(&["team-a/*", "shared", "team-a/*"])).unwrap();
        let got: Vec<&str> = got.iter().map(Pattern::as_str).collect();
        assert_eq!(got, ["team-a/*", "shared"], "each once, in the order given");
        let err = namespaces(Scope::Read, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid argument 'namespace': a read key needs at least one --namespace"
            ),
            "{err}"
        );
        let err = namespaces(Scope::Write, &strings(&["a b"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid argument 'namespace': 'a b' is not a namespace pattern"),
            "{err}"
        );
        for given in [&[][..], &["*"][..]] {
            let admin = namespaces(Scope::Admin, &strings(given)).unwrap();
            assert_eq!(admin, vec![Pattern::parse("*").unwrap()]);
        }
        let err = namespaces(Scope::Admin, &strings(&["*", "team-a"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "an admin key reaches every namespace, so it cannot be limited to 'team-a'"
            ),
            "{err}"
        );
    }

    #[test]
    fn labels_and_ids_follow_their_rules() {
        assert_eq!(label("  ci-bot ").unwrap(), "ci-bot");
        assert_eq!(label(&"é".repeat(64)).unwrap().chars().count(), 64);
        assert!(label(&"x".repeat(65)).is_err());
        assert!(label("  ").is_err());
        assert!(label("a\nb").is_err());
        assert_eq!(key_id("0123456789ABCDEF").unwrap(), "0123456789abcdef");
        let err = key_id("xyz").unwrap_err().to_string();
        assert!(err.contains("'xyz' is not a key id"), "{err}");
        let whole = keys::mint().key;
        let err = key_id(&whole).unwrap_err().to_string();
        assert!(err.contains("that is a whole key"), "{err}");
        assert!(!err.contains(&whole), "the secret is never printed back");
    }

    #[test]
    fn revoked_wins_over_expired() {
        let mut key = ApiKey {
            id: "0123456789abcdef".into(),
            label: "ci".into(),
            scope: Scope::Read,
            namespaces: vec![Pattern::parse("a").unwrap()],
            hash: [0; 32],
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: Some("2026-02-01T00:00:00.000Z".into()),
            revoked_at: None,
        };
        assert_eq!(status(&key, "2026-01-15T00:00:00.000Z"), "active");
        assert_eq!(status(&key, "2026-02-01T00:00:00.000Z"), "expired");
        key.revoked_at = Some("2026-01-20T00:00:00.000Z".into());
        assert_eq!(status(&key, "2026-03-01T00:00:00.000Z"), "revoked");
    }
}
