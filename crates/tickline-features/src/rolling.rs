//! Fixed windows with running sums, preallocated, O(1) per update.

/// Sum of the last `N` values. The running sum is recomputed exactly every
/// `N` pushes, so floating-point drift is bounded by one window's rounding.
#[derive(Clone, Debug)]
pub struct RollingSum<const N: usize> {
    buf: [f64; N],
    pos: usize,
    len: usize,
    sum: f64,
    since_exact: usize,
    /// Non-zero values held: at zero the sum is exactly 0, not rounding residue.
    nonzero: usize,
}

impl<const N: usize> Default for RollingSum<N> {
    fn default() -> Self {
        RollingSum {
            buf: [0.0; N],
            pos: 0,
            len: 0,
            sum: 0.0,
            since_exact: 0,
            nonzero: 0,
        }
    }
}

impl<const N: usize> RollingSum<N> {
    fn check(&self) {
        debug_assert!(
            self.pos < N && self.len <= N,
            "pos {} len {} of {N}",
            self.pos,
            self.len
        );
        debug_assert!(self.nonzero <= self.len && self.since_exact < N);
    }

    /// Adds `x`; the value `N` pushes ago leaves.
    pub fn push(&mut self, x: f64) {
        self.check();
        if self.len == N {
            let old = self.buf[self.pos];
            self.sum -= old;
            self.nonzero -= (old != 0.0) as usize;
        } else {
            self.len += 1;
        }
        self.buf[self.pos] = x;
        self.sum += x;
        self.nonzero += (x != 0.0) as usize;
        if self.nonzero == 0 {
            self.sum = 0.0;
        }
        self.pos = (self.pos + 1) % N;
        self.since_exact += 1;
        if self.since_exact == N {
            self.sum = self.exact();
            self.since_exact = 0;
        }
        self.check();
    }

    /// The running sum of the values held.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Values held (up to N).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first push.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sum recomputed from the window, oldest first.
    pub fn exact(&self) -> f64 {
        let start = (self.pos + N - self.len) % N;
        (0..self.len).map(|i| self.buf[(start + i) % N]).sum()
    }
}

/// The last `N` values, for "value k steps ago".
#[derive(Clone, Debug)]
pub struct History<const N: usize> {
    buf: [f64; N],
    pos: usize,
    len: usize,
}

impl<const N: usize> Default for History<N> {
    fn default() -> Self {
        History {
            buf: [0.0; N],
            pos: 0,
            len: 0,
        }
    }
}

impl<const N: usize> History<N> {
    /// Adds `x`, forgetting the value `N` pushes ago.
    pub fn push(&mut self, x: f64) {
        debug_assert!(self.pos < N && self.len <= N);
        self.buf[self.pos] = x;
        self.pos = (self.pos + 1) % N;
        self.len = (self.len + 1).min(N);
        debug_assert!(self.len == N || self.pos == self.len, "fills from slot 0");
    }

    /// The value pushed `k` pushes before the last one (k = 0: the last), if held.
    pub fn ago(&self, k: usize) -> Option<f64> {
        (k < self.len).then(|| self.buf[(self.pos + N - 1 - k) % N])
    }
}

/// Entries of the last `window_ns` of (exchange) time: running sums of three
/// values per entry, and the level (e.g. the mid) at the window's start. A
/// fixed ring: when more than its capacity arrive within the window, the
/// oldest leave early and are counted in `overflowed`.
#[derive(Clone, Debug)]
pub struct TimeWindow {
    window_ns: u64,
    ts: Box<[u64]>,
    vals: Box<[[f64; 3]]>,
    level: Box<[f64]>,
    head: usize,
    len: usize,
    sums: [f64; 3],
    nonzero: [usize; 3],
    since_exact: usize,
    /// Entries that left early because the ring was full.
    pub overflowed: u64,
    /// Level of the newest entry that left the window: the value `window_ns` ago.
    before: Option<f64>,
}

impl TimeWindow {
    /// A window of `window_ns` holding at most `capacity` entries.
    pub fn new(window_ns: u64, capacity: usize) -> Self {
        let cap = capacity.max(2);
        TimeWindow {
            window_ns,
            ts: vec![0; cap].into_boxed_slice(),
            vals: vec![[0.0; 3]; cap].into_boxed_slice(),
            level: vec![0.0; cap].into_boxed_slice(),
            head: 0,
            len: 0,
            sums: [0.0; 3],
            nonzero: [0; 3],
            since_exact: 0,
            overflowed: 0,
            before: None,
        }
    }

    fn cap(&self) -> usize {
        self.ts.len()
    }

    fn check(&self) {
        let cap = self.cap();
        debug_assert!(
            self.head < cap && self.len <= cap,
            "head {} len {} of {cap}",
            self.head,
            self.len
        );
        debug_assert!(self.nonzero.iter().all(|n| *n <= self.len));
    }

    fn evict_one(&mut self) {
        debug_assert!(self.len > 0, "evict from an empty window");
        let h = self.head;
        for c in 0..3 {
            let v = self.vals[h][c];
            self.sums[c] -= v;
            self.nonzero[c] -= (v != 0.0) as usize;
        }
        self.before = Some(self.level[h]);
        self.head = (h + 1) % self.cap();
        self.len -= 1;
    }

    /// Adds an entry at `ts`, then drops the entries `window_ns` or more older.
    pub fn push(&mut self, ts: u64, vals: [f64; 3], level: f64) {
        self.check();
        if self.len == self.cap() {
            self.evict_one();
            self.overflowed += 1;
        }
        let i = (self.head + self.len) % self.cap();
        self.ts[i] = ts;
        self.vals[i] = vals;
        self.level[i] = level;
        self.len += 1;
        for ((sum, nz), v) in self.sums.iter_mut().zip(&mut self.nonzero).zip(vals) {
            *sum += v;
            *nz += (v != 0.0) as usize;
        }
        if let Some(cutoff) = ts.checked_sub(self.window_ns) {
            while self.len > 0 && self.ts[self.head] <= cutoff {
                self.evict_one();
            }
        }
        self.since_exact += 1;
        if self.since_exact >= self.cap() {
            self.sums = self.exact();
            self.since_exact = 0;
        }
        self.check();
    }

    /// Running sums; exactly 0 for a column whose entries are all 0.
    pub fn sums(&self) -> [f64; 3] {
        let mut s = self.sums;
        for (x, nz) in s.iter_mut().zip(self.nonzero) {
            if nz == 0 {
                *x = 0.0;
            }
        }
        s
    }

    /// The level `window_ns` before the newest entry, once known.
    pub fn level_at_start(&self) -> Option<f64> {
        self.before
    }

    /// The sums recomputed from the entries.
    pub fn exact(&self) -> [f64; 3] {
        let cap = self.cap();
        let mut s = [0.0; 3];
        for k in 0..self.len {
            for (acc, v) in s.iter_mut().zip(self.vals[(self.head + k) % cap]) {
                *acc += v;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_sum_matches_the_window_and_drift_stays_bounded() {
        let mut r = RollingSum::<64>::default();
        let mut x = 0.123_456_789f64;
        let mut vals = Vec::new();
        // Values of very different magnitudes make naive running sums drift.
        for i in 0..200_000 {
            x = (x * 3.999 * (1.0 - x)).clamp(1e-9, 1.0 - 1e-9);
            let v = if i % 7 == 0 { x * 1e9 } else { x * 1e-3 };
            r.push(v);
            vals.push(v);
            let exact: f64 = vals[vals.len().saturating_sub(64)..].iter().sum();
            let tol = 1e-12
                * vals[vals.len().saturating_sub(64)..]
                    .iter()
                    .map(|v| v.abs())
                    .sum::<f64>();
            assert!(
                (r.sum() - exact).abs() <= tol.max(1e-300),
                "at {i}: {} vs {exact}",
                r.sum()
            );
        }
    }

    #[test]
    fn history_gives_values_k_ago() {
        let mut h = History::<3>::default();
        assert_eq!(h.ago(0), None);
        for v in [1.0, 2.0, 3.0, 4.0] {
            h.push(v);
        }
        assert_eq!((h.ago(0), h.ago(2), h.ago(3)), (Some(4.0), Some(2.0), None));
    }

    #[test]
    fn time_window_evicts_by_time_and_remembers_the_start_level() {
        let mut w = TimeWindow::new(100, 8);
        w.push(1000, [1.0, 10.0, 0.0], 5.0);
        w.push(1050, [2.0, 20.0, 0.0], 6.0);
        assert_eq!(w.sums(), [3.0, 30.0, 0.0]);
        assert_eq!(w.level_at_start(), None);
        w.push(1120, [4.0, 40.0, 1.0], 7.0); // 1000 leaves (<= 1020)
        assert_eq!(w.sums(), [6.0, 60.0, 1.0]);
        assert_eq!(w.level_at_start(), Some(5.0));
        w.push(1400, [1.0, 1.0, 1.0], 8.0); // everything at or before 1300 leaves
        assert_eq!(w.sums(), [1.0, 1.0, 1.0]);
        assert_eq!(w.level_at_start(), Some(7.0));
        assert_eq!(w.overflowed, 0);
    }
}
