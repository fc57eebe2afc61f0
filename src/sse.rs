//! Reading server-sent events: the one place memoryd parses an SSE stream.
//!
//! MCP Streamable HTTP answers a POST with plain JSON or an SSE stream, and a session's
//! `GET /mcp` is an SSE stream. The parsing itself is `sse-stream`'s (rmcp's own parser);
//! this module only adapts it to the three shapes callers have: an async byte stream (the
//! stdio shim reading the daemon), a body already read whole (the load generator), and a
//! blocking reader (tests that watch a stream on a thread). It never writes SSE.

use std::io::Read;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use sse_stream::SseStream;

/// The `data` of each event of an SSE byte stream, as it arrives. Events without data (such
/// as rmcp's priming event, which has an empty `data:` and a `retry:`) are skipped; a stream
/// that breaks mid-way ends with its error.
pub fn data_events<S, E>(bytes: S) -> impl Stream<Item = Result<String, sse_stream::Error>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    SseStream::from_bytes_stream(bytes).filter_map(|event| async move {
        match event {
            Ok(event) => with_data(event).map(Ok),
            Err(err) => Some(Err(err)),
        }
    })
}

/// The `data` of each event in a body that has been read whole.
pub fn data_of(body: &[u8]) -> Vec<String> {
    let chunk = Bytes::copy_from_slice(body);
    let bytes = futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)]);
    let mut events = Box::pin(data_events(bytes));
    let mut found = Vec::new();
    // Every chunk is already here, so each poll is ready: no runtime needed.
    while let Some(Some(Ok(data))) = events.next().now_or_never() {
        found.push(data);
    }
    found
}

/// The `data` of each event read from a blocking reader, as it arrives (each `next` blocks
/// until an event is complete); ends when the reader ends or fails.
pub fn blocking_data<R: Read>(mut reader: R) -> impl Iterator<Item = String> {
    let chunks = std::iter::from_fn(move || {
        let mut buf = vec![0u8; 8192];
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok::<_, std::io::Error>(Bytes::from(buf)))
            }
        }
    });
    // The iterator blocks inside `next`, so the stream's poll is always ready once it returns.
    let mut events = Box::pin(data_events(futures_util::stream::iter(chunks)));
    std::iter::from_fn(move || match events.next().now_or_never() {
        Some(Some(Ok(data))) => Some(data),
        _ => None,
    })
}

fn with_data(event: sse_stream::Sse) -> Option<String> {
    event.data.filter(|data| !data.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_empty_events_are_skipped() {
        let chunks = [
            &b"id: 0\nretry: 3000\ndata:\n\n"[..],
            b"data: {\"a\":",
            b"1}\r\n\r\ndata: 2\n",
            b"\n",
            b": comment\n\n",
            b"data: line one\ndata: line two\n\n",
        ];
        let reader = std::io::Read::chain(
            std::io::Cursor::new(chunks[..3].concat()),
            std::io::Cursor::new(chunks[3..].concat()),
        );
        let seen: Vec<String> = blocking_data(reader).collect();
        assert_eq!(seen, ["{\"a\":1}", "2", "line one\nline two"]);
        assert_eq!(data_of(&chunks.concat()), seen);
    }

    #[test]
    fn a_body_without_events_has_no_data() {
        assert!(data_of(b"").is_empty());
        assert!(data_of(b": keep-alive\n\n").is_empty());
    }

    #[tokio::test]
    async fn an_async_stream_yields_events_as_chunks_arrive() {
        let chunks = ["data: {\"id\":1}\n", "\ndata: {\"id\":", "2}\n\n"]
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
        let seen: Vec<String> = data_events(futures_util::stream::iter(chunks))
            .map(|e| e.unwrap())
            .collect()
            .await;
        assert_eq!(seen, ["{\"id\":1}", "{\"id\":2}"]);
    }
}
