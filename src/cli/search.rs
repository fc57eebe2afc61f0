//! `memoryd search`: ranked hits for a query, as the `search_memory` tool returns them.

use super::{Global, citation, print_json};
use crate::error::Error;
use crate::retrieve::SearchMode;
use crate::tools::search_memory::{self, SearchArgs};

/// Flags of `memoryd search`.
#[derive(Debug, clap::Args)]
pub struct SearchCmd {
    /// What to look for, in plain words
    pub query: String,
    /// Most hits to return (1 to 100)
    #[arg(long, short = 'l', allow_hyphen_values = true)]
    pub limit: Option<i64>,
    /// hybrid, semantic or keyword
    #[arg(long)]
    pub mode: Option<String>,
    /// Only memories with this tag (repeat: all must match)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only memories of this kind
    #[arg(long)]
    pub kind: Option<String>,
    /// Only memories that occurred at or after this time
    #[arg(long)]
    pub since: Option<String>,
    /// Only memories that occurred at or before this time
    #[arg(long)]
    pub until: Option<String>,
    /// Also memories another one superseded
    #[arg(long)]
    pub include_superseded: bool,
    /// As memory stood at this time: only memories valid then (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

fn parse_mode(mode: &str) -> Result<SearchMode, Error> {
    match mode {
        "hybrid" => Ok(SearchMode::Hybrid),
        "semantic" => Ok(SearchMode::Semantic),
        "keyword" => Ok(SearchMode::Keyword),
        other => Err(Error::invalid(
            "mode",
            format!("'{other}' is not a search mode\nuse hybrid, semantic or keyword"),
        )),
    }
}

/// Runs the search and prints the hits.
pub async fn run(global: &Global, cmd: SearchCmd) -> anyhow::Result<()> {
    let args = SearchArgs {
        query: cmd.query,
        limit: cmd.limit,
        mode: cmd.mode.as_deref().map(parse_mode).transpose()?,
        tags: Some(cmd.tags),
        kind: cmd.kind,
        since: cmd.since,
        until: cmd.until,
        include_superseded: Some(cmd.include_superseded),
        as_of: cmd.as_of,
        namespace: global.namespace.clone(),
    };
    let app = global.open_app_with_model().await?;
    let out = search_memory::run(&app, args).await?;
    if global.json {
        return print_json(&out);
    }
    if let Some(note) = &out.note {
        eprintln!("memoryd: {note}");
    }
    if out.hits.is_empty() {
        println!("no matches");
    }
    for (i, hit) in out.hits.iter().enumerate() {
        let title = hit.title.as_deref().unwrap_or("(untitled)");
        // Scores only mean something relative to each other; the order already says that.
        println!("{}. {title}  ({}, {})", i + 1, hit.kind, hit.id);
        println!("   {}", hit.snippet.replace('\n', " "));
        if let Some(cite) = citation(hit.source.as_deref(), hit.anchor.as_deref()) {
            println!("   {cite}");
        }
    }
    Ok(())
}
