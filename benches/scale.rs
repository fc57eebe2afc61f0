//! Vector search and keyword ranking as the namespace grows: 1k, 10k and 100k memories.
//!
//! Run with `cargo bench --bench scale`. The corpus comes from `memoryd::bench::corpus` (the
//! same generator as `memoryd bench corpus`) with random unit vectors, stored straight into
//! the database in batches; brute-force KNN costs the same whatever the vectors mean. The
//! query vector is a random unit vector too, so no model is needed. Building the 100k
//! namespace takes a minute or two; set `MEMORYD_BENCH_SCALES=1000,10000` to skip it.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use memoryd::App;
use memoryd::bench::corpus::{Corpus, Rng};
use memoryd::config::Config;
use memoryd::store::{Filter, KeywordRanking, Location, Store, query_terms};

fn scales() -> Vec<usize> {
    std::env::var("MEMORYD_BENCH_SCALES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = rt
        .block_on(App::open(Config::new(dir.path().to_path_buf())))
        .unwrap();
    let mut vectors = Rng::new(7);
    for &n in &scales() {
        let namespace = format!("n{n}");
        let mut corpus = Corpus::new(42, Some(namespace.clone()));
        rt.block_on(async {
            let mut left = n;
            while left > 0 {
                let batch: Vec<_> = corpus.by_ref().take(left.min(1000)).collect();
                left -= batch.len();
                let (memories, embeddings): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|r| (r.into_new_memory(&namespace), vectors.unit_vector(384)))
                    .unzip();
                app.store()
                    .insert_many(memories, Some(embeddings))
                    .await
                    .unwrap();
            }
        });
        eprintln!("namespace {namespace}: {n} memories");
    }

    let query = Arc::new(vectors.unit_vector(384));
    let mut g = c.benchmark_group("knn");
    for &n in &scales() {
        let ns = format!("n{n}");
        // The first search loads the namespace's vectors into memory; measure the steady state.
        rt.block_on(
            app.store()
                .vector_ranked(query.clone(), Filter::namespace(&ns), 10),
        )
        .unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(n), &ns, |b, ns| {
            b.to_async(&rt).iter(|| async {
                app.store()
                    .vector_ranked(query.clone(), Filter::namespace(ns.as_str()), 10)
                    .await
                    .unwrap()
            })
        });
    }
    g.finish();

    // Two queries: one of the fixtures' words, and the corpus's five most common words (in
    // 97% to 50% of memories: the worst case, every memory a match).
    let vocabulary = Corpus::new(42, None).vocabulary().clone();
    let common: Vec<&str> = (0..5).map(|rank| vocabulary.ranked(rank)).collect();
    let queries = [
        (
            "fixture",
            "how do we reconcile bank feed imports with the ledger".to_string(),
        ),
        ("common", common.join(" ")),
    ];
    let location = Location::File(Config::new(dir.path().to_path_buf()).database_path());
    let budget = Config::new(dir.path().to_path_buf())
        .limits
        .index_memory_bytes;
    // The same database through a second handle that ranks with FTS5's bm25().
    let fts5 = rt
        .block_on(Store::open(&location, KeywordRanking::Engine, budget))
        .unwrap();
    let stores = [("in_memory", app.store().clone()), ("fts5", fts5)];
    let mut g = c.benchmark_group("keyword_ranked");
    for (engine, store) in &stores {
        for (name, query) in &queries {
            let terms = query_terms(query);
            for &n in &scales() {
                let ns = format!("n{n}");
                // The first search loads the in-memory index; measure the steady state.
                rt.block_on(store.keyword_ranked(terms.clone().into(), Filter::namespace(&ns), 50))
                    .unwrap();
                let id = BenchmarkId::new(format!("{engine}/{name}"), n);
                g.bench_with_input(id, &ns, |b, ns| {
                    b.to_async(&rt).iter(|| async {
                        store
                            .keyword_ranked(
                                terms.clone().into(),
                                Filter::namespace(ns.as_str()),
                                50,
                            )
                            .await
                            .unwrap()
                    })
                });
            }
        }
    }
    g.finish();

    // A namespace's first search on a fresh handle: both its indexes load (its rows only) and
    // a hybrid search's two rankings run. "namespace": the handle has loaded the
    // database-wide keyword statistics, as a server does once it is ready (a cold namespace
    // on a running server); "server": nothing is loaded, so the statistics load too.
    let mut g = c.benchmark_group("cold_first_search");
    let terms = query_terms(&queries[0].1);
    for warmed in [true, false] {
        for &n in &scales() {
            let ns = format!("n{n}");
            let told = std::sync::atomic::AtomicBool::new(false);
            let id = BenchmarkId::new(if warmed { "namespace" } else { "server" }, n);
            g.bench_with_input(id, &ns, |b, ns| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        let store = rt
                            .block_on(Store::open(&location, KeywordRanking::InMemory, budget))
                            .unwrap();
                        if warmed {
                            rt.block_on(store.warm_keyword_statistics()).unwrap();
                        }
                        let started = std::time::Instant::now();
                        rt.block_on(async {
                            let filter = Filter::namespace(ns.as_str());
                            let (keywords, nearest) = tokio::join!(
                                store.keyword_ranked(terms.clone().into(), filter.clone(), 50),
                                store.vector_ranked(query.clone(), filter, 100),
                            );
                            (keywords.unwrap(), nearest.unwrap())
                        });
                        spent += started.elapsed();
                        let held = store.index_footprint();
                        assert_eq!(held.namespaces_loaded, 2, "only {ns}'s two indexes");
                        if iters == 1 && !told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            eprintln!(
                                "{ns}: {} index bytes ({} per memory); statistics: {} memories, \
                                 {} bytes",
                                held.bytes,
                                held.bytes / n as u64,
                                held.statistics_memories,
                                held.statistics_bytes
                            );
                        }
                    }
                    spent
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = scale;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(scale);
