//! `memoryd update`: change fields of one memory.

use super::get::print_memory;
use super::{Global, parse_metadata, print_json};
use crate::tools::update_memory::{self, UpdateArgs};

/// Flags of `memoryd update`.
#[derive(Debug, clap::Args)]
pub struct UpdateCmd {
    /// The memory's id
    pub id: String,
    /// New text
    #[arg(long)]
    pub content: Option<String>,
    /// New title ("" clears it)
    #[arg(long)]
    pub title: Option<String>,
    /// New kind
    #[arg(long)]
    pub kind: Option<String>,
    /// Replace the tags (repeat for several)
    #[arg(long = "tag", value_name = "TAG", conflicts_with = "no_tags")]
    pub tags: Vec<String>,
    /// Remove all tags
    #[arg(long)]
    pub no_tags: bool,
    /// New source ("" clears it)
    #[arg(long)]
    pub source: Option<String>,
    /// New anchor ("" clears it)
    #[arg(long)]
    pub anchor: Option<String>,
    /// New context, embedded with the content ("" clears it)
    #[arg(long)]
    pub context: Option<String>,
    /// Replace the pinned roles (repeat for several)
    #[arg(long = "role", value_name = "ROLE", conflicts_with = "no_roles")]
    pub roles: Vec<String>,
    /// Unpin from every role
    #[arg(long)]
    pub no_roles: bool,
    /// New priority
    #[arg(long, allow_hyphen_values = true)]
    pub priority: Option<i32>,
    /// New occurred_at (RFC 3339 or YYYY-MM-DD)
    #[arg(long)]
    pub occurred_at: Option<String>,
    /// New metadata, a JSON object replacing the old one
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
    /// Id of a memory this one replaces (repeat for several); it is kept, marked superseded
    #[arg(long = "supersedes", value_name = "ID")]
    pub supersedes: Vec<String>,
    /// When it expires (RFC 3339 or YYYY-MM-DD); not with --ttl
    #[arg(long)]
    pub expires_at: Option<String>,
    /// How long it lives from now (90s, 12h, 30d; units s m h d w), or never to clear the expiry
    #[arg(long)]
    pub ttl: Option<String>,
}

fn list_flag(values: Vec<String>, clear: bool) -> Option<Vec<String>> {
    if clear {
        Some(Vec::new())
    } else if values.is_empty() {
        None
    } else {
        Some(values)
    }
}

/// Applies the change and prints the memory as stored.
pub async fn run(global: &Global, cmd: UpdateCmd) -> anyhow::Result<()> {
    let args = UpdateArgs {
        id: cmd.id,
        content: cmd.content,
        title: cmd.title,
        kind: cmd.kind,
        tags: list_flag(cmd.tags, cmd.no_tags),
        source: cmd.source,
        anchor: cmd.anchor,
        context: cmd.context,
        roles: list_flag(cmd.roles, cmd.no_roles),
        priority: cmd.priority,
        occurred_at: cmd.occurred_at,
        metadata: parse_metadata(cmd.metadata.as_deref())?,
        supersedes: Some(cmd.supersedes),
        expires_at: cmd.expires_at,
        ttl: cmd.ttl,
        namespace: global.namespace.clone(),
    };
    let app = global.open_app_with_model().await?;
    let m = update_memory::run(&app, args, None).await?;
    if global.json {
        print_json(&m)
    } else {
        print_memory(&m);
        Ok(())
    }
}
