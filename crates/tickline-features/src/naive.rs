//! The same features recomputed from the whole history at every event:
//! O(window) per event, no running sums. The reference for the O(1) engine's
//! tests and the baseline in its benchmark.

use tickline_schema::BookEvent;

use crate::engine::{finish, FeatureConfig, FeatureStats};
use crate::formulas as f;
use crate::idx::*;
use crate::{DEPTH_K, N_FEATURES, WINDOW_1S_NS};

const MIN_VOLUME: f64 = 0.5;

/// The reference: every feature recomputed from the full history, no running state.
pub struct NaiveEngine {
    cfg: FeatureConfig,
    history: Vec<Vec<BookEvent>>,
    /// Per instrument: running maximum of exchange time after each event.
    clocks: Vec<Vec<u64>>,
    stats: FeatureStats,
}

impl NaiveEngine {
    /// A reference engine for `cfg`.
    pub fn new(cfg: FeatureConfig) -> Self {
        NaiveEngine {
            cfg,
            history: Vec::new(),
            clocks: Vec::new(),
            stats: FeatureStats::default(),
        }
    }

    /// The features of `e` and the defaulted mask, from scratch.
    pub fn compute(&mut self, e: &BookEvent) -> ([f64; N_FEATURES], u32) {
        let i = self.remember(e);
        let mut v = [f64::NAN; N_FEATURES];
        snapshot(e, &self.history[i], self.cfg.tick, &mut v);
        windows(&self.history[i], &self.clocks[i], &mut v);
        finish(&mut v, &mut self.stats)
    }

    /// Appends `e` to its instrument's history; the instrument's index.
    fn remember(&mut self, e: &BookEvent) -> usize {
        let i = e.instrument_id as usize;
        if i >= self.history.len() {
            self.history.resize_with(i + 1, Vec::new);
            self.clocks.resize_with(i + 1, Vec::new);
        }
        self.history[i].push(*e);
        let clock = &mut self.clocks[i];
        clock.push(clock.last().copied().unwrap_or(0).max(e.trace.exchange_ns));
        i
    }
}

/// The last `w` events of `n`.
fn last(n: usize, w: usize) -> std::ops::Range<usize> {
    n.saturating_sub(w)..n
}

/// Features of the book as it is, and order-flow sums over event windows.
fn snapshot(e: &BookEvent, h: &[BookEvent], tick: i64, v: &mut [f64; N_FEATURES]) {
    let n = h.len();
    let mid = f::mid(e);
    if let (Some((b, a)), Some(m)) = (f::touch(e), mid) {
        let spread = (a.price - b.price) as f64;
        v[SPREAD_BPS] = spread / m * 1e4;
        v[SPREAD_TICKS] = spread / tick as f64;
    }
    v[OBI_1] = f::imbalance(e, 1).unwrap_or(f64::NAN);
    v[OBI_5] = f::imbalance(e, DEPTH_K).unwrap_or(f64::NAN);
    if let (Some(mp), Some(m)) = (f::microprice(e), mid) {
        v[MICROPRICE_DEV_BPS] = (mp - m) / m * 1e4;
    }
    let ofi = |j: usize, k: usize| {
        if j == 0 {
            0.0
        } else {
            f::ofi_normalized(&h[j - 1], &h[j], k)
        }
    };
    let window = |w: usize| last(n, w);
    v[OFI_1_SUM10] = window(10).map(|j| ofi(j, 1)).sum();
    v[OFI_1_SUM100] = window(100).map(|j| ofi(j, 1)).sum();
    v[OFI_5_SUM100] = window(100).map(|j| ofi(j, DEPTH_K)).sum();
}

/// Returns, volatility and trade flow over 100 events and over the last
/// second of (effective) exchange time, and the time since the last trade.
fn windows(h: &[BookEvent], clock: &[u64], v: &mut [f64; N_FEATURES]) {
    let n = h.len();
    let window = |w: usize| last(n, w);
    // Effective times (running maximum of exchange time) and the first
    // event of the last second, found by walking back from the newest.
    let ts = clock[n - 1];
    let cutoff = ts.checked_sub(WINDOW_1S_NS);
    let clock_at = |j: usize| clock[j];
    let mut first_inside = n;
    while first_inside > 0 && cutoff.is_none_or(|c| clock_at(first_inside - 1) > c) {
        first_inside -= 1;
    }
    // Carried mids and returns from far enough back for every window:
    // 100 events, the second, and the last valid mid before them.
    let mut lo = n.saturating_sub(101).min(first_inside.saturating_sub(1));
    while lo > 0 && f::mid(&h[lo]).is_none() {
        lo -= 1;
    }
    let mut last: Option<f64> = (0..lo).rev().find_map(|j| f::mid(&h[j]));
    // Indexed by event number; only [lo, n) is ever read.
    let (mut carried, mut returns) = (vec![f64::NAN; n - lo], vec![0.0; n - lo]);
    for j in lo..n {
        let m = f::mid(&h[j]);
        returns[j - lo] = match (m, last) {
            (Some(m), Some(p)) => (m / p).ln(),
            _ => 0.0,
        };
        if m.is_some() {
            last = m;
        }
        carried[j - lo] = last.unwrap_or(f64::NAN);
    }
    let carried = |j: usize| carried[j - lo];
    let returns = |j: usize| returns[j - lo];
    let ret = |k: usize| {
        if n > k {
            (carried(n - 1) / carried(n - 1 - k)).ln() * 1e4
        } else {
            f64::NAN
        }
    };
    v[RET_10_BPS] = ret(10);
    v[RET_100_BPS] = ret(100);
    v[RV_100_BPS] = window(100)
        .map(|j| returns(j) * returns(j))
        .sum::<f64>()
        .sqrt()
        * 1e4;
    let flow = |j: usize| f::trade_flow(&h[j]);
    let (s100, q100) = window(100).fold((0.0, 0.0), |(s, q), j| (s + flow(j).0, q + flow(j).1));
    if q100 >= MIN_VOLUME {
        v[TRADE_IMB_100] = s100 / q100;
    }
    if first_inside > 0 {
        v[RET_1S_BPS] = (carried(n - 1) / carried(first_inside - 1)).ln() * 1e4;
    }
    let (mut r2, mut s1, mut q1) = (0.0, 0.0, 0.0);
    for j in first_inside..n {
        r2 += returns(j) * returns(j);
        s1 += flow(j).0;
        q1 += flow(j).1;
    }
    v[RV_1S_BPS] = r2.sqrt() * 1e4;
    if q1 >= MIN_VOLUME {
        v[TRADE_IMB_1S] = s1 / q1;
    }
    if let Some(j) = (0..n).rev().find(|&j| flow(j).1 > 0.0) {
        v[LOG1P_SECS_SINCE_TRADE] = (ts.saturating_sub(clock_at(j)) as f64 / 1e9).ln_1p();
    }
}
