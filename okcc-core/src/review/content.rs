//! Checked content: a voice file, a TTS template or an SMS template that
//! passed its content checks, with its [`ContentHash`].
//!
//! A [`ReviewContent`] can only be built through its checking constructors,
//! so an item under review always holds content that passed them.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sms::{SmsInfo, analyze};
use super::template::{Template, TemplateError, Variables};
use super::voice::{VoiceError, VoiceInfo, VoiceLimits, sniff};

/// The SHA-256 of a piece of content (with its kind), identifying exactly
/// one version of it. Shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    fn of(kind: ContentKind, body: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(kind.code().as_bytes());
        h.update([0u8]);
        h.update(body);
        let d = h.finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&d);
        Self(out)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let hi = (pair.first().copied().map(char::from)?).to_digit(16)?;
            let lo = (pair.get(1).copied().map(char::from)?).to_digit(16)?;
            *o = (hi * 16 + lo) as u8;
        }
        Some(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The three kinds of reviewed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ContentKind {
    /// A voice file for broadcast campaigns.
    Voice,
    /// A text-to-speech template.
    Tts,
    /// An SMS template.
    Sms,
}

impl ContentKind {
    /// A stable code: `voice`, `tts`, `sms`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Tts => "tts",
            Self::Sms => "sms",
        }
    }
}

/// Limits for SMS templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SmsLimits {
    /// The most segments the preview may take.
    pub max_segments: usize,
}

impl Default for SmsLimits {
    /// Up to 6 segments.
    fn default() -> Self {
        Self { max_segments: 6 }
    }
}

/// Why content is refused before submission.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The voice file failed its checks.
    #[error(transparent)]
    Voice(#[from] VoiceError),
    /// The template text failed to parse.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The SMS preview takes too many segments.
    #[error("SMS takes {segments} segments, more than {max}")]
    TooManySegments {
        /// Segments of the preview.
        segments: usize,
        /// The limit.
        max: usize,
    },
}

/// Content that passed its checks, with what the reviewer needs to see.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReviewContent {
    /// A voice file.
    Voice {
        /// The file's bytes (not serialized).
        #[serde(skip)]
        bytes: Arc<[u8]>,
        /// Format, duration and size.
        info: VoiceInfo,
    },
    /// A TTS template.
    Tts {
        /// The parsed template.
        template: Template,
        /// The template rendered from sample values.
        preview: String,
    },
    /// An SMS template.
    Sms {
        /// The parsed template.
        template: Template,
        /// The template rendered from sample values.
        preview: String,
        /// Encoding and segments of the preview: what will be billed.
        info: SmsInfo,
    },
}

impl ReviewContent {
    /// A voice file, if it is a WAV or MP3 within `limits`.
    pub fn voice(bytes: impl Into<Arc<[u8]>>, limits: &VoiceLimits) -> Result<Self, ContentError> {
        let bytes = bytes.into();
        let info = sniff(&bytes, limits)?;
        Ok(Self::Voice { bytes, info })
    }

    /// A TTS template using only `vars`.
    pub fn tts(text: &str, vars: &Variables) -> Result<Self, ContentError> {
        let template = Template::parse(text, vars)?;
        let preview = template.preview(vars).map_err(|m| TemplateError::Unknown {
            name: m.name,
            at: 0,
        })?;
        Ok(Self::Tts { template, preview })
    }

    /// An SMS template using only `vars`, whose preview fits `limits`.
    pub fn sms(text: &str, vars: &Variables, limits: &SmsLimits) -> Result<Self, ContentError> {
        let template = Template::parse(text, vars)?;
        let preview = template.preview(vars).map_err(|m| TemplateError::Unknown {
            name: m.name,
            at: 0,
        })?;
        let info = analyze(&preview);
        if info.segments > limits.max_segments {
            return Err(ContentError::TooManySegments {
                segments: info.segments,
                max: limits.max_segments,
            });
        }
        Ok(Self::Sms {
            template,
            preview,
            info,
        })
    }

    /// Content read back from a store, checked again: a voice file is
    /// sniffed (without the upload limits, which may have changed since),
    /// a template parsed (any well-formed variable name) and an SMS
    /// preview analysed. `preview` is what the reviewer saw.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn restore(
        kind: ContentKind,
        source: Option<&str>,
        preview: Option<String>,
        bytes: Option<Vec<u8>>,
    ) -> Result<Self, &'static str> {
        match (kind, source, preview, bytes) {
            (ContentKind::Voice, None, None, Some(bytes)) => {
                let limits = VoiceLimits {
                    max_bytes: usize::MAX,
                    min_duration_ms: 0,
                    max_duration_ms: u64::MAX,
                };
                let info = sniff(&bytes, &limits).map_err(|_| "stored voice file is not valid")?;
                Ok(Self::Voice {
                    bytes: bytes.into(),
                    info,
                })
            }
            (ContentKind::Tts, Some(source), Some(preview), None) => {
                let template =
                    Template::parse_stored(source).map_err(|_| "stored template does not parse")?;
                Ok(Self::Tts { template, preview })
            }
            (ContentKind::Sms, Some(source), Some(preview), None) => {
                let template =
                    Template::parse_stored(source).map_err(|_| "stored template does not parse")?;
                let info = analyze(&preview);
                Ok(Self::Sms {
                    template,
                    preview,
                    info,
                })
            }
            _ => Err("stored review content has the wrong fields for its kind"),
        }
    }

    /// The kind of content.
    pub fn kind(&self) -> ContentKind {
        match self {
            Self::Voice { .. } => ContentKind::Voice,
            Self::Tts { .. } => ContentKind::Tts,
            Self::Sms { .. } => ContentKind::Sms,
        }
    }

    /// The hash identifying this exact content.
    pub fn hash(&self) -> ContentHash {
        let body: &[u8] = match self {
            Self::Voice { bytes, .. } => bytes,
            Self::Tts { template, .. } | Self::Sms { template, .. } => template.source().as_bytes(),
        };
        ContentHash::of(self.kind(), body)
    }
}

impl fmt::Debug for ReviewContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Voice { bytes, info } => f
                .debug_struct("Voice")
                .field("bytes", &bytes.len())
                .field("info", info)
                .finish(),
            Self::Tts { template, .. } => f.debug_tuple("Tts").field(&template.source()).finish(),
            Self::Sms { template, info, .. } => f
                .debug_struct("Sms")
                .field("source", &template.source())
                .field("info", info)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::sms::SmsEncoding;

    #[test]
    fn req_3_2_hash_identifies_content_and_kind() {
        let v = Variables::default();
        let a = ReviewContent::tts("Hello {name}", &v).unwrap();
        let b = ReviewContent::sms("Hello {name}", &v, &SmsLimits::default()).unwrap();
        assert_ne!(a.hash(), b.hash());
        assert_eq!(
            a.hash(),
            ReviewContent::tts("Hello {name}", &v).unwrap().hash()
        );
        let hex = a.hash().to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(ContentHash::from_hex(&hex), Some(a.hash()));
        assert_eq!(ContentHash::from_hex("zz"), None);
    }

    #[test]
    fn req_3_1_sms_reviewer_sees_encoding_and_segments() {
        let c = ReviewContent::sms(
            "您好{name}，欢迎致电",
            &Variables::default(),
            &SmsLimits::default(),
        )
        .unwrap();
        let ReviewContent::Sms { preview, info, .. } = c else {
            panic!("sms")
        };
        assert_eq!(preview, "您好Zhang Wei，欢迎致电");
        assert_eq!((info.encoding, info.segments), (SmsEncoding::Ucs2, 1));
        let long = "x".repeat(1000);
        assert_eq!(
            ReviewContent::sms(&long, &Variables::default(), &SmsLimits::default()),
            Err(ContentError::TooManySegments {
                segments: 7,
                max: 6
            })
        );
    }
}
