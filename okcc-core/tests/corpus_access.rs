//! Replays the committed fuzz corpora of the access parsers.

use std::path::PathBuf;

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "corpus {name} has too few seeds");
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn fuzz_corpus_access_rules_replays() {
    let mut parsed = 0;
    for (path, data) in corpus("access_rules") {
        okcc_core::access::fuzz_rule_file(&data);
        parsed += usize::from(okcc_core::access::RuleSet::parse_bytes("c", &data).is_ok());
        let _ = path;
    }
    // The corpus holds both valid and invalid files.
    assert!(parsed >= 2);
}

#[test]
fn fuzz_corpus_ip_cidr_replays() {
    let mut ok = 0;
    for (_, data) in corpus("ip_cidr") {
        okcc_core::access::fuzz_ip_cidr(&data);
        ok += usize::from(
            std::str::from_utf8(&data).is_ok_and(|s| s.parse::<okcc_core::access::Cidr>().is_ok()),
        );
    }
    assert!(ok >= 4);
}
