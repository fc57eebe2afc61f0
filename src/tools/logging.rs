//! MCP logging: the log messages a session asked for about its own calls, and
//! `logging/setLevel`. The level itself is the session's state ([`Session`](super::session::Session));
//! the server's own logs go to `tracing`, never here.

#[allow(deprecated)]
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::{Peer, RoleServer};
use serde_json::Value;

use super::MemoryServer;

impl MemoryServer {
    /// Sends a log message about this session's own call, if it asked for that level; the
    /// message is built only then (most sessions never ask).
    #[allow(deprecated)]
    pub(super) async fn log(
        &self,
        peer: &Peer<RoleServer>,
        level: LoggingLevel,
        data: impl FnOnce() -> Value,
    ) {
        if self.session.wants(level) {
            let message =
                LoggingMessageNotificationParam::new(level, data()).with_logger("memoryd");
            // A client that went away cannot be told; its call has been answered already.
            let _ = peer.notify_logging_message(message).await;
        }
    }

    /// Answers `logging/setLevel`: this session's messages from `level` up.
    #[allow(deprecated)]
    pub(super) fn on_set_level(&self, request: SetLevelRequestParams) {
        self.session.set_level(request.level);
    }
}
