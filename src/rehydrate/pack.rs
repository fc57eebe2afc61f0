//! Fitting memories into a bundle: one item's block whole or trimmed at a sentence boundary
//! within the room left ([`fit`]), and the near-duplicate measure the evidence stage uses.
//! Also the last check of the packing ([`within_budget`]): the assembled text counted again.
//! The text functions are pure; the others count with the tokenizer they are given. Which
//! items to try, and in what order, is the stages' call.

use std::collections::HashSet;

use super::bundle::Dropped;
use super::render;
use super::tokens::Tokenizer;
use crate::memory::Memory;

/// One item committed to a section, with what it needs for rendering.
pub(super) struct Placed {
    /// The memory.
    pub(super) memory: Memory,
    /// Its content as included.
    pub(super) content: String,
    /// True when `content` was trimmed to fit.
    pub(super) truncated: bool,
    /// The rendered block, as it goes into the text.
    pub(super) block: String,
    /// Tokens of `block`.
    pub(super) tokens: usize,
    /// Retrieval score after role preferences (evidence only).
    pub(super) score: Option<f64>,
}

/// A memory's block that fits the room it was given.
pub(super) struct Fitted {
    content: String,
    truncated: bool,
    block: String,
    /// Tokens of the block.
    pub(super) tokens: usize,
}

impl Fitted {
    /// The item for `memory` with this block, scored `score`.
    pub(super) fn place(self, memory: Memory, score: Option<f64>) -> Placed {
        Placed {
            memory,
            content: self.content,
            truncated: self.truncated,
            block: self.block,
            tokens: self.tokens,
            score,
        }
    }
}

/// Below this many tokens of room, no trimmed item is worth trying.
const MIN_ROOM: usize = 24;

/// The block for `m` within `room` tokens: whole, or trimmed at a sentence boundary.
pub(super) fn fit(tok: &Tokenizer, marker: &str, m: &Memory, room: usize) -> Option<Fitted> {
    if room < MIN_ROOM {
        return None;
    }
    let whole = render::item(marker, m, &m.content, false);
    let tokens = tok.count_cached(&whole);
    if tokens <= room {
        return Some(Fitted {
            content: m.content.clone(),
            truncated: false,
            block: whole,
            tokens,
        });
    }
    // Trimming costs a few counts; skip it when not even the citation line would fit.
    if tok.count_cached(&render::item(marker, m, "", true)) + 8 > room {
        return None;
    }
    let trimmed = trim_to_fit(&m.content, |s| {
        tok.count(&render::item(marker, m, s, true)) <= room
    })?;
    let block = render::item(marker, m, &trimmed, true);
    let tokens = tok.count(&block);
    Some(Fitted {
        content: trimmed,
        truncated: true,
        block,
        tokens,
    })
}

/// The full text of `pins` and `evidence` after `header`, and its token count; when joining
/// the blocks costs more than `budget` (they were counted one by one), items are given back
/// from the end, as `budget` drops, until it fits.
pub(super) fn within_budget(
    tok: &Tokenizer,
    header: &str,
    budget: usize,
    pins: &mut Vec<Placed>,
    evidence: &mut Vec<Placed>,
    dropped: &mut Vec<Dropped>,
) -> (String, usize) {
    let (mut text, mut total) = text_of(tok, header, pins, evidence);
    while total > budget {
        let last = evidence.pop().or_else(|| pins.pop());
        match last {
            Some(p) => dropped.push(Dropped::new(&p.memory.id, "budget")),
            None => break,
        }
        (text, total) = text_of(tok, header, pins, evidence);
    }
    (text, total)
}

/// The full text and its token count.
fn text_of(tok: &Tokenizer, header: &str, pins: &[Placed], evidence: &[Placed]) -> (String, usize) {
    let mut text = header.to_string();
    if !pins.is_empty() {
        text.push_str(render::PINS_HEADING);
        for p in pins {
            text.push_str(&p.block);
        }
    }
    if !evidence.is_empty() {
        text.push_str(render::EVIDENCE_HEADING);
        for p in evidence {
            text.push_str(&p.block);
        }
    }
    if pins.is_empty() && evidence.is_empty() {
        text.push_str(render::EMPTY);
    }
    let total = tok.count_pieces(&text);
    (text, total)
}

/// Word 3-shingles of `text` (single words for texts under three words).
pub fn shingles(text: &str) -> HashSet<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.len() < 3 {
        return words.into_iter().collect();
    }
    words.windows(3).map(|w| w.join(" ")).collect()
}

/// Jaccard overlap of two shingle sets (0 when both are empty).
pub fn overlap(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f32 / union as f32
}

/// The longest prefix of `text` that ends at a sentence boundary and for which `fits` holds;
/// `None` when not even the first sentence fits.
pub fn trim_to_fit(text: &str, fits: impl Fn(&str) -> bool) -> Option<String> {
    let ends: Vec<usize> = sentence_ends(text);
    // Binary search over sentence ends: `fits` is monotone in length.
    let (mut lo, mut hi) = (0usize, ends.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(text[..ends[mid - 1]].trim_end()) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    (lo > 0).then(|| text[..ends[lo - 1]].trim_end().to_string())
}

/// Byte offsets just after each sentence end (`.`, `!`, `?` followed by whitespace, or a line
/// break), excluding the end of the text itself.
fn sentence_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let end = match c {
            '.' | '!' | '?' => next.is_some_and(char::is_whitespace),
            '\n' => true,
            _ => false,
        };
        if end {
            let after = i + c.len_utf8();
            if after < text.trim_end().len() {
                ends.push(after);
            }
        }
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_duplicates_overlap_more_than_distinct_texts() {
        let a = shingles("We store all money amounts as integer cents in the ledger tables.");
        let b = shingles("We store all money amounts as integer cents in every ledger table.");
        let c = shingles("The frontend uses React with TypeScript and Vite for builds.");
        assert!(overlap(&a, &b) > 0.5, "{}", overlap(&a, &b));
        assert!(overlap(&a, &c) < 0.1);
    }

    #[test]
    fn trimming_keeps_whole_sentences() {
        let text = "First one. Second one! Third one? Fourth";
        let fits = |max: usize| move |s: &str| s.len() <= max;
        assert_eq!(
            trim_to_fit(text, fits(25)).as_deref(),
            Some("First one. Second one!")
        );
        assert_eq!(trim_to_fit(text, fits(12)).as_deref(), Some("First one."));
        assert_eq!(trim_to_fit(text, fits(5)), None);
        assert_eq!(trim_to_fit("no boundary at all", fits(100)), None);
    }
}
