//! `memoryd eval locomo DIR`: retrieval quality on the LoCoMo retrieval set.
//!
//! Each conversation is loaded into its own namespace (`occurred_at` = the session's date),
//! every query runs through `search_memory` exactly as an agent's call would, and the ranked
//! ids are scored (recall@k, MRR) and written in the format of the set's `score.py`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::Global;
use crate::app::App;
use crate::memory::{self, NewMemory};
use crate::retrieve::SearchMode;
use crate::store::Filter;
use crate::tools::search_memory::{self, SearchArgs};

/// Ranked ids kept per query (score.py wants 20 or more).
const DEPTH: usize = 20;
/// Memories embedded and written per batch while loading.
const LOAD_BATCH: usize = 64;

/// Flags of `memoryd eval`.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCmd {
    /// Score retrieval on a LoCoMo split (a folder of conv-*/memories.jsonl and queries.jsonl)
    Locomo(LocomoArgs),
}

/// Flags of `memoryd eval locomo`.
#[derive(Debug, clap::Args)]
pub struct LocomoArgs {
    /// The split's folder, e.g. ../shared/eval/locomo-dev
    pub dir: PathBuf,
    /// hybrid, semantic, keyword, or all (one row each)
    #[arg(long, default_value = "all")]
    pub mode: String,
    /// Write the ranked ids of the last mode run here, in score.py's format
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Override the keyword weight of hybrid fusion (0 to 1)
    #[arg(long)]
    pub keyword_weight: Option<f32>,
    /// Override the keyword candidates fused
    #[arg(long)]
    pub keyword_candidates: Option<usize>,
    /// Override the semantic candidates fused
    #[arg(long)]
    pub semantic_candidates: Option<usize>,
    /// Write each query's keyword and semantic candidates with their scores here (JSONL), to
    /// study fusion offline
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Turn {
    id: String,
    text: String,
    session: u32,
    session_datetime: String,
}

#[derive(Debug, Deserialize)]
struct Query {
    qid: String,
    conversation: String,
    query: String,
    relevant_ids: Vec<String>,
}

/// Scores averaged over a group of queries.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scores {
    /// Queries in the group.
    pub queries: usize,
    /// recall@1, @5, @10, @20.
    pub recall: [f64; 4],
    /// Mean reciprocal rank over the ranked list.
    pub mrr: f64,
}

const KS: [usize; 4] = [1, 5, 10, 20];

/// Recall@k for each k in [`KS`] and the reciprocal rank of one ranking.
pub fn score_one(relevant: &[String], ranked: &[String]) -> ([f64; 4], f64) {
    let mut recall = [0.0; 4];
    for (i, k) in KS.iter().enumerate() {
        let found = relevant
            .iter()
            .filter(|r| ranked.iter().take(*k).any(|x| x == *r))
            .count();
        recall[i] = found as f64 / relevant.len().max(1) as f64;
    }
    let rr = ranked
        .iter()
        .position(|x| relevant.contains(x))
        .map_or(0.0, |p| 1.0 / (p + 1) as f64);
    (recall, rr)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: bad line", path.display(), n + 1))
        })
        .collect()
}

fn namespace_of(conversation: &str) -> String {
    format!("locomo-{conversation}")
}

/// Loads a conversation unless its namespace already holds it; returns memory id → turn id.
async fn load(
    app: &App,
    conversation: &str,
    turns: Vec<Turn>,
) -> anyhow::Result<HashMap<String, String>> {
    let namespace = namespace_of(conversation);
    let have = app.store().count(namespace.clone()).await?;
    if have as usize != turns.len() {
        let started = std::time::Instant::now();
        for (c, chunk) in turns.chunks(LOAD_BATCH).enumerate() {
            let mut batch = Vec::with_capacity(chunk.len());
            for (j, t) in chunk.iter().enumerate() {
                // Each turn is stored with the turn before it (same session) as its context,
                // as an agent storing a conversation would.
                let i = c * LOAD_BATCH + j;
                let context =
                    (i > 0 && turns[i - 1].session == t.session).then(|| turns[i - 1].text.clone());
                let mut metadata = serde_json::Map::new();
                metadata.insert("locomo_id".into(), t.id.clone().into());
                batch.push(NewMemory {
                    namespace: namespace.clone(),
                    content: t.text.clone(),
                    title: None,
                    kind: "conversation".into(),
                    tags: vec![],
                    source: Some(conversation.to_string()),
                    anchor: None,
                    context,
                    roles: vec![],
                    priority: 0,
                    occurred_at: Some(memory::parse_time("session_datetime", &t.session_datetime)?),
                    metadata,
                });
            }
            let texts = batch
                .iter()
                .map(|m| memory::embedding_text(m.context.as_deref(), &m.content))
                .collect();
            let vectors = app.embedder().embed(texts).await?;
            app.store().insert_many(batch, vectors).await?;
        }
        eprintln!(
            "memoryd: loaded {conversation}: {} turns in {:.1} s",
            turns.len(),
            started.elapsed().as_secs_f64()
        );
    }
    // Map memoryd ids back to LoCoMo ids through the metadata written above.
    let mut ids = HashMap::new();
    let mut after = None;
    loop {
        let page = app
            .store()
            .list(Filter::namespace(namespace.clone()), after, 200)
            .await?;
        for m in &page.memories {
            if let Some(turn) = m.metadata.get("locomo_id").and_then(|v| v.as_str()) {
                ids.insert(m.id.clone(), turn.to_string());
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    Ok(ids)
}

/// Writes both candidate lists of every query, with scores, mapped to LoCoMo ids.
async fn dump(
    app: &App,
    queries: &[Query],
    id_map: &HashMap<String, String>,
    path: &Path,
) -> anyhow::Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let n = app
        .config()
        .retrieval
        .semantic_candidates
        .max(app.config().retrieval.keyword_candidates);
    for q in queries {
        let filter = Filter::namespace(namespace_of(&q.conversation));
        let mut lists = Vec::new();
        for mode in [SearchMode::Keyword, SearchMode::Semantic] {
            let found = app
                .searcher()
                .search(&q.query, filter.clone(), n, mode)
                .await?;
            let list: Vec<(String, f64)> = found
                .hits
                .into_iter()
                .filter_map(|h| id_map.get(&h.id).map(|id| (id.clone(), h.score)))
                .collect();
            lists.push(list);
        }
        let line = serde_json::json!({
            "qid": q.qid, "query": q.query, "relevant": q.relevant_ids,
            "keyword": lists[0], "semantic": lists[1],
        });
        writeln!(f, "{line}")?;
    }
    eprintln!("memoryd: wrote candidates to {}", path.display());
    Ok(())
}

/// Runs the evaluation and prints a table.
pub async fn run(global: &Global, cmd: EvalCmd) -> anyhow::Result<()> {
    let EvalCmd::Locomo(args) = cmd;
    let modes: Vec<SearchMode> = match args.mode.as_str() {
        "all" => vec![
            SearchMode::Keyword,
            SearchMode::Semantic,
            SearchMode::Hybrid,
        ],
        "hybrid" => vec![SearchMode::Hybrid],
        "semantic" => vec![SearchMode::Semantic],
        "keyword" => vec![SearchMode::Keyword],
        other => bail!("'{other}' is not a mode\nuse hybrid, semantic, keyword or all"),
    };
    // Without --data-dir the run uses a throwaway database, never the user's own.
    let temp;
    let mut config = match &global.data_dir {
        Some(_) => global.config()?,
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary data dir")?;
            let mut g = global.clone();
            g.data_dir = Some(temp.path().to_path_buf());
            g.config()?
        }
    };
    if let Some(w) = args.keyword_weight {
        config.retrieval.keyword_weight = w;
    }
    if let Some(n) = args.keyword_candidates {
        config.retrieval.keyword_candidates = n;
    }
    if let Some(n) = args.semantic_candidates {
        config.retrieval.semantic_candidates = n;
    }
    let app = App::open(config).await?;
    app.load_model_if_installed().await;
    if let Some(reason) = app.embedder().state().reason_off()
        && modes.iter().any(|m| *m != SearchMode::Keyword)
    {
        bail!("{reason}");
    }

    let mut conversations: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("memories.jsonl").is_file())
        .collect();
    conversations.sort();
    if conversations.is_empty() {
        bail!(
            "{} has no conversation folders with memories.jsonl",
            args.dir.display()
        );
    }
    let mut id_map = HashMap::new();
    for dir in &conversations {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let turns: Vec<Turn> = read_jsonl(&dir.join("memories.jsonl"))?;
        id_map.extend(load(&app, &name, turns).await?);
    }
    let queries: Vec<Query> = read_jsonl(&args.dir.join("queries.jsonl"))?;
    if let Some(path) = &args.dump {
        dump(&app, &queries, &id_map, path).await?;
    }

    println!(
        "{:<9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "mode", "queries", "recall@1", "recall@5", "recall@10", "recall@20", "mrr", "p50 ms"
    );
    for mode in modes {
        let mut all = Scores::default();
        let mut lines = Vec::with_capacity(queries.len());
        let mut latencies = Vec::with_capacity(queries.len());
        for q in &queries {
            let started = std::time::Instant::now();
            let out = search_memory::run(
                &app,
                SearchArgs {
                    query: q.query.clone(),
                    limit: Some(DEPTH as i64),
                    mode: Some(mode),
                    namespace: Some(namespace_of(&q.conversation)),
                    ..SearchArgs::default()
                },
            )
            .await
            .with_context(|| format!("query {} failed", q.qid))?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            let ranked: Vec<String> = out
                .hits
                .iter()
                .filter_map(|h| id_map.get(&h.id).cloned())
                .collect();
            let (recall, rr) = score_one(&q.relevant_ids, &ranked);
            all.queries += 1;
            for (sum, r) in all.recall.iter_mut().zip(recall) {
                *sum += r;
            }
            all.mrr += rr;
            lines.push(serde_json::json!({"qid": q.qid, "ranked_ids": ranked}).to_string());
        }
        let n = all.queries.max(1) as f64;
        latencies.sort_by(f64::total_cmp);
        let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
        let name = serde_json::to_value(mode)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        println!(
            "{:<9} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7.3} {:>9.2}",
            name,
            all.queries,
            all.recall[0] / n,
            all.recall[1] / n,
            all.recall[2] / n,
            all.recall[3] / n,
            all.mrr / n,
            p50
        );
        if let Some(path) = &args.results {
            let mut f = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            for l in &lines {
                writeln!(f, "{l}")?;
            }
        }
    }
    if let Some(path) = &args.results {
        eprintln!(
            "memoryd: wrote {}; score it with: python3 {}/score.py {}/queries.jsonl --results {}",
            path.display(),
            args.dir.display(),
            args.dir.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_score_py_definitions() {
        let rel = vec!["a".to_string(), "b".to_string()];
        let ranked: Vec<String> = ["x", "a", "y", "z", "w", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (recall, rr) = score_one(&rel, &ranked);
        assert_eq!(recall, [0.0, 0.5, 1.0, 1.0]);
        assert_eq!(rr, 0.5);
        assert_eq!(score_one(&rel, &[]), ([0.0; 4], 0.0));
    }
}
