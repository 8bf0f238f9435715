//! How often each key was read lately: the frequency sketch behind
//! [`Admission::Frequent`](crate::config::Admission::Frequent).
//!
//! A count-min sketch (TinyLFU): each key has four 4-bit counters, chosen by its hash, in a
//! table of 64-bit words (16 counters each); a read adds one to each of its key's four
//! (saturating at 15), and the key's estimate is the smallest of them: never below the true
//! count, above it only where other keys share all four counters. Every `period` additions
//! every counter is halved, so the sketch forgets: an estimate counts recent reads, and a
//! key read once long ago looks new again.
//!
//! Fixed size, chosen from the shard's budget: the table never grows with the keys it has
//! seen, and its bytes are taken out of the budget (see `Cache::new`).

/// Counters per word.
const PER_WORD: u32 = 16;
/// The largest count.
const MAX: u64 = 15;
/// Each counter's low bit: halving shifts every counter right and drops the bit that came
/// in from the counter above.
const HALF_MASK: u64 = 0x7777_7777_7777_7777;

/// Multipliers that pick a key's four counters from its hash, one per row (odd constants
/// with well-spread bits).
const ROWS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0xD6E8_FEB8_6659_FD93,
];

pub(super) struct Sketch {
    table: Box<[u64]>,
    /// `table.len() - 1` (a power of two).
    mask: u64,
    additions: u32,
    /// Additions between halvings.
    period: u32,
}

impl Sketch {
    /// A sketch for about `entries` keys: a word per two to four of them (a power of two,
    /// at least 8, at most 2^16), halving every ten times `entries` additions.
    pub(super) fn new(entries: usize) -> Sketch {
        let words = Self::words(entries);
        Sketch {
            table: vec![0; words].into_boxed_slice(),
            mask: words as u64 - 1,
            additions: 0,
            period: (entries.saturating_mul(10)).clamp(64, 1 << 30) as u32,
        }
    }

    /// The bytes a sketch for `entries` keys holds.
    pub(super) fn bytes_for(entries: usize) -> usize {
        Self::words(entries) * 8
    }

    /// The bytes this sketch holds.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.table.len() * 8
    }

    fn words(entries: usize) -> usize {
        let half = (entries / 2).clamp(8, 1 << 16);
        // Rounded down to a power of two.
        1 << half.ilog2()
    }

    /// The word and the bit offset of `hash`'s counter in row `row`.
    fn counter(&self, hash: u64, row: usize) -> (usize, u32) {
        let h = hash.wrapping_mul(ROWS[row]);
        // The top bits of a product depend on every bit of the hash.
        let word = (h >> 32) & self.mask;
        let slot = (h >> 60) as u32 % PER_WORD;
        (word as usize, slot * 4)
    }

    /// How often the key of `hash` was read lately (0 to 15).
    pub(super) fn estimate(&self, hash: u64) -> u8 {
        (0..ROWS.len())
            .map(|row| {
                let (w, shift) = self.counter(hash, row);
                ((self.table[w] >> shift) & MAX) as u8
            })
            .min()
            .unwrap_or(0)
    }

    /// Counts one read of the key of `hash`. Conservative update: only the counters at the
    /// key's minimum grow, so that a counter shared with other keys grows no further than
    /// it must, and estimates stay closer to the counts.
    pub(super) fn increment(&mut self, hash: u64) {
        let at = [0, 1, 2, 3].map(|row| self.counter(hash, row));
        let value = |(w, shift): (usize, u32)| (self.table[w] >> shift) & MAX;
        let min = at.iter().map(|&c| value(c)).min().unwrap_or(MAX);
        if min < MAX {
            for (w, shift) in at {
                if (self.table[w] >> shift) & MAX == min {
                    self.table[w] += 1 << shift;
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.period {
            self.age();
        }
    }

    /// Halves every counter.
    fn age(&mut self) {
        for w in self.table.iter_mut() {
            *w = (*w >> 1) & HALF_MASK;
        }
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_count_reads_saturate_and_halve() {
        let mut s = Sketch::new(1_000);
        assert_eq!(s.estimate(42), 0);
        for n in 1..=20u8 {
            s.increment(42);
            assert_eq!(s.estimate(42), n.min(15));
        }
        s.age();
        assert_eq!(s.estimate(42), 7);
    }

    #[test]
    fn an_estimate_is_never_below_the_count_and_rarely_above_it() {
        // 500 keys read 1 to 5 times each, in a sketch sized for 1,000 (no halving yet).
        let mut s = Sketch::new(1_000);
        let hash = |k: u64| k.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (k << 7);
        for k in 0..500u64 {
            for _ in 0..=(k % 5) {
                s.increment(hash(k));
            }
        }
        let over = (0..500u64)
            .filter(|&k| {
                let est = u64::from(s.estimate(hash(k)));
                assert!(est > k % 5, "key {k}: {est} below its count");
                est > k % 5 + 1
            })
            .count();
        assert!(over < 25, "{over} of 500 estimates above the count");
    }

    #[test]
    fn the_sketch_forgets_after_its_period() {
        let mut s = Sketch::new(100);
        for _ in 0..15 {
            s.increment(7);
        }
        // Reads of another key up to the period: one halving.
        for _ in 15..s.period {
            s.increment(8);
        }
        assert_eq!((s.estimate(7), s.estimate(8)), (7, 7));
        assert!(s.additions < s.period);
    }
}
