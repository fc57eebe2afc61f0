//! Choosing what goes into a bundle: near-duplicate detection and trimming at sentence
//! boundaries. Pure functions over text; the caller counts tokens.

use std::collections::HashSet;

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
