//! What is counted: one finished tool call ([`Call`]), how it arrived ([`Transport`]), and
//! which cache a lookup hit or missed ([`Cache`]). Plain data and their label values; the
//! counting itself is in the registry and the window.

use std::time::Duration;

/// How a call reached memoryd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `memoryd stdio`.
    Stdio,
    /// MCP Streamable HTTP at `/mcp`.
    McpHttp,
    /// Plain JSON at `POST /mcp/tools/call`.
    ToolsCall,
}

impl Transport {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::McpHttp => "mcp_http",
            Transport::ToolsCall => "tools_call",
        }
    }
}

/// A cache whose lookups are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cache {
    /// `rehydrate_memory` bundles.
    Bundle,
    /// Query text → embedding vector.
    QueryEmbedding,
}

impl Cache {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Bundle => "rehydrate_bundle",
            Cache::QueryEmbedding => "query_embedding",
        }
    }
}

/// One finished tool call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The tool's label: its name when it exists (the caller checks against the tool
    /// table), `unknown` otherwise, so labels stay bounded.
    pub tool: &'static str,
    /// `role` argument of `rehydrate_memory`, if any.
    pub role: Option<String>,
    /// How it arrived.
    pub transport: Transport,
    /// `ok`, or the error's code (`invalid_argument`, `not_found`, `unknown_tool`, `internal`).
    pub outcome: &'static str,
    /// The error's first line, for the recent-errors list.
    pub error: Option<String>,
    /// Time spent in the tool.
    pub elapsed: Duration,
}
