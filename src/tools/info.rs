//! What a client learns at `initialize`: the server's name and version, the capabilities it
//! may use, and the instructions an agent reads. Declares only; answers nothing else.

use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};

const INSTRUCTIONS: &str = "memoryd keeps memories (notes, decisions, facts, document chunks) \
for this project. Use search_memory before starting work to find what is already known, \
store_memory to keep a decision or fact for later sessions, and get_memory for the full text of \
a search hit. Every call takes an optional namespace (default 'default') that scopes it to one \
project. Each memory is also a resource, memory://{namespace}/{id}, and a role's pinned \
memories are memory://{namespace}/pins/{role}. The prompts rehydrate (role, task), recall \
(query) and remember start a task with context, bring memories into the conversation, and \
store what a session decided.";

/// The server's name, version, capabilities and instructions.
// Logging is deprecated by the 2026-07-28 revision (SEP-2577), but 2025-11-25 clients use it.
#[allow(deprecated)]
pub(super) fn server_config() -> ServerConfig {
    let capabilities = ServerCapabilities::builder()
        .enable_logging()
        .enable_completions()
        .enable_prompts()
        .enable_resources()
        .enable_tools()
        .enable_resources_subscribe()
        .enable_resources_list_changed()
        .build();
    ServerConfig::new(capabilities)
        .with_server_info(Implementation::new("memoryd", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
}
