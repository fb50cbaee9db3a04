//! The flight recorder: the slowest decisions of each interval and of the
//! run, kept in a fixed array (no allocation), and their blocks in the stats
//! segment, written and read under a seqlock of atomic words.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use tickline_schema::flight::{SlowDecision, SlowestBlock, SLOWEST_N};

/// Keeps the [`SLOWEST_N`] slowest decisions offered to it.
#[derive(Clone)]
pub struct Slowest {
    entries: [SlowDecision; SLOWEST_N],
    totals: [u64; SLOWEST_N],
    len: usize,
    /// Below or at this, an offer cannot enter: the smallest kept total
    /// once full, else 0.
    floor: u64,
}

impl Default for Slowest {
    fn default() -> Self {
        Slowest {
            entries: [SlowDecision::default(); SLOWEST_N],
            totals: [0; SLOWEST_N],
            len: 0,
            floor: 0,
        }
    }
}

impl Slowest {
    /// Offers a decision that took `total` ns; `make` builds its record
    /// only if it enters. One compare when it does not.
    #[inline]
    pub fn offer(&mut self, total: u64, make: impl FnOnce() -> SlowDecision) {
        if total > self.floor {
            self.insert(total, make());
        }
    }

    #[cold]
    #[inline(never)]
    fn insert(&mut self, total: u64, d: SlowDecision) {
        let i = if self.len < SLOWEST_N {
            self.len += 1;
            self.len - 1
        } else {
            self.smallest()
        };
        self.entries[i] = d;
        self.totals[i] = total;
        if self.len == SLOWEST_N {
            self.floor = self.totals[self.smallest()];
        }
        debug_assert!(self.totals[..self.len].iter().all(|t| *t >= self.floor));
    }

    fn smallest(&self) -> usize {
        (0..self.len).min_by_key(|i| self.totals[*i]).unwrap_or(0)
    }

    /// Decisions kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets them all.
    pub fn clear(&mut self) {
        self.len = 0;
        self.floor = 0;
    }

    /// Offers every decision `other` keeps.
    pub fn merge(&mut self, other: &Slowest) {
        for i in 0..other.len {
            self.offer(other.totals[i], || other.entries[i]);
        }
    }

    /// Fills `block`'s entries, slowest first.
    pub fn fill(&self, block: &mut SlowestBlock) {
        let mut order = [0usize; SLOWEST_N];
        for (k, o) in order.iter_mut().enumerate() {
            *o = k;
        }
        let order = &mut order[..self.len];
        order.sort_unstable_by_key(|i| std::cmp::Reverse(self.totals[*i]));
        for (k, i) in order.iter().enumerate() {
            block.entries[k] = self.entries[*i];
        }
        block.len = self.len as u64;
    }
}

/// Per interval and for the run: the deciding stage's flight recorder.
pub struct FlightRecorder {
    interval: Slowest,
    run: Slowest,
    every_ns: u64,
    start_ns: u64,
    number: u64,
    decisions: u64,
    run_decisions: u64,
    block: SlowestBlock,
}

impl FlightRecorder {
    /// Intervals of `every_ns`, the first starting at `now`.
    pub fn new(every_ns: u64, now: u64) -> Self {
        FlightRecorder {
            interval: Slowest::default(),
            run: Slowest::default(),
            every_ns: every_ns.max(1),
            start_ns: now,
            number: 0,
            decisions: 0,
            run_decisions: 0,
            block: SlowestBlock::default(),
        }
    }

    /// Offers one decision (see [`Slowest::offer`]).
    #[inline]
    pub fn offer(&mut self, total: u64, make: impl FnOnce() -> SlowDecision) {
        self.decisions += 1;
        self.interval.offer(total, make);
    }

    /// Whether the interval has run its length at `now`.
    pub fn due(&self, now: u64) -> bool {
        now.saturating_sub(self.start_ns) >= self.every_ns
    }

    /// Ends the interval at `now`: its block, to publish; the next begins.
    pub fn close(&mut self, now: u64) -> &SlowestBlock {
        self.number += 1;
        self.run.merge(&self.interval);
        self.run_decisions += self.decisions;
        self.block = SlowestBlock {
            interval: self.number,
            start_ns: self.start_ns,
            end_ns: now,
            decisions: self.decisions,
            ..SlowestBlock::default()
        };
        self.interval.fill(&mut self.block);
        self.interval.clear();
        self.decisions = 0;
        self.start_ns = now;
        &self.block
    }

    /// The run's block so far (closed intervals), to publish.
    pub fn run_block(&mut self) -> &SlowestBlock {
        self.block = SlowestBlock {
            interval: self.number,
            end_ns: self.start_ns,
            decisions: self.run_decisions,
            ..SlowestBlock::default()
        };
        self.run.fill(&mut self.block);
        &self.block
    }
}

/// Words of a block.
pub(crate) const BLOCK_WORDS: usize = std::mem::size_of::<SlowestBlock>() / 8;

/// Writes `b` to `words` (a block's words) under the seqlock: readers see
/// it whole or retry. One writer only.
pub(crate) fn write_block(words: &[AtomicU64], b: &SlowestBlock) {
    let src: &[u64] = bytemuck::cast_slice(std::slice::from_ref(b));
    debug_assert_eq!(words.len(), src.len());
    let ver = words[0].load(Ordering::Relaxed);
    words[0].store(ver | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    for (w, v) in words[1..].iter().zip(&src[1..]) {
        w.store(*v, Ordering::Relaxed);
    }
    words[0].store((ver | 1).wrapping_add(1), Ordering::Release);
}

/// Reads a block written by [`write_block`]; None if none was written, or
/// the writer kept it busy (or died mid-write).
pub(crate) fn read_block(words: &[AtomicU64]) -> Option<SlowestBlock> {
    let mut b = SlowestBlock::default();
    for _ in 0..1_000 {
        let v1 = words[0].load(Ordering::Acquire);
        if v1 == 0 {
            return None;
        }
        if v1 & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let dst: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut b));
        for (d, w) in dst[1..].iter_mut().zip(&words[1..]) {
            *d = w.load(Ordering::Relaxed);
        }
        fence(Ordering::Acquire);
        if words[0].load(Ordering::Relaxed) == v1 {
            b.version = v1;
            return Some(b);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(seq: u64, total: u64) -> SlowDecision {
        SlowDecision {
            seq,
            stamps: [1, 0, 0, 0],
            decided_ns: 1 + total,
            ..Default::default()
        }
    }

    #[test]
    fn keeps_the_slowest_n_of_many_slowest_first() {
        let mut s = Slowest::default();
        // A scrambled order of totals 1..=1000.
        for k in 0..1000u64 {
            let total = (k * 617) % 1000 + 1;
            s.offer(total, || decision(k, total));
        }
        let mut b = SlowestBlock::default();
        s.fill(&mut b);
        let totals: Vec<u64> = b.decisions().iter().map(|d| d.total_ns()).collect();
        let want: Vec<u64> = (1000 - SLOWEST_N as u64 + 1..=1000).rev().collect();
        assert_eq!(totals, want);
    }

    #[test]
    fn an_offer_below_the_floor_builds_nothing() {
        let mut s = Slowest::default();
        for k in 0..SLOWEST_N as u64 {
            s.offer(100 + k, || decision(k, 100 + k));
        }
        s.offer(50, || panic!("built a record that cannot enter"));
        assert_eq!(s.len(), SLOWEST_N);
    }

    #[test]
    fn intervals_close_into_blocks_and_the_run_keeps_the_slowest_of_all() {
        let mut f = FlightRecorder::new(1_000, 0);
        f.offer(500, || decision(1, 500));
        f.offer(7, || decision(2, 7));
        assert!(!f.due(999) && f.due(1_000));
        let b = *f.close(1_000);
        assert_eq!(
            (b.interval, b.start_ns, b.end_ns, b.decisions),
            (1, 0, 1_000, 2)
        );
        assert_eq!(b.decisions()[0].seq, 1);
        f.offer(900, || decision(3, 900));
        let b = *f.close(2_000);
        assert_eq!((b.interval, b.decisions, b.len), (2, 1, 1));
        let run = *f.run_block();
        let seqs: Vec<u64> = run.decisions().iter().map(|d| d.seq).collect();
        assert_eq!(seqs, [3, 1, 2]);
        assert_eq!(run.decisions, 3);
    }

    #[test]
    fn a_block_reads_back_whole_and_a_busy_one_is_not_read() {
        let words: Vec<AtomicU64> = (0..BLOCK_WORDS).map(|_| AtomicU64::new(0)).collect();
        assert!(read_block(&words).is_none());
        let mut f = FlightRecorder::new(10, 0);
        f.offer(42, || decision(9, 42));
        let b = *f.close(10);
        write_block(&words, &b);
        let r = read_block(&words).expect("published");
        assert_eq!((r.interval, r.len, r.entries[0].seq), (1, 1, 9));
        // A writer that died mid-write leaves the version odd.
        words[0].store(r.version | 1, Ordering::Relaxed);
        assert!(read_block(&words).is_none());
    }
}
