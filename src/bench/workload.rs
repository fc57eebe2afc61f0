//! What each request of a load run is, and what counts as a right answer to it.
//!
//! Requests are generated, not replayed: each client has its own seeded generator, so runs
//! are repeatable and clients do not send the same uncached request at the same moment (which
//! would measure the caches, not the work). Only `rehydrate-cached` repeats on purpose.

use serde::Serialize;
use serde_json::{Value, json};

use super::corpus::{Rng, Vocabulary};

/// The built-in roles that uncached rehydrates cycle through.
const ROLES: [&str; 4] = ["planner", "implementer", "researcher", "reviewer"];

/// The one task `rehydrate-cached` asks about, every time.
pub const CACHED_TASK: &str = "plan the next release of the ledger import pipeline";

/// A mix of requests a load run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// The same `rehydrate_memory` call every time: the cached-bundle path
    RehydrateCached,
    /// `rehydrate_memory` with a new task every time: retrieval, packing and embedding
    Rehydrate,
    /// `search_memory` (hybrid) with varied queries
    Search,
    /// `search_memory` in keyword mode (BM25 only, no embedding)
    SearchKeyword,
    /// `search_memory` in semantic mode (vectors only)
    SearchSemantic,
    /// `store_memory` with unique contents
    Store,
    /// 40% search, 25% cached rehydrate, 20% uncached rehydrate, 15% store
    Mixed,
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `rehydrate_memory` with [`CACHED_TASK`].
    RehydrateCached,
    /// `rehydrate_memory` with a fresh task.
    Rehydrate,
    /// `search_memory`, hybrid.
    Search,
    /// `search_memory`, keyword mode.
    SearchKeyword,
    /// `search_memory`, semantic mode.
    SearchSemantic,
    /// `store_memory`.
    Store,
}

impl Op {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Op::RehydrateCached => "rehydrate-cached",
            Op::Rehydrate => "rehydrate",
            Op::Search => "search",
            Op::SearchKeyword => "search-keyword",
            Op::SearchSemantic => "search-semantic",
            Op::Store => "store",
        }
    }
}

/// One tool call to send.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which kind of request, to check the answer.
    pub op: Op,
    /// The tool's name.
    pub tool: &'static str,
    /// The tool's arguments.
    pub arguments: Value,
}

/// The requests of one client.
#[derive(Debug, Clone)]
pub struct Generator {
    workload: Workload,
    vocabulary: Vocabulary,
    rng: Rng,
    namespace: Option<String>,
    /// Makes stored contents unique across runs against the same server.
    run: u64,
    client: usize,
    sent: u64,
}

impl Generator {
    /// The generator of client number `client` of run `run` (any number unique to the run).
    pub fn new(workload: Workload, namespace: Option<String>, run: u64, client: usize) -> Self {
        let mut rng = Rng::new(run ^ (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let vocabulary = Vocabulary::new(&mut Rng::new(super::corpus::DEFAULT_SEED));
        rng.next_u64();
        Generator {
            workload,
            vocabulary,
            rng,
            namespace,
            run,
            client,
            sent: 0,
        }
    }

    /// The next request.
    pub fn next_call(&mut self) -> Call {
        self.sent += 1;
        let op = match self.workload {
            Workload::RehydrateCached => Op::RehydrateCached,
            Workload::Rehydrate => Op::Rehydrate,
            Workload::Search => Op::Search,
            Workload::SearchKeyword => Op::SearchKeyword,
            Workload::SearchSemantic => Op::SearchSemantic,
            Workload::Store => Op::Store,
            Workload::Mixed => match self.rng.below(100) {
                0..40 => Op::Search,
                40..65 => Op::RehydrateCached,
                65..85 => Op::Rehydrate,
                _ => Op::Store,
            },
        };
        let mut arguments = match op {
            Op::RehydrateCached => json!({"role": "planner", "task": CACHED_TASK}),
            Op::Rehydrate => {
                let n = 6 + self.rng.below(8);
                let role = ROLES[self.rng.below(ROLES.len())];
                let task = format!(
                    "{} (client {} step {})",
                    self.vocabulary.phrase(&mut self.rng, n),
                    self.client,
                    self.sent
                );
                json!({"role": role, "task": task})
            }
            Op::Search | Op::SearchKeyword | Op::SearchSemantic => {
                let n = 3 + self.rng.below(5);
                let mode = match op {
                    Op::SearchKeyword => "keyword",
                    Op::SearchSemantic => "semantic",
                    _ => "hybrid",
                };
                json!({"query": self.vocabulary.phrase(&mut self.rng, n), "limit": 10, "mode": mode})
            }
            Op::Store => {
                let n = 12 + self.rng.below(30);
                let content = format!(
                    "{}. Load run {:x} client {} write {}.",
                    self.vocabulary.phrase(&mut self.rng, n),
                    self.run,
                    self.client,
                    self.sent
                );
                json!({"content": content, "kind": "note", "tags": ["bench-load"]})
            }
        };
        if let Some(ns) = &self.namespace {
            arguments["namespace"] = json!(ns);
        }
        let tool = match op {
            Op::RehydrateCached | Op::Rehydrate => "rehydrate_memory",
            Op::Search | Op::SearchKeyword | Op::SearchSemantic => "search_memory",
            Op::Store => "store_memory",
        };
        Call {
            op,
            tool,
            arguments,
        }
    }
}

/// Checks a tool's structured output for the request it answers; the reason when it is wrong.
pub fn check(op: Op, output: &Value) -> Result<(), String> {
    let ok = match op {
        Op::RehydrateCached | Op::Rehydrate => {
            output["text"].is_string() && output["meta"].is_object()
        }
        Op::Search | Op::SearchKeyword | Op::SearchSemantic => output["hits"].is_array(),
        Op::Store => output["id"].as_str().is_some_and(|id| !id.is_empty()),
    };
    if ok {
        Ok(())
    } else {
        let mut shown = output.to_string();
        shown.truncate(200);
        Err(format!("unexpected output for {op:?}: {shown}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncached_requests_differ_and_cached_ones_repeat() {
        let mut g = Generator::new(Workload::Rehydrate, None, 1, 0);
        let a = g.next_call().arguments;
        let b = g.next_call().arguments;
        assert_ne!(a["task"], b["task"]);
        let mut g = Generator::new(Workload::RehydrateCached, Some("bench".into()), 1, 0);
        let a = g.next_call().arguments;
        assert_eq!(a, g.next_call().arguments);
        assert_eq!(a["namespace"], "bench");
    }

    #[test]
    fn clients_store_different_contents() {
        let a = Generator::new(Workload::Store, None, 9, 0).next_call();
        let b = Generator::new(Workload::Store, None, 9, 1).next_call();
        assert_ne!(a.arguments["content"], b.arguments["content"]);
    }

    #[test]
    fn mixed_sends_every_kind() {
        let mut g = Generator::new(Workload::Mixed, None, 3, 0);
        let ops: Vec<Op> = (0..200).map(|_| g.next_call().op).collect();
        for op in [Op::Search, Op::RehydrateCached, Op::Rehydrate, Op::Store] {
            assert!(ops.contains(&op), "{op:?} never sent");
        }
    }

    #[test]
    fn answers_are_checked() {
        assert!(check(Op::Search, &json!({"hits": []})).is_ok());
        assert!(check(Op::Search, &json!({"error": {}})).is_err());
        assert!(check(Op::Store, &json!({"id": ""})).is_err());
        assert!(check(Op::Rehydrate, &json!({"text": "x", "meta": {}})).is_ok());
    }
}
