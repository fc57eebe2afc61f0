//! A deterministic synthetic corpus: memories that look enough like a project's notes for
//! retrieval to do realistic work, at any size, the same bytes for the same seed.
//!
//! Words come from the vocabulary of `fixtures/project-memories.jsonl` (compiled into the
//! binary), drawn with Zipf-distributed frequencies (s = 1) as in natural text: a few words are
//! everywhere, most are rare. Uniform draws would put every query term in a fixed share of all
//! memories, which no real corpus does, and would make keyword search look slower than it is.
//! Which words are common is decided by a seeded shuffle. Memories get a mix of kinds, tags,
//! sources with anchors, dates over two years, and a few pins for roles (one in 500, and one in
//! 2,000 for every role), so `rehydrate_memory` has pins to place.
//!
//! The generator is a small xorshift64* (no dependency, stable across platforms and crate
//! versions): a corpus file written today is byte-identical to one written next year.

use serde::Serialize;

use crate::memory::NewMemory;

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// The fixture project's memories, whose words make up the vocabulary.
const FIXTURE: &str = include_str!("../../fixtures/project-memories.jsonl");

/// Kinds and their weights (out of 100).
const KINDS: [(&str, u64); 7] = [
    ("note", 30),
    ("fact", 20),
    ("decision", 15),
    ("doc", 15),
    ("conversation", 10),
    ("convention", 5),
    ("research", 5),
];

/// The built-in roles that pins are spread over.
const ROLES: [&str; 4] = ["planner", "implementer", "researcher", "reviewer"];

/// Distinct tags in the corpus.
const TAG_POOL: usize = 64;
/// Distinct top-level source folders.
const AREA_POOL: usize = 24;
/// Distinct source files.
const FILE_POOL: usize = 400;
/// `occurred_at` dates spread over this many seconds (two years) from [`EPOCH`].
const SPAN_SECONDS: u64 = 2 * 365 * 86_400;
/// 2024-01-01T00:00:00Z.
const EPOCH: i64 = 1_704_067_200;

/// A small deterministic generator (xorshift64*), so every run builds the same corpus.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included: it is mixed first).
    pub fn new(seed: u64) -> Rng {
        // splitmix64, so nearby seeds give unrelated streams and the state is never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random vector of length 1 with `dim` components (for benchmarks that need vectors
    /// without running the model: brute-force KNN costs the same whatever they mean).
    pub fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| (self.unit() - 0.5) as f32).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }
}

/// Ranks drawn from a Zipf distribution with s = 1 over `n` items.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// A distribution over ranks `0..n` (`n` > 0).
    pub fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// A rank; 0 is the most likely.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().expect("at least one rank");
        let x = rng.unit() * total;
        self.cumulative
            .partition_point(|c| *c < x)
            .min(self.cumulative.len() - 1)
    }
}

/// The fixture's words, ordered by how common they are in the corpus (after a seeded shuffle).
#[derive(Debug, Clone)]
pub struct Vocabulary {
    words: Vec<String>,
    zipf: Zipf,
}

impl Vocabulary {
    /// The vocabulary, its frequency order shuffled by `rng`.
    pub fn new(rng: &mut Rng) -> Vocabulary {
        // The text of each fixture record (its JSON decoded, so escapes such as \n do not
        // glue letters onto words).
        let text: String = FIXTURE
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .flat_map(|record| {
                ["title", "content"]
                    .map(|field| record[field].as_str().unwrap_or_default().to_string())
            })
            .collect::<Vec<_>>()
            .join(" ");
        let mut words: Vec<String> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() > 2 && w.chars().any(|c| c.is_ascii_alphabetic()))
            .map(str::to_ascii_lowercase)
            .collect();
        words.sort_unstable();
        words.dedup();
        for i in (1..words.len()).rev() {
            words.swap(i, rng.below(i + 1));
        }
        let zipf = Zipf::new(words.len());
        Vocabulary { words, zipf }
    }

    /// How many distinct words there are.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Never true: the fixture is compiled in.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word of frequency rank `rank` (0 is the most common).
    pub fn ranked(&self, rank: usize) -> &str {
        &self.words[rank % self.words.len()]
    }

    /// A word drawn with Zipf frequencies.
    pub fn word(&self, rng: &mut Rng) -> &str {
        &self.words[self.zipf.sample(rng)]
    }

    /// `n` words drawn with Zipf frequencies, joined by spaces.
    pub fn phrase(&self, rng: &mut Rng, n: usize) -> String {
        let mut out = String::new();
        for i in 0..n {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(self.word(rng));
        }
        out
    }
}

/// One memory of the corpus: a line of the JSONL file `memoryd import` reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Namespace, when the corpus was asked for one (otherwise the import's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// One to four sentences, ending with a unique reference so no two are duplicates.
    pub content: String,
    /// A few words.
    pub title: String,
    /// One of a weighted set of kinds.
    pub kind: String,
    /// Zero to three tags from a pool of 64.
    pub tags: Vec<String>,
    /// A document path, an issue URL, or nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A heading slug inside a document source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Roles the memory is pinned for (most have none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Pin priority (0 for unpinned memories).
    #[serde(skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// When it happened, RFC 3339 UTC.
    pub occurred_at: String,
    /// A random unit vector in `export --vectors`' form, when asked for (see [`Layout`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<crate::import::CarriedVector>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

impl Record {
    /// The memory ready to insert (every field is valid by construction), in `namespace`
    /// unless the record names its own.
    pub fn into_new_memory(self, namespace: &str) -> NewMemory {
        NewMemory {
            namespace: self.namespace.unwrap_or_else(|| namespace.to_string()),
            content: self.content,
            title: Some(self.title),
            kind: self.kind,
            tags: self.tags,
            source: self.source,
            anchor: self.anchor,
            context: None,
            roles: self.roles,
            priority: self.priority,
            occurred_at: Some(self.occurred_at),
            metadata: serde_json::Map::new(),
            expires_at: None,
            by: None,
        }
    }
}

/// The corpus for one seed: an endless iterator of [`Record`]s (take as many as needed).
#[derive(Debug, Clone)]
pub struct Corpus {
    rng: Rng,
    vocabulary: Vocabulary,
    namespace: Option<String>,
    next: u64,
}

impl Corpus {
    /// The corpus of `seed`, every record in `namespace` if given.
    pub fn new(seed: u64, namespace: Option<String>) -> Corpus {
        let mut rng = Rng::new(seed);
        let vocabulary = Vocabulary::new(&mut rng);
        Corpus {
            rng,
            vocabulary,
            namespace,
            next: 0,
        }
    }

    /// The words the corpus draws from.
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// The generator, to draw further values (such as vectors) in step with the records.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn sentence(&mut self) -> String {
        let n = 6 + self.rng.below(13);
        let mut s = self.vocabulary.phrase(&mut self.rng, n);
        if let Some(first) = s.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        s.push('.');
        s
    }

    fn record(&mut self, i: u64) -> Record {
        let sentences = 1 + self.rng.below(4);
        let mut content: Vec<String> = (0..sentences).map(|_| self.sentence()).collect();
        content.push(format!("Ref MEM-{i}."));
        let title_words = 2 + self.rng.below(4);
        let mut title = self.vocabulary.phrase(&mut self.rng, title_words);
        if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let mut pick = self.rng.below(100) as u64;
        let kind = KINDS
            .iter()
            .find(|(_, weight)| {
                let hit = pick < *weight;
                pick = pick.saturating_sub(*weight);
                hit
            })
            .map_or("note", |(k, _)| k);
        // Tags come from the most common words: a small, skewed set, as real tags are.
        let tag_zipf = Zipf::new(TAG_POOL);
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..self.rng.below(4) {
            let tag = self.vocabulary.ranked(tag_zipf.sample(&mut self.rng));
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
        let (source, anchor) = match self.rng.below(100) {
            0..70 => {
                let area = self.vocabulary.ranked(self.rng.below(AREA_POOL));
                let file = self.rng.below(FILE_POOL);
                let anchor = (self.rng.below(2) == 0).then(|| {
                    format!(
                        "{}-{}",
                        self.vocabulary.word(&mut self.rng),
                        self.vocabulary.word(&mut self.rng)
                    )
                });
                (Some(format!("docs/{area}/note-{file}.md")), anchor)
            }
            70..85 => (
                Some(format!(
                    "https://tracker.example.com/issues/{}",
                    1 + self.rng.below(5000)
                )),
                None,
            ),
            _ => (None, None),
        };
        let (roles, priority) = if i % 2000 == 1000 {
            (vec!["*".to_string()], 1 + self.rng.below(5) as i32)
        } else if i.is_multiple_of(500) {
            let role = ROLES[(i / 500) as usize % ROLES.len()];
            (vec![role.to_string()], 1 + self.rng.below(5) as i32)
        } else {
            (Vec::new(), 0)
        };
        let seconds = EPOCH + self.rng.below(SPAN_SECONDS as usize) as i64;
        let occurred_at = chrono::DateTime::from_timestamp(seconds, 0)
            .expect("the span is within chrono's range")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        Record {
            vector: None,
            namespace: self.namespace.clone(),
            content: content.join(" "),
            title,
            kind: kind.to_string(),
            tags,
            source,
            anchor,
            roles,
            priority,
            occurred_at,
        }
    }
}

impl Iterator for Corpus {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let i = self.next;
        self.next += 1;
        Some(self.record(i))
    }
}

/// How [`write_jsonl`] spreads the records over namespaces and what it gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// The namespace, or with `namespaces` above 1 the prefix of each (`{prefix}-{i}`,
    /// `scale-{i}` without one); `None` with one namespace leaves it to the import.
    pub namespace: Option<String>,
    /// How many namespaces (0 and 1 both mean one).
    pub namespaces: u64,
    /// How many memories the first namespace holds; the others share the rest evenly
    /// (their sizes differ by at most one). `None`: all share evenly.
    pub largest: Option<u64>,
    /// Whether each record carries a random unit vector as if this build's model made it, so
    /// an import stores it without embedding (brute-force and HNSW search cost the same
    /// whatever the vectors mean).
    pub vectors: bool,
}

impl Layout {
    /// The namespace of record `i` (counting from 0).
    fn namespace_of(&self, i: u64) -> Option<String> {
        if self.namespaces <= 1 {
            return self.namespace.clone();
        }
        let index = match self.largest {
            Some(largest) if i < largest => 0,
            Some(largest) => 1 + (i - largest) % (self.namespaces - 1),
            None => i % self.namespaces,
        };
        let prefix = self.namespace.as_deref().unwrap_or("scale");
        Some(format!("{prefix}-{index}"))
    }
}

/// Writes the first `n` records of the corpus of `seed` as JSONL, laid out as `layout` says.
pub fn write_jsonl(
    out: &mut impl std::io::Write,
    n: u64,
    seed: u64,
    layout: &Layout,
) -> std::io::Result<()> {
    // Vectors from a generator of their own, so the text is the same with or without them.
    let mut vectors = Rng::new(seed ^ 0x005e_ed0f_7ec7);
    for (i, mut record) in Corpus::new(seed, None).take(n as usize).enumerate() {
        record.namespace = layout.namespace_of(i as u64);
        if layout.vectors {
            record.vector = Some(crate::import::CarriedVector::new(
                &vectors.unit_vector(crate::embed::DIMENSION),
            ));
        }
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::import::Draft;

    #[test]
    fn same_seed_same_records_other_seed_others() {
        let a: Vec<Record> = Corpus::new(7, None).take(200).collect();
        let b: Vec<Record> = Corpus::new(7, None).take(200).collect();
        let c: Vec<Record> = Corpus::new(8, None).take(200).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn word_frequencies_are_skewed() {
        let mut rng = Rng::new(1);
        let vocabulary = Vocabulary::new(&mut rng);
        assert!(vocabulary.len() > 500, "vocabulary: {}", vocabulary.len());
        let draws = 20_000;
        let top = (0..draws)
            .filter(|_| vocabulary.word(&mut rng) == vocabulary.ranked(0))
            .count();
        // Zipf s=1 over ~1,000 words gives the top word about 13% of draws; uniform, 0.1%.
        assert!(top > draws / 20, "top word drawn {top} of {draws} times");
    }

    #[test]
    fn every_record_passes_the_import_checks_and_pins_exist() {
        let limits = Limits::default();
        let mut pinned = 0;
        let mut contents = std::collections::HashSet::new();
        for record in Corpus::new(DEFAULT_SEED, Some("bench".into())).take(2_001) {
            pinned += usize::from(!record.roles.is_empty());
            let line = serde_json::to_string(&record).unwrap();
            let draft: Draft = serde_json::from_str(&line).unwrap();
            let memory = draft
                .check("default", &limits, "2026-01-01T00:00:00Z")
                .unwrap();
            assert_eq!(memory.namespace, "bench");
            assert!(contents.insert(memory.content_hash));
        }
        // 0, 500, 1000 (all roles), 1500, 2000.
        assert_eq!(pinned, 5);
    }

    #[test]
    fn a_layout_spreads_records_and_gives_them_vectors_an_import_takes() {
        let layout = Layout {
            namespace: Some("s".into()),
            namespaces: 4,
            largest: Some(5),
            vectors: true,
        };
        let mut out = Vec::new();
        write_jsonl(&mut out, 11, 3, &layout).unwrap();
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let namespaces: Vec<&str> = lines
            .iter()
            .map(|l| l["namespace"].as_str().unwrap())
            .collect();
        assert_eq!(
            namespaces,
            [
                "s-0", "s-0", "s-0", "s-0", "s-0", "s-1", "s-2", "s-3", "s-1", "s-2", "s-3"
            ]
        );
        let limits = Limits::default();
        for line in &lines {
            let draft: Draft = serde_json::from_value(line.clone()).unwrap();
            let vector = draft
                .vector
                .clone()
                .unwrap()
                .usable()
                .expect("this model's");
            let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
            draft
                .check("default", &limits, "2026-01-01T00:00:00Z")
                .unwrap();
        }
        // The text does not depend on the vectors.
        let mut plain = Vec::new();
        let without = Layout {
            vectors: false,
            ..layout
        };
        write_jsonl(&mut plain, 11, 3, &without).unwrap();
        let first: serde_json::Value =
            serde_json::from_slice(plain.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(first["content"], lines[0]["content"]);
        assert!(first.get("vector").is_none());
    }
}
