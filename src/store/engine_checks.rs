//! Checks every engine must pass the same way, run by each engine's unit tests on a real
//! database: what the access keys and the writers of memories read back as, and the memory
//! counts the triggers keep per namespace.

use super::{ApiKey, Backend, sample_memory};
use crate::access::{Pattern, Scope};
use crate::memory::MemoryPatch;

fn key(id: &str, created_at: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        label: format!("label {id}"),
        scope: Scope::Write,
        namespaces: vec![
            Pattern::parse("team-a/*").unwrap(),
            Pattern::parse("shared").unwrap(),
        ],
        hash: [9; 32],
        created_at: created_at.into(),
        expires_at: Some("2027-01-01T00:00:00.000Z".into()),
        revoked_at: None,
    }
}

/// Keys are stored whole, listed oldest first (revoked ones too), refused on a second use of
/// an id, and revoked once: a second revocation keeps the first time, an unknown id is none.
pub(crate) async fn keys_round_trip(backend: &dyn Backend) {
    assert!(backend.keys().await.unwrap().is_empty());
    let newer = key("00000000000000bb", "2026-02-01T00:00:00.000Z");
    let older = key("00000000000000aa", "2026-01-01T00:00:00.000Z");
    backend.create_key(newer.clone()).await.unwrap();
    backend.create_key(older.clone()).await.unwrap();
    assert_eq!(
        backend.keys().await.unwrap(),
        vec![older.clone(), newer.clone()]
    );
    let clash = ApiKey {
        label: "other".into(),
        ..older.clone()
    };
    assert!(backend.create_key(clash).await.is_err());

    let first = "2026-03-01T00:00:00.000Z";
    let revoked = backend
        .revoke_key(older.id.clone(), first.into())
        .await
        .unwrap()
        .expect("the key exists");
    assert_eq!(revoked.revoked_at.as_deref(), Some(first));
    let again = backend
        .revoke_key(older.id.clone(), "2026-04-01T00:00:00.000Z".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, revoked, "the first time stays");
    let unknown = backend
        .revoke_key("ffffffffffffffff".into(), first.into())
        .await
        .unwrap();
    assert_eq!(unknown, None);
    assert_eq!(backend.keys().await.unwrap(), vec![again, newer]);
}

/// `created_by` is the first writer's, `updated_by` and each version's `changed_by` the
/// writer of that version; a repeated store and a supersede name nobody new; an export
/// imported into `empty` (a fresh database of the same engine) gives every name back.
pub(crate) async fn writers_round_trip(backend: &dyn Backend, empty: &dyn Backend) {
    let by = |name: &str| Some(name.to_string());
    let written = |text: &str, name: &str| crate::memory::NewMemory {
        by: by(name),
        ..sample_memory("ns", text)
    };
    let id = backend
        .insert(written("first words", "alice"), None)
        .await
        .unwrap()
        .id;
    let patch = MemoryPatch {
        content: Some("second words".into()),
        by: by("bob"),
        ..MemoryPatch::default()
    };
    let (m, _) = backend
        .update("ns".into(), id.clone(), patch, None)
        .await
        .unwrap();
    assert_eq!((m.created_by, m.updated_by), (by("alice"), by("bob")));
    let versions = backend.versions(id.clone()).await.unwrap();
    assert_eq!(versions[0].changed_by, by("alice"));

    let again = backend
        .insert(written("second words", "carol"), None)
        .await
        .unwrap();
    assert!(again.deduplicated);
    let newer = backend
        .insert_superseding(written("third words", "dave"), None, vec![id.clone()])
        .await
        .unwrap()
        .id;
    let m = backend.get("ns".into(), id.clone()).await.unwrap();
    assert_eq!(m.superseded_by.as_deref(), Some(newer.as_str()));
    assert_eq!((m.created_by, m.updated_by), (by("alice"), by("bob")));

    let exported: Vec<_> = backend
        .export_page(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let n = exported.len();
    empty
        .import_memories(exported.clone(), vec![None; n])
        .await
        .unwrap();
    let back: Vec<_> = empty
        .export_page(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(back, exported);
    assert_eq!(back[1].created_by, by("dave"));
}

/// The per-namespace counts the triggers keep follow every kind of write: single and
/// multi-namespace inserts, a deduplicated store, a supersede (both stay), a delete, an
/// expiry purge, and a namespace emptied, which is then no longer listed.
pub(crate) async fn namespace_counts_follow_writes(backend: &dyn Backend) {
    let counts = |expected: &[(&str, u64)]| {
        expected
            .iter()
            .map(|(ns, n)| (ns.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(backend.namespace_counts().await.unwrap(), counts(&[]));
    let first = backend
        .insert(sample_memory("a", "one"), None)
        .await
        .unwrap();
    backend
        .insert(sample_memory("a", "one"), None)
        .await
        .unwrap();
    let many = backend
        .insert_many(
            vec![
                sample_memory("b", "two"),
                sample_memory("a", "three"),
                sample_memory("c", "four"),
                sample_memory("b", "five"),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        backend.namespace_counts().await.unwrap(),
        counts(&[("a", 2), ("b", 2), ("c", 1)])
    );
    backend
        .insert_superseding(sample_memory("a", "six"), None, vec![first.id.clone()])
        .await
        .unwrap();
    let expiring = crate::memory::NewMemory {
        expires_at: Some("2020-01-01T00:00:00.000Z".into()),
        ..sample_memory("b", "seven")
    };
    backend.insert(expiring, None).await.unwrap();
    assert_eq!(
        backend.namespace_counts().await.unwrap(),
        counts(&[("a", 3), ("b", 3), ("c", 1)])
    );
    assert!(
        backend
            .delete("c".into(), many[2].id.clone())
            .await
            .unwrap()
    );
    assert!(backend.delete("a".into(), first.id.clone()).await.unwrap());
    let purged = backend
        .purge_expired("2021-01-01T00:00:00.000Z".into(), 100)
        .await
        .unwrap();
    assert_eq!(purged, Some(1));
    assert_eq!(
        backend.namespace_counts().await.unwrap(),
        counts(&[("a", 2), ("b", 2)])
    );
}
