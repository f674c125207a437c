//! [`RecycleSet`]: the recycle-bin rules, in memory.

use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::time::SystemTime;

use super::{Deletion, RecycleError};

/// A record type the recycle bin can hold.
pub trait Recyclable {
    /// The record's id (stable across delete and restore).
    type Id: Clone + Ord + Debug + Display;
    /// A unique key (e.g. a normalised phone number). Live records never
    /// share one.
    type Key: Clone + Ord;

    /// The record's id.
    fn id(&self) -> Self::Id;

    /// The unique keys the record claims while it is live.
    fn unique_keys(&self) -> Vec<Self::Key>;
}

/// A record in the bin and how it got there.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Binned<T> {
    /// The record as it was when deleted.
    pub record: T,
    /// Who deleted it, when and why.
    pub deletion: Deletion,
}

impl<T> Binned<T> {
    /// A binned record as a store reads it back.
    pub fn new(record: T, deletion: Deletion) -> Self {
        Self { record, deletion }
    }
}

/// Live and binned records of one scope (e.g. one tenant), with the
/// recycle-bin rules of the [module](super) enforced.
#[derive(Clone, Debug)]
pub struct RecycleSet<T: Recyclable> {
    live: BTreeMap<T::Id, T>,
    binned: BTreeMap<T::Id, Binned<T>>,
    keys: BTreeMap<T::Key, T::Id>,
}

impl<T: Recyclable> Default for RecycleSet<T> {
    fn default() -> Self {
        Self {
            live: BTreeMap::new(),
            binned: BTreeMap::new(),
            keys: BTreeMap::new(),
        }
    }
}

impl<T: Recyclable> RecycleSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A live record.
    pub fn get(&self, id: &T::Id) -> Option<&T> {
        self.live.get(id)
    }

    /// A binned record.
    pub fn get_binned(&self, id: &T::Id) -> Option<&Binned<T>> {
        self.binned.get(id)
    }

    /// Live records in id order.
    pub fn live(&self) -> impl Iterator<Item = &T> {
        self.live.values()
    }

    /// Binned records in id order.
    pub fn binned(&self) -> impl Iterator<Item = &Binned<T>> {
        self.binned.values()
    }

    /// How many records are live.
    pub fn live_len(&self) -> usize {
        self.live.len()
    }

    /// How many records are in the bin.
    pub fn binned_len(&self) -> usize {
        self.binned.len()
    }

    /// The live record holding `key`, if any.
    pub fn holder_of(&self, key: &T::Key) -> Option<&T::Id> {
        self.keys.get(key)
    }

    fn check_keys(&self, record: &T, except: Option<&T::Id>) -> Result<(), RecycleError> {
        for key in record.unique_keys() {
            if let Some(holder) = self.keys.get(&key)
                && Some(holder) != except
            {
                return Err(RecycleError::KeyTaken {
                    holder: holder.to_string(),
                });
            }
        }
        Ok(())
    }

    fn claim_keys(&mut self, record: &T) {
        let id = record.id();
        for key in record.unique_keys() {
            self.keys.insert(key, id.clone());
        }
    }

    fn release_keys(&mut self, record: &T) {
        for key in record.unique_keys() {
            self.keys.remove(&key);
        }
    }

    /// Adds a new live record. Refused if its id exists (live or binned)
    /// or a live record holds one of its keys.
    pub fn insert(&mut self, record: T) -> Result<(), RecycleError> {
        let id = record.id();
        if self.live.contains_key(&id) || self.binned.contains_key(&id) {
            return Err(RecycleError::IdTaken);
        }
        self.check_keys(&record, None)?;
        self.claim_keys(&record);
        self.live.insert(id, record);
        Ok(())
    }

    /// Replaces a live record (same id); returns the previous version.
    /// Refused if it is not live or a new key is held by another record.
    pub fn update(&mut self, record: T) -> Result<T, RecycleError> {
        let id = record.id();
        if !self.live.contains_key(&id) {
            return Err(if self.binned.contains_key(&id) {
                RecycleError::AlreadyDeleted
            } else {
                RecycleError::NotFound
            });
        }
        self.check_keys(&record, Some(&id))?;
        let Some(old) = self.live.remove(&id) else {
            // Checked above: the id is live.
            return Err(RecycleError::NotFound);
        };
        self.release_keys(&old);
        self.claim_keys(&record);
        self.live.insert(id, record);
        Ok(old)
    }

    /// Moves a live record to the bin.
    pub fn delete(&mut self, id: &T::Id, deletion: Deletion) -> Result<&Binned<T>, RecycleError> {
        if self.binned.contains_key(id) {
            return Err(RecycleError::AlreadyDeleted);
        }
        let record = self.live.remove(id).ok_or(RecycleError::NotFound)?;
        self.release_keys(&record);
        let binned = self
            .binned
            .entry(id.clone())
            .or_insert(Binned { record, deletion });
        Ok(binned)
    }

    /// Brings a binned record back, unchanged. Refused with
    /// [`RecycleError::KeyTaken`] if a live record now holds one of its
    /// keys (the record stays in the bin).
    pub fn restore(&mut self, id: &T::Id) -> Result<&T, RecycleError> {
        let Some(binned) = self.binned.get(id) else {
            return Err(if self.live.contains_key(id) {
                RecycleError::NotDeleted
            } else {
                RecycleError::NotFound
            });
        };
        self.check_keys(&binned.record, None)?;
        let Some(binned) = self.binned.remove(id) else {
            return Err(RecycleError::NotFound);
        };
        self.claim_keys(&binned.record);
        Ok(self.live.entry(id.clone()).or_insert(binned.record))
    }

    /// Removes one binned record for good.
    pub fn purge(&mut self, id: &T::Id) -> Result<Binned<T>, RecycleError> {
        match self.binned.remove(id) {
            Some(b) => Ok(b),
            None if self.live.contains_key(id) => Err(RecycleError::NotDeleted),
            None => Err(RecycleError::NotFound),
        }
    }

    /// Empties the bin; returns how many records were purged.
    pub fn purge_all(&mut self) -> usize {
        let n = self.binned.len();
        self.binned.clear();
        n
    }

    /// Purges binned records deleted strictly before `cutoff` (see
    /// [`Retention::cutoff`](super::Retention::cutoff)); returns how many.
    pub fn purge_older_than(&mut self, cutoff: SystemTime) -> usize {
        let before = self.binned.len();
        self.binned.retain(|_, b| b.deletion.at >= cutoff);
        before - self.binned.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::ids::UserId;
    use crate::recycle::{DeleteReason, Retention};

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Rec {
        id: u32,
        key: u8,
    }

    impl Recyclable for Rec {
        type Id = u32;
        type Key = u8;
        fn id(&self) -> u32 {
            self.id
        }
        fn unique_keys(&self) -> Vec<u8> {
            vec![self.key]
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn del(at: u64) -> Deletion {
        Deletion::new(
            UserId::new("alice").unwrap(),
            t(at),
            DeleteReason::new("test").unwrap(),
        )
    }

    #[test]
    fn req_7_2_restore_brings_back_the_same_record_with_who_when_why() {
        let mut set = RecycleSet::new();
        set.insert(Rec { id: 1, key: 7 }).unwrap();
        let binned = set.delete(&1, del(5)).unwrap();
        assert_eq!(binned.deletion.by.as_str(), "alice");
        assert_eq!(binned.deletion.reason.as_str(), "test");
        assert!(set.get(&1).is_none());
        assert_eq!(set.restore(&1).unwrap(), &Rec { id: 1, key: 7 });
        assert_eq!(set.restore(&1), Err(RecycleError::NotDeleted));
    }

    #[test]
    fn req_7_2_restore_conflicts_when_key_is_taken() {
        let mut set = RecycleSet::new();
        set.insert(Rec { id: 1, key: 7 }).unwrap();
        set.delete(&1, del(0)).unwrap();
        set.insert(Rec { id: 2, key: 7 }).unwrap();
        assert_eq!(
            set.restore(&1),
            Err(RecycleError::KeyTaken { holder: "2".into() })
        );
        assert!(set.get_binned(&1).is_some(), "stays in the bin");
        assert_eq!(set.holder_of(&7), Some(&2));
    }

    #[test]
    fn req_7_purge_older_than_retention() {
        let mut set = RecycleSet::new();
        for id in 0..4 {
            set.insert(Rec { id, key: id as u8 }).unwrap();
            set.delete(&id, del(u64::from(id) * 86_400 * 20)).unwrap();
        }
        let now = t(86_400 * 61);
        let cutoff = Retention::default().cutoff(now).unwrap();
        assert_eq!(set.purge_older_than(cutoff), 2);
        assert_eq!(set.binned_len(), 2);
        assert_eq!(set.purge(&0), Err(RecycleError::NotFound));
        assert_eq!(set.purge_all(), 2);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32, u8),
        Update(u32, u8),
        Delete(u32, u64),
        Restore(u32),
        Purge(u32),
        PurgeAll,
        PurgeOlder(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = 0u32..8;
        let key = 0u8..5;
        prop_oneof![
            (id.clone(), key.clone()).prop_map(|(i, k)| Op::Insert(i, k)),
            (id.clone(), key).prop_map(|(i, k)| Op::Update(i, k)),
            (id.clone(), 0u64..100).prop_map(|(i, at)| Op::Delete(i, at)),
            id.clone().prop_map(Op::Restore),
            id.prop_map(Op::Purge),
            Just(Op::PurgeAll),
            (0u64..100).prop_map(Op::PurgeOlder),
        ]
    }

    /// The simple model: a list of (record, deleted-at) entries.
    #[derive(Default)]
    struct Model {
        rows: Vec<(Rec, Option<u64>)>,
    }

    impl Model {
        fn find(&self, id: u32) -> Option<usize> {
            self.rows.iter().position(|(r, _)| r.id == id)
        }
        fn key_live_elsewhere(&self, key: u8, id: u32) -> bool {
            self.rows
                .iter()
                .any(|(r, d)| d.is_none() && r.key == key && r.id != id)
        }
        fn apply(&mut self, op: &Op) -> bool {
            match *op {
                Op::Insert(id, key) => {
                    if self.find(id).is_some() || self.key_live_elsewhere(key, id) {
                        return false;
                    }
                    self.rows.push((Rec { id, key }, None));
                    true
                }
                Op::Update(id, key) => match self.find(id) {
                    Some(i) if self.rows[i].1.is_none() && !self.key_live_elsewhere(key, id) => {
                        self.rows[i].0.key = key;
                        true
                    }
                    _ => false,
                },
                Op::Delete(id, at) => match self.find(id) {
                    Some(i) if self.rows[i].1.is_none() => {
                        self.rows[i].1 = Some(at);
                        true
                    }
                    _ => false,
                },
                Op::Restore(id) => match self.find(id) {
                    Some(i)
                        if self.rows[i].1.is_some()
                            && !self.key_live_elsewhere(self.rows[i].0.key, id) =>
                    {
                        self.rows[i].1 = None;
                        true
                    }
                    _ => false,
                },
                Op::Purge(id) => match self.find(id) {
                    Some(i) if self.rows[i].1.is_some() => {
                        self.rows.remove(i);
                        true
                    }
                    _ => false,
                },
                Op::PurgeAll => {
                    self.rows.retain(|(_, d)| d.is_none());
                    true
                }
                Op::PurgeOlder(cutoff) => {
                    self.rows.retain(|(_, d)| d.is_none_or(|at| at >= cutoff));
                    true
                }
            }
        }
    }

    fn apply(set: &mut RecycleSet<Rec>, op: &Op) -> bool {
        match *op {
            Op::Insert(id, key) => set.insert(Rec { id, key }).is_ok(),
            Op::Update(id, key) => set.update(Rec { id, key }).is_ok(),
            Op::Delete(id, at) => set.delete(&id, del(at)).is_ok(),
            Op::Restore(id) => set.restore(&id).is_ok(),
            Op::Purge(id) => set.purge(&id).is_ok(),
            Op::PurgeAll => {
                set.purge_all();
                true
            }
            Op::PurgeOlder(c) => {
                set.purge_older_than(t(c));
                true
            }
        }
    }

    proptest! {
        /// Requirement 7: random delete/restore/purge sequences agree with
        /// a simple list model, and live records never share a key.
        #[test]
        fn req_7_recycle_bin_agrees_with_model(ops in prop::collection::vec(op(), 0..60)) {
            let mut set = RecycleSet::new();
            let mut model = Model::default();
            for op in &ops {
                let ok = apply(&mut set, op);
                prop_assert_eq!(ok, model.apply(op), "{:?}", op);
                let mut live: Vec<Rec> = set.live().cloned().collect();
                let mut model_live: Vec<Rec> = model.rows.iter()
                    .filter(|(_, d)| d.is_none()).map(|(r, _)| r.clone()).collect();
                live.sort_by_key(|r| r.id);
                model_live.sort_by_key(|r| r.id);
                prop_assert_eq!(&live, &model_live);
                let binned: Vec<(u32, u8, SystemTime)> = set.binned()
                    .map(|b| (b.record.id, b.record.key, b.deletion.at)).collect();
                let mut model_binned: Vec<(u32, u8, SystemTime)> = model.rows.iter()
                    .filter_map(|(r, d)| d.map(|at| (r.id, r.key, t(at)))).collect();
                model_binned.sort_by_key(|b| b.0);
                prop_assert_eq!(binned, model_binned);
                let mut keys: Vec<u8> = live.iter().map(|r| r.key).collect();
                keys.sort_unstable();
                keys.dedup();
                prop_assert_eq!(keys.len(), live.len());
                for r in &live {
                    prop_assert_eq!(set.holder_of(&r.key), Some(&r.id));
                }
            }
        }
    }
}
