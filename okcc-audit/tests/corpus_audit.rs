//! Replays every file of `fuzz/corpus/audit_jsonl/` through the function
//! the `audit_jsonl` fuzz target calls, and checks the seeds that are
//! meant to verify do verify.

use std::path::PathBuf;

use okcc_audit::export::fuzz_verify_jsonl;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/audit_jsonl")
}

#[test]
fn req_5_1_audit_jsonl_corpus_replays_without_panic() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus()).expect("corpus dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        let result = fuzz_verify_jsonl(&data);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("valid") {
            let report = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(report.is_intact(), "{name}: {:?}", report.tamper);
        } else if name.starts_with("tampered") {
            let report = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(report.tamper.is_some(), "{name}");
        } else if name.starts_with("malformed") {
            assert!(result.is_err(), "{name}");
        }
        files += 1;
    }
    assert!(files >= 5, "corpus has {files} files");
}
