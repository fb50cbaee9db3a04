//! Order-book features for the model, computed per book event in O(1) from
//! preallocated rolling windows, identically online (the feature stage) and
//! offline (recording training data).
//!
//! The feature set is declared once here: [`FEATURE_NAMES`] in order, with
//! [`FEATURE_SET_VERSION`]. Values are computed in f64 and emitted as f32. A
//! value with no definition (an empty side, a zero volume, not enough
//! history) is never NaN or infinite: it takes [`DEFAULT_VALUE`], its bit is
//! set in `FeatureVector::defaulted`, and it is counted per feature.
//! Time windows run on the exchange timestamp, so a replay gives the same
//! features however fast it runs.
#![forbid(unsafe_code)]

mod engine;
pub mod formulas;
pub mod naive;
pub mod rolling;
mod state;
pub mod training;

pub use engine::{Applied, FeatureConfig, FeatureEngine, FeatureStats};
pub use state::{block_words, filled_slots, HeapStore, StateError, StateStore};

/// Bump when a feature's meaning, order or window changes.
pub const FEATURE_SET_VERSION: u32 = 1;

/// Features in the set.
pub const N_FEATURES: usize = 16;

/// The feature set, in vector order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "spread_bps",
    "spread_ticks",
    "obi_1",
    "obi_5",
    "microprice_dev_bps",
    "ofi_1_sum10",
    "ofi_1_sum100",
    "ofi_5_sum100",
    "ret_10_bps",
    "ret_100_bps",
    "ret_1s_bps",
    "rv_100_bps",
    "rv_1s_bps",
    "trade_imb_100",
    "trade_imb_1s",
    "log1p_secs_since_trade",
];

/// Value of a feature that has no definition at an event.
pub const DEFAULT_VALUE: f64 = 0.0;

/// Index of each feature, by name, for code that reads vectors. Each
/// constant is the position of the feature of the same name in
/// [`FEATURE_NAMES`].
#[allow(missing_docs)]
pub mod idx {
    pub const SPREAD_BPS: usize = 0;
    pub const SPREAD_TICKS: usize = 1;
    pub const OBI_1: usize = 2;
    pub const OBI_5: usize = 3;
    pub const MICROPRICE_DEV_BPS: usize = 4;
    pub const OFI_1_SUM10: usize = 5;
    pub const OFI_1_SUM100: usize = 6;
    pub const OFI_5_SUM100: usize = 7;
    pub const RET_10_BPS: usize = 8;
    pub const RET_100_BPS: usize = 9;
    pub const RET_1S_BPS: usize = 10;
    pub const RV_100_BPS: usize = 11;
    pub const RV_1S_BPS: usize = 12;
    pub const TRADE_IMB_100: usize = 13;
    pub const TRADE_IMB_1S: usize = 14;
    pub const LOG1P_SECS_SINCE_TRADE: usize = 15;
}

/// Levels used by the multi-level imbalance and OFI.
pub const DEPTH_K: usize = 5;
/// Time windows: one second of exchange time.
pub const WINDOW_1S_NS: u64 = 1_000_000_000;
