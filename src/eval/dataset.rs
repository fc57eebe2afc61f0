//! What both sets have in common: a query set loaded into the store ([`Loaded`]), its queries,
//! reading JSONL files, and mapping memory ids back to the labels the queries use.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::EvalError;
use crate::app::App;
use crate::memory::Memory;
use crate::store::Filter;

/// One query of a set.
#[derive(Debug, Deserialize)]
pub struct Query {
    /// Its id.
    pub qid: String,
    /// The conversation it asks about (LoCoMo); empty for the project set.
    #[serde(default)]
    pub conversation: String,
    /// The query text.
    pub query: String,
    /// Labels of the memories that answer it.
    pub relevant_ids: Vec<String>,
}

/// One query set loaded into the store: its queries, the namespace each searches, and memory
/// id → the label the queries' `relevant_ids` use.
pub struct Loaded {
    /// `locomo` or `project`.
    pub set: String,
    /// How it was ingested (`context`, `alone`, or `-`).
    pub ingest: &'static str,
    /// Each query with the namespace it searches.
    pub queries: Vec<(Query, String)>,
    /// Memory id → label.
    pub labels: HashMap<String, String>,
}

/// Every non-blank line of the JSONL file at `path`.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.display().to_string(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|source| EvalError::BadLine {
                path: path.display().to_string(),
                line: n + 1,
                source,
            })
        })
        .collect()
}

/// Maps every memory id of `namespace` to the label its `label` function reads off it.
pub async fn labels(
    app: &App,
    namespace: &str,
    label: impl Fn(&Memory) -> Option<String>,
) -> Result<HashMap<String, String>, EvalError> {
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
