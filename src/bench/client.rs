//! One load client: one HTTP connection to the server, speaking plain JSON
//! (`POST /mcp/tools/call`) or MCP Streamable HTTP (`POST /mcp` in a session).
//!
//! The MCP client does what an agent's SDK does: `initialize`, the `notifications/initialized`
//! notification, then `tools/call` requests carrying `Mcp-Session-Id`, reading the answer from
//! a JSON body or the events of an SSE stream. Every answer is checked; a failure comes
//! back as a [`Failure`] whose kind the report counts.

use std::time::Duration;

use reqwest::{StatusCode, Url, header};
use serde::Serialize;
use serde_json::{Value, json};

use super::workload::{self, Call};

/// How long one request may take before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The protocol version sent in `initialize`.
const PROTOCOL_VERSION: &str = "2025-06-18";

/// How the clients talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Plain JSON: `POST /mcp/tools/call`
    Json,
    /// MCP Streamable HTTP: one session per client on `POST /mcp`
    Mcp,
}

/// A request that did not get a right answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A short, bounded label: `connect`, `timeout`, `http 503`, `tool error`, `rpc error`,
    /// `bad answer`, `transport`.
    pub kind: String,
    /// What happened, for the first failure of each kind in the report.
    pub detail: String,
}

impl Failure {
    fn new(kind: impl Into<String>, detail: impl Into<String>) -> Failure {
        let mut detail = detail.into();
        if detail.len() > 300 {
            let mut cut = 300;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        Failure {
            kind: kind.into(),
            detail,
        }
    }

    fn from_reqwest(err: &reqwest::Error) -> Failure {
        let kind = if err.is_timeout() {
            "timeout"
        } else if err.is_connect() {
            "connect"
        } else {
            "transport"
        };
        // The source chain says why (connection refused, reset, ...).
        let mut detail = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        Failure::new(kind, detail)
    }
}

/// One client with its own connection (and MCP session).
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    transport: Transport,
    /// `/mcp/tools/call` or `/mcp`.
    endpoint: Url,
    token: Option<String>,
    /// The MCP session, once initialised.
    session: Option<String>,
    next_id: u64,
}

impl Client {
    /// Opens a client against the server at `base` (`http://host:port`); for MCP, initialises
    /// a session.
    pub async fn connect(
        base: &Url,
        transport: Transport,
        token: Option<String>,
    ) -> Result<Client, Failure> {
        let http = reqwest::Client::builder()
            // One connection per client: a closed loop never needs a second one.
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Failure::new("transport", e.to_string()))?;
        let path = match transport {
            Transport::Json => "mcp/tools/call",
            Transport::Mcp => "mcp",
        };
        let endpoint = base
            .join(path)
            .map_err(|e| Failure::new("transport", e.to_string()))?;
        let mut client = Client {
            http,
            transport,
            endpoint,
            token,
            session: None,
            next_id: 1,
        };
        if transport == Transport::Mcp {
            client.initialize().await?;
        }
        Ok(client)
    }

    fn post(&self, body: String) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(self.endpoint.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if self.transport == Transport::Mcp {
            req = req.header(header::ACCEPT, "application/json, text/event-stream");
        }
        if let Some(session) = &self.session {
            req = req.header("Mcp-Session-Id", session);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn initialize(&mut self) -> Result<(), Failure> {
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "memoryd-bench", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let resp = self
            .post(init.to_string())
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let message = rpc_response(resp, 0).await?;
        if message.get("result").is_none() {
            return Err(Failure::new("rpc error", format!("initialize: {message}")));
        }
        self.session = Some(session.ok_or_else(|| {
            Failure::new(
                "bad answer",
                "the initialize answer carried no Mcp-Session-Id",
            )
        })?);
        let ack = self
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if ack.status() != StatusCode::ACCEPTED {
            return Err(Failure::new(
                format!("http {}", ack.status().as_u16()),
                "notifications/initialized was not accepted",
            ));
        }
        Ok(())
    }

    /// Sends one tool call and checks the answer.
    pub async fn call(&mut self, call: &Call) -> Result<(), Failure> {
        let output = match self.transport {
            Transport::Json => {
                let body = json!({"name": call.tool, "arguments": call.arguments}).to_string();
                let resp = self
                    .post(body)
                    .send()
                    .await
                    .map_err(|e| Failure::from_reqwest(&e))?;
                let status = resp.status();
                let bytes = resp.bytes().await.map_err(|e| Failure::from_reqwest(&e))?;
                if status != StatusCode::OK {
                    return Err(Failure::new(
                        format!("http {}", status.as_u16()),
                        String::from_utf8_lossy(&bytes),
                    ));
                }
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| Failure::new("bad answer", format!("not JSON: {e}")))?;
                if value.get("error").is_some() {
                    return Err(Failure::new("tool error", value.to_string()));
                }
                value
            }
            Transport::Mcp => {
                let id = self.next_id;
                self.next_id += 1;
                let body = json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": call.tool, "arguments": call.arguments}
                })
                .to_string();
                let resp = self
                    .post(body)
                    .send()
                    .await
                    .map_err(|e| Failure::from_reqwest(&e))?;
                let mut message = rpc_response(resp, id).await?;
                if let Some(err) = message.get("error") {
                    return Err(Failure::new("rpc error", err.to_string()));
                }
                let mut result = message["result"].take();
                if result["isError"] == json!(true) {
                    return Err(Failure::new("tool error", result.to_string()));
                }
                result["structuredContent"].take()
            }
        };
        workload::check(call.op, &output).map_err(|reason| Failure::new("bad answer", reason))
    }

    /// Ends the MCP session (a no-op for plain JSON); failures are ignored, the run is over.
    pub async fn close(self) {
        if let Some(session) = &self.session {
            let mut req = self
                .http
                .delete(self.endpoint.clone())
                .header("Mcp-Session-Id", session);
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            let _ = req.send().await;
        }
    }
}

/// The JSON-RPC response with `id` from an MCP reply: a JSON body or an SSE stream.
async fn rpc_response(resp: reqwest::Response, id: u64) -> Result<Value, Failure> {
    let status = resp.status();
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let text = resp.text().await.map_err(|e| Failure::from_reqwest(&e))?;
    if status != StatusCode::OK {
        return Err(Failure::new(format!("http {}", status.as_u16()), text));
    }
    let parse = |data: &str| serde_json::from_str::<Value>(data).ok();
    let found = if sse {
        crate::sse::data_of(text.as_bytes())
            .iter()
            .filter_map(|d| parse(d))
            .find(|m| m["id"] == json!(id))
    } else {
        parse(&text).filter(|m| m["id"] == json!(id))
    };
    found.ok_or_else(|| Failure::new("bad answer", format!("no response with id {id}: {text}")))
}
