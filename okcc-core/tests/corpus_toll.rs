//! Replays the `toll_destination` fuzz corpus through the fuzz target's
//! function, so `cargo test` covers it on stable Rust.

use std::fs;
use std::path::Path;

#[test]
fn replays_toll_destination_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/toll_destination");
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("corpus directory exists") {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("corpus file readable");
        okcc_core::toll::number::fuzzing::toll_destination(&data);
        count += 1;
    }
    assert!(count >= 10, "corpus has {count} files");
}
