//! The library's one error type and its mapping to JSON-RPC errors.
//!
//! Every failure a caller can cause or see is a variant here, so the MCP tools, the HTTP
//! endpoints and the CLI report the same words for the same problem. This module maps errors;
//! it never logs them (the edges do, once).

use rmcp::ErrorData;
use serde_json::json;

/// The JSON-RPC error code of a call the caller's key or token does not allow (an
/// application code: JSON-RPC reserves -32000 to -32099 for servers).
pub const FORBIDDEN: rmcp::model::ErrorCode = rmcp::model::ErrorCode(-32003);

/// Result alias for library code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside memoryd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool argument, CLI flag or request field broke a rule.
    #[error("invalid argument '{argument}': {reason}")]
    InvalidArgument {
        /// The argument's name as the caller wrote it (`limit`, `content`, …).
        argument: String,
        /// What rule it broke, and how to fix it.
        reason: String,
    },

    /// No memory with this id exists in the namespace.
    #[error("memory '{id}' not found in namespace '{namespace}'")]
    NotFound {
        /// The id that was asked for.
        id: String,
        /// The namespace that was searched.
        namespace: String,
    },

    /// A resource URI names nothing that exists (an unknown memory or role).
    #[error("{reason}")]
    ResourceNotFound {
        /// The URI asked for.
        uri: String,
        /// What does not exist, and what does.
        reason: String,
    },

    /// An update would give a memory the same content as another in its namespace.
    #[error(
        "content duplicates memory '{existing_id}' in namespace '{namespace}'\nupdate or delete that memory instead"
    )]
    DuplicateContent {
        /// The memory that already holds this content.
        existing_id: String,
        /// The namespace of both memories.
        namespace: String,
    },

    /// No tool has this name.
    #[error("unknown tool '{name}'\nthe tools are: {}", known.join(", "))]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The tools that exist.
        known: Vec<String>,
    },

    /// A tool call ran past `limits.request_timeout_seconds`.
    #[error(
        "the call took longer than {seconds} s and was stopped\nask for less (a smaller limit or token_budget), or raise [limits] request_timeout_seconds"
    )]
    Timeout {
        /// The limit it ran past.
        seconds: u64,
    },

    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(String),

    /// The database could not be reached (down, restarting, or the network in between); the
    /// call may succeed if retried.
    #[error("the database is unreachable: {0}")]
    Unavailable(String),

    /// The database is set up in a way memoryd cannot use; the message names the fix.
    #[error("{0}")]
    Setup(String),

    /// The database could not be brought to the current schema.
    #[error("database migration failed: {0}")]
    Migration(String),

    /// The embedding model could not be installed, loaded or run.
    #[error("{0}")]
    Model(String),

    /// The database holds vectors of a different model than the one configured.
    #[error(
        "the database was embedded with {stored}, but this memoryd uses {configured}\nrun 'memoryd reembed' to re-embed every memory with {configured}"
    )]
    ModelMismatch {
        /// Model and dimension recorded in the database.
        stored: String,
        /// Model and dimension this build uses.
        configured: String,
    },

    /// A file-system operation failed; the message names the path.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The caller's key or token does not allow this call (HTTP 403); nothing was read or
    /// written.
    #[error("{0}")]
    Forbidden(#[from] crate::access::Denied),

    /// A bug or a broken invariant: a blocking task panicked, stored JSON did not parse, ….
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An invalid-argument error for `argument` with a reason in the house style.
    pub fn invalid(argument: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            argument: argument.into(),
            reason: reason.into(),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Error::Internal(format!("blocking task failed: {err}"))
    }
}

impl Error {
    /// A stable short name for the kind of failure: the `code` of HTTP JSON errors and the
    /// `outcome` label of metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } | Error::DuplicateContent { .. } => "invalid_argument",
            Error::NotFound { .. } | Error::ResourceNotFound { .. } => "not_found",
            Error::UnknownTool { .. } => "unknown_tool",
            Error::Timeout { .. } => "timeout",
            Error::Unavailable(_) => "unavailable",
            Error::Forbidden(_) => "forbidden",
            _ => "internal",
        }
    }
}

impl From<Error> for ErrorData {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        match err {
            Error::InvalidArgument { argument, .. } => {
                ErrorData::invalid_params(message, Some(json!({ "argument": argument })))
            }
            Error::NotFound { id, namespace } => ErrorData::resource_not_found(
                message,
                Some(json!({ "id": id, "namespace": namespace })),
            ),
            Error::ResourceNotFound { uri, .. } => {
                ErrorData::resource_not_found(message, Some(json!({ "uri": uri })))
            }
            Error::DuplicateContent {
                existing_id,
                namespace,
            } => ErrorData::invalid_params(
                message,
                Some(
                    json!({ "argument": "content", "existing_id": existing_id, "namespace": namespace }),
                ),
            ),
            Error::UnknownTool { name, known } => ErrorData::invalid_params(
                message,
                Some(json!({ "tool": name, "known_tools": known })),
            ),
            Error::Forbidden(denied) => ErrorData::new(
                FORBIDDEN,
                message,
                Some(json!({ "needed_scope": denied.needed.name() })),
            ),
            _ => ErrorData::internal_error(message, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ErrorCode;

    #[test]
    fn invalid_argument_maps_to_invalid_params_naming_the_argument() {
        let data: ErrorData = Error::invalid("limit", "must be from 1 to 100, got -1").into();
        assert_eq!(data.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(
            data.message,
            "invalid argument 'limit': must be from 1 to 100, got -1"
        );
        assert_eq!(data.data.unwrap()["argument"], "limit");
    }

    #[test]
    fn not_found_maps_to_resource_not_found() {
        let data: ErrorData = Error::NotFound {
            id: "x".into(),
            namespace: "default".into(),
        }
        .into();
        assert_eq!(data.code, ErrorCode::RESOURCE_NOT_FOUND);
        assert_eq!(data.message, "memory 'x' not found in namespace 'default'");
    }
}
