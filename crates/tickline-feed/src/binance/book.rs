//! Book application per symbol: snapshots, the diff chain and its gaps,
//! bookTicker comparisons, and diffs held until the snapshot they follow.

use std::io::BufRead;

use tickline_schema::{EventKind, Level, MarketOrder, OrderAction, Side};

use super::messages::{parse_depth, BookTicker, Sides};
use super::{bad_record, ms_to_ns, parse_fixed, BinanceSource, LevelChanges, Market, Pending};
use crate::{Books, FeedError, FeedEvent, FeedStats, Step};

/// One symbol's book state: its own snapshot, diff chain and gap state.
#[derive(Default)]
pub(super) struct SymbolBook {
    pub(super) instrument: u32,
    pub(super) market: Option<Market>,
    /// Update id the book is at; None while invalid (before a snapshot or after a gap).
    pub(super) book_u: Option<u64>,
    /// Snapshot id that the next diff must straddle.
    pub(super) pending_snapshot: Option<u64>,
    /// Diffs received before the first snapshot, replayed after it.
    pub(super) early: Vec<String>,
    pub(super) replaying: usize,
    pub(super) snapshots: u64,
    /// The last diff's final update id, to tell which symbol a snapshot
    /// without a symbol belongs to.
    pub(super) last_u: Option<u64>,
    /// Tickers ahead of the book (they often arrive before their diff).
    pub(super) ahead: Vec<Ticker>,
    /// The symbol as stream names spell it (`btcusdt`), once seen.
    pub(super) stream_key: String,
}

/// Best levels as a bookTicker gave them, at update id `u`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticker {
    pub(super) u: u64,
    pub(super) bid: (i64, i64),
    pub(super) ask: (i64, i64),
}

/// Tickers kept while waiting for the book to reach their id.
pub(super) const AHEAD_MAX: usize = 64;

/// Diffs kept while waiting for the first snapshot.
pub(super) const EARLY_MAX: usize = 10_000;

/// A level a depth message may set: a positive price, a quantity of 0
/// (removed) or more.
fn settable(price: i64, qty: i64) -> bool {
    price > 0 && qty >= 0
}

/// Queues `record`s of the levels `sides` sets, up to `MAX_LEVELS` a side
/// each, in the message's order.
fn push_level_records(sides: &Sides, record: FeedEvent, pending: &mut Vec<Pending>) {
    let (mut bids, mut asks) = (settable_levels(&sides.bids), settable_levels(&sides.asks));
    loop {
        let mut levels = LevelChanges::default();
        let nb = take_into(&mut levels.bids, &mut bids);
        let na = take_into(&mut levels.asks, &mut asks);
        if nb + na == 0 {
            return;
        }
        levels.depth = nb.max(na) as u8;
        pending.push(Pending { ev: record, levels });
    }
}

/// The levels of a depth message's side that it may set.
fn settable_levels(side: &[(i64, i64)]) -> impl Iterator<Item = Level> + '_ {
    let set = side.iter().filter(|(p, q)| settable(*p, *q));
    set.map(|&(price, qty)| Level { price, qty })
}

/// Fills `slots` from `levels` until either runs out; how many it took.
fn take_into(slots: &mut [Level], levels: &mut impl Iterator<Item = Level>) -> usize {
    let mut n = 0;
    for (slot, level) in slots.iter_mut().zip(levels) {
        *slot = level;
        n += 1;
    }
    n
}

/// Sets a depth message's levels (quantity 0 removes one) and counts the
/// ones that are not exact decimals or not positive prices.
pub(super) fn apply_levels(
    book: &mut tickline_book::OrderBook,
    sides: &Sides,
    stats: &mut FeedStats,
) {
    for _ in 0..sides.bad_levels {
        stats.error(
            FeedError::BadValue,
            format_args!("level not an exact decimal"),
        );
    }
    for (levels, side) in [(&sides.bids, Side::Buy), (&sides.asks, Side::Sell)] {
        for &(p, q) in levels {
            if settable(p, q) {
                let _ = book.side_mut(side).set(p, q);
            } else {
                stats.error(FeedError::BadValue, format_args!("level price {p} qty {q}"));
            }
        }
    }
}

impl<R: BufRead> BinanceSource<R> {
    pub(super) fn snapshot(
        &mut self,
        json: &str,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> Step {
        self.snapshot_of(json, None, books, stats)
    }
    /// A REST depth snapshot; `url_symbol`: the symbol its request named.
    pub(super) fn snapshot_of(
        &mut self,
        json: &str,
        url_symbol: Option<&str>,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> Step {
        let depth = match parse_depth(json, &mut self.sides) {
            Ok(d) => d,
            Err(e) => return bad_record(stats, format_args!("snapshot: {e}")),
        };
        let Some(id) = depth.snapshot_id else {
            return bad_record(stats, format_args!("snapshot without lastUpdateId"));
        };
        if !(self.sides.has_bids && self.sides.has_asks) {
            return bad_record(stats, format_args!("snapshot without bids or asks"));
        }
        let owner = match url_symbol {
            Some(sym) => Some(self.book_of(&sym.to_ascii_uppercase())),
            None => self.snapshot_owner(depth.symbol, id),
        };
        let Some(k) = owner else {
            if self.symbols.is_empty() {
                self.orphan = Some(json.to_owned());
            } else {
                stats.error(
                    FeedError::BadRecord,
                    format_args!("snapshot {id} names no symbol and matches none"),
                );
            }
            return Step::Skip;
        };
        let sb = &mut self.symbols[k].1;
        let book = books.book_mut(sb.instrument);
        book.clear();
        apply_levels(book, &self.sides, stats);
        self.counts.snapshots += 1;
        sb.snapshots += 1;
        sb.pending_snapshot = Some(id);
        sb.book_u = Some(id);
        // Diffs that arrived before the snapshot are applied now, in order.
        sb.replaying = sb.early.len();
        let mut ev = FeedEvent::quote(sb.instrument, ms_to_ns(depth.exchange_ms()));
        ev.kind = EventKind::Snapshot;
        self.with_level_records(ev, true)
    }
    pub(super) fn diff(
        &mut self,
        k: usize,
        data: &str,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> Step {
        let depth = match parse_depth(data, &mut self.sides) {
            Ok(d) => d,
            Err(e) => return bad_record(stats, format_args!("depthUpdate: {e}")),
        };
        let (Some(first), Some(last)) = (depth.first, depth.last) else {
            return bad_record(stats, format_args!("depthUpdate without U/u"));
        };
        if !(self.sides.has_bids && self.sides.has_asks) {
            return bad_record(stats, format_args!("depthUpdate without b or a"));
        }
        let prev = depth.prev;
        let sb = &mut self.symbols[k].1;
        sb.last_u = Some(last);
        let market = *sb.market.get_or_insert(if prev.is_some() {
            Market::Futures
        } else {
            Market::Spot
        });
        let Some(book_u) = sb.book_u else {
            if sb.snapshots == 0 && sb.early.len() < EARLY_MAX {
                sb.early.push(data.to_owned());
            } else {
                self.counts.diffs_while_invalid += 1;
            }
            return Step::Skip;
        };
        if let Some(snap) = sb.pending_snapshot {
            let stale = match market {
                Market::Futures => last < snap,
                Market::Spot => last <= snap,
            };
            if stale {
                self.counts.diffs_stale += 1;
                return Step::Skip;
            }
            let straddles = match market {
                Market::Futures => first <= snap && last >= snap,
                Market::Spot => first <= snap.saturating_add(1) && last > snap,
            };
            if !straddles {
                return self.gap(
                    k,
                    stats,
                    format_args!("first diff [{first}, {last}] does not straddle snapshot {snap}"),
                );
            }
            sb.pending_snapshot = None;
        } else {
            let chained = match (market, prev) {
                (Market::Futures, Some(pu)) => pu == book_u,
                (Market::Futures, None) => false,
                (Market::Spot, _) => book_u.checked_add(1) == Some(first),
            };
            if !chained {
                return self.gap(
                    k,
                    stats,
                    format_args!("diff [{first}, {last}] pu {prev:?} after {book_u}"),
                );
            }
        }
        let book = books.book_mut(sb.instrument);
        apply_levels(book, &self.sides, stats);
        sb.book_u = Some(last);
        self.counts.diffs_applied += 1;
        if book.is_crossed() {
            stats.error(FeedError::Crossed, format_args!("after diff {last}"));
        }
        let instrument = sb.instrument;
        self.check_ahead(k, books);
        let ev = FeedEvent::quote(instrument, ms_to_ns(depth.exchange_ms()));
        self.with_level_records(ev, false)
    }
    /// `ev`, the book event of the depth message in `self.sides`; with
    /// records on, records of the levels the message set come first (after
    /// a clear, for a snapshot), up to `MAX_LEVELS` a side each, in the
    /// message's order: all queued, to be given by the next calls.
    fn with_level_records(&mut self, ev: FeedEvent, clear: bool) -> Step {
        if !self.records {
            return Step::Event(ev);
        }
        let record = |action: OrderAction| FeedEvent {
            kind: EventKind::Order,
            order: MarketOrder {
                action: action as u8,
                ..MarketOrder::default()
            },
            ..ev
        };
        if clear {
            self.queue(record(OrderAction::Clear));
        }
        self.start_queue();
        let levels = record(OrderAction::Levels);
        push_level_records(&self.sides, levels, &mut self.pending);
        self.queue(ev);
        Step::Skip
    }
    pub(super) fn gap(
        &mut self,
        k: usize,
        stats: &mut FeedStats,
        detail: std::fmt::Arguments<'_>,
    ) -> Step {
        stats.error(FeedError::Gap, detail);
        let sb = &mut self.symbols[k].1;
        sb.book_u = None;
        sb.pending_snapshot = None;
        Step::Skip
    }
    pub(super) fn ticker(
        &mut self,
        k: usize,
        data: &str,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> Step {
        let m = match serde_json::from_str::<BookTicker>(data) {
            Ok(m) => m,
            Err(e) => return bad_record(stats, format_args!("bookTicker: {e}")),
        };
        let (Some(b), Some(bq), Some(a), Some(aq)) = (
            parse_fixed(m.bid),
            parse_fixed(m.bid_qty),
            parse_fixed(m.ask),
            parse_fixed(m.ask_qty),
        ) else {
            stats.error(FeedError::BadValue, format_args!("bookTicker {}", m.u));
            return Step::Skip;
        };
        let t = Ticker {
            u: m.u,
            bid: (b, bq),
            ask: (a, aq),
        };
        let sb = &mut self.symbols[k].1;
        match sb.book_u {
            Some(book_u) if t.u == book_u && sb.pending_snapshot.is_none() => {
                self.compare(k, &t, books)
            }
            Some(book_u) if t.u > book_u => {
                if sb.ahead.len() == AHEAD_MAX {
                    sb.ahead.remove(0);
                }
                sb.ahead.push(t);
            }
            _ => {}
        }
        Step::Skip
    }
    /// After a diff: compare tickers that carry the book's new id; forget older ones.
    pub(super) fn check_ahead(&mut self, k: usize, books: &mut Books) {
        let Some(book_u) = self.symbols[k].1.book_u else {
            return;
        };
        let mut i = 0;
        while i < self.symbols[k].1.ahead.len() {
            let t = self.symbols[k].1.ahead[i];
            if t.u <= book_u {
                if t.u == book_u {
                    self.compare(k, &t, books);
                }
                self.symbols[k].1.ahead.remove(i);
            } else {
                i += 1;
            }
        }
    }
    pub(super) fn compare(&mut self, k: usize, t: &Ticker, books: &mut Books) {
        let book = books.book_mut(self.symbols[k].1.instrument);
        self.counts.tickers_compared += 1;
        let same = matches!((book.best_bid(), book.best_ask()), (Some(b), Some(a))
            if (b.price, b.qty) == t.bid && (a.price, a.qty) == t.ask);
        if !same {
            self.counts.tickers_mismatched += 1;
        }
    }
    /// The next early diff to replay after a snapshot, if any.
    pub(super) fn replay(&mut self, books: &mut Books, stats: &mut FeedStats) -> Option<Step> {
        let k = self.symbols.iter().position(|(_, b)| b.replaying > 0)?;
        let sb = &mut self.symbols[k].1;
        let i = sb.early.len() - sb.replaying;
        sb.replaying -= 1;
        let data = std::mem::take(&mut sb.early[i]);
        let step = self.diff(k, &data, books, stats);
        let sb = &mut self.symbols[k].1;
        if sb.replaying == 0 {
            sb.early = Vec::new();
        }
        Some(step)
    }
}
