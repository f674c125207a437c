//! `okcc-server content-check`: runs the review content checks on a file and
//! prints what the reviewer will see (JSON), or the reason it is refused.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use okcc_core::review::{ContentError, ReviewContent, SmsLimits, Variables, VoiceLimits};
use serde_json::json;

/// The kind of content to check.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Kind {
    /// A voice file (WAV PCM / A-law / mu-law, MP3).
    Voice,
    /// A TTS template (UTF-8 text with `{name}` variables).
    Tts,
    /// An SMS template (UTF-8 text with `{name}` variables).
    Sms,
}

/// Arguments of `content-check`.
#[derive(Debug, clap::Args)]
pub(crate) struct ContentCheckArgs {
    /// What the file holds.
    #[arg(value_enum)]
    kind: Kind,
    /// The file to check.
    file: PathBuf,
    /// Largest voice file accepted, in bytes.
    #[arg(long, default_value_t = VoiceLimits::default().max_bytes)]
    max_bytes: usize,
    /// Most SMS segments accepted.
    #[arg(long, default_value_t = SmsLimits::default().max_segments)]
    max_segments: usize,
}

/// Checks `bytes` as `kind`; the JSON the reviewer sees, or why not.
fn check(kind: Kind, bytes: Vec<u8>, args: &ContentCheckArgs) -> Result<serde_json::Value, String> {
    let vars = Variables::default();
    let text = || String::from_utf8(bytes.clone()).map_err(|_| "template is not UTF-8".to_owned());
    let mut voice = VoiceLimits::default();
    voice.max_bytes = args.max_bytes;
    let mut sms = SmsLimits::default();
    sms.max_segments = args.max_segments;
    let content = match kind {
        Kind::Voice => ReviewContent::voice(bytes, &voice),
        Kind::Tts => ReviewContent::tts(&text()?, &vars),
        Kind::Sms => ReviewContent::sms(&text()?, &vars, &sms),
    }
    .map_err(|e: ContentError| e.to_string())?;
    let mut out = serde_json::to_value(&content).map_err(|e| e.to_string())?;
    if let Some(map) = out.as_object_mut() {
        map.insert("hash".into(), json!(content.hash().to_string()));
    }
    Ok(out)
}

/// Runs the subcommand.
pub(crate) fn run(args: &ContentCheckArgs) -> ExitCode {
    let file = match std::fs::File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot open {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    // Read at most one byte more than the limit: enough to refuse it.
    let cap = args.max_bytes.max(64 * 1024).saturating_add(1);
    let mut bytes = Vec::new();
    if let Err(e) = file.take(cap as u64).read_to_end(&mut bytes) {
        eprintln!("error: cannot read {}: {e}", args.file.display());
        return ExitCode::from(2);
    }
    match check(args.kind, bytes, args) {
        Ok(v) => {
            println!("{v:#}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refused: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(kind: Kind) -> ContentCheckArgs {
        ContentCheckArgs {
            kind,
            file: PathBuf::new(),
            max_bytes: VoiceLimits::default().max_bytes,
            max_segments: SmsLimits::default().max_segments,
        }
    }

    #[test]
    fn req_3_1_cli_shows_sms_encoding_and_segments() {
        let v = check(
            Kind::Sms,
            "您好{name}".as_bytes().to_vec(),
            &args(Kind::Sms),
        )
        .unwrap();
        assert_eq!(v["info"]["encoding"], "ucs2");
        assert_eq!(v["info"]["segments"], 1);
        assert_eq!(v["preview"], "您好Zhang Wei");
        assert_eq!(v["hash"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn req_3_1_cli_refuses_bad_content_with_the_reason() {
        let e = check(Kind::Tts, b"Hi {nmae}".to_vec(), &args(Kind::Tts)).unwrap_err();
        assert_eq!(e, "unknown variable {nmae} at byte 3");
        let e = check(Kind::Voice, b"<html>".to_vec(), &args(Kind::Voice)).unwrap_err();
        assert_eq!(e, "not a WAV or MP3 file");
        let e = check(Kind::Sms, vec![0xff, 0xfe], &args(Kind::Sms)).unwrap_err();
        assert_eq!(e, "template is not UTF-8");
    }

    #[test]
    fn req_3_1_cli_describes_a_voice_file() {
        let wav = okcc_core::review::voice::build_wav(6, 1, 8000, 8, 8000);
        let v = check(Kind::Voice, wav, &args(Kind::Voice)).unwrap();
        assert_eq!(v["info"]["format"], "wav-alaw");
        assert_eq!(v["info"]["duration_ms"], 1000);
    }
}
