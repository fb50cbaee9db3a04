//! The matching engine of the simulated venue, in exchange time: orders
//! arrive after their entry latency; market events move the queues of
//! resting orders and fill them; takers walk the levels they see. Given the
//! same market events and the same orders (with their send times), it gives
//! the same reports, whatever the wall clock did.
//!
//! Ties: a market event and an order arriving at the same exchange time
//! are taken market event first, as hftbacktest does.

use std::collections::VecDeque;

use serde::Serialize;
use tickline_schema::venue::{
    ExecKind, ExecReport, OrderKind, VenueReject, LIQUIDITY_MAKER, LIQUIDITY_TAKER,
};
use tickline_schema::{BookEvent, EventKind, Order, Side, TimeInForce, FIXED_SCALE};

use crate::book::Book;
use crate::reorder::Reorder;
use crate::{FifoPos, Latency, LevelModel, MarketLevels, MarketOrders, QueueModel, QueuePos};

mod market;

/// Instrument ids past this are refused (books are indexed by id).
pub const MAX_INSTRUMENTS: u32 = 4096;

/// How the venue trades.
#[derive(Clone, Copy, Debug)]
pub struct VenueConfig {
    /// Queue model of resting orders.
    pub queue: QueueModel,
    /// Price grid, fixed point: prices are whole multiples of it.
    pub tick: i64,
    /// Quantity grid, fixed point.
    pub lot: i64,
    /// Fee on maker fills, bps of notional (negative: a rebate).
    pub maker_fee_bps: f64,
    /// Fee on taker fills, bps of notional.
    pub taker_fee_bps: f64,
    /// Market events are taken in exchange-time order within this window
    /// of their receive order (0: as received; see [`crate::reorder`]).
    pub reorder_ns: u64,
}

/// Counts of what the venue did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VenueStats {
    /// Market events taken.
    pub book_events: u64,
    /// Market events refused (instrument id out of range).
    pub bad_events: u64,
    /// New orders and cancels received.
    pub orders: u64,
    /// Cancels received.
    pub cancels: u64,
    /// Fills, and of them maker and taker.
    pub fills: u64,
    /// Fills of resting orders.
    pub maker_fills: u64,
    /// Fills on arrival.
    pub taker_fills: u64,
    /// Filled quantity, units.
    pub filled_qty: f64,
    /// Fees, currency.
    pub fees: f64,
    /// Sum over maker fills of the quantity ahead at join, units.
    pub maker_queue_ahead: f64,
    /// Sum over maker fills of the orders ahead at join (`fifo`).
    pub maker_orders_ahead: u64,
    /// Market-by-order records taken (`fifo`), clears not counted.
    pub order_records: u64,
    /// Market-by-price records taken (the full depth).
    pub level_records: u64,
    /// Levels those records set.
    pub level_changes: u64,
    /// Records that cleared an instrument's book (either kind).
    pub clear_records: u64,
    /// Records for orders not resting, or of unknown actions.
    pub unknown_records: u64,
    /// Fill records of a resting order away from its price (the order was
    /// the aggressor): no queue moves.
    pub aggressor_fills: u64,
    /// IOC rests expired.
    pub expired: u64,
    /// Cancels that took effect.
    pub cancelled: u64,
    /// Refusals by reason.
    pub rejects: std::collections::BTreeMap<&'static str, u64>,
}

/// An order or cancel on its way to the venue.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    arrival: u64,
    msg: Order,
    /// The latency model refuses it: the refusal is made at `arrival`.
    refused: bool,
}

/// A resting order of ours.
#[derive(Clone, Copy, Debug)]
struct Resting {
    o: Order,
    side: Side,
    leaves: i64,
    cum: i64,
    place: Place,
    ahead_at_join: i64,
}

/// Where a resting order of ours stands in its level's queue.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// Not resting: taking liquidity on arrival, or refused.
    Arriving,
    /// Estimated from the level's totals by the model.
    Level(LevelModel, QueuePos),
    /// Exact, among the others' orders.
    Fifo(FifoPos),
}

impl Place {
    /// Orders ahead when it joined (known on market-by-order data only).
    fn orders_ahead_at_join(&self) -> u32 {
        match self {
            Place::Fifo(f) => f.orders_ahead_at_join,
            Place::Arriving | Place::Level(..) => 0,
        }
    }
}

/// The simulated venue.
pub struct Venue {
    cfg: VenueConfig,
    latency: Latency,
    /// Each instrument's book as of the last event taken (what new orders meet).
    books: Vec<Option<Book>>,
    /// Each instrument's book as of the last event received.
    received: Vec<Option<Book>>,
    in_flight: VecDeque<InFlight>,
    resting: Vec<Resting>,
    /// Others' resting orders, from market-by-order records (`fifo`).
    market: MarketOrders,
    /// Every level, from market-by-price level records.
    levels: MarketLevels,
    reorder: Reorder,
    /// Exchange time of the last market event taken.
    taken_ns: u64,
    last_id: u64,
    next_report: u64,
    /// What it did.
    pub stats: VenueStats,
}

fn units(fixed: i64) -> f64 {
    fixed as f64 / FIXED_SCALE as f64
}

fn opposite(s: Side) -> Side {
    match s {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// Whether a `side` order at `price` trades against a level at `level`.
fn crosses(side: Side, price: i64, level: i64) -> bool {
    match side {
        Side::Buy => price >= level,
        Side::Sell => price <= level,
    }
}

impl Venue {
    /// A venue with no books and no orders (room for them preallocated).
    pub fn new(cfg: VenueConfig, latency: Latency) -> Self {
        debug_assert!(cfg.tick > 0 && cfg.lot > 0, "the grids are positive");
        Venue {
            cfg,
            latency,
            books: Vec::with_capacity(64),
            received: Vec::with_capacity(64),
            in_flight: VecDeque::with_capacity(1024),
            resting: Vec::with_capacity(1024),
            market: MarketOrders::default(),
            levels: MarketLevels::default(),
            reorder: Reorder::new(cfg.reorder_ns),
            taken_ns: 0,
            last_id: 0,
            next_report: 1,
            stats: VenueStats::default(),
        }
    }

    /// How it trades.
    pub fn config(&self) -> &VenueConfig {
        &self.cfg
    }

    /// See [`Latency::min_entry`].
    pub fn min_entry_ns(&self) -> u64 {
        self.latency.min_entry()
    }

    /// See [`Latency::min_response`].
    pub fn min_response_ns(&self) -> u64 {
        self.latency.min_response()
    }

    /// Orders in flight and resting.
    pub fn open_orders(&self) -> (usize, usize) {
        (self.in_flight.len(), self.resting.len())
    }

    /// A new order or a cancel, sent at `o.sent_ns`: it arrives after the
    /// entry latency; one the latency model refuses (a negative entry) is
    /// refused after that long. Answers come in exchange time, never when
    /// the message happened to be read.
    pub fn send(&mut self, o: &Order) {
        self.stats.orders += 1;
        let entry = self.latency.entry(o.sent_ns as i64);
        let arrival = o.sent_ns.saturating_add(entry.unsigned_abs());
        let at = self.in_flight.partition_point(|f| f.arrival <= arrival);
        let f = InFlight {
            arrival,
            msg: *o,
            refused: entry < 0,
        };
        self.in_flight.insert(at, f);
    }

    /// A market event in receive order; each event the reorder window
    /// lets go is taken after the orders arriving before it.
    pub fn on_book(&mut self, e: &BookEvent, out: &mut Vec<ExecReport>) {
        if e.instrument_id >= MAX_INSTRUMENTS {
            self.stats.bad_events += 1;
            return;
        }
        let i = e.instrument_id as usize;
        if i >= self.received.len() {
            self.received.resize(i + 1, None);
            self.books.resize(i + 1, None);
        }
        // A record's book may be mid-way through the venue's event: the
        // next event's levels change from the last book event's.
        let before = if e.kind() == Some(EventKind::Order) {
            self.received[i]
        } else {
            self.received[i].replace(Book::of(e))
        };
        let before = before.unwrap_or_default();
        self.reorder.push(before, e);
        while let Some((before, e)) = self.reorder.pop_ready() {
            self.take(&before, &e, out);
        }
    }

    /// The market data has ended: the events still held, then every order
    /// still on its way.
    pub fn finish(&mut self, out: &mut Vec<ExecReport>) {
        while let Some((before, e)) = self.reorder.pop_any() {
            self.take(&before, &e, out);
        }
        self.arrive_until(u64::MAX, out);
    }

    fn take(&mut self, before: &Book, e: &BookEvent, out: &mut Vec<ExecReport>) {
        let t = e.trace.exchange_ns;
        self.arrive_while(|a| a < t, out);
        self.taken_ns = self.taken_ns.max(t);
        self.apply(before, e, out);
    }

    /// How far the venue has answered: every report reaching the router at
    /// or before the promise's `local_ns` is in `out` before it. Everything
    /// before the last market event's time `T` is decided (a later event
    /// may still share `T`, and the orders arriving before an event are
    /// taken before it), so what is still to come reaches the router after
    /// `T - 1` plus the least response latency.
    pub fn promise(&mut self, out: &mut Vec<ExecReport>) {
        let t = self.taken_ns.saturating_sub(1);
        let mut rep = <ExecReport as bytemuck::Zeroable>::zeroed();
        (rep.report_seq, rep.exchange_ns) = (self.next_report - 1, t);
        rep.local_ns = t.saturating_add(self.latency.min_response());
        rep.kind = ExecKind::Promise as u8;
        out.push(rep);
    }

    /// The orders arriving at or before `t` (no market event will come
    /// before them): at the router's last watermark, `u64::MAX`.
    pub fn arrive_until(&mut self, t: u64, out: &mut Vec<ExecReport>) {
        self.arrive_while(|a| a <= t, out);
    }

    fn arrive_while(&mut self, due: impl Fn(u64) -> bool, out: &mut Vec<ExecReport>) {
        while let Some(f) = self.in_flight.front().copied() {
            if !due(f.arrival) {
                break;
            }
            self.in_flight.pop_front();
            if f.refused {
                self.reject(&f.msg, VenueReject::VenueRefused, f.arrival, out);
                continue;
            }
            match OrderKind::try_from(f.msg.kind) {
                Ok(OrderKind::New) => self.arrive_new(&f.msg, f.arrival, out),
                Ok(OrderKind::Cancel) => self.arrive_cancel(&f.msg, f.arrival, out),
                _ => self.reject(&f.msg, VenueReject::BadField, f.arrival, out),
            }
        }
    }

    /// Why the venue refuses `o`, if it does.
    fn check(&self, o: &Order) -> Result<(Side, TimeInForce, Book), VenueReject> {
        let side = Side::try_from(o.side).map_err(|_| VenueReject::BadField)?;
        let tif = TimeInForce::try_from(o.time_in_force).map_err(|_| VenueReject::BadField)?;
        let book = self.books.get(o.instrument_id as usize).copied().flatten();
        let book = book
            .filter(|b| !b.is_empty())
            .ok_or(VenueReject::UnknownInstrument)?;
        if o.price <= 0 || o.price % self.cfg.tick != 0 {
            return Err(VenueReject::OffTick);
        }
        if o.qty <= 0 || o.qty % self.cfg.lot != 0 {
            return Err(VenueReject::BadQty);
        }
        if o.client_order_id <= self.last_id {
            return Err(VenueReject::DuplicateId);
        }
        if book.is_crossed() {
            return Err(VenueReject::BookCrossed);
        }
        if self.cfg.queue == QueueModel::Fifo && self.stats.order_records == 0 {
            return Err(VenueReject::NoOrderRecords);
        }
        Ok((side, tif, book))
    }

    /// A new order at the venue at `t`: it takes what it crosses, then an
    /// IOC's rest expires and a day order's rests at the back of its level.
    fn arrive_new(&mut self, o: &Order, t: u64, out: &mut Vec<ExecReport>) {
        let (side, tif, book) = match self.check(o) {
            Ok(x) => x,
            Err(r) => return self.reject(o, r, t, out),
        };
        self.last_id = o.client_order_id;
        let mut r = Resting {
            o: *o,
            side,
            leaves: o.qty,
            cum: 0,
            place: Place::Arriving,
            ahead_at_join: 0,
        };
        self.take_liquidity(&mut r, &book, t, out);
        let crossed = book
            .best(opposite(side))
            .is_some_and(|l| crosses(side, o.price, l));
        if r.leaves == 0 {
            return;
        }
        if tif == TimeInForce::ImmediateOrCancel || crossed {
            // A crossing day order's rest beyond the depth seen expires
            // too: resting, it would be filled by the very levels it took.
            self.stats.expired += 1;
            out.push(self.report(ExecKind::Done, &r, t));
            return;
        }
        r.place = match self.cfg.queue {
            QueueModel::Level(m) => {
                let full = self.levels.qty_at(o.instrument_id, side, o.price);
                r.ahead_at_join = full.unwrap_or_else(|| book.qty_at(side, o.price));
                Place::Level(m, m.join(units(r.ahead_at_join)))
            }
            QueueModel::Fifo => {
                let level = self.market.level(o.instrument_id, side, o.price);
                r.ahead_at_join = level.0;
                let priority = self.market.take_priority();
                Place::Fifo(FifoPos::join(side, o.price, priority, level))
            }
        };
        out.push(self.report(ExecKind::Accepted, &r, t));
        self.resting.push(r);
    }

    /// Walks the opposite side's levels within the limit, best first: the
    /// full depth where level records give it, else the levels `book` has.
    fn take_liquidity(&mut self, r: &mut Resting, book: &Book, t: u64, out: &mut Vec<ExecReport>) {
        let (inst, side) = (r.o.instrument_id, opposite(r.side));
        let full = self.levels.has(inst);
        for k in 0.. {
            let level = match full {
                true => self.levels.nth(inst, side, k),
                false => book.levels(side).nth(k).copied(),
            };
            let Some(l) = level.filter(|l| crosses(r.side, r.o.price, l.price)) else {
                break;
            };
            let qty = l.qty.min(r.leaves);
            self.fill(r, l.price, qty, LIQUIDITY_TAKER, t, out);
            if r.leaves == 0 {
                break;
            }
        }
    }

    fn arrive_cancel(&mut self, o: &Order, t: u64, out: &mut Vec<ExecReport>) {
        self.stats.cancels += 1;
        let id = o.client_order_id;
        let Some(i) = self.resting.iter().position(|r| r.o.client_order_id == id) else {
            return self.reject(o, VenueReject::TooLateToCancel, t, out);
        };
        let r = self.resting.remove(i);
        self.stats.cancelled += 1;
        out.push(self.report(ExecKind::Done, &r, t));
    }

    fn fill(
        &mut self,
        r: &mut Resting,
        price: i64,
        qty: i64,
        liquidity: u8,
        t: u64,
        out: &mut Vec<ExecReport>,
    ) {
        debug_assert!(qty > 0 && qty <= r.leaves, "a fill within the order");
        r.leaves -= qty;
        r.cum += qty;
        let maker = liquidity == LIQUIDITY_MAKER;
        let bps = if maker {
            self.cfg.maker_fee_bps
        } else {
            self.cfg.taker_fee_bps
        };
        let fee = units(price) * units(qty) * bps / 1e4;
        let s = &mut self.stats;
        s.fills += 1;
        s.filled_qty += units(qty);
        s.fees += fee;
        if maker {
            s.maker_fills += 1;
            s.maker_queue_ahead += units(r.ahead_at_join);
            s.maker_orders_ahead += r.place.orders_ahead_at_join() as u64;
        } else {
            s.taker_fills += 1;
        }
        let mut rep = self.report(ExecKind::Fill, r, t);
        (rep.price, rep.qty, rep.fee, rep.liquidity) = (price, qty, fee, liquidity);
        rep.queue_ahead = if maker { r.ahead_at_join } else { 0 };
        rep.orders_ahead = if maker {
            r.place.orders_ahead_at_join()
        } else {
            0
        };
        out.push(rep);
    }

    fn reject(&mut self, o: &Order, why: VenueReject, t: u64, out: &mut Vec<ExecReport>) {
        *self.stats.rejects.entry(why.name()).or_default() += 1;
        let r = Resting {
            o: *o,
            side: Side::try_from(o.side).unwrap_or(Side::Buy),
            leaves: 0,
            cum: 0,
            place: Place::Arriving,
            ahead_at_join: 0,
        };
        let mut rep = self.report(ExecKind::Rejected, &r, t);
        rep.side = o.side;
        rep.reason = why as u8;
        out.push(rep);
    }

    /// A report on `r` made at venue time `t`.
    fn report(&mut self, kind: ExecKind, r: &Resting, t: u64) -> ExecReport {
        let seq = self.next_report;
        self.next_report += 1;
        let resp = self.latency.response(t as i64).max(0) as u64;
        ExecReport {
            trace: r.o.trace,
            report_seq: seq,
            client_order_id: r.o.client_order_id,
            exchange_ns: t,
            local_ns: t.saturating_add(resp),
            price: r.o.price,
            qty: 0,
            leaves: r.leaves,
            cum_qty: r.cum,
            queue_ahead: 0,
            fee: 0.0,
            instrument_id: r.o.instrument_id,
            kind: kind as u8,
            side: r.side as i8,
            liquidity: 0,
            reason: 0,
            orders_ahead: 0,
            _pad: 0,
        }
    }

    /// A report that the venue has taken every event up to `t`.
    pub fn caught_up(&mut self, t: u64) -> ExecReport {
        let seq = self.next_report;
        self.next_report += 1;
        let mut rep = <ExecReport as bytemuck::Zeroable>::zeroed();
        (rep.report_seq, rep.exchange_ns, rep.local_ns) = (seq, t, t);
        rep.kind = ExecKind::CaughtUp as u8;
        rep
    }
}
