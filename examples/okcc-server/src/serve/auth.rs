//! SIP digest authentication of REGISTER and INVITE through the library
//! guard's stage 8 ([`Guard::authenticate_for`](okcc_sip::pipeline::Guard::authenticate_for)):
//! HA1 from the server's credential store, the digest user bound to the
//! request's user (REGISTER: the To user; INVITE: the From user),
//! brute-force counting and bans, and one audit event per attempt filed
//! under the account's tenant.
//!
//! | guard decision | answer |
//! |---|---|
//! | allow | the request goes on |
//! | challenge (fresh or stale) | `401` + `WWW-Authenticate` (REGISTER), `407` + `Proxy-Authenticate` (others) |
//! | credential store unavailable | `503`, never counted as a wrong password |
//! | brute-force ban | silence on UDP, `403` on streams |
//! | wrong password, unknown user, user mismatch, bad credentials | `403` (the same answer for all) |

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use okcc_core::{Decision, TenantId};
use okcc_sip::pipeline::{DIGEST_STORE_RULE, Now, is_silent_on_udp};
use okcc_sip::{SipMethod, SipRequestView};
use rsipstack::sip::StatusCode;
use rsipstack::transaction::Transaction;

use super::{Server, hdr};

impl Server {
    /// Stage 8 for `view` from `ip`, whose user belongs to `tenant`:
    /// `Some(account)` when it authenticated, else `None` with the answer
    /// already sent.
    pub(super) async fn authenticate(
        &self,
        tx: &mut Transaction,
        view: &SipRequestView<'_>,
        ip: IpAddr,
        tenant: Option<&TenantId>,
    ) -> Option<String> {
        let auth = self
            .guard
            .authenticate_for(view, ip, Now::system(), tenant)
            .await;
        let register = view.method == SipMethod::Register;
        match &auth.decision {
            Decision::Allow => return auth.user,
            Decision::Challenge(c) => self.send_challenge(tx, register, c.stale).await,
            Decision::Deny(d) if d.rule.as_str() == DIGEST_STORE_RULE => {
                tracing::error!(source = %ip, "credential store unavailable");
                let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            }
            Decision::Deny(d) => {
                self.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                let why = auth.failure.map_or("", |f| f.code());
                let udp = view.via.transport.eq_ignore_ascii_case("udp");
                if is_silent_on_udp(d.reason) {
                    tracing::warn!(source = %ip, reason = why, method = view.method_raw, "brute force: source banned");
                    if udp {
                        // From now on this source gets silence.
                        return None;
                    }
                } else {
                    tracing::info!(source = %ip, reason = why, method = view.method_raw, "SIP authentication failed");
                }
                let _ = tx.reply(StatusCode::Forbidden).await;
            }
        }
        None
    }

    /// `401` / `407` with one challenge per offered algorithm.
    async fn send_challenge(&self, tx: &mut Transaction, register: bool, stale: bool) {
        let (status, name) = if register {
            (StatusCode::Unauthorized, "WWW-Authenticate")
        } else {
            (
                StatusCode::ProxyAuthenticationRequired,
                "Proxy-Authenticate",
            )
        };
        let headers = self
            .guard
            .digest()
            .challenges(SystemTime::now(), stale)
            .into_iter()
            .map(|c| hdr(name, c))
            .collect();
        let _ = tx.reply_with(status, headers, None).await;
    }
}
