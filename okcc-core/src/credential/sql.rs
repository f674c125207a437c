//! The SQLite and PostgreSQL [`CredentialStore`](super::CredentialStore)s
//! (features `sqlite` / `postgres`): web-login PHC strings in
//! `core_web_logins`, SIP HA1s (one column per digest algorithm) in
//! `core_sip_credentials`. The same SQL runs on both, written once by a
//! macro. Only [`WebLogin`](super::WebLogin) and
//! [`SipCredential`](super::SipCredential) are ever written, so the tables
//! hold nothing but hashes of accepted passwords; no error message carries
//! a stored value.

use super::{DigestAlgorithm, Ha1, PhcHash, SipCredential};
use crate::store::StoreError;
use crate::store::sql::corrupt;

/// Splits a SIP listing cursor (`realm NUL user`).
fn split_cursor(cursor: &str) -> Result<(&str, &str), StoreError> {
    cursor
        .split_once('\0')
        .ok_or_else(|| StoreError::conflict("malformed page cursor"))
}

/// A credential from its columns.
fn credential_of(
    realm: String,
    user: String,
    md5: &str,
    sha256: &str,
    sha512_256: &str,
) -> Result<SipCredential, StoreError> {
    let ha1 = |alg, hex| Ha1::from_hex(alg, hex).ok_or_else(|| corrupt("HA1 is not valid hex"));
    Ok(SipCredential::from_stored(
        user,
        realm,
        ha1(DigestAlgorithm::Md5, md5)?,
        ha1(DigestAlgorithm::Sha256, sha256)?,
        ha1(DigestAlgorithm::Sha512_256, sha512_256)?,
    ))
}

/// A stored PHC string.
fn phc_of(phc: &str) -> Result<PhcHash, StoreError> {
    PhcHash::from_stored(phc).map_err(|_| corrupt("web login is not a PHC string"))
}

/// Implements `CredentialStore` for `$store` (a struct with a `pool`).
macro_rules! impl_sql_credential_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::credential::CredentialStore for $store {
            async fn set_web_login(
                &self,
                user: &$crate::ids::UserId,
                login: $crate::credential::WebLogin,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO core_web_logins (user_id, phc) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO UPDATE SET phc = excluded.phc",
                )
                .bind(user.as_str())
                .bind(login.hash().as_str())
                .execute(&self.pool)
                .await
                .map_err($crate::store::sql::db_err)?;
                Ok(())
            }

            async fn web_login(
                &self,
                user: &$crate::ids::UserId,
            ) -> Result<Option<$crate::credential::PhcHash>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::db_err;
                let Some(row) = sqlx::query("SELECT phc FROM core_web_logins WHERE user_id = $1")
                    .bind(user.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                else {
                    return Ok(None);
                };
                $crate::credential::sql::phc_of(row.try_get::<&str, _>(0).map_err(db_err)?)
                    .map(Some)
            }

            async fn set_sip_credential(
                &self,
                credential: $crate::credential::SipCredential,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::credential::DigestAlgorithm as A;
                sqlx::query(
                    "INSERT INTO core_sip_credentials (realm, user_name, md5, sha256, sha512_256) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (realm, user_name) DO UPDATE SET \
                     md5 = excluded.md5, sha256 = excluded.sha256, sha512_256 = excluded.sha512_256",
                )
                .bind(credential.realm())
                .bind(credential.user())
                .bind(credential.ha1(A::Md5).to_hex().as_str())
                .bind(credential.ha1(A::Sha256).to_hex().as_str())
                .bind(credential.ha1(A::Sha512_256).to_hex().as_str())
                .execute(&self.pool)
                .await
                .map_err($crate::store::sql::db_err)?;
                Ok(())
            }

            async fn sip_credential(
                &self,
                user: &str,
                realm: &str,
            ) -> Result<Option<$crate::credential::SipCredential>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::db_err;
                let Some(row) = sqlx::query(
                    "SELECT md5, sha256, sha512_256 FROM core_sip_credentials \
                     WHERE realm = $1 AND user_name = $2",
                )
                .bind(realm)
                .bind(user)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                else {
                    return Ok(None);
                };
                $crate::credential::sql::credential_of(
                    realm.to_owned(),
                    user.to_owned(),
                    row.try_get::<&str, _>(0).map_err(db_err)?,
                    row.try_get::<&str, _>(1).map_err(db_err)?,
                    row.try_get::<&str, _>(2).map_err(db_err)?,
                )
                .map(Some)
            }

            async fn list_sip_credentials(
                &self,
                page: $crate::store::Page,
            ) -> Result<
                $crate::store::PageOf<$crate::credential::SipCredential>,
                $crate::store::StoreError,
            > {
                use sqlx::Row as _;
                use $crate::store::sql::db_err;
                let limit = page.effective_limit();
                let fetch = i64::try_from(limit).unwrap_or(1000) + 1;
                let rows = match page.after.as_deref() {
                    None => {
                        sqlx::query(
                            "SELECT realm, user_name, md5, sha256, sha512_256 \
                             FROM core_sip_credentials ORDER BY realm, user_name LIMIT $1",
                        )
                        .bind(fetch)
                        .fetch_all(&self.pool)
                        .await
                    }
                    Some(after) => {
                        let (realm, user) = $crate::credential::sql::split_cursor(after)?;
                        sqlx::query(
                            "SELECT realm, user_name, md5, sha256, sha512_256 \
                             FROM core_sip_credentials \
                             WHERE realm > $1 OR (realm = $1 AND user_name > $2) \
                             ORDER BY realm, user_name LIMIT $3",
                        )
                        .bind(realm)
                        .bind(user)
                        .bind(fetch)
                        .fetch_all(&self.pool)
                        .await
                    }
                }
                .map_err(db_err)?;
                let mut items = rows
                    .iter()
                    .map(|row| {
                        $crate::credential::sql::credential_of(
                            row.try_get(0).map_err(db_err)?,
                            row.try_get(1).map_err(db_err)?,
                            row.try_get::<&str, _>(2).map_err(db_err)?,
                            row.try_get::<&str, _>(3).map_err(db_err)?,
                            row.try_get::<&str, _>(4).map_err(db_err)?,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items
                        .last()
                        .map(|c: &$crate::credential::SipCredential| {
                            format!("{}\0{}", c.realm(), c.user())
                        })
                } else {
                    None
                };
                Ok($crate::store::PageOf::new(items, next))
            }

            async fn remove_sip_credential(
                &self,
                user: &str,
                realm: &str,
            ) -> Result<(), $crate::store::StoreError> {
                let done = sqlx::query(
                    "DELETE FROM core_sip_credentials WHERE realm = $1 AND user_name = $2",
                )
                .bind(realm)
                .bind(user)
                .execute(&self.pool)
                .await
                .map_err($crate::store::sql::db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok(())
            }
        }
    };
}

crate::store::sql::core_sql_stores! {
    /// Credentials in SQLite (feature `sqlite`), the embedded default.
    sqlite: SqliteCredentialStore,
    /// Credentials in PostgreSQL (feature `postgres`), for several nodes.
    postgres: PostgresCredentialStore,
}

#[cfg(feature = "sqlite")]
impl_sql_credential_store!(SqliteCredentialStore);

#[cfg(feature = "postgres")]
impl_sql_credential_store!(PostgresCredentialStore);
