//! A set of seqs stored as ranges: a whole log's worth of seqs costs a few bytes
//! unless records are missing or out of place.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

#[derive(Debug, Default)]
pub(super) struct SeqSet {
    /// start → end, inclusive, non-overlapping, non-adjacent.
    ranges: BTreeMap<u64, u64>,
}

impl SeqSet {
    pub fn contains(&self, seq: u64) -> bool {
        self.ranges
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, end)| seq <= *end)
    }

    pub fn insert(&mut self, seq: u64) {
        if self.contains(seq) {
            return;
        }
        let mut start = seq;
        let mut end = seq;
        if let Some((&before_start, &before_end)) = self.ranges.range(..seq).next_back()
            && before_end.checked_add(1) == Some(seq)
        {
            start = before_start;
        }
        if let Some(after_end) = seq
            .checked_add(1)
            .and_then(|next| self.ranges.remove(&next))
        {
            end = after_end;
        }
        self.ranges.insert(start, end);
    }

    pub fn max(&self) -> Option<u64> {
        self.ranges.values().next_back().copied()
    }

    /// The seqs in `1..=max()` that are not in the set.
    pub fn missing(&self) -> Vec<RangeInclusive<u64>> {
        let mut missing = Vec::new();
        let mut next = 1;
        for (&start, &end) in &self.ranges {
            if start > next {
                missing.push(next..=start - 1);
            }
            next = end.saturating_add(1);
        }
        missing
    }

    /// How many seqs above `seq` the set holds.
    pub fn count_above(&self, seq: u64) -> u64 {
        self.ranges
            .iter()
            .filter(|(_, end)| **end > seq)
            .map(|(start, end)| end - (*start).max(seq + 1) + 1)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(seqs: &[u64]) -> SeqSet {
        let mut set = SeqSet::default();
        for seq in seqs {
            set.insert(*seq);
        }
        set
    }

    #[test]
    fn consecutive_seqs_merge_into_one_range() {
        let s = set(&[1, 2, 3, 5, 4]);
        assert_eq!(s.ranges.len(), 1);
        assert_eq!(s.max(), Some(5));
        assert!(s.missing().is_empty());
    }

    #[test]
    fn missing_reports_every_hole_from_one() {
        let s = set(&[3, 4, 7, 9, 10]);
        assert_eq!(s.missing(), vec![1..=2, 5..=6, 8..=8]);
        assert!(s.contains(9) && !s.contains(8));
    }

    #[test]
    fn count_above_counts_only_higher_seqs() {
        let s = set(&[1, 2, 3, 4, 5, 8, 9]);
        assert_eq!(s.count_above(3), 4);
        assert_eq!(s.count_above(9), 0);
        assert_eq!(s.count_above(0), 7);
    }
}
