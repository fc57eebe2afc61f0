//! Counting tokens the way the agent's model will, with tiktoken's encodings.

use std::sync::Arc;

use super::bpe::Bpe;
use crate::error::{Error, Result};

/// Block counts remembered (a block's count never changes for the same text). 10,000, not
/// 50,000: under churn the cache fills whatever its size, and at about 190 bytes an entry
/// (moka's nodes, heaptrack) 50,000 held 9 MB; bundles count tens of blocks each.
const CACHED_COUNTS: u64 = 10_000;

/// A loaded tiktoken encoding; cheap to clone.
#[derive(Clone)]
pub struct Tokenizer {
    name: String,
    bpe: Arc<Bpe>,
    /// Counts of item blocks by a hash of their text: bundles for related tasks keep
    /// counting the same memories.
    counts: moka::sync::Cache<u64, usize>,
}

impl Tokenizer {
    /// Loads `o200k_base` or `cl100k_base` (about 20 ms: build it once and keep it).
    pub fn load(name: &str) -> Result<Tokenizer> {
        let bpe = Bpe::named(name).ok_or_else(|| {
            Error::invalid(
                "config",
                format!(
                    "rehydrate.tokenizer: '{name}' is not a known tokenizer; use o200k_base or cl100k_base"
                ),
            )
        })?;
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

    /// Tokens in `text`, counted now.
    pub fn count(&self, text: &str) -> usize {
        self.bpe.count(text)
    }

    /// Tokens in `text`, exactly as [`Tokenizer::count`] would say, counted piece by piece with
    /// [`Tokenizer::count_cached`]: a bundle is mostly blocks counted moments ago.
    ///
    /// Exact because tiktoken never merges across these cuts: it splits text into pieces with
    /// a regex before encoding each one, and no piece of `o200k_base` or `cl100k_base` runs
    /// from a newline into a following character that is neither whitespace nor `/`.
    /// (Punctuation runs may swallow trailing newlines and, in o200k, slashes; newline runs
    /// stop at the first non-space; word pieces never contain a newline.)
    pub fn count_pieces(&self, text: &str) -> usize {
        let bytes = text.as_bytes();
        let mut total = 0;
        let mut start = 0;
        for i in 1..bytes.len() {
            let next = bytes[i];
            // `next` is ASCII here, so `i` is a char boundary.
            let cut = bytes[i - 1] == b'\n'
                && next.is_ascii()
                && !next.is_ascii_whitespace()
                && next != b'/';
            if cut {
                total += self.count_cached(&text[start..i]);
                start = i;
            }
        }
        total + self.count_cached(&text[start..])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts with every kind of join the cut rule has to get right.
    const TEXTS: [&str; 8] = [
        "# memoryd context for role planner\n\n## Pinned\n- Scope rule (note · id 1)\n   Planners cut scope.\n- Next (doc · id 2 · docs/a.md#intro)\n   Body […]\n",
        "a.\n/path/to/x\n/other\n",
        "line one\n\n\n  indented\n\tTabbed\nplain\n",
        "ends with punctuation!?\n!!! more\n's contraction\n's\n",
        "numbers 12345\n678 and 9\n",
        "unicode é\nüber\n日本語\nemoji 🎉\n🎉\n",
        "\n\nleading newlines\n",
        "no newline at all",
    ];

    #[test]
    fn piecewise_counts_equal_whole_counts() {
        for name in ["o200k_base", "cl100k_base"] {
            let tok = Tokenizer::load(name).unwrap();
            for text in TEXTS {
                assert_eq!(tok.count_pieces(text), tok.count(text), "{name}: {text:?}");
            }
            // The fixture project's memories, raw (JSON lines) and as plain text with their
            // own newlines and punctuation.
            let raw = include_str!("../../fixtures/project-memories.jsonl");
            assert_eq!(
                tok.count_pieces(raw),
                tok.count(raw),
                "{name}: fixture lines"
            );
            let plain: String = raw
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .map(|m| {
                    format!(
                        "{}\n{}\n",
                        m["title"].as_str().unwrap_or("-"),
                        m["content"].as_str().unwrap()
                    )
                })
                .collect();
            assert!(plain.matches('\n').count() > 250, "a text with many cuts");
            assert_eq!(
                tok.count_pieces(&plain),
                tok.count(&plain),
                "{name}: fixture text"
            );
        }
    }
}
