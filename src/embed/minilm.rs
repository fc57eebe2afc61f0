//! all-MiniLM-L6-v2 (int8 weights) through a dynamically loaded ONNX Runtime.
//!
//! **Why the model is loaded from a prepared copy.** The packaged model stores its weights as
//! int8 and turns them into float32 inside the graph (`Cast`, then a scale). ONNX Runtime's
//! constant folding does that once, at session creation, and keeps every intermediate until
//! the pass ends: measured with heaptrack, two 90 MB sets of float32 weights were alive at
//! once, so a process peaked at 319 MiB to settle at 191 MiB. Instead, the first load runs
//! that optimisation in a short-lived child process (`memoryd model prepare`) that saves the
//! optimised graph beside the model, with its float32 weights in a separate data file. Every
//! later session opens that copy by path: ONNX Runtime maps the data file instead of copying
//! it, nothing is folded, and the peak is the steady size (see the README's performance
//! section). If the copy cannot be made (a read-only model dir, a failed child), the original
//! is loaded as before, with its peak.
//!
//! Tokenizing and pooling follow fastembed exactly (same tokenizer settings, mean pooling over
//! the attention mask, L2 normalisation); the unit test below checks the vectors against
//! fastembed's own pipeline on the original model.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{RunOptions, Session};
use ort::value::Tensor;
use tokenizers::{AddedToken, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{DIMENSION, Layout};
use crate::error::{Error, Result};

/// Longest input, in tokens; MiniLM was trained on 256-token windows.
const MAX_TOKENS: usize = 256;
/// Texts per inference batch for bulk embedding.
const BATCH: usize = 32;
/// Runs over more tokens than this (a batch of long texts, on import or backfill) hand the
/// memory they added to ONNX Runtime's arena back when they end; smaller runs (a query, a
/// store) keep reusing it. Measured with `memoryd bench stdio`: without the arena a store
/// cost 0.3 to 0.6 ms more CPU (its activations were mapped and zeroed on every run); with
/// the arena and no shrinking, one batch of 32 long texts would stay in RSS for good.
const SHRINK_AFTER_TOKENS: usize = 1024;
/// The prepared copy's graph and its weights, inside [`prepared_dir`].
const PREPARED_GRAPH: &str = "model.onnx";
const PREPARED_WEIGHTS: &str = "model.data";
/// What the prepared copy was made from (size and mtime of `model.onnx`, runtime library).
const PREPARED_STAMP: &str = "source";

/// The loaded model.
pub struct MiniLm {
    tokenizer: Tokenizer,
    session: Session,
    /// Whether the graph takes `token_type_ids` (MiniLM's does).
    token_types: bool,
    /// Options of large runs: shrink the arena afterwards.
    shrink: RunOptions,
}

/// Loads ONNX Runtime from the layout's library and starts its environment, once per
/// process: ort allows one environment per process, ever (even after it is dropped), and
/// holds it weakly, so it is kept here for the life of the process.
fn init_runtime(layout: &Layout) -> Result<Environment> {
    static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
    if let Some(environment) = ENVIRONMENT.get() {
        return Ok(environment.clone());
    }
    let lib = layout.runtime_library()?;
    // Load ONNX Runtime from our file first: without it, a missing or old system library
    // makes ort panic instead of returning an error.
    let builder = ort::init_from(&lib).map_err(|e| {
        Error::Model(format!(
            "cannot load ONNX Runtime from {}: {e}\nrun 'memoryd model install'",
            lib.display()
        ))
    })?;
    let environment = builder
        .build()
        .map_err(|e| Error::Model(format!("cannot start ONNX Runtime: {e}")))?;
    Ok(ENVIRONMENT.get_or_init(|| environment).clone())
}

/// A session builder with memoryd's options.
fn builder(environment: &Environment, level: GraphOptimizationLevel) -> Result<SessionBuilder> {
    let fail = |e: ort::Error<SessionBuilder>| Error::Model(format!("ONNX Runtime options: {e}"));
    Session::builder(environment)
        .map_err(|e| Error::Model(format!("ONNX Runtime options: {e}")))?
        .with_optimization_level(level)
        .map_err(fail)?
        // One intra-op thread is faster than ONNX Runtime's default on small machines, and
        // leaves the other cores to serve requests.
        .with_intra_threads(1)
        .map_err(fail)
}

/// Where the prepared copy of the model lives: beside the model, one per runtime version.
fn prepared_dir(layout: &Layout) -> Result<PathBuf> {
    let lib = layout.runtime_library()?;
    let runtime = lib.parent().and_then(Path::file_name).map_or_else(
        || "onnxruntime".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(layout.model_dir().join(format!("prepared-{runtime}")))
}

/// What a prepared copy must have been made from to be used.
fn stamp(layout: &Layout) -> Result<String> {
    let model = layout.model_dir().join("model.onnx");
    let meta = std::fs::metadata(&model).map_err(|source| Error::Io {
        context: format!(
            "cannot read {}\nrun 'memoryd model install'",
            model.display()
        ),
        source,
    })?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!(
        "{} {} {mtime}\n",
        layout.runtime_library()?.display(),
        meta.len()
    ))
}

/// The prepared graph, if a current one exists.
fn prepared(layout: &Layout) -> Result<Option<PathBuf>> {
    let dir = prepared_dir(layout)?;
    let current = std::fs::read_to_string(dir.join(PREPARED_STAMP))
        .is_ok_and(|s| s == stamp(layout).unwrap_or_default());
    let graph = dir.join(PREPARED_GRAPH);
    Ok((current && graph.is_file() && dir.join(PREPARED_WEIGHTS).is_file()).then_some(graph))
}

/// Writes the prepared copy (the expensive load, with its peak: run it in a child process).
/// Written to a temp dir and renamed into place, so a reader never sees half of it.
pub fn prepare(layout: &Layout) -> Result<PathBuf> {
    let environment = init_runtime(layout)?;
    if let Some(graph) = prepared(layout)? {
        return Ok(graph);
    }
    let dir = prepared_dir(layout)?;
    let parent = layout.model_dir();
    let io = |context: String| move |source| Error::Io { context, source };
    let tmp = tempfile::Builder::new()
        .prefix(".prepare-")
        .tempdir_in(&parent)
        .map_err(io(format!("cannot write in {}", parent.display())))?;
    let graph = tmp.path().join(PREPARED_GRAPH);
    let fail = |e: ort::Error<SessionBuilder>| Error::Model(format!("ONNX Runtime options: {e}"));
    // Extended, not all: the layout optimisations of level 3 depend on this CPU and are
    // applied again when the copy is opened.
    builder(&environment, GraphOptimizationLevel::Level2)?
        .with_optimized_model_path(&graph)
        .map_err(fail)?
        .with_config_entry(
            "session.optimized_model_external_initializers_file_name",
            PREPARED_WEIGHTS,
        )
        .map_err(fail)?
        .with_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes",
            "1024",
        )
        .map_err(fail)?
        .commit_from_file(parent.join("model.onnx"))
        .map_err(|e| Error::Model(format!("cannot optimise the embedding model: {e}")))?;
    std::fs::write(tmp.path().join(PREPARED_STAMP), stamp(layout)?)
        .map_err(io(format!("cannot write in {}", tmp.path().display())))?;
    // Another process may have finished first: keep its copy (a server may be opening it).
    if let Some(graph) = prepared(layout)? {
        return Ok(graph);
    }
    // A stale copy (another model or runtime) goes; processes that mapped it keep their map.
    let _ = std::fs::remove_dir_all(&dir);
    let kept = tmp.keep();
    // Another process may have renamed its copy in first; either copy is as good.
    if std::fs::rename(&kept, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&kept);
    }
    prepared(layout)?.ok_or_else(|| {
        Error::Model(format!(
            "the prepared model in {} is incomplete\ndelete that folder and start again",
            dir.display()
        ))
    })
}

/// Makes the prepared copy in a child process (`memoryd model prepare`), so its peak is not
/// this process's; the graph's path, or why not.
fn prepare_in_child(layout: &Layout) -> std::result::Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let out = std::process::Command::new(&exe)
        .arg("--model-dir")
        .arg(&layout.root)
        .args(["--offline", "model", "prepare"])
        .env_remove("MEMORYD_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "'{} model prepare' failed ({}): {}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    prepared(layout)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the child wrote no prepared model".into())
}

impl MiniLm {
    /// Loads ONNX Runtime and the model from `layout`: the prepared copy, made first (in a
    /// child process) when missing; the original when that fails.
    pub fn load(layout: &Layout) -> Result<MiniLm> {
        let environment = init_runtime(layout)?;
        let graph = match prepared(layout)? {
            Some(graph) => Some(graph),
            None => match prepare_in_child(layout) {
                Ok(graph) => Some(graph),
                Err(why) => {
                    tracing::warn!(reason = %why, "loading the unprepared model (higher peak memory)");
                    None
                }
            },
        };
        let original = layout.model_dir().join("model.onnx");
        Self::open(&environment, layout, graph.as_deref().unwrap_or(&original))
    }

    /// Opens the graph at `path` with the tokenizer of `layout`.
    fn open(environment: &Environment, layout: &Layout, path: &Path) -> Result<MiniLm> {
        let session = builder(environment, GraphOptimizationLevel::Level3)?
            .commit_from_file(path)
            .map_err(|e| Error::Model(format!("cannot load the embedding model: {e}")))?;
        let token_types = session
            .inputs()
            .iter()
            .any(|input| input.name() == "token_type_ids");
        let mut shrink = RunOptions::new()
            .map_err(|e| Error::Model(format!("ONNX Runtime run options: {e}")))?;
        shrink
            .set("memory.enable_memory_arena_shrinkage", "cpu:0")
            .map_err(|e| Error::Model(format!("ONNX Runtime run options: {e}")))?;
        Ok(MiniLm {
            tokenizer: tokenizer(&layout.model_dir())?,
            session,
            token_types,
            shrink,
        })
    }

    /// One L2-normalised 384-float vector per text.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            self.embed_batch(batch, &mut out)?;
        }
        Ok(out)
    }

    fn embed_batch(&mut self, texts: &[&str], out: &mut Vec<Vec<f32>>) -> Result<()> {
        let failed = |e: &dyn std::fmt::Display| Error::Model(format!("embedding failed: {e}"));
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| failed(&e))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.len());
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        let mut types = Vec::with_capacity(rows * width);
        for e in &encodings {
            ids.extend(e.get_ids().iter().map(|&x| i64::from(x)));
            mask.extend(e.get_attention_mask().iter().map(|&x| i64::from(x)));
            types.extend(e.get_type_ids().iter().map(|&x| i64::from(x)));
        }
        let shape = [rows, width];
        let tensor = |v: Vec<i64>| Tensor::from_array((shape, v)).map_err(|e| failed(&e));
        let mut inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask.clone())?,
        ];
        if self.token_types {
            inputs.push(("token_type_ids".into(), tensor(types)?.into()));
        }
        let outputs = if rows * width > SHRINK_AFTER_TOKENS {
            self.session.run_with_options(inputs, &self.shrink)
        } else {
            self.session.run(inputs)
        }
        .map_err(|e| failed(&e))?;
        let hidden = outputs
            .get("last_hidden_state")
            .unwrap_or(&outputs[0])
            .try_extract_tensor::<f32>()
            .map_err(|e| failed(&e))?;
        let (dims, data) = hidden;
        if dims.len() != 3 || dims[0] as usize != rows || dims[1] as usize != width {
            return Err(failed(&format!("unexpected output shape {dims:?}")));
        }
        let dim = dims[2] as usize;
        if dim != DIMENSION {
            return Err(failed(&format!("vectors of {dim} floats, not {DIMENSION}")));
        }
        for row in 0..rows {
            out.push(mean_pool(
                &data[row * width * dim..(row + 1) * width * dim],
                &mask[row * width..(row + 1) * width],
                dim,
            ));
        }
        Ok(())
    }
}

/// Mean of the token vectors under the attention mask, then L2-normalised (as fastembed).
fn mean_pool(tokens: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; dim];
    let mut count = 0.0f32;
    for (token, &m) in tokens.chunks_exact(dim).zip(mask) {
        if m != 0 {
            let m = m as f32;
            for (s, t) in sum.iter_mut().zip(token) {
                *s += m * t;
            }
            count += m;
        }
    }
    let count = if count == 0.0 { 1.0 } else { count };
    sum.iter_mut().for_each(|s| *s /= count);
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-12;
    sum.iter_mut().for_each(|s| *s /= norm);
    sum
}

/// The tokenizer as fastembed configures it: pad to the batch's longest, truncate to
/// [`MAX_TOKENS`], the special tokens of `special_tokens_map.json`.
fn tokenizer(dir: &Path) -> Result<Tokenizer> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| Error::Io {
            context: format!(
                "cannot read {}\nrun 'memoryd model install'",
                path.display()
            ),
            source,
        })
    };
    let json = |name: &str| -> Result<serde_json::Value> {
        serde_json::from_slice(&read(name)?)
            .map_err(|e| Error::Model(format!("{name} in {} is not JSON: {e}", dir.display())))
    };
    let bad = |e: &dyn std::fmt::Display| Error::Model(format!("cannot set up the tokenizer: {e}"));
    let config = json("config.json")?;
    let tokenizer_config = json("tokenizer_config.json")?;
    let special = json("special_tokens_map.json")?;
    let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(|e| bad(&e))?;
    let max = tokenizer_config["model_max_length"]
        .as_f64()
        .map_or(MAX_TOKENS, |m| MAX_TOKENS.min(m as usize));
    let pad_token = tokenizer_config["pad_token"]
        .as_str()
        .or_else(|| tokenizer_config["pad_token"]["content"].as_str())
        .unwrap_or("[PAD]")
        .to_string();
    let pad_id = config["pad_token_id"]
        .as_u64()
        .map(|id| id as u32)
        .or_else(|| tokenizer.token_to_id(&pad_token))
        .unwrap_or(0);
    tokenizer
        .with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_token,
            pad_id,
            ..Default::default()
        }))
        .with_truncation(Some(TruncationParams {
            max_length: max,
            ..Default::default()
        }))
        .map_err(|e| bad(&e))?;
    let tokens: Vec<AddedToken> = special
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(|v| match v {
            serde_json::Value::String(s) => Some(AddedToken::from(s.clone(), true)),
            serde_json::Value::Object(_) => Some(AddedToken {
                content: v["content"].as_str()?.into(),
                special: true,
                single_word: v["single_word"].as_bool()?,
                lstrip: v["lstrip"].as_bool()?,
                rstrip: v["rstrip"].as_bool()?,
                normalized: v["normalized"].as_bool()?,
            }),
            _ => None,
        })
        .collect();
    tokenizer.add_special_tokens(tokens).map_err(|e| bad(&e))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_skips_padding_and_normalises() {
        let v = mean_pool(&[3.0, 0.0, 1.0, 4.0, 100.0, 100.0], &[1, 1, 0], 2);
        // Mean of (3,0) and (1,4) is (2,2); normalised (0.7071, 0.7071).
        assert!((v[0] - 0.70710677).abs() < 1e-6 && (v[1] - 0.70710677).abs() < 1e-6);
    }

    /// The prepared copy and this pipeline give fastembed's vectors on the original model.
    /// Uses the model the integration tests share (`target/tmp/model`), installing it under
    /// their lock when it is missing.
    #[test]
    fn prepared_model_matches_fastembed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/model");
        std::fs::create_dir_all(&root).unwrap();
        let lock = std::fs::File::create(root.join(".install.lock")).unwrap();
        lock.lock().unwrap();
        let layout = Layout::new(&root);
        if layout.missing().unwrap().is_some() {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(super::super::install::install(&layout))
                .unwrap();
        }
        let texts = [
            "how do we reconcile bank feed imports with the ledger",
            "Deploy on Fridays is forbidden.",
            "",
        ];
        let environment = init_runtime(&layout).unwrap();
        let graph = prepare(&layout).unwrap();
        drop(lock);
        let ours = MiniLm::open(&environment, &layout, &graph)
            .unwrap()
            .embed(&texts)
            .unwrap();
        let dir = layout.model_dir();
        let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
        let files = fastembed::TokenizerFiles {
            tokenizer_file: read("tokenizer.json"),
            config_file: read("config.json"),
            special_tokens_map_file: read("special_tokens_map.json"),
            tokenizer_config_file: read("tokenizer_config.json"),
        };
        let model = fastembed::UserDefinedEmbeddingModel::new(read("model.onnx"), files)
            .with_pooling(fastembed::Pooling::Mean);
        let options = fastembed::InitOptionsUserDefined::new()
            .with_environment(environment.clone())
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(1);
        let theirs = fastembed::TextEmbedding::try_new_from_user_defined(model, options)
            .unwrap()
            .embed(texts, None)
            .unwrap();
        assert_eq!((ours.len(), theirs.len()), (texts.len(), texts.len()));
        for (a, b) in ours.iter().zip(&theirs) {
            let cosine: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(cosine > 0.9999, "cosine {cosine}");
        }
    }
}
