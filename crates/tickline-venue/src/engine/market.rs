//! The venue's side of market events: a book event sets the book the
//! venue trades on; a trade, a level's change (from the book events, or
//! from level records on the full depth) and a market-by-order record move
//! the queues of resting orders and fill them.

use tickline_schema::venue::{ExecReport, LIQUIDITY_MAKER};
use tickline_schema::{BookEvent, EventKind, OrderAction, Side, FIXED_SCALE};

use super::{crosses, opposite, units, Place, Resting, Venue, MAX_INSTRUMENTS};
use crate::book::Book;
use crate::Change;

impl Venue {
    /// Takes a market event's book; a trade and the changes its message
    /// made to the levels (from `before`) move and fill resting orders of
    /// its instrument.
    pub(super) fn apply(&mut self, before: &Book, e: &BookEvent, out: &mut Vec<ExecReport>) {
        debug_assert!(e.instrument_id < MAX_INSTRUMENTS, "checked on receipt");
        if e.kind() == Some(EventKind::Order) {
            return self.on_record(e, out);
        }
        self.stats.book_events += 1;
        let new = Book::of(e);
        let trade = e.kind() == Some(EventKind::Trade);
        // A trade does not change the book, and the book it carries is the
        // one as received (taken out of receive order, possibly from before
        // a snapshot): only depth events, in order among themselves, set it.
        if !trade {
            self.books[e.instrument_id as usize] = Some(new);
        }
        let prev = *before;
        if self.resting.is_empty() {
            return;
        }
        let t = e.trace.exchange_ns;
        if trade {
            self.on_trade(e, t, out);
        }
        // With the full depth, its level records have moved the queues.
        if !self.levels.has(e.instrument_id) {
            self.on_levels(e.instrument_id, &prev, &new, t, out);
        }
        self.resting.retain(|r| r.leaves > 0);
    }

    /// A record of the source's book: levels' new totals (market by
    /// price), or an order's change (market by order).
    fn on_record(&mut self, e: &BookEvent, out: &mut Vec<ExecReport>) {
        match OrderAction::try_from(e.order.action) {
            Ok(OrderAction::Levels) => self.on_levels_record(e, out),
            Ok(OrderAction::Clear) => {
                // Says nothing of which kind of records follow.
                self.stats.clear_records += 1;
                if self.levels.has(e.instrument_id) {
                    self.levels.clear(e.instrument_id);
                }
                self.on_order_record(e, out);
            }
            _ => {
                self.stats.order_records += 1;
                self.on_order_record(e, out);
            }
        }
    }

    /// New totals of levels (in the event's `bids` and `asks`), in order.
    fn on_levels_record(&mut self, e: &BookEvent, out: &mut Vec<ExecReport>) {
        self.stats.level_records += 1;
        let depth = (e.depth as usize).min(e.bids.len());
        for (side, levels) in [(Side::Buy, &e.bids), (Side::Sell, &e.asks)] {
            for l in levels[..depth].iter().filter(|l| l.price > 0) {
                self.on_level(
                    e.instrument_id,
                    side,
                    l.price,
                    l.qty,
                    e.trace.exchange_ns,
                    out,
                );
            }
        }
        self.resting.retain(|r| r.leaves > 0);
    }

    /// A level's new total at `t`: resting orders of ours at its price move
    /// by their model, and those the opposite side's best has reached fill.
    fn on_level(
        &mut self,
        inst: u32,
        side: Side,
        price: i64,
        qty: i64,
        t: u64,
        out: &mut Vec<ExecReport>,
    ) {
        self.stats.level_changes += 1;
        let Some(before) = self.levels.set(inst, side, price, qty) else {
            self.stats.unknown_records += 1;
            return;
        };
        for k in 0..self.resting.len() {
            let mut r = self.resting[k];
            if r.o.instrument_id != inst || r.leaves == 0 {
                continue;
            }
            if let Place::Level(m, pos) = &mut r.place {
                if (r.side, r.o.price) == (side, price) && before != qty {
                    m.on_level(pos, units(before), units(qty));
                }
            }
            let best = self.levels.best(inst, opposite(r.side));
            self.fill_if_reached(&mut r, best, t, out);
            self.resting[k] = r;
        }
    }

    /// A market-by-order record: the others' book changes, and orders of
    /// ours that an order behind them trading would have met first fill.
    fn on_order_record(&mut self, e: &BookEvent, out: &mut Vec<ExecReport>) {
        let c = self.market.apply(e.instrument_id, &e.order);
        match c {
            Change::Unknown => self.stats.unknown_records += 1,
            Change::TookLiquidity => self.stats.aggressor_fills += 1,
            _ => {}
        }
        let t = e.trace.exchange_ns;
        for k in 0..self.resting.len() {
            let mut r = self.resting[k];
            let Place::Fifo(pos) = &mut r.place else {
                continue;
            };
            if r.o.instrument_id != e.instrument_id || r.leaves == 0 {
                continue;
            }
            let qty = pos.on_change(&c).min(r.leaves);
            if qty > 0 {
                let price = r.o.price;
                self.fill(&mut r, price, qty, LIQUIDITY_MAKER, t, out);
            }
            self.resting[k] = r;
        }
        self.resting.retain(|r| r.leaves > 0);
    }

    /// A trade: resting orders of the passive side priced through it fill
    /// whole; at its price they advance by its quantity and fill by the lot
    /// once nothing is left ahead.
    fn on_trade(&mut self, e: &BookEvent, t: u64, out: &mut Vec<ExecReport>) {
        let Ok(aggressor) = Side::try_from(e.trade_side) else {
            return;
        };
        let (px, qty) = (e.trade_price, units(e.trade_qty));
        for k in 0..self.resting.len() {
            let mut r = self.resting[k];
            if r.o.instrument_id != e.instrument_id || r.side == aggressor || r.leaves == 0 {
                continue;
            }
            let through = match r.side {
                Side::Buy => r.o.price > px,
                Side::Sell => r.o.price < px,
            };
            let filled = if through {
                r.leaves
            } else if let (true, Place::Level(m, pos)) = (r.o.price == px, &mut r.place) {
                m.on_trade(pos, qty);
                let lots = m.take_filled(pos, units(self.cfg.lot));
                ((lots * FIXED_SCALE as f64).round() as i64).min(r.leaves)
            } else {
                0
            };
            if filled > 0 {
                let price = r.o.price;
                self.fill(&mut r, price, filled, LIQUIDITY_MAKER, t, out);
            }
            self.resting[k] = r;
        }
    }

    /// New level totals (`prev` to `new`): each resting order's queue moves
    /// by its model; an order the opposite side's best (in the book as now
    /// taken) has reached fills whole.
    fn on_levels(&mut self, inst: u32, prev: &Book, new: &Book, t: u64, out: &mut Vec<ExecReport>) {
        let now = self.books[inst as usize].unwrap_or_default();
        for k in 0..self.resting.len() {
            let mut r = self.resting[k];
            if r.o.instrument_id != inst || r.leaves == 0 {
                continue;
            }
            if let Place::Level(m, pos) = &mut r.place {
                let px = r.o.price;
                match (prev.seen_qty(r.side, px), new.seen_qty(r.side, px)) {
                    (Some(before), Some(after)) if before != after => {
                        m.on_level(pos, units(before), units(after));
                    }
                    (None, Some(after)) => m.on_level_seen_again(pos, units(after)),
                    _ => {}
                }
            }
            let best = now.best(opposite(r.side));
            self.fill_if_reached(&mut r, best, t, out);
            self.resting[k] = r;
        }
    }

    /// A resting order that the opposite side's best (`best`) has reached
    /// fills whole at its price.
    fn fill_if_reached(
        &mut self,
        r: &mut Resting,
        best: Option<i64>,
        t: u64,
        out: &mut Vec<ExecReport>,
    ) {
        if best.is_some_and(|l| crosses(r.side, r.o.price, l)) {
            let (price, qty) = (r.o.price, r.leaves);
            self.fill(r, price, qty, LIQUIDITY_MAKER, t, out);
        }
    }
}
