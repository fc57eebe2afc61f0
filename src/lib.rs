//! memoryd: a local-first memory server for AI agents, over MCP on stdio and Streamable HTTP.
//!
//! The path of one tool call, top to bottom:
//!
//! - [`cli`]: one file per subcommand; `serve` and `stdio` start transports, the rest call
//!   the tools directly on the database.
//! - [`http`]: the HTTP routes (`/mcp`, `/mcp/tools/call`, `/health`, `/metrics`, `/status`),
//!   given a bound listener and a shutdown token.
//! - [`tools`]: `MemoryServer` and one file per MCP tool: arguments, schemas, validation.
//! - [`rehydrate`]: role-scoped, token-budgeted bundles and their cache.
//! - [`retrieve`]: ranking a query into hits (BM25, vectors, fusion).
//! - [`embed`]: the local embedding model: install, lazy load, query cache.
//! - [`store`]: the storage seam and its engines, SQLite (the default: one file, WAL, FTS5,
//!   sqlite-vec) and PostgreSQL with pgvector: every SQL statement lives here.
//! - [`index`]: the in-memory BM25 index and vector copy the engines keep in step with their
//!   change logs.
//!
//! Beside them: [`app`] (the shared state handle), [`panic_guard`] (a handler's panic
//! answers as an internal error), [`config`] (settings and limits),
//! [`memory`] (the data model and its field rules), [`expiry`] (`ttl`/`expires_at` and
//! what expired means), [`sweep`] (the background purge of expired memories), [`error`] (the one error type),
//! [`metrics`] (call and cache counters), [`metrics_history`] (the bounded history behind the
//! charts on `/status`), [`process`] (the process's resident memory), [`shutdown`] (signals,
//! drain, the order a server stops in).
//!
//! Running as a daemon: [`runtime`] (the runtime file saying which process serves a data dir
//! and where), [`proxy`] (`memoryd stdio` forwarding to that daemon over HTTP), [`service`]
//! (launchd and systemd files), [`import`] (JSONL and Markdown in), [`sse`] (reading
//! server-sent events, for the shim, the load generator and the tests).
//!
//! Measuring it from the outside: [`bench`] (a synthetic corpus, a load generator, cold-start
//! timing) behind `memoryd bench`, and [`eval`] (retrieval quality on labelled query sets)
//! behind `memoryd eval`. Nothing on the serving path uses either.

pub mod access;
pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod embed;
pub mod error;
pub mod eval;
pub mod expiry;
pub mod http;
pub mod import;
pub mod index;
pub mod memory;
pub mod metrics;
pub mod metrics_history;
pub mod panic_guard;
pub mod process;
pub mod proxy;
pub mod rehydrate;
pub mod retrieve;
pub mod runtime;
pub mod service;
pub mod shutdown;
pub mod sse;
pub mod store;
pub mod sweep;
pub mod tools;

pub use app::App;
pub use error::{Error, Result};
