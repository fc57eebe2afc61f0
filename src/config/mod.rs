//! Settings: where data lives and the limits every request is checked against.
//!
//! Today the values come from code defaults and command-line flags (with their `MEMORYD_*`
//! environment variables, read by clap). The TOML layer arrives with the daemon work; callers
//! already take a [`Config`] so that layer slots in here without touching them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "memoryd.db";

/// Everything the server and the CLI need to know to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory that holds the database (and later the model and runtime files).
    pub data_dir: PathBuf,
    /// Directory of the embedding model and ONNX Runtime (default: `<data_dir>/models`).
    pub model_dir: PathBuf,
    /// Servers download a missing model in the background (off with `--offline`).
    pub auto_install: bool,
    /// Upper bounds on request sizes.
    pub limits: Limits,
    /// Hybrid ranking settings.
    pub retrieval: Retrieval,
}

impl Config {
    /// A config for `data_dir` with defaults for everything else.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            model_dir: data_dir.join("models"),
            data_dir,
            auto_install: true,
            limits: Limits::default(),
            retrieval: Retrieval::default(),
        }
    }

    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }
}

/// Upper bounds on what one request may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest `content` of one memory, in bytes (UTF-8).
    pub max_content_bytes: usize,
    /// Largest `context` of one memory, in bytes (UTF-8).
    pub max_context_bytes: usize,
    /// Largest `metadata` object, in bytes of JSON.
    pub max_metadata_bytes: usize,
    /// Most tags one memory may carry.
    pub max_tags: usize,
    /// Largest `limit` for `search_memory`.
    pub max_search_limit: usize,
    /// `limit` for `search_memory` when none is given.
    pub default_search_limit: usize,
    /// Largest page for `list_memories`.
    pub max_list_limit: usize,
    /// Page size for `list_memories` when none is given.
    pub default_list_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_bytes: 64 * 1024,
            max_context_bytes: 4 * 1024,
            max_metadata_bytes: 16 * 1024,
            max_tags: 32,
            max_search_limit: 100,
            default_search_limit: 10,
            max_list_limit: 200,
            default_list_limit: 50,
        }
    }
}

/// How hybrid search fuses keyword and semantic candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieval {
    /// Keyword (BM25) candidates fused.
    pub keyword_candidates: usize,
    /// Semantic (KNN) candidates fused.
    pub semantic_candidates: usize,
    /// Weight of the keyword score in 0..=1; the semantic score gets the rest.
    pub keyword_weight: f32,
}

/// Defaults measured on the LoCoMo dev split (see the README's retrieval table): a shorter
/// BM25 list keeps its weak tail from crowding out good semantic candidates, and BM25 earns a
/// slightly larger share than cosine similarity.
impl Default for Retrieval {
    fn default() -> Self {
        Retrieval {
            keyword_candidates: 50,
            semantic_candidates: 100,
            keyword_weight: 0.6,
        }
    }
}

/// The platform's default data directory: XDG data dir on Linux,
/// `~/Library/Application Support/memoryd` on macOS.
pub fn default_data_dir() -> Result<PathBuf> {
    dirs::data_dir().map(|d| d.join("memoryd")).ok_or_else(|| {
        Error::invalid(
            "data-dir",
            "no home directory to put data in\npass --data-dir or set MEMORYD_DATA_DIR",
        )
    })
}

/// Creates the data directory (and parents) if it does not exist yet.
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("cannot create data directory {}", dir.display()),
        source,
    })
}
