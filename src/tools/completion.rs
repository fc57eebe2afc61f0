//! `completion/complete`: values for prompt arguments and resource-template variables, so a
//! client can offer them as the person types.
//!
//! `role` completes from the configured roles, `namespace` from the namespaces that hold
//! memories, and a memory template's `id` from the newest ids of the namespace given so far.

use rmcp::model::{CompleteRequestParams, CompleteResult, CompletionInfo};

use super::list_memories::{self, ListArgs};
use super::resources::{MEMORY_TEMPLATE, PINS_TEMPLATE};
use crate::access::Principal;
use crate::app::App;
use crate::error::Result;
use crate::memory::DEFAULT_NAMESPACE;

/// Ids `id` completion looks through (the newest of the namespace).
const ID_WINDOW: i64 = 100;

/// The values for one argument that start with what was typed.
/// Only what `caller` may read is offered: namespaces it reaches, ids of those.
pub async fn complete(
    app: &App,
    caller: &Principal,
    request: &CompleteRequestParams,
) -> Result<CompleteResult> {
    let argument = request.argument.name.as_str();
    let typed = request.argument.value.as_str();
    let given = |name: &str| {
        request
            .context
            .as_ref()
            .and_then(|c| c.get_argument(name))
            .cloned()
    };
    // Completion is a hint while someone types: a prompt, template or argument that does
    // not exist has nothing to offer (an empty list, as the conformance suite expects) rather
    // than an error in the person's face.
    let reference = &request.r#ref;
    let takes: &[&str] = match (reference.as_prompt_name(), reference.as_resource_uri()) {
        (Some("rehydrate"), _) => &["role", "namespace"],
        (Some("recall" | "remember"), _) => &["namespace"],
        (_, Some(MEMORY_TEMPLATE)) => &["namespace", "id"],
        (_, Some(PINS_TEMPLATE)) => &["namespace", "role"],
        _ => &[],
    };
    if !takes.contains(&argument) {
        return Ok(CompleteResult::new(matching(Vec::new(), typed)));
    }
    let candidates: Vec<String> = match argument {
        "role" => app.config().roles.keys().cloned().collect(),
        "namespace" => app
            .store()
            .namespace_counts()
            .await?
            .into_iter()
            .map(|(namespace, _)| namespace)
            .filter(|namespace| caller.may_read(namespace))
            .collect(),
        "id" if !caller.may_read(given("namespace").as_deref().unwrap_or(DEFAULT_NAMESPACE)) => {
            Vec::new()
        }
        "id" => {
            let page = list_memories::run(
                app,
                ListArgs {
                    limit: Some(ID_WINDOW),
                    namespace: given("namespace"),
                    ..ListArgs::default()
                },
            )
            .await?;
            page.memories.into_iter().map(|m| m.id).collect()
        }
        _ => Vec::new(),
    };
    Ok(CompleteResult::new(matching(candidates, typed)))
}

/// The candidates starting with `typed` (ignoring case), at most the 100 MCP allows, with
/// the total and whether more exist.
fn matching(candidates: Vec<String>, typed: &str) -> CompletionInfo {
    let typed = typed.to_lowercase();
    let mut values: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.to_lowercase().starts_with(&typed))
        .collect();
    let total = values.len();
    values.truncate(CompletionInfo::MAX_VALUES);
    let mut info = CompletionInfo::default();
    info.has_more = Some(total > values.len());
    info.total = Some(total as u32);
    info.values = values;
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_without_case_and_at_most_a_hundred_come_back() {
        let roles = vec![
            "implementer".to_string(),
            "planner".into(),
            "Reviewer".into(),
        ];
        assert_eq!(matching(roles.clone(), "pl").values, ["planner"]);
        assert_eq!(matching(roles.clone(), "re").values, ["Reviewer"]);
        assert_eq!(matching(roles, "").values.len(), 3);
        let many: Vec<String> = (0..150).map(|i| format!("ns{i}")).collect();
        let info = matching(many, "ns");
        assert_eq!(info.values.len(), 100);
        assert_eq!((info.total, info.has_more), (Some(150), Some(true)));
    }
}
