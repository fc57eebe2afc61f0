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

use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::sse;

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
            let response = request.send().await.map_err(|e| e.to_string())?;
            if let Some(issued) = response.headers().get(SESSION_HEADER)
                && let Ok(issued) = issued.to_str()
            {
                *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(issued.into());
            }
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                // memoryd's refusals are {"error": {"message"}}: pass the words on, not JSON.
                let said = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(String::from))
                    .unwrap_or_else(|| body.trim().to_string());
                return Err(format!("the daemon answered HTTP {status}: {said}"));
            }
            let streamed = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if streamed {
                let mut events = std::pin::pin!(sse::data_events(chunks(response)));
                while let Some(data) = events.next().await {
                    self.emit(&data.map_err(|e| e.to_string())?);
                }
            } else {
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                if !body.is_empty() {
                    self.emit(&String::from_utf8_lossy(&body));
                }
            }
            Ok::<(), String>(())
        }
        .await;
        let Err(failure) = result else {
            return;
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
                Ok(response) if response.status().is_success() => {
                    let mut events = std::pin::pin!(sse::data_events(chunks(response)));
                    loop {
                        let event = tokio::select! {
                            event = events.next() => event,
                            _ = stop.cancelled() => return,
                        };
                        match event {
                            Some(Ok(data)) => self.emit(&data),
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

/// A response body as a stream of chunks, for the SSE reader.
fn chunks(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, reqwest::Error>> {
    futures_util::stream::try_unfold(response, |mut response| async move {
        Ok(response.chunk().await?.map(|chunk| (chunk, response)))
    })
}
