//! `memoryd schemas`: the JSON Schemas of every tool's input and output.

use std::path::PathBuf;

use anyhow::Context;

use crate::tools::MemoryServer;

/// Flags of `memoryd schemas`.
#[derive(Debug, clap::Args)]
pub struct SchemasCmd {
    /// Write one file per schema into this directory instead of printing them
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints the schemas, or writes them to `--out`.
pub fn run(cmd: SchemasCmd) -> anyhow::Result<()> {
    let files = MemoryServer::schema_files();
    let Some(dir) = cmd.out else {
        for (name, text) in files {
            println!("// {name}\n{text}");
        }
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("wrote schemas to {}", dir.display());
    Ok(())
}
