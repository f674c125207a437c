//! Longest-prefix match over many IPv4 and IPv6 networks.
//!
//! [`PrefixTable`] flattens the (possibly nested) networks into sorted,
//! disjoint address ranges, each naming the most specific network that
//! covers it (its slot), so that a [`PrefixTable::longest`] lookup touches
//! as few cache lines (and memory pages) as possible:
//!
//! - **Large IPv4 tables** (more than 32,768 ranges) use a direct table on
//!   the top 16 to 20 address bits (about one bucket per range, at most
//!   8 MiB). A bucket gives the first range starting in it and the network
//!   holding its first address; range starts are kept as 16-bit offsets
//!   beside the slot (8 bytes a range), so the one or two ranges of a
//!   bucket share one cache line, and a branch-free binary search over
//!   them picks the range. A bucket in which no range starts (or a key
//!   before its first start) is answered from the bucket alone: one
//!   memory read; otherwise two dependent reads.
//! - **IPv6 and small IPv4 tables** use a bucket index sized to the table
//!   (about one bucket per range, at most 2^20 buckets) over the span of
//!   the range starts, then the same search over the few full-width starts
//!   of the bucket (IPv6 starts as two `u64` halves: 24 bytes a range).
//!   Here too a bucket inside one range is answered from the index alone.
//!   Tables of a few ranges skip the index.
//!
//! A range holds no value: the lookup returns a reference to the value
//! stored once per network, computed from the slot without reading it.
//!
//! Where the time goes (1,000,000 mixed prefixes, about 46 MB, on a 2-core
//! KVM guest with 4 KiB pages): nearly all of a lookup is its dependent
//! reads, a cache and TLB miss each (a probe read alone costs about 2 ns).
//! Independent lookups overlap in the CPU only as far as its reorder
//! window reaches, so a lookup of few instructions is worth more than a
//! smaller first level. Measured, interleaved on one machine: moving the
//! values out of the ranges (55.5 -> 39.9 bytes per prefix) and answering
//! range-free buckets from the index (46.2 bytes per prefix) took the
//! median from 206-211 ns to 170 ns at load 5.6-6.2. Measured and dropped
//! (same machine, same probes, interleaved runs): an L2-sized top table
//! (2^16 buckets) over per-line separators and 64-byte lines of ranges
//! (three dependent reads: slower, although the first two mostly hit the
//! cache); fixed-length branch-free bucket searches, and conditional moves
//! in the search below (more instructions, no gain); 2^18 IPv4 buckets
//! (longer bucket searches: slower); 2^21 (no gain for 4 MB more); one
//! `u128` table for both families (no family branch, but 77 bytes per
//! prefix and slower).
//!
//! Every network also records its enclosing network, so
//! [`PrefixTable::matches`] can walk from the most specific match outwards
//! (for example to skip rules that do not apply to a channel).
//!
//! Memory: a network adds at most two ranges. A range costs 8 bytes (direct
//! or small IPv4) or 24 (IPv6), plus at most 8 bytes of index per bucket
//! (about one bucket per range); each network also keeps its value and a
//! 4-byte parent link.

use std::net::IpAddr;

use super::net::Cidr;

/// Slot value for "no network covers this range".
const NONE: u32 = u32::MAX;
/// Up to this many ranges a table is searched without an index.
const SMALL: usize = 32;
/// At most `2^MAX_BUCKET_BITS` buckets (4 MiB of index).
const MAX_BUCKET_BITS: u32 = 20;
/// IPv4 tables with more ranges than this use the direct `/16` table.
const DIR16_MIN: usize = 32_768;

/// An address family's integer key.
trait Key: Copy + Ord {
    const ZERO: Self;
    fn last_of(start: Self, len: u8) -> Self;
    fn succ(self) -> Option<Self>;
    /// `(self - base) >> shift` as an index (`self >= base`), saturating.
    fn bucket(self, base: Self, shift: u32) -> usize;
    /// `self >> shift` as a bucket number. For `u128` with `shift >= 64`
    /// it reads only the high half of the key, so a lookup can pick its
    /// bucket (and start loading it) before the low half is known.
    fn shr(self, shift: u32) -> u128;
    /// `self` with the low `shift` bits cleared.
    fn align(self, shift: u32) -> Self;
    /// `base + (b << shift)`, saturating.
    fn bucket_start(base: Self, b: usize, shift: u32) -> Self;
    /// Bits needed to hold `hi - lo` (`hi >= lo`).
    fn span_bits(lo: Self, hi: Self) -> u32;
}

macro_rules! impl_key {
    ($t:ty) => {
        impl Key for $t {
            const ZERO: Self = 0;
            fn last_of(start: Self, len: u8) -> Self {
                match len {
                    0 => Self::MAX,
                    l => start | Self::MAX.checked_shr(u32::from(l)).unwrap_or(0),
                }
            }
            fn succ(self) -> Option<Self> {
                self.checked_add(1)
            }
            #[inline]
            fn bucket(self, base: Self, shift: u32) -> usize {
                let off = self.wrapping_sub(base).checked_shr(shift).unwrap_or(0);
                usize::try_from(off).unwrap_or(usize::MAX)
            }
            #[inline]
            fn shr(self, shift: u32) -> u128 {
                if Self::BITS == 128 && shift >= 64 {
                    // A no-op branch for `u32`.
                    let hi = (u128::from(self) >> 64) as u64;
                    u128::from(hi >> (shift - 64))
                } else {
                    u128::from(self).checked_shr(shift).unwrap_or(0)
                }
            }
            fn align(self, shift: u32) -> Self {
                self & Self::MAX.checked_shl(shift).unwrap_or(0)
            }
            fn bucket_start(base: Self, b: usize, shift: u32) -> Self {
                let b = Self::try_from(b).unwrap_or(Self::MAX);
                base.saturating_add(b.checked_shl(shift).unwrap_or(0))
            }
            fn span_bits(lo: Self, hi: Self) -> u32 {
                Self::BITS - hi.wrapping_sub(lo).leading_zeros()
            }
        }
    };
}
impl_key!(u32);
impl_key!(u128);

/// An IPv6 key as two 64-bit halves: 8-byte aligned, so a range (key and
/// slot) takes 24 bytes rather than the 32 a 16-aligned `u128` needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wide {
    hi: u64,
    lo: u64,
}

impl Wide {
    #[inline]
    fn get(self) -> u128 {
        u128::from(self.hi) << 64 | u128::from(self.lo)
    }
}

impl From<u128> for Wide {
    #[inline]
    fn from(v: u128) -> Self {
        Self {
            hi: (v >> 64) as u64,
            lo: v as u64,
        }
    }
}

impl PartialOrd for Wide {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }

    #[inline]
    fn le(&self, other: &Self) -> bool {
        self.get() <= other.get()
    }
}

impl Ord for Wide {
    /// Numeric order, compared as one `u128` (branch-free).
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.get().cmp(&other.get())
    }
}

impl Key for Wide {
    const ZERO: Self = Self { hi: 0, lo: 0 };
    fn last_of(start: Self, len: u8) -> Self {
        u128::last_of(start.get(), len).into()
    }
    fn succ(self) -> Option<Self> {
        self.get().succ().map(Self::from)
    }
    #[inline]
    fn bucket(self, base: Self, shift: u32) -> usize {
        self.get().bucket(base.get(), shift)
    }
    #[inline]
    fn shr(self, shift: u32) -> u128 {
        if shift >= 64 {
            u128::from(self.hi >> (shift - 64))
        } else {
            self.get() >> shift
        }
    }
    fn align(self, shift: u32) -> Self {
        self.get().align(shift).into()
    }
    fn bucket_start(base: Self, b: usize, shift: u32) -> Self {
        u128::bucket_start(base.get(), b, shift).into()
    }
    fn span_bits(lo: Self, hi: Self) -> u32 {
        u128::span_bits(lo.get(), hi.get())
    }
}

/// One range of the lookup structure: its start (full or low bits) and
/// the network covering it (or [`NONE`]). The network's value stays in the
/// table's entries: a lookup returns a reference to it without reading
/// it, so the ranges stay small (8 bytes for IPv4, 24 for IPv6) and more
/// of them stay in the caches.
#[derive(Clone, Copy, Debug)]
struct Slot<K> {
    key: K,
    slot: u32,
}

/// Branch-free "number of ranges whose start is `<= key`" in a sorted slice.
#[inline]
fn count_le<K: Copy + Ord>(s: &[Slot<K>], key: K) -> usize {
    let mut base = 0usize;
    let mut size = s.len();
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        // `mid < s.len()` always; `get` keeps this free of panics.
        if s.get(mid).is_some_and(|r| r.key <= key) {
            base = mid;
        }
        size -= half;
    }
    base + usize::from(s.get(base).is_some_and(|r| r.key <= key))
}

/// Sorted disjoint ranges as the build produces them: (start, slot).
struct RangeList<K> {
    ranges: Vec<(K, u32)>,
}

impl<K: Key> RangeList<K> {
    /// Builds from networks sorted by (start, len ascending, tie order);
    /// `items` are (start, len, entry) and `parents` receives each entry's
    /// enclosing entry.
    fn build(items: &[(K, u8, u32)], parents: &mut [u32]) -> Self {
        let mut out = Self {
            ranges: Vec::with_capacity(items.len().saturating_mul(2).saturating_add(1)),
        };
        out.ranges.push((K::ZERO, NONE));
        let mut stack: Vec<(K, u32)> = Vec::new();
        for &(start, len, entry) in items {
            out.close(&mut stack, Some(start));
            if let Some(p) = parents.get_mut(entry as usize) {
                *p = stack.last().map_or(NONE, |&(_, e)| e);
            }
            out.emit(start, entry);
            stack.push((K::last_of(start, len), entry));
        }
        out.close(&mut stack, None);
        out
    }

    /// Pops every open network that ends before `until` (all if `None`).
    fn close(&mut self, stack: &mut Vec<(K, u32)>, until: Option<K>) {
        while let Some(&(last, _)) = stack.last() {
            if until.is_some_and(|u| last >= u) {
                break;
            }
            stack.pop();
            if let Some(next) = last.succ() {
                self.emit(next, stack.last().map_or(NONE, |&(_, e)| e));
            }
        }
    }

    /// Starts a range at `at` (>= every earlier start) holding `slot`.
    fn emit(&mut self, at: K, slot: u32) {
        let n = self.ranges.len();
        let prev = n
            .checked_sub(2)
            .and_then(|p| self.ranges.get(p))
            .map(|r| r.1);
        match self.ranges.last_mut() {
            Some(last) if last.0 == at => {
                last.1 = slot;
                if prev == Some(slot) {
                    self.ranges.pop();
                }
            }
            Some(last) if last.1 == slot => {}
            _ => self.ranges.push((at, slot)),
        }
    }
}

/// How a lookup finds the few ranges to search.
#[derive(Clone, Debug)]
enum Index<K> {
    /// Search every range (small tables).
    None,
    /// Bucket `b` holds the keys `base + (b << shift)` onwards (`base` is
    /// a multiple of `2^shift`); `first[b].first` is the range holding the
    /// first key of bucket `b` and `first[b].cover` that range's network;
    /// the last element is the last range.
    Span {
        base: K,
        shift: u32,
        first: Vec<Bucket>,
    },
}

/// Sorted disjoint ranges of one family with full-width starts.
#[derive(Clone, Debug)]
struct Ranges<K> {
    /// The ranges; `ranges[0].key` is zero.
    ranges: Vec<Slot<K>>,
    index: Index<K>,
}

impl<K: Key> Ranges<K> {
    fn new(list: RangeList<K>) -> Self {
        let ranges = list
            .ranges
            .into_iter()
            .map(|(key, slot)| Slot { key, slot })
            .collect();
        let mut out = Self {
            ranges,
            index: Index::None,
        };
        out.index();
        out
    }

    /// Builds the bucket index (about one range per bucket).
    fn index(&mut self) {
        let n = self.ranges.len();
        let (Some(lo), Some(hi)) = (self.ranges.get(1), self.ranges.last()) else {
            return;
        };
        if n <= SMALL {
            return;
        }
        let (lo, hi) = (lo.key, hi.key);
        let want = (usize::BITS - 1 - n.leading_zeros()).min(MAX_BUCKET_BITS);
        let shift = K::span_bits(lo, hi).saturating_sub(want);
        // Buckets start on multiples of `2^shift`, so a key's bucket is
        // `key >> shift` minus the base's (see `Key::shr`).
        let lo = lo.align(shift);
        let buckets = hi.bucket(lo, shift).saturating_add(1);
        let mut first = Vec::with_capacity(buckets.saturating_add(1));
        let mut i = 0usize;
        for b in 0..buckets {
            let at = K::bucket_start(lo, b, shift);
            while self.ranges.get(i + 1).is_some_and(|r| r.key <= at) {
                i += 1;
            }
            first.push(self.bucket(i));
        }
        first.push(self.bucket(n - 1));
        self.index = Index::Span {
            base: lo,
            shift,
            first,
        };
    }

    fn bucket(&self, i: usize) -> Bucket {
        Bucket {
            first: u32::try_from(i).unwrap_or(u32::MAX),
            cover: self.ranges.get(i).map_or(NONE, |r| r.slot),
        }
    }

    /// The network holding `key` ([`NONE`] if none).
    #[inline]
    fn find(&self, key: K) -> u32 {
        let (s, cover) = match &self.index {
            Index::None => (self.ranges.as_slice(), NONE),
            Index::Span { base, shift, first } => {
                let (q, qb) = (key.shr(*shift), base.shr(*shift));
                if q < qb {
                    return self.ranges.first().map_or(NONE, |r| r.slot);
                }
                let b = usize::try_from(q - qb)
                    .unwrap_or(usize::MAX)
                    .min(first.len().saturating_sub(2));
                let (Some(&Bucket { first: lo, cover }), Some(&Bucket { first: hi, .. })) =
                    (first.get(b), first.get(b + 1))
                else {
                    return NONE;
                };
                // The bucket's first key is in range `lo` (`cover`); only
                // the ranges after it can start at or before `key`. A
                // bucket inside one range reads no range at all.
                let s = self.ranges.get(lo as usize + 1..=hi as usize);
                (s.unwrap_or_default(), cover)
            }
        };
        match count_le(s, key).checked_sub(1) {
            None => cover,
            Some(i) => s.get(i).map_or(NONE, |r| r.slot),
        }
    }

    fn heap_bytes(&self) -> usize {
        let index = match &self.index {
            Index::None => 0,
            Index::Span { first, .. } => first.capacity() * size_of::<Bucket>(),
        };
        self.ranges.capacity() * size_of::<Slot<K>>() + index
    }
}

/// Large IPv4 tables: a direct table on the top `bits` (16..=20) bits.
#[derive(Clone, Debug)]
struct Direct {
    /// Address bits below the direct index (12..=16).
    low: u32,
    /// Bucket `b` (`2^bits + 1` entries; the last is the number of ranges).
    top: Vec<Bucket>,
    /// The ranges, keyed by the low `low` bits of their start (the ranges
    /// of one bucket are adjacent).
    ranges: Vec<Slot<u16>>,
}

/// One bucket of the direct IPv4 table.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// The first range starting at or after the bucket's first address.
    first: u32,
    /// The network holding the bucket's first address ([`NONE`] if none):
    /// the answer when no range starts in the bucket at or before the key,
    /// found without reading the ranges.
    cover: u32,
}

impl Direct {
    fn new(list: RangeList<u32>) -> Self {
        let n = list.ranges.len();
        let bits = (usize::BITS - 1 - n.leading_zeros()).clamp(16, MAX_BUCKET_BITS);
        let low = 32 - bits;
        let mask = (1u32 << low) - 1;
        let mut top = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0usize;
        for b in 0u64..=(1 << bits) {
            let at = b << low;
            while list.ranges.get(i).is_some_and(|r| u64::from(r.0) < at) {
                i += 1;
            }
            // Range 0 starts at 0, so `i >= 1` for every bucket but the
            // first; the first bucket's first address is range 0's.
            let cover = match list.ranges.get(i) {
                Some(r) if u64::from(r.0) == at => r.1,
                _ => i
                    .checked_sub(1)
                    .and_then(|p| list.ranges.get(p))
                    .map_or(NONE, |r| r.1),
            };
            top.push(Bucket {
                first: u32::try_from(i).unwrap_or(u32::MAX),
                cover,
            });
        }
        let ranges = list
            .ranges
            .into_iter()
            .map(|(start, slot)| Slot {
                key: u16::try_from(start & mask).unwrap_or(u16::MAX),
                slot,
            })
            .collect();
        Self { low, top, ranges }
    }

    /// The network holding `key` ([`NONE`] if none).
    #[inline]
    fn find(&self, key: u32) -> u32 {
        let b = (key >> self.low) as usize;
        let (Some(&Bucket { first: a, cover }), Some(&Bucket { first: z, .. })) =
            (self.top.get(b), self.top.get(b + 1))
        else {
            return NONE;
        };
        let k = (key & ((1u32 << self.low) - 1)) as u16;
        // An empty bucket reads no range; a key before the bucket's first
        // start is in the network holding the bucket's first address.
        let s = self.ranges.get(a as usize..z as usize).unwrap_or_default();
        match count_le(s, k).checked_sub(1) {
            None => cover,
            Some(i) => s.get(i).map_or(NONE, |r| r.slot),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.top.capacity() * size_of::<Bucket>() + self.ranges.capacity() * size_of::<Slot<u16>>()
    }
}

/// The IPv4 side: direct table when large, indexed ranges otherwise.
#[derive(Clone, Debug)]
enum V4 {
    Ranges(Ranges<u32>),
    Dir16(Direct),
}

impl V4 {
    /// The covering network's slot ([`NONE`] if none).
    #[inline]
    fn get(&self, key: u32) -> u32 {
        match self {
            Self::Ranges(r) => r.find(key),
            Self::Dir16(d) => d.find(key),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::Ranges(r) => r.heap_bytes(),
            Self::Dir16(d) => d.heap_bytes(),
        }
    }
}

#[derive(Clone, Debug)]
struct Entry<V> {
    value: V,
    parent: u32,
}

/// An immutable longest-prefix-match table from networks to values.
///
/// Build it once with [`PrefixTable::build`], then share it (it is
/// `Send + Sync` when `V` is). IPv4-mapped IPv6 lookups are judged as IPv4.
/// Each value is stored once; a lookup returns a reference to it.
#[derive(Clone, Debug)]
pub struct PrefixTable<V> {
    v4: V4,
    v6: Ranges<Wide>,
    entries: Vec<Entry<V>>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self::build([])
    }
}

impl<V> PrefixTable<V> {
    /// Builds a table. When the same network appears more than once, the
    /// earlier item is met first by [`PrefixTable::matches`].
    pub fn build(items: impl IntoIterator<Item = (Cidr, V)>) -> Self {
        Self::build_with(items, DIR16_MIN)
    }

    /// [`PrefixTable::build`], using the direct `/16` table for IPv4 when
    /// there are more than `dir16_min` IPv4 ranges.
    fn build_with(items: impl IntoIterator<Item = (Cidr, V)>, dir16_min: usize) -> Self {
        let mut entries = Vec::new();
        let mut v4: Vec<(u32, u8, u32)> = Vec::new();
        let mut v6: Vec<(Wide, u8, u32)> = Vec::new();
        for (net, value) in items {
            let Ok(id) = u32::try_from(entries.len()) else {
                break;
            };
            if id == NONE {
                break; // more than 4 billion networks: the rest do not fit
            }
            entries.push(Entry {
                value,
                parent: NONE,
            });
            match net.addr() {
                IpAddr::V4(a) => v4.push((u32::from(a), net.prefix_len(), id)),
                IpAddr::V6(a) => v6.push((u128::from(a).into(), net.prefix_len(), id)),
            }
        }
        // Outer networks first; for equal networks the earliest item last,
        // so it is the innermost and met first.
        v4.sort_unstable_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
        v6.sort_unstable_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
        let mut parents = vec![NONE; entries.len()];
        let l4 = RangeList::build(&v4, &mut parents);
        let l6 = RangeList::build(&v6, &mut parents);
        drop((v4, v6));
        for (e, p) in entries.iter_mut().zip(parents) {
            e.parent = p;
        }
        entries.shrink_to_fit();
        let v4 = if l4.ranges.len() > dir16_min {
            V4::Dir16(Direct::new(l4))
        } else {
            V4::Ranges(Ranges::new(l4))
        };
        let v6 = Ranges::new(l6);
        Self { v4, v6, entries }
    }
}

impl<V> PrefixTable<V> {
    /// Number of networks in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if the table holds no network.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<V> PrefixTable<V> {
    /// The value of the most specific network holding `ip`.
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<&V> {
        self.get(ip).1
    }

    /// The most specific network's slot and value.
    #[inline]
    fn get(&self, ip: IpAddr) -> (u32, Option<&V>) {
        let slot = match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a).into()),
        };
        // The address of the value, not a read of it.
        (slot, self.entries.get(slot as usize).map(|e| &e.value))
    }

    /// Every network holding `ip`, most specific first.
    #[inline]
    pub fn matches(&self, ip: IpAddr) -> Matches<'_, V> {
        let (slot, first) = self.get(ip);
        Matches {
            table: self,
            first,
            after: slot,
        }
    }

    /// Heap memory held by the table, in bytes (excluding what `V` owns).
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes()
            + self.v6.heap_bytes()
            + self.entries.capacity() * size_of::<Entry<V>>()
    }
}

/// Iterator over the values of every network holding an address, most
/// specific first; from [`PrefixTable::matches`].
#[derive(Debug)]
pub struct Matches<'a, V> {
    table: &'a PrefixTable<V>,
    /// The most specific value, read inline from the range.
    first: Option<&'a V>,
    /// The network whose enclosing network comes next.
    after: u32,
}

impl<'a, V> Iterator for Matches<'a, V> {
    type Item = &'a V;

    #[inline]
    fn next(&mut self) -> Option<&'a V> {
        if let Some(v) = self.first.take() {
            return Some(v);
        }
        let parent = self.table.entries.get(self.after as usize)?.parent;
        self.after = parent;
        let e = self.table.entries.get(parent as usize)?;
        Some(&e.value)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn net(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn req_2_1_longest_prefix_wins() {
        let t = PrefixTable::build([
            (net("10.0.0.0/8"), 1),
            (net("10.1.0.0/16"), 2),
            (net("10.1.2.3"), 3),
            (net("10.255.0.0/16"), 4),
            (net("2001:db8::/32"), 5),
            (net("0.0.0.0/0"), 6),
        ]);
        assert_eq!(t.longest(ip("10.1.2.3")), Some(&3));
        assert_eq!(t.longest(ip("10.1.2.4")), Some(&2));
        assert_eq!(t.longest(ip("10.2.0.0")), Some(&1));
        assert_eq!(t.longest(ip("10.255.255.255")), Some(&4));
        assert_eq!(t.longest(ip("11.0.0.0")), Some(&6));
        assert_eq!(t.longest(ip("255.255.255.255")), Some(&6));
        assert_eq!(t.longest(ip("::ffff:10.1.2.3")), Some(&3));
        assert_eq!(t.longest(ip("2001:db8::1")), Some(&5));
        assert_eq!(t.longest(ip("2001:db9::1")), None);
        assert_eq!(
            t.matches(ip("10.1.2.3")).copied().collect::<Vec<_>>(),
            [3, 2, 1, 6]
        );
        assert_eq!(
            t.matches(ip("10.255.1.1")).copied().collect::<Vec<_>>(),
            [4, 1, 6]
        );
    }

    #[test]
    fn req_2_1_duplicates_keep_insertion_order() {
        let t = PrefixTable::build([
            (net("10.0.0.0/8"), 'a'),
            (net("10.0.0.0/8"), 'b'),
            (net("10.0.0.0/24"), 'c'),
        ]);
        assert_eq!(
            t.matches(ip("10.0.0.1")).copied().collect::<String>(),
            "cab"
        );
        assert_eq!(t.matches(ip("10.0.1.1")).copied().collect::<String>(), "ab");
        let empty: PrefixTable<u8> = PrefixTable::build([]);
        assert_eq!(empty.longest(ip("1.1.1.1")), None);
        assert!(empty.is_empty());
    }

    #[test]
    fn req_2_1_direct_table_handles_bucket_edges() {
        let nets = [
            net("10.0.0.0/8"),
            net("10.1.255.255"),
            net("10.2.0.0/31"),
            net("0.0.0.0/0"),
            net("255.255.255.255"),
            net("11.0.0.0/16"),
        ];
        let t = PrefixTable::build_with(nets.iter().copied().enumerate().map(|(i, n)| (n, i)), 0);
        assert!(matches!(t.v4, V4::Dir16(_)));
        for (a, want) in [
            ("10.1.255.254", vec![0, 3]),
            ("10.1.255.255", vec![1, 0, 3]),
            ("10.2.0.0", vec![2, 0, 3]),
            ("10.2.0.1", vec![2, 0, 3]),
            ("10.2.0.2", vec![0, 3]),
            ("10.200.0.0", vec![0, 3]),
            ("11.0.255.255", vec![5, 3]),
            ("11.1.0.0", vec![3]),
            ("0.0.0.0", vec![3]),
            ("255.255.255.255", vec![4, 3]),
            ("255.255.255.254", vec![3]),
            ("2001:db8::1", vec![]),
        ] {
            let got: Vec<usize> = t.matches(ip(a)).copied().collect();
            assert_eq!(got, want, "{a}");
            assert_eq!(t.longest(ip(a)), want.first(), "{a}");
        }
        assert_eq!(naive(&nets, ip("10.2.0.1")), [2, 0, 3]);
    }

    /// Naive answer: every holding network, most specific first, earliest
    /// first on ties.
    fn naive(nets: &[Cidr], ip: IpAddr) -> Vec<usize> {
        let mut hits: Vec<(u8, usize)> = nets
            .iter()
            .enumerate()
            .filter(|(_, n)| n.contains(ip))
            .map(|(i, n)| (n.prefix_len(), i))
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.into_iter().map(|(_, i)| i).collect()
    }

    #[test]
    fn req_2_1_indexed_table_agrees_with_naive_scan() {
        // Enough networks that the bucket index is built (well past SMALL).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut nets = Vec::new();
        for _ in 0..1500 {
            let r = next();
            let len = (r % 33) as u8;
            nets.push(Cidr::masked(IpAddr::V4((next() as u32).into()), len.max(8)));
            let a = (u128::from(next()) << 64 | u128::from(next())) >> 4 | (2u128 << 124);
            nets.push(Cidr::masked(IpAddr::V6(a.into()), 16 + (r % 113) as u8));
        }
        let table = PrefixTable::build(nets.iter().copied().enumerate().map(|(i, n)| (n, i)));
        let direct =
            PrefixTable::build_with(nets.iter().copied().enumerate().map(|(i, n)| (n, i)), 0);
        assert!(matches!(direct.v4, V4::Dir16(_)));
        assert!(matches!(table.v4, V4::Ranges(_)));
        for k in 0..3000 {
            let ip = match k % 3 {
                0 => nets[(next() as usize) % nets.len()].addr(),
                1 => IpAddr::V4((next() as u32).into()),
                _ => IpAddr::V6(
                    ((u128::from(next()) << 64 | u128::from(next())) >> 4 | (2u128 << 124)).into(),
                ),
            };
            let got: Vec<usize> = table.matches(ip).copied().collect();
            assert_eq!(got, naive(&nets, ip), "ip {ip}");
            let got: Vec<usize> = direct.matches(ip).copied().collect();
            assert_eq!(got, naive(&nets, ip), "direct, ip {ip}");
            assert_eq!(direct.longest(ip), naive(&nets, ip).first(), "ip {ip}");
        }
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip = ip.parse().unwrap();
            assert_eq!(
                table.matches(ip).copied().collect::<Vec<_>>(),
                naive(&nets, ip)
            );
        }
    }

    /// The first and last address of `n`, and their neighbours.
    fn edges(n: &Cidr) -> Vec<IpAddr> {
        match n.addr() {
            IpAddr::V4(a) => {
                let first = u32::from(a);
                let last = u32::last_of(first, n.prefix_len());
                [first.wrapping_sub(1), first, last, last.wrapping_add(1)]
                    .map(|k| IpAddr::V4(k.into()))
                    .to_vec()
            }
            IpAddr::V6(a) => {
                let first = u128::from(a);
                let last = u128::last_of(first, n.prefix_len());
                [first.wrapping_sub(1), first, last, last.wrapping_add(1)]
                    .map(|k| IpAddr::V6(k.into()))
                    .to_vec()
            }
        }
    }

    #[test]
    fn req_2_1_edge_networks_agree_with_naive_scan() {
        let mut nets: Vec<Cidr> = [
            "0.0.0.0/0",
            "::/0",
            "::ffff:0:0/96",
            "255.255.255.255/32",
            "0.0.0.0/32",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
            "::/128",
            "::1/128",
            // adjacent halves and a host at their seam
            "10.0.0.0/25",
            "10.0.0.128/25",
            "10.0.0.127/32",
            "10.0.0.128/32",
            // a nested chain
            "172.16.0.0/12",
            "172.16.0.0/16",
            "172.16.0.0/24",
            "172.16.0.0/31",
            "172.16.0.1/32",
            "2001:db8::/32",
            "2001:db8::/64",
            "2001:db8::/127",
            "2001:db8::1/128",
            "2001:db8:0:1::/64",
            "2001:db9::/128",
            // straddling 64-bit halves of an IPv6 key
            "2400::ffff:ffff:ffff:ffff/128",
            "2400:0:0:1::/128",
            "2400::/63",
        ]
        .into_iter()
        .map(net)
        .collect();
        // Enough filler that IPv6 gets a bucket index and IPv4 a direct
        // table, with the edge networks falling on bucket boundaries.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..400 {
            let r = next();
            nets.push(Cidr::masked(
                IpAddr::V4((r as u32).into()),
                16 + (r >> 59) as u8,
            ));
            let a = (u128::from(next()) << 64 | u128::from(next())) >> 3 | (1u128 << 125);
            nets.push(Cidr::masked(IpAddr::V6(a.into()), 24 + (r % 105) as u8));
        }
        let table = PrefixTable::build(nets.iter().copied().enumerate().map(|(i, n)| (n, i)));
        let direct =
            PrefixTable::build_with(nets.iter().copied().enumerate().map(|(i, n)| (n, i)), 0);
        assert!(matches!(table.v6.index, Index::Span { .. }));
        assert!(matches!(direct.v4, V4::Dir16(_)));
        let mut probes: Vec<IpAddr> = nets.iter().flat_map(edges).collect();
        for k in 0..128 {
            let b = 1u128 << k;
            probes.extend([b - 1, b, b + 1, (1u128 << 125) | b].map(|a| IpAddr::V6(a.into())));
            if k < 32 {
                let b = 1u32 << k;
                probes.extend([b - 1, b, b + 1].map(|a| IpAddr::V4(a.into())));
            }
        }
        probes.extend(probes.clone().into_iter().filter_map(|ip| match ip {
            IpAddr::V4(a) => Some(IpAddr::V6(a.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        }));
        for ip in probes {
            let want = naive(&nets, ip);
            for t in [&table, &direct] {
                let got: Vec<usize> = t.matches(ip).copied().collect();
                assert_eq!(got, want, "ip {ip}");
                assert_eq!(t.longest(ip), want.first(), "ip {ip}");
            }
        }
    }

    fn arb_v4() -> impl Strategy<Value = Cidr> {
        // A small address space so that networks nest and collide often.
        (0u32..64, 0u8..=32).prop_map(|(hi, len)| {
            let a = std::net::Ipv4Addr::from((hi << 26) | (hi << 3));
            Cidr::masked(IpAddr::V4(a), len)
        })
    }

    fn arb_v6() -> impl Strategy<Value = Cidr> {
        (0u128..64, 0u8..=128).prop_map(|(hi, len)| {
            let a = std::net::Ipv6Addr::from((hi << 122) | (hi << 5));
            Cidr::masked(IpAddr::V6(a), len)
        })
    }

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u32..64, any::<u32>())
                .prop_map(|(hi, lo)| IpAddr::V4(((hi << 26) | (lo & 0xff)).into())),
            (0u128..64, any::<u8>())
                .prop_map(|(hi, lo)| IpAddr::V6(((hi << 122) | u128::from(lo)).into())),
            (0u32..64, any::<u8>()).prop_map(|(hi, lo)| {
                IpAddr::V6(std::net::Ipv4Addr::from((hi << 26) | u32::from(lo)).to_ipv6_mapped())
            }),
        ]
    }

    proptest! {
        #[test]
        fn req_2_1_table_agrees_with_naive_scan(
            nets in proptest::collection::vec(prop_oneof![arb_v4(), arb_v6()], 0..60),
            ips in proptest::collection::vec(arb_ip(), 1..40),
        ) {
            let table = PrefixTable::build(nets.iter().copied().enumerate().map(|(i, n)| (n, i)));
            let direct =
                PrefixTable::build_with(nets.iter().copied().enumerate().map(|(i, n)| (n, i)), 0);
            for ip in ips {
                // Naive: every holding network, most specific first, earliest first on ties.
                let mut naive: Vec<(u8, usize)> = nets.iter().enumerate()
                    .filter(|(_, n)| n.contains(ip))
                    .map(|(i, n)| (n.prefix_len(), i))
                    .collect();
                naive.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let naive: Vec<usize> = naive.into_iter().map(|(_, i)| i).collect();
                let got: Vec<usize> = table.matches(ip).copied().collect();
                prop_assert_eq!(&got, &naive, "ip {}", ip);
                prop_assert_eq!(table.longest(ip), naive.first(), "ip {}", ip);
                let got: Vec<usize> = direct.matches(ip).copied().collect();
                prop_assert_eq!(&got, &naive, "direct, ip {}", ip);
                prop_assert_eq!(direct.longest(ip), naive.first(), "direct, ip {}", ip);
            }
        }
    }
}
