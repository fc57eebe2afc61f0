//! `memoryd eval`: retrieval quality on a labelled query set.
//!
//! Reads the flags, opens the app (a throwaway database unless `--data-dir` names one, with
//! the tuning overrides), and prints the table; the evaluation itself (loading the sets,
//! running the queries, scoring them) is [`crate::eval`]. Three sets: `locomo DIR` (a LoCoMo
//! split, loaded with each turn's previous turn as `context`, stored alone, or both),
//! `project` (the fixture project's notes, ADRs and conventions), and `changes` (facts that
//! changed, stored among distractors: does the old one rank above the new?). Results can be
//! written in the format of the LoCoMo set's `score.py`, or per query for `changes`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Global;
use crate::app::App;
use crate::config::Config;
use crate::eval::changes::{fixture, load, run as changes_run};
use crate::eval::dataset::Loaded;
use crate::eval::run::{self, Run};
use crate::eval::score::Scores;
use crate::eval::{EvalError, locomo, project};
use crate::retrieve::SearchMode;

/// Flags of `memoryd eval`.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCmd {
    /// Score retrieval on a LoCoMo split (a folder of conv-*/memories.jsonl and queries.jsonl)
    Locomo(LocomoArgs),
    /// Score retrieval on the fixture project (notes, ADRs, conventions) and its query set
    Project(ProjectArgs),
    /// Measure whether search and rehydrate hand back a new fact or the old one it replaced
    Changes(ChangesArgs),
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

/// Flags shared by the labelled sets.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// hybrid, semantic, keyword, or all (one row each)
    #[arg(long, default_value = "all")]
    pub mode: String,
    /// Write the ranked ids of the last run here, in score.py's format
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Write each query's keyword and semantic candidates with their scores here (JSONL), to
    /// study fusion offline
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

/// Overrides of the `[retrieval]` settings for one evaluation.
#[derive(Debug, clap::Args)]
pub struct TuningArgs {
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
    /// Override how alike two candidates' vectors must be for the later one to rank first
    /// (0 turns it off)
    #[arg(long)]
    pub newer_first_similarity: Option<f32>,
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

/// Flags of `memoryd eval changes`.
#[derive(Debug, clap::Args)]
pub struct ChangesArgs {
    /// The fact changes (JSONL; the format is in fixtures/fact-changes.md)
    #[arg(long, default_value = "fixtures/fact-changes.jsonl")]
    pub fixture: PathBuf,
    /// Distractors stored first: this file's memories (JSONL, as `import` reads), then the
    /// synthetic corpus of `memoryd bench corpus` for the rest
    #[arg(long, default_value = "fixtures/project-memories.jsonl")]
    pub memories: PathBuf,
    /// How many distractors to store
    #[arg(long, default_value_t = 1000)]
    pub distractors: usize,
    /// Measure only the first N fact changes
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Store each new fact with `supersedes: [old id]` (needs a build whose store_memory takes
    /// it)
    #[arg(long)]
    pub supersede: bool,
    /// hybrid, semantic, keyword, or all: the search rows (rehydrate always runs its own
    /// hybrid retrieval)
    #[arg(long, default_value = "hybrid")]
    pub mode: String,
    /// Write one line per query and tool here (JSONL): both ranks, and whether the old came
    /// first
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    #[command(flatten)]
    pub tuning: TuningArgs,
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
    tuning: &TuningArgs,
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
    if let Some(w) = tuning.keyword_weight {
        config.retrieval.keyword_weight = w;
    }
    if let Some(n) = tuning.keyword_candidates {
        config.retrieval.keyword_candidates = n;
    }
    if let Some(n) = tuning.semantic_candidates {
        config.retrieval.semantic_candidates = n;
    }
    if let Some(w) = tuning.neighbour_weight {
        config.retrieval.neighbour_weight = w;
    }
    if let Some(b) = tuning.time_boost {
        config.retrieval.time_boost = b;
    }
    if let Some(f) = tuning.namespace_idf_floor {
        config.retrieval.namespace_idf_floor = f;
    }
    if let Some(b) = tuning.length_normalisation {
        config.retrieval.length_normalisation = b;
    }
    if let Some(s) = tuning.newer_first_similarity {
        config.retrieval.newer_first_similarity = s;
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

/// Prints the rows of one run: one per conversation (when there are several) and one for all.
fn print_rows(loaded: &Loaded, mode: SearchMode, run: &Run) -> anyhow::Result<()> {
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
    if run.groups.len() > 1 {
        for (group, s) in &run.groups {
            row(group, s, None);
        }
    }
    row("all", &run.all, Some(run.p50_ms));
    Ok(())
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

/// An evaluation's error for `main`, which looks for `memoryd::Error` in the chain (its exit
/// code): a store or model error is handed on as itself, not inside `EvalError`.
fn reported(err: EvalError) -> anyhow::Error {
    match err {
        EvalError::Memoryd(inner) => inner.into(),
        other => other.into(),
    }
}

/// Progress lines on stderr, as `memoryd: …`.
fn progress(line: String) {
    eprintln!("memoryd: {line}");
}

/// Runs the evaluation and prints a table.
pub async fn run(global: &Global, cmd: EvalCmd) -> anyhow::Result<()> {
    match &cmd {
        EvalCmd::Locomo(a) => labelled(global, Labelled::Locomo(a)).await,
        EvalCmd::Project(a) => labelled(global, Labelled::Project(a)).await,
        EvalCmd::Changes(a) => changes(global, a).await,
    }
}

/// A set whose queries name the memories that answer them.
enum Labelled<'a> {
    /// `eval locomo`.
    Locomo(&'a LocomoArgs),
    /// `eval project`.
    Project(&'a ProjectArgs),
}

/// Loads a labelled set, scores every mode and prints a row per conversation and mode.
async fn labelled(global: &Global, cmd: Labelled<'_>) -> anyhow::Result<()> {
    let common = match &cmd {
        Labelled::Locomo(a) => &a.common,
        Labelled::Project(a) => &a.common,
    };
    let modes = modes(&common.mode)?;
    let (app, _temp) = open(global, &common.tuning, &modes).await?;
    let sets = match &cmd {
        Labelled::Locomo(a) => {
            let ingests = match a.ingest {
                Ingest::Both => vec![locomo::Ingest::Context, locomo::Ingest::Alone],
                Ingest::Context => vec![locomo::Ingest::Context],
                Ingest::Alone => vec![locomo::Ingest::Alone],
            };
            let mut sets = Vec::new();
            for ingest in ingests {
                sets.push(
                    locomo::load(&app, &a.dir, ingest, &progress)
                        .await
                        .map_err(reported)?,
                );
            }
            sets
        }
        Labelled::Project(a) => {
            vec![
                project::load(&app, &a.memories, &a.queries, &progress)
                    .await
                    .map_err(reported)?,
            ]
        }
    };
    if let Some(path) = &common.dump {
        let last = sets.last().context("nothing loaded")?;
        run::dump(&app, last, path).await.map_err(reported)?;
        eprintln!("memoryd: wrote candidates to {}", path.display());
    }
    header();
    let mut lines = Vec::new();
    for set in &sets {
        for mode in &modes {
            let result = run::score(&app, set, *mode).await.map_err(reported)?;
            print_rows(set, *mode, &result)?;
            lines = result.lines;
        }
    }
    if let Some(path) = &common.results {
        let mut f = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for l in &lines {
            writeln!(f, "{l}")?;
        }
        if let Labelled::Locomo(a) = &cmd {
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

/// `memoryd eval changes`: loads the fact changes among their distractors, asks every query
/// of search (per mode) and of rehydrate, and prints a row for each.
async fn changes(global: &Global, args: &ChangesArgs) -> anyhow::Result<()> {
    let modes = modes(&args.mode)?;
    let mut records = fixture::read(&args.fixture).map_err(reported)?;
    if let Some(n) = args.limit {
        records.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    let (app, _temp) = open(global, &args.tuning, &modes).await?;
    let namespace = global.namespace.as_deref().unwrap_or(load::NAMESPACE);
    let scenario = load::load(
        &app,
        namespace,
        records,
        &args.memories,
        args.distractors,
        args.supersede,
        &progress,
    )
    .await
    .map_err(reported)?;
    let hints = if args.supersede { "supersede" } else { "none" };
    println!(
        "{:<8} {:<10} {:<9} {:<10} {:>6} {:>8} {:>8} {:>7} {:>7} {:>7}",
        "set", "tool", "mode", "hints", "pairs", "queries", "old>new", "new in", "old in", "p50 ms"
    );
    let row = |tool: &str, outcome: &changes_run::Outcome| -> anyhow::Result<()> {
        let t = &outcome.tally;
        let mode = serde_json::to_value(outcome.mode)?;
        println!(
            "{:<8} {:<10} {:<9} {:<10} {:>6} {:>8} {:>8.3} {:>7.3} {:>7.3} {:>7.2}",
            "changes",
            tool,
            mode.as_str().unwrap_or_default(),
            hints,
            scenario.pairs.len(),
            t.queries,
            t.share(t.old_above_new),
            t.share(t.new_in),
            t.share(t.old_in),
            outcome.p50_ms,
        );
        Ok(())
    };
    let mut lines = Vec::new();
    for mode in &modes {
        let outcome = changes_run::search(&app, &scenario, *mode)
            .await
            .map_err(reported)?;
        row("search", &outcome)?;
        lines.extend(outcome.lines);
    }
    let outcome = changes_run::rehydrate(&app, &scenario)
        .await
        .map_err(reported)?;
    row("rehydrate", &outcome)?;
    lines.extend(outcome.lines);
    if let Some(path) = &args.results {
        let mut f = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for l in &lines {
            writeln!(f, "{l}")?;
        }
        eprintln!("memoryd: wrote {}", path.display());
    }
    Ok(())
}
