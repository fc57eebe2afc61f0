//! `memoryd import PATH`: JSONL memories or a folder of Markdown, checked, embedded in
//! batches and written, with a progress bar on stderr.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::Global;
use crate::import::{self, RecordError};

/// Errors listed before the rest are only counted.
const SHOWN_ERRORS: usize = 20;

/// Flags of `memoryd import`.
#[derive(Debug, clap::Args)]
pub struct ImportCmd {
    /// A JSONL file (as `memoryd export` writes; `-` reads stdin), a Markdown file, or a
    /// folder of Markdown files
    pub path: PathBuf,

    /// Check every record and report problems, but write nothing
    #[arg(long)]
    pub check: bool,
}

/// Reads, checks and writes; prints a summary.
pub async fn run(global: &Global, cmd: ImportCmd) -> anyhow::Result<()> {
    let config = global.config()?;
    let namespace = crate::memory::namespace(global.namespace.as_deref())?;
    let display = cmd.path.display().to_string();
    let read = if cmd.path.as_os_str() == "-" {
        let text = std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?;
        import::read_jsonl("<stdin>", &text, &namespace, &config.limits)
    } else if !cmd.path.exists() {
        bail!(
            "invalid argument 'path': {display} does not exist\npass a .jsonl file or a folder of Markdown files"
        );
    } else if import::is_markdown_source(&cmd.path) {
        import::markdown::read(&cmd.path, &namespace, &config.limits)
            .map(|memories| memories.into_iter().map(|m| (m, None)).collect())
    } else {
        let text =
            std::fs::read_to_string(&cmd.path).with_context(|| format!("cannot read {display}"))?;
        import::read_jsonl(&display, &text, &namespace, &config.limits)
    };
    let memories = read.map_err(report)?;
    if cmd.check {
        println!(
            "{} memories checked in {display}; nothing written",
            memories.len()
        );
        return Ok(());
    }
    let app = global.open_app_with_model().await?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(memories.len() as u64).with_style(
            ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        )
    } else {
        ProgressBar::hidden()
    };
    let total = memories.len();
    let summary = import::store(&app, memories, |done| bar.set_position(done as u64))
        .await
        .context("import failed; batches written before the failure stay")?;
    bar.finish_and_clear();
    println!(
        "imported {} of {total} memories from {display} ({} embedded, {} of them with the vector they carried, {} already present, {} duplicates of stored content, {} id conflicts)",
        summary.inserted,
        summary.embedded,
        summary.carried,
        summary.already_present,
        summary.duplicates,
        summary.conflicts.len()
    );
    for (id, ns) in &summary.conflicts {
        eprintln!(
            "memoryd: skipped id '{id}': it is stored (namespace '{ns}') with different content"
        );
    }
    if summary.inserted > summary.embedded {
        eprintln!(
            "memoryd: {} memories have no vector yet (the model is not installed); a server embeds them when it starts\nor run 'memoryd model install' then 'memoryd reembed'",
            summary.inserted - summary.embedded
        );
    }
    Ok(())
}

/// Prints every record error (up to a point) and turns them into one error.
fn report(errors: Vec<RecordError>) -> anyhow::Error {
    for e in errors.iter().take(SHOWN_ERRORS) {
        eprintln!("{e}");
    }
    if errors.len() > SHOWN_ERRORS {
        eprintln!("… and {} more", errors.len() - SHOWN_ERRORS);
    }
    anyhow::anyhow!(
        "{} invalid record(s); nothing was imported\nfix them and run the import again (--check only checks)",
        errors.len()
    )
}
