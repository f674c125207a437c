//! The canonical encoding of an [`AuditEvent`]: the exact bytes the hash
//! chain hashes.
//!
//! The encoding is binary, deterministic and injective (two different
//! events never share an encoding, and [`decode`] gives the event back).
//! Integers are big-endian; a *string* is a `u32` byte length followed by
//! its UTF-8 bytes; an *option* is a byte `0` (none) or `1` followed by the
//! value.
//!
//! | # | field | encoding |
//! |---|---|---|
//! | 0 | version | byte `1` |
//! | 1 | id | 16 bytes of the UUID |
//! | 2 | time | `i128`: nanoseconds since 1970-01-01T00:00:00Z |
//! | 3 | tenant | option of string |
//! | 4 | actor | byte kind: `1` user (string user, option string tenant, option string role), `2` SIP account (string account, option string tenant), `3` system (string component), `4` anonymous |
//! | 5 | source | byte `0` none, `4` + 4 bytes IPv4, `6` + 16 bytes IPv6 |
//! | 6 | action | string: the action code |
//! | 7 | target | option of (string kind, string id) |
//! | 8 | outcome | byte: `1` success, `2` failure (string reason), `3` denied (string rule, string reason code) |
//! | 9 | request id | option of string |
//! | 10 | detail | `u32` count, then per entry in key order: string key, byte type (`1` bool + byte, `2` int + `i64`, `3` text + string, `4` ip (as source, without the `0`), `5` masked phone + string) |

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use okcc_core::{DenyReason, RuleId, TenantId, UserId};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::action::Action;
use crate::actor::Actor;
use crate::detail::{Detail, DetailValue, MaskedPhone};
use crate::event::{AuditEvent, EventId, Outcome, Target};
use crate::label::{Label, RequestId, Text};

/// The version byte that starts every encoding.
pub const ENCODING_VERSION: u8 = 1;

/// Why bytes are not a canonical event encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    #[error("canonical encoding ends early")]
    Truncated,
    /// Bytes are left after the event.
    #[error("canonical encoding has trailing bytes")]
    TrailingBytes,
    /// Unknown version byte.
    #[error("unknown canonical encoding version {0}")]
    Version(u8),
    /// An unknown tag byte.
    #[error("invalid tag {tag} for {field}")]
    Tag {
        /// Which field.
        field: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A string is not UTF-8 or not a valid value for its field.
    #[error("invalid value for {field}")]
    Value {
        /// Which field.
        field: &'static str,
    },
    /// Detail keys are not in strictly increasing order.
    #[error("detail keys are not in order")]
    DetailOrder,
}

/// Appends the canonical encoding of `event` to `out`.
pub fn encode_into(event: &AuditEvent, out: &mut Vec<u8>) {
    out.push(ENCODING_VERSION);
    out.extend_from_slice(event.id.as_uuid().as_bytes());
    out.extend_from_slice(&event.time.unix_timestamp_nanos().to_be_bytes());
    opt_str(out, event.tenant.as_ref().map(TenantId::as_str));
    match &event.actor {
        Actor::User { user, tenant, role } => {
            out.push(1);
            str(out, user.as_str());
            opt_str(out, tenant.as_ref().map(TenantId::as_str));
            opt_str(out, role.as_ref().map(Label::as_str));
        }
        Actor::SipAccount { account, tenant } => {
            out.push(2);
            str(out, account.as_str());
            opt_str(out, tenant.as_ref().map(TenantId::as_str));
        }
        Actor::System { component } => {
            out.push(3);
            str(out, component.as_str());
        }
        Actor::Anonymous => out.push(4),
    }
    match event.source {
        None => out.push(0),
        Some(ip) => ip_bytes(out, ip),
    }
    str(out, event.action.code());
    match &event.target {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            str(out, t.kind.as_str());
            str(out, t.id.as_str());
        }
    }
    match &event.outcome {
        Outcome::Success => out.push(1),
        Outcome::Failure { reason } => {
            out.push(2);
            str(out, reason.as_str());
        }
        Outcome::Denied { rule, reason } => {
            out.push(3);
            str(out, rule.as_str());
            str(out, reason.code());
        }
    }
    opt_str(out, event.request_id.as_ref().map(RequestId::as_str));
    len(out, event.detail.len());
    for (k, v) in event.detail.iter() {
        str(out, k.as_str());
        match v {
            DetailValue::Bool(b) => {
                out.push(1);
                out.push(u8::from(*b));
            }
            DetailValue::Int(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_be_bytes());
            }
            DetailValue::Text(t) => {
                out.push(3);
                str(out, t.as_str());
            }
            DetailValue::Ip(ip) => {
                out.push(4);
                ip_bytes(out, *ip);
            }
            DetailValue::MaskedPhone(m) => {
                out.push(5);
                str(out, m.as_str());
            }
        }
    }
}

/// The canonical encoding of `event`.
pub fn encode(event: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(event, &mut out);
    out
}

fn len(out: &mut Vec<u8>, n: usize) {
    // Every string in an event is bounded far below 4 GiB (labels 64,
    // texts 1024 bytes; rule ids come from configuration), so this never
    // saturates in practice; saturating keeps the function total.
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
}

fn str(out: &mut Vec<u8>, s: &str) {
    len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            str(out, s);
        }
    }
}

fn ip_bytes(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// Decodes a canonical encoding back into the event.
pub fn decode(bytes: &[u8]) -> Result<AuditEvent, DecodeError> {
    let mut r = Reader { b: bytes };
    let version = r.u8()?;
    if version != ENCODING_VERSION {
        return Err(DecodeError::Version(version));
    }
    let id = EventId::from_uuid(Uuid::from_bytes(r.array::<16>()?));
    let nanos = i128::from_be_bytes(r.array::<16>()?);
    let time = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|_| DecodeError::Value { field: "time" })?;
    let tenant = r.opt_str()?.map(parse_tenant).transpose()?;
    let actor = match r.u8()? {
        1 => {
            let user = user(r.str()?)?;
            let tenant = r.opt_str()?.map(parse_tenant).transpose()?;
            let role = r.opt_str()?.map(|s| label(s, "actor role")).transpose()?;
            Actor::User { user, tenant, role }
        }
        2 => {
            let account = user(r.str()?)?;
            let tenant = r.opt_str()?.map(parse_tenant).transpose()?;
            Actor::SipAccount { account, tenant }
        }
        3 => Actor::System {
            component: label(r.str()?, "actor component")?,
        },
        4 => Actor::Anonymous,
        tag => {
            return Err(DecodeError::Tag {
                field: "actor",
                tag,
            });
        }
    };
    let source = match r.u8()? {
        0 => None,
        tag => Some(r.ip(tag)?),
    };
    let action = Action::from_code(r.str()?).map_err(|_| DecodeError::Value { field: "action" })?;
    let target = match r.u8()? {
        0 => None,
        1 => {
            let kind = label(r.str()?, "target kind")?;
            let id = text(r.str()?, "target id")?;
            if id.as_str().is_empty() {
                return Err(DecodeError::Value { field: "target id" });
            }
            Some(Target { kind, id })
        }
        tag => {
            return Err(DecodeError::Tag {
                field: "target",
                tag,
            });
        }
    };
    let outcome = match r.u8()? {
        1 => Outcome::Success,
        2 => Outcome::Failure {
            reason: text(r.str()?, "failure reason")?,
        },
        3 => {
            let rule = RuleId::new(r.str()?);
            let code = r.str()?;
            let reason = DenyReason::deserialize(
                IntoDeserializer::<serde::de::value::Error>::into_deserializer(code),
            )
            .map_err(|_| DecodeError::Value {
                field: "deny reason",
            })?;
            Outcome::Denied { rule, reason }
        }
        tag => {
            return Err(DecodeError::Tag {
                field: "outcome",
                tag,
            });
        }
    };
    let request_id = r
        .opt_str()?
        .map(|s| {
            RequestId::new(s).map_err(|_| DecodeError::Value {
                field: "request id",
            })
        })
        .transpose()?;
    let count = r.u32()?;
    let mut detail = Detail::new();
    let mut last_key: Option<&str> = None;
    for _ in 0..count {
        let key = r.str()?;
        if last_key.is_some_and(|k| k >= key) {
            return Err(DecodeError::DetailOrder);
        }
        last_key = Some(key);
        let value = match r.u8()? {
            1 => match r.u8()? {
                0 => DetailValue::Bool(false),
                1 => DetailValue::Bool(true),
                tag => {
                    return Err(DecodeError::Tag {
                        field: "detail bool",
                        tag,
                    });
                }
            },
            2 => DetailValue::Int(i64::from_be_bytes(r.array::<8>()?)),
            3 => DetailValue::Text(text(r.str()?, "detail text")?),
            4 => {
                let tag = r.u8()?;
                DetailValue::Ip(r.ip(tag)?)
            }
            5 => DetailValue::MaskedPhone(MaskedPhone::new(r.str()?).map_err(|_| {
                DecodeError::Value {
                    field: "detail phone",
                }
            })?),
            tag => {
                return Err(DecodeError::Tag {
                    field: "detail",
                    tag,
                });
            }
        };
        detail
            .insert(key, value)
            .map_err(|_| DecodeError::Value { field: "detail" })?;
    }
    if !r.b.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(AuditEvent {
        id,
        time,
        tenant,
        actor,
        source,
        action,
        target,
        outcome,
        request_id,
        detail,
    })
}

fn parse_tenant(s: &str) -> Result<TenantId, DecodeError> {
    TenantId::new(s).map_err(|_| DecodeError::Value { field: "tenant" })
}

fn user(s: &str) -> Result<UserId, DecodeError> {
    UserId::new(s).map_err(|_| DecodeError::Value { field: "actor" })
}

fn label(s: &str, field: &'static str) -> Result<Label, DecodeError> {
    Label::new(s).map_err(|_| DecodeError::Value { field })
}

fn text(s: &str, field: &'static str) -> Result<Text, DecodeError> {
    Text::new(s).map_err(|_| DecodeError::Value { field })
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Value { field: "string" })
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            tag => Err(DecodeError::Tag {
                field: "option",
                tag,
            }),
        }
    }

    fn ip(&mut self, tag: u8) -> Result<IpAddr, DecodeError> {
        match tag {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            tag => Err(DecodeError::Tag { field: "ip", tag }),
        }
    }
}
