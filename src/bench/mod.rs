//! `memoryd bench`: the tools to measure memoryd from the outside, as users and CI run it.
//!
//! Benchmarks in `benches/` time functions inside one process; these drive the real binary
//! and server over the wire, so they also count HTTP, MCP framing, JSON and scheduling, which
//! is what an agent waits for. Nothing here runs inside `serve`.
//!
//! - [`corpus`]: a deterministic synthetic corpus (JSONL for `memoryd import`, and the
//!   generator `benches/retrieval.rs` can share).
//! - [`workload`]: what each request of a load run is, and how its answer is checked.
//! - [`client`]: one load client per connection, over plain JSON or an MCP session.
//! - [`load`]: many closed-loop clients against a running server.
//! - [`report`]: latency percentiles, errors by kind, throughput, as a table or JSON.
//! - [`cold_start`]: time from spawning `memoryd stdio` to its `initialize` answer.
//! - [`stdio`]: stores then searches through `memoryd stdio`, one at a time: latency, server
//!   CPU per call, and the RSS curve and peak.
//! - [`sweep`]: search latency with and without the expiry sweep purging a backlog of
//!   expired memories, and how long the purge takes.

pub mod client;
pub mod cold_start;
pub mod corpus;
pub mod load;
pub mod report;
pub mod stdio;
pub mod sweep;
pub mod workload;
