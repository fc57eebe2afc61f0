//! all-MiniLM-L6-v2 (int8 weights) through fastembed and a dynamically loaded ONNX Runtime.

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::Layout;
use crate::error::{Error, Result};

/// Longest input, in tokens; MiniLM was trained on 256-token windows.
const MAX_TOKENS: usize = 256;
/// Texts per inference batch for bulk embedding.
const BATCH: usize = 32;

/// The loaded model.
pub struct MiniLm {
    model: TextEmbedding,
}

impl MiniLm {
    /// Loads ONNX Runtime and the model from `layout`.
    pub fn load(layout: &Layout) -> Result<MiniLm> {
        let lib = layout.runtime_library()?;
        // Load ONNX Runtime from our file first: without it, a missing or old system library
        // makes ort panic instead of returning an error. Sessions then create the default
        // environment on this library.
        let _builder = ort::init_from(&lib).map_err(|e| {
            Error::Model(format!(
                "cannot load ONNX Runtime from {}: {e}\nrun 'memoryd model install'",
                lib.display()
            ))
        })?;
        let dir = layout.model_dir();
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
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        // fastembed defaults to CLS pooling for user-defined models; MiniLM is mean-pooled.
        let model =
            UserDefinedEmbeddingModel::new(read("model.onnx")?, files).with_pooling(Pooling::Mean);
        // One intra-op thread is faster than ONNX Runtime's default on small machines, and
        // leaves the other cores to serve requests.
        let options = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_intra_threads(1);
        let model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| Error::Model(format!("cannot load the embedding model: {e}")))?;
        Ok(MiniLm { model })
    }
}

impl MiniLm {
    /// One L2-normalised 384-float vector per text.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.model
            .embed(texts, Some(BATCH))
            .map_err(|e| Error::Model(format!("embedding failed: {e}")))
    }
}
