//! `memoryd get`: one memory in full.

use super::{Global, citation, print_json};
use crate::memory::Memory;
use crate::tools::get_memory::{self, GetArgs};

/// Flags of `memoryd get`.
#[derive(Debug, clap::Args)]
pub struct GetCmd {
    /// The memory's id
    pub id: String,
    /// Also print its earlier versions, newest first, and the memories it superseded
    #[arg(long)]
    pub history: bool,
    /// Print the memory as it stood at this version (1 is as first stored)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub version: Option<i64>,
    /// Print it even when it has expired (until the sweep purges it)
    #[arg(long)]
    pub include_expired: bool,
}

/// Prints one memory: its fields, a blank line, then its content.
pub fn print_memory(m: &Memory) {
    println!("id:          {}", m.id);
    println!("namespace:   {}", m.namespace);
    if let Some(title) = &m.title {
        println!("title:       {title}");
    }
    println!("kind:        {}", m.kind);
    if !m.tags.is_empty() {
        println!("tags:        {}", m.tags.join(", "));
    }
    if let Some(cite) = citation(m.source.as_deref(), m.anchor.as_deref()) {
        println!("source:      {cite}");
    }
    if let Some(context) = &m.context {
        println!("context:     {}", context.replace('\n', " "));
    }
    if !m.roles.is_empty() {
        println!("roles:       {}", m.roles.join(", "));
    }
    println!("priority:    {}", m.priority);
    println!("occurred_at: {}", m.occurred_at);
    println!("created_at:  {}", m.created_at);
    if let Some(by) = &m.created_by {
        println!("created_by:  {by}");
    }
    println!("updated_at:  {}", m.updated_at);
    if let Some(by) = &m.updated_by {
        println!("updated_by:  {by}");
    }
    println!("version:     {}", m.version);
    if let Some(by) = &m.superseded_by {
        println!("superseded:  by {by}");
    }
    if let Some(until) = &m.valid_until {
        println!("valid_until: {until}");
    }
    if let Some(at) = &m.expires_at {
        println!("expires_at:  {at}");
    }
    if let Some(ids) = m.supersedes.as_ref().filter(|ids| !ids.is_empty()) {
        println!("supersedes:  {}", ids.join(", "));
    }
    if !m.metadata.is_empty() {
        println!(
            "metadata:    {}",
            serde_json::Value::Object(m.metadata.clone())
        );
    }
    println!();
    println!("{}", m.content);
    for v in m.versions.iter().flatten() {
        println!();
        match &v.changed_by {
            Some(by) => println!("--- version {} (from {}, by {by})", v.version, v.changed_at),
            None => println!("--- version {} (from {})", v.version, v.changed_at),
        }
        println!("{}", v.content);
    }
}

/// Fetches and prints the memory.
pub async fn run(global: &Global, cmd: GetCmd) -> anyhow::Result<()> {
    let app = global.open_app().await?;
    let m = get_memory::run(
        &app,
        GetArgs {
            id: cmd.id,
            history: Some(cmd.history),
            version: cmd.version,
            include_expired: Some(cmd.include_expired),
            namespace: global.namespace.clone(),
        },
    )
    .await?;
    if global.json {
        print_json(&m)
    } else {
        print_memory(&m);
        Ok(())
    }
}
