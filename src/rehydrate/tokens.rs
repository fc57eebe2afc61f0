//! Counting tokens the way the agent's model will, with tiktoken's encodings.

use std::sync::Arc;

use tiktoken_rs::CoreBPE;

use crate::error::{Error, Result};

/// Block counts remembered (a block's count never changes for the same text).
const CACHED_COUNTS: u64 = 50_000;

/// A loaded tiktoken encoding; cheap to clone.
#[derive(Clone)]
pub struct Tokenizer {
    name: String,
    bpe: Arc<CoreBPE>,
    /// Counts of item blocks by a hash of their text: bundles for related tasks keep
    /// counting the same memories.
    counts: moka::sync::Cache<u64, usize>,
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
            counts: moka::sync::Cache::new(CACHED_COUNTS),
        })
    }

    /// The encoding's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tokens in `text`, counted now. The final check of a bundle uses this.
    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }

    /// Tokens in `text`, remembered for the next time the same text is counted.
    pub fn count_cached(&self, text: &str) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let key = h.finish();
        if let Some(n) = self.counts.get(&key) {
            return n;
        }
        let n = self.count(text);
        self.counts.insert(key, n);
        n
    }
}
