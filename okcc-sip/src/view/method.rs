//! SIP request methods.

use std::fmt;

/// A SIP request method (case-sensitive, RFC 3261 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SipMethod {
    /// `ACK`.
    Ack,
    /// `BYE`.
    Bye,
    /// `CANCEL`.
    Cancel,
    /// `INFO`.
    Info,
    /// `INVITE`.
    Invite,
    /// `MESSAGE`.
    Message,
    /// `NOTIFY`.
    Notify,
    /// `OPTIONS`.
    Options,
    /// `PRACK`.
    Prack,
    /// `PUBLISH`.
    Publish,
    /// `REFER`.
    Refer,
    /// `REGISTER`.
    Register,
    /// `SUBSCRIBE`.
    Subscribe,
    /// `UPDATE`.
    Update,
    /// Any other (extension) method; the view keeps its text.
    Other,
}

impl SipMethod {
    /// Classifies a method token (case-sensitive).
    pub fn classify(raw: &str) -> Self {
        match raw {
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "INFO" => Self::Info,
            "INVITE" => Self::Invite,
            "MESSAGE" => Self::Message,
            "NOTIFY" => Self::Notify,
            "OPTIONS" => Self::Options,
            "PRACK" => Self::Prack,
            "PUBLISH" => Self::Publish,
            "REFER" => Self::Refer,
            "REGISTER" => Self::Register,
            "SUBSCRIBE" => Self::Subscribe,
            "UPDATE" => Self::Update,
            _ => Self::Other,
        }
    }

    /// The method's token, or `"OTHER"` for extension methods.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Info => "INFO",
            Self::Invite => "INVITE",
            Self::Message => "MESSAGE",
            Self::Notify => "NOTIFY",
            Self::Options => "OPTIONS",
            Self::Prack => "PRACK",
            Self::Publish => "PUBLISH",
            Self::Refer => "REFER",
            Self::Register => "REGISTER",
            Self::Subscribe => "SUBSCRIBE",
            Self::Update => "UPDATE",
            Self::Other => "OTHER",
        }
    }
}

impl fmt::Display for SipMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
