//! Replays the committed fuzz corpora of the password and credential
//! targets through the same functions the fuzz targets call.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count >= 5, "{target}: only {count} corpus files");
}

#[test]
fn fuzz_corpus_password_check_replays() {
    replay(
        "password_check",
        okcc_core::password::fuzzing::password_check,
    );
}

#[test]
fn fuzz_corpus_ha1_audit_line_replays() {
    replay(
        "ha1_audit_line",
        okcc_core::credential::fuzzing::ha1_audit_line,
    );
}
