//! Fixed windows with running sums, O(1) per update, whose values live in
//! rings the caller owns. The running state is a small `Copy` struct apart
//! from its values, so it can be committed once per event (see `state.rs`):
//! a ring has one slot more than its window holds, and a push writes only
//! the slot after the newest live value, so the state from before the push
//! still finds every value it holds.
//!
//! Count windows number their pushes from 0; push `k` lives in slot
//! `k % ring_len(n)` (a division by a constant once inlined). The time
//! window keeps slot indices instead, wrapped by comparison.

use bytemuck::{Pod, Zeroable};

/// Ring slots for a window of the last `n` values.
pub const fn ring_len(n: usize) -> usize {
    n + 1
}

/// Sum of the last `n` values pushed. The running sum is recomputed exactly
/// every `n` pushes, so floating-point drift is bounded by one window's rounding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct RollingSum {
    sum: f64,
    since_exact: u64,
    /// Non-zero values held: at zero the sum is exactly 0, not rounding residue.
    nonzero: u64,
}

impl RollingSum {
    /// Adds `x` as push number `pushed` of a window of `n` over `ring`; the
    /// value `n` pushes ago leaves.
    #[inline]
    pub fn push(&mut self, ring: &mut [f64], n: usize, pushed: u64, x: f64) {
        debug_assert_eq!(ring.len(), ring_len(n));
        debug_assert!(self.since_exact < n as u64 && self.nonzero <= pushed.min(n as u64));
        let p = ring_len(n) as u64;
        if pushed >= n as u64 {
            let old = ring[((pushed - n as u64) % p) as usize];
            self.sum -= old;
            self.nonzero -= (old != 0.0) as u64;
        }
        ring[(pushed % p) as usize] = x;
        self.sum += x;
        self.nonzero += (x != 0.0) as u64;
        if self.nonzero == 0 {
            self.sum = 0.0;
        }
        self.since_exact += 1;
        if self.since_exact == n as u64 {
            self.sum = Self::exact(ring, n, pushed + 1);
            self.since_exact = 0;
        }
    }

    /// The running sum of the values held.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The sum recomputed, oldest first, of a window of `n` after `pushed` pushes.
    pub fn exact(ring: &[f64], n: usize, pushed: u64) -> f64 {
        let p = ring_len(n) as u64;
        (pushed.saturating_sub(n as u64)..pushed)
            .map(|k| ring[(k % p) as usize])
            .sum()
    }
}

/// The last values pushed, for "value k pushes ago": a ring and its push count.
pub struct History;

impl History {
    /// Stores `x` as push number `pushed` of a window of `n`.
    #[inline]
    pub fn push(ring: &mut [f64], n: usize, pushed: u64, x: f64) {
        debug_assert_eq!(ring.len(), ring_len(n));
        let p = ring_len(n) as u64;
        ring[(pushed % p) as usize] = x;
    }

    /// After `pushed` pushes, the value pushed `k` before the last one (k = 0:
    /// the last), if a window of `n` holds it.
    #[inline]
    pub fn ago(ring: &[f64], n: usize, pushed: u64, k: usize) -> Option<f64> {
        debug_assert_eq!(ring.len(), ring_len(n));
        let p = ring_len(n) as u64;
        (k < n && (k as u64) < pushed).then(|| ring[((pushed - 1 - k as u64) % p) as usize])
    }
}

/// Slot `i + k` of rings of length `p` (`i < p`, `k <= p`).
fn wrap(i: u64, k: u64, p: u64) -> usize {
    let j = i + k;
    (if j >= p { j - p } else { j }) as usize
}

/// Where a [`TimeWindow`]'s entries live: `ring_len(capacity)` slots each.
pub struct WindowRings<'a> {
    /// Entry times.
    pub ts: &'a mut [u64],
    /// Entry values, three per entry.
    pub vals: &'a mut [[f64; 3]],
    /// Entry levels (e.g. the mid).
    pub level: &'a mut [f64],
}

/// Entries of the last `window_ns` of (exchange) time: running sums of three
/// values per entry, and the level (e.g. the mid) at the window's start. A
/// fixed ring: when more than its capacity (one less than the rings'
/// length) arrive within the window, the oldest leave early and are
/// counted in `overflowed`. All zero is the empty window.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct TimeWindow {
    /// Slot of the oldest live entry, and entries live.
    head: u64,
    len: u64,
    sums: [f64; 3],
    nonzero: [u64; 3],
    since_exact: u64,
    /// Entries that left early because the ring was full.
    pub overflowed: u64,
    /// Level of the newest entry that left the window: the value `window_ns` ago.
    before: f64,
    has_before: u64,
}

impl TimeWindow {
    fn check(&self, r: &WindowRings<'_>) {
        let p = r.ts.len();
        debug_assert!(p >= 3 && r.vals.len() == p && r.level.len() == p);
        debug_assert!(
            self.head < p as u64 && self.len < p as u64,
            "head {} len {} of {}",
            self.head,
            self.len,
            p - 1
        );
        debug_assert!(self.nonzero.iter().all(|n| *n <= self.len));
    }

    fn evict_one(&mut self, r: &WindowRings<'_>) {
        debug_assert!(self.len > 0, "evict from an empty window");
        let h = self.head as usize;
        for c in 0..3 {
            let v = r.vals[h][c];
            self.sums[c] -= v;
            self.nonzero[c] -= (v != 0.0) as u64;
        }
        self.before = r.level[h];
        self.has_before = 1;
        self.head = wrap(self.head, 1, r.ts.len() as u64) as u64;
        self.len -= 1;
    }

    /// Adds an entry at `ts`, then drops the entries `window_ns` or more older.
    pub fn push(
        &mut self,
        r: &mut WindowRings<'_>,
        window_ns: u64,
        ts: u64,
        vals: [f64; 3],
        level: f64,
    ) {
        self.check(r);
        let p = r.ts.len() as u64;
        let capacity = p - 1;
        if self.len == capacity {
            self.evict_one(r);
            self.overflowed += 1;
        }
        // The slot after the newest: never a live one, as len < p.
        let i = wrap(self.head, self.len, p);
        r.ts[i] = ts;
        r.vals[i] = vals;
        r.level[i] = level;
        self.len += 1;
        for ((sum, nz), v) in self.sums.iter_mut().zip(&mut self.nonzero).zip(vals) {
            *sum += v;
            *nz += (v != 0.0) as u64;
        }
        if let Some(cutoff) = ts.checked_sub(window_ns) {
            while self.len > 0 && r.ts[self.head as usize] <= cutoff {
                self.evict_one(r);
            }
        }
        self.since_exact += 1;
        if self.since_exact >= capacity {
            self.sums = self.exact(r);
            self.since_exact = 0;
        }
        self.check(r);
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
        (self.has_before != 0).then_some(self.before)
    }

    /// The sums recomputed from the entries, oldest first.
    pub fn exact(&self, r: &WindowRings<'_>) -> [f64; 3] {
        let mut s = [0.0; 3];
        let p = r.ts.len() as u64;
        for k in 0..self.len {
            for (acc, v) in s.iter_mut().zip(r.vals[wrap(self.head, k, p)]) {
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
        const N: usize = 64;
        let mut r = RollingSum::default();
        let mut ring = vec![0.0; ring_len(N)];
        let mut x = 0.123_456_789f64;
        let mut vals = Vec::new();
        // Values of very different magnitudes make naive running sums drift.
        for i in 0..200_000u64 {
            x = (x * 3.999 * (1.0 - x)).clamp(1e-9, 1.0 - 1e-9);
            let v = if i % 7 == 0 { x * 1e9 } else { x * 1e-3 };
            r.push(&mut ring, N, i, v);
            vals.push(v);
            let held = &vals[vals.len().saturating_sub(N)..];
            let exact: f64 = held.iter().sum();
            let tol = 1e-12 * held.iter().map(|v| v.abs()).sum::<f64>();
            assert!(
                (r.sum() - exact).abs() <= tol.max(1e-300),
                "at {i}: {} vs {exact}",
                r.sum()
            );
        }
    }

    #[test]
    fn a_push_redone_from_the_state_before_it_gives_the_same_state() {
        // The committed-per-event contract: a push interrupted at any point
        // is redone from the old state (a copy) over the same ring.
        const N: usize = 5;
        let mut ring = vec![0.0; ring_len(N)];
        let mut r = RollingSum::default();
        for k in 0..100u64 {
            let (before, expect) = (r, RollingSum::exact(&ring, N, k));
            let x = (k as f64 * 0.37).sin() * 1e3;
            r.push(&mut ring, N, k, x);
            assert_eq!(
                RollingSum::exact(&ring, N, k),
                expect,
                "push {k} kept the old values"
            );
            let mut redo = before;
            redo.push(&mut ring, N, k, x);
            assert_eq!(redo, r, "push {k} redone");
        }
    }

    #[test]
    fn history_gives_values_k_ago() {
        let mut ring = vec![0.0; ring_len(3)];
        assert_eq!(History::ago(&ring, 3, 0, 0), None);
        for (k, v) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            History::push(&mut ring, 3, k as u64, v);
        }
        let ago = |k| History::ago(&ring, 3, 4, k);
        assert_eq!((ago(0), ago(2), ago(3)), (Some(4.0), Some(2.0), None));
    }

    #[test]
    fn time_window_evicts_by_time_and_remembers_the_start_level() {
        let p = ring_len(8);
        let (mut ts, mut vals, mut level) = (vec![0; p], vec![[0.0; 3]; p], vec![0.0; p]);
        let mut r = WindowRings {
            ts: &mut ts,
            vals: &mut vals,
            level: &mut level,
        };
        let mut w = TimeWindow::default();
        w.push(&mut r, 100, 1000, [1.0, 10.0, 0.0], 5.0);
        w.push(&mut r, 100, 1050, [2.0, 20.0, 0.0], 6.0);
        assert_eq!(w.sums(), [3.0, 30.0, 0.0]);
        assert_eq!(w.level_at_start(), None);
        w.push(&mut r, 100, 1120, [4.0, 40.0, 1.0], 7.0); // 1000 leaves (<= 1020)
        assert_eq!(w.sums(), [6.0, 60.0, 1.0]);
        assert_eq!(w.level_at_start(), Some(5.0));
        w.push(&mut r, 100, 1400, [1.0, 1.0, 1.0], 8.0); // everything at or before 1300 leaves
        assert_eq!(w.sums(), [1.0, 1.0, 1.0]);
        assert_eq!(w.level_at_start(), Some(7.0));
        assert_eq!(w.overflowed, 0);
        for t in 0..20 {
            w.push(&mut r, 100, 1401 + t, [1.0, 0.0, 0.0], 9.0);
        }
        assert_eq!((w.overflowed, w.sums()[0]), (13, 8.0));
    }
}
