//! Sorted, disjoint, inclusive interval sets over an integer domain (ports, IP addresses).

/// An integer type that interval sets can be built over.
pub trait Bound: Copy + Ord + std::fmt::Debug {
    const MIN: Self;
    const MAX: Self;
    fn succ(self) -> Self;
    fn pred(self) -> Self;
}

macro_rules! impl_bound {
    ($($t:ty),*) => {$(
        impl Bound for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Self { self + 1 }
            fn pred(self) -> Self { self - 1 }
        }
    )*};
}
impl_bound!(u16, u32, u128);

/// A set of values stored as sorted, non-overlapping, non-adjacent inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RangeSet<T: Bound> {
    ranges: Vec<(T, T)>,
}

impl<T: Bound> Default for RangeSet<T> {
    fn default() -> Self {
        RangeSet { ranges: Vec::new() }
    }
}

impl<T: Bound> RangeSet<T> {
    pub fn empty() -> Self {
        Self::default()
    }

    /// `[start, end]`, or the empty set when `start > end`.
    pub fn range(start: T, end: T) -> Self {
        let ranges = if start <= end {
            vec![(start, end)]
        } else {
            vec![]
        };
        RangeSet { ranges }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    pub fn contains(&self, v: T) -> bool {
        let i = self.ranges.partition_point(|&(_, end)| end < v);
        self.ranges.get(i).is_some_and(|&(start, _)| start <= v)
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut all: Vec<(T, T)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(all.len());
        for (s, e) in all {
            match out.last_mut() {
                Some(last) if last.1 == T::MAX || s <= last.1.succ() => {
                    last.1 = last.1.max(e);
                }
                _ => out.push((s, e)),
            }
        }
        RangeSet { ranges: out }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            let (s, e) = (a.0.max(b.0), a.1.min(b.1));
            if s <= e {
                out.push((s, e));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        RangeSet { ranges: out }
    }

    pub fn difference(&self, other: &Self) -> Self {
        let mut out = Vec::new();
        let mut j = 0;
        for &(mut s, e) in &self.ranges {
            while j < other.ranges.len() && other.ranges[j].1 < s {
                j += 1;
            }
            let mut k = j;
            let mut done = false;
            while k < other.ranges.len() && other.ranges[k].0 <= e {
                let (os, oe) = other.ranges[k];
                if os > s {
                    out.push((s, os.pred()));
                }
                if oe >= e {
                    done = true;
                    break;
                }
                s = oe.succ();
                k += 1;
            }
            if !done {
                out.push((s, e));
            }
        }
        RangeSet { ranges: out }
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        self.difference(other).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(set: &RangeSet<u16>) -> Vec<bool> {
        (0..=255u16).map(|v| set.contains(v)).collect()
    }

    fn from_pairs(pairs: &[(u16, u16)]) -> RangeSet<u16> {
        pairs.iter().fold(RangeSet::empty(), |acc, &(a, b)| {
            acc.union(&RangeSet::range(a.min(b), a.max(b)))
        })
    }

    proptest! {
        #[test]
        fn set_operations_agree_with_pointwise_logic(
            a in prop::collection::vec((0u16..256, 0u16..256), 0..6),
            b in prop::collection::vec((0u16..256, 0u16..256), 0..6),
        ) {
            let (sa, sb) = (from_pairs(&a), from_pairs(&b));
            let (na, nb) = (naive(&sa), naive(&sb));
            let zip = |f: fn(bool, bool) -> bool| -> Vec<bool> {
                na.iter().zip(&nb).map(|(&x, &y)| f(x, y)).collect()
            };
            prop_assert_eq!(naive(&sa.union(&sb)), zip(|x, y| x || y));
            prop_assert_eq!(naive(&sa.intersection(&sb)), zip(|x, y| x && y));
            prop_assert_eq!(naive(&sa.difference(&sb)), zip(|x, y| x && !y));
            // Canonical form: adjacent and overlapping ranges are merged.
            for w in sa.union(&sb).ranges().windows(2) {
                prop_assert!(w[0].1.succ() < w[1].0);
            }
        }
    }

    #[test]
    fn full_domain_union_does_not_overflow() {
        let full = RangeSet::range(u16::MIN, u16::MAX);
        assert_eq!(full.union(&RangeSet::range(5, 9)), full);
        assert!(full.difference(&full).is_empty());
        assert_eq!(
            full.difference(&RangeSet::range(0, 9)).ranges(),
            &[(10, u16::MAX)]
        );
    }
}
