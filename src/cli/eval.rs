//! `memoryd eval`: retrieval quality on a labelled query set.
//!
//! Two sets: `locomo DIR` (a LoCoMo split, one namespace per conversation, `occurred_at` = the
//! session's date, loaded with each turn's previous turn as `context`, stored alone, or both)
//! and `project` (the fixture project's notes, ADRs and conventions with the queries of
//! `fixtures/project-queries.jsonl`). Every query runs through `search_memory` exactly as an
//! agent's call would; the ranked ids are scored (recall@k, MRR) per conversation and overall,
//! and can be written in the format of the LoCoMo set's `score.py`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::Global;
use crate::app::App;
use crate::config::Config;
use crate::import;
use crate::memory::{self, NewMemory};
use crate::retrieve::SearchMode;
use crate::store::Filter;
use crate::tools::search_memory::{self, SearchArgs};

/// Ranked ids kept per query (score.py wants 20 or more).
const DEPTH: usize = 20;
/// Memories embedded and written per batch while loading.
const LOAD_BATCH: usize = 64;
/// Namespace the project fixture is loaded into.
const PROJECT_NAMESPACE: &str = "eval-project";

/// Flags of `memoryd eval`.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCmd {
    /// Score retrieval on a LoCoMo split (a folder of conv-*/memories.jsonl and queries.jsonl)
    Locomo(LocomoArgs),
    /// Score retrieval on the fixture project (notes, ADRs, conventions) and its query set
    Project(ProjectArgs),
}

/// How LoCoMo turns are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ingest {
    /// Each turn with the previous turn of its session as `context`
    Context,
    /// Each turn alone, as an agent that sends no `context` stores it
    Alone,
    /// One run of each
    Both,
}

/// Flags shared by both sets.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// hybrid, semantic, keyword, or all (one row each)
    #[arg(long, default_value = "all")]
    pub mode: String,
    /// Write the ranked ids of the last run here, in score.py's format
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
    /// Override the share of a neighbour's score a candidate gains (0 turns it off)
    #[arg(long)]
    pub neighbour_weight: Option<f32>,
    /// Override the bonus for happening in the period a query names (0 turns it off)
    #[arg(long)]
    pub time_boost: Option<f32>,
    /// Override the least share of a term's database-wide idf that hybrid search keeps when
    /// its namespace idf is lower (1 turns it off)
    #[arg(long)]
    pub namespace_idf_floor: Option<f32>,
    /// Override BM25's length normalisation `b` in hybrid search (0 to 1; 0.75 is FTS5's)
    #[arg(long)]
    pub length_normalisation: Option<f32>,
    /// Write each query's keyword and semantic candidates with their scores here (JSONL), to
    /// study fusion offline
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

/// Flags of `memoryd eval locomo`.
#[derive(Debug, clap::Args)]
pub struct LocomoArgs {
    /// The split's folder, e.g. ../shared/eval/locomo-dev
    pub dir: PathBuf,
    /// Store each turn with its previous turn as context, alone, or both (one run each)
    #[arg(long, value_enum, default_value = "both")]
    pub ingest: Ingest,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `memoryd eval project`.
#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    /// The memories (JSONL, as `import` reads)
    #[arg(long, default_value = "fixtures/project-memories.jsonl")]
    pub memories: PathBuf,
    /// The queries: one `{"qid", "query", "relevant_ids": [titles]}` per line
    #[arg(long, default_value = "fixtures/project-queries.jsonl")]
    pub queries: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
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
    #[serde(default)]
    conversation: String,
    query: String,
    relevant_ids: Vec<String>,
}

/// Scores summed over a group of queries.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scores {
    /// Queries in the group.
    pub queries: usize,
    /// recall@1, @5, @10, @20, summed.
    pub recall: [f64; 4],
    /// Reciprocal ranks, summed.
    pub mrr: f64,
}

impl Scores {
    fn add(&mut self, recall: [f64; 4], rr: f64) {
        self.queries += 1;
        for (sum, r) in self.recall.iter_mut().zip(recall) {
            *sum += r;
        }
        self.mrr += rr;
    }
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

fn namespace_of(conversation: &str, ingest: Ingest) -> String {
    match ingest {
        Ingest::Alone => format!("locomo-alone-{conversation}"),
        _ => format!("locomo-{conversation}"),
    }
}

/// Maps every memory id of `namespace` to the label its `label` function reads off it.
async fn labels(
    app: &App,
    namespace: &str,
    label: impl Fn(&memory::Memory) -> Option<String>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut ids = HashMap::new();
    let mut after = None;
    loop {
        let page = app
            .store()
            .list(Filter::namespace(namespace.to_string()), after, 200)
            .await?;
        for m in &page.memories {
            if let Some(l) = label(m) {
                ids.insert(m.id.clone(), l);
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    Ok(ids)
}

/// Loads a conversation unless its namespace already holds it; returns memory id → turn id.
async fn load_conversation(
    app: &App,
    conversation: &str,
    turns: Vec<Turn>,
    ingest: Ingest,
) -> anyhow::Result<HashMap<String, String>> {
    let namespace = namespace_of(conversation, ingest);
    let have = app.store().count(namespace.clone()).await?;
    if have as usize != turns.len() {
        let started = std::time::Instant::now();
        for (c, chunk) in turns.chunks(LOAD_BATCH).enumerate() {
            let mut batch = Vec::with_capacity(chunk.len());
            for (j, t) in chunk.iter().enumerate() {
                // With context, each turn is stored with the turn before it (same session), as
                // an agent storing a conversation would.
                let i = c * LOAD_BATCH + j;
                let context =
                    (ingest == Ingest::Context && i > 0 && turns[i - 1].session == t.session)
                        .then(|| turns[i - 1].text.clone());
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
            "memoryd: loaded {conversation} ({}): {} turns in {:.1} s",
            ingest_name(ingest),
            turns.len(),
            started.elapsed().as_secs_f64()
        );
    }
    // Map memoryd ids back to LoCoMo ids through the metadata written above.
    labels(app, &namespace, |m| {
        m.metadata
            .get("locomo_id")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    })
    .await
}

fn ingest_name(ingest: Ingest) -> &'static str {
    match ingest {
        Ingest::Context => "context",
        Ingest::Alone => "alone",
        Ingest::Both => "both",
    }
}

/// One query set loaded into the store: its queries, the namespace each searches, and memory
/// id → the label the queries' `relevant_ids` use.
struct Loaded {
    set: String,
    ingest: &'static str,
    queries: Vec<(Query, String)>,
    labels: HashMap<String, String>,
}

/// Writes both candidate lists of every query, with scores, mapped to the set's labels.
async fn dump(app: &App, loaded: &Loaded, path: &Path) -> anyhow::Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
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
    eprintln!("memoryd: wrote candidates to {}", path.display());
    Ok(())
}

fn modes(arg: &str) -> anyhow::Result<Vec<SearchMode>> {
    Ok(match arg {
        "all" => vec![
            SearchMode::Keyword,
            SearchMode::Semantic,
            SearchMode::Hybrid,
        ],
        "hybrid" => vec![SearchMode::Hybrid],
        "semantic" => vec![SearchMode::Semantic],
        "keyword" => vec![SearchMode::Keyword],
        other => bail!("'{other}' is not a mode\nuse hybrid, semantic, keyword or all"),
    })
}

/// Opens the app for an evaluation: a throwaway database unless `--data-dir` names one, the
/// tuning overrides applied, and the model loaded when a mode needs it.
async fn open(
    global: &Global,
    common: &CommonArgs,
    modes: &[SearchMode],
) -> anyhow::Result<(App, Option<tempfile::TempDir>)> {
    let mut temp = None;
    let mut config: Config = match &global.data_dir {
        Some(_) => global.config()?,
        None => {
            let dir = tempfile::tempdir().context("cannot create a temporary data dir")?;
            let mut g = global.clone();
            g.data_dir = Some(dir.path().to_path_buf());
            temp = Some(dir);
            g.config()?
        }
    };
    if let Some(w) = common.keyword_weight {
        config.retrieval.keyword_weight = w;
    }
    if let Some(n) = common.keyword_candidates {
        config.retrieval.keyword_candidates = n;
    }
    if let Some(n) = common.semantic_candidates {
        config.retrieval.semantic_candidates = n;
    }
    if let Some(w) = common.neighbour_weight {
        config.retrieval.neighbour_weight = w;
    }
    if let Some(b) = common.time_boost {
        config.retrieval.time_boost = b;
    }
    if let Some(f) = common.namespace_idf_floor {
        config.retrieval.namespace_idf_floor = f;
    }
    if let Some(b) = common.length_normalisation {
        config.retrieval.length_normalisation = b;
    }
    config.validate()?;
    let app = App::open(config).await?;
    app.load_model_if_installed().await;
    if let Some(reason) = app.embedder().state().reason_off()
        && modes.iter().any(|m| *m != SearchMode::Keyword)
    {
        bail!("{reason}");
    }
    Ok((app, temp))
}

/// Loads every conversation of a LoCoMo split with one way of ingesting.
async fn load_locomo(app: &App, dir: &Path, ingest: Ingest) -> anyhow::Result<Loaded> {
    let mut conversations: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("memories.jsonl").is_file())
        .collect();
    conversations.sort();
    if conversations.is_empty() {
        bail!(
            "{} has no conversation folders with memories.jsonl",
            dir.display()
        );
    }
    let mut ids = HashMap::new();
    for conv in &conversations {
        let name = conv
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let turns: Vec<Turn> = read_jsonl(&conv.join("memories.jsonl"))?;
        ids.extend(load_conversation(app, &name, turns, ingest).await?);
    }
    let queries: Vec<Query> = read_jsonl(&dir.join("queries.jsonl"))?;
    Ok(Loaded {
        set: "locomo".into(),
        ingest: ingest_name(ingest),
        queries: queries
            .into_iter()
            .map(|q| {
                let ns = namespace_of(&q.conversation, ingest);
                (q, ns)
            })
            .collect(),
        labels: ids,
    })
}

/// Loads the project fixture (skipping what its namespace already holds) and its queries;
/// memories are labelled by title.
async fn load_project(app: &App, args: &ProjectArgs) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(&args.memories)
        .with_context(|| format!("cannot read {}", args.memories.display()))?;
    let records = import::read_jsonl(
        &args.memories.display().to_string(),
        &text,
        PROJECT_NAMESPACE,
        &app.config().limits,
    )
    .map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    // Every relevant title must name a memory of the file: checked before anything is stored.
    let titles: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|(m, _)| m.title.as_deref())
        .collect();
    let queries: Vec<Query> = read_jsonl(&args.queries)?;
    for q in &queries {
        if let Some(missing) = q.relevant_ids.iter().find(|r| !titles.contains(r.as_str())) {
            bail!(
                "{}: query {} names '{missing}', which no memory of {} has as its title\nuse the exact title of a memory in that file",
                args.queries.display(),
                q.qid,
                args.memories.display()
            );
        }
    }
    let total = records.len();
    let summary = import::store(app, records, |_| {}).await?;
    if summary.inserted > 0 {
        eprintln!(
            "memoryd: loaded {} of {total} project memories",
            summary.inserted
        );
    }
    let labels = labels(app, PROJECT_NAMESPACE, |m| m.title.clone()).await?;
    Ok(Loaded {
        set: "project".into(),
        ingest: "-",
        queries: queries
            .into_iter()
            .map(|q| (q, PROJECT_NAMESPACE.to_string()))
            .collect(),
        labels,
    })
}

/// Runs every query of `loaded` in `mode`; prints one row per conversation (when there are
/// several) and one for all, and returns the lines for `--results`.
async fn score(app: &App, loaded: &Loaded, mode: SearchMode) -> anyhow::Result<Vec<String>> {
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
        .with_context(|| format!("query {} failed", q.qid))?;
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
    let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
    let name = serde_json::to_value(mode)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let row = |group: &str, s: &Scores, p50: Option<f64>| {
        let n = s.queries.max(1) as f64;
        let line = format!(
            "{:<8} {:<8} {:<9} {:<8} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7.3} {:>7}",
            loaded.set,
            loaded.ingest,
            name,
            group,
            s.queries,
            s.recall[0] / n,
            s.recall[1] / n,
            s.recall[2] / n,
            s.recall[3] / n,
            s.mrr / n,
            p50.map_or_else(|| "".to_string(), |p| format!("{p:.2}")),
        );
        println!("{}", line.trim_end());
    };
    if groups.len() > 1 {
        for (group, s) in &groups {
            row(group, s, None);
        }
    }
    row("all", &all, Some(p50));
    Ok(lines)
}

fn header() {
    println!(
        "{:<8} {:<8} {:<9} {:<8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "set",
        "ingest",
        "mode",
        "group",
        "queries",
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@20",
        "mrr",
        "p50 ms"
    );
}

/// Runs the evaluation and prints a table.
pub async fn run(global: &Global, cmd: EvalCmd) -> anyhow::Result<()> {
    let common = match &cmd {
        EvalCmd::Locomo(a) => &a.common,
        EvalCmd::Project(a) => &a.common,
    };
    let modes = modes(&common.mode)?;
    let (app, _temp) = open(global, common, &modes).await?;
    let sets = match &cmd {
        EvalCmd::Locomo(a) => {
            let ingests = match a.ingest {
                Ingest::Both => vec![Ingest::Context, Ingest::Alone],
                one => vec![one],
            };
            let mut sets = Vec::new();
            for ingest in ingests {
                sets.push(load_locomo(&app, &a.dir, ingest).await?);
            }
            sets
        }
        EvalCmd::Project(a) => vec![load_project(&app, a).await?],
    };
    if let Some(path) = &common.dump {
        let last = sets.last().context("nothing loaded")?;
        dump(&app, last, path).await?;
    }
    header();
    let mut lines = Vec::new();
    for set in &sets {
        for mode in &modes {
            lines = score(&app, set, *mode).await?;
        }
    }
    if let Some(path) = &common.results {
        let mut f = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for l in &lines {
            writeln!(f, "{l}")?;
        }
        if let EvalCmd::Locomo(a) = &cmd {
            eprintln!(
                "memoryd: wrote {}; score it with: python3 {}/score.py {}/queries.jsonl --results {}",
                path.display(),
                a.dir.display(),
                a.dir.display(),
                path.display()
            );
        }
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
