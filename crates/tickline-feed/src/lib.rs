//! Market-data sources for the feed-handler.
//!
//! A [`Source`] reads one input message at a time, applies it to the
//! instrument's [`OrderBook`] and says whether a book event resulted. Bad input
//! is counted in [`FeedStats`] (and the first of each kind logged) and skipped:
//! a source never panics on its input.
#![forbid(unsafe_code)]

pub mod binance;
pub mod databento;
pub mod itch;
pub mod lobster;
pub mod moldudp64;
mod reader;
pub mod snapshot;
mod spec;
mod stage_input;
mod stats;
pub mod synthetic;

pub use reader::{EventReader, InstrumentMap, InstrumentMapError, ReadStep, Shard};
pub use spec::{is_live, open_source, SourceError, SPEC_HELP};
pub use stage_input::SourceInput;
pub use stats::{FeedError, FeedStats};

use tickline_book::OrderBook;
use tickline_schema::{BookEvent, EventKind, MarketOrder, MAX_LEVELS};

/// Now, ns since the epoch (CLOCK_REALTIME): a live source's receive time,
/// comparable with exchange times that are epoch-based.
pub(crate) fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Fixed-point units per share, per whole price unit.
pub const UNIT: i64 = tickline_schema::FIXED_SCALE;
/// Highest instrument id a source may use.
pub const MAX_INSTRUMENTS: u32 = 1 << 16;

/// A book change or trade, to be published with the book's top levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedEvent {
    /// The instrument.
    pub instrument: u32,
    /// Quote (a book change) or trade.
    pub kind: EventKind,
    /// Exchange time, ns (since midnight for ITCH and LOBSTER).
    pub exchange_ns: u64,
    /// When the data reached us, ns since the epoch; 0 where the source
    /// has no receive time (files without one, the synthetic market).
    pub receive_ns: u64,
    /// Aggressor side (1 buy, -1 sell, 0 unknown) of a trade.
    pub trade_side: i8,
    /// A trade's price, fixed point.
    pub trade_price: i64,
    /// A trade's quantity, fixed point.
    pub trade_qty: i64,
    /// An [`EventKind::Order`] event's market-by-order record.
    pub order: MarketOrder,
}

impl FeedEvent {
    /// A book change of `instrument` at `exchange_ns`.
    pub fn quote(instrument: u32, exchange_ns: u64) -> Self {
        FeedEvent {
            instrument,
            kind: EventKind::Quote,
            exchange_ns,
            receive_ns: 0,
            trade_side: 0,
            trade_price: 0,
            trade_qty: 0,
            order: MarketOrder::default(),
        }
    }
}

/// What one call to [`Source::next`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A book changed or a trade printed.
    Event(FeedEvent),
    /// A message was consumed without an event (admin message, bad input).
    Skip,
    /// A live source has nothing right now.
    Idle,
    /// The input is exhausted.
    End,
}

impl Step {
    /// The step, its event (if any) stamped received at `receive_ns`.
    pub fn received_at(self, receive_ns: u64) -> Step {
        match self {
            Step::Event(mut ev) => {
                ev.receive_ns = receive_ns;
                Step::Event(ev)
            }
            other => other,
        }
    }
}

/// A market-data source: one input message at a time applied to the books.
pub trait Source {
    /// Reads and applies the next input message.
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step;

    /// Symbol of an instrument id, where the source knows it.
    fn symbol(&self, _instrument: u32) -> Option<&str> {
        None
    }

    /// Whether exchange times are ns since the epoch (Binance, Databento),
    /// and so comparable with receive times: the feed latency is measured
    /// only then (ITCH and LOBSTER count from midnight).
    fn epoch_times(&self) -> bool {
        false
    }

    /// Input messages known to be lost in transport (sequence gaps).
    fn lost_messages(&self) -> u64 {
        0
    }

    /// The source's own checks and counts, by name, for the summary
    /// (e.g. Binance's bookTicker comparisons, skipped stream types).
    fn checks(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// From now on, also yields each record of the book's changes as an
    /// [`EventKind::Order`] event, before the book event it is part of;
    /// which kind it has. None: the source has no such records.
    fn yield_records(&mut self) -> Option<Records> {
        None
    }

    /// Writes what the record event it gave last carries beyond its
    /// [`MarketOrder`] into `out` (a levels record: the levels it sets, in
    /// `out.bids` and `out.asks`). Called right after [`Source::next`].
    fn fill_record(&self, _out: &mut BookEvent) {}
}

/// The records a source yields of its book's changes
/// ([`Source::yield_records`]), for the venue simulator's queue models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    /// Market by order: each order's add, cancel, modify and fill (DBN MBO).
    ByOrder,
    /// Market by price: levels' new totals, up to [`MAX_LEVELS`] a side a
    /// record, and a clear before a snapshot (Binance depth), so the whole
    /// depth can be followed.
    ByPrice,
}

/// Books by instrument id, created on first use with reserved capacity.
pub struct Books {
    books: Vec<Option<OrderBook>>,
    orders_hint: usize,
    levels_hint: usize,
    /// Every book may have missed messages (a feed-wide gap not recovered).
    all_stale: bool,
}

impl Default for Books {
    fn default() -> Self {
        Books::new(1 << 16, 1024)
    }
}

impl Books {
    /// `orders_hint` resting orders and `levels_hint` levels a side reserved per book.
    pub fn new(orders_hint: usize, levels_hint: usize) -> Self {
        Books {
            books: Vec::new(),
            orders_hint,
            levels_hint,
            all_stale: false,
        }
    }

    /// Marks every book stale: a gap in a feed that carries all
    /// instruments was not recovered, so any of them may be wrong. Their
    /// events carry [`tickline_schema::Trace::STALE`] from now on (until a
    /// snapshot rebuilds them, which this source cannot do yet).
    pub fn mark_all_stale(&mut self) {
        self.all_stale = true;
    }

    /// Empties every book and clears the stale mark: a snapshot is about
    /// to rebuild them.
    pub fn reset(&mut self) {
        for b in self.books.iter_mut().flatten() {
            b.clear();
        }
        self.all_stale = false;
    }

    /// Whether `instrument`'s book may have missed messages.
    pub fn is_stale(&self, _instrument: u32) -> bool {
        self.all_stale
    }

    /// The book of `instrument`, created empty on first use. Ids must be below [`MAX_INSTRUMENTS`].
    pub fn book_mut(&mut self, instrument: u32) -> &mut OrderBook {
        let i = instrument as usize;
        if i >= self.books.len() {
            self.books.resize_with(i + 1, || None);
        }
        let (o, l) = (self.orders_hint, self.levels_hint);
        self.books[i].get_or_insert_with(|| OrderBook::with_capacity(o, l))
    }

    /// The book of `instrument`, if it has one.
    pub fn book(&self, instrument: u32) -> Option<&OrderBook> {
        self.books.get(instrument as usize).and_then(Option::as_ref)
    }

    /// Instrument ids that have a book.
    pub fn instruments(&self) -> impl Iterator<Item = u32> + '_ {
        self.books
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_some())
            .map(|(i, _)| i as u32)
    }

    /// Writes `ev` and the top `levels` of its book into `out` (trace left to the caller).
    pub fn fill_event(&self, ev: &FeedEvent, levels: usize, out: &mut BookEvent) {
        let levels = levels.min(MAX_LEVELS);
        out.instrument_id = ev.instrument;
        out.kind = ev.kind as u8;
        out.depth = levels as u8;
        out.trade_side = ev.trade_side;
        out.trade_price = ev.trade_price;
        out.trade_qty = ev.trade_qty;
        out.order = ev.order;
        out.trace.exchange_ns = ev.exchange_ns;
        out.trace.receive_ns = ev.receive_ns;
        out.trace.flags = if self.is_stale(ev.instrument) {
            tickline_schema::Trace::STALE
        } else {
            0
        };
        match self.book(ev.instrument) {
            Some(b) => {
                b.side(tickline_schema::Side::Buy)
                    .top_into(&mut out.bids[..levels]);
                b.side(tickline_schema::Side::Sell)
                    .top_into(&mut out.asks[..levels]);
            }
            None => {
                out.bids[..levels].fill(Default::default());
                out.asks[..levels].fill(Default::default());
            }
        }
        out.bids[levels..].fill(Default::default());
        out.asks[levels..].fill(Default::default());
    }
}
