//! `memoryd backup PATH`: a consistent copy of the database with SQLite's online backup API,
//! safe while a server or agents keep writing; the copy is checked before it is kept.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Global;
use crate::store::{KeywordRanking, Location, Store};

/// Flags of `memoryd backup`.
#[derive(Debug, clap::Args)]
pub struct BackupCmd {
    /// File to write the copy to (it must not exist unless --force)
    pub path: PathBuf,

    /// Replace PATH if it exists
    #[arg(long)]
    pub force: bool,
}

/// Copies, checks, and moves the copy into place.
pub async fn run(global: &Global, cmd: BackupCmd) -> anyhow::Result<()> {
    let config = global.config()?;
    if let Some(url) = &config.storage.database_url {
        bail!(
            "memoryd backup copies a SQLite file, and this store is PostgreSQL ({})\nback it up with pg_dump: pg_dump --format=custom --file=memoryd.dump 'postgres://USER@HOST/DATABASE' (or your provider's snapshots); memoryd export writes portable JSONL too",
            crate::config::redact_url(url)
        );
    }
    let db = config.database_path();
    if !db.is_file() {
        bail!(
            "no database at {}\ncheck --data-dir (MEMORYD_DATA_DIR)",
            db.display()
        );
    }
    let path = &cmd.path;
    if path.is_dir() {
        bail!(
            "invalid argument 'path': {} is a folder\nname the file to write, such as {}",
            path.display(),
            path.join("memoryd-backup.db").display()
        );
    }
    if path.exists() && !cmd.force {
        bail!(
            "invalid argument 'path': {} exists\npass --force to replace it",
            path.display()
        );
    }
    if let (Ok(a), Ok(b)) = (path.canonicalize(), db.canonicalize())
        && a == b
    {
        bail!("invalid argument 'path': that is the database itself");
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".memoryd-backup")
        .tempfile_in(&dir)
        .with_context(|| {
            format!(
                "cannot write in {}\ncheck that the folder exists",
                dir.display()
            )
        })?
        .into_temp_path();
    // The engine's own ranking: a backup searches nothing, so no index is loaded.
    let budget = crate::config::Limits::default().index_memory_bytes;
    let store = Store::open(&Location::File(db.clone()), KeywordRanking::Engine, budget)
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    store
        .backup_to(tmp.to_path_buf())
        .await
        .with_context(|| format!("backup of {} failed", db.display()))?;
    let (problems, memories) = crate::store::verify_copy(&tmp)?;
    if problems != ["ok"] {
        bail!(
            "the copy failed its integrity check: {}\nrun 'memoryd doctor' on the original",
            problems.join("; ")
        );
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {memories} memories to {} ({:.1} MB, integrity ok)",
        path.display(),
        size as f64 / 1e6
    );
    Ok(())
}
