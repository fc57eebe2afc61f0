//! The PostgreSQL engine against a real server (`tests/postgres.rs`'s): rows in and out
//! through the shared rules, paging, imports, and stored values that do not read back.

use super::PgStore;
use super::columns::get;
use super::test_server::Server;
use crate::error::Error;
use crate::memory::{self, Memory, MemoryPatch, embedding_text};
use crate::store::KeywordRanking;
use crate::store::row::{HIT_COLUMNS, MEMORY_COLUMNS};
use crate::store::sample_memory as new_memory;
use crate::store::{Filter, Imported, query_terms};

/// A store on the server's database, migrated, ranking keywords in memory.
async fn store_on(server: &Server) -> PgStore {
    PgStore::connect(&server.url("memoryd"), KeywordRanking::InMemory, 1 << 30)
        .await
        .expect("connect to the test server")
}

/// Runs SQL on one of the store's pooled connections, then forgets the prepared statements
/// (a changed column type would otherwise fail them as "cached plan must not change result
/// type" before any value is read).
async fn sql(store: &PgStore, text: &str) {
    store
        .conn()
        .await
        .unwrap()
        .batch_execute(text)
        .await
        .unwrap();
    store.pool.manager().statement_caches.clear();
}

#[test]
fn the_columns_are_read_in_the_shared_order() {
    let names: Vec<_> = super::memories::COLUMNS
        .split(", ")
        .map(|c| c.trim_start_matches("m.").trim_end_matches("::text"))
        .collect();
    assert_eq!(names, MEMORY_COLUMNS);
    let names: Vec<_> = super::search::HIT_COLUMNS
        .split(", ")
        .map(|c| c.trim_start_matches("m.").trim_end_matches("::text"))
        .collect();
    assert_eq!(names, HIT_COLUMNS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_dedupes_per_namespace_only() {
    let server = Server::start();
    let store = store_on(&server).await;
    let a = store
        .insert(new_memory("one", "same text"), None)
        .await
        .unwrap();
    let b = store
        .insert(new_memory("one", "same text"), None)
        .await
        .unwrap();
    let c = store
        .insert(new_memory("two", "same text"), None)
        .await
        .unwrap();
    assert!(!a.deduplicated);
    assert!(b.deduplicated);
    assert_eq!((a.id.clone(), a.rowid), (b.id, b.rowid));
    assert!(!c.deduplicated);
    assert_ne!(a.id, c.id);
    let many = store
        .insert_many(
            vec![new_memory("one", "same text"), new_memory("one", "fresh")],
            None,
        )
        .await
        .unwrap();
    assert!(many[0].deduplicated && !many[1].deduplicated);
    assert_eq!(store.count(Filter::namespace("one")).await.unwrap(), 2);
    assert_eq!(
        store.namespace_counts().await.unwrap(),
        vec![("one".to_string(), 2), ("two".to_string(), 1)]
    );
    let hash = memory::content_hash("same text");
    assert_eq!(
        store.id_for_content("two".into(), hash).await.unwrap(),
        Some(c.id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_update_delete_round_trip_through_the_shared_rules() {
    let server = Server::start();
    let store = store_on(&server).await;
    let mut m = new_memory("ns", "the old words");
    m.metadata.insert("k".into(), serde_json::json!([1, 2]));
    m.occurred_at = Some("2023-05-08T13:56:00.000Z".into());
    let a = store.insert(m, Some(vec![0.5; 384])).await.unwrap().id;
    let b = store
        .insert(new_memory("ns", "other words"), None)
        .await
        .unwrap()
        .id;
    let got = store.get("ns".into(), a.clone()).await.unwrap();
    assert_eq!(got.tags, vec!["alpha", "beta"]);
    assert_eq!(got.roles, vec!["planner"]);
    assert_eq!(got.priority, 3);
    assert_eq!(got.occurred_at, "2023-05-08T13:56:00.000Z");
    assert_eq!(got.metadata["k"], serde_json::json!([1, 2]));
    assert_eq!(got.content_hash, memory::content_hash("the old words"));
    let err = store.get("other".into(), a.clone()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(store.pending_vector_count().await.unwrap(), 1, "b has none");

    // A field that is not text keeps the vector.
    let kind = MemoryPatch {
        kind: Some("fact".into()),
        ..MemoryPatch::default()
    };
    let (m, missing) = store
        .update("ns".into(), a.clone(), kind, None)
        .await
        .unwrap();
    assert_eq!((m.kind.as_str(), missing), ("fact", false));
    assert!(m.updated_at >= m.created_at);
    assert_eq!(store.pending_vector_count().await.unwrap(), 1);

    // New content without its vector: the old one goes, the memory waits for the backfill.
    let content = MemoryPatch {
        content: Some("the fresh words".into()),
        title: Some(None),
        ..MemoryPatch::default()
    };
    let (m, missing) = store
        .update("ns".into(), a.clone(), content, None)
        .await
        .unwrap();
    assert!(missing);
    assert_eq!(m.title, None);
    assert_eq!(m.content_hash, memory::content_hash("the fresh words"));
    assert_eq!(store.get("ns".into(), a.clone()).await.unwrap(), m);
    assert_eq!(store.pending_vector_count().await.unwrap(), 2);

    // New context with its vector: stored.
    let context = MemoryPatch {
        context: Some(Some("before".into())),
        ..MemoryPatch::default()
    };
    let text = embedding_text(Some("before"), "the fresh words");
    let (_, missing) = store
        .update(
            "ns".into(),
            a.clone(),
            context,
            Some((text, vec![0.25; 384])),
        )
        .await
        .unwrap();
    assert!(!missing);
    assert_eq!(store.pending_vector_count().await.unwrap(), 1);

    // Another memory's content is refused, and nothing is written.
    let dup = MemoryPatch {
        content: Some("other words".into()),
        ..MemoryPatch::default()
    };
    let err = store
        .update("ns".into(), a.clone(), dup, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateContent { existing_id, namespace }
            if *existing_id == b && namespace == "ns"),
        "{err}"
    );
    assert_eq!(
        store.get("ns".into(), a.clone()).await.unwrap().content,
        "the fresh words"
    );
    let err = store
        .update("ns".into(), "missing".into(), MemoryPatch::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    assert!(store.delete("ns".into(), a.clone()).await.unwrap());
    assert!(!store.delete("ns".into(), a.clone()).await.unwrap());
    assert!(matches!(
        store.get("ns".into(), a).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_newest_first_with_filters() {
    let server = Server::start();
    let store = store_on(&server).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut m = new_memory("ns", &format!("memory number {i}"));
        if i % 2 == 0 {
            m.kind = "decision".into();
            m.roles = vec!["*".into()];
        } else {
            m.roles = vec!["reviewer".into()];
        }
        ids.push(store.insert(m, None).await.unwrap().id);
    }
    let page = |after| store.list(Filter::namespace("ns"), after, 2);
    let first = page(None).await.unwrap();
    let got: Vec<_> = first.memories.iter().map(|m| m.id.clone()).collect();
    assert_eq!(got, vec![ids[4].clone(), ids[3].clone()]);
    let second = page(first.next_after).await.unwrap();
    assert_eq!(second.memories[0].id, ids[2]);
    let third = page(second.next_after).await.unwrap();
    assert_eq!(third.memories.len(), 1);
    assert_eq!(third.next_after, None);

    let planner = Filter {
        role: Some("planner".into()),
        ..Filter::namespace("ns")
    };
    // Pins for '*' count for every role; reviewer-only pins do not.
    assert_eq!(
        store.list(planner, None, 10).await.unwrap().memories.len(),
        3
    );
    let pinned = store
        .pinned_for(
            "ns".into(),
            "planner".into(),
            crate::store::Validity::Current,
        )
        .await
        .unwrap();
    assert_eq!(pinned.len(), 3);
    let tagged = Filter {
        tags: vec!["alpha".into(), "missing".into()],
        ..Filter::namespace("ns")
    };
    assert!(
        store
            .list(tagged, None, 10)
            .await
            .unwrap()
            .memories
            .is_empty()
    );

    // Search hits read through the shared mapping, in ranked order.
    let ranked = store
        .keyword_ranked(query_terms("number 3").into(), Filter::namespace("ns"), 10)
        .await
        .unwrap();
    assert_eq!(ranked.len(), 5);
    let hits = store.hits(ranked, vec!["3".into()]).await.unwrap();
    assert_eq!(hits[0].id, ids[3], "the memory with both terms first");
    assert_eq!(hits[0].snippet, "memory number 3");
    assert_eq!(hits[0].tags, vec!["alpha", "beta"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_outcomes_follow_the_shared_rules() {
    let server = Server::start();
    let store = store_on(&server).await;
    let record = |namespace: &str, content: &str| -> Memory {
        new_memory(namespace, content).stamped(memory::content_hash(content))
    };
    let first = record("ns", "imported words");
    let mut moved = first.clone();
    moved.namespace = "elsewhere".into();
    let same_content = record("ns", "imported words");
    let fresh = record("ns", "something else");
    let out = store
        .import_memories(
            vec![
                first.clone(),
                first.clone(),
                moved,
                same_content,
                fresh.clone(),
            ],
            vec![Some(vec![0.5; 384]), None, None, None, None],
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            Imported::Inserted,
            Imported::AlreadyPresent,
            Imported::IdConflict {
                namespace: "ns".into()
            },
            Imported::DuplicateContent {
                existing_id: first.id.clone()
            },
            Imported::Inserted,
        ]
    );
    // Imported as given, and the vector went with the first.
    assert_eq!(
        store.get("ns".into(), first.id.clone()).await.unwrap(),
        first
    );
    assert_eq!(store.pending_vector_count().await.unwrap(), 1);
    let exported = store.export_page(0, 10).await.unwrap();
    let ids: Vec<_> = exported.iter().map(|(_, m)| m.id.clone()).collect();
    assert_eq!(ids, vec![first.id, fresh.id]);
    let vectors = store
        .vectors_by_rowid(exported.iter().map(|(r, _)| *r).collect())
        .await
        .unwrap();
    assert_eq!(vectors.len(), 1);
    assert_eq!(vectors[0].1, vec![0.5; 384]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_does_not_read_back_is_an_internal_error_naming_its_column() {
    let server = Server::start();
    let store = store_on(&server).await;
    let id = store
        .insert(new_memory("ns", "fragile"), None)
        .await
        .unwrap()
        .id;
    let get_err = || async {
        let err = store.get("ns".into(), id.clone()).await.unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err}");
        err.to_string()
    };

    // NULL where a value is required.
    sql(
        &store,
        "ALTER TABLE memories ALTER COLUMN kind DROP NOT NULL",
    )
    .await;
    sql(&store, "UPDATE memories SET kind = NULL").await;
    let err = get_err().await;
    assert!(err.contains("column 'kind'"), "{err}");
    let err = store
        .list(Filter::namespace("ns"), None, 10)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("column 'kind'"), "{err}");
    sql(&store, "UPDATE memories SET kind = 'note'").await;

    // A value of another type.
    sql(
        &store,
        "ALTER TABLE memories ALTER COLUMN priority TYPE bigint",
    )
    .await;
    let err = get_err().await;
    assert!(err.contains("column 'priority'"), "{err}");
    sql(
        &store,
        "ALTER TABLE memories ALTER COLUMN priority TYPE integer",
    )
    .await;

    // Stored JSON that does not parse.
    sql(&store, "UPDATE memories SET metadata = 'not json'").await;
    let err = get_err().await;
    assert!(err.contains("stored metadata is not valid JSON"), "{err}");
    sql(&store, "UPDATE memories SET metadata = '{}'").await;
    assert_eq!(
        store.get("ns".into(), id.clone()).await.unwrap().content,
        "fragile"
    );

    // The reader every other statement uses.
    let client = store.conn().await.unwrap();
    let row = client
        .query_one("SELECT NULL::text AS gone, 1::int4 AS small", &[])
        .await
        .unwrap();
    let err = get::<String>(&row, 0).unwrap_err().to_string();
    assert!(err.contains("column 'gone'"), "{err}");
    let err = get::<i64>(&row, 1).unwrap_err().to_string();
    assert!(err.contains("column 'small'"), "{err}");
    assert_eq!(get::<Option<String>>(&row, 0).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_stored_listed_oldest_first_and_revoked_once() {
    let server = Server::start();
    crate::store::engine_checks::keys_round_trip(&store_on(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_records_its_writer_and_export_keeps_them() {
    let server = Server::start();
    server.create_database("copy");
    let store = store_on(&server).await;
    let empty = PgStore::connect(&server.url("copy"), KeywordRanking::InMemory, 1 << 30)
        .await
        .unwrap();
    crate::store::engine_checks::writers_round_trip(&store, &empty).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_counts_follow_every_write() {
    let server = Server::start();
    crate::store::engine_checks::namespace_counts_follow_writes(&store_on(&server).await).await;
}
