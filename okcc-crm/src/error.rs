//! The crate's error type.

use okcc_core::StoreError;
use okcc_core::mask::NumberError;
use okcc_core::rbac::Denied;
use okcc_core::recycle::RecycleError;

/// One invalid field of a customer. Messages never quote the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// Company too long or holds control characters.
    #[error("company is too long or holds control characters")]
    Company,
    /// Custom fields: too many, empty key, or too long.
    #[error("custom fields: too many, an empty key, or a value too long")]
    Custom,
    /// The same number twice.
    #[error("the same phone number is listed twice")]
    DuplicatePhone,
    /// Not an e-mail address.
    #[error("e-mail address is malformed")]
    Email,
    /// Name empty, too long or holds control characters.
    #[error("name must be 1 to 200 characters without control characters")]
    Name,
    /// Notes too long or hold control characters.
    #[error("notes are too long or hold control characters")]
    Notes,
    /// A phone number that does not parse.
    #[error("phone number: {0}")]
    Phone(#[source] NumberError),
    /// Tags: too many, empty or too long.
    #[error("tags: too many, empty, or too long")]
    Tags,
    /// More phone numbers than allowed.
    #[error("more than {max} phone numbers")]
    TooManyPhones {
        /// The limit.
        max: usize,
    },
}

/// Why a CRM operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    /// The operation was done but its audit event could not be recorded.
    #[error("audit log unavailable")]
    AuditUnavailable(#[source] crate::audit::AuditUnavailable),
    /// The principal may not do this.
    #[error("permission denied")]
    Denied(#[from] Denied),
    /// The input is invalid; every violation is listed.
    #[error("invalid customer: {violations:?}")]
    Invalid {
        /// Every failed check.
        violations: Vec<FieldError>,
    },
    /// A recycle-bin rule refused (e.g. restore while the number is taken).
    #[error(transparent)]
    Recycle(#[from] RecycleError),
    /// The reveal request does not exist or is not in the right state.
    #[error("reveal request: {0}")]
    Reveal(#[from] crate::reveal::RevealError),
    /// The store failed (includes `NotFound` and stale-version `Conflict`).
    #[error(transparent)]
    Store(#[from] StoreError),
}
