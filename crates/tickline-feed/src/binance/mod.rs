//! Binance depth streams as captured to text: one message a line,
//! `<receive ns> <json>`: REST depth snapshots, and combined-stream
//! messages of one or many symbols: `depthUpdate` diffs, `bookTicker`,
//! `trade` and `aggTrade` (gzip handled by the caller). Each symbol has its
//! own book, instrument id, snapshot, diff chain and gap state. Other
//! streams are counted by type and skipped.
//!
//! The book follows Binance's documented procedure: diffs seen before the
//! snapshot are buffered; after it, diffs wholly older than the snapshot are
//! dropped, the first applied one must straddle it, and each next one must
//! chain (futures: `pu` equals the previous `u`; spot: `U` is the previous
//! `u` + 1). A break is a gap: counted, and the book is invalid (no events)
//! until the next snapshot. `bookTicker` is not applied: when its update id
//! equals the book's, its best levels are compared with ours and counted.

use std::io::{BufRead, BufReader};

use tickline_schema::{BookEvent, EventKind, Level, OrderAction, MAX_LEVELS};

use crate::{Books, FeedError, FeedEvent, FeedStats, Source, Step};

mod book;
mod framing;
mod messages;

pub use framing::MergedLines;

use crate::spec::{open_file, SourceError};
use book::{SymbolBook, AHEAD_MAX};
use framing::Line;
use messages::{Sides, SymbolOf, TopLevel, Trade};

/// A millisecond timestamp in ns; 0 (unknown) when absurd.
fn ms_to_ns(ms: u64) -> u64 {
    ms.checked_mul(1_000_000).unwrap_or(0)
}

/// A decimal string to fixed-point 1e-8, exactly; None if malformed or too precise.
pub fn parse_fixed(s: &str) -> Option<i64> {
    tickline_schema::parse_fixed(s.as_bytes())
}

/// Spot or futures chaining rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Market {
    /// Spot: each diff's `U` follows the previous `u`.
    Spot,
    /// Futures: each diff's `pu` is the previous `u`.
    Futures,
}

/// Counts specific to this source, for tests and summaries (all symbols).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinanceCounts {
    /// Depth snapshots taken.
    pub snapshots: u64,
    /// Diffs applied to a valid book.
    pub diffs_applied: u64,
    /// Diffs older than the snapshot, dropped.
    pub diffs_stale: u64,
    /// Diffs dropped while the book waits for a snapshot.
    pub diffs_while_invalid: u64,
    /// bookTicker messages compared with the book.
    pub tickers_compared: u64,
    /// Of those, the ones that differed.
    pub tickers_mismatched: u64,
    /// Trades seen (`trade` and `aggTrade`).
    pub trades: u64,
    /// Messages of streams this source does not read, by stream type
    /// (e.g. `markPrice`): skipped, not errors.
    pub skipped_streams: std::collections::BTreeMap<String, u64>,
    /// Capture lines that are not market data (cryptofeed's configuration,
    /// connect and subscribe lines).
    pub other_lines: u64,
}

/// The levels a levels record sets, as its book event carries them.
#[derive(Clone, Copy, Debug, Default)]
struct LevelChanges {
    bids: [Level; MAX_LEVELS],
    asks: [Level; MAX_LEVELS],
    /// The longer side's count.
    depth: u8,
}

/// An event queued to be given, and what a levels record sets.
#[derive(Clone, Copy, Debug)]
struct Pending {
    ev: FeedEvent,
    levels: LevelChanges,
}

/// A Binance capture (one JSON message a line, optionally gzipped), of one
/// symbol or many (a combined stream): a book per symbol, each with its own
/// instrument id, assigned in order of appearance from the first one given.
pub struct BinanceSource<R: BufRead> {
    input: R,
    line: String,
    next_instrument: u32,
    /// Book state per symbol, in order of appearance.
    symbols: Vec<(String, SymbolBook)>,
    /// A snapshot that came before any symbol did: the first symbol's.
    orphan: Option<String>,
    /// Levels of the depth message being read, reused.
    sides: Sides,
    /// Receive time of the line read last, ns since the epoch.
    receive_ns: u64,
    /// Yield the levels each depth message sets as records too.
    records: bool,
    /// Events queued to be given in turn: a depth message's records and
    /// then its book event; a snapshot that waited for its symbol's.
    pending: Vec<Pending>,
    /// The next of `pending` to give.
    pending_next: usize,
    /// Counters, for tests and summaries.
    pub counts: BinanceCounts,
}

impl<R: BufRead> BinanceSource<R> {
    /// Reads `input`; the first symbol seen gets instrument id
    /// `first_instrument`, the next ones the ids after it.
    pub fn new(input: R, first_instrument: u32) -> Self {
        BinanceSource {
            input,
            line: String::with_capacity(1 << 16),
            next_instrument: first_instrument,
            symbols: Vec::new(),
            orphan: None,
            // A REST snapshot has up to 1000 levels a side.
            sides: Sides::with_capacity(1024),
            receive_ns: 0,
            records: false,
            // A snapshot's levels (up to 1000 a side: 100 records), a clear
            // and its event.
            pending: Vec::with_capacity(256),
            pending_next: 0,
            counts: BinanceCounts::default(),
        }
    }
    /// Symbols and their instrument ids, in order of appearance.
    pub fn instruments(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.symbols.iter().map(|(s, b)| (s.as_str(), b.instrument))
    }
    /// The index of `symbol`'s book, made at its first message.
    fn book_of(&mut self, symbol: &str) -> usize {
        if let Some(k) = self.symbols.iter().position(|(s, _)| s == symbol) {
            return k;
        }
        let book = SymbolBook {
            instrument: self.next_instrument,
            ahead: Vec::with_capacity(AHEAD_MAX),
            ..Default::default()
        };
        self.next_instrument += 1;
        self.symbols.push((symbol.to_owned(), book));
        self.symbols.len() - 1
    }
    /// Which book a snapshot belongs to: the symbol it names; else (a
    /// futures REST snapshot names none) the one whose diffs' update ids
    /// are nearest its `lastUpdateId` (each symbol has its own sequence).
    fn snapshot_owner(&mut self, symbol: Option<&str>, id: u64) -> Option<usize> {
        if let Some(s) = symbol {
            return Some(self.book_of(s));
        }
        let near = |b: &SymbolBook| b.last_u.map(|u| u.abs_diff(id));
        let with_ids = self
            .symbols
            .iter()
            .enumerate()
            .filter_map(|(k, (_, b))| Some((k, near(b)?)));
        with_ids
            .min_by_key(|(_, d)| *d)
            .map(|(k, _)| k)
            .or(if self.symbols.len() == 1 {
                Some(0)
            } else {
                None
            })
    }
    /// A `trade` or `aggTrade`: price, quantity, and the aggressor from `m`.
    fn trade(&mut self, k: usize, data: &str, stats: &mut FeedStats) -> Step {
        let m = match serde_json::from_str::<Trade>(data) {
            Ok(m) => m,
            Err(e) => return bad_record(stats, format_args!("trade: {e}")),
        };
        let (Some(p), Some(q)) = (parse_fixed(m.price), parse_fixed(m.qty)) else {
            stats.error(FeedError::BadValue, format_args!("trade p/q"));
            return Step::Skip;
        };
        self.counts.trades += 1;
        // One clock per market, as the depth messages give it: futures depth
        // carries the matching engine's `T`, spot depth only its send time `E`.
        let book = &self.symbols[k].1;
        let ms = match (book.market, m.event_ms) {
            (Some(Market::Spot), e) if e > 0 => e,
            _ => m.time_ms,
        };
        let mut ev = FeedEvent::quote(book.instrument, ms_to_ns(ms));
        ev.kind = EventKind::Trade;
        // m: the buyer was the maker, so the seller took liquidity.
        ev.trade_side = match m.buyer_maker {
            Some(true) => -1,
            Some(false) => 1,
            None => 0,
        };
        ev.trade_price = p;
        ev.trade_qty = q;
        Step::Event(ev)
    }
    /// A capture line's JSON: a snapshot, or a combined-stream message
    /// (`rest`: a REST reply, where anything but a snapshot is not data).
    fn json_line(
        &mut self,
        json: &str,
        url_symbol: Option<&str>,
        rest: bool,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> Step {
        let top = match serde_json::from_str::<TopLevel>(json) {
            Ok(top) => top,
            Err(e) => return bad_record(stats, format_args!("{e}")),
        };
        if top.last_update_id.is_some() {
            stats.by_type[b'S' as usize] += 1;
            return self.snapshot_of(json, url_symbol, books, stats);
        }
        if rest {
            self.counts.other_lines += 1;
            return Step::Skip;
        }
        match (top.stream, top.data) {
            (Some(stream), Some(data)) => self.stream_message(stream, data.get(), books, stats),
            _ => {
                stats.error(
                    FeedError::UnknownType,
                    format_args!("neither a snapshot nor a stream message"),
                );
                Step::Skip
            }
        }
    }
    /// One message of a combined stream: `{"stream":..,"data":{..}}`.
    fn stream_message(
        &mut self,
        stream: &str,
        data: &str,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> Step {
        let kind = stream.split('@').nth(1).unwrap_or("");
        let read = matches!(kind, "depth" | "bookTicker" | "trade" | "aggTrade");
        if !read {
            // Allocates only the first time a stream type is seen.
            match self.counts.skipped_streams.get_mut(kind) {
                Some(n) => *n += 1,
                None => {
                    self.counts.skipped_streams.insert(kind.to_owned(), 1);
                }
            }
            return Step::Skip;
        }
        // The stream's name starts with its symbol (`btcusdt@depth`): books
        // are found by it without scanning the data or allocating.
        let key = stream.split('@').next().unwrap_or("");
        let k = match self.symbols.iter().position(|(_, b)| b.stream_key == key) {
            Some(k) => k,
            None => {
                let Ok(SymbolOf { symbol }) = serde_json::from_str(data) else {
                    return bad_record(stats, format_args!("{stream} without s"));
                };
                let k = self.book_of(symbol);
                let b = &mut self.symbols[k].1;
                if b.stream_key.is_empty() {
                    b.stream_key = key.to_owned();
                }
                k
            }
        };
        let orphan = self.orphan.take().map(|s| self.snapshot(&s, books, stats));
        let step = match kind {
            "depth" => {
                stats.by_type[b'D' as usize] += 1;
                self.diff(k, data, books, stats)
            }
            "bookTicker" => {
                stats.by_type[b'B' as usize] += 1;
                self.ticker(k, data, books, stats)
            }
            _ => {
                stats.by_type[b'T' as usize] += 1;
                self.trade(k, data, stats)
            }
        };
        let Some(first) = orphan else {
            return step;
        };
        // The snapshot's events, then this message's, in turn (its records
        // are queued already).
        for s in [first, step] {
            if let Step::Event(ev) = s {
                self.queue(ev);
            }
        }
        Step::Skip
    }

    /// Queues `ev` to be given by the next calls, after those queued.
    fn queue(&mut self, ev: FeedEvent) {
        self.start_queue();
        self.pending.push(Pending {
            ev,
            levels: LevelChanges::default(),
        });
    }

    /// Empties the queue if all of it has been given.
    fn start_queue(&mut self) {
        if self.pending_next == self.pending.len() {
            self.pending.clear();
            self.pending_next = 0;
        }
    }
}

/// Counts a malformed line; nothing of it is applied.
fn bad_record(stats: &mut FeedStats, detail: std::fmt::Arguments<'_>) -> Step {
    stats.error(FeedError::BadRecord, detail);
    Step::Skip
}

impl<R: BufRead> BinanceSource<R> {
    /// The next line's step; its receive time in `self.receive_ns`.
    fn step(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if let Some(p) = self.pending.get(self.pending_next) {
            self.pending_next += 1;
            return Step::Event(p.ev);
        }
        if let Some(step) = self.replay(books, stats) {
            return step;
        }
        self.line.clear();
        match self.input.read_line(&mut self.line) {
            Ok(0) => return Step::End,
            Ok(_) => {}
            Err(e) => {
                stats.error(FeedError::BadRecord, format_args!("read error: {e}"));
                return Step::End;
            }
        }
        stats.messages += 1;
        let line = std::mem::take(&mut self.line);
        let step = match Line::parse(line.trim_end()) {
            Line::Message(json, at) => {
                self.receive_ns = at;
                self.json_line(json, None, false, books, stats)
            }
            Line::Rest(json, url_symbol, at) => {
                self.receive_ns = at;
                self.json_line(json, url_symbol, true, books, stats)
            }
            Line::Other => {
                self.counts.other_lines += 1;
                Step::Skip
            }
            Line::Bad => {
                stats.error(
                    FeedError::BadRecord,
                    format_args!("not a capture line ('<ns> <json>' or cryptofeed's)"),
                );
                Step::Skip
            }
        };
        self.line = line;
        step
    }
}

impl<R: BufRead> Source for BinanceSource<R> {
    /// Every event carries the receive time of the line whose reading made
    /// it (diffs held for a snapshot: the snapshot's, when their book
    /// became known).
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        // After the step: it reads the line (packet) it stamps.
        let step = self.step(books, stats);
        step.received_at(self.receive_ns)
    }

    fn epoch_times(&self) -> bool {
        true
    }

    fn yield_records(&mut self) -> Option<crate::Records> {
        self.records = true;
        Some(crate::Records::ByPrice)
    }

    fn fill_record(&self, out: &mut BookEvent) {
        let Some(p) = self
            .pending_next
            .checked_sub(1)
            .and_then(|k| self.pending.get(k))
        else {
            return;
        };
        if p.ev.order.action == OrderAction::Levels as u8 {
            (out.bids, out.asks) = (p.levels.bids, p.levels.asks);
            out.depth = p.levels.depth;
        }
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        let found = self
            .symbols
            .iter()
            .find(|(_, b)| b.instrument == instrument);
        found.map(|(s, _)| s.as_str())
    }

    fn checks(&self) -> Vec<(String, u64)> {
        let c = &self.counts;
        let mut v: Vec<(String, u64)> = [
            ("snapshots", c.snapshots),
            ("diffs_applied", c.diffs_applied),
            ("diffs_stale", c.diffs_stale),
            ("diffs_while_invalid", c.diffs_while_invalid),
            ("book_tickers_compared", c.tickers_compared),
            ("book_tickers_mismatched", c.tickers_mismatched),
            ("trades", c.trades),
            ("other_lines", c.other_lines),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        v.extend(
            c.skipped_streams
                .iter()
                .map(|(k, n)| (format!("skipped_stream_{k}"), *n)),
        );
        v
    }
}

/// `binance:FILE[.gz][,FILE...]`: one capture file, or several (a
/// cryptofeed capture's websocket and REST files) merged by receive time.
pub fn from_spec(rest: &str) -> Result<Box<dyn Source>, SourceError> {
    let mut inputs = Vec::new();
    for path in rest.split(',') {
        let f = open_file(path, "Binance capture")?;
        let r: Box<dyn BufRead + Send> = if path.ends_with(".gz") {
            Box::new(BufReader::new(flate2::read::GzDecoder::new(f)))
        } else {
            Box::new(BufReader::new(f))
        };
        inputs.push(r);
    }
    Ok(match inputs.len() {
        1 => Box::new(BinanceSource::new(inputs.pop().expect("one"), 1)),
        _ => Box::new(BinanceSource::new(MergedLines::new(inputs), 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UNIT;
    use tickline_schema::Side;

    fn run(lines: &[&str]) -> (Vec<Step>, FeedStats, BinanceCounts, Books) {
        let input = lines.join("\n");
        let mut src = BinanceSource::new(input.as_bytes(), 1);
        let mut books = Books::new(64, 64);
        let mut stats = FeedStats::default();
        let mut steps = Vec::new();
        loop {
            match src.next(&mut books, &mut stats) {
                Step::End => break,
                s => steps.push(s),
            }
        }
        (steps, stats, src.counts, books)
    }

    fn diff(first: u64, last: u64, prev: u64, bid: &str) -> String {
        format!(
            r#"1 {{"stream":"x@depth@0ms","data":{{"e":"depthUpdate","E":1,"s":"X","U":{first},"u":{last},"pu":{prev},"b":[["{bid}","1"]],"a":[]}}}}"#
        )
    }

    /// Each event as (kind, action, bids, asks, exchange ms, receive s);
    /// the levels of levels records only.
    type Row = (EventKind, u8, Vec<(i64, i64)>, Vec<(i64, i64)>, u64, u64);

    fn record_rows(lines: &[String]) -> Vec<Row> {
        let input = std::io::Cursor::new(lines.join("\n").into_bytes());
        let mut src = BinanceSource::new(input, 1);
        assert_eq!(src.yield_records(), Some(crate::Records::ByPrice));
        let mut reader = crate::EventReader::new(Box::new(src), MAX_LEVELS, Vec::new());
        let mut out = <BookEvent as bytemuck::Zeroable>::zeroed();
        let mut rows = Vec::new();
        loop {
            match reader.next(&mut out) {
                crate::ReadStep::Event => {}
                crate::ReadStep::End => {
                    assert_eq!(reader.stats().error_counts().count(), 0);
                    return rows;
                }
                _ => continue,
            }
            let levels = |side: &[Level]| {
                let set = side[..out.depth as usize].iter().filter(|l| l.price > 0);
                set.map(|l| (l.price, l.qty)).collect::<Vec<_>>()
            };
            let (bids, asks) = match out.order.action == OrderAction::Levels as u8 {
                true => (levels(&out.bids), levels(&out.asks)),
                false => (Vec::new(), Vec::new()),
            };
            let kind = EventKind::try_from(out.kind).unwrap();
            let (ms, s) = (
                out.trace.exchange_ns / 1_000_000,
                out.trace.receive_ns / 1_000_000_000,
            );
            rows.push((kind, out.order.action, bids, asks, ms, s));
        }
    }

    #[test]
    fn book_records_carry_the_levels_a_message_sets_before_its_book_event() {
        // 12 bids: two records (10 levels a side each).
        let bids: Vec<String> = (0..12).map(|k| format!(r#"["{}","1"]"#, 100 - k)).collect();
        let lines = [
            format!(r#"7 {{"lastUpdateId":100,"E":5000,"bids":[{}],"asks":[["120","1"]]}}"#, bids.join(",")),
            r#"8 {"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":4001,"T":4000,"s":"X","U":90,"u":95,"pu":89,"b":[["8","1"]],"a":[]}}"#.into(),
            r#"8 {"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":6001,"T":6000,"s":"X","U":99,"u":101,"pu":99,"b":[["101","1.5"]],"a":[]}}"#.into(),
            r#"9 {"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":7001,"T":7000,"s":"X","U":102,"u":102,"pu":101,"b":[["99","0"]],"a":[["121","3"]]}}"#.into(),
        ];
        let u = |x: &str| parse_fixed(x).unwrap();
        let lv = |v: &[(&str, &str)]| v.iter().map(|(p, q)| (u(p), u(q))).collect::<Vec<_>>();
        let snap: Vec<(String, &str)> = (0..12).map(|k| ((100 - k).to_string(), "1")).collect();
        let snap: Vec<(&str, &str)> = snap.iter().map(|(p, q)| (p.as_str(), *q)).collect();
        let (lvl, clr, none) = (OrderAction::Levels as u8, OrderAction::Clear as u8, 0);
        let (order, quote) = (EventKind::Order, EventKind::Quote);
        // A futures REST snapshot names no symbol: it is applied when the
        // first stream message (received at 8 s) says whose it is.
        let want: Vec<Row> = vec![
            (order, clr, vec![], vec![], 5000, 8),
            (order, lvl, lv(&snap[..10]), lv(&[("120", "1")]), 5000, 8),
            (order, lvl, lv(&snap[10..]), vec![], 5000, 8),
            (EventKind::Snapshot, none, vec![], vec![], 5000, 8),
            // The stale diff (u 95 < 100) sets nothing: no records.
            (order, lvl, lv(&[("101", "1.5")]), vec![], 6000, 8),
            (quote, none, vec![], vec![], 6000, 8),
            (order, lvl, lv(&[("99", "0")]), lv(&[("121", "3")]), 7000, 9),
            (quote, none, vec![], vec![], 7000, 9),
        ];
        assert_eq!(record_rows(&lines), want);
    }

    #[test]
    fn a_gap_invalidates_the_book_until_the_next_snapshot() {
        let snap = |id: u64| {
            format!(r#"1 {{"lastUpdateId":{id},"bids":[["10","1"]],"asks":[["20","1"]]}}"#)
        };
        let lines = [
            diff(90, 95, 89, "11"), // before the snapshot, stale after it
            snap(100),
            diff(96, 99, 95, "12"),    // stale (u < 100)
            diff(99, 101, 99, "13"),   // straddles 100: applied
            diff(102, 103, 101, "14"), // chains: applied
            diff(110, 111, 109, "15"), // pu 109 != 103: gap
            diff(112, 113, 111, "16"), // book invalid: ignored
            snap(200),
            diff(199, 201, 198, "17"), // straddles: applied
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (steps, stats, c, books) = run(&refs);
        assert_eq!(stats.count(FeedError::Gap), 1);
        assert_eq!(c.snapshots, 2);
        assert_eq!(c.diffs_applied, 3);
        assert_eq!(c.diffs_stale, 2);
        assert_eq!(c.diffs_while_invalid, 1);
        let events = steps.iter().filter(|s| matches!(s, Step::Event(_))).count();
        assert_eq!(events, 5, "2 snapshots + 3 diffs");
        let bids: Vec<i64> = books
            .book(1)
            .unwrap()
            .side(Side::Buy)
            .levels()
            .map(|l| l.price / UNIT)
            .collect();
        assert_eq!(
            bids,
            vec![17, 10],
            "second snapshot replaced the first book"
        );
    }

    /// Found by fuzzing: absurd timestamps and ids must not overflow.
    /// Each event carries the receive time of the line whose reading made
    /// it: diffs held for the snapshot, the snapshot's.
    #[test]
    fn events_carry_their_lines_receive_time() {
        let d = |t: u64, first: u64, last: u64, prev: u64, bid: &str| {
            diff(first, last, prev, bid).replacen("1 ", &format!("{t} "), 1)
        };
        // hftbacktest's tokens: ns since the epoch.
        let t = |k: u64| 1_723_161_255_000_000_000 + k;
        let lines = [
            d(t(1), 96, 101, 95, "11"), // held until the snapshot
            format!(
                r#"{} {{"lastUpdateId":100,"bids":[["10","1"]],"asks":[["20","1"]]}}"#,
                t(2)
            ),
            d(t(3), 102, 103, 101, "12"),
            format!(
                r#"{} {{"stream":"x@trade","data":{{"T":5,"s":"X","p":"15","q":"1","m":true}}}}"#,
                t(4)
            ),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (steps, ..) = run(&refs);
        let received: Vec<u64> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Event(ev) => Some(ev.receive_ns),
                _ => None,
            })
            .collect();
        assert_eq!(received, [t(2), t(2), t(3), t(4)], "{steps:?}");
    }

    #[test]
    fn extreme_numbers_do_not_overflow() {
        let max = u64::MAX;
        let lines = [
            format!(r#"1 {{"lastUpdateId":{max},"E":{max},"bids":[],"asks":[]}}"#),
            format!(
                r#"1 {{"stream":"x@depth@100ms","data":{{"E":{max},"s":"X","U":{max},"u":{max},"b":[],"a":[]}}}}"#
            ),
            format!(
                r#"1 {{"stream":"x@trade","data":{{"T":{max},"s":"X","p":"1","q":"1","m":true}}}}"#
            ),
        ];
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (steps, _, c, _) = run(&refs);
        assert_eq!(c.trades, 1);
        assert!(steps
            .iter()
            .any(|s| matches!(s, Step::Event(e) if e.exchange_ns == 0)));
    }

    #[test]
    fn garbage_lines_are_counted_not_fatal() {
        let good = diff(1, 2, 0, "1");
        let (_, stats, c, _) = run(&[
            "",
            "nonsense",
            "1 {\"stream\":\"x@kline_1m\",\"data\":{}}",
            "1 {\"a\":1}",
            &good,
        ]);
        // An empty line carries nothing (counted), "nonsense" is bad.
        assert_eq!(stats.count(FeedError::BadRecord), 1);
        assert_eq!(c.other_lines, 1);
        // A stream it does not read is skipped and counted, not an error.
        assert_eq!(stats.count(FeedError::UnknownType), 1);
        assert_eq!(c.skipped_streams.get("kline_1m"), Some(&1));
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_fixed("61800.20"), Some(61_800 * UNIT + 20_000_000));
        assert_eq!(parse_fixed("0.00000001"), Some(1));
        assert_eq!(parse_fixed("1645"), Some(1645 * UNIT));
        assert_eq!(
            parse_fixed("61837.63000000"),
            Some(61_837 * UNIT + 63_000_000)
        );
        assert_eq!(parse_fixed("0.000000001"), None);
        assert_eq!(parse_fixed("-1"), None);
        assert_eq!(parse_fixed("1e5"), None);
        assert_eq!(parse_fixed(""), None);
    }

    #[test]
    fn keys_inside_nested_objects_or_strings_are_not_taken() {
        // The scanner this replaced took the first `"u":` anywhere.
        let tricky = r#"1 {"stream":"x@depth@0ms","data":{"e":"depthUpdate","E":1,"s":"X","x":{"u":7,"pu":1},"note":"\"u\":8","U":99,"u":101,"pu":99,"b":[["13","1"]],"a":[]}}"#;
        let snap = r#"1 {"lastUpdateId":100,"bids":[["10","1"]],"asks":[["20","1"]]}"#;
        let (steps, stats, c, books) = run(&[snap, tricky]);
        assert_eq!(
            stats.error_counts().count(),
            0,
            "{:?}",
            stats.error_counts().collect::<Vec<_>>()
        );
        let events = steps.iter().filter(|s| matches!(s, Step::Event(_)));
        assert_eq!(
            (c.diffs_applied, events.count()),
            (1, 2),
            "snapshot and diff"
        );
        let best = books.book(1).unwrap().best_bid().unwrap();
        assert_eq!(best.price, 13 * UNIT);
    }
}
