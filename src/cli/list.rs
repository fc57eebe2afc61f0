//! `memoryd list`: page through memories, newest first.

use super::{Global, print_json};
use crate::tools::list_memories::{self, ListArgs};

/// Flags of `memoryd list`.
#[derive(Debug, clap::Args)]
pub struct ListCmd {
    /// Only memories with this tag (repeat: all must match)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only memories of this kind
    #[arg(long)]
    pub kind: Option<String>,
    /// Only memories pinned for this role (or for every role)
    #[arg(long)]
    pub role: Option<String>,
    /// Page size (1 to 200)
    #[arg(long, short = 'l', allow_hyphen_values = true)]
    pub limit: Option<i64>,
    /// Continue from a previous page's cursor
    #[arg(long)]
    pub cursor: Option<String>,
    /// Also memories another one superseded
    #[arg(long)]
    pub include_superseded: bool,
    /// As memory stood at this time: only memories valid then (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
}

/// Prints one page and, when there is more, the command for the next.
pub async fn run(global: &Global, cmd: ListCmd) -> anyhow::Result<()> {
    let args = ListArgs {
        tags: Some(cmd.tags),
        kind: cmd.kind,
        role: cmd.role,
        limit: cmd.limit,
        cursor: cmd.cursor,
        include_superseded: Some(cmd.include_superseded),
        as_of: cmd.as_of,
        namespace: global.namespace.clone(),
    };
    let app = global.open_app().await?;
    let page = list_memories::run(&app, args).await?;
    if global.json {
        return print_json(&page);
    }
    if page.memories.is_empty() {
        println!("no memories");
    }
    for m in &page.memories {
        let first_line = m.content.lines().next().unwrap_or("");
        let label = m.title.as_deref().unwrap_or(first_line);
        let label: String = label.chars().take(72).collect();
        println!("{}  {:<10} {}", m.id, m.kind, label);
    }
    if let Some(cursor) = &page.next_cursor {
        println!("more: memoryd list --cursor {cursor}");
    }
    Ok(())
}
