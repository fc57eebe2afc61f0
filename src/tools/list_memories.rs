//! `list_memories`: page through a namespace, newest first, with filters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MemoryServer;
use super::params::Parameters;
use crate::app::App;
use crate::error::{Error, Result};
use crate::memory::{self, Memory};
use crate::store::{Filter, Validity};

/// Arguments of `list_memories`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only memories that carry every one of these tags.
    pub tags: Option<Vec<String>>,
    /// Only memories of this kind.
    pub kind: Option<String>,
    /// Only memories pinned for this role (including those pinned for every role with `*`).
    pub role: Option<String>,
    /// Page size (1 to 200, default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page; omit for the first page.
    pub cursor: Option<String>,
    /// Also list memories another one superseded (left out by default).
    pub include_superseded: Option<bool>,
    /// List memories as they stood at this time (RFC 3339 or YYYY-MM-DD): only those valid
    /// then (occurred by then and not yet superseded), superseded ones included.
    pub as_of: Option<String>,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// One page of `list_memories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListOutput {
    /// Memories on this page, newest first.
    pub memories: Vec<Memory>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

const CURSOR_PREFIX: &str = "after:";

fn encode_cursor(after: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{after}"))
}

fn decode_cursor(cursor: &str) -> Result<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(CURSOR_PREFIX)?.parse().ok())
        .ok_or_else(|| {
            Error::invalid(
                "cursor",
                "is not a cursor this server issued\npass next_cursor from the previous page unchanged, or omit it",
            )
        })
}

/// Validates `args` and reads one page.
pub async fn run(app: &App, args: ListArgs) -> Result<ListOutput> {
    let limits = app.limits();
    let limit = memory::limit(
        "limit",
        args.limit,
        limits.default_list_limit,
        limits.max_list_limit,
    )?;
    let after = args.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = Filter {
        namespace: memory::namespace(args.namespace.as_deref())?,
        tags: memory::tags("tags", args.tags.unwrap_or_default(), limits)?,
        kind: args.kind.map(|k| memory::kind(Some(k))).transpose()?,
        role: args.role.map(|r| memory::role("role", &r)).transpose()?,
        since: None,
        until: None,
        validity: Validity::asked(
            args.include_superseded,
            args.as_of
                .map(|t| memory::parse_time("as_of", &t))
                .transpose()?,
        ),
    };
    let page = app.store().list(filter, after, limit).await?;
    Ok(ListOutput {
        memories: page.memories,
        next_cursor: page.next_after.map(encode_cursor),
    })
}

#[tool_router(router = list_memories_router, vis = "pub(crate)")]
impl MemoryServer {
    /// List memories newest first, one page at a time, optionally filtered by tags, kind or
    /// pinned role. Pass next_cursor back as cursor for the next page. Superseded memories
    /// are left out unless include_superseded or an as_of from when they held.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn list_memories(
        &self,
        Parameters(args): Parameters<ListArgs>,
    ) -> Result<Json<ListOutput>, ErrorData> {
        Ok(Json(run(&self.app, args).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        let err = decode_cursor("nonsense").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid argument 'cursor': is not a cursor"),
            "{err}"
        );
    }
}
