//! Errors of the credential layer.

/// A credential could not be hashed, parsed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// argon2 refused the parameters or failed (message from argon2, never
    /// holding a secret).
    #[error("argon2: {0}")]
    Argon2(String),
    /// A stored hash is not a valid PHC string.
    #[error("stored hash is not a valid PHC string")]
    BadPhc,
}
