//! Running a loaded set: every query through `search_memory` as an agent's call would go,
//! scored per group and overall, with the ranked ids in `score.py`'s format; and the dump of
//! both candidate lists per query, to study fusion offline.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::EvalError;
use super::dataset::Loaded;
use super::score::{Scores, score_one};
use crate::app::App;
use crate::retrieve::SearchMode;
use crate::store::Filter;
use crate::tools::search_memory::{self, SearchArgs};

/// Ranked ids kept per query (score.py wants 20 or more).
const DEPTH: usize = 20;

/// The outcome of one set in one mode.
pub struct Run {
    /// Scores per conversation (one group, `""`, for the project set).
    pub groups: BTreeMap<String, Scores>,
    /// Scores over every query.
    pub all: Scores,
    /// Median time of one query, ms.
    pub p50_ms: f64,
    /// One `{"qid", "ranked_ids"}` line per query, for `--results`.
    pub lines: Vec<String>,
}

/// Runs every query of `loaded` in `mode`.
pub async fn score(app: &App, loaded: &Loaded, mode: SearchMode) -> Result<Run, EvalError> {
    let mut groups: BTreeMap<String, Scores> = BTreeMap::new();
    let mut all = Scores::default();
    let mut lines = Vec::with_capacity(loaded.queries.len());
    let mut latencies = Vec::with_capacity(loaded.queries.len());
    for (q, namespace) in &loaded.queries {
        let started = std::time::Instant::now();
        let out = search_memory::run(
            app,
            SearchArgs {
                query: q.query.clone(),
                limit: Some(DEPTH as i64),
                mode: Some(mode),
                namespace: Some(namespace.clone()),
                ..SearchArgs::default()
            },
        )
        .await
        .map_err(|source| EvalError::Query {
            qid: q.qid.clone(),
            source,
        })?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let ranked: Vec<String> = out
            .hits
            .iter()
            .filter_map(|h| loaded.labels.get(&h.id).cloned())
            .collect();
        let (recall, rr) = score_one(&q.relevant_ids, &ranked);
        all.add(recall, rr);
        groups
            .entry(q.conversation.clone())
            .or_default()
            .add(recall, rr);
        lines.push(serde_json::json!({"qid": q.qid, "ranked_ids": ranked}).to_string());
    }
    latencies.sort_by(f64::total_cmp);
    let p50_ms = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
    Ok(Run {
        groups,
        all,
        p50_ms,
        lines,
    })
}

/// Writes both candidate lists of every query to `path`, with scores, mapped to the set's
/// labels.
pub async fn dump(app: &App, loaded: &Loaded, path: &Path) -> Result<(), EvalError> {
    let mut f = std::fs::File::create(path).map_err(|source| EvalError::Write {
        path: path.display().to_string(),
        source,
    })?;
    let n = app
        .config()
        .retrieval
        .semantic_candidates
        .max(app.config().retrieval.keyword_candidates);
    for (q, namespace) in &loaded.queries {
        let filter = Filter::namespace(namespace.clone());
        let mut lists = Vec::new();
        for mode in [SearchMode::Keyword, SearchMode::Semantic] {
            let found = app
                .searcher()
                .search(&q.query, filter.clone(), n, mode)
                .await?;
            let list: Vec<(String, f64)> = found
                .hits
                .into_iter()
                .filter_map(|h| loaded.labels.get(&h.id).map(|id| (id.clone(), h.score)))
                .collect();
            lists.push(list);
        }
        let line = serde_json::json!({
            "qid": q.qid, "conversation": q.conversation, "query": q.query,
            "relevant": q.relevant_ids, "keyword": lists[0], "semantic": lists[1],
        });
        writeln!(f, "{line}")?;
    }
    Ok(())
}
