//! The online feature engine: one book event in, the feature vector out, in
//! O(1) from rolling windows allocated at start.

use tickline_schema::{BookEvent, FeatureVector, FIXED_SCALE, MAX_FEATURES};

use crate::formulas as f;
use crate::idx::*;
use crate::rolling::History;
use crate::state::{
    block_words, digest, layout_tag, Block, HeapStore, LastOut, StateError, StateStore, MIDS, W10,
    W100,
};
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

/// How an event met the engine's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied now; the vector is its features.
    Now,
    /// The last event applied before a restart: not applied again; the
    /// vector is the one computed then.
    Before,
    /// Older than the last event applied before a restart: not applied
    /// again, no vector (it was passed on before that one).
    Stale,
}

/// Per-instrument rolling state in a [`StateStore`]; one update per book event.
pub struct FeatureEngine<S: StateStore = HeapStore> {
    cfg: FeatureConfig,
    store: S,
    words: usize,
    tag: u64,
    run: u64,
    /// Counters: events, defaulted values, window overflows.
    pub stats: FeatureStats,
}

impl FeatureEngine<HeapStore> {
    /// An engine whose state lives on the heap.
    pub fn new(cfg: FeatureConfig) -> Self {
        FeatureEngine::with_store(cfg, HeapStore::default(), 0)
    }

    /// As [`FeatureEngine::try_compute`]; the heap store cannot fail.
    pub fn compute(&mut self, e: &BookEvent) -> ([f64; N_FEATURES], u32) {
        match self.try_compute(e) {
            Ok((v, mask, _)) => (v, mask),
            Err(err) => unreachable!("heap state: {err}"),
        }
    }

    /// As [`FeatureEngine::try_update`]; the heap store cannot fail.
    pub fn update(&mut self, e: &BookEvent, out: &mut FeatureVector) {
        if let Err(err) = self.try_update(e, out) {
            unreachable!("heap state: {err}")
        }
    }
}

impl<S: StateStore> FeatureEngine<S> {
    /// An engine keeping its state in `store`, for the pipeline run `run`
    /// (blocks of another run are refused; 0 accepts any).
    pub fn with_store(cfg: FeatureConfig, store: S, run: u64) -> Self {
        let capacity = cfg.time_window_capacity.max(2);
        FeatureEngine {
            words: block_words(capacity),
            tag: layout_tag(capacity, WINDOW_1S_NS, cfg.tick),
            run,
            cfg: FeatureConfig {
                time_window_capacity: capacity,
                ..cfg
            },
            store,
            stats: FeatureStats::default(),
        }
    }

    /// Digest of every vector computed so far, over all instruments in
    /// order, predecessors' included when the state outlives processes:
    /// equal for two runs that computed the same vectors for the same events.
    pub fn digest(&mut self) -> Result<u64, StateError> {
        let mut d = 0u64;
        for i in self.store.instruments() {
            let words = block_of(&mut self.store, i, self.words, self.tag, self.run)?;
            let cur = Block::split(words, self.cfg.time_window_capacity).old;
            d = (d.rotate_left(17) ^ cur.digest ^ i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        Ok(d)
    }

    /// The store, for its own counts.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The features of `e` in f64 (after updating the windows with it), the
    /// mask of those that took the default, and how `e` met the state.
    pub fn try_compute(
        &mut self,
        e: &BookEvent,
    ) -> Result<([f64; N_FEATURES], u32, Applied), StateError> {
        let persistent = self.store.persistent();
        let (capacity, tick) = (self.cfg.time_window_capacity, self.cfg.tick);
        let words = block_of(
            &mut self.store,
            e.instrument_id,
            self.words,
            self.tag,
            self.run,
        )?;
        let mut b = Block::split(words, capacity);
        let old = b.old;
        let seq = e.trace.seq;
        if persistent && old.events > 0 && seq <= old.last_seq {
            let how = if seq == old.last_seq {
                Applied::Before
            } else {
                Applied::Stale
            };
            return Ok((b.old_out.values, b.old_out.mask as u32, how));
        }
        let mut v = [f64::NAN; N_FEATURES];
        snapshot_features(e, tick, &mut v);
        update_windows(&mut b, e, &mut v);
        let (v, mask) = finish(&mut v, &mut self.stats);
        let st = &mut *b.new;
        let overflows = st.second.overflowed - old.second.overflowed;
        st.events += 1;
        st.last_seq = seq;
        *b.new_out = LastOut {
            values: v,
            mask: mask as u64,
        };
        st.digest = digest(st.digest, seq, &v, mask);
        b.commit();
        self.stats.events += 1;
        self.stats.window_overflows += overflows;
        Ok((v, mask, Applied::Now))
    }

    /// Fills `out` for event `e`: trace copied (stage stamps are the caller's),
    /// features as f32, defaulted mask, best bid and ask. `out` is left as
    /// it was for an [`Applied::Stale`] event.
    pub fn try_update(
        &mut self,
        e: &BookEvent,
        out: &mut FeatureVector,
    ) -> Result<Applied, StateError> {
        let (v, mask, how) = self.try_compute(e)?;
        if how == Applied::Stale {
            return Ok(how);
        }
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
        Ok(how)
    }
}

/// `instrument`'s block from `store`, checked against the layout `tag` and
/// `run`; a new (all zero) one is claimed for them.
fn block_of<S: StateStore>(
    store: &mut S,
    instrument: u32,
    len: usize,
    tag: u64,
    run: u64,
) -> Result<&mut [u64], StateError> {
    let words = store
        .block(instrument, len)
        .map_err(|source| StateError::Store { instrument, source })?;
    if words.len() != len {
        return Err(StateError::Size {
            instrument,
            len: words.len(),
            need: len,
        });
    }
    let (found, found_run) = (words[0], words[1]);
    if found == 0 {
        words[1] = run;
        words[0] = tag;
    } else if found != tag {
        return Err(StateError::Layout {
            instrument,
            found,
            expected: tag,
        });
    } else if found_run != run && run != 0 {
        return Err(StateError::OtherRun {
            instrument,
            found: found_run,
            expected: run,
        });
    }
    Ok(words)
}

/// Features of the book as it stands: spread, imbalance, microprice.
fn snapshot_features(e: &BookEvent, tick: i64, v: &mut [f64; N_FEATURES]) {
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
}

/// Pushes `e` into every window of the block's new scalars and rings, and
/// reads the window features; `e` becomes the previous event.
fn update_windows(b: &mut Block<'_>, e: &BookEvent, v: &mut [f64; N_FEATURES]) {
    let st = &mut *b.new;
    let n = st.events;
    let prev = (n > 0).then(|| &b.prev[((n - 1) % 2) as usize]);
    let (o1, o5) = match prev {
        Some(p) => (f::ofi_normalized(p, e, 1), f::ofi_normalized(p, e, DEPTH_K)),
        None => (0.0, 0.0),
    };
    st.ofi1_10.push(b.ofi1_10, W10, n, o1);
    st.ofi1_100.push(b.ofi1_100, W100, n, o1);
    st.ofi5_100.push(b.ofi5_100, W100, n, o5);
    v[OFI_1_SUM10] = st.ofi1_10.sum();
    v[OFI_1_SUM100] = st.ofi1_100.sum();
    v[OFI_5_SUM100] = st.ofi5_100.sum();

    // Log return of the mid since the last event that had one.
    let mid = f::mid(e);
    let last_mid = (st.has_last_mid != 0).then_some(st.last_mid);
    let r = match (mid, last_mid) {
        (Some(m), Some(p)) => (m / p).ln(),
        _ => 0.0,
    };
    if let Some(m) = mid {
        st.last_mid = m;
        st.has_last_mid = 1;
    }
    let level = if st.has_last_mid != 0 {
        st.last_mid
    } else {
        f64::NAN
    };
    History::push(b.mids, MIDS, n, level);
    let ret = |k: usize| match (
        History::ago(b.mids, MIDS, n + 1, 0),
        History::ago(b.mids, MIDS, n + 1, k),
    ) {
        (Some(now), Some(then)) => (now / then).ln() * 1e4,
        _ => f64::NAN,
    };
    v[RET_10_BPS] = ret(10);
    v[RET_100_BPS] = ret(100);
    st.r2_100.push(b.r2_100, W100, n, r * r);
    v[RV_100_BPS] = st.r2_100.sum().max(0.0).sqrt() * 1e4;

    let (signed, volume) = f::trade_flow(e);
    st.signed_100.push(b.signed_100, W100, n, signed);
    st.volume_100.push(b.volume_100, W100, n, volume);
    if st.volume_100.sum() >= MIN_VOLUME {
        v[TRADE_IMB_100] = st.signed_100.sum() / st.volume_100.sum();
    }

    st.clock_ns = st.clock_ns.max(e.trace.exchange_ns);
    let ts = st.clock_ns;
    st.second.push(
        &mut b.window,
        WINDOW_1S_NS,
        ts,
        [r * r, signed, volume],
        level,
    );
    let [r2_1s, signed_1s, volume_1s] = st.second.sums();
    if let Some(start) = st.second.level_at_start() {
        v[RET_1S_BPS] = (level / start).ln() * 1e4;
    }
    v[RV_1S_BPS] = r2_1s.max(0.0).sqrt() * 1e4;
    if volume_1s >= MIN_VOLUME {
        v[TRADE_IMB_1S] = signed_1s / volume_1s;
    }
    if volume > 0.0 {
        st.last_trade_ns = ts;
        st.has_last_trade = 1;
    }
    if st.has_last_trade != 0 {
        v[LOG1P_SECS_SINCE_TRADE] = (ts.saturating_sub(st.last_trade_ns) as f64 / 1e9).ln_1p();
    }
    b.prev[(n % 2) as usize] = *e;
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
