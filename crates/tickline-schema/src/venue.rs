//! The router and a venue simulator process: what the router sends on its
//! order queue besides orders ([`OrderKind`]), and the [`ExecReport`]s that
//! come back on the report queue.

use bytemuck::{Pod, Zeroable};
use tickline_shm::impl_message;

use crate::Trace;

/// What an [`crate::Order`] message asks of the venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OrderKind {
    /// A new order.
    New = 0,
    /// Cancel the resting order `client_order_id`.
    Cancel = 1,
    /// No order: every later message has a `sent_ns` at least this one's,
    /// so the venue may take market data up to it (plus the entry
    /// latency). `sent_ns == u64::MAX`: the router is done. Its
    /// `client_order_id` is the last new order sent before it (a restarted
    /// router reads it to know what it still has to send).
    Watermark = 2,
    /// A watermark that asks for an [`ExecKind::Promise`] in answer: a
    /// router in lockstep with the venue (deterministic replays).
    Sync = 3,
}

try_from_u8!(OrderKind {
    New,
    Cancel,
    Watermark,
    Sync
});

/// What an [`ExecReport`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ExecKind {
    /// The order reached the venue and rests on the book.
    Accepted = 1,
    /// A fill (`qty` at `price`; `leaves` still open).
    Fill = 2,
    /// The order is gone without (further) fills: an IOC's rest expired,
    /// or a cancel took effect. `leaves` is what was left.
    Done = 3,
    /// The order (or cancel) was refused: `reason` says why.
    Rejected = 4,
    /// No order: the venue has taken every market event up to
    /// `exchange_ns` and answered every message sent before the watermark
    /// it names there.
    CaughtUp = 5,
    /// No order: every report whose `local_ns` is at or before this one's
    /// has been sent before it (the answer to an [`OrderKind::Sync`]). Its
    /// `report_seq` is the last report's before it: how many promises a
    /// run makes depends on when the router asked, so they take no number
    /// of their own.
    Promise = 6,
}

try_from_u8!(ExecKind {
    Accepted,
    Fill,
    Done,
    Rejected,
    CaughtUp,
    Promise
});

/// Why the venue refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum VenueReject {
    /// No book for the instrument (an id the market data never had, or
    /// not yet: before its first snapshot).
    UnknownInstrument = 1,
    /// The price is not positive or not a whole number of ticks.
    OffTick = 2,
    /// The quantity is not a positive whole number of lots.
    BadQty = 3,
    /// Side, time in force or kind is not a known code.
    BadField = 4,
    /// The id was used before (ids only grow).
    DuplicateId = 5,
    /// A cancel for an order that is not resting (already filled,
    /// expired, or never seen): the cancel lost its race.
    TooLateToCancel = 6,
    /// The recorded latency says the venue refused orders at that time.
    VenueRefused = 7,
    /// The book is crossed: no continuous trading (a pre-open, before the
    /// auction uncrosses it), so no order of ours is matched against it.
    BookCrossed = 8,
    /// The venue queues by exact FIFO but has seen no market-by-order
    /// record (a feed without `--book-records`): it cannot say what is
    /// ahead, so it does not pretend nothing is.
    NoOrderRecords = 9,
}

impl VenueReject {
    /// Every reason, in code order.
    pub const ALL: [VenueReject; 9] = [
        VenueReject::UnknownInstrument,
        VenueReject::OffTick,
        VenueReject::BadQty,
        VenueReject::BadField,
        VenueReject::DuplicateId,
        VenueReject::TooLateToCancel,
        VenueReject::VenueRefused,
        VenueReject::BookCrossed,
        VenueReject::NoOrderRecords,
    ];

    /// Its name in summaries and CSV.
    pub fn name(self) -> &'static str {
        match self {
            VenueReject::UnknownInstrument => "unknown_instrument",
            VenueReject::OffTick => "off_tick",
            VenueReject::BadQty => "bad_qty",
            VenueReject::BadField => "bad_field",
            VenueReject::DuplicateId => "duplicate_id",
            VenueReject::TooLateToCancel => "too_late_to_cancel",
            VenueReject::VenueRefused => "venue_refused",
            VenueReject::BookCrossed => "book_crossed",
            VenueReject::NoOrderRecords => "no_order_records",
        }
    }
}

/// Maker (the order rested and was hit) or taker (it crossed on arrival).
pub const LIQUIDITY_MAKER: u8 = 1;
/// See [`LIQUIDITY_MAKER`].
pub const LIQUIDITY_TAKER: u8 = 2;

/// venue simulator -> router: what the venue did, in exchange time.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct ExecReport {
    /// The order's trace (the market event the decision was made on).
    pub trace: Trace,
    /// 1, 2, ... in the order the venue made them.
    pub report_seq: u64,
    /// The order it is about (0 for [`ExecKind::CaughtUp`]).
    pub client_order_id: u64,
    /// Venue time of what happened, ns.
    pub exchange_ns: u64,
    /// When the answer reaches the router: `exchange_ns` plus the
    /// response latency.
    pub local_ns: u64,
    /// Fill price (a fill), else the order's price; fixed point.
    pub price: i64,
    /// Filled quantity (a fill); fixed point.
    pub qty: i64,
    /// Quantity still open after this report; fixed point.
    pub leaves: i64,
    /// Quantity filled so far, this report included: a report seen twice
    /// (a restarted router) is known by it.
    pub cum_qty: i64,
    /// A maker fill: the quantity ahead of the order when it joined its
    /// level; fixed point.
    pub queue_ahead: i64,
    /// Fee of a fill, currency (negative: a rebate).
    pub fee: f64,
    /// The instrument.
    pub instrument_id: u32,
    /// An [`ExecKind`].
    pub kind: u8,
    /// A [`crate::Side`] (0 for [`ExecKind::CaughtUp`]).
    pub side: i8,
    /// [`LIQUIDITY_MAKER`] or [`LIQUIDITY_TAKER`] for a fill, else 0.
    pub liquidity: u8,
    /// A [`VenueReject`] for [`ExecKind::Rejected`], else 0.
    pub reason: u8,
    /// A maker fill on market-by-order data: the orders ahead of ours
    /// when it joined its level (0 otherwise).
    pub orders_ahead: u32,
    /// Padding; zero.
    pub _pad: u32,
}

impl_message!(
    ExecReport,
    name = "ExecReport",
    version = 2,
    fields = [
        trace,
        report_seq,
        client_order_id,
        exchange_ns,
        local_ns,
        price,
        qty,
        leaves,
        cum_qty,
        queue_ahead,
        fee,
        instrument_id,
        kind,
        side,
        liquidity,
        reason,
        orders_ahead
    ]
);

impl ExecReport {
    /// Its kind, if the byte is a known one.
    pub fn exec_kind(&self) -> Option<ExecKind> {
        ExecKind::try_from(self.kind).ok()
    }
}
