//! `memoryd reembed`: drop every vector and embed every memory again with this build's model.

use anyhow::{Context, bail};

use super::Global;
use crate::app::App;
use crate::embed;

/// Re-embeds everything; the way out when the database was embedded with another model.
pub async fn run(global: &Global) -> anyhow::Result<()> {
    let config = global.config()?;
    let app = App::open_for_reembed(config)
        .await
        .context("cannot open the database")?;
    // Load the model before touching anything: without it, nothing is dropped.
    app.load_model_if_installed().await;
    if let Some(reason) = app.embedder().state().reason_off() {
        bail!("{reason}\nnothing was changed");
    }
    let started = std::time::Instant::now();
    let n = app.reembed().await?;
    println!(
        "re-embedded {n} memories with {} in {:.1} s",
        embed::MODEL_NAME,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
