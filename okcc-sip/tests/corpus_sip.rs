//! Replays every committed fuzz seed through the functions the fuzz targets call.

use std::fs;
use std::path::Path;

fn replay(target: &str, f: fn(&[u8]) -> bool) -> (usize, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut ok = 0;
    let mut total = 0;
    for entry in fs::read_dir(&dir).expect("corpus directory exists") {
        let path = entry.expect("readable entry").path();
        let data = fs::read(&path).expect("readable seed");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let parsed = f(&data);
        if name.starts_with("valid") {
            assert!(parsed, "{name} must parse");
        } else if name.starts_with("bad") {
            assert!(!parsed, "{name} must be refused");
        }
        ok += usize::from(parsed);
        total += 1;
    }
    (ok, total)
}

#[test]
fn corpus_sip_parse_replays() {
    let (ok, total) = replay("sip_parse", okcc_sip::fuzzing::sip_parse);
    assert!(total >= 10 && ok >= 4, "{ok}/{total}");
}

#[test]
fn corpus_sip_authorization_replays() {
    let (ok, total) = replay("sip_authorization", okcc_sip::fuzzing::sip_authorization);
    assert!(total >= 10 && ok >= 4, "{ok}/{total}");
}

#[test]
fn corpus_sip_pipeline_replays() {
    let (ok, total) = replay("sip_pipeline", okcc_sip::fuzzing::sip_pipeline);
    assert!(total >= 15 && ok >= 6, "{ok}/{total}");
}

#[test]
fn corpus_sip_mask_replays() {
    let (ok, total) = replay("sip_mask", okcc_sip::masking::fuzz_sip_mask);
    assert!(total >= 10 && ok >= 8, "{ok}/{total}");
}

#[test]
fn corpus_sip_unknown_method_replays() {
    let (ok, total) = replay("sip_unknown_method", okcc_sip::fuzzing::sip_unknown_method);
    assert!(total >= 10 && ok >= 4, "{ok}/{total}");
}
