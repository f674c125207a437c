//! Content review (requirement 3): voice files, TTS templates and SMS
//! templates are checked, submitted, and approved by the operator before
//! they can be used.
//!
//! - Content checks before submission ([`ReviewContent`]): voice files by
//!   magic bytes and header ([`voice`]), templates by a documented variable
//!   syntax with a preview ([`template`]), SMS by encoding and segment count
//!   ([`sms`]).
//! - The state machine ([`ReviewItem`]): draft → pending → approved |
//!   rejected(reason); edits start a new pending version; the operator can
//!   revoke; maker-checker. Each action returns a [`Transition`] for the
//!   audit log.
//! - "Is this usable?" is one call: [`ReviewItem::is_usable`] returns an
//!   [`Approved`] proof holding the approved content.
//! - Storage: [`ReviewStore`] with [`MemoryReviewStore`], and with the
//!   features `sqlite` / `postgres` `SqliteReviewStore` /
//!   `PostgresReviewStore`; every backend passes the conformance suite
//!   `testkit` (feature `testkit`, macro `review_store_contract!`).
//!
//! ```
//! use okcc_core::ids::{Owner, TenantId, UserId};
//! use okcc_core::rbac::{BuiltinRole, Principal, TenantCeiling};
//! use okcc_core::review::{ItemId, ReviewContent, ReviewItem, SmsLimits, Variables};
//!
//! let acme = Owner::Tenant(TenantId::new("acme")?);
//! let c = TenantCeiling::default();
//! let sup_role = BuiltinRole::Supervisor.role(acme.clone(), c)?;
//! let rev_role = BuiltinRole::PlatformReviewer.role(Owner::Platform, c)?;
//! let sup = Principal::new(UserId::new("sue")?, acme.clone(), [&sup_role], c);
//! let rev = Principal::new(UserId::new("rex")?, Owner::Platform, [&rev_role], c);
//!
//! let sms = ReviewContent::sms("Thanks {name}, we called you.", &Variables::default(), &SmsLimits::default())?;
//! let hash = sms.hash();
//! let (mut item, _created) = ReviewItem::create(&sup, ItemId::new("hangup-sms")?, acme, sms)?;
//! item.submit(&sup)?;
//! assert!(item.is_usable(&hash).is_err());
//! let transition = item.approve(&rev)?; // audit this
//! assert_eq!(transition.actor.as_str(), "rex");
//! assert!(item.is_usable(&hash).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod content;
mod item;
pub mod sms;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod store;
pub mod template;
#[cfg(any(test, feature = "testkit"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod voice;

pub use content::{ContentError, ContentHash, ContentKind, ReviewContent, SmsLimits};
pub use item::{
    Approved, ItemId, NotUsable, ReviewAction, ReviewError, ReviewItem, ReviewState, Transition,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::PostgresReviewStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::SqliteReviewStore;
pub use store::{MemoryReviewStore, ReviewStore};
pub use template::{Template, TemplateError, Variables};
pub use voice::{VoiceInfo, VoiceLimits};

/// Entry points for the fuzz targets and the corpus replay tests. Each
/// takes arbitrary bytes and must never panic.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Parses a TTS template and, if it parses, previews it.
    pub fn tts_template(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let vars = Variables::default();
        if let Ok(t) = Template::parse(&text, &vars) {
            let preview = t.preview(&vars).unwrap_or_default();
            // Literal braces only come from `{{`/`}}` or sample values.
            assert!(preview.len() <= text.len() + 50 * 64);
        }
    }

    /// Analyses a text as an SMS and checks the segment arithmetic.
    pub fn sms_segments(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let info = sms::analyze(&text);
        let per = match info.encoding {
            sms::SmsEncoding::Gsm7 => 153,
            sms::SmsEncoding::Ucs2 => 67,
        };
        assert!(info.segments >= 1);
        assert!(info.segments * per >= info.units || info.segments == 1);
        let _ = ReviewContent::sms(&text, &Variables::default(), &SmsLimits::default());
    }

    /// Sniffs bytes as a voice file.
    pub fn voice_sniff(data: &[u8]) {
        if let Ok(info) = voice::sniff(data, &VoiceLimits::default()) {
            assert_eq!(info.bytes, data.len());
        }
    }
}
