//! `memoryd rehydrate`: the bundle `rehydrate_memory` would hand an agent, in a terminal.

use super::{Global, print_json};
use crate::tools::rehydrate_memory::{self, RehydrateArgs};

/// Flags of `memoryd rehydrate`.
#[derive(Debug, clap::Args)]
pub struct RehydrateCmd {
    /// planner, implementer, researcher, reviewer, general, or a configured role
    #[arg(long, short = 'r')]
    pub role: String,
    /// What the agent is about to do
    #[arg(long, short = 't')]
    pub task: String,
    /// Token budget of the text (default from the role)
    #[arg(long, short = 'b', allow_hyphen_values = true)]
    pub budget: Option<i64>,
    /// Most evidence items (default from the role)
    #[arg(long, short = 'l', allow_hyphen_values = true)]
    pub limit: Option<i64>,
    /// Build the bundle as memory stood at this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

/// Prints the bundle's text (or the whole bundle with --json) and a summary on stderr.
pub async fn run(global: &Global, cmd: RehydrateCmd) -> anyhow::Result<()> {
    let app = global.open_app_with_model().await?;
    let bundle = rehydrate_memory::run(
        &app,
        RehydrateArgs {
            role: cmd.role,
            task: cmd.task,
            limit: cmd.limit,
            token_budget: cmd.budget,
            as_of: cmd.as_of,
            namespace: global.namespace.clone(),
        },
    )
    .await?;
    if global.json {
        return print_json(&bundle);
    }
    print!("{}", bundle.text);
    let m = &bundle.meta;
    eprintln!(
        "memoryd: {} of {} tokens ({} pins, {} evidence), {} items included, {} dropped, {} retrieval",
        m.tokens.total,
        m.token_budget,
        m.tokens.pins,
        m.tokens.evidence,
        m.items.included,
        m.items.dropped.len(),
        serde_json::to_value(m.retrieval_mode)?
            .as_str()
            .unwrap_or_default()
    );
    if let Some(note) = &m.note {
        eprintln!("memoryd: {note}");
    }
    Ok(())
}
