//! MCP prompts: what a person starts a conversation with, from a client's slash-command menu.
//!
//! `rehydrate` hands over a role's bundle for a task, `recall` the memories that best match
//! a query (as embedded resources), and `remember` asks the agent to store what the session
//! decided. Each runs through the same tool code as the matching tool call.

use std::collections::HashMap;

#[allow(deprecated)]
use rmcp::model::{
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, ListPromptsResult, LoggingLevel,
    Prompt, PromptArgument, PromptMessage, Role,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::json;

use super::rehydrate_memory::{self, RehydrateArgs};
use super::resources::{self, memory_uri};
use super::search_memory::{self, SearchArgs};
use super::{MemoryServer, access};
use crate::app::App;
use crate::error::{Error, Result};

/// Hits `recall` embeds when the caller does not say.
const RECALL_DEFAULT: i64 = 5;

/// The prompts, in the order clients show them.
pub fn list() -> ListPromptsResult {
    let namespace = || {
        PromptArgument::new("namespace")
            .with_description("Project scope (default \"default\")")
            .with_required(false)
    };
    ListPromptsResult::with_all_items(vec![
        Prompt::new(
            "rehydrate",
            Some(
                "Start a task with the context memoryd keeps for your role: pinned memories, \
                 then the most relevant evidence, each cited, packed into a token budget.",
            ),
            Some(vec![
                PromptArgument::new("role")
                    .with_description(
                        "Who is working: planner, implementer, researcher, reviewer, general, or a \
                         configured role",
                    )
                    .with_required(true),
                PromptArgument::new("task")
                    .with_description("What you are about to do, in a sentence or two")
                    .with_required(true),
                namespace(),
                PromptArgument::new("token_budget")
                    .with_description(
                        "Budget of the context in tokens, 64 to 32000 (default from the role)",
                    )
                    .with_required(false),
            ]),
        )
        .with_title("Rehydrate context for a task"),
        Prompt::new(
            "recall",
            Some("Bring the memories that best match a query into the conversation, in full."),
            Some(vec![
                PromptArgument::new("query")
                    .with_description("What to look for, in your own words")
                    .with_required(true),
                namespace(),
                PromptArgument::new("limit")
                    .with_description("How many memories, 1 to 20 (default 5)")
                    .with_required(false),
            ]),
        )
        .with_title("Recall memories"),
        Prompt::new(
            "remember",
            Some(
                "Ask the agent to store this session's decisions, facts and conventions with \
                 store_memory before you close it.",
            ),
            Some(vec![namespace()]),
        )
        .with_title("Remember this session"),
    ])
}

/// Builds prompt `name` from its arguments.
pub async fn get(
    app: &App,
    name: &str,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<GetPromptResult> {
    let arguments = Arguments::new(arguments.unwrap_or_default())?;
    match name {
        "rehydrate" => rehydrate(app, arguments).await,
        "recall" => recall(app, arguments).await,
        "remember" => remember(arguments),
        other => Err(Error::invalid(
            "name",
            format!("no prompt '{other}'\nthe prompts are: rehydrate, recall, remember"),
        )),
    }
}

impl MemoryServer {
    /// Answers `prompts/get`, and logs the prompt to the session.
    #[allow(deprecated)]
    pub(super) async fn on_get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        access::check_mcp(
            &access::caller(&context),
            access::prompt_needs(request.arguments.as_ref()),
        )?;
        let result = get(&self.app, &request.name, request.arguments).await;
        self.log(
            &context.peer,
            LoggingLevel::Info,
            || json!({"event": "prompt", "prompt": request.name, "ok": result.is_ok()}),
        )
        .await;
        Ok(result?.into())
    }
}

/// A prompt's arguments: strings, as MCP sends them.
struct Arguments(HashMap<String, String>);

impl Arguments {
    fn new(raw: serde_json::Map<String, serde_json::Value>) -> Result<Arguments> {
        let mut arguments = HashMap::new();
        for (name, value) in raw {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Null => continue,
                other => {
                    return Err(Error::invalid(
                        name,
                        format!("must be a string, got {other}"),
                    ));
                }
            };
            arguments.insert(name, text);
        }
        Ok(Arguments(arguments))
    }

    /// A required argument, non-empty.
    fn required(&mut self, name: &str) -> Result<String> {
        match self.0.remove(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(Error::invalid(name, "is required")),
        }
    }

    /// An optional argument; empty counts as absent (clients send "" for a skipped field).
    fn optional(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.trim().is_empty())
    }

    /// An optional whole-number argument.
    fn number(&mut self, name: &str) -> Result<Option<i64>> {
        self.optional(name)
            .map(|text| {
                text.trim().parse::<i64>().map_err(|_| {
                    Error::invalid(name, format!("must be a whole number, got '{text}'"))
                })
            })
            .transpose()
    }

    /// Refuses arguments the prompt does not take.
    fn done(self, prompt: &str, known: &[&str]) -> Result<()> {
        match self.0.into_keys().next() {
            Some(name) => Err(Error::invalid(
                name,
                format!(
                    "is not an argument of the {prompt} prompt\nits arguments are: {}",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}

async fn rehydrate(app: &App, mut arguments: Arguments) -> Result<GetPromptResult> {
    let role = arguments.required("role")?;
    let task = arguments.required("task")?;
    let namespace = arguments.optional("namespace");
    let token_budget = arguments.number("token_budget")?;
    arguments.done("rehydrate", &["role", "task", "namespace", "token_budget"])?;
    let bundle = rehydrate_memory::run(
        app,
        RehydrateArgs {
            role: role.clone(),
            task: task.clone(),
            token_budget,
            namespace,
            limit: None,
            as_of: None,
        },
    )
    .await?;
    let text = format!(
        "I am working as the {role} on this task: {task}\n\nHere is what memoryd keeps that \
         bears on it. Pinned items are standing instructions for my role; evidence items are \
         cited with their memory ids (get_memory gives the full text).\n\n{}",
        bundle.text
    );
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = Some(format!("Context for the {role} role: {task}"));
    Ok(result)
}

async fn recall(app: &App, mut arguments: Arguments) -> Result<GetPromptResult> {
    let query = arguments.required("query")?;
    let namespace = arguments.optional("namespace");
    let limit = arguments.number("limit")?.unwrap_or(RECALL_DEFAULT);
    arguments.done("recall", &["query", "namespace", "limit"])?;
    if !(1..=20).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be from 1 to 20, got {limit}"),
        ));
    }
    let found = search_memory::run(
        app,
        SearchArgs {
            query: query.clone(),
            limit: Some(limit),
            namespace: namespace.clone(),
            ..SearchArgs::default()
        },
    )
    .await?;
    let namespace = crate::memory::namespace(namespace.as_deref())?;
    let mut messages = vec![PromptMessage::new_text(
        Role::User,
        match found.hits.len() {
            0 => {
                format!("memoryd has no memories matching \"{query}\" in namespace '{namespace}'.")
            }
            1 => format!("Here is the memory that best matches \"{query}\":"),
            n => format!("Here are the {n} memories that best match \"{query}\", best first:"),
        },
    )];
    for hit in &found.hits {
        // A memory deleted since the search is left out rather than failing the prompt.
        let Ok(memory) = app.store().get(namespace.clone(), hit.id.clone()).await else {
            continue;
        };
        messages.push(PromptMessage::new_resource(
            Role::User,
            memory_uri(&memory.namespace, &memory.id),
            Some("text/markdown".into()),
            Some(memory.content.clone()),
            None,
            Some(resources::meta(&memory)),
            None,
        ));
    }
    let mut result = GetPromptResult::new(messages);
    result.description = Some(format!("Memories matching \"{query}\""));
    Ok(result)
}

fn remember(mut arguments: Arguments) -> Result<GetPromptResult> {
    let namespace = crate::memory::namespace(arguments.optional("namespace").as_deref())?;
    arguments.done("remember", &["namespace"])?;
    let text = format!(
        "Before we finish, store what this session settled so that later sessions start from \
         it. Go through our conversation and, for each decision (with its reason), fact learned, \
         convention agreed or open question left, call store_memory once with namespace \
         '{namespace}': a short title, the content in a few self-contained sentences, kind \
         decision, fact, convention or note, and tags naming the area. Search with \
         search_memory first and update_memory an existing memory instead of storing a \
         near-duplicate. Pin standing instructions for a role with roles (for example \
         [\"implementer\"]). Then list what you stored."
    );
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = Some("Store this session's decisions in memoryd".into());
    Ok(result)
}
