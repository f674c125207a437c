//! Change notification between nodes on one PostgreSQL database (feature
//! `postgres`): LISTEN/NOTIFY.
//!
//! Every write of a shared store (bans today) runs
//! `pg_notify('okcc_changes', '<schema>:<what>')` inside its own
//! transaction, so the notice is delivered exactly when the change commits
//! and never for a rolled-back one. A node holds one [`PgChangeListener`];
//! when [`PgChangeListener::next`] returns it reads the store's
//! `changes_since(cursor)` (a notice carries no data, so a lost or merged
//! notice only delays, never loses, a change). Notices of other schemas
//! (other okcc installations, parallel tests) are ignored.

use sqlx::postgres::PgListener;

use super::StoreError;
use super::sql::db_err;

/// The channel okcc's stores notify on.
pub const CHANNEL: &str = "okcc_changes";

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeNotice {
    /// The bans changed: read `BanStore::changes_since`.
    Bans,
    /// The access rules changed: read `AccessRuleStore::changes_since`.
    AccessRules,
    /// The connection was lost and re-established: notices may have been
    /// missed, so read every store's changes.
    Reconnected,
}

/// Waits for other nodes' changes (see the module docs).
pub struct PgChangeListener {
    listener: PgListener,
    prefix: String,
}

impl std::fmt::Debug for PgChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgChangeListener")
            .field("schema", &self.prefix.trim_end_matches(':'))
            .finish_non_exhaustive()
    }
}

impl PgChangeListener {
    /// Listens on [`CHANNEL`] through a connection of `pool` (taken out of
    /// the pool for as long as the listener lives), for changes in the
    /// pool's schema.
    pub async fn connect(pool: &sqlx::PgPool) -> Result<Self, StoreError> {
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
        let mut listener = PgListener::connect_with(pool).await.map_err(db_err)?;
        listener.listen(CHANNEL).await.map_err(db_err)?;
        Ok(Self {
            listener,
            prefix: format!("{schema}:"),
        })
    }

    /// Waits for the next change of this schema.
    pub async fn next(&mut self) -> Result<ChangeNotice, StoreError> {
        loop {
            let Some(n) = self.listener.try_recv().await.map_err(db_err)? else {
                return Ok(ChangeNotice::Reconnected);
            };
            match n.payload().strip_prefix(self.prefix.as_str()) {
                Some("bans") => return Ok(ChangeNotice::Bans),
                Some("access-rules") => return Ok(ChangeNotice::AccessRules),
                _ => {}
            }
        }
    }
}
