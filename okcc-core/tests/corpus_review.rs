//! Replays every committed fuzz corpus file of the review parsers through
//! the functions the fuzz targets call, and checks the expected verdicts of
//! the hand-written seeds.

use std::fs;
use std::path::PathBuf;

use okcc_core::review::fuzzing;
use okcc_core::review::voice::{VoiceFormat, sniff};
use okcc_core::review::{Template, Variables, VoiceLimits};

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "corpus {name} has seeds");
    files
        .into_iter()
        .map(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            (n, fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn replay_tts_template_corpus() {
    for (name, data) in corpus("tts_template") {
        fuzzing::tts_template(&data);
        let ok = Template::parse(&String::from_utf8_lossy(&data), &Variables::default()).is_ok();
        match name.as_str() {
            "valid_vars" | "escaped" | "cjk" => assert!(ok, "{name} parses"),
            "unclosed" | "unopened" | "unknown" | "empty_var" | "nested" => {
                assert!(!ok, "{name} is refused");
            }
            _ => {}
        }
    }
}

#[test]
fn replay_sms_segments_corpus() {
    for (_, data) in corpus("sms_segments") {
        fuzzing::sms_segments(&data);
    }
}

#[test]
fn replay_voice_sniff_corpus() {
    for (name, data) in corpus("voice_sniff") {
        fuzzing::voice_sniff(&data);
        let r = sniff(&data, &VoiceLimits::default());
        let expected_ok = match name.as_str() {
            "wav_pcm16" => Some(VoiceFormat::WavPcm { bits: 16 }),
            "wav_alaw" => Some(VoiceFormat::WavAlaw),
            "wav_mulaw" => Some(VoiceFormat::WavMulaw),
            "mp3_10_frames" | "mp3_id3v1" => Some(VoiceFormat::Mp3),
            _ => None,
        };
        match (expected_ok, r) {
            (Some(f), Ok(info)) => assert_eq!(info.format, f, "{name}"),
            (None, Err(_)) => {}
            (e, r) => {
                // Files libFuzzer adds later have no expectation.
                assert!(
                    !name.starts_with("wav_") && !name.starts_with("mp3_") && name != "html",
                    "{name}: expected {e:?}, got {r:?}"
                );
            }
        }
    }
}
