//! Counting tokens the way the agent's model will, with tiktoken's encodings.

use std::sync::Arc;

use tiktoken_rs::CoreBPE;

use crate::error::{Error, Result};

/// A loaded tiktoken encoding; cheap to clone.
#[derive(Clone)]
pub struct Tokenizer {
    name: String,
    bpe: Arc<CoreBPE>,
}

impl Tokenizer {
    /// Loads `o200k_base` or `cl100k_base` (about 100 ms: build it once and keep it).
    pub fn load(name: &str) -> Result<Tokenizer> {
        let bpe = match name {
            "o200k_base" => tiktoken_rs::o200k_base(),
            "cl100k_base" => tiktoken_rs::cl100k_base(),
            other => {
                return Err(Error::invalid(
                    "config",
                    format!("rehydrate.tokenizer: '{other}' is not a known tokenizer"),
                ));
            }
        }
        .map_err(|e| Error::Internal(format!("cannot load tokenizer {name}: {e}")))?;
        Ok(Tokenizer {
            name: name.to_string(),
            bpe: Arc::new(bpe),
        })
    }

    /// The encoding's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tokens in `text`.
    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }
}
