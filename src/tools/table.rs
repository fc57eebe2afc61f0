//! The table of tools: one row per tool drives the MCP router, the plain JSON dispatcher
//! (`POST /mcp/tools/call`), the metrics labels and the annotation check, so adding a tool is
//! one file and one row.

use std::future::Future;
use std::pin::Pin;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::JsonObject;
use serde_json::Value;

use super::{
    MemoryServer, delete_memory, get_memory, list_memories, params, rehydrate_memory,
    search_memory, store_memory, update_memory,
};
use crate::access::Principal;
use crate::app::App;
use crate::error::{Error, Result};

/// A tool call's structured output, on its way.
type Output<'a> = Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>>;

/// One tool.
pub struct Entry {
    /// The tool's name, as clients call it and metrics label it.
    pub name: &'static str,
    /// True when the tool never writes (its `read_only_hint`).
    pub read_only: bool,
    /// True when the tool may overwrite or remove what exists (its `destructive_hint`).
    pub destructive: bool,
    /// The tool's MCP route (its `#[tool]` method, schemas and annotations).
    pub route: fn() -> ToolRouter<MemoryServer>,
    /// Runs the tool on plain JSON arguments for a caller (whose access was checked): the same
    /// `run` and argument checks as MCP.
    pub run: for<'a> fn(&'a App, &'a Principal, JsonObject) -> Output<'a>,
}

/// One row: the tool's module, its router, and its hints. A tool marked `by` also takes the
/// caller's name, to record who wrote what.
macro_rules! entry {
    ($tool:ident, $router:ident, read_only: $read_only:expr, destructive: $destructive:expr) => {
        entry!(@row $tool, $router, $read_only, $destructive, |app, _caller, params| $tool::run(app, params))
    };
    ($tool:ident, $router:ident, by, read_only: $read_only:expr, destructive: $destructive:expr) => {
        entry!(@row $tool, $router, $read_only, $destructive, |app, caller, params| {
            $tool::run(app, params, caller.name.clone())
        })
    };
    (@row $tool:ident, $router:ident, $read_only:expr, $destructive:expr, |$app:ident, $caller:ident, $params:ident| $call:expr) => {
        Entry {
            name: stringify!($tool),
            read_only: $read_only,
            destructive: $destructive,
            route: MemoryServer::$router,
            run: {
                fn run<'a>($app: &'a App, $caller: &'a Principal, arguments: JsonObject) -> Output<'a> {
                    Box::pin(async move {
                        let $params = params::parse(arguments)?;
                        let output = $call.await?;
                        serde_json::to_value(output)
                            .map_err(|e| Error::Internal(format!("output did not serialise: {e}")))
                    })
                }
                run
            },
        }
    };
}

/// Every tool, sorted by name.
pub const TOOLS: [Entry; 7] = [
    entry!(delete_memory, delete_memory_router, read_only: false, destructive: true),
    entry!(get_memory, get_memory_router, read_only: true, destructive: false),
    entry!(list_memories, list_memories_router, read_only: true, destructive: false),
    entry!(rehydrate_memory, rehydrate_memory_router, read_only: true, destructive: false),
    entry!(search_memory, search_memory_router, read_only: true, destructive: false),
    entry!(store_memory, store_memory_router, by, read_only: false, destructive: false),
    entry!(update_memory, update_memory_router, by, read_only: false, destructive: true),
];

/// The tool names, in table order (metrics report a row for each).
pub const NAMES: [&str; TOOLS.len()] = {
    let mut names = [""; TOOLS.len()];
    let mut i = 0;
    while i < TOOLS.len() {
        names[i] = TOOLS[i].name;
        i += 1;
    }
    names
};

/// The row of tool `name`.
pub fn find(name: &str) -> Option<&'static Entry> {
    TOOLS.iter().find(|entry| entry.name == name)
}

/// The metrics label of a call to `name`: the tool's name, or `unknown` for a name no tool
/// has (so a client cannot grow the label set).
pub fn label(name: &str) -> &'static str {
    find(name).map_or("unknown", |entry| entry.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_and_unknown_names_share_one_label() {
        let mut sorted = NAMES;
        sorted.sort_unstable();
        assert_eq!(sorted, NAMES);
        assert_eq!(label("search_memory"), "search_memory");
        assert_eq!(label("drop_tables"), "unknown");
        assert_eq!(label("rm_rf"), "unknown");
    }

    #[test]
    fn each_row_routes_exactly_its_tool_with_its_annotations() {
        for entry in &TOOLS {
            let router = (entry.route)();
            let tools = router.list_all();
            assert_eq!(tools.len(), 1, "{}", entry.name);
            assert_eq!(tools[0].name, entry.name);
            let ann = tools[0].annotations.as_ref().expect("annotated");
            assert_eq!(ann.read_only_hint, Some(entry.read_only), "{}", entry.name);
            // The hint is meaningful only for tools that write.
            if !entry.read_only {
                assert_eq!(
                    ann.destructive_hint,
                    Some(entry.destructive),
                    "{}",
                    entry.name
                );
            }
        }
    }
}
