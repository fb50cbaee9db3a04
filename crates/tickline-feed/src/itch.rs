//! Nasdaq TotalView-ITCH 5.0: message decoding and a file source.
//!
//! Files frame each message with a 2-byte big-endian length. Some published
//! samples write 0 there and rely on the type's fixed length; that is
//! accepted for known types, and counted in the checks as `zero_length_prefixes`.

use std::io::Read;

use tickline_book::{BookError, OrderBook};
use tickline_schema::{EventKind, Side};

use crate::{Books, FeedError, FeedEvent, FeedStats, Source, Step, UNIT};

/// Fixed length of each ITCH 5.0 message type, type byte included; 0 = unknown.
pub const fn message_len(kind: u8) -> usize {
    match kind {
        b'S' => 12,
        b'R' => 39,
        b'H' => 25,
        b'Y' => 20,
        b'L' => 26,
        b'V' => 35,
        b'W' => 12,
        b'K' => 28,
        b'J' => 35,
        b'h' => 21,
        b'A' => 36,
        b'F' => 40,
        b'E' => 31,
        b'C' => 36,
        b'X' => 23,
        b'D' => 19,
        b'U' => 35,
        b'P' => 44,
        b'Q' => 40,
        b'B' => 19,
        b'I' => 50,
        b'N' => 20,
        b'O' => 48,
        _ => 0,
    }
}

/// Longest ITCH 5.0 message.
pub const MAX_MESSAGE_LEN: usize = 50;

/// Splits an in-memory ITCH file into messages (length-prefixed, or framed
/// by type where the prefix is 0). Stops at the first message it cannot frame.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let prefix = u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as usize;
        let len = if prefix == 0 {
            message_len(*bytes.get(i + 2)?)
        } else {
            prefix
        };
        let msg = bytes.get(i + 2..i + 2 + len).filter(|_| len > 0)?;
        i += 2 + len;
        Some(msg)
    })
}

/// Nanoseconds since midnight of a message (type, locate and tracking come first).
pub fn timestamp(msg: &[u8]) -> Option<u64> {
    (msg.len() >= 11).then(|| ts_at(msg, 5))
}

/// ITCH prices have 4 decimals.
pub(crate) const PRICE_TO_FIXED: i64 = UNIT / 10_000;
/// Largest valid ITCH price: $199,999.9900 (0x7FFFFFFF means "market", not a price).
const MAX_PRICE: u32 = 1_999_999_900;

/// The messages the book cares about; everything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Stock Directory (R): a locate's symbol.
    StockDirectory {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Stock symbol, space padded.
        symbol: [u8; 8],
    },
    /// Add Order (A, and F with attribution).
    Add {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Side byte: `B` or `S`.
        side: u8,
        /// Shares.
        shares: u32,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Order Executed (E), at the resting order's price.
    Executed {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Shares.
        shares: u32,
    },
    /// Order Executed With Price (C).
    ExecutedWithPrice {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Shares.
        shares: u32,
        /// Whether the execution is printed to the tape.
        printable: bool,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Order Cancel (X): part of an order leaves.
    Cancel {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Shares.
        shares: u32,
    },
    /// Order Delete (D).
    Delete {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
    },
    /// Order Replace (U).
    Replace {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Original order reference number.
        old: u64,
        /// New order reference number.
        new: u64,
        /// Shares.
        shares: u32,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Trade (P): a non-displayed order executed.
    Trade {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Side byte: `B` or `S`.
        side: u8,
        /// Shares.
        shares: u32,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Cross Trade (Q).
    CrossTrade {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Shares.
        shares: u64,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Any other type: counted, not applied.
    Other {
        /// The message type byte.
        kind: u8,
    },
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_be_bytes(a)
}
/// 6-byte nanoseconds since midnight.
fn ts_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a[2..].copy_from_slice(&b[i..i + 6]);
    u64::from_be_bytes(a)
}

/// Decodes one message (type byte first). `msg` must be exactly its type's length.
pub fn decode(msg: &[u8]) -> Result<Message, FeedError> {
    let kind = *msg.first().ok_or(FeedError::Truncated)?;
    let len = message_len(kind);
    if len == 0 {
        return Err(FeedError::UnknownType);
    }
    if msg.len() != len {
        return Err(if msg.len() < len {
            FeedError::Truncated
        } else {
            FeedError::BadLength
        });
    }
    let locate = u16_at(msg, 1);
    let ts = ts_at(msg, 5);
    Ok(match kind {
        b'R' => {
            let mut symbol = [0u8; 8];
            symbol.copy_from_slice(&msg[11..19]);
            Message::StockDirectory { locate, symbol }
        }
        b'A' | b'F' => Message::Add {
            locate,
            ts,
            order: u64_at(msg, 11),
            side: msg[19],
            shares: u32_at(msg, 20),
            price: u32_at(msg, 32),
        },
        b'E' => Message::Executed {
            locate,
            ts,
            order: u64_at(msg, 11),
            shares: u32_at(msg, 19),
        },
        b'C' => Message::ExecutedWithPrice {
            locate,
            ts,
            order: u64_at(msg, 11),
            shares: u32_at(msg, 19),
            printable: msg[31] == b'Y',
            price: u32_at(msg, 32),
        },
        b'X' => Message::Cancel {
            locate,
            ts,
            order: u64_at(msg, 11),
            shares: u32_at(msg, 19),
        },
        b'D' => Message::Delete {
            locate,
            ts,
            order: u64_at(msg, 11),
        },
        b'U' => Message::Replace {
            locate,
            ts,
            old: u64_at(msg, 11),
            new: u64_at(msg, 19),
            shares: u32_at(msg, 27),
            price: u32_at(msg, 31),
        },
        b'P' => Message::Trade {
            locate,
            ts,
            side: msg[19],
            shares: u32_at(msg, 20),
            price: u32_at(msg, 32),
        },
        b'Q' => Message::CrossTrade {
            locate,
            ts,
            shares: u64_at(msg, 11),
            price: u32_at(msg, 27),
        },
        other => Message::Other { kind: other },
    })
}

fn side_of(code: u8) -> Option<Side> {
    match code {
        b'B' => Some(Side::Buy),
        b'S' => Some(Side::Sell),
        _ => None,
    }
}

fn price_of(p: u32) -> Option<i64> {
    (p > 0 && p <= MAX_PRICE).then_some(p as i64 * PRICE_TO_FIXED)
}

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

/// Reads an ITCH 5.0 file (or any byte stream) through a fixed buffer.
pub struct ItchSource<R: Read> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    handler: ItchHandler,
    /// Messages framed by their type because their length prefix was 0.
    zero_length_prefixes: u64,
}

impl<R: Read> ItchSource<R> {
    /// A source over ITCH 5.0 framed messages (2-byte length prefixes) from `input`.
    pub fn new(input: R) -> Self {
        ItchSource {
            input,
            buf: vec![0u8; 1 << 20].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            handler: ItchHandler::default(),
            zero_length_prefixes: 0,
        }
    }

    /// Makes at least `n` bytes available unless the input ends first.
    fn fill(&mut self, n: usize) -> bool {
        while self.end - self.pos < n && !self.eof {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("feed: read error, treating as end of input: {e}");
                    self.eof = true;
                }
            }
        }
        self.end - self.pos >= n
    }
}

impl<R: Read> Source for ItchSource<R> {
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if !self.fill(3) {
            if self.end > self.pos {
                stats.messages += 1;
                stats.error(
                    FeedError::Truncated,
                    format_args!("{} trailing bytes", self.end - self.pos),
                );
                self.pos = self.end;
            }
            return Step::End;
        }
        stats.messages += 1;
        let prefix = u16_at(&self.buf, self.pos) as usize;
        let kind = self.buf[self.pos + 2];
        stats.by_type[kind as usize] += 1;
        let expected = message_len(kind);
        let len = if prefix == 0 {
            if expected == 0 {
                // No length and no known type: there is no way to find the next message.
                stats.error(
                    FeedError::UnknownType,
                    format_args!("type {kind:#04x} with a zero length prefix; cannot resynchronise, stopping"),
                );
                self.pos = self.end;
                self.eof = true;
                return Step::End;
            }
            if self.zero_length_prefixes == 0 {
                eprintln!("feed: zero length prefixes (as RITCH writes them); framing by message type instead");
            }
            self.zero_length_prefixes += 1;
            expected
        } else {
            prefix
        };
        if !self.fill(2 + len) {
            stats.error(
                FeedError::Truncated,
                format_args!("type {:?} needs {len} bytes, input ends", kind as char),
            );
            self.pos = self.end;
            return Step::End;
        }
        let start = self.pos + 2;
        self.pos = start + len;
        if expected == 0 {
            stats.error(
                FeedError::UnknownType,
                format_args!("type {kind:#04x}, {len} bytes skipped"),
            );
            return Step::Skip;
        }
        if len != expected {
            stats.error(
                FeedError::BadLength,
                format_args!("type {:?}: length {len}, expected {expected}", kind as char),
            );
            return Step::Skip;
        }
        let Self { buf, handler, .. } = self;
        handler.handle(&buf[start..start + len], books, stats)
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        self.handler.symbol(instrument)
    }

    fn checks(&self) -> Vec<(String, u64)> {
        vec![("zero_length_prefixes".to_owned(), self.zero_length_prefixes)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_handle_both_framings_and_stop_on_garbage() {
        let d = [b'D', 0, 1, 0, 2, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 7];
        let mut framed = vec![0, 19];
        framed.extend_from_slice(&d);
        let mut zero = vec![0, 0];
        zero.extend_from_slice(&d);
        for bytes in [framed.repeat(3), zero.repeat(3)] {
            let v: Vec<_> = frames(&bytes).collect();
            assert_eq!(v.len(), 3);
            assert_eq!(timestamp(v[0]), Some(9));
        }
        assert_eq!(frames(&[0, 0, b'~', 1]).count(), 0);
        assert_eq!(frames(&[0, 40, b'A']).count(), 0);
    }

    /// Found by the fuzzer: a cross trade's 64-bit share count overflowed fixed point.
    #[test]
    fn huge_cross_trade_is_bad_value_not_overflow() {
        let mut q = vec![0u8, 40, b'Q', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(&u64::MAX.to_be_bytes());
        q.extend_from_slice(b"AAPL    ");
        q.extend_from_slice(&1_000_000u32.to_be_bytes());
        q.extend_from_slice(&7u64.to_be_bytes());
        q.push(b'O');
        let mut src = ItchSource::new(&q[..]);
        let mut books = Books::new(16, 16);
        let mut stats = FeedStats::quiet();
        assert_eq!(src.next(&mut books, &mut stats), Step::Skip);
        assert_eq!(stats.count(FeedError::BadValue), 1);
    }

    #[test]
    fn decoder_refuses_wrong_lengths_and_unknown_types() {
        assert_eq!(decode(&[]), Err(FeedError::Truncated));
        assert_eq!(decode(&[b'Z'; 10]), Err(FeedError::UnknownType));
        assert_eq!(decode(&[b'A'; 10]), Err(FeedError::Truncated));
        assert_eq!(decode(&[b'D'; 20]), Err(FeedError::BadLength));
    }

    #[test]
    fn garbage_streams_end_without_panicking() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for len in [0usize, 1, 2, 3, 7, 100, 5000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut src = ItchSource::new(&bytes[..]);
            let mut books = Books::new(16, 16);
            let mut stats = FeedStats::default();
            let mut steps = 0;
            while src.next(&mut books, &mut stats) != Step::End {
                steps += 1;
                assert!(steps <= len, "no progress");
            }
        }
    }
}
