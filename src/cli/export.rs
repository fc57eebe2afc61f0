//! `memoryd export [--out FILE]`: every memory of every namespace as JSONL, in storing order,
//! with every field, so `memoryd import` gives back the same memories.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::Global;

/// Memories read per query.
const PAGE: usize = 500;

/// Flags of `memoryd export`.
#[derive(Debug, clap::Args)]
pub struct ExportCmd {
    /// Write to FILE instead of stdout (written to a temp file and renamed when complete)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Export only this namespace [default: every namespace]
    #[arg(long, value_name = "NS")]
    pub only_namespace: Option<String>,

    /// Include each memory's vector, so that importing it (into either engine) with the same
    /// model embeds nothing again (about 2 KB more per memory)
    #[arg(long)]
    pub vectors: bool,
}

/// One line of the export: the memory, and its vector when asked for.
#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    memory: &'a crate::memory::Memory,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector: Option<crate::import::CarriedVector>,
}

/// Writes the JSONL.
pub async fn run(global: &Global, cmd: ExportCmd) -> anyhow::Result<()> {
    let only = cmd
        .only_namespace
        .as_deref()
        .map(|ns| crate::memory::namespace(Some(ns)))
        .transpose()?;
    let app = global.open_app().await?;
    let (mut out, tmp): (Box<dyn Write>, _) = match &cmd.out {
        None => (Box::new(BufWriter::new(std::io::stdout().lock())), None),
        Some(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let tmp = tempfile::NamedTempFile::new_in(&dir).with_context(|| {
                format!(
                    "cannot write in {}\ncheck that the folder exists",
                    dir.display()
                )
            })?;
            let file = tmp.reopen()?;
            (Box::new(BufWriter::new(file)), Some(tmp))
        }
    };
    let mut after = 0;
    let mut count = 0;
    loop {
        let page = app.store().export_page(after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let mut vectors: std::collections::HashMap<i64, Vec<f32>> = if cmd.vectors {
            let rowids = page.iter().map(|(r, _)| *r).collect();
            app.store()
                .vectors_by_rowid(rowids)
                .await?
                .into_iter()
                .collect()
        } else {
            Default::default()
        };
        for (rowid, memory) in page {
            if only.as_ref().is_some_and(|ns| *ns != memory.namespace) {
                continue;
            }
            let line = Line {
                memory: &memory,
                vector: vectors
                    .remove(&rowid)
                    .map(|v| crate::import::CarriedVector::new(&v)),
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    out.flush().context("cannot write the export")?;
    drop(out);
    if let (Some(tmp), Some(path)) = (tmp, &cmd.out) {
        tmp.persist(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("exported {count} memories to {}", path.display());
    }
    Ok(())
}
