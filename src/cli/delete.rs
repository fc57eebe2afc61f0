//! `memoryd delete`: remove one memory.

use super::{Global, print_json};
use crate::error::Error;
use crate::memory;
use crate::tools::delete_memory::{self, DeleteArgs};

/// Flags of `memoryd delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteCmd {
    /// The memory's id
    pub id: String,
}

/// Deletes the memory; a missing id is an error (exit code 1) so scripts notice.
pub async fn run(global: &Global, cmd: DeleteCmd) -> anyhow::Result<()> {
    let app = global.open_app().await?;
    let out = delete_memory::run(
        &app,
        DeleteArgs {
            id: cmd.id,
            namespace: global.namespace.clone(),
        },
    )
    .await?;
    if global.json {
        print_json(&out)?;
    } else if out.deleted {
        println!("deleted {}", out.id);
    }
    if !out.deleted {
        return Err(Error::NotFound {
            id: out.id,
            namespace: memory::namespace(global.namespace.as_deref())?,
        }
        .into());
    }
    Ok(())
}
