//! Masking and recycle-bin benches.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use okcc_core::mask::{MaskMode, TextMasker, mask_best_effort, mask_number};

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    g.bench_function("national_middle4", |b| {
        b.iter(|| mask_number(black_box("13812345678"), MaskMode::MiddleFour));
    });
    g.bench_function("international_middle4", |b| {
        b.iter(|| mask_number(black_box("+86 138 1234 5678"), MaskMode::MiddleFour));
    });
    g.bench_function("sip_uri_full", |b| {
        b.iter(|| {
            mask_number(
                black_box("sip:13812345678@pbx.example.com;user=phone"),
                MaskMode::Full,
            )
        });
    });
    g.bench_function("unparseable_strict", |b| {
        b.iter(|| mask_best_effort(black_box("138-abc-12345678"), MaskMode::MiddleFour));
    });
    let masker = TextMasker::new(MaskMode::MiddleFour).with_known_number("13812345678");
    let note = "Customer Zhang prefers calls on 138 1234 5678 after 6pm, ext 1001, or mail 13812345678@163.com.";
    g.bench_function("free_text_100b", |b| {
        b.iter(|| masker.mask(black_box(note)));
    });
    g.finish();
}

criterion_group!(benches, masking);
criterion_main!(benches);
