//! Criterion benchmarks for okcc live in `benches/benches/`; this library
//! only holds helpers shared between them.
