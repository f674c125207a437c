//! Small validated text types used inside audit events.
//!
//! Every text that enters an event is bounded and free of control
//! characters, so an event can be written to a log line, a CSV cell or a
//! terminal without escaping surprises, and one event never costs more
//! than a few kilobytes.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::EventError;

/// The longest [`Label`], in bytes.
pub const MAX_LABEL: usize = 64;
/// The longest [`Text`], in bytes.
pub const MAX_TEXT: usize = 1024;
/// The longest [`RequestId`], in bytes.
pub const MAX_REQUEST_ID: usize = 128;

/// A short machine name: 1 to 64 characters from `a-z`, `0-9`, `.`, `_`,
/// `-`, starting with a letter or digit.
///
/// Used for target kinds (`customer`, `extension`), role names, system
/// component names (`sip-guard`) and detail keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(Arc<str>);

impl Label {
    /// Validates a label; `field` names the event field for the error.
    pub fn new(s: &str) -> Result<Self, EventError> {
        Self::checked(s, "label")
    }

    pub(crate) fn checked(s: &str, field: &'static str) -> Result<Self, EventError> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if s.len() > MAX_LABEL || !first_ok || !rest_ok {
            return Err(EventError::InvalidLabel { field });
        }
        Ok(Self(Arc::from(s)))
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Label {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, EventError> {
        Self::new(&s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> Self {
        l.0.to_string()
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", &*self.0)
    }
}

/// A bounded human-readable text: at most 1024 bytes, no control
/// characters (no newlines, tabs or escape sequences).
///
/// Used for failure reasons and text details. Never put a secret or an
/// unmasked phone number in a `Text`: see the crate docs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(Arc<str>);

impl Text {
    /// Validates a text.
    pub fn new(s: &str) -> Result<Self, EventError> {
        if s.len() > MAX_TEXT {
            return Err(EventError::TextTooLong { max: MAX_TEXT });
        }
        if s.chars().any(char::is_control) {
            return Err(EventError::ControlCharacter);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, EventError> {
        Self::new(&s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0.to_string()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({:?})", &*self.0)
    }
}

/// The id of the request that caused an event (an HTTP `X-Request-Id`, a
/// SIP `Call-ID`), so an event can be matched with server logs.
///
/// 1 to 128 visible ASCII characters (`!` to `~`), no spaces.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// Validates a request id.
    pub fn new(s: &str) -> Result<Self, EventError> {
        if s.is_empty() || s.len() > MAX_REQUEST_ID || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(EventError::InvalidRequestId);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The request id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestId {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, EventError> {
        Self::new(&s)
    }
}

impl From<RequestId> for String {
    fn from(r: RequestId) -> Self {
        r.0.to_string()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_5_1_labels_accept_machine_names_only() {
        assert!(Label::new("sip-guard").is_ok());
        assert!(Label::new("review_item.v2").is_ok());
        assert!(Label::new("").is_err());
        assert!(Label::new("Customer").is_err());
        assert!(Label::new("-x").is_err());
        assert!(Label::new(&"a".repeat(65)).is_err());
    }

    #[test]
    fn req_5_1_text_refuses_control_characters_and_long_input() {
        assert!(Text::new("wrong password").is_ok());
        assert_eq!(Text::new("a\nb"), Err(EventError::ControlCharacter));
        assert_eq!(Text::new("\u{1b}[31m"), Err(EventError::ControlCharacter));
        assert_eq!(
            Text::new(&"x".repeat(1025)),
            Err(EventError::TextTooLong { max: 1024 })
        );
    }

    #[test]
    fn req_5_1_request_ids_are_visible_ascii() {
        assert!(RequestId::new("a84b4c76e66710@pc33.example.com").is_ok());
        assert!(RequestId::new("has space").is_err());
        assert!(RequestId::new("").is_err());
    }
}
