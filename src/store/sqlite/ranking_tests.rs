//! The in-memory keyword index on SQLite ranks exactly as FTS5's `bm25()`, and follows other
//! processes' writes through `text_log`.

use crate::bench::corpus::{Corpus, Rng};
use crate::memory::MemoryPatch;
use crate::store::sqlite::SqliteStore as Store;
use crate::store::{Filter, KeywordRanking, Ranked, query_terms};

/// The same ranking: equal scores position by position, and equal memories except where
/// scores tie (summation order may break a tie the other way).
fn assert_same(query: &str, ours: &[Ranked], theirs: &[Ranked]) {
    assert_eq!(ours.len(), theirs.len(), "{query}");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);
        assert!(close(a.score, b.score), "{query} #{i}: {a:?} vs {b:?}");
        if a.rowid != b.rowid {
            let tied = theirs
                .iter()
                .any(|t| t.rowid == a.rowid && close(t.score, a.score));
            assert!(tied, "{query} #{i}: {a:?} vs {b:?}");
        }
    }
}

#[tokio::test]
async fn ranks_exactly_as_fts5_bm25_and_follows_other_processes_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let ours = Store::open_with(&path, KeywordRanking::InMemory).unwrap();
    let fts5 = Store::open_with(&path, KeywordRanking::Engine).unwrap();
    let mut corpus = Corpus::new(3, Some("ns".into()));
    let memories: Vec<_> = corpus
        .by_ref()
        .take(1500)
        .map(|r| r.into_new_memory("ns"))
        .collect();
    fts5.insert_many(memories, None).await.unwrap();
    // Another namespace shares the statistics (as in FTS5) but never the results.
    let others: Vec<_> = corpus
        .by_ref()
        .take(500)
        .map(|r| r.into_new_memory("other"))
        .collect();
    fts5.insert_many(others, None).await.unwrap();
    let vocabulary = corpus.vocabulary().clone();
    let mut rng = Rng::new(9);
    let compare = |round: &'static str, seed: u64| {
        let (ours, fts5, vocabulary) = (&ours, &fts5, &vocabulary);
        let mut rng = Rng::new(seed);
        async move {
            for i in 0..60 {
                let query = vocabulary.phrase(&mut rng, 1 + i % 6);
                let terms = query_terms(&query);
                let mut filter = Filter::namespace("ns");
                if i % 4 == 3 {
                    filter.kind = Some("doc".into());
                }
                let limit = [5, 10, 50][i % 3];
                let a = ours
                    .keyword_ranked(terms.clone().into(), filter.clone(), limit)
                    .await;
                let b = fts5.keyword_ranked(terms.into(), filter, limit).await;
                assert_same(&format!("{round}: {query}"), &a.unwrap(), &b.unwrap());
            }
        }
    };
    compare("fresh", 1).await;

    // Another handle on the file (as another process would) edits, deletes and adds.
    let page = fts5.list(Filter::namespace("ns"), None, 300).await.unwrap();
    for (i, m) in page.memories.iter().enumerate() {
        match i % 3 {
            0 => {
                fts5.delete("ns".into(), m.id.clone()).await.unwrap();
            }
            1 => {
                let patch = MemoryPatch {
                    content: Some(format!(
                        "{} rewritten ledger",
                        vocabulary.phrase(&mut rng, 9)
                    )),
                    title: Some(Some(vocabulary.phrase(&mut rng, 2))),
                    ..MemoryPatch::default()
                };
                fts5.update("ns".into(), m.id.clone(), patch, None)
                    .await
                    .unwrap();
            }
            _ => {
                let tags = MemoryPatch {
                    tags: Some(vec![vocabulary.ranked(3).to_string()]),
                    ..MemoryPatch::default()
                };
                fts5.update("ns".into(), m.id.clone(), tags, None)
                    .await
                    .unwrap();
            }
        }
    }
    let more: Vec<_> = corpus
        .by_ref()
        .take(200)
        .map(|r| r.into_new_memory("ns"))
        .collect();
    fts5.insert_many(more, None).await.unwrap();
    compare("after writes", 2).await;

    // A big batch (more than is applied change by change) makes the index reload.
    let bulk: Vec<_> = corpus
        .by_ref()
        .take(1500)
        .map(|r| r.into_new_memory("ns"))
        .collect();
    fts5.insert_many(bulk, None).await.unwrap();
    compare("after a reload", 3).await;
}

#[tokio::test]
async fn a_search_sees_only_its_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("m.db")).unwrap();
    let mut corpus = Corpus::new(5, None);
    let a: Vec<_> = corpus
        .by_ref()
        .take(50)
        .map(|r| r.into_new_memory("a"))
        .collect();
    let b: Vec<_> = corpus
        .by_ref()
        .take(50)
        .map(|r| r.into_new_memory("b"))
        .collect();
    store.insert_many(a, None).await.unwrap();
    let b_ids: Vec<_> = store
        .insert_many(b, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.rowid)
        .collect();
    use crate::store::Backend;
    assert_eq!(store.index_footprint().namespaces_loaded, 0, "none at open");
    let word = corpus.vocabulary().ranked(0).to_string();
    let ranked = store
        .keyword_ranked(vec![word].into(), Filter::namespace("b"), 100)
        .await
        .unwrap();
    assert!(!ranked.is_empty());
    assert!(ranked.iter().all(|r| b_ids.contains(&r.rowid)));
    // Only the namespace searched was read.
    let footprint = store.index_footprint();
    assert_eq!(footprint.namespaces_loaded, 1);
    assert_eq!(footprint.keyword_memories, 50);
    assert!(footprint.bytes > 50 * 100, "{footprint:?}");
    let fts5 = Store::open_with(&dir.path().join("m.db"), KeywordRanking::Engine).unwrap();
    fts5.keyword_ranked(vec!["x".to_string()].into(), Filter::namespace("b"), 10)
        .await
        .unwrap();
    assert_eq!(fts5.index_footprint().namespaces_loaded, 0, "FTS5 ranks");
    let none = store
        .keyword_ranked(vec!["zzzunknown".into()].into(), Filter::namespace("b"), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
}
