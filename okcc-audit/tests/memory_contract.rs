//! The AuditStore conformance suite against the memory store.

async fn fresh() -> okcc_audit::MemoryAuditStore {
    okcc_audit::MemoryAuditStore::new()
}

okcc_audit::audit_store_contract!(fresh());
