//! Counting a bundle's tokens: memoryd's compact counter against tiktoken-rs, the reference
//! it replaced (same counts; see `rehydrate::bpe`). Also the time to load each.
//!
//! Run with `cargo bench --bench tokens`. The text is this repository's README (about
//! 40,000 tokens of prose, code, tables and Unicode) and one 800-token slice of it, the size
//! of a typical bundle.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use memoryd::rehydrate::Tokenizer;

fn benches(c: &mut Criterion) {
    let readme = include_str!("../README.md");
    let ours = Tokenizer::load("o200k_base").unwrap();
    let theirs = tiktoken_rs::o200k_base().unwrap();
    assert_eq!(ours.count(readme), theirs.encode_ordinary(readme).len());
    // About 800 tokens, cut at a char boundary.
    let mut end = 3_200;
    while !readme.is_char_boundary(end) {
        end += 1;
    }
    let bundle = &readme[..end];

    let mut g = c.benchmark_group("tokens");
    g.bench_function("count_bundle/memoryd", |b| b.iter(|| ours.count(bundle)));
    g.bench_function("count_bundle/tiktoken_rs", |b| {
        b.iter(|| theirs.encode_ordinary(bundle).len())
    });
    g.bench_function("count_readme/memoryd", |b| b.iter(|| ours.count(readme)));
    g.bench_function("count_readme/tiktoken_rs", |b| {
        b.iter(|| theirs.encode_ordinary(readme).len())
    });
    g.bench_function("load/memoryd", |b| {
        b.iter(|| Tokenizer::load("o200k_base").unwrap())
    });
    g.bench_function("load/tiktoken_rs", |b| {
        b.iter(|| tiktoken_rs::o200k_base().unwrap())
    });
    g.finish();
}

criterion_group! {
    name = tokens;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(tokens);
