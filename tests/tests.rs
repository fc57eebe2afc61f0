//! Integration tests: each one starts the real `memoryd` binary on a fresh data dir and talks
//! to it as a user would, over MCP stdio, MCP Streamable HTTP, or the command line.

mod postgres;
mod util;

mod access;
mod background_embedding;
mod bad_input;
mod bench;
mod browser;
mod cli;
mod concurrency;
mod config;
mod daemon;
mod eval;
mod expiry;
mod fleet;
mod http;
mod keys;
mod keyword_weighing;
mod lifecycle;
mod mcp_surface;
mod oauth;
mod ops;
mod panics;
mod rehydrate;
mod reliability;
mod scenarios;
mod security;
mod semantic;
mod service;
mod stdio;
mod storage;
mod time_ranking;
mod transfer;
