//! Tamper tests (issue 4): edit, delete, swap and insert one event in the
//! middle of 100,000; each is detected at the right place.

mod common;

use okcc_audit::{
    AuditStore, ChainAnchor, CheckpointKey, CheckpointPolicy, MemoryAuditStore, StoredEvent, Tamper,
    VerifyOptions,
};

const N: u64 = 100_000;
const MID: usize = 50_000; // index of seq 50_001

async fn filled(store: MemoryAuditStore) -> MemoryAuditStore {
    let events: Vec<_> = (0..N).map(common::event).collect();
    for chunk in events.chunks(10_000) {
        store.append(chunk.to_vec()).await.expect("append");
    }
    store
}

async fn verify(store: &MemoryAuditStore) -> Option<Tamper> {
    store.verify(&VerifyOptions::all()).await.expect("verify").tamper
}

#[tokio::test]
async fn req_5_1_intact_chain_verifies() {
    let store = filled(MemoryAuditStore::new()).await;
    let report = store.verify(&VerifyOptions::all()).await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.tamper);
    assert_eq!(report.checked, N);
    assert_eq!(report.last.seq, N);
}

#[tokio::test]
async fn req_5_1_detects_an_edited_event() {
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| {
        rows[MID].event.outcome = okcc_audit::Outcome::failure("edited").expect("text");
    });
    assert_eq!(verify(&store).await, Some(Tamper::Modified { seq: 50_001 }));
}

#[tokio::test]
async fn req_5_1_detects_an_edited_and_rehashed_event_at_the_link() {
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| {
        rows[MID].event.source = Some("198.51.100.1".parse().expect("ip"));
        rows[MID].hash = rows[MID].compute_hash();
    });
    assert_eq!(verify(&store).await, Some(Tamper::LinkBroken { seq: 50_002 }));
}

#[tokio::test]
async fn req_5_1_detects_a_deleted_event() {
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| {
        rows.remove(MID);
    });
    assert_eq!(
        verify(&store).await,
        Some(Tamper::Removed {
            first_seq: 50_001,
            last_seq: 50_001
        })
    );
}

#[tokio::test]
async fn req_5_1_detects_deleted_tail_events() {
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| rows.truncate(rows.len() - 3));
    assert_eq!(
        verify(&store).await,
        Some(Tamper::Truncated {
            last_seq: N - 3,
            head_seq: N
        })
    );
}

#[tokio::test]
async fn req_5_1_detects_two_swapped_events() {
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| rows.swap(MID, MID + 1));
    assert_eq!(verify(&store).await, Some(Tamper::Reordered { seq: 50_002 }));
}

#[tokio::test]
async fn req_5_1_detects_an_inserted_event() {
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| {
        // A forged copy of a real event, placed after seq 50_000.
        let mut forged = rows[10].clone();
        forged.event.id = okcc_audit::EventId::generate();
        rows.insert(MID, forged);
    });
    assert_eq!(verify(&store).await, Some(Tamper::Inserted { after_seq: 50_000 }));
}

#[tokio::test]
async fn req_5_1_detects_a_well_forged_insertion() {
    // The attacker links the forged event correctly after seq 50_000; the
    // genuine seq 50_001 then no longer follows it.
    let store = filled(MemoryAuditStore::new()).await;
    store.tamper_with_rows(|rows| {
        let prev = ChainAnchor::of(&rows[MID - 1]);
        let mut tail = okcc_audit::ChainTail::new(prev);
        let forged: StoredEvent = tail.link(common::event(999_999));
        rows.insert(MID, forged);
    });
    assert_eq!(verify(&store).await, Some(Tamper::Inserted { after_seq: 50_000 }));
}

#[tokio::test]
async fn req_10_5_keyed_checkpoints_catch_a_rebuilt_chain() {
    let key = CheckpointKey::new(&[42; 32]).expect("key");
    let store = filled(MemoryAuditStore::with_checkpoints(CheckpointPolicy::new(key.clone(), 1000))).await;
    // Edit event 50_001 and rebuild every hash after it, as an attacker
    // with database access but without the key can.
    store.tamper_with_rows(|rows| {
        rows[MID].event.outcome = okcc_audit::Outcome::Success;
        rows[MID].event.source = Some("203.0.113.5".parse().expect("ip"));
        let mut tail = okcc_audit::ChainTail::new(ChainAnchor::of(&rows[MID - 1]));
        for row in rows.iter_mut().skip(MID) {
            *row = tail.link(row.event.clone());
        }
    });
    // Without the key the rebuilt chain looks intact (only the head moved).
    let unkeyed = store.verify(&VerifyOptions::all()).await.expect("verify");
    assert_eq!(unkeyed.tamper, Some(Tamper::LinkBroken { seq: N }));
    let keyed = store.verify(&VerifyOptions::all().with_key(key)).await.expect("verify");
    assert_eq!(keyed.tamper, Some(Tamper::CheckpointMismatch { seq: 51_000 }));
    assert_eq!(keyed.last_checkpoint, Some(50_000));
}

#[tokio::test]
async fn req_10_5_forged_checkpoint_is_reported() {
    let key = CheckpointKey::new(&[42; 32]).expect("key");
    let store = filled(MemoryAuditStore::with_checkpoints(CheckpointPolicy::new(key.clone(), 1000))).await;
    let wrong = CheckpointKey::new(&[1; 32]).expect("key");
    store.tamper_with_checkpoints(|cps| {
        let c = cps[3];
        cps[3] = wrong.sign(ChainAnchor::new(c.seq, c.hash));
    });
    let report = store.verify(&VerifyOptions::all().with_key(key)).await.expect("verify");
    assert_eq!(report.tamper, Some(Tamper::BadCheckpoint { seq: 4000 }));
}
