//! Latency of the hot paths at 10,000 memories: query embedding, keyword / semantic / hybrid
//! search, `rehydrate_memory` (uncached, with the task's embedding cached, and a cached
//! bundle), and `store_memory` with inline embedding.
//!
//! Run with `cargo bench --bench retrieval` (set `MEMORYD_BENCH_MEMORIES` for another corpus
//! size). The embedding model is installed into `target/bench-model` on first run. The corpus
//! is synthetic and deterministic: sentences drawn from the fixture project's vocabulary with
//! Zipf-distributed word frequencies, with random unit vectors (brute-force KNN costs the same whatever the vectors mean); query
//! and task embeddings come from the real model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use memoryd::App;
use memoryd::config::Config;
use memoryd::embed::{Layout, install};
use memoryd::memory::NewMemory;
use memoryd::retrieve::SearchMode;
use memoryd::store::Filter;
use memoryd::tools::rehydrate_memory::{self, RehydrateArgs};
use memoryd::tools::store_memory::{self, StoreArgs};

/// A small deterministic generator (xorshift64*), so every run builds the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit_vector(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..384)
            .map(|_| (self.next() as f64 / u64::MAX as f64 - 0.5) as f32)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }
}

fn vocabulary() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/project-memories.jsonl"
    ))
    .unwrap();
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Word ranks drawn from a Zipf distribution (s = 1), as in natural text: a few words are
/// everywhere, most are rare. (Uniform draws would put every query term in 2.5% of all
/// memories, which no real corpus does.)
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().unwrap();
        let x = rng.next() as f64 / u64::MAX as f64 * total;
        self.cumulative
            .partition_point(|c| *c < x)
            .min(self.cumulative.len() - 1)
    }
}

fn corpus(n: usize) -> Vec<(NewMemory, Vec<f32>)> {
    let mut words = vocabulary();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Which words are common is decided by a deterministic shuffle of the vocabulary.
    for i in (1..words.len()).rev() {
        words.swap(i, rng.below(i + 1));
    }
    let zipf = Zipf::new(words.len());
    let kinds = [
        "decision",
        "convention",
        "backlog",
        "research",
        "doc",
        "fact",
        "note",
    ];
    (0..n)
        .map(|i| {
            let len = 20 + rng.below(60);
            let mut content: Vec<&str> = (0..len)
                .map(|_| words[zipf.sample(&mut rng)].as_str())
                .collect();
            content.push(".");
            let memory = NewMemory {
                namespace: "bench".into(),
                content: format!("memory {i}: {}", content.join(" ")),
                title: Some(format!(
                    "{} {}",
                    words[rng.below(words.len())],
                    words[rng.below(words.len())]
                )),
                kind: kinds[rng.below(kinds.len())].into(),
                tags: vec![words[rng.below(words.len())].clone()],
                source: Some(format!("docs/file-{}.md", rng.below(400))),
                anchor: None,
                context: None,
                roles: if i % 500 == 0 {
                    vec!["planner".into()]
                } else {
                    vec![]
                },
                priority: 0,
                occurred_at: None,
                metadata: serde_json::Map::new(),
            };
            (memory, rng.unit_vector())
        })
        .collect()
}

fn setup(rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, App) {
    let n: usize = std::env::var("MEMORYD_BENCH_MEMORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let model_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-model");
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        install::install(&Layout::new(&model_dir))
            .await
            .expect("model install");
        let mut config = Config::new(dir.path().to_path_buf());
        config.model_dir = model_dir;
        let app = App::open(config).await.unwrap();
        app.load_model_if_installed().await;
        assert!(
            app.embedder().is_ready(),
            "model must load for the benchmarks"
        );
        for chunk in corpus(n).chunks(1000) {
            let (memories, vectors): (Vec<_>, Vec<_>) = chunk.iter().cloned().unzip();
            app.store()
                .insert_many(memories, Some(vectors))
                .await
                .unwrap();
        }
        eprintln!("bench corpus: {n} memories");
        (dir, app)
    })
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_dir, app) = setup(&rt);
    let counter = AtomicU64::new(0);
    let fresh = |prefix: &str| format!("{prefix} {}", counter.fetch_add(1, Ordering::Relaxed));
    let filter = || Filter::namespace("bench");
    let query = "how do we reconcile bank feed imports with the ledger";

    let mut g = c.benchmark_group("embed");
    g.bench_function("query_uncached", |b| {
        b.to_async(&rt).iter(|| async {
            app.embedder()
                .embed(vec![fresh("posting currency ledger")])
                .await
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("search_10k");
    g.bench_function("keyword", |b| {
        b.to_async(&rt).iter(|| async {
            app.searcher()
                .search(query, filter(), 10, SearchMode::Keyword)
                .await
                .unwrap()
        })
    });
    g.bench_function("semantic_cached_embedding", |b| {
        b.to_async(&rt).iter(|| async {
            app.searcher()
                .search(query, filter(), 10, SearchMode::Semantic)
                .await
                .unwrap()
        })
    });
    g.bench_function("hybrid_cached_embedding", |b| {
        b.to_async(&rt).iter(|| async {
            app.searcher()
                .search(query, filter(), 10, SearchMode::Hybrid)
                .await
                .unwrap()
        })
    });
    g.bench_function("hybrid_uncached", |b| {
        b.to_async(&rt).iter(|| async {
            let q = fresh(query);
            app.searcher()
                .search(&q, filter(), 10, SearchMode::Hybrid)
                .await
                .unwrap()
        })
    });
    g.finish();

    let rehydrate = |task: String, budget: i64| RehydrateArgs {
        role: "planner".into(),
        task,
        limit: None,
        token_budget: Some(budget),
        namespace: Some("bench".into()),
    };
    let budget = AtomicU64::new(1000);
    let mut g = c.benchmark_group("rehydrate_10k");
    g.bench_function("uncached", |b| {
        b.to_async(&rt).iter(|| async {
            rehydrate_memory::run(&app, rehydrate(fresh(query), 2000))
                .await
                .unwrap()
        })
    });
    g.bench_function("task_embedding_cached", |b| {
        // Same task (its embedding is cached), a new budget each time (so the bundle is not).
        b.to_async(&rt).iter(|| async {
            let n = 1000 + budget.fetch_add(1, Ordering::Relaxed) % 20_000;
            rehydrate_memory::run(&app, rehydrate(query.into(), n as i64))
                .await
                .unwrap()
        })
    });
    g.bench_function("cached_bundle", |b| {
        b.to_async(&rt).iter(|| async {
            rehydrate_memory::run(&app, rehydrate(query.into(), 2000))
                .await
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("store_10k");
    g.bench_function("store_memory_inline_embedding", |b| {
        b.to_async(&rt).iter(|| async {
            let args = StoreArgs {
                content: fresh("bench note about reconciling the ledger"),
                namespace: Some("bench".into()),
                ..StoreArgs::default()
            };
            store_memory::run(&app, args).await.unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = retrieval;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(retrieval);
