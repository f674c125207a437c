//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use okcc_audit::{Action, Actor, AuditEvent, EventId, Outcome, Target};
use okcc_core::{TenantId, UserId};
use time::OffsetDateTime;

/// A deterministic event number `n`.
pub fn event(n: u64) -> AuditEvent {
    let t0 = OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time");
    let tenant = TenantId::new(if n % 2 == 0 { "acme" } else { "globex" }).expect("tenant");
    AuditEvent::at(
        EventId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
        t0 + time::Duration::seconds(i64::try_from(n).expect("small")),
        Actor::user(UserId::new(&format!("user{}", n % 7)).expect("user"), Some(tenant)),
        if n % 3 == 0 { Action::CrmDelete } else { Action::Login },
        Outcome::Success,
    )
    .with_target(Target::new("customer", &format!("c-{n}")).expect("target"))
}
