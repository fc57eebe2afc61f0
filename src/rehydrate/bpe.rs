//! Exact token counts for tiktoken's byte-pair encodings, in about 3 MB instead of 26 MB.
//!
//! tiktoken keeps every token's bytes three times (an encoder map, a decoder map and a sorted
//! list), each in its own heap allocation: for `o200k_base` that is 600,000 small allocations.
//! Counting needs only "which rank has these bytes", so the tokens stay in one static table
//! compiled into the binary (`assets/tiktoken/*.bpe`: for each rank in order, a length byte
//! and the bytes; made from tiktoken-rs by a test, see `tables_match_tiktoken`), and the
//! lookup is one open-addressed table of ranks. The pieces and the merge order are
//! tiktoken's own (the same regex, the same lowest-rank-leftmost-first merges), and a test
//! checks every count against tiktoken-rs.

use std::collections::BinaryHeap;
use std::hash::Hasher;

use fancy_regex::Regex;

/// `o200k_base`'s tokens (see the module doc for the format).
static O200K_BASE: &[u8] = include_bytes!("../../assets/tiktoken/o200k_base.bpe");
/// `cl100k_base`'s tokens.
static CL100K_BASE: &[u8] = include_bytes!("../../assets/tiktoken/cl100k_base.bpe");

/// `o200k_base`'s pre-tokenizer (tiktoken's `O200K_BASE_PAT_STR`).
const O200K_PATTERN: &str = concat!(
    r#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
    "|",
    r#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
    "|",
    r#"\p{N}{1,3}"#,
    "|",
    r#" ?[^\s\p{L}\p{N}]+[\r\n/]*"#,
    "|",
    r#"\s*[\r\n]+"#,
    "|",
    r#"\s+(?!\S)"#,
    "|",
    r#"\s+"#
);

/// `cl100k_base`'s pre-tokenizer.
const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// A slot of the rank table that holds no rank.
const EMPTY: u32 = u32::MAX;

/// A byte-pair encoding that counts tokens.
pub struct Bpe {
    /// The static token table.
    table: &'static [u8],
    /// Where each rank's bytes start in `table` (the length byte is just before).
    starts: Vec<u32>,
    /// Ranks by a hash of their bytes, linear probing; a power of two long.
    slots: Vec<u32>,
    /// Splits text into the pieces that are encoded separately.
    pieces: Regex,
}

impl Bpe {
    /// The encoding named `name` (`o200k_base` or `cl100k_base`), or `None` for another name.
    pub fn named(name: &str) -> Option<Bpe> {
        let (table, pattern) = match name {
            "o200k_base" => (O200K_BASE, O200K_PATTERN),
            "cl100k_base" => (CL100K_BASE, CL100K_PATTERN),
            _ => return None,
        };
        // Both patterns are constants that a unit test compiles.
        let pieces = Regex::new(pattern).expect("tiktoken's pattern compiles");
        Some(Bpe::new(table, pieces))
    }

    fn new(table: &'static [u8], pieces: Regex) -> Bpe {
        let mut starts = Vec::new();
        let mut at = 0;
        while at < table.len() {
            let len = table[at] as usize;
            starts.push((at + 1) as u32);
            at += 1 + len;
        }
        starts.shrink_to_fit();
        // At most half full, so a miss (most lookups while merging) ends within a few slots.
        let size = (starts.len() * 2).next_power_of_two();
        let mut bpe = Bpe {
            table,
            starts,
            slots: vec![EMPTY; size],
            pieces,
        };
        for rank in 0..bpe.starts.len() as u32 {
            let mut slot = bpe.home(bpe.token(rank));
            while bpe.slots[slot] != EMPTY {
                slot = (slot + 1) & (size - 1);
            }
            bpe.slots[slot] = rank;
        }
        bpe
    }

    /// Number of tokens in the encoding (not counting special tokens).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.starts.len()
    }

    /// The bytes of the token with rank `rank`.
    fn token(&self, rank: u32) -> &'static [u8] {
        let start = self.starts[rank as usize] as usize;
        let len = self.table[start - 1] as usize;
        &self.table[start..start + len]
    }

    /// Heap bytes this encoding holds (the token table itself is static).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.starts.capacity() * 4 + self.slots.capacity() * 4
    }

    fn home(&self, bytes: &[u8]) -> usize {
        let mut h = rustc_hash::FxHasher::default();
        h.write(bytes);
        (h.finish() as usize) & (self.slots.len() - 1)
    }

    /// The rank of the token whose bytes are `bytes`, if there is one.
    fn rank(&self, bytes: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(bytes);
        loop {
            let rank = self.slots[slot];
            if rank == EMPTY {
                return None;
            }
            if self.token(rank) == bytes {
                return Some(rank);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn rank_or_max(&self, bytes: &[u8]) -> u32 {
        self.rank(bytes).unwrap_or(u32::MAX)
    }

    /// Tokens in `text`: what tiktoken's `encode_ordinary(text).len()` says.
    pub fn count(&self, text: &str) -> usize {
        let mut total = 0;
        let mut at = 0;
        for piece in self.pieces.find_iter(text) {
            match piece {
                Ok(piece) => {
                    total += self.count_piece(piece.as_str().as_bytes());
                    at = piece.end();
                }
                // Only a regex backtracking limit can end up here, which these patterns do
                // not reach; count the rest as bytes (never fewer than its tokens) rather
                // than fail a bundle.
                Err(_) => return total + (text.len() - at),
            }
        }
        total
    }

    /// Tokens in one piece of the pre-tokenizer's output.
    fn count_piece(&self, piece: &[u8]) -> usize {
        if piece.is_empty() {
            return 0;
        }
        // Every single byte is a token.
        if piece.len() == 1 || self.rank(piece).is_some() {
            return 1;
        }
        if piece.len() < 100 {
            self.merge_small(piece)
        } else {
            self.merge_large(piece)
        }
    }

    /// tiktoken's `_byte_pair_merge`: O(n·m), fastest for the short pieces of ordinary text.
    fn merge_small(&self, piece: &[u8]) -> usize {
        // (start, rank of the pair that starts here)
        let mut parts: Vec<(usize, u32)> = Vec::with_capacity(piece.len() + 1);
        let mut min = (u32::MAX, usize::MAX);
        for i in 0..piece.len() - 1 {
            let rank = self.rank_or_max(&piece[i..i + 2]);
            if rank < min.0 {
                min = (rank, i);
            }
            parts.push((i, rank));
        }
        parts.push((piece.len() - 1, u32::MAX));
        parts.push((piece.len(), u32::MAX));
        let rank_at = |parts: &Vec<(usize, u32)>, i: usize| {
            if i + 3 < parts.len() {
                self.rank_or_max(&piece[parts[i].0..parts[i + 3].0])
            } else {
                u32::MAX
            }
        };
        while min.0 != u32::MAX {
            let i = min.1;
            if i > 0 {
                parts[i - 1].1 = rank_at(&parts, i - 1);
            }
            parts[i].1 = rank_at(&parts, i);
            parts.remove(i + 1);
            min = (u32::MAX, usize::MAX);
            for (i, &(_, rank)) in parts[..parts.len() - 1].iter().enumerate() {
                if rank < min.0 {
                    min = (rank, i);
                }
            }
        }
        parts.len() - 1
    }

    /// tiktoken's `_byte_pair_merge_large`: a heap of candidate merges, O(m log n), for long
    /// pieces (a run of digits, a long word or a base64 blob) where the quadratic one crawls.
    fn merge_large(&self, piece: &[u8]) -> usize {
        #[derive(Eq, PartialEq)]
        struct Merge {
            start: usize,
            rank: u32,
        }
        impl Ord for Merge {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                // A max-heap that pops the lowest rank, then the leftmost.
                other
                    .rank
                    .cmp(&self.rank)
                    .then_with(|| other.start.cmp(&self.start))
            }
        }
        impl PartialOrd for Merge {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        struct State {
            prev: usize,
            end: usize,
            next_end: usize,
            next_rank: u32,
        }

        let mut state = Vec::with_capacity(piece.len());
        state.push(State {
            prev: usize::MAX,
            end: 1,
            next_end: 2,
            next_rank: u32::MAX,
        });
        let mut heap = BinaryHeap::with_capacity(piece.len());
        for i in 0..piece.len() - 1 {
            if let Some(rank) = self.rank(&piece[i..i + 2]) {
                heap.push(Merge { start: i, rank });
                state[i].next_rank = rank;
            }
            state.push(State {
                prev: i,
                end: i + 2,
                next_end: i + 3,
                next_rank: u32::MAX,
            });
        }
        let potential = |state: &mut Vec<State>,
                         heap: &mut BinaryHeap<Merge>,
                         start: usize,
                         next_end: usize| {
            state[start].next_end = next_end;
            state[start].next_rank = u32::MAX;
            if next_end <= piece.len()
                && let Some(rank) = self.rank(&piece[start..next_end])
            {
                heap.push(Merge { start, rank });
                state[start].next_rank = rank;
            }
        };
        while let Some(left) = heap.pop() {
            if left.rank == u32::MAX {
                break;
            }
            if left.rank != state[left.start].next_rank {
                continue;
            }
            let left_start = left.start;
            let right_start = state[left_start].end;
            let right_end = state[left_start].next_end;
            let right_next_end = state[right_start].next_end;
            state[left_start].end = right_end;
            potential(&mut state, &mut heap, left_start, right_next_end);
            if right_end < state.len() {
                state[right_end].prev = left_start;
            }
            if left_start > 0 {
                let prev_start = state[left_start].prev;
                potential(&mut state, &mut heap, prev_start, right_end);
            }
            state[right_start].next_rank = u32::MAX;
        }
        let mut count = 0;
        let mut i = 0;
        while i < state.len() {
            count += 1;
            i = state[i].end;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> tiktoken_rs::CoreBPE {
        match name {
            "o200k_base" => tiktoken_rs::o200k_base(),
            _ => tiktoken_rs::cl100k_base(),
        }
        .unwrap()
    }

    /// The committed tables hold exactly tiktoken-rs's tokens, rank by rank.
    /// `UPDATE_TOKEN_TABLES=1` writes them anew from tiktoken-rs (after a tiktoken-rs upgrade).
    #[test]
    fn tables_match_tiktoken() {
        for (name, path, len) in [
            ("o200k_base", "assets/tiktoken/o200k_base.bpe", 199_998),
            ("cl100k_base", "assets/tiktoken/cl100k_base.bpe", 100_256),
        ] {
            let tik = reference(name);
            let mut table = Vec::new();
            for rank in 0..len {
                let bytes = tik.decode_bytes(&[rank]).unwrap();
                assert!(bytes.len() < 256, "{name} token {rank} is too long");
                table.push(bytes.len() as u8);
                table.extend_from_slice(&bytes);
            }
            // The rank after the last is a special token or none at all.
            if std::env::var_os("UPDATE_TOKEN_TABLES").is_some() {
                std::fs::write(path, &table).unwrap();
            }
            let bpe = Bpe::named(name).unwrap();
            assert_eq!(bpe.len(), len as usize, "{name}");
            assert!(bpe.table == table.as_slice(), "{name}: {path} is stale");
            for rank in [0, 1, 255, 256, 1000, len - 1] {
                assert_eq!(bpe.rank(bpe.token(rank)), Some(rank), "{name} {rank}");
            }
        }
    }

    /// Texts that reach every branch: pieces that are tokens, short merges, long merges
    /// (over 100 bytes), contractions, digits, newlines, non-Latin scripts and emoji.
    fn texts() -> Vec<String> {
        let mut texts: Vec<String> = [
            "",
            "a",
            "Hello, world! It's a test of the token counter's exactness.",
            "I'll we've they're he'd SHE'LL don't WON'T",
            "numbers 1234567890 3.14159 1e10 0xDEADBEEF",
            "line one\n\n\n  indented\n\tTabbed\r\nwindows\r\n",
            "unicode é über 日本語のテキスト emoji 🎉🎉 👩‍👩‍👧 Ελληνικά русский текст",
            "trailing spaces   \n   \n",
            "path/to/file.rs::fn_name() -> Result<(), Error> { x += 1; }",
            "# memoryd context for role planner\n\n## Pinned\n- Scope rule (note · id 1)\n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        texts.push("a".repeat(1000));
        texts.push("abcdefghij".repeat(40));
        texts.push("Supercalifragilisticexpialidocious".repeat(5));
        texts.push("1234567890".repeat(30));
        texts.push(" ".repeat(300) + "x");
        texts.push("!@#$%^&*()".repeat(20));
        texts.push("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=".repeat(10));
        texts.push("日本語".repeat(60));
        texts.push(include_str!("../../fixtures/project-memories.jsonl").to_string());
        texts.push(include_str!("../../README.md").to_string());
        texts
    }

    #[test]
    fn counts_match_tiktoken() {
        for name in ["o200k_base", "cl100k_base"] {
            let tik = reference(name);
            let bpe = Bpe::named(name).unwrap();
            for text in texts() {
                let want = tik.encode_ordinary(&text).len();
                assert_eq!(
                    bpe.count(&text),
                    want,
                    "{name}: {:?}",
                    &text[..text.len().min(60)]
                );
            }
        }
    }

    #[test]
    fn long_pieces_merge_as_the_short_way_does() {
        let bpe = Bpe::named("o200k_base").unwrap();
        for piece in [
            "a".repeat(150),
            "abcdefghij".repeat(15),
            "Supercalifragilisticexpialidocious".repeat(4),
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=".repeat(5),
        ] {
            assert_eq!(
                bpe.merge_large(piece.as_bytes()),
                bpe.merge_small(piece.as_bytes()),
                "{piece}"
            );
        }
    }

    static O200K: std::sync::LazyLock<(tiktoken_rs::CoreBPE, Bpe)> =
        std::sync::LazyLock::new(|| (reference("o200k_base"), Bpe::named("o200k_base").unwrap()));

    proptest::proptest! {
        /// Any text, including control characters, combining marks and long runs.
        #[test]
        fn any_text_counts_as_tiktoken_does(text in "(\\PC|[\\s'0-9a-z]){0,300}") {
            let (tik, bpe) = &*O200K;
            proptest::prop_assert_eq!(bpe.count(&text), tik.encode_ordinary(&text).len());
        }
    }

    #[test]
    fn unknown_names_are_none() {
        assert!(Bpe::named("p50k_base").is_none());
        assert!(Bpe::named("").is_none());
    }

    #[test]
    fn heap_is_a_few_megabytes() {
        let bpe = Bpe::named("o200k_base").unwrap();
        assert!(bpe.heap_bytes() < 3 << 20, "{}", bpe.heap_bytes());
    }
}
