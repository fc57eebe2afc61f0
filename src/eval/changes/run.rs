//! Asking the loaded scenario: every query of every pair through `search_memory` (limit 10,
//! in the mode asked) and through `rehydrate_memory` (role `general`, the query as the task,
//! the role's budget), as an agent's calls go; each answer placed and tallied.

use super::load::{Pair, Scenario};
use super::score::{Placement, Tally};
use crate::app::App;
use crate::eval::EvalError;
use crate::retrieve::SearchMode;
use crate::tools::rehydrate_memory::{self, RehydrateArgs};
use crate::tools::search_memory::{self, SearchArgs};

/// Hits asked of `search_memory`: the old memory counts only within these.
pub const SEARCH_LIMIT: usize = 10;

/// The role whose bundle is read.
pub const ROLE: &str = "general";

/// The outcome of one tool over every query.
#[derive(Debug)]
pub struct Outcome {
    /// The counts.
    pub tally: Tally,
    /// The ranking the tool reported it used.
    pub mode: SearchMode,
    /// Median time of one call, ms.
    pub p50_ms: f64,
    /// One JSON line per query: its id, the tool, the mode and both ranks, for `--results`.
    pub lines: Vec<String>,
}

/// Every query with its id (`fc-NNN:qN`) and the pair it asks about.
fn queries<'a>(scenario: &'a Scenario) -> impl Iterator<Item = (String, &'a str, &'a Pair)> + 'a {
    scenario.pairs.iter().flat_map(|pair| {
        pair.change
            .queries
            .iter()
            .enumerate()
            .map(move |(j, q)| (format!("{}:q{}", pair.change.id, j + 1), q.as_str(), pair))
    })
}

/// Collects the outcome of one tool from each query's placement and time.
struct Collect {
    tool: &'static str,
    outcome: Outcome,
    latencies: Vec<f64>,
}

impl Collect {
    fn new(tool: &'static str, mode: SearchMode) -> Collect {
        Collect {
            tool,
            outcome: Outcome {
                tally: Tally::default(),
                mode,
                p50_ms: 0.0,
                lines: Vec::new(),
            },
            latencies: Vec::new(),
        }
    }

    fn add(&mut self, qid: &str, placement: Placement, mode: SearchMode, ms: f64) {
        self.outcome.tally.add(placement);
        self.outcome.mode = mode;
        self.latencies.push(ms);
        let line = serde_json::json!({
            "qid": qid, "tool": self.tool, "mode": mode,
            "old_rank": placement.old, "new_rank": placement.new,
            "old_above_new": placement.old_above_new(),
        });
        self.outcome.lines.push(line.to_string());
    }

    fn finish(mut self) -> Outcome {
        self.latencies.sort_by(f64::total_cmp);
        self.outcome.p50_ms = self
            .latencies
            .get(self.latencies.len() / 2)
            .copied()
            .unwrap_or(0.0);
        self.outcome
    }
}

/// Runs every query through `search_memory` in `mode`, limit [`SEARCH_LIMIT`].
pub async fn search(
    app: &App,
    scenario: &Scenario,
    mode: SearchMode,
) -> Result<Outcome, EvalError> {
    let mut collect = Collect::new("search", mode);
    for (qid, query, pair) in queries(scenario) {
        let started = std::time::Instant::now();
        let out = search_memory::run(
            app,
            SearchArgs {
                query: query.to_string(),
                limit: Some(SEARCH_LIMIT as i64),
                mode: Some(mode),
                namespace: Some(scenario.namespace.clone()),
                ..SearchArgs::default()
            },
        )
        .await
        .map_err(|source| EvalError::Query {
            qid: qid.clone(),
            source,
        })?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let ranked: Vec<String> = out.hits.into_iter().map(|h| h.id).collect();
        let placement = Placement::of(&ranked, SEARCH_LIMIT, &pair.old_id, &pair.new_id);
        collect.add(&qid, placement, out.mode, ms);
    }
    Ok(collect.finish())
}

/// Runs every query through `rehydrate_memory` as the task of role [`ROLE`], with the role's
/// budget and limit; a memory counts when it is anywhere in the bundle (pins or evidence).
pub async fn rehydrate(app: &App, scenario: &Scenario) -> Result<Outcome, EvalError> {
    let mut collect = Collect::new("rehydrate", SearchMode::Hybrid);
    for (qid, query, pair) in queries(scenario) {
        let started = std::time::Instant::now();
        let bundle = rehydrate_memory::run(
            app,
            RehydrateArgs {
                role: ROLE.to_string(),
                task: query.to_string(),
                namespace: Some(scenario.namespace.clone()),
                ..RehydrateArgs::default()
            },
        )
        .await
        .map_err(|source| EvalError::Query {
            qid: qid.clone(),
            source,
        })?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let items: Vec<String> = bundle
            .sections
            .iter()
            .flat_map(|s| s.items.iter().map(|i| i.id.clone()))
            .collect();
        let placement = Placement::of(&items, items.len(), &pair.old_id, &pair.new_id);
        collect.add(&qid, placement, bundle.meta.retrieval_mode, ms);
    }
    Ok(collect.finish())
}
