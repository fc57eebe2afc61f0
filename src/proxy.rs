//! Forwarding MCP from stdin/stdout to a running daemon over Streamable HTTP.
//!
//! When a daemon serves the data dir, `memoryd stdio` becomes this thin shim instead of
//! opening the database and loading the model: each JSON-RPC line read from stdin is POSTed to
//! the daemon's `/mcp` (with `Accept: application/json, text/event-stream`, the session's
//! `Mcp-Session-Id` once `initialize` issued one, and `Authorization: Bearer` when a token is
//! configured), and every message in the reply, plain JSON or an SSE stream, is written to
//! stdout as one line. Requests run concurrently, as they do in a standalone `memoryd stdio`.
//! stdout carries the protocol only; problems are logged on stderr and, for a request, answered
//! with a JSON-RPC error so the client is not left waiting. Once the session exists, a `GET
//! /mcp` stream carries what the daemon sends on its own (log messages, resource updates) to
//! stdout too. This module owns no tools and no database.

use std::sync::{Arc, Mutex};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// The header carrying the session id.
const SESSION_HEADER: &str = "mcp-session-id";
/// JSON-RPC "internal error", for requests the daemon could not answer.
const INTERNAL_ERROR: i64 = -32603;
/// JSON-RPC "parse error", for lines that are not JSON.
const PARSE_ERROR: i64 = -32700;

/// The shared state of one forwarding session.
struct Shim {
    /// HTTP client with the fixed headers (Accept, Content-Type, Authorization).
    http: reqwest::Client,
    /// The daemon's `/mcp` URL.
    url: String,
    /// The `Mcp-Session-Id` the daemon issued at `initialize`. A std mutex: held only to copy
    /// or set the value, never across an `.await`.
    session: Mutex<Option<String>>,
    /// Lines for the stdout writer task.
    out: mpsc::UnboundedSender<String>,
}

/// Forwards stdin to the daemon at `url` until stdin closes or `stop` is cancelled, then ends
/// the HTTP session.
pub async fn run(url: String, token: Option<String>, stop: CancellationToken) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::invalid("token", "must be printable ASCII"))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        // The daemon is plain HTTP on loopback: loading the system's root certificates would
        // only cost memory.
        .tls_built_in_root_certs(false)
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(mut line) = lines.recv().await {
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let shim = Arc::new(Shim {
        http,
        url,
        session: Mutex::new(None),
        out,
    });

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut in_flight = JoinSet::new();
    let listening = stop.child_token();
    let mut listener = None;
    loop {
        let line = tokio::select! {
            line = stdin.next_line() => line,
            _ = stop.cancelled() => break,
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(%err, "cannot read stdin");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(m) => m,
            Err(err) => {
                shim.reply_error(&Value::Null, PARSE_ERROR, format!("parse error: {err}"));
                continue;
            }
        };
        if message.get("method").and_then(Value::as_str) == Some("initialize") {
            // Everything after `initialize` needs the session id it returns.
            shim.forward(message).await;
            if listener.is_none() {
                listener = Some(tokio::spawn(shim.clone().listen(listening.clone())));
            }
        } else {
            let shim = shim.clone();
            in_flight.spawn(async move { shim.forward(message).await });
        }
        // Reap finished calls so the set does not grow for the life of the session.
        while in_flight.try_join_next().is_some() {}
    }
    // stdin closed: let the calls already sent finish, then end the session.
    while in_flight.join_next().await.is_some() {}
    listening.cancel();
    if let Some(listener) = listener {
        let _ = listener.await;
    }
    shim.end_session().await;
    drop(shim);
    let _ = writer.await;
    Ok(())
}

impl Shim {
    /// POSTs one message and writes every message of the reply to stdout.
    async fn forward(&self, message: Value) {
        let id = message.get("id").cloned();
        let is_request = message.get("method").is_some() && id.is_some();
        let session = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut request = self.http.post(&self.url).body(message.to_string());
        if let Some(session) = &session {
            request = request.header(SESSION_HEADER, session);
        }
        let result = async {
            let mut response = request.send().await?;
            if let Some(issued) = response.headers().get(SESSION_HEADER)
                && let Ok(issued) = issued.to_str()
            {
                *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(issued.into());
            }
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Ok(Err(format!("HTTP {status}: {}", body.trim())));
            }
            let sse = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            let mut events = SseDecoder::default();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if sse {
                    for data in events.push(&chunk) {
                        self.emit(&data);
                    }
                } else {
                    body.extend_from_slice(&chunk);
                }
            }
            if !sse && !body.is_empty() {
                self.emit(&String::from_utf8_lossy(&body));
            }
            Ok::<_, reqwest::Error>(Ok(()))
        }
        .await;
        let failure = match result {
            Ok(Ok(())) => return,
            Ok(Err(http)) => http,
            Err(err) => format!("{err}"),
        };
        tracing::warn!(url = %self.url, error = %failure, "the daemon did not answer a message");
        if let (true, Some(id)) = (is_request, id) {
            self.reply_error(
                &id,
                INTERNAL_ERROR,
                format!(
                    "the memoryd daemon at {} did not answer: {failure}\ncheck that it is running ('memoryd doctor'), then restart this MCP server",
                    self.url
                ),
            );
        }
    }

    /// Copies the session's `GET /mcp` stream (what the daemon sends unasked: log messages,
    /// resource updates) to stdout until `stop`, reopening it when it drops.
    async fn listen(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let session = self
                .session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let Some(session) = session else {
                return;
            };
            let request = self
                .http
                .get(&self.url)
                .header(ACCEPT, "text/event-stream")
                .header(SESSION_HEADER, session);
            let response = tokio::select! {
                response = request.send() => response,
                _ = stop.cancelled() => return,
            };
            match response {
                Ok(mut response) if response.status().is_success() => {
                    let mut events = SseDecoder::default();
                    loop {
                        let chunk = tokio::select! {
                            chunk = response.chunk() => chunk,
                            _ = stop.cancelled() => return,
                        };
                        match chunk {
                            Ok(Some(chunk)) => {
                                for data in events.push(&chunk) {
                                    self.emit(&data);
                                }
                            }
                            _ => break,
                        }
                    }
                }
                // A stateless daemon has no stream to offer: nothing will come unasked.
                Ok(response) if response.status() == reqwest::StatusCode::METHOD_NOT_ALLOWED => {
                    return;
                }
                Ok(response) => {
                    tracing::debug!(status = %response.status(), "the daemon refused the event stream");
                }
                Err(err) => tracing::debug!(%err, "the daemon's event stream failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Writes one JSON message (as received) to stdout, on one line.
    fn emit(&self, data: &str) {
        match serde_json::from_str::<Value>(data) {
            Ok(v) => {
                let _ = self.out.send(v.to_string());
            }
            Err(err) => tracing::warn!(%err, "the daemon sent a message that is not JSON"),
        }
    }

    /// Answers request `id` with a JSON-RPC error.
    fn reply_error(&self, id: &Value, code: i64, message: String) {
        let reply =
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
        let _ = self.out.send(reply.to_string());
    }

    /// Ends the HTTP session with DELETE, so the daemon frees it at once.
    async fn end_session(&self) {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(session) = session {
            let _ = self
                .http
                .delete(&self.url)
                .header(SESSION_HEADER, session)
                .send()
                .await;
        }
    }
}

/// Turns a server-sent-events byte stream into the `data` of each event.
#[derive(Default)]
struct SseDecoder {
    /// Bytes of a line not yet ended.
    pending: Vec<u8>,
    /// `data:` lines of the event being read.
    data: Vec<String>,
}

impl SseDecoder {
    /// Feeds bytes; returns the data of every event they completed (events without data, such
    /// as a `retry:` priming event, are skipped).
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                let data = self.data.join("\n");
                self.data.clear();
                // rmcp primes each stream with an event whose data is empty.
                if !data.trim().is_empty() {
                    events.push(data);
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data
                    .push(value.strip_prefix(' ').unwrap_or(value).to_string());
            }
            // `id:`, `event:`, `retry:` and comments carry nothing the client needs.
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut d = SseDecoder::default();
        assert!(d.push(b"id: 0\nretry: 3000\ndata:\n\n").is_empty());
        assert!(d.push(b"data: {\"a\":").is_empty());
        assert_eq!(d.push(b"1}\r\n\r\ndata: 2\n"), vec!["{\"a\":1}"]);
        assert_eq!(d.push(b"\n"), vec!["2"]);
        assert!(d.push(b": comment\n\n").is_empty());
    }
}
