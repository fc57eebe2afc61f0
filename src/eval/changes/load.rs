//! Loading the fact-change scenario into an empty namespace: first the distractors (the
//! fixture project's memories, then the synthetic corpus of `memoryd bench corpus` up to the
//! number asked for) through `import`, as `eval project` loads its set; then every old fact,
//! then every new fact, each through `store_memory` exactly as an agent's call (JSON
//! arguments, the tool's own checks), with its `occurred_at`. With `supersede`, each new fact
//! names its old one in `supersedes`.

use std::path::Path;

use serde_json::json;

use super::fixture::{Fact, FactChange};
use crate::app::App;
use crate::bench::corpus::{Corpus, DEFAULT_SEED};
use crate::eval::EvalError;
use crate::import;
use crate::store::Filter;
use crate::tools::store_memory::{self, StoreArgs};

/// The namespace the scenario is loaded into unless `--namespace` names another.
pub const NAMESPACE: &str = "eval-changes";

/// The `store_memory` argument naming the memories a new one replaces (SPEC, "Memory
/// lifecycle"): `--supersede` passes it as JSON, through the same deserialisation an agent's
/// call goes through.
const SUPERSEDES: &str = "supersedes";

/// A fact change as stored: its record and the ids the store gave both sides.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The record.
    pub change: FactChange,
    /// Id of the old memory.
    pub old_id: String,
    /// Id of the new memory.
    pub new_id: String,
}

/// The scenario as loaded.
#[derive(Debug)]
pub struct Scenario {
    /// The namespace it lives in.
    pub namespace: String,
    /// Every fact change, in the fixture's order.
    pub pairs: Vec<Pair>,
    /// Distractors stored around them.
    pub distractors: usize,
}

/// Stores `distractors` memories, then the old and new facts of `changes`, in `namespace`,
/// which must be empty. Tells `progress` what it stored.
pub async fn load(
    app: &App,
    namespace: &str,
    changes: Vec<FactChange>,
    memories: &Path,
    distractors: usize,
    supersede: bool,
    progress: &dyn Fn(String),
) -> Result<Scenario, EvalError> {
    let have = app.store().count(Filter::every(namespace)).await?;
    if have > 0 {
        return Err(EvalError::Set(format!(
            "namespace '{namespace}' already holds {have} memories\nrun on a fresh database (leave out --data-dir), or name an empty namespace with --namespace"
        )));
    }
    let stored = store_distractors(app, namespace, memories, distractors).await?;
    progress(format!("loaded {stored} distractors"));
    let mut old_ids = Vec::with_capacity(changes.len());
    for c in &changes {
        old_ids.push(store(app, namespace, &c.old, None).await?);
    }
    let mut pairs = Vec::with_capacity(changes.len());
    for (change, old_id) in changes.into_iter().zip(old_ids) {
        let replaces = supersede.then_some(old_id.as_str());
        let new_id = store(app, namespace, &change.new, replaces).await?;
        pairs.push(Pair {
            change,
            old_id,
            new_id,
        });
    }
    progress(format!(
        "stored {} old facts, then their new ones{}",
        pairs.len(),
        if supersede { " (with supersedes)" } else { "" }
    ));
    Ok(Scenario {
        namespace: namespace.to_string(),
        pairs,
        distractors: stored,
    })
}

/// Stores one fact through `store_memory`, naming the memory it replaces when given; returns
/// its id. A content already in the namespace is an error: the pair would not be two memories.
async fn store(
    app: &App,
    namespace: &str,
    fact: &Fact,
    replaces: Option<&str>,
) -> Result<String, EvalError> {
    let mut args = json!({
        "content": fact.content,
        "kind": fact.kind,
        "occurred_at": fact.occurred_at,
        "namespace": namespace,
    });
    if let Some(title) = &fact.title {
        args["title"] = json!(title);
    }
    if let Some(tags) = &fact.tags {
        args["tags"] = json!(tags);
    }
    if let Some(old) = replaces {
        args[SUPERSEDES] = json!([old]);
    }
    // Deserialised as the tool deserialises an agent's arguments (unknown fields refused).
    let args: StoreArgs = serde_json::from_value(args)
        .map_err(|e| EvalError::Set(format!("store_memory refused the arguments: {e}")))?;
    let out = store_memory::run(app, args, None).await?;
    if out.deduplicated {
        return Err(EvalError::Set(format!(
            "'{}' was already stored in namespace '{namespace}'\nevery content of the fixture and the distractors must differ",
            fact.content
        )));
    }
    Ok(out.id)
}

/// Stores the first `n` distractors: the memories of the file at `memories` (JSONL, as
/// `import` reads), then the synthetic corpus's records (default seed) for the rest. The
/// corpus's pins are dropped, so every bundle has the same pinned section (the project's
/// pins for every role). Returns how many were stored.
async fn store_distractors(
    app: &App,
    namespace: &str,
    memories: &Path,
    n: usize,
) -> Result<usize, EvalError> {
    let text = std::fs::read_to_string(memories).map_err(|source| EvalError::Read {
        path: memories.display().to_string(),
        source,
    })?;
    let mut jsonl: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    let wanted = n - jsonl.len();
    let synthetic: Vec<String> = Corpus::new(DEFAULT_SEED, None)
        .take(wanted)
        .map(|mut r| {
            r.roles.clear();
            r.priority = 0;
            serde_json::to_string(&r)
        })
        .collect::<Result<_, _>>()
        .map_err(|e| EvalError::Set(format!("a corpus record did not serialise: {e}")))?;
    jsonl.extend(synthetic.iter().map(String::as_str));
    let records = import::read_jsonl(
        &memories.display().to_string(),
        &jsonl.join("\n"),
        namespace,
        &app.config().limits,
    )
    .map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        EvalError::Set(lines.join("\n"))
    })?;
    let summary = import::store(app, records, |_| {}).await?;
    Ok(summary.inserted)
}
