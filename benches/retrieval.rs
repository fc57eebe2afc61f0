//! Latency of the hot paths at 10,000 memories: query embedding, keyword / semantic / hybrid
//! search, `rehydrate_memory` (uncached, with the task's embedding cached, and a cached
//! bundle), and `store_memory` with inline embedding.
//!
//! Run with `cargo bench --bench retrieval` (set `MEMORYD_BENCH_MEMORIES` for another corpus
//! size, and `MEMORYD_BENCH_DATABASE_URL` to an empty PostgreSQL database to measure that
//! engine instead of SQLite). The embedding model is installed into `target/bench-model` on first run. The corpus
//! is `memoryd bench corpus`'s (`memoryd::bench::corpus`: the fixture project's vocabulary
//! with Zipf-distributed word frequencies, deterministic), with random unit vectors
//! (brute-force KNN costs the same whatever the vectors mean); query and task embeddings come
//! from the real model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use memoryd::App;
use memoryd::bench::corpus::{Corpus, DEFAULT_SEED, Rng};
use memoryd::config::{Config, Retrieval};
use memoryd::embed::{Layout, install};
use memoryd::memory::NewMemory;
use memoryd::retrieve::{SearchMode, Searcher};
use memoryd::store::Filter;
use memoryd::tools::rehydrate_memory::{self, RehydrateArgs};
use memoryd::tools::store_memory::{self, StoreArgs};

/// The first `n` memories of `memory bench corpus`'s generator, each with a random unit vector.
fn corpus(n: usize) -> Vec<(NewMemory, Vec<f32>)> {
    let mut vectors = Rng::new(7);
    Corpus::new(DEFAULT_SEED, Some("bench".into()))
        .take(n)
        .map(|r| (r.into_new_memory("bench"), vectors.unit_vector(384)))
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
        config.storage.database_url = std::env::var("MEMORYD_BENCH_DATABASE_URL").ok();
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
    // A query naming a month: the time bonus applies too (same one read of the store).
    g.bench_function("hybrid_uncached_named_period", |b| {
        b.to_async(&rt).iter(|| async {
            let q = fresh(&format!("{query} in May 2026"));
            app.searcher()
                .search(&q, filter(), 10, SearchMode::Hybrid)
                .await
                .unwrap()
        })
    });
    // The same search without ranking by time (neighbours and named periods off), to see
    // what that step costs.
    let plain = Retrieval {
        neighbour_weight: 0.0,
        time_boost: 0.0,
        ..app.config().retrieval.clone()
    };
    // The same search with FTS5's idf (`namespace_idf_floor = 1`), to see what weighing query
    // terms by their namespace costs.
    let fts5_idf = Retrieval {
        namespace_idf_floor: 1.0,
        ..app.config().retrieval.clone()
    };
    // The same search with FTS5's length normalisation (`length_normalisation = 0.75`): the
    // same arithmetic with another constant, measured to show it costs nothing.
    let fts5_length = Retrieval {
        length_normalisation: 0.75,
        ..app.config().retrieval.clone()
    };
    // The same search without newer-first ranking, to see what reading the candidates' dates,
    // kinds and vectors costs.
    let oldest_too = Retrieval {
        newer_first_similarity: 0.0,
        ..app.config().retrieval.clone()
    };
    g.bench_function("semantic_cached_embedding_newer_first_off", |b| {
        b.to_async(&rt).iter(|| async {
            Searcher {
                store: app.store(),
                embedder: app.embedder(),
                tuning: &oldest_too,
            }
            .search(query, filter(), 10, SearchMode::Semantic)
            .await
            .unwrap()
        })
    });
    for (name, tuning) in [
        ("hybrid_cached_embedding_newer_first_off", &oldest_too),
        ("hybrid_cached_embedding_unsituated", &plain),
        ("hybrid_cached_embedding_fts5_idf", &fts5_idf),
        ("hybrid_cached_embedding_fts5_length", &fts5_length),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                Searcher {
                    store: app.store(),
                    embedder: app.embedder(),
                    tuning,
                }
                .search(query, filter(), 10, SearchMode::Hybrid)
                .await
                .unwrap()
            })
        });
    }
    g.bench_function("hybrid_uncached_unsituated", |b| {
        b.to_async(&rt).iter(|| async {
            let q = fresh(query);
            Searcher {
                store: app.store(),
                embedder: app.embedder(),
                tuning: &plain,
            }
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
        as_of: None,
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
            store_memory::run(&app, args, None).await.unwrap()
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
