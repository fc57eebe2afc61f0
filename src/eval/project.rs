//! The project set: the fixture project's notes, ADRs and conventions (JSONL, as `import`
//! reads) and its queries, whose relevant ids are memory titles. Loaded through `import`,
//! so a second run stores nothing new.

use std::path::Path;

use super::EvalError;
use super::dataset::{self, Loaded, Query};
use crate::app::App;
use crate::import;

/// Namespace the project fixture is loaded into.
const PROJECT_NAMESPACE: &str = "eval-project";

/// Loads the memories at `memories` (skipping what their namespace already holds) and the
/// queries at `queries`; memories are labelled by title. Tells `progress` how many it stored.
pub async fn load(
    app: &App,
    memories: &Path,
    queries: &Path,
    progress: &dyn Fn(String),
) -> Result<Loaded, EvalError> {
    let text = std::fs::read_to_string(memories).map_err(|source| EvalError::Read {
        path: memories.display().to_string(),
        source,
    })?;
    let records = import::read_jsonl(
        &memories.display().to_string(),
        &text,
        PROJECT_NAMESPACE,
        &app.config().limits,
    )
    .map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        EvalError::Set(lines.join("\n"))
    })?;
    // Every relevant title must name a memory of the file: checked before anything is stored.
    let titles: std::collections::HashSet<&str> = records
        .iter()
        .filter_map(|(m, _)| m.title.as_deref())
        .collect();
    let query_list: Vec<Query> = dataset::read_jsonl(queries)?;
    for q in &query_list {
        if let Some(missing) = q.relevant_ids.iter().find(|r| !titles.contains(r.as_str())) {
            return Err(EvalError::Set(format!(
                "{}: query {} names '{missing}', which no memory of {} has as its title\nuse the exact title of a memory in that file",
                queries.display(),
                q.qid,
                memories.display()
            )));
        }
    }
    let total = records.len();
    let summary = import::store(app, records, |_| {}).await?;
    if summary.inserted > 0 {
        progress(format!(
            "loaded {} of {total} project memories",
            summary.inserted
        ));
    }
    let labels = dataset::labels(app, PROJECT_NAMESPACE, |m| m.title.clone()).await?;
    Ok(Loaded {
        set: "project".into(),
        ingest: "-",
        queries: query_list
            .into_iter()
            .map(|q| (q, PROJECT_NAMESPACE.to_string()))
            .collect(),
        labels,
    })
}
