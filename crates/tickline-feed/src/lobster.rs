//! LOBSTER message files (one event a row: time, type, order id, size,
//! price x 1e4, direction), optionally seeded from the first row of the
//! matching orderbook file, since the day starts with orders already resting.
//!
//! LOBSTER's book is price-level: events carry price and size, so levels are
//! updated directly and orders resting before the file starts need no id.
//!
//! A `message_N` file holds only the events that touch the top N levels: a
//! level that sinks below N can change unseen and later resurface stale.
//! Given the matching orderbook file as a reference, the source checks its
//! top N after every event and, where they differ, rebuilds that side from
//! the reference. A first difference at level N is hidden depth surfacing
//! (counted as `hidden_depth_refills`); one above it is an error, `resync`.
//! Without the reference, the book is built from messages alone.

use std::io::{BufRead, BufReader};

use tickline_book::LevelError;
use tickline_schema::{EventKind, Level, Side, MAX_LEVELS};

use crate::spec::{open_file, SourceError};
use crate::{Books, FeedError, FeedEvent, FeedStats, Source, Step, UNIT};

const PRICE_TO_FIXED: i64 = UNIT / 10_000;

/// One parsed message row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Seconds after midnight, as ns.
    pub time_ns: u64,
    /// Event type (1 submit, 2 partial cancel, 3 delete, 4 visible execution, 5 hidden execution, 6 cross, 7 halt).
    pub kind: u8,
    /// Order id.
    pub order_id: u64,
    /// Size, fixed point.
    pub size: i64,
    /// Price, fixed point.
    pub price: i64,
    /// 1 buy order, -1 sell order.
    pub direction: i8,
}

/// Seconds after midnight with up to 9 decimals, without float rounding.
fn parse_time(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ns = secs.parse::<u64>().ok()?.checked_mul(1_000_000_000)?;
    let mut scale = 100_000_000;
    for b in frac.bytes() {
        ns = ns.checked_add((b - b'0') as u64 * scale)?;
        scale /= 10;
    }
    Some(ns)
}

/// One message-file row, or None if it does not parse.
pub fn parse_row(line: &str) -> Option<Row> {
    let mut f = line.trim_end().split(',');
    let row = Row {
        time_ns: parse_time(f.next()?)?,
        kind: f.next()?.parse().ok()?,
        order_id: f.next()?.parse().ok()?,
        size: f.next()?.parse().ok()?,
        price: f.next()?.parse().ok()?,
        direction: f.next()?.parse().ok()?,
    };
    f.next().is_none().then_some(row)
}

/// Most levels a LOBSTER orderbook file has (it offers 1, 5, 10, 30 or 50).
pub const MAX_FILE_LEVELS: usize = 50;

/// One orderbook row: the non-empty levels of each side, best first.
#[derive(Clone, Copy, Debug)]
pub struct BookRow {
    bids: [Level; MAX_FILE_LEVELS],
    asks: [Level; MAX_FILE_LEVELS],
    n_bids: usize,
    n_asks: usize,
}

impl BookRow {
    /// Bid levels, best first.
    pub fn bids(&self) -> &[Level] {
        &self.bids[..self.n_bids]
    }
    /// Ask levels, best first.
    pub fn asks(&self) -> &[Level] {
        &self.asks[..self.n_asks]
    }
}

/// Parses an orderbook row: per level ask price, ask size, bid price, bid size.
/// Empty levels (LOBSTER's +-9999999999 with size 0) are left out. No allocation.
pub fn parse_book_row(line: &str) -> Option<BookRow> {
    let mut row = BookRow {
        bids: [Level::default(); MAX_FILE_LEVELS],
        asks: [Level::default(); MAX_FILE_LEVELS],
        n_bids: 0,
        n_asks: 0,
    };
    let mut fields = line.trim_end().split(',');
    let mut levels = 0;
    while let Some(ask_p) = fields.next() {
        let mut next = || fields.next()?.parse::<i64>().ok();
        let ask_p: i64 = ask_p.parse().ok()?;
        let (ask_q, bid_p, bid_q) = (next()?, next()?, next()?);
        if levels == MAX_FILE_LEVELS {
            return None;
        }
        levels += 1;
        let level = |p: i64, q: i64| {
            Some(Level {
                price: p.checked_mul(PRICE_TO_FIXED)?,
                qty: q.checked_mul(UNIT)?,
            })
        };
        if ask_q > 0 {
            row.asks[row.n_asks] = level(ask_p, ask_q)?;
            row.n_asks += 1;
        }
        if bid_q > 0 {
            row.bids[row.n_bids] = level(bid_p, bid_q)?;
            row.n_bids += 1;
        }
    }
    (levels > 0).then_some(row)
}

/// A LOBSTER message file, optionally checked against its orderbook file.
pub struct LobsterSource<R: BufRead> {
    input: R,
    line: String,
    instrument: u32,
    visible_depth: usize,
    /// Snapshot to install before the first message, which it already reflects.
    initial: Option<BookRow>,
    reference: Option<Box<dyn BufRead + Send>>,
    ref_line: String,
    resyncs: Vec<Resync>,
    /// Rebuilds whose first difference was the deepest visible level.
    depth_refills: u64,
    /// The ticker, where known (LOBSTER names files after it).
    symbol: Option<String>,
}

/// One rebuild from the reference: which row, which side, first differing level (0 = best).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resync {
    /// Message row (1-based).
    pub row: u64,
    /// The side that differed.
    pub side: Side,
    /// Its first differing level.
    pub level: usize,
}

/// Resyncs remembered for inspection; later ones are only counted.
const RESYNC_LOG: usize = 4096;

impl<R: BufRead> LobsterSource<R> {
    /// `visible_depth`: the N of the `message_N` file.
    pub fn new(input: R, instrument: u32, visible_depth: usize) -> Self {
        LobsterSource {
            input,
            line: String::with_capacity(128),
            instrument,
            visible_depth,
            initial: None,
            reference: None,
            ref_line: String::with_capacity(512),
            resyncs: Vec::with_capacity(64),
            depth_refills: 0,
            symbol: None,
        }
    }

    /// Names the instrument (LOBSTER's files start with its ticker).
    pub fn with_symbol(mut self, symbol: &str) -> Self {
        self.symbol = Some(symbol.to_owned());
        self
    }

    /// Checks the book against LOBSTER's orderbook file after every event,
    /// and starts from its first row. Rebuilds a side where they differ.
    pub fn with_reference_book(
        mut self,
        mut book: Box<dyn BufRead + Send>,
    ) -> std::io::Result<Self> {
        let mut first = String::new();
        book.read_line(&mut first)?;
        self.initial = Some(parse_book_row(&first).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "bad first orderbook row")
        })?);
        self.reference = Some(book);
        Ok(self)
    }

    /// Rebuilds recorded so far (the first 4096).
    pub fn resyncs(&self) -> &[Resync] {
        &self.resyncs
    }

    /// Compares the top N with the reference row for this event.
    fn verify(&mut self, books: &mut Books, stats: &mut FeedStats) {
        let Some(reference) = self.reference.as_mut() else {
            return;
        };
        self.ref_line.clear();
        if reference.read_line(&mut self.ref_line).unwrap_or(0) == 0 {
            self.reference = None;
            return;
        }
        let Some(row) = parse_book_row(&self.ref_line) else {
            stats.error(
                FeedError::BadRecord,
                format_args!("unparsable orderbook row"),
            );
            return;
        };
        let n = self.visible_depth;
        let book = books.book_mut(self.instrument);
        for (side, want) in [(Side::Buy, row.bids()), (Side::Sell, row.asks())] {
            let ladder = book.side_mut(side);
            let diff = (0..n).find(|&i| {
                ladder.levels().nth(i).unwrap_or_default()
                    != want.get(i).copied().unwrap_or_default()
            });
            if let Some(level) = diff {
                if level + 1 == n {
                    // A level below N changed unseen and surfaced: the file
                    // cannot show it, so this is expected, not an error.
                    self.depth_refills += 1;
                } else {
                    stats.error(
                        FeedError::Resync,
                        format_args!(
                            "{side:?} level {} differs from the reference book",
                            level + 1
                        ),
                    );
                }
                if self.resyncs.len() < RESYNC_LOG {
                    self.resyncs.push(Resync {
                        row: stats.messages,
                        side,
                        level,
                    });
                }
                ladder.clear();
                for l in want {
                    let _ = ladder.add(l.price, l.qty);
                }
            }
        }
    }

    fn read_row(&mut self, stats: &mut FeedStats) -> Result<Option<Row>, ()> {
        self.line.clear();
        match self.input.read_line(&mut self.line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => {
                stats.error(FeedError::BadRecord, format_args!("read error: {e}"));
                return Ok(None);
            }
        }
        stats.messages += 1;
        match parse_row(&self.line) {
            Some(r) => {
                stats.by_type[r.kind as usize] += 1;
                Ok(Some(r))
            }
            None => {
                stats.error(
                    FeedError::BadRecord,
                    format_args!("unparsable row {:?}", self.line.trim_end()),
                );
                Err(())
            }
        }
    }
}

impl<R: BufRead> Source for LobsterSource<R> {
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        let step = match self.read_row(stats) {
            Ok(None) => return Step::End,
            Ok(Some(row)) => {
                if let Some(snapshot) = self.initial.take() {
                    // The first message is already in the starting snapshot.
                    return self.install(snapshot, row.time_ns, books);
                }
                self.apply(row, books, stats)
            }
            Err(()) => Step::Skip,
        };
        // Every message row has its orderbook row, good or bad.
        self.verify(books, stats);
        step
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        (instrument == self.instrument)
            .then_some(self.symbol.as_deref())
            .flatten()
    }

    fn checks(&self) -> Vec<(String, u64)> {
        if self.reference.is_none() && self.resyncs.is_empty() && self.depth_refills == 0 {
            return Vec::new();
        }
        vec![("hidden_depth_refills".to_owned(), self.depth_refills)]
    }
}

impl<R: BufRead> LobsterSource<R> {
    fn install(&mut self, row: BookRow, ts: u64, books: &mut Books) -> Step {
        let id = self.instrument;
        let book = books.book_mut(id);
        book.clear();
        for l in row.bids() {
            let _ = book.side_mut(Side::Buy).add(l.price, l.qty);
        }
        for l in row.asks() {
            let _ = book.side_mut(Side::Sell).add(l.price, l.qty);
        }
        let mut ev = FeedEvent::quote(id, ts);
        ev.kind = EventKind::Snapshot;
        Step::Event(ev)
    }

    fn apply(&mut self, row: Row, books: &mut Books, stats: &mut FeedStats) -> Step {
        let id = self.instrument;
        let side = match row.direction {
            1 => Side::Buy,
            -1 => Side::Sell,
            d => {
                stats.error(FeedError::BadSide, format_args!("direction {d}"));
                return Step::Skip;
            }
        };
        let fixed = (
            row.price.checked_mul(PRICE_TO_FIXED),
            row.size.checked_mul(UNIT),
        );
        let (Some(price), Some(qty)) = fixed else {
            stats.error(
                FeedError::BadValue,
                format_args!("price {} size {} out of range", row.price, row.size),
            );
            return Step::Skip;
        };
        if row.price <= 0 || row.size <= 0 {
            stats.error(
                FeedError::BadValue,
                format_args!("price {} size {}", row.price, row.size),
            );
            return Step::Skip;
        }
        let mut ev = FeedEvent::quote(id, row.time_ns);
        let ladder = books.book_mut(id).side_mut(side);
        let result = match row.kind {
            1 => ladder.add(price, qty),
            2 | 3 => ladder.remove(price, qty),
            4..=6 => {
                ev.kind = EventKind::Trade;
                // Direction is the resting order's side; cross trades have none.
                ev.trade_side = if row.kind == 6 { 0 } else { -row.direction };
                ev.trade_price = price;
                ev.trade_qty = qty;
                // Hidden executions (5) and crosses (6) leave the visible book alone.
                if row.kind == 4 {
                    ladder.remove(price, qty)
                } else {
                    Ok(())
                }
            }
            7 => return Step::Skip,
            k => {
                stats.error(FeedError::UnknownType, format_args!("event type {k}"));
                return Step::Skip;
            }
        };
        if let Err(e) = result {
            let kind = match e {
                LevelError::BadValue => FeedError::BadValue,
                LevelError::NoSuchLevel | LevelError::Underflow => FeedError::UnknownOrder,
            };
            stats.error(
                kind,
                format_args!("order {} at {}: {e:?}", row.order_id, row.price),
            );
            return Step::Skip;
        }
        if books.book_mut(id).is_crossed() {
            stats.error(
                FeedError::Crossed,
                format_args!("after order {}", row.order_id),
            );
        }
        Step::Event(ev)
    }
}

/// `lobster:MESSAGES[,ORDERBOOK]`: a LOBSTER message file (its name says
/// the ticker and depth), checked against its orderbook file if given.
pub fn from_spec(rest: &str) -> Result<Box<dyn Source>, SourceError> {
    let mut files = rest.split(',');
    let msg = files.next().unwrap_or_default();
    let m = BufReader::new(open_file(msg, "LOBSTER messages")?);
    // The file name says its depth: ..._message_10.csv.
    let depth = msg
        .rsplit('_')
        .next()
        .and_then(|s| s.trim_end_matches(".csv").parse().ok())
        .unwrap_or(MAX_LEVELS);
    let mut src = LobsterSource::new(m, 1, depth);
    // ..and its ticker: AAPL_2012-06-21_34200000_57600000_message_10.csv.
    let file_name = std::path::Path::new(msg)
        .file_name()
        .and_then(|n| n.to_str());
    if let Some((ticker, _)) = file_name.and_then(|n| n.split_once('_')) {
        src = src.with_symbol(ticker);
    }
    Ok(match files.next() {
        Some(book) => {
            let b = BufReader::new(open_file(book, "LOBSTER orderbook")?);
            Box::new(
                src.with_reference_book(Box::new(b))
                    .map_err(|source| SourceError::File {
                        what: "LOBSTER orderbook",
                        path: book.to_owned(),
                        source,
                    })?,
            )
        }
        None => Box::new(src),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_exactly() {
        assert_eq!(parse_time("34200.004241176"), Some(34_200_004_241_176));
        assert_eq!(parse_time("34200.00426064"), Some(34_200_004_260_640));
        assert_eq!(parse_time("1"), Some(1_000_000_000));
        assert_eq!(parse_time("1.x"), None);
        assert_eq!(
            parse_time("18446744073.999999999"),
            None,
            "overflows u64 ns"
        );
        assert!(
            parse_book_row("9999999999999999,1,1,1").is_none(),
            "price overflows fixed point"
        );
        assert_eq!(parse_row("1.5,1,2,3,4"), None);
        assert_eq!(parse_row("1.5,1,2,3,4,1,9"), None);
        assert_eq!(
            parse_row("1.5,4,2,3,4,-1\n"),
            Some(Row {
                time_ns: 1_500_000_000,
                kind: 4,
                order_id: 2,
                size: 3,
                price: 4,
                direction: -1
            })
        );
    }

    /// Runs one message against a reference book row; returns (resync errors, refills).
    fn against_reference(message: &str, reference: &str) -> (u64, u64) {
        // Depth 2: one bid and one ask level per row, N = 2.
        let start = "101000,10,100000,10,102000,5,99000,5\n";
        let book = format!("{start}{reference}");
        let src = LobsterSource::new(
            std::io::Cursor::new(format!("1.0,1,1,1,100000,1\n{message}")),
            1,
            2,
        );
        let mut src = src
            .with_reference_book(Box::new(std::io::Cursor::new(book)))
            .unwrap();
        let mut books = Books::new(16, 16);
        let mut stats = FeedStats::quiet();
        while src.next(&mut books, &mut stats) != Step::End {}
        (stats.count(FeedError::Resync), src.depth_refills)
    }

    #[test]
    fn a_difference_at_the_deepest_level_is_a_refill_and_above_it_an_error() {
        // A delete of the best bid: level 2 (unseen below) moves up to level 1,
        // and the reference shows a level 2 the file never told of.
        let delete = "2.0,3,7,10,100000,1\n";
        let surfaced = "101000,10,99000,5,102000,5,98000,7\n";
        assert_eq!(against_reference(delete, surfaced), (0, 1));
        // The reference disagrees at the best bid: the book was wrong.
        let wrong_top = "101000,10,99500,5,102000,5,99000,5\n";
        assert_eq!(against_reference(delete, wrong_top), (1, 0));
    }
}
