//! Binance depth streams as captured to text: one message a line,
//! `<receive ns> <json>`: a REST depth snapshot, `depthUpdate` diffs,
//! `bookTicker` and `trade` (gzip handled by the caller).
//!
//! The book follows Binance's documented procedure: diffs seen before the
//! snapshot are buffered; after it, diffs wholly older than the snapshot are
//! dropped, the first applied one must straddle it, and each next one must
//! chain (futures: `pu` equals the previous `u`; spot: `U` is the previous
//! `u` + 1). A break is a gap: counted, and the book is invalid (no events)
//! until the next snapshot. `bookTicker` is not applied: when its update id
//! equals the book's, its best levels are compared with ours and counted.

use std::io::BufRead;

use tickline_schema::{EventKind, Side};

use crate::{Books, FeedError, FeedEvent, FeedStats, Source, Step, UNIT};

/// The value that follows `"key":` in `json`, scanning from the start.
/// Keys in these messages are unique per object level we read.
fn value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let bytes = json.as_bytes();
    let k = key.as_bytes();
    let mut i = 0;
    while let Some(off) = json[i..].find('"') {
        let start = i + off + 1;
        let end = start + k.len();
        if bytes.len() > end + 1
            && &bytes[start..end] == k
            && bytes[end] == b'"'
            && bytes[end + 1] == b':'
        {
            return Some(&json[end + 2..]);
        }
        i = start;
    }
    None
}

fn u64_value(json: &str, key: &str) -> Option<u64> {
    let v = value(json, key)?;
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    v[..end].parse().ok()
}

fn str_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let v = value(json, key)?.strip_prefix('"')?;
    Some(&v[..v.find('"')?])
}

/// A millisecond timestamp field in ns; 0 (unknown) when missing or absurd.
fn exchange_ns(json: &str, key: &str) -> u64 {
    u64_value(json, key)
        .and_then(|ms| ms.checked_mul(1_000_000))
        .unwrap_or(0)
}

fn bool_value(json: &str, key: &str) -> Option<bool> {
    let v = value(json, key)?;
    if v.starts_with("true") {
        Some(true)
    } else if v.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

/// A decimal string to fixed-point 1e-8, exactly; None if malformed or too precise.
pub fn parse_fixed(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 8 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v = int.parse::<i64>().ok()?.checked_mul(UNIT)?;
    let mut scale = UNIT / 10;
    for b in frac.bytes() {
        v = v.checked_add((b - b'0') as i64 * scale)?;
        scale /= 10;
    }
    Some(v)
}

/// Iterates `[["price","qty"],...]` pairs of the array after `"key":`.
fn levels<'a>(json: &'a str, key: &str) -> Option<impl Iterator<Item = Option<(i64, i64)>> + 'a> {
    let v = value(json, key)?.strip_prefix('[')?;
    // End of this array: the bracket that closes it, not a later one.
    let mut depth = 1;
    let end = v.bytes().position(|b| {
        match b {
            b'[' => depth += 1,
            b']' => depth -= 1,
            _ => {}
        }
        depth == 0
    })?;
    let body = &v[..end];
    Some(body.split(']').filter(|s| s.contains('"')).map(|pair| {
        let mut it = pair.split('"').skip(1).step_by(2);
        let p = parse_fixed(it.next()?)?;
        let q = parse_fixed(it.next()?)?;
        Some((p, q))
    }))
}

/// Spot or futures chaining rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Market {
    /// Spot: each diff's `U` follows the previous `u`.
    Spot,
    /// Futures: each diff's `pu` is the previous `u`.
    Futures,
}

/// Counts specific to this source, for tests and summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// Trades seen.
    pub trades: u64,
}

/// A Binance depth capture (one JSON message a line, optionally gzipped).
pub struct BinanceSource<R: BufRead> {
    input: R,
    line: String,
    instrument: u32,
    market: Option<Market>,
    /// Update id the book is at; None while invalid (before a snapshot or after a gap).
    book_u: Option<u64>,
    /// Snapshot id that the next diff must straddle.
    pending_snapshot: Option<u64>,
    /// Diffs received before the first snapshot, replayed after it.
    early: Vec<String>,
    replaying: usize,
    /// Counters, for tests and summaries.
    pub counts: BinanceCounts,
    symbol: String,
    /// Tickers ahead of the book (they often arrive before their diff).
    ahead: Vec<Ticker>,
}

/// Best levels as a bookTicker gave them, at update id `u`.
#[derive(Clone, Copy, Debug)]
struct Ticker {
    u: u64,
    bid: (i64, i64),
    ask: (i64, i64),
}

/// Tickers kept while waiting for the book to reach their id.
const AHEAD_MAX: usize = 64;

/// Diffs kept while waiting for the first snapshot.
const EARLY_MAX: usize = 10_000;

impl<R: BufRead> BinanceSource<R> {
    /// Reads `input`, giving its book instrument id `instrument`.
    pub fn new(input: R, instrument: u32) -> Self {
        BinanceSource {
            input,
            line: String::with_capacity(1 << 16),
            instrument,
            market: None,
            book_u: None,
            pending_snapshot: None,
            early: Vec::new(),
            replaying: 0,
            counts: BinanceCounts::default(),
            symbol: String::new(),
            ahead: Vec::with_capacity(AHEAD_MAX),
        }
    }

    fn snapshot(&mut self, json: &str, books: &mut Books, stats: &mut FeedStats) -> Step {
        let Some(id) = u64_value(json, "lastUpdateId") else {
            stats.error(
                FeedError::BadRecord,
                format_args!("snapshot without lastUpdateId"),
            );
            return Step::Skip;
        };
        let book = books.book_mut(self.instrument);
        book.clear();
        for (key, side) in [("bids", Side::Buy), ("asks", Side::Sell)] {
            let Some(it) = levels(json, key) else {
                stats.error(FeedError::BadRecord, format_args!("snapshot without {key}"));
                return Step::Skip;
            };
            for lvl in it {
                match lvl {
                    Some((p, q)) if p > 0 && q >= 0 => {
                        let _ = book.side_mut(side).set(p, q);
                    }
                    _ => stats.error(FeedError::BadValue, format_args!("snapshot level")),
                }
            }
        }
        self.counts.snapshots += 1;
        self.pending_snapshot = Some(id);
        self.book_u = Some(id);
        // Diffs that arrived before the snapshot are applied now, in order.
        self.replaying = self.early.len();
        let mut ev = FeedEvent::quote(self.instrument, exchange_ns(json, "E"));
        ev.kind = EventKind::Snapshot;
        Step::Event(ev)
    }

    fn diff(&mut self, data: &str, books: &mut Books, stats: &mut FeedStats) -> Step {
        let (Some(first), Some(last)) = (u64_value(data, "U"), u64_value(data, "u")) else {
            stats.error(
                FeedError::BadRecord,
                format_args!("depthUpdate without U/u"),
            );
            return Step::Skip;
        };
        let prev = u64_value(data, "pu");
        let market = *self.market.get_or_insert(if prev.is_some() {
            Market::Futures
        } else {
            Market::Spot
        });
        let Some(book_u) = self.book_u else {
            if self.counts.snapshots == 0 && self.early.len() < EARLY_MAX {
                self.early.push(data.to_owned());
            } else {
                self.counts.diffs_while_invalid += 1;
            }
            return Step::Skip;
        };
        if let Some(snap) = self.pending_snapshot {
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
                    stats,
                    format_args!("first diff [{first}, {last}] does not straddle snapshot {snap}"),
                );
            }
            self.pending_snapshot = None;
        } else {
            let chained = match (market, prev) {
                (Market::Futures, Some(pu)) => pu == book_u,
                (Market::Futures, None) => false,
                (Market::Spot, _) => book_u.checked_add(1) == Some(first),
            };
            if !chained {
                return self.gap(
                    stats,
                    format_args!("diff [{first}, {last}] pu {prev:?} after {book_u}"),
                );
            }
        }
        let book = books.book_mut(self.instrument);
        for (key, side) in [("b", Side::Buy), ("a", Side::Sell)] {
            let Some(it) = levels(data, key) else {
                stats.error(
                    FeedError::BadRecord,
                    format_args!("depthUpdate without {key}"),
                );
                continue;
            };
            for lvl in it {
                match lvl {
                    Some((p, q)) if p > 0 && q >= 0 => {
                        let _ = book.side_mut(side).set(p, q);
                    }
                    _ => stats.error(FeedError::BadValue, format_args!("diff level")),
                }
            }
        }
        self.book_u = Some(last);
        self.counts.diffs_applied += 1;
        if book.is_crossed() {
            stats.error(FeedError::Crossed, format_args!("after diff {last}"));
        }
        self.check_ahead(books);
        Step::Event(FeedEvent::quote(self.instrument, exchange_ns(data, "E")))
    }

    fn gap(&mut self, stats: &mut FeedStats, detail: std::fmt::Arguments<'_>) -> Step {
        stats.error(FeedError::Gap, detail);
        self.book_u = None;
        self.pending_snapshot = None;
        Step::Skip
    }

    fn ticker(&mut self, data: &str, books: &mut Books) -> Step {
        let parse = |k| str_value(data, k).and_then(parse_fixed);
        let (Some(u), Some(b), Some(bq), Some(a), Some(aq)) = (
            u64_value(data, "u"),
            parse("b"),
            parse("B"),
            parse("a"),
            parse("A"),
        ) else {
            return Step::Skip;
        };
        let t = Ticker {
            u,
            bid: (b, bq),
            ask: (a, aq),
        };
        match self.book_u {
            Some(book_u) if u == book_u && self.pending_snapshot.is_none() => {
                self.compare(&t, books)
            }
            Some(book_u) if u > book_u => {
                if self.ahead.len() == AHEAD_MAX {
                    self.ahead.remove(0);
                }
                self.ahead.push(t);
            }
            _ => {}
        }
        Step::Skip
    }

    /// After a diff: compare tickers that carry the book's new id; forget older ones.
    fn check_ahead(&mut self, books: &mut Books) {
        let Some(book_u) = self.book_u else { return };
        let mut i = 0;
        while i < self.ahead.len() {
            let t = self.ahead[i];
            if t.u <= book_u {
                if t.u == book_u {
                    self.compare(&t, books);
                }
                self.ahead.remove(i);
            } else {
                i += 1;
            }
        }
    }

    fn compare(&mut self, t: &Ticker, books: &mut Books) {
        let book = books.book_mut(self.instrument);
        self.counts.tickers_compared += 1;
        let same = matches!((book.best_bid(), book.best_ask()), (Some(b), Some(a))
            if (b.price, b.qty) == t.bid && (a.price, a.qty) == t.ask);
        if !same {
            self.counts.tickers_mismatched += 1;
        }
    }

    fn trade(&mut self, data: &str, stats: &mut FeedStats) -> Step {
        let (Some(p), Some(q)) = (
            str_value(data, "p").and_then(parse_fixed),
            str_value(data, "q").and_then(parse_fixed),
        ) else {
            stats.error(FeedError::BadRecord, format_args!("trade without p/q"));
            return Step::Skip;
        };
        self.counts.trades += 1;
        let mut ev = FeedEvent::quote(self.instrument, exchange_ns(data, "T"));
        ev.kind = EventKind::Trade;
        // m: the buyer was the maker, so the seller took liquidity.
        ev.trade_side = match bool_value(data, "m") {
            Some(true) => -1,
            Some(false) => 1,
            None => 0,
        };
        ev.trade_price = p;
        ev.trade_qty = q;
        Step::Event(ev)
    }
}

impl<R: BufRead> Source for BinanceSource<R> {
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if self.replaying > 0 {
            let i = self.early.len() - self.replaying;
            self.replaying -= 1;
            let data = std::mem::take(&mut self.early[i]);
            let step = self.diff(&data, books, stats);
            if self.replaying == 0 {
                self.early = Vec::new();
            }
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
        let step = match line.split_once(' ') {
            Some((_recv, json)) if json.starts_with('{') => {
                if json.starts_with("{\"lastUpdateId\"") {
                    stats.by_type[b'S' as usize] += 1;
                    self.snapshot(json, books, stats)
                } else if let Some(data) = value(json, "data") {
                    if self.symbol.is_empty() {
                        if let Some(s) = str_value(data, "s") {
                            self.symbol = s.to_owned();
                        }
                    }
                    let stream = str_value(json, "stream").unwrap_or("");
                    if stream.contains("@depth") {
                        stats.by_type[b'D' as usize] += 1;
                        self.diff(data, books, stats)
                    } else if stream.ends_with("@bookTicker") {
                        stats.by_type[b'B' as usize] += 1;
                        self.ticker(data, books)
                    } else if stream.ends_with("@trade") {
                        stats.by_type[b'T' as usize] += 1;
                        self.trade(data, stats)
                    } else {
                        stats.error(FeedError::UnknownType, format_args!("stream {stream:?}"));
                        Step::Skip
                    }
                } else {
                    stats.error(FeedError::UnknownType, format_args!("message without data"));
                    Step::Skip
                }
            }
            _ => {
                stats.error(
                    FeedError::BadRecord,
                    format_args!("line is not '<ns> <json>'"),
                );
                Step::Skip
            }
        };
        self.line = line;
        step
    }

    fn symbol(&self, _instrument: u32) -> Option<&str> {
        (!self.symbol.is_empty()).then_some(self.symbol.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            r#"1 {{"stream":"x@depth@0ms","data":{{"e":"depthUpdate","E":1,"U":{first},"u":{last},"pu":{prev},"b":[["{bid}","1"]],"a":[]}}}}"#
        )
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
    #[test]
    fn extreme_numbers_do_not_overflow() {
        let max = u64::MAX;
        let lines = [
            format!(r#"1 {{"lastUpdateId":{max},"E":{max},"bids":[],"asks":[]}}"#),
            format!(
                r#"1 {{"stream":"x@depth@100ms","data":{{"E":{max},"U":{max},"u":{max},"b":[],"a":[]}}}}"#
            ),
            format!(r#"1 {{"stream":"x@trade","data":{{"T":{max},"p":"1","q":"1","m":true}}}}"#),
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
        let (_, stats, _, _) = run(&[
            "",
            "nonsense",
            "1 {\"stream\":\"x@kline\",\"data\":{}}",
            "1 {\"a\":1}",
            &good,
        ]);
        assert_eq!(stats.count(FeedError::BadRecord), 2);
        assert_eq!(stats.count(FeedError::UnknownType), 2);
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
    fn scanner_reads_keys_and_level_arrays() {
        let j =
            r#"{"e":"depthUpdate","U":5,"u":9,"pu":4,"b":[["1.5","2"],["1.4","0.000"]],"a":[]}"#;
        assert_eq!(u64_value(j, "U"), Some(5));
        assert_eq!(u64_value(j, "u"), Some(9));
        assert_eq!(u64_value(j, "pu"), Some(4));
        assert_eq!(str_value(j, "e"), Some("depthUpdate"));
        let b: Vec<_> = levels(j, "b").unwrap().collect();
        assert_eq!(
            b,
            vec![Some((150_000_000, 2 * UNIT)), Some((140_000_000, 0))]
        );
        assert_eq!(levels(j, "a").unwrap().count(), 0);
        let empty_first = r#"{"b":[],"a":[["2.5","1"]]}"#;
        assert_eq!(levels(empty_first, "b").unwrap().count(), 0);
        assert_eq!(levels(empty_first, "a").unwrap().count(), 1);
        assert!(
            levels(r#"{"b":[["1","2"]"#, "b").is_none(),
            "unterminated array"
        );
        assert!(value(j, "x").is_none());
    }
}
