//! Longest-prefix match over many IPv4 and IPv6 networks.
//!
//! [`PrefixTable`] flattens the (possibly nested) networks into sorted,
//! disjoint address ranges, each naming the most specific network that
//! covers it. A lookup reads a direct index (one `u32` per bucket of equal
//! address width, about one bucket per two ranges, so a bucket holds a few
//! ranges) and binary-searches the few ranges of its bucket; each range
//! keeps its start and its network side by side, so the search and the
//! answer share cache lines. Tables of a few ranges skip the index.
//! Every network also records its enclosing network, so a caller can walk
//! from the most specific match outwards (for example to skip rules that do
//! not apply to a channel).
//!
//! Memory: a network adds at most two ranges. An IPv4 range costs 8 bytes
//! (4-byte start, 4-byte slot) and an IPv6 range 32 bytes (16-byte start,
//! 4-byte slot, padding), plus at most 4 bytes of index per range and one
//! entry (the value and a 4-byte parent link) per network.

use std::net::IpAddr;

use super::net::Cidr;

/// Slot value for "no network covers this range".
const NONE: u32 = u32::MAX;
/// Up to this many ranges a table is searched without an index.
const SMALL: usize = 32;
/// At most `2^MAX_BUCKET_BITS` buckets (4 MiB of index).
const MAX_BUCKET_BITS: u32 = 20;

/// An address family's integer key.
trait Key: Copy + Ord {
    const ZERO: Self;
    fn last_of(start: Self, len: u8) -> Self;
    fn succ(self) -> Option<Self>;
    /// `(self - base) >> shift` as an index (`self >= base`), saturating.
    fn bucket(self, base: Self, shift: u32) -> usize;
    /// `base + (b << shift)`, saturating.
    fn bucket_start(base: Self, b: usize, shift: u32) -> Self;
    /// Bits needed to hold `hi - lo` (`hi >= lo`).
    fn span_bits(lo: Self, hi: Self) -> u32;
}

impl Key for u32 {
    const ZERO: Self = 0;
    fn last_of(start: Self, len: u8) -> Self {
        match len {
            0 => Self::MAX,
            l => start | Self::MAX.checked_shr(Self::from(l)).unwrap_or(0),
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
    fn bucket_start(base: Self, b: usize, shift: u32) -> Self {
        let b = Self::try_from(b).unwrap_or(Self::MAX);
        base.saturating_add(b.checked_shl(shift).unwrap_or(0))
    }
    fn span_bits(lo: Self, hi: Self) -> u32 {
        Self::BITS - hi.wrapping_sub(lo).leading_zeros()
    }
}

impl Key for u128 {
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
    fn bucket_start(base: Self, b: usize, shift: u32) -> Self {
        let b = Self::try_from(b).unwrap_or(Self::MAX);
        base.saturating_add(b.checked_shl(shift).unwrap_or(0))
    }
    fn span_bits(lo: Self, hi: Self) -> u32 {
        Self::BITS - hi.wrapping_sub(lo).leading_zeros()
    }
}

/// One range: its first address and the entry covering it (or [`NONE`]).
#[derive(Clone, Copy, Debug)]
struct Range<K> {
    start: K,
    slot: u32,
}

/// Sorted disjoint ranges of one family.
#[derive(Clone, Debug)]
struct Ranges<K> {
    /// The ranges; `ranges[0].start` is zero.
    ranges: Vec<Range<K>>,
    /// Start of the first indexed bucket (`ranges[1].start`).
    base: K,
    /// Bucket `b` holds the keys `base + (b << shift)` onwards.
    shift: u32,
    /// `first[b]` is the range holding the first key of bucket `b`; the
    /// last element is the last range. Empty for small tables.
    first: Vec<u32>,
}

impl<K: Key> Ranges<K> {
    fn empty() -> Self {
        Self {
            ranges: vec![Range {
                start: K::ZERO,
                slot: NONE,
            }],
            base: K::ZERO,
            shift: 0,
            first: Vec::new(),
        }
    }

    /// Builds from networks sorted by (start, len ascending, tie order);
    /// `items` are (start, len, entry) and `parents` receives each entry's
    /// enclosing entry.
    fn build(items: &[(K, u8, u32)], parents: &mut [u32]) -> Self {
        let mut out = Self::empty();
        out.ranges.reserve(items.len().saturating_mul(2));
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
        out.ranges.shrink_to_fit();
        out.index();
        out
    }

    /// Builds the bucket index (about two ranges per bucket).
    fn index(&mut self) {
        let n = self.ranges.len();
        let (Some(lo), Some(hi)) = (self.ranges.get(1), self.ranges.last()) else {
            return;
        };
        if n <= SMALL {
            return;
        }
        let (lo, hi) = (lo.start, hi.start);
        let want = (usize::BITS - 1 - (n / 2).leading_zeros()).min(MAX_BUCKET_BITS);
        let shift = K::span_bits(lo, hi).saturating_sub(want);
        let buckets = hi.bucket(lo, shift).saturating_add(1);
        let mut first = Vec::with_capacity(buckets.saturating_add(1));
        let mut i = 0usize;
        for b in 0..buckets {
            let at = K::bucket_start(lo, b, shift);
            while self.ranges.get(i + 1).is_some_and(|r| r.start <= at) {
                i += 1;
            }
            first.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        first.push(u32::try_from(n - 1).unwrap_or(u32::MAX));
        self.base = lo;
        self.shift = shift;
        self.first = first;
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
            .map(|r| r.slot);
        match self.ranges.last_mut() {
            Some(last) if last.start == at => {
                last.slot = slot;
                if prev == Some(slot) {
                    self.ranges.pop();
                }
            }
            Some(last) if last.slot == slot => {}
            _ => self.ranges.push(Range { start: at, slot }),
        }
    }

    #[inline]
    fn find(&self, key: K) -> u32 {
        let (lo, hi) = if self.first.is_empty() {
            (0, self.ranges.len())
        } else if key < self.base {
            return self.ranges.first().map_or(NONE, |r| r.slot);
        } else {
            let b = key
                .bucket(self.base, self.shift)
                .min(self.first.len().saturating_sub(2));
            match (self.first.get(b), self.first.get(b + 1)) {
                (Some(&lo), Some(&hi)) => (lo as usize, hi as usize + 1),
                _ => return NONE,
            }
        };
        let Some(rs) = self.ranges.get(lo..hi) else {
            return NONE;
        };
        let i = rs.partition_point(|r| r.start <= key).saturating_sub(1);
        rs.get(i).map_or(NONE, |r| r.slot)
    }

    fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * size_of::<Range<K>>() + self.first.capacity() * 4
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
#[derive(Clone, Debug)]
pub struct PrefixTable<V> {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    entries: Vec<Entry<V>>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        Self {
            v4: Ranges::empty(),
            v6: Ranges::empty(),
            entries: Vec::new(),
        }
    }
}

impl<V> PrefixTable<V> {
    /// Builds a table. When the same network appears more than once, the
    /// earlier item is met first by [`PrefixTable::matches`].
    pub fn build(items: impl IntoIterator<Item = (Cidr, V)>) -> Self {
        let mut entries = Vec::new();
        let mut v4: Vec<(u32, u8, u32)> = Vec::new();
        let mut v6: Vec<(u128, u8, u32)> = Vec::new();
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
                IpAddr::V6(a) => v6.push((u128::from(a), net.prefix_len(), id)),
            }
        }
        // Outer networks first; for equal networks the earliest item last,
        // so it is the innermost and met first.
        v4.sort_unstable_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
        v6.sort_unstable_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
        let mut parents = vec![NONE; entries.len()];
        let r4 = Ranges::build(&v4, &mut parents);
        let r6 = Ranges::build(&v6, &mut parents);
        for (e, p) in entries.iter_mut().zip(parents) {
            e.parent = p;
        }
        entries.shrink_to_fit();
        Self {
            v4: r4,
            v6: r6,
            entries,
        }
    }

    /// Number of networks in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if the table holds no network.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the most specific network holding `ip`.
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<&V> {
        self.matches(ip).next()
    }

    /// Every network holding `ip`, most specific first.
    #[inline]
    pub fn matches(&self, ip: IpAddr) -> Matches<'_, V> {
        let slot = match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        };
        Matches {
            table: self,
            next: slot,
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
    next: u32,
}

impl<'a, V> Iterator for Matches<'a, V> {
    type Item = &'a V;

    #[inline]
    fn next(&mut self) -> Option<&'a V> {
        let e = self.table.entries.get(self.next as usize)?;
        self.next = e.parent;
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
            for ip in ips {
                // Naive: every holding network, most specific first, earliest first on ties.
                let mut naive: Vec<(u8, usize)> = nets.iter().enumerate()
                    .filter(|(_, n)| n.contains(ip))
                    .map(|(i, n)| (n.prefix_len(), i))
                    .collect();
                naive.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let naive: Vec<usize> = naive.into_iter().map(|(_, i)| i).collect();
                let got: Vec<usize> = table.matches(ip).copied().collect();
                prop_assert_eq!(got, naive, "ip {}", ip);
            }
        }
    }
}
