//! Voice files: what format a file really is (by magic bytes and header,
//! never by its name), and whether it fits the size and duration limits.
//!
//! Accepted: WAV (RIFF/WAVE) with PCM (8, 16, 24 or 32 bit), A-law or
//! mu-law (8 bit) samples, 1 or 2 channels, 8 to 48 kHz; and MPEG audio
//! layer III (MP3), optionally behind an ID3v2 tag and before an ID3v1
//! tag, with every frame walked to compute the duration.

use serde::Serialize;

/// Limits for uploaded voice files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VoiceLimits {
    /// The largest file accepted, in bytes.
    pub max_bytes: usize,
    /// The shortest recording accepted, in milliseconds.
    pub min_duration_ms: u64,
    /// The longest recording accepted, in milliseconds.
    pub max_duration_ms: u64,
}

impl Default for VoiceLimits {
    /// 10 MiB, 0.1 s to 10 min.
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            min_duration_ms: 100,
            max_duration_ms: 10 * 60 * 1000,
        }
    }
}

/// The encoding of a voice file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum VoiceFormat {
    /// WAV with linear PCM samples of `bits` bits.
    WavPcm {
        /// Bits per sample.
        bits: u16,
    },
    /// WAV with G.711 A-law samples.
    WavAlaw,
    /// WAV with G.711 mu-law samples.
    WavMulaw,
    /// MPEG-1/2/2.5 audio layer III.
    Mp3,
}

/// What the sniffer found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VoiceInfo {
    /// The encoding.
    pub format: VoiceFormat,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// File size in bytes.
    pub bytes: usize,
}

/// Why a voice file is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    /// Larger than the limit.
    #[error("voice file is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Neither WAV nor MP3 by its magic bytes.
    #[error("not a WAV or MP3 file")]
    UnknownFormat,
    /// The header is cut short or a chunk/frame runs past the end.
    #[error("voice file is truncated")]
    Truncated,
    /// A WAV without a `fmt ` or `data` chunk, or with them out of order.
    #[error("WAV file lacks a fmt or data chunk")]
    MissingChunk,
    /// A WAV sample format other than PCM, A-law or mu-law.
    #[error("unsupported WAV sample format {code:#06x}")]
    UnsupportedCodec {
        /// The WAVE format tag.
        code: u16,
    },
    /// Channels, rate, bit depth or block size that do not fit together.
    #[error("inconsistent audio header: {what}")]
    BadHeader {
        /// What is wrong.
        what: &'static str,
    },
    /// An MP3 frame header is invalid or not layer III.
    #[error("invalid MP3 frame at byte {at}")]
    BadFrame {
        /// Offset of the frame.
        at: usize,
    },
    /// Shorter than the limit.
    #[error("recording is shorter than {min_ms} ms")]
    TooShort {
        /// The limit.
        min_ms: u64,
    },
    /// Longer than the limit.
    #[error("recording is longer than {max_ms} ms")]
    TooLong {
        /// The limit.
        max_ms: u64,
    },
}

fn u16le(b: &[u8], at: usize) -> Result<u16, VoiceError> {
    let s = b.get(at..at + 2).ok_or(VoiceError::Truncated)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32le(b: &[u8], at: usize) -> Result<u32, VoiceError> {
    let s = b.get(at..at + 4).ok_or(VoiceError::Truncated)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Finds the format of `bytes` and checks it against `limits`.
pub fn sniff(bytes: &[u8], limits: &VoiceLimits) -> Result<VoiceInfo, VoiceError> {
    if bytes.len() > limits.max_bytes {
        return Err(VoiceError::TooLarge {
            max: limits.max_bytes,
        });
    }
    let info = if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        wav(bytes)?
    } else if bytes.starts_with(b"ID3") || bytes.first() == Some(&0xFF) {
        mp3(bytes)?
    } else {
        return Err(VoiceError::UnknownFormat);
    };
    if info.duration_ms < limits.min_duration_ms {
        return Err(VoiceError::TooShort {
            min_ms: limits.min_duration_ms,
        });
    }
    if info.duration_ms > limits.max_duration_ms {
        return Err(VoiceError::TooLong {
            max_ms: limits.max_duration_ms,
        });
    }
    Ok(info)
}

fn wav(b: &[u8]) -> Result<VoiceInfo, VoiceError> {
    let mut at = 12usize;
    let mut fmt: Option<(VoiceFormat, u16, u32, u32, u16)> = None;
    loop {
        let id = b.get(at..at + 4).ok_or(VoiceError::MissingChunk)?;
        let size = u32le(b, at + 4)? as usize;
        let body = at + 8;
        let end = body.checked_add(size).ok_or(VoiceError::Truncated)?;
        if id == b"fmt " {
            let chunk = b.get(body..end).ok_or(VoiceError::Truncated)?;
            if size < 16 {
                return Err(VoiceError::Truncated);
            }
            let mut code = u16le(chunk, 0)?;
            let channels = u16le(chunk, 2)?;
            let rate = u32le(chunk, 4)?;
            let byte_rate = u32le(chunk, 8)?;
            let block = u16le(chunk, 12)?;
            let bits = u16le(chunk, 14)?;
            if code == 0xFFFE {
                // WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID.
                code = u16le(chunk, 24)?;
            }
            let format = match (code, bits) {
                (1, 8 | 16 | 24 | 32) => VoiceFormat::WavPcm { bits },
                (6, 8) => VoiceFormat::WavAlaw,
                (7, 8) => VoiceFormat::WavMulaw,
                (1 | 6 | 7, _) => return Err(VoiceError::BadHeader { what: "bit depth" }),
                _ => return Err(VoiceError::UnsupportedCodec { code }),
            };
            if !(1..=2).contains(&channels) {
                return Err(VoiceError::BadHeader { what: "channels" });
            }
            if !(8000..=48000).contains(&rate) {
                return Err(VoiceError::BadHeader {
                    what: "sample rate",
                });
            }
            if u32::from(block) != u32::from(channels) * u32::from(bits / 8) {
                return Err(VoiceError::BadHeader { what: "block size" });
            }
            if byte_rate != rate * u32::from(block) {
                return Err(VoiceError::BadHeader { what: "byte rate" });
            }
            fmt = Some((format, channels, rate, byte_rate, block));
        } else if id == b"data" {
            let Some((format, channels, rate, byte_rate, block)) = fmt else {
                return Err(VoiceError::MissingChunk);
            };
            if end > b.len() {
                return Err(VoiceError::Truncated);
            }
            if !size.is_multiple_of(usize::from(block)) {
                return Err(VoiceError::BadHeader {
                    what: "partial sample frame",
                });
            }
            let duration_ms = (size as u64) * 1000 / u64::from(byte_rate);
            return Ok(VoiceInfo {
                format,
                sample_rate: rate,
                channels,
                duration_ms,
                bytes: b.len(),
            });
        }
        // Chunks are padded to an even size.
        at = end.checked_add(size & 1).ok_or(VoiceError::Truncated)?;
    }
}

/// Layer III bitrates in kbit/s: MPEG-1, then MPEG-2/2.5.
const BITRATES: [[u32; 16]; 2] = [
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ],
    [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ],
];

fn mp3(b: &[u8]) -> Result<VoiceInfo, VoiceError> {
    let mut at = 0usize;
    if b.starts_with(b"ID3") {
        let h = b.get(6..10).ok_or(VoiceError::Truncated)?;
        if h.iter().any(|x| x & 0x80 != 0) {
            return Err(VoiceError::BadHeader { what: "ID3 size" });
        }
        let size = h.iter().fold(0usize, |acc, x| (acc << 7) | usize::from(*x));
        let footer = b.get(5).is_some_and(|f| f & 0x10 != 0);
        at = 10 + size + if footer { 10 } else { 0 };
        if at >= b.len() {
            return Err(VoiceError::Truncated);
        }
    }
    let mut frames = 0u64;
    let mut samples = 0u64;
    let mut first: Option<(u32, u16)> = None;
    while at < b.len() {
        let rest = b.get(at..).unwrap_or_default();
        if rest.len() == 128 && rest.starts_with(b"TAG") {
            break; // ID3v1 trailer
        }
        let h = rest.get(..4).ok_or(VoiceError::Truncated)?;
        if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
            return Err(VoiceError::BadFrame { at });
        }
        let version = (h[1] >> 3) & 3; // 0 = 2.5, 1 = reserved, 2 = 2, 3 = 1
        let layer = (h[1] >> 1) & 3; // 1 = layer III
        let bitrate_ix = usize::from(h[2] >> 4);
        let rate_ix = (h[2] >> 2) & 3;
        let padding = u32::from((h[2] >> 1) & 1);
        let channels = if h[3] >> 6 == 3 { 1 } else { 2 };
        if version == 1 || layer != 1 || rate_ix == 3 {
            return Err(VoiceError::BadFrame { at });
        }
        let mpeg1 = version == 3;
        let bitrate = BITRATES[usize::from(!mpeg1)][bitrate_ix] * 1000;
        if bitrate == 0 {
            return Err(VoiceError::BadFrame { at });
        }
        let base = [44100, 48000, 32000][usize::from(rate_ix)];
        let rate = match version {
            3 => base,
            2 => base / 2,
            _ => base / 4,
        };
        let per_frame = if mpeg1 { 1152 } else { 576 };
        let len = (per_frame / 8 * bitrate / rate + padding) as usize;
        if at + len > b.len() {
            return Err(VoiceError::Truncated);
        }
        match first {
            None => first = Some((rate, channels)),
            Some((r, _)) if r != rate => {
                return Err(VoiceError::BadHeader {
                    what: "sample rate changes between frames",
                });
            }
            Some(_) => {}
        }
        frames += 1;
        samples += u64::from(per_frame);
        at += len;
    }
    let Some((sample_rate, channels)) = first else {
        return Err(VoiceError::Truncated);
    };
    debug_assert!(frames > 0);
    Ok(VoiceInfo {
        format: VoiceFormat::Mp3,
        sample_rate,
        channels,
        duration_ms: samples * 1000 / u64::from(sample_rate),
        bytes: b.len(),
    })
}

/// Builds a WAV file (test and fuzz-corpus helper).
#[doc(hidden)]
pub fn build_wav(code: u16, channels: u16, rate: u32, bits: u16, data_len: usize) -> Vec<u8> {
    let block = channels * (bits / 8);
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&((36 + data_len) as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&code.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data_len as u32).to_le_bytes());
    v.resize(v.len() + data_len, 0x55);
    v
}

/// Builds an MP3 of `frames` MPEG-1 layer III frames at 128 kbit/s,
/// 44.1 kHz, with an ID3v2 tag in front (test and fuzz-corpus helper).
#[doc(hidden)]
pub fn build_mp3(frames: usize) -> Vec<u8> {
    let mut v = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
    for _ in 0..frames {
        let start = v.len();
        v.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        v.resize(start + 417, 0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> VoiceLimits {
        VoiceLimits::default()
    }

    #[test]
    fn req_3_1_wav_pcm_alaw_mulaw_are_recognised_with_duration() {
        let i = sniff(&build_wav(1, 1, 8000, 16, 16000), &lim()).unwrap();
        assert_eq!(i.format, VoiceFormat::WavPcm { bits: 16 });
        assert_eq!((i.sample_rate, i.channels, i.duration_ms), (8000, 1, 1000));
        let i = sniff(&build_wav(6, 1, 8000, 8, 4000), &lim()).unwrap();
        assert_eq!((i.format, i.duration_ms), (VoiceFormat::WavAlaw, 500));
        let i = sniff(&build_wav(7, 2, 8000, 8, 32000), &lim()).unwrap();
        assert_eq!((i.format, i.duration_ms), (VoiceFormat::WavMulaw, 2000));
    }

    #[test]
    fn req_3_1_mp3_frames_are_walked() {
        let i = sniff(&build_mp3(100), &lim()).unwrap();
        assert_eq!(i.format, VoiceFormat::Mp3);
        assert_eq!((i.sample_rate, i.channels), (44100, 2));
        assert_eq!(i.duration_ms, 100 * 1152 * 1000 / 44100);
        let mut cut = build_mp3(100);
        cut.truncate(cut.len() - 10);
        assert_eq!(sniff(&cut, &lim()), Err(VoiceError::Truncated));
        let mut junk = build_mp3(100);
        junk.extend_from_slice(b"garbage!");
        assert!(matches!(
            sniff(&junk, &lim()),
            Err(VoiceError::BadFrame { .. })
        ));
    }

    #[test]
    fn req_3_1_bad_voice_files_are_refused_by_content_not_name() {
        assert_eq!(sniff(b"<html>", &lim()), Err(VoiceError::UnknownFormat));
        assert_eq!(
            sniff(&build_wav(0x55, 1, 8000, 16, 16000), &lim()),
            Err(VoiceError::UnsupportedCodec { code: 0x55 })
        );
        let mut w = build_wav(1, 1, 8000, 16, 16000);
        w.truncate(100);
        assert_eq!(sniff(&w, &lim()), Err(VoiceError::Truncated));
        assert!(matches!(
            sniff(&build_wav(1, 3, 8000, 16, 16000), &lim()),
            Err(VoiceError::BadHeader { .. })
        ));
        assert_eq!(
            sniff(&build_wav(1, 1, 8000, 16, 16), &lim()),
            Err(VoiceError::TooShort { min_ms: 100 })
        );
        let small = VoiceLimits {
            max_bytes: 1000,
            ..lim()
        };
        assert_eq!(
            sniff(&build_wav(1, 1, 8000, 16, 16000), &small),
            Err(VoiceError::TooLarge { max: 1000 })
        );
        let short = VoiceLimits {
            max_duration_ms: 500,
            ..lim()
        };
        assert_eq!(
            sniff(&build_wav(1, 1, 8000, 16, 16000), &short),
            Err(VoiceError::TooLong { max_ms: 500 })
        );
    }
}
