//! `memoryd store`: keep a memory from the command line (content as an argument or on stdin).

use std::io::Read;

use anyhow::Context;

use super::{Global, parse_metadata, print_json};
use crate::tools::store_memory::{self, StoreArgs};

/// Flags of `memoryd store`.
#[derive(Debug, clap::Args)]
pub struct StoreCmd {
    /// The text to remember; read from stdin when omitted or "-"
    pub content: Option<String>,
    /// Short title
    #[arg(long)]
    pub title: Option<String>,
    /// note (default), decision, fact, doc, conversation, or another word
    #[arg(long)]
    pub kind: Option<String>,
    /// A tag (repeat for several)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Path or URI the memory came from
    #[arg(long)]
    pub source: Option<String>,
    /// Place inside the source, such as a heading slug
    #[arg(long)]
    pub anchor: Option<String>,
    /// Text that situates the memory, embedded with it (e.g. the previous turn)
    #[arg(long)]
    pub context: Option<String>,
    /// Pin for this role (repeat for several; * for every role)
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Order among pins, higher first
    #[arg(long, allow_hyphen_values = true)]
    pub priority: Option<i32>,
    /// When the recorded thing happened (RFC 3339 or YYYY-MM-DD)
    #[arg(long)]
    pub occurred_at: Option<String>,
    /// A JSON object of your own fields
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
    /// Id of a memory this one replaces (repeat for several); it is kept, marked superseded
    #[arg(long = "supersedes", value_name = "ID")]
    pub supersedes: Vec<String>,
    /// When it expires (RFC 3339 or YYYY-MM-DD); not with --ttl
    #[arg(long)]
    pub expires_at: Option<String>,
    /// How long it lives from now (90s, 12h, 30d; units s m h d w), or never
    #[arg(long)]
    pub ttl: Option<String>,
}

/// Stores the memory and prints its id.
pub async fn run(global: &Global, cmd: StoreCmd) -> anyhow::Result<()> {
    let content = match cmd.content.as_deref() {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read content from stdin")?;
            text
        }
        Some(text) => text.to_string(),
    };
    let args = StoreArgs {
        content,
        title: cmd.title,
        kind: cmd.kind,
        tags: Some(cmd.tags),
        source: cmd.source,
        anchor: cmd.anchor,
        context: cmd.context,
        roles: Some(cmd.roles),
        priority: cmd.priority,
        occurred_at: cmd.occurred_at,
        metadata: parse_metadata(cmd.metadata.as_deref())?,
        supersedes: Some(cmd.supersedes),
        expires_at: cmd.expires_at,
        ttl: cmd.ttl,
        namespace: global.namespace.clone(),
    };
    let app = global.open_app_with_model().await?;
    let out = store_memory::run(&app, args, None).await?;
    if global.json {
        print_json(&out)?;
    } else if out.deduplicated {
        println!("already stored as {} (deduplicated)", out.id);
    } else {
        println!("stored {}", out.id);
    }
    if !global.json {
        for m in &out.similar {
            println!(
                "similar {} ({:.2}) {}",
                m.id,
                m.score,
                m.title.as_deref().unwrap_or(&m.snippet)
            );
        }
    }
    Ok(())
}
