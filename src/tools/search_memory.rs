//! `search_memory`: ranked hits for a query within a namespace, with filters.

use rmcp::{ErrorData, Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MemoryServer;
use super::params::Parameters;
use crate::app::App;
use crate::error::{Error, Result};
use crate::memory;
use crate::retrieve::{Hit, SearchMode};
use crate::store::{Filter, Validity};

/// Longest query accepted, in characters.
const MAX_QUERY_CHARS: usize = 4096;

/// Arguments of `search_memory`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for, in plain words.
    pub query: String,
    /// Most hits to return (1 to 100, default 10).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
    /// hybrid (default), semantic or keyword.
    pub mode: Option<SearchMode>,
    /// Only memories that carry every one of these tags.
    pub tags: Option<Vec<String>>,
    /// Only memories of this kind.
    pub kind: Option<String>,
    /// Only memories whose occurred_at is at or after this time (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// Only memories whose occurred_at is at or before this time (RFC 3339 or YYYY-MM-DD).
    pub until: Option<String>,
    /// Also search memories another one superseded (left out by default).
    pub include_superseded: Option<bool>,
    /// Answer as memory stood at this time (RFC 3339 or YYYY-MM-DD): only memories valid then
    /// (occurred by then and not yet superseded), superseded ones included.
    pub as_of: Option<String>,
    /// Project scope (default "default").
    pub namespace: Option<String>,
}

/// Result of `search_memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchOutput {
    /// Best first.
    pub hits: Vec<Hit>,
    /// The ranking actually used.
    pub mode: SearchMode,
    /// Why `mode` differs from the one asked for, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Validates `args` and runs the search.
pub async fn run(app: &App, args: SearchArgs) -> Result<SearchOutput> {
    let limits = app.limits();
    let query = args.query.trim();
    if query.is_empty() {
        return Err(Error::invalid("query", "must not be empty"));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(Error::invalid(
            "query",
            format!("is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let limit = memory::limit(
        "limit",
        args.limit,
        limits.default_search_limit,
        limits.max_search_limit,
    )?;
    let filter = Filter {
        namespace: memory::namespace(args.namespace.as_deref())?,
        tags: memory::tags("tags", args.tags.unwrap_or_default(), limits)?,
        kind: args.kind.map(|k| memory::kind(Some(k))).transpose()?,
        role: None,
        since: args
            .since
            .map(|t| memory::parse_time("since", &t))
            .transpose()?,
        until: args
            .until
            .map(|t| memory::parse_time("until", &t))
            .transpose()?,
        validity: Validity::asked(
            args.include_superseded,
            args.as_of
                .map(|t| memory::parse_time("as_of", &t))
                .transpose()?,
        ),
    };
    if let (Some(since), Some(until)) = (&filter.since, &filter.until)
        && since > until
    {
        return Err(Error::invalid(
            "since",
            format!("{since} is after until ({until})"),
        ));
    }
    let found = app
        .searcher()
        .search(query, filter, limit, args.mode.unwrap_or_default())
        .await?;
    Ok(SearchOutput {
        hits: found.hits,
        mode: found.mode,
        note: found.note,
    })
}

#[tool_router(router = search_memory_router, vis = "pub(crate)")]
impl MemoryServer {
    /// Search memories by meaning and keywords; returns ranked hits with a snippet each.
    /// Use get_memory for a hit's full text. Superseded memories are left out unless
    /// include_superseded or an as_of from when they held.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn search_memory(
        &self,
        Parameters(args): Parameters<SearchArgs>,
    ) -> Result<Json<SearchOutput>, ErrorData> {
        Ok(Json(run(&self.app, args).await?))
    }
}
