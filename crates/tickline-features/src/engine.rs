//! The online feature engine: one book event in, the feature vector out, in
//! O(1) from rolling windows allocated at start.

use tickline_schema::{BookEvent, FeatureVector, FIXED_SCALE, MAX_FEATURES};

use crate::formulas as f;
use crate::idx::*;
use crate::rolling::{History, RollingSum, TimeWindow};
use crate::{DEFAULT_VALUE, DEPTH_K, FEATURE_SET_VERSION, N_FEATURES, WINDOW_1S_NS};

const _: () = assert!(N_FEATURES <= MAX_FEATURES && N_FEATURES <= 32);

/// What the features depend on besides the events.
#[derive(Clone, Debug)]
pub struct FeatureConfig {
    /// Tick size in fixed-point units, for `spread_ticks`.
    pub tick: i64,
    /// Events one time window can hold (more within a second are dropped early and counted).
    pub time_window_capacity: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            tick: FIXED_SCALE / 100,
            time_window_capacity: 1 << 16,
        }
    }
}

/// What the engine met, for the stage's summary.
#[derive(Clone, Debug, Default)]
pub struct FeatureStats {
    /// Events seen.
    pub events: u64,
    /// Per feature: events where it had no definition and took the default.
    pub defaulted: [u64; N_FEATURES],
    /// Time-window entries dropped before they aged out (capacity too small).
    pub window_overflows: u64,
}

/// Traded size below this (in fixed-point units, i.e. 1e-8 of a share or
/// coin) counts as no trading: running sums can leave such residue.
const MIN_VOLUME: f64 = 0.5;

struct State {
    prev: Option<BookEvent>,
    ofi1_10: RollingSum<10>,
    ofi1_100: RollingSum<100>,
    ofi5_100: RollingSum<100>,
    /// Last valid mid, carried forward, one entry per event.
    mids: History<101>,
    last_mid: Option<f64>,
    r2_100: RollingSum<100>,
    signed_100: RollingSum<100>,
    volume_100: RollingSum<100>,
    /// r^2, signed volume, volume over the last second; level = carried mid.
    second: TimeWindow,
    last_trade_ns: Option<u64>,
    /// Exchange time never runs backwards inside the engine: feeds interleave
    /// clocks (trade vs depth times), so windows use the running maximum.
    clock_ns: u64,
}

impl State {
    fn new(cfg: &FeatureConfig) -> Self {
        State {
            prev: None,
            ofi1_10: Default::default(),
            ofi1_100: Default::default(),
            ofi5_100: Default::default(),
            mids: Default::default(),
            last_mid: None,
            r2_100: Default::default(),
            signed_100: Default::default(),
            volume_100: Default::default(),
            second: TimeWindow::new(WINDOW_1S_NS, cfg.time_window_capacity),
            last_trade_ns: None,
            clock_ns: 0,
        }
    }
}

/// Per-instrument rolling state; one `update` per book event.
pub struct FeatureEngine {
    cfg: FeatureConfig,
    states: Vec<Option<Box<State>>>,
    /// Counters: events, defaulted values, window overflows.
    pub stats: FeatureStats,
}

impl FeatureEngine {
    /// An engine with every window allocated, before any event.
    pub fn new(cfg: FeatureConfig) -> Self {
        FeatureEngine {
            cfg,
            states: Vec::new(),
            stats: FeatureStats::default(),
        }
    }

    /// The features of `e` in f64 (after updating the windows with it), and
    /// the mask of those that took the default.
    pub fn compute(&mut self, e: &BookEvent) -> ([f64; N_FEATURES], u32) {
        let i = e.instrument_id as usize;
        if i >= self.states.len() {
            self.states.resize_with(i + 1, || None);
        }
        let cfg = &self.cfg;
        // One allocation per instrument, at its first event.
        let st = self.states[i].get_or_insert_with(|| Box::new(State::new(cfg)));
        let mut v = [f64::NAN; N_FEATURES];
        let mid = f::mid(e);
        if let (Some((b, a)), Some(m)) = (f::touch(e), mid) {
            let spread = (a.price - b.price) as f64;
            v[SPREAD_BPS] = spread / m * 1e4;
            v[SPREAD_TICKS] = spread / cfg.tick as f64;
        }
        v[OBI_1] = f::imbalance(e, 1).unwrap_or(f64::NAN);
        v[OBI_5] = f::imbalance(e, DEPTH_K).unwrap_or(f64::NAN);
        if let (Some(mp), Some(m)) = (f::microprice(e), mid) {
            v[MICROPRICE_DEV_BPS] = (mp - m) / m * 1e4;
        }

        let (o1, o5) = match &st.prev {
            Some(p) => (f::ofi_normalized(p, e, 1), f::ofi_normalized(p, e, DEPTH_K)),
            None => (0.0, 0.0),
        };
        st.ofi1_10.push(o1);
        st.ofi1_100.push(o1);
        st.ofi5_100.push(o5);
        v[OFI_1_SUM10] = st.ofi1_10.sum();
        v[OFI_1_SUM100] = st.ofi1_100.sum();
        v[OFI_5_SUM100] = st.ofi5_100.sum();

        // Log return of the mid since the last event that had one.
        let r = match (mid, st.last_mid) {
            (Some(m), Some(p)) => (m / p).ln(),
            _ => 0.0,
        };
        if mid.is_some() {
            st.last_mid = mid;
        }
        let level = st.last_mid.unwrap_or(f64::NAN);
        st.mids.push(level);
        let ret = |k: usize| match (st.mids.ago(0), st.mids.ago(k)) {
            (Some(now), Some(then)) => (now / then).ln() * 1e4,
            _ => f64::NAN,
        };
        v[RET_10_BPS] = ret(10);
        v[RET_100_BPS] = ret(100);
        st.r2_100.push(r * r);
        v[RV_100_BPS] = st.r2_100.sum().max(0.0).sqrt() * 1e4;

        let (signed, volume) = f::trade_flow(e);
        st.signed_100.push(signed);
        st.volume_100.push(volume);
        if st.volume_100.sum() >= MIN_VOLUME {
            v[TRADE_IMB_100] = st.signed_100.sum() / st.volume_100.sum();
        }

        st.clock_ns = st.clock_ns.max(e.trace.exchange_ns);
        let ts = st.clock_ns;
        let before = st.second.overflowed;
        st.second.push(ts, [r * r, signed, volume], level);
        self.stats.window_overflows += st.second.overflowed - before;
        let [r2_1s, signed_1s, volume_1s] = st.second.sums();
        if let Some(start) = st.second.level_at_start() {
            v[RET_1S_BPS] = (level / start).ln() * 1e4;
        }
        v[RV_1S_BPS] = r2_1s.max(0.0).sqrt() * 1e4;
        if volume_1s >= MIN_VOLUME {
            v[TRADE_IMB_1S] = signed_1s / volume_1s;
        }
        if volume > 0.0 {
            st.last_trade_ns = Some(ts);
        }
        if let Some(t) = st.last_trade_ns {
            v[LOG1P_SECS_SINCE_TRADE] = (ts.saturating_sub(t) as f64 / 1e9).ln_1p();
        }
        st.prev = Some(*e);
        self.stats.events += 1;
        finish(&mut v, &mut self.stats)
    }

    /// Fills `out` for event `e`: trace copied (stage stamps are the caller's),
    /// features as f32, defaulted mask, best bid and ask.
    pub fn update(&mut self, e: &BookEvent, out: &mut FeatureVector) {
        let (v, mask) = self.compute(e);
        out.trace = e.trace;
        out.instrument_id = e.instrument_id;
        out.feature_set_version = FEATURE_SET_VERSION;
        out.len = N_FEATURES as u32;
        out.defaulted = mask;
        out.best_bid = e.best_bid().map_or(0, |l| l.price);
        out.best_ask = e.best_ask().map_or(0, |l| l.price);
        for (o, x) in out.values.iter_mut().zip(v.iter()) {
            *o = *x as f32;
        }
        out.values[N_FEATURES..].fill(0.0);
    }
}

/// The one place undefined values (NaN, +-inf) become the declared default.
pub(crate) fn finish(
    v: &mut [f64; N_FEATURES],
    stats: &mut FeatureStats,
) -> ([f64; N_FEATURES], u32) {
    let mut mask = 0u32;
    for (i, x) in v.iter_mut().enumerate() {
        if !x.is_finite() {
            *x = DEFAULT_VALUE;
            mask |= 1 << i;
            stats.defaulted[i] += 1;
        }
    }
    (*v, mask)
}
