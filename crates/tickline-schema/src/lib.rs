//! The messages of each hop of the pipeline, as fixed-layout `#[repr(C)]`
//! structs that cross process boundaries by plain copy.
//!
//! Every message carries a [`Trace`]: the sequence number of the market event
//! that caused it and the CLOCK_MONOTONIC time at which each stage published,
//! so any stage downstream can compute per-hop and end-to-end latency.
//!
//! Prices and quantities are fixed-point `i64` in units of 1e-8
//! ([`FIXED_SCALE`]): exact for equities' 1e-4 ticks and crypto's 1e-8 sizes.
#![forbid(unsafe_code)]

use bytemuck::{Pod, Zeroable};
use std::mem::{align_of, size_of};
use tickline_shm::impl_message;

/// `TryFrom<u8>` for a fieldless `#[repr(u8)]` enum from its variants: a
/// byte read from shared memory is a known code, or refused as itself.
macro_rules! try_from_u8 {
    ($t:ident { $($v:ident),+ $(,)? }) => {
        impl TryFrom<u8> for $t {
            type Error = u8;
            fn try_from(v: u8) -> Result<Self, u8> {
                $(if v == $t::$v as u8 {
                    return Ok($t::$v);
                })+
                Err(v)
            }
        }
    };
}

pub mod flight;
pub mod prediction_csv;
pub mod telemetry;
pub mod venue;

/// Price and quantity scale: a value of 1.0 is stored as 100_000_000.
pub const FIXED_SCALE: i64 = 100_000_000;
/// A non-negative decimal (`61800.2`, `0.00000001`) to fixed point, exactly;
/// None if it is not digits with at most one point, has more than 8
/// decimals that are not zero, or overflows.
pub fn parse_fixed(s: &[u8]) -> Option<i64> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    let mut frac = frac;
    while let Some((b'0', rest)) = frac.split_last() {
        frac = rest;
    }
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if int.is_empty() || int.len() > 18 || !digits(int) || frac.len() > 8 || !digits(frac) {
        return None;
    }
    let whole = int.iter().fold(0i64, |v, &b| v * 10 + (b - b'0') as i64);
    let mut v = whole.checked_mul(FIXED_SCALE)?;
    let mut scale = FIXED_SCALE / 10;
    for &d in frac {
        v = v.checked_add((d - b'0') as i64 * scale)?;
        scale /= 10;
    }
    Some(v)
}

/// Book levels per side carried by a [`BookEvent`].
pub const MAX_LEVELS: usize = 10;
/// Feature slots in a [`FeatureVector`].
pub const MAX_FEATURES: usize = 32;

/// The stages, in pipeline order; index into [`Trace::stamps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stage {
    /// The feed-handler: ingest.
    Feed = 0,
    /// The feature stage.
    Feature = 1,
    /// The inference stage.
    Inference = 2,
    /// The order router.
    Router = 3,
    /// The venue simulator: reads the feed's events beside the pipeline,
    /// stamps nothing (its reports are off the decision path).
    Venue = 4,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 4] = [Stage::Feed, Stage::Feature, Stage::Inference, Stage::Router];

    /// The stage that publishes this one's input (None for the feed).
    pub fn upstream(self) -> Option<Stage> {
        match self {
            Stage::Feed => None,
            Stage::Feature => Some(Stage::Feed),
            Stage::Inference => Some(Stage::Feature),
            Stage::Router => Some(Stage::Inference),
            Stage::Venue => Some(Stage::Feed),
        }
    }

    /// The stage's process name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Feed => "feed-handler",
            Stage::Feature => "feature",
            Stage::Inference => "inference",
            Stage::Router => "order-router",
            Stage::Venue => "venue-sim",
        }
    }
}

/// Provenance and timing carried by every message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Trace {
    /// Global sequence number of the market event at the root of this message.
    pub seq: u64,
    /// The venue's time for that event, ns (epoch or since midnight, per
    /// source: the table in docs/architecture.md).
    pub exchange_ns: u64,
    /// When that event's data reached us, ns since the epoch (a capture's
    /// recorded receive time, or the socket's); 0 where the source has none.
    pub receive_ns: u64,
    /// CLOCK_MONOTONIC ns at which each [`Stage`] published; 0 = not passed.
    /// `stamps[Feed]` is the ingest time.
    pub stamps: [u64; 4],
    /// What is known about the market data at the root ([`Trace::STALE`],
    /// [`Trace::OUT_OF_ORDER`]);
    /// passed on by every stage with the rest of the trace.
    pub flags: u64,
}

impl Trace {
    /// The book this event came from may have missed messages (a gap the
    /// feed could not recover): it is not to be traded on.
    pub const STALE: u64 = 1;
    /// The event's exchange time is earlier than that of an event of its
    /// instrument published before it (a source that mixes clocks, e.g. a
    /// trade's time after a depth message's send time). Passed on, never
    /// reordered; time windows count the backward step as no time.
    pub const OUT_OF_ORDER: u64 = 2;

    /// Whether the root event's exchange time went backwards for its instrument.
    pub fn is_out_of_order(&self) -> bool {
        self.flags & Self::OUT_OF_ORDER != 0
    }

    /// Whether the root event's book is stale.
    pub fn is_stale(&self) -> bool {
        self.flags & Self::STALE != 0
    }

    /// Records that `stage` published at `ns`.
    pub fn stamp(&mut self, stage: Stage, ns: u64) {
        // The venue simulator is beside the pipeline: it has no stamp.
        if let Some(s) = self.stamps.get_mut(stage as usize) {
            *s = ns;
        }
    }

    /// When `stage` published, if it did.
    pub fn stamped(&self, stage: Stage) -> Option<u64> {
        let t = self.stamps.get(stage as usize).copied().unwrap_or(0);
        (t != 0).then_some(t)
    }

    /// Ingest time of the root market event.
    pub fn ingest_ns(&self) -> u64 {
        self.stamps[Stage::Feed as usize]
    }
}

/// One price level: fixed-point price and total quantity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Level {
    /// Fixed-point price.
    pub price: i64,
    /// Fixed-point total quantity.
    pub qty: i64,
}

/// What changed the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    /// A quote changed (add, cancel, replace, depth update).
    Quote = 1,
    /// A trade printed; `trade_*` fields are set.
    Trade = 2,
    /// The book was reset or rebuilt from a snapshot.
    Snapshot = 3,
    /// One record of the source's own book changes ([`BookEvent::order`]):
    /// an order of an L3 source, or levels of an L2 one. Published only to
    /// fan-out queues (the venue simulator's queue models); the book it
    /// carries may be mid-way through the venue's event.
    Order = 4,
}

try_from_u8!(EventKind {
    Quote,
    Trade,
    Snapshot,
    Order
});

/// Order side. In a trade, the side of the aggressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(i8)]
pub enum Side {
    /// Bid side.
    Buy = 1,
    /// Ask side.
    Sell = -1,
}

impl TryFrom<i8> for Side {
    type Error = i8;
    fn try_from(v: i8) -> Result<Self, i8> {
        match v {
            1 => Ok(Side::Buy),
            -1 => Ok(Side::Sell),
            other => Err(other),
        }
    }
}

/// feed-handler -> feature: the top of one instrument's book after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct BookEvent {
    /// Provenance and timing.
    pub trace: Trace,
    /// The instrument.
    pub instrument_id: u32,
    /// An [`EventKind`].
    pub kind: u8,
    /// Valid levels per side (<= [`MAX_LEVELS`]); the rest are zero.
    pub depth: u8,
    /// Aggressor [`Side`] of the trade, 0 when not a trade.
    pub trade_side: i8,
    /// Padding; zero.
    pub _reserved: u8,
    /// A trade's fixed-point price (0 for a quote).
    pub trade_price: i64,
    /// A trade's fixed-point quantity (0 for a quote).
    pub trade_qty: i64,
    /// Best first.
    pub bids: [Level; MAX_LEVELS],
    /// Best first.
    pub asks: [Level; MAX_LEVELS],
    /// The record of an [`EventKind::Order`] event; zero otherwise.
    pub order: MarketOrder,
}

/// What a record of the source's book did: to one order (market by order),
/// or to price levels ([`OrderAction::Levels`], market by price).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OrderAction {
    /// A new order rests.
    Add = 1,
    /// The order lost `qty` (gone at zero); its priority is kept.
    Cancel = 2,
    /// The order now rests at `price` with `qty` (priority by the venue's
    /// rule: CME's is lost on a new price or a larger size).
    Modify = 3,
    /// `qty` of the order traded; the book changes by the records that
    /// follow (Databento's CME data: a Cancel or Modify).
    Fill = 4,
    /// Every order (every level) of the instrument is gone.
    Clear = 5,
    /// Market by price: each level in the event's `bids` and `asks` (up
    /// to `depth` a side, price above 0; the rest zero) now holds its `qty`
    /// (0: it is gone), in that order. The record's other fields are 0.
    Levels = 6,
}

try_from_u8!(OrderAction {
    Add,
    Cancel,
    Modify,
    Fill,
    Clear,
    Levels
});

/// One book record: someone else's order at the venue, or (with the
/// event's levels) new totals of levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct MarketOrder {
    /// The venue's order id.
    pub order_id: u64,
    /// Fixed point; for a Cancel or Fill, the record's (the order's) price.
    pub price: i64,
    /// Fixed point: added, cancelled, the new size, or filled.
    pub qty: i64,
    /// An [`OrderAction`].
    pub action: u8,
    /// The order's [`Side`] (0 where the record does not say).
    pub side: i8,
    /// Padding; zero.
    pub _pad: [u8; 6],
}

/// feature -> inference: one fixed-length feature vector.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct FeatureVector {
    /// Provenance and timing.
    pub trace: Trace,
    /// The instrument.
    pub instrument_id: u32,
    /// Version of the declared feature set that filled `values`.
    pub feature_set_version: u32,
    /// Used entries of `values`.
    pub len: u32,
    /// Bit i set: feature i had no defined value and holds its declared default.
    pub defaulted: u32,
    /// Best bid and ask when the features were computed, passed on for pricing.
    pub best_bid: i64,
    /// Best ask price at the event (0: none).
    pub best_ask: i64,
    /// The features, in `FEATURE_NAMES` order; unused slots 0.
    pub values: [f32; MAX_FEATURES],
}

/// inference -> order-router: the model's view of the next move.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct Prediction {
    /// Provenance and timing.
    pub trace: Trace,
    /// The instrument.
    pub instrument_id: u32,
    /// Version of the model that predicted.
    pub model_version: u32,
    /// Feature set of the vector it predicted from.
    pub feature_set_version: u32,
    /// Horizon of the prediction, in book events.
    pub horizon_events: u32,
    /// Probability that the mid price is higher after the horizon.
    pub prob_up: f64,
    /// Best bid at the event (fixed point, 0: none).
    pub best_bid: i64,
    /// Best ask at the event (fixed point, 0: none).
    pub best_ask: i64,
}

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum TimeInForce {
    /// Rests until the end of the day.
    Day = 1,
    /// What does not fill at once is cancelled.
    ImmediateOrCancel = 2,
    /// Rests until cancelled.
    GoodTillCancel = 3,
}

try_from_u8!(TimeInForce {
    Day,
    ImmediateOrCancel,
    GoodTillCancel
});

/// order-router -> gateway: a limit order as decided.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct Order {
    /// Provenance and timing.
    pub trace: Trace,
    /// Unique across restarts of the router.
    pub client_order_id: u64,
    /// The instrument.
    pub instrument_id: u32,
    /// A [`Side`].
    pub side: i8,
    /// A [`TimeInForce`].
    pub time_in_force: u8,
    /// An [`venue::OrderKind`]: a new order, a cancel of
    /// `client_order_id`, or a watermark (no order; see `sent_ns`).
    pub kind: u8,
    /// Padding; zero.
    pub _reserved: u8,
    /// Limit price, fixed point.
    pub price: i64,
    /// Quantity, fixed point.
    pub qty: i64,
    /// The probability the decision was made on.
    pub prob_up: f64,
    /// Exchange time at which the router sent it: the router's clock in a
    /// replay, from which the venue's latency model counts. A watermark
    /// says every later message has a `sent_ns` at least this.
    pub sent_ns: u64,
}

impl_message!(
    BookEvent,
    name = "BookEvent",
    version = 3,
    fields = [
        trace,
        instrument_id,
        kind,
        depth,
        trade_side,
        trade_price,
        trade_qty,
        bids,
        asks,
        order
    ]
);
impl_message!(
    FeatureVector,
    name = "FeatureVector",
    version = 2,
    fields = [
        trace,
        instrument_id,
        feature_set_version,
        len,
        defaulted,
        best_bid,
        best_ask,
        values
    ]
);
impl_message!(
    Prediction,
    name = "Prediction",
    version = 2,
    fields = [
        trace,
        instrument_id,
        model_version,
        feature_set_version,
        horizon_events,
        prob_up,
        best_bid,
        best_ask
    ]
);
impl_message!(
    Order,
    name = "Order",
    version = 3,
    fields = [
        trace,
        client_order_id,
        instrument_id,
        side,
        time_in_force,
        kind,
        price,
        qty,
        prob_up,
        sent_ns
    ]
);

/// A message that carries a [`Trace`]: what the stage runtime needs to
/// resume, stamp and time any hop generically.
pub trait Traced {
    /// The message's trace.
    fn trace(&self) -> &Trace;
    /// The message's trace, to stamp.
    fn trace_mut(&mut self) -> &mut Trace;
    /// A detail only fan-out queues take (`--also-out`), never the main
    /// `--out`: a market-by-order record is the venue simulator's, not the
    /// decision path's.
    #[inline]
    fn fan_out_only(&self) -> bool {
        false
    }
}

macro_rules! impl_traced {
    ($($t:ty),*) => {$(
        impl Traced for $t {
            #[inline]
            fn trace(&self) -> &Trace {
                &self.trace
            }
            #[inline]
            fn trace_mut(&mut self) -> &mut Trace {
                &mut self.trace
            }
        }
    )*};
}
impl_traced!(FeatureVector, Prediction, Order, venue::ExecReport);

impl Traced for BookEvent {
    #[inline]
    fn trace(&self) -> &Trace {
        &self.trace
    }
    #[inline]
    fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }
    #[inline]
    fn fan_out_only(&self) -> bool {
        self.kind == EventKind::Order as u8
    }
}

// Sizes are part of the wire contract between separately built processes:
// a queue's layout hash covers them, so a segment of another layout is
// refused. (Trace grew its `flags` word from 48 to 56 bytes.)
const _: () = {
    assert!(size_of::<Trace>() == 64 && align_of::<Trace>() == 8);
    assert!(size_of::<Level>() == 16);
    assert!(size_of::<MarketOrder>() == 32);
    assert!(size_of::<BookEvent>() == 440 && align_of::<BookEvent>() == 8);
    assert!(size_of::<FeatureVector>() == 224 && align_of::<FeatureVector>() == 8);
    assert!(size_of::<Prediction>() == 104 && align_of::<Prediction>() == 8);
    assert!(size_of::<Order>() == 112 && align_of::<Order>() == 8);
    assert!(size_of::<venue::ExecReport>() == 160 && align_of::<venue::ExecReport>() == 8);
};

impl BookEvent {
    /// The event kind, if the byte is a known one.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::try_from(self.kind).ok()
    }

    /// The best bid level, if the bid side has one.
    pub fn best_bid(&self) -> Option<Level> {
        (self.depth > 0 && self.bids[0].qty > 0).then_some(self.bids[0])
    }

    /// The best ask level, if the ask side has one.
    pub fn best_ask(&self) -> Option<Level> {
        (self.depth > 0 && self.asks[0].qty > 0).then_some(self.asks[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickline_shm::Message;

    #[test]
    fn layout_hashes_are_distinct() {
        let hashes = [
            BookEvent::LAYOUT_HASH,
            FeatureVector::LAYOUT_HASH,
            Prediction::LAYOUT_HASH,
            Order::LAYOUT_HASH,
            venue::ExecReport::LAYOUT_HASH,
        ];
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                assert_ne!(hashes[i], hashes[j]);
            }
        }
    }

    #[test]
    fn trace_stamps_by_stage() {
        let mut t = Trace::default();
        assert_eq!(t.stamped(Stage::Feature), None);
        t.stamp(Stage::Feature, 42);
        assert_eq!(t.stamped(Stage::Feature), Some(42));
        assert_eq!(t.stamps, [0, 42, 0, 0]);
    }

    #[test]
    fn enum_codes_round_trip() {
        use EventKind as K;
        for k in [K::Quote, K::Trade, K::Snapshot, K::Order] {
            assert_eq!(EventKind::try_from(k as u8), Ok(k));
        }
        use OrderAction as A;
        for a in [A::Add, A::Cancel, A::Modify, A::Fill, A::Clear, A::Levels] {
            assert_eq!(OrderAction::try_from(a as u8), Ok(a));
        }
        assert!(OrderAction::try_from(0).is_err());
        assert_eq!(EventKind::try_from(9), Err(9));
        for s in [Side::Buy, Side::Sell] {
            assert_eq!(Side::try_from(s as i8), Ok(s));
        }
        assert!(Side::try_from(0).is_err());
        for t in [
            TimeInForce::Day,
            TimeInForce::ImmediateOrCancel,
            TimeInForce::GoodTillCancel,
        ] {
            assert_eq!(TimeInForce::try_from(t as u8), Ok(t));
        }
        use venue::{ExecKind as E, OrderKind as O};
        for o in [O::New, O::Cancel, O::Watermark, O::Sync] {
            assert_eq!(O::try_from(o as u8), Ok(o));
        }
        for e in [
            E::Accepted,
            E::Fill,
            E::Done,
            E::Rejected,
            E::CaughtUp,
            E::Promise,
        ] {
            assert_eq!(E::try_from(e as u8), Ok(e));
        }
        assert_eq!(O::try_from(4), Err(4));
        assert_eq!(E::try_from(0), Err(0));
        assert_eq!(E::try_from(7), Err(7));
    }

    #[test]
    fn best_levels_respect_depth() {
        let mut e = BookEvent::zeroed();
        assert_eq!(e.best_bid(), None);
        e.depth = 1;
        e.bids[0] = Level {
            price: 100 * FIXED_SCALE,
            qty: 5,
        };
        assert_eq!(e.best_bid().map(|l| l.qty), Some(5));
        assert_eq!(e.best_ask(), None);
    }
}
