//! The runtime file, `DATA_DIR/memoryd.json`: which process serves a data dir, and where.
//!
//! `memoryd serve` writes it once its listener is bound and removes it when it stops;
//! `memoryd stdio` reads it to forward to that daemon instead of opening the database itself,
//! and `doctor` and `service status` read it to report on the daemon. A file left behind by a
//! killed process is recognised as stale (its pid is gone, or nothing answers at its URL) and
//! ignored. This module does not bind or serve.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file name inside the data directory.
pub const RUNTIME_FILE: &str = "memoryd.json";

/// How long a liveness probe waits for the daemon to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a running `memoryd serve` says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    /// Process id of the server.
    pub pid: u32,
    /// The MCP endpoint, `http://ADDR:PORT/mcp`.
    pub url: String,
    /// The port it listens on (after any fallback).
    pub port: u16,
    /// The address it listens on.
    pub bind: IpAddr,
    /// memoryd version of the server.
    pub version: String,
    /// The data directory it serves.
    pub data_dir: PathBuf,
    /// When it started listening (RFC 3339, UTC).
    pub started_at: String,
}

impl Runtime {
    /// The runtime file of `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(RUNTIME_FILE)
    }

    /// The runtime file of `data_dir`, if there is one that parses.
    pub fn read(data_dir: &Path) -> Option<Runtime> {
        let text = std::fs::read_to_string(Self::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the file atomically (a temp file renamed over it), so a reader never sees half.
    pub fn write(&self) -> Result<()> {
        let path = Self::path(&self.data_dir);
        let io = |source| Error::Io {
            context: format!("cannot write runtime file {}", path.display()),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&self.data_dir).map_err(io)?;
        serde_json::to_writer_pretty(&mut tmp, self)
            .map_err(|e| Error::Internal(format!("cannot encode runtime file: {e}")))?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Removes the runtime file of `data_dir` if it still names process `pid` (a newer
    /// server's file is left alone).
    pub fn remove_if_owned(data_dir: &Path, pid: u32) {
        if Self::read(data_dir).is_some_and(|r| r.pid == pid) {
            let _ = std::fs::remove_file(Self::path(data_dir));
        }
    }

    /// The base URL without `/mcp`.
    pub fn base_url(&self) -> &str {
        self.url.trim_end_matches("/mcp")
    }

    /// Whether the process named in the file still exists.
    pub fn process_alive(&self) -> bool {
        process_alive(self.pid)
    }

    /// Whether a memoryd server answers at the file's URL: a read-only tool call through the
    /// plain JSON endpoint must succeed, so a reused port held by something else does not
    /// count.
    pub async fn answers(&self, token: Option<&str>) -> bool {
        let Ok(client) = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .tls_built_in_root_certs(false)
            .build()
        else {
            return false;
        };
        let mut request = client
            .post(format!("{}/mcp/tools/call", self.base_url()))
            .header("Content-Type", "application/json")
            .body(r#"{"name":"list_memories","arguments":{"limit":1}}"#);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        // A key without the default namespace is refused the probe (403) by a daemon that
        // is up all the same.
        matches!(request.send().await,
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::FORBIDDEN)
    }
}

/// The daemon serving `data_dir`, if its runtime file exists, its process is alive and it
/// answers.
pub async fn running_daemon(data_dir: &Path, token: Option<&str>) -> Option<Runtime> {
    let runtime = Runtime::read(data_dir)?;
    if !runtime.process_alive() || !runtime.answers(token).await {
        return None;
    }
    Some(runtime)
}

/// Whether a process with this pid exists (it may belong to another user).
#[cfg(unix)]
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a process with this pid exists.
#[cfg(not(unix))]
pub fn process_alive(_pid: u32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_and_remove_only_our_own() {
        let dir = tempfile::tempdir().unwrap();
        let r = Runtime {
            pid: std::process::id(),
            url: "http://127.0.0.1:3001/mcp".into(),
            port: 3001,
            bind: "127.0.0.1".parse().unwrap(),
            version: "0.1.0".into(),
            data_dir: dir.path().to_path_buf(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
        };
        r.write().unwrap();
        assert_eq!(Runtime::read(dir.path()), Some(r.clone()));
        assert!(r.process_alive());
        assert_eq!(r.base_url(), "http://127.0.0.1:3001");
        Runtime::remove_if_owned(dir.path(), r.pid + 1);
        assert!(
            Runtime::read(dir.path()).is_some(),
            "another pid's file stays"
        );
        Runtime::remove_if_owned(dir.path(), r.pid);
        assert!(Runtime::read(dir.path()).is_none());
    }
}
