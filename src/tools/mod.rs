//! The MCP face of memoryd: [`MemoryServer`] and one file per tool.
//!
//! Each tool file holds its `Args` and `Output` types (their JSON Schemas are what clients see
//! and what `schemas/` checks in), its `#[tool]` method, and a `run` function that the CLI
//! calls too, so a tool behaves the same on every transport. Tools validate and translate;
//! the work happens in `store/` and `retrieve/`.
//!
//! The handler itself ([`handler`]: the one `ServerHandler` impl, each method a call into its
//! area) is split by area:
//!
//! - [`info`]: the capabilities and instructions a client sees at `initialize`.
//! - [`router`]: the tool routes built from [`table`], their portable schemas, `schemas/`.
//! - [`access`]: what each request needs of its caller (namespace and scope).
//! - [`calls`]: the one path of every tool call (time limit, metrics, log line), over MCP and
//!   `POST /mcp/tools/call`.
//! - [`resources`], [`subscriptions`]: memories as resources, and following their changes.
//! - [`prompts`], [`completion`]: prompts and argument completion.
//! - [`logging`], [`session`]: a session's own log level and followed resources.

pub mod access;
mod calls;
pub mod completion;
pub mod delete_memory;
pub mod get_memory;
mod handler;
mod info;
pub mod list_memories;
mod logging;
pub mod params;
pub mod prompts;
pub mod rehydrate_memory;
pub mod resources;
mod router;
pub mod schema;
pub mod search_memory;
pub mod session;
pub mod store_memory;
mod subscriptions;
pub mod table;
pub mod update_memory;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;

use crate::app::App;
use crate::metrics::Transport;
use session::{Changes, Session};

pub use calls::call;
pub use table::NAMES;

/// The MCP server: the shared [`App`] plus the routes of every tool, and one session's state.
#[derive(Clone)]
pub struct MemoryServer {
    /// Shared state.
    app: App,
    /// Built once per server; rmcp clones it per session.
    tool_router: ToolRouter<MemoryServer>,
    /// How calls reach this server, for metrics and logs.
    transport: Transport,
    /// The store's generation as it moves, shared by every session of this server.
    changes: Arc<Changes>,
    /// This session's log level and followed resources (see [`MemoryServer::for_session`]).
    session: Arc<Session>,
}

impl MemoryServer {
    /// A server over `app` with every tool routed, for calls arriving over `transport`.
    pub fn new(app: App, transport: Transport) -> Self {
        MemoryServer {
            app,
            tool_router: Self::router(),
            transport,
            changes: Arc::new(Changes::new()),
            session: Arc::new(Session::new()),
        }
    }

    /// A copy for a new session: the same app, routes and change feed, its own session state
    /// (log level, subscriptions), so one client's choices never reach another.
    pub fn for_session(&self) -> Self {
        MemoryServer {
            session: Arc::new(Session::new()),
            ..self.clone()
        }
    }
}
