//! Applying decoded ITCH messages to the books: adds, executions,
//! cancels, replaces and trades, each bad reference counted and skipped.

use tickline_book::{BookError, OrderBook};
use tickline_schema::EventKind;

use super::messages::{decode, price_of, side_of, Message};
use crate::{Books, FeedError, FeedEvent, FeedStats, Step, UNIT};

fn book_error(stats: &mut FeedStats, e: BookError, order: u64) {
    stats.error(FeedError::from(e), format_args!("order {order}: {e:?}"));
}

/// Bad input that has been counted in [`FeedStats`]: the message is skipped.
struct Counted;

impl Message {
    /// The stock locate and timestamp of an order-book or trade message.
    fn locate_ts(&self) -> Option<(u32, u64)> {
        match *self {
            Message::Add { locate, ts, .. }
            | Message::Executed { locate, ts, .. }
            | Message::ExecutedWithPrice { locate, ts, .. }
            | Message::Cancel { locate, ts, .. }
            | Message::Delete { locate, ts, .. }
            | Message::Replace { locate, ts, .. }
            | Message::Trade { locate, ts, .. }
            | Message::CrossTrade { locate, ts, .. } => Some((locate as u32, ts)),
            Message::StockDirectory { .. } | Message::Other { .. } => None,
        }
    }
}

/// Shares in fixed point: u32 shares x 1e8 stays below 2^63.
fn shares_fixed(s: u32) -> i64 {
    s as i64 * UNIT
}

/// A book operation's result, its error counted against `order`.
fn counted<T>(r: Result<T, BookError>, stats: &mut FeedStats, order: u64) -> Result<T, Counted> {
    r.map_err(|e| {
        book_error(stats, e, order);
        Counted
    })
}

/// Add Order (A, F).
fn add(
    book: &mut OrderBook,
    stats: &mut FeedStats,
    order: u64,
    side: u8,
    shares: u32,
    price: u32,
) -> Result<(), Counted> {
    let Some(side) = side_of(side) else {
        stats.error(FeedError::BadSide, format_args!("side byte {side:#04x}"));
        return Err(Counted);
    };
    let (Some(price), true) = (price_of(price), shares > 0) else {
        stats.error(
            FeedError::BadValue,
            format_args!("add {order}: price {price}, shares {shares}"),
        );
        return Err(Counted);
    };
    counted(
        book.add(order, side, price, shares_fixed(shares)),
        stats,
        order,
    )
}

/// Order Executed (E), or with price (C, `with_price` = (printable, price)):
/// a trade against the resting order, printed unless marked non-printable.
fn execute(
    book: &mut OrderBook,
    stats: &mut FeedStats,
    ev: &mut FeedEvent,
    order: u64,
    shares: u32,
    with_price: Option<(bool, u32)>,
) -> Result<(), Counted> {
    let resting = counted(book.reduce(order, shares_fixed(shares)), stats, order)?;
    let (print, price) = match with_price {
        Some((printable, p)) => (printable, price_of(p).unwrap_or(resting.price)),
        None => (true, resting.price),
    };
    if print {
        ev.kind = EventKind::Trade;
        ev.trade_side = -(resting.side as i8);
        ev.trade_price = price;
        ev.trade_qty = shares_fixed(shares);
    }
    Ok(())
}

/// Order Replace (U): the old order leaves, the new one joins at the back.
fn replace(
    book: &mut OrderBook,
    stats: &mut FeedStats,
    old: u64,
    new: u64,
    shares: u32,
    price: u32,
) -> Result<(), Counted> {
    let (Some(price), true) = (price_of(price), shares > 0) else {
        stats.error(
            FeedError::BadValue,
            format_args!("replace {old}: price {price}, shares {shares}"),
        );
        return Err(Counted);
    };
    counted(
        book.replace(old, new, price, shares_fixed(shares))
            .map(drop),
        stats,
        old,
    )
}

/// Trade (P): a hidden order traded; the book does not change. `side` is the
/// resting order's, so the aggressor is the other one.
fn hidden_trade(ev: &mut FeedEvent, side: u8, shares: u32, price: u32) {
    ev.kind = EventKind::Trade;
    ev.trade_side = side_of(side).map_or(0, |s| -(s as i8));
    ev.trade_price = price_of(price).unwrap_or(0);
    ev.trade_qty = shares_fixed(shares);
}

/// Cross Trade (Q). Cross sizes are 64-bit: too large to represent is bad
/// input, not a wrap.
fn cross_trade(
    stats: &mut FeedStats,
    ev: &mut FeedEvent,
    shares: u64,
    price: u32,
) -> Result<(), Counted> {
    let Some(qty) = i64::try_from(shares).ok().and_then(|s| s.checked_mul(UNIT)) else {
        stats.error(
            FeedError::BadValue,
            format_args!("cross of {shares} shares"),
        );
        return Err(Counted);
    };
    ev.kind = EventKind::Trade;
    ev.trade_price = price_of(price).unwrap_or(0);
    ev.trade_qty = qty;
    Ok(())
}

/// Applies a decoded message to the books.
pub fn apply(msg: &Message, books: &mut Books, stats: &mut FeedStats) -> Step {
    let Some((locate, ts)) = msg.locate_ts() else {
        return Step::Skip;
    };
    let mut ev = FeedEvent::quote(locate, ts);
    // Books are made on first use: trades alone do not make one.
    let applied = match *msg {
        Message::Add {
            order,
            side,
            shares,
            price,
            ..
        } => add(books.book_mut(locate), stats, order, side, shares, price),
        Message::Executed { order, shares, .. } => {
            execute(books.book_mut(locate), stats, &mut ev, order, shares, None)
        }
        Message::ExecutedWithPrice {
            order,
            shares,
            printable,
            price,
            ..
        } => execute(
            books.book_mut(locate),
            stats,
            &mut ev,
            order,
            shares,
            Some((printable, price)),
        ),
        Message::Cancel { order, shares, .. } => counted(
            books
                .book_mut(locate)
                .reduce(order, shares_fixed(shares))
                .map(drop),
            stats,
            order,
        ),
        Message::Delete { order, .. } => {
            counted(books.book_mut(locate).delete(order).map(drop), stats, order)
        }
        Message::Replace {
            old,
            new,
            shares,
            price,
            ..
        } => replace(books.book_mut(locate), stats, old, new, shares, price),
        Message::Trade {
            side,
            shares,
            price,
            ..
        } => {
            hidden_trade(&mut ev, side, shares, price);
            Ok(())
        }
        Message::CrossTrade { shares, price, .. } => cross_trade(stats, &mut ev, shares, price),
        Message::StockDirectory { .. } | Message::Other { .. } => unreachable!("no locate"),
    };
    if applied.is_err() {
        return Step::Skip;
    }
    if ev.kind == EventKind::Quote && books.book_mut(locate).is_crossed() {
        stats.error(
            FeedError::Crossed,
            format_args!("instrument {locate} crossed at ts {ts}"),
        );
    }
    Step::Event(ev)
}

/// Decodes and applies framed ITCH messages, remembering each locate's symbol.
#[derive(Default)]
pub struct ItchHandler {
    symbols: Vec<[u8; 8]>,
}

impl ItchHandler {
    /// One whole message, type byte first, already checked against its type's length.
    pub fn handle(&mut self, msg: &[u8], books: &mut Books, stats: &mut FeedStats) -> Step {
        match decode(msg) {
            Ok(Message::StockDirectory { locate, symbol }) => {
                // Directory messages come once per stock at start of day.
                let i = locate as usize;
                if i >= self.symbols.len() {
                    self.symbols.resize(i + 1, [b' '; 8]);
                }
                self.symbols[i] = symbol;
                Step::Skip
            }
            Ok(m) => apply(&m, books, stats),
            Err(e) => {
                stats.error(
                    e,
                    format_args!("type {:?}", msg.first().map(|&k| k as char)),
                );
                Step::Skip
            }
        }
    }

    /// The stock directory so far: (locate, 8-byte padded symbol).
    pub fn directory(&self) -> impl Iterator<Item = (u16, [u8; 8])> + '_ {
        let known = self.symbols.iter().enumerate();
        known
            .filter(|(_, s)| **s != [b' '; 8])
            .map(|(i, s)| (i as u16, *s))
    }

    /// The symbol of an instrument, from the stock directory.
    pub fn symbol(&self, instrument: u32) -> Option<&str> {
        let s = self.symbols.get(instrument as usize)?;
        let s = std::str::from_utf8(s).ok()?.trim_end();
        (!s.is_empty()).then_some(s)
    }
}
