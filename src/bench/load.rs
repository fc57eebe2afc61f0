//! A closed-loop load run: N clients, each sending its next request as soon as the previous
//! answer arrives, for a time or a number of requests.
//!
//! Closed loop means the offered load adapts to the server: throughput is what N callers that
//! wait for their answers get, and latency is not inflated by a queue the generator built
//! (the fixed-rate, open-loop view of a long run is `scripts/soak`). Clients connect (and
//! initialise their MCP sessions) before the clock starts, so setup is not measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Url;

use super::client::{Client, Failure, Transport};
use super::report::{Latency, LoadReport, Server, mib};
use super::workload::{Generator, Workload};
use crate::process;

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// After this long (requests in flight then are finished and counted).
    After(Duration),
    /// After this many requests in total, over all clients.
    Requests(u64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, `http://host:port/`.
    pub base: Url,
    /// Concurrent clients.
    pub clients: usize,
    /// When to stop.
    pub stop: Stop,
    /// Plain JSON or MCP sessions.
    pub transport: Transport,
    /// What to ask.
    pub workload: Workload,
    /// Bearer token, if the server wants one.
    pub token: Option<String>,
    /// Namespace argument for every call (the server's default otherwise).
    pub namespace: Option<String>,
    /// Spread clients over this many namespaces: client i writes and reads `{namespace}-{i % N}`
    /// (`bench-{i % N}` without a namespace), so writes in different namespaces can be timed.
    pub namespaces: Option<usize>,
    /// More servers of the same fleet: client i talks to `[base, more…][i % (1 + more)]`.
    pub more: Vec<Url>,
    /// The server's pid, to read its memory.
    pub pid: Option<u32>,
    /// Requests each client sends before the clock starts (not counted; a failure stops the
    /// run before it starts).
    pub warmup: u32,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A client could not connect, initialise its session, or get a warm-up call answered.
    #[error(
        "client {client} could not start ({kind}): {detail}\nis memoryd serve running at {url}? check --url, --token and the server's log"
    )]
    Setup {
        /// Which client.
        client: usize,
        /// The failure's kind.
        kind: String,
        /// What happened.
        detail: String,
        /// The server.
        url: String,
    },
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// The same latencies by kind of request (a mixed run's search under writes, say).
    by_op: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<String, u64>,
    first_error: BTreeMap<String, String>,
    requests: u64,
}

impl Tally {
    fn fail(&mut self, failure: Failure) {
        *self.errors.entry(failure.kind.clone()).or_default() += 1;
        self.first_error
            .entry(failure.kind)
            .or_insert(failure.detail);
    }
}

/// Runs the load and reports what it measured.
pub async fn run(options: Options) -> Result<LoadReport, LoadError> {
    let servers: Vec<&Url> = std::iter::once(&options.base)
        .chain(&options.more)
        .collect();
    let connects = (0..options.clients).map(|i| {
        let (base, transport, token) = (
            servers[i % servers.len()].clone(),
            options.transport,
            options.token.clone(),
        );
        async move { (i, Client::connect(&base, transport, token).await) }
    });
    let setup_failed = |client: usize, f: Failure| LoadError::Setup {
        client,
        kind: f.kind,
        detail: f.detail,
        url: options.base.to_string(),
    };
    let mut clients = Vec::with_capacity(options.clients);
    for (i, client) in futures_join_all(connects).await {
        clients.push(client.map_err(|f| setup_failed(i, f))?);
    }
    // Each run gets its own number, so stored contents never repeat across runs.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Warm-up: first calls pay one-time costs (the tokenizer's tables, the first bundle of a
    // cached run, connection setup) that are not what a run measures.
    let warmups = clients.into_iter().enumerate().map(|(i, mut client)| {
        let namespace = match options.namespaces {
            Some(n) => Some(format!(
                "{}-{}",
                options.namespace.as_deref().unwrap_or("bench"),
                i % n.max(1)
            )),
            None => options.namespace.clone(),
        };
        let mut generator = Generator::new(options.workload, namespace, run_id, i);
        let warmup = options.warmup;
        async move {
            for _ in 0..warmup {
                if let Err(f) = client.call(&generator.next_call()).await {
                    return (i, Err(f));
                }
            }
            (i, Ok((client, generator)))
        }
    });
    let mut ready = Vec::with_capacity(options.clients);
    for (i, warmed) in futures_join_all(warmups).await {
        ready.push(warmed.map_err(|f| setup_failed(i, f))?);
    }
    let rss_before = options.pid.and_then(process::rss_kib);
    let claimed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = match options.stop {
        Stop::After(d) => Some(start + d),
        Stop::Requests(_) => None,
    };
    let limit = match options.stop {
        Stop::Requests(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let mut tasks = Vec::with_capacity(ready.len());
    for (mut client, mut generator) in ready {
        let claimed = claimed.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d)
                    || claimed.fetch_add(1, Ordering::Relaxed) >= limit
                {
                    break;
                }
                let call = generator.next_call();
                let sent = Instant::now();
                let outcome = client.call(&call).await;
                let took = sent.elapsed();
                tally.requests += 1;
                match outcome {
                    Ok(()) => {
                        tally.latencies.push(took);
                        tally.by_op.entry(call.op.name()).or_default().push(took);
                    }
                    Err(failure) => tally.fail(failure),
                }
            }
            (client, tally)
        }));
    }
    let mut total = Tally::default();
    let mut finished = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok((client, tally)) => {
                finished.push(client);
                total.requests += tally.requests;
                total.latencies.extend(tally.latencies);
                for (op, samples) in tally.by_op {
                    total.by_op.entry(op).or_default().extend(samples);
                }
                for (kind, n) in tally.errors {
                    *total.errors.entry(kind).or_default() += n;
                }
                for (kind, detail) in tally.first_error {
                    total.first_error.entry(kind).or_insert(detail);
                }
            }
            Err(err) => total.fail(Failure {
                kind: "client panicked".into(),
                detail: err.to_string(),
            }),
        }
    }
    let elapsed = start.elapsed();
    let rss_after = options.pid.and_then(process::rss_kib);
    for client in finished {
        client.close().await;
    }
    let errors: u64 = total.errors.values().sum();
    Ok(LoadReport {
        url: options.base.to_string().trim_end_matches('/').to_string(),
        transport: options.transport,
        workload: options.workload,
        clients: options.clients,
        elapsed_seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        requests: total.requests,
        ok: total.latencies.len() as u64,
        errors,
        errors_by_kind: total.errors,
        first_error: total.first_error,
        throughput_rps: (total.requests as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0,
        latency_ms: Latency::of(&mut total.latencies),
        latency_by_op_ms: if total.by_op.len() > 1 {
            total
                .by_op
                .iter_mut()
                .filter_map(|(op, samples)| Some((op.to_string(), Latency::of(samples)?)))
                .collect()
        } else {
            BTreeMap::new()
        },
        server: options.pid.map(|pid| Server {
            pid,
            rss_mib_before: rss_before.map(mib),
            rss_mib_after: rss_after.map(mib),
        }),
    })
}

/// Awaits every future concurrently (connections are opened at once, not one by one).
async fn futures_join_all<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a connecting client panicked"));
    }
    out
}
