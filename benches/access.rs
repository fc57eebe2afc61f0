//! What proving who calls costs each request: the gate's answer for the configured token, a
//! key from `memoryd key create` (the key ring warm, as on every call but one per 500 ms),
//! and the check an open server makes (is any credential needed?). The budget is
//! 0.1 ms on a call's p50; an OAuth token's cached path and the whole call over HTTP are
//! measured with `memoryd bench load` (docs/performance.md#authentication).
//!
//! Run with `cargo bench --bench access`.

use criterion::{Criterion, criterion_group, criterion_main};
use memoryd::access::keys;
use memoryd::access::{Pattern, Scope};
use memoryd::app::App;
use memoryd::config::Config;
use memoryd::store::ApiKey;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().to_path_buf());
    config.server.token = Some(TOKEN.into());
    let app = rt.block_on(App::open(config)).unwrap();
    let minted = keys::mint();
    let now = memoryd::memory::now();
    rt.block_on(app.store().create_key(ApiKey {
        id: minted.id.clone(),
        label: "bench".into(),
        scope: Scope::Write,
        namespaces: vec![Pattern::parse("team-a/*").unwrap()],
        hash: minted.hash,
        created_at: now.clone(),
        expires_at: None,
        revoked_at: None,
    }))
    .unwrap();
    let gate = app.gate();
    // Both hold, so the loop measures the path a real call takes.
    rt.block_on(gate.authenticate(Some(&minted.key), &now))
        .unwrap();
    rt.block_on(gate.authenticate(Some(TOKEN), &now)).unwrap();

    // An open server (no token, no key) asks the key ring whether any key exists.
    let open_dir = tempfile::tempdir().unwrap();
    let open = rt
        .block_on(App::open(Config::new(open_dir.path().to_path_buf())))
        .unwrap();
    assert!(!rt.block_on(open.gate().required()).unwrap());

    let mut g = c.benchmark_group("access");
    g.bench_function("open", |b| {
        b.iter(|| rt.block_on(open.gate().required()).unwrap())
    });
    g.bench_function("token", |b| {
        b.iter(|| rt.block_on(gate.authenticate(Some(TOKEN), &now)).unwrap())
    });
    g.bench_function("key", |b| {
        b.iter(|| {
            rt.block_on(gate.authenticate(Some(&minted.key), &now))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(access, benches);
criterion_main!(access);
