//! Writes the valid seed for the audit_jsonl corpus when OKCC_WRITE_SEEDS is set (and checks the
//! generator runs otherwise).
mod common;

use okcc_audit::export::{JsonlRecord, write_jsonl_line};
use okcc_audit::{ChainAnchor, ChainTail};

#[test]
fn seed_generator_produces_a_verifiable_export() {
    let mut tail = ChainTail::new(ChainAnchor::GENESIS);
    let mut out = Vec::new();
    write_jsonl_line(&JsonlRecord::Anchor(ChainAnchor::GENESIS), &mut out).expect("ser");
    for n in 0..3 {
        write_jsonl_line(
            &JsonlRecord::Event(Box::new(tail.link(common::event(n)))),
            &mut out,
        )
        .expect("ser");
    }
    let report = okcc_audit::export::fuzz_verify_jsonl(&out).expect("parses");
    assert!(report.is_intact());
    if let Some(dir) = std::env::var_os("OKCC_WRITE_SEEDS") {
        std::fs::write(
            std::path::Path::new(&dir).join("valid-3-events.jsonl"),
            &out,
        )
        .expect("write");
    }
}
