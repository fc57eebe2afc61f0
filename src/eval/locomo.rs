//! The LoCoMo set: a split's folder of `conv-*/memories.jsonl` (one namespace per
//! conversation, `occurred_at` = the session's date) and its `queries.jsonl`. A conversation
//! already in its namespace is not loaded again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;
use super::dataset::{self, Loaded, Query};
use crate::app::App;
use crate::memory::{self, NewMemory};
use crate::store::Filter;

/// Memories embedded and written per batch while loading.
const LOAD_BATCH: usize = 64;

/// How LoCoMo turns are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// Each turn with the previous turn of its session as `context`.
    Context,
    /// Each turn alone, as an agent that sends no `context` stores it.
    Alone,
}

impl Ingest {
    /// The name the table shows.
    pub fn name(self) -> &'static str {
        match self {
            Ingest::Context => "context",
            Ingest::Alone => "alone",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Deserialize)]
struct Turn {
    id: String,
    text: String,
    session: u32,
    session_datetime: String,
}

fn namespace_of(conversation: &str, ingest: Ingest) -> String {
    match ingest {
        Ingest::Alone => format!("locomo-alone-{conversation}"),
        _ => format!("locomo-{conversation}"),
    }
}

/// Loads a conversation unless its namespace already holds it; returns memory id → turn id.
async fn load_conversation(
    app: &App,
    conversation: &str,
    turns: Vec<Turn>,
    ingest: Ingest,
    progress: &dyn Fn(String),
) -> Result<HashMap<String, String>, EvalError> {
    let namespace = namespace_of(conversation, ingest);
    let have = app.store().count(Filter::every(namespace.clone())).await?;
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
                    expires_at: None,
                    by: None,
                });
            }
            let texts = batch
                .iter()
                .map(|m| memory::embedding_text(m.context.as_deref(), &m.content))
                .collect();
            let vectors = app.embedder().embed(texts).await?;
            app.store().insert_many(batch, vectors).await?;
        }
        progress(format!(
            "loaded {conversation} ({}): {} turns in {:.1} s",
            ingest.name(),
            turns.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    // Map memoryd ids back to LoCoMo ids through the metadata written above.
    dataset::labels(app, &namespace, |m| {
        m.metadata
            .get("locomo_id")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    })
    .await
}

/// Loads every conversation of the LoCoMo split in `dir` with one way of ingesting; tells
/// `progress` about each conversation it loads.
pub async fn load(
    app: &App,
    dir: &Path,
    ingest: Ingest,
    progress: &dyn Fn(String),
) -> Result<Loaded, EvalError> {
    let mut conversations: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| EvalError::Read {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("memories.jsonl").is_file())
        .collect();
    conversations.sort();
    if conversations.is_empty() {
        return Err(EvalError::Set(format!(
            "{} has no conversation folders with memories.jsonl",
            dir.display()
        )));
    }
    let mut ids = HashMap::new();
    for conv in &conversations {
        let name = conv
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let turns: Vec<Turn> = dataset::read_jsonl(&conv.join("memories.jsonl"))?;
        ids.extend(load_conversation(app, &name, turns, ingest, progress).await?);
    }
    let queries: Vec<Query> = dataset::read_jsonl(&dir.join("queries.jsonl"))?;
    Ok(Loaded {
        set: "locomo".into(),
        ingest: ingest.name(),
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
