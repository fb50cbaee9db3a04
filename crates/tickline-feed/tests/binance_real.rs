//! Binance captures (USD-M futures, spot, COIN-M): the book kept from the
//! snapshot and diffs agrees with every bookTicker at the same update id;
//! also when two symbols' captures are merged into one combined stream, and
//! trades come as `aggTrade`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use flate2::read::GzDecoder;
use tickline_feed::binance::{BinanceCounts, BinanceSource};
use tickline_feed::{FeedError, FeedStats, Source};

fn lines(rel: &str) -> Vec<String> {
    let f = std::fs::File::open(common::data_file(rel)).unwrap();
    BufReader::new(GzDecoder::new(f))
        .lines()
        .map(Result::unwrap)
        .collect()
}

fn replay(rel: &str) -> (BinanceCounts, FeedStats, u64, String) {
    let f = std::fs::File::open(common::data_file(rel)).unwrap();
    let mut src = BinanceSource::new(BufReader::new(GzDecoder::new(f)), 1);
    let (_, stats, events) = common::drain(&mut src);
    let sym = src.symbol(1).unwrap_or_default().to_owned();
    (src.counts, stats, events, sym)
}

#[test]
fn books_agree_with_every_book_ticker_at_the_same_update_id() {
    // (file, symbol, diffs, tickers, trades) as the data's README gives them.
    for (rel, symbol, diffs, tickers, trades) in [
        (
            "binance/usdm_btcusdt_20240808.gz",
            "BTCUSDT",
            6_551,
            66_089,
            21_313,
        ),
        (
            "binance/spot_btcusdt_20240808.gz",
            "BTCUSDT",
            3_451,
            28_040,
            9_757,
        ),
        (
            "binance/cm_btcusd_perp_20240808.gz",
            "BTCUSD_PERP",
            26_847,
            19_136,
            2_286,
        ),
    ] {
        let (c, stats, events, sym) = replay(rel);
        eprintln!(
            "{rel}: {c:?}, errors {:?}",
            stats.error_counts().collect::<Vec<_>>()
        );
        assert_eq!(sym, symbol);
        assert_eq!(stats.by_type[b'D' as usize], diffs, "{rel}");
        assert_eq!(stats.by_type[b'B' as usize], tickers, "{rel}");
        assert_eq!(stats.by_type[b'T' as usize], trades, "{rel}");
        assert_eq!(c.snapshots, 1);
        assert!(
            stats.error_counts().next().is_none(),
            "{rel}: {:?}",
            stats.error_counts().collect::<Vec<_>>()
        );
        assert_eq!(c.trades, trades);
        assert_eq!(stats.count(FeedError::Gap), 0, "{rel}");
        assert_eq!(stats.count(FeedError::Crossed), 0, "{rel}");
        assert!(
            c.diffs_applied + c.diffs_stale >= diffs - 100,
            "{rel}: most diffs used"
        );
        // Only tickers whose id ends a diff can be compared (a few hundred per file).
        assert!(
            c.tickers_compared > 300,
            "{rel}: only {} tickers compared",
            c.tickers_compared
        );
        assert_eq!(c.tickers_mismatched, 0, "{rel}");
        assert_eq!(events, 1 + c.diffs_applied + c.trades);
    }
}

/// `trade` messages rewritten as `aggTrade`, as futures collectors record them.
fn as_agg_trades(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| {
            l.replace("@trade\"", "@aggTrade\"")
                .replace("\"e\":\"trade\",", "\"e\":\"aggTrade\",")
        })
        .collect()
}

#[test]
fn a_combined_capture_of_two_symbols_keeps_an_exact_book_each() {
    let (usdm, cm) = (
        "binance/usdm_btcusdt_20240808.gz",
        "binance/cm_btcusd_perp_20240808.gz",
    );
    // One websocket, two symbols: both captures merged by receive time,
    // USD-M trades as aggTrade, plus a stream this source does not read.
    let mut merged = as_agg_trades(lines(usdm));
    merged.extend(lines(cm));
    merged.push(
        r#"1723161600000000000 {"stream":"btcusdt@markPrice","data":{"s":"BTCUSDT"}}"#.into(),
    );
    merged.sort_by_key(|l| l.split(' ').next().unwrap().parse::<u64>().unwrap());
    let text = merged.join("\n");
    let mut src = BinanceSource::new(text.as_bytes(), 1);
    let (books, stats, events) = common::drain(&mut src);
    let c = src.counts.clone();
    let (a, _, events_a, _) = replay(usdm);
    let (b, _, events_b, _) = replay(cm);
    assert!(
        stats.error_counts().next().is_none(),
        "{:?}",
        stats.error_counts().collect::<Vec<_>>()
    );
    let ids: Vec<(&str, u32)> = src.instruments().collect();
    assert_eq!(
        ids,
        [("BTCUSDT", 1), ("BTCUSD_PERP", 2)],
        "ids by first appearance"
    );
    assert_eq!(c.snapshots, 2, "each symbol's snapshot found its book");
    assert_eq!(c.diffs_applied, a.diffs_applied + b.diffs_applied);
    assert_eq!(c.diffs_while_invalid, 0);
    assert_eq!(c.trades, a.trades + b.trades, "aggTrade read as trades");
    assert_eq!(c.tickers_compared, a.tickers_compared + b.tickers_compared);
    assert_eq!(c.tickers_mismatched, 0);
    assert_eq!(c.skipped_streams.get("markPrice"), Some(&1));
    assert_eq!(events, events_a + events_b);
    assert!(
        books.book(1).unwrap().best_bid().is_some() && books.book(2).unwrap().best_bid().is_some()
    );
}

/// The USD-M capture rewritten as cryptofeed records raw data: a websocket
/// file (`<s>: <json>` after configuration, connect and subscribe lines)
/// and a REST file (`<url> -> <s>: <json>`, the URL naming the symbol).
fn as_cryptofeed(lines: &[String], dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let secs = |l: &str| l.split(' ').next().unwrap().parse::<u64>().unwrap() as f64 / 1e9;
    let (mut ws, mut http) = (
        vec![r#"configuration: {"exchange": "BINANCE_FUTURES"}"#.to_string()],
        vec![r#"configuration: {"exchange": "BINANCE_FUTURES"}"#.to_string()],
    );
    let url = "wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker/btcusdt@trade";
    ws.push(format!("{url} <-> {:.6}", secs(&lines[0]) - 1.0));
    ws.push(format!(
        r#"{url} <- {:.6}: {{"method": "SUBSCRIBE"}}"#,
        secs(&lines[0]) - 1.0
    ));
    for l in lines {
        let (_, json) = l.split_once(' ').unwrap();
        if json.starts_with(r#"{"lastUpdateId""#) {
            let rest = "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000";
            http.push(format!("{rest} -> {:.6}: {json}", secs(l)));
        } else {
            ws.push(format!("{:.6}: {json}", secs(l)));
        }
    }
    let (a, b) = (dir.join("ws.0"), dir.join("http.0"));
    std::fs::write(&a, ws.join("\n")).unwrap();
    std::fs::write(&b, http.join("\n")).unwrap();
    (a, b)
}

#[test]
fn a_cryptofeed_capture_in_two_files_reads_as_the_same_market() {
    let rel = "binance/usdm_btcusdt_20240808.gz";
    let dir = std::env::temp_dir().join(format!("tickline-cf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ws, http) = as_cryptofeed(&lines(rel), &dir);
    let spec = format!("binance:{},{}", ws.display(), http.display());
    let mut src = tickline_feed::open_source(&spec).unwrap();
    let (_, stats, events) = common::drain(src.as_mut());
    let checks: std::collections::BTreeMap<String, u64> = src.checks().into_iter().collect();
    let _ = std::fs::remove_dir_all(&dir);
    let (want, _, want_events, _) = replay(rel);
    assert!(
        stats.error_counts().next().is_none(),
        "{:?}",
        stats.error_counts().collect::<Vec<_>>()
    );
    assert_eq!(
        checks["snapshots"], 1,
        "the REST file's snapshot, by its URL's symbol"
    );
    assert_eq!(checks["diffs_applied"], want.diffs_applied);
    assert_eq!(checks["book_tickers_compared"], want.tickers_compared);
    assert_eq!(checks["book_tickers_mismatched"], 0);
    assert_eq!(checks["trades"], want.trades);
    assert_eq!(events, want_events);
    assert_eq!(src.symbol(1), Some("BTCUSDT"));
    assert_eq!(
        checks["other_lines"], 4,
        "configuration x2, connect, subscribe"
    );
}
