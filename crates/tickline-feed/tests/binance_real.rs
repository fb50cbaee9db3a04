//! Binance captures (USD-M futures, spot, COIN-M): the book kept from the
//! snapshot and diffs agrees with every bookTicker at the same update id.

mod common;

use std::io::BufReader;

use flate2::read::GzDecoder;
use tickline_feed::binance::{BinanceCounts, BinanceSource};
use tickline_feed::{FeedError, FeedStats, Source};

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
