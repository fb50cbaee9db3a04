//! The O(1) engine against the naive full recomputation, event by event, on
//! random synthetic markets (property test) and on every real data file.

use std::path::PathBuf;

use proptest::prelude::*;
use tickline_features::naive::NaiveEngine;
use tickline_features::{FeatureConfig, FeatureEngine, FEATURE_NAMES, N_FEATURES};
use tickline_feed::binance::BinanceSource;
use tickline_feed::itch::ItchSource;
use tickline_feed::lobster::LobsterSource;
use tickline_feed::synthetic::{SyntheticConfig, SyntheticSource};
use tickline_feed::{Books, FeedStats, Source, Step};
use tickline_schema::BookEvent;

/// Book events of a source, as the feed-handler would publish them.
fn events(src: &mut dyn Source, limit: usize) -> Vec<BookEvent> {
    let mut books = Books::new(1 << 12, 1 << 12);
    let mut stats = FeedStats::quiet();
    let mut out = Vec::new();
    let mut e = <BookEvent as bytemuck::Zeroable>::zeroed();
    while out.len() < limit {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 10, &mut e);
                e.trace.seq = out.len() as u64;
                out.push(e);
            }
            Step::End => break,
            _ => {}
        }
    }
    out
}

/// Engine and reference agree on every feature of every event, and on which were defaulted.
fn check(evs: &[BookEvent], what: &str) {
    let mut fast = FeatureEngine::new(FeatureConfig::default());
    let mut slow = NaiveEngine::new(FeatureConfig::default());
    for (k, e) in evs.iter().enumerate() {
        let (a, ma) = fast.compute(e);
        let (b, mb) = slow.compute(e);
        assert_eq!(ma, mb, "{what}: defaulted mask at event {k}");
        for i in 0..N_FEATURES {
            // Relative 1e-9 holds for sqrt features too: windows whose values
            // are all zero sum to exactly 0 (no rounding residue to amplify).
            let tol = 1e-9 * a[i].abs().max(b[i].abs()).max(1.0);
            assert!(
                (a[i] - b[i]).abs() <= tol,
                "{what}: event {k} {}: engine {} vs naive {}",
                FEATURE_NAMES[i],
                a[i],
                b[i]
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn engine_equals_naive_on_random_markets(seed in any::<u64>(), instruments in 1u32..4, rate in 1_000f64..200_000.0) {
        let cfg = SyntheticConfig { seed, instruments, events: 3_000, rate_per_s: rate, ..Default::default() };
        let evs = events(&mut SyntheticSource::new(cfg), usize::MAX);
        check(&evs, &format!("synthetic seed {seed}"));
    }
}

fn data(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    assert!(
        p.exists(),
        "real data missing: {} (../shared/data beside the repo)",
        p.display()
    );
    p
}

#[test]
fn engine_equals_naive_on_the_real_files() {
    let itch = std::fs::read(data("itch/ex20101224.ITCH_50.framed")).unwrap();
    check(&events(&mut ItchSource::new(&itch[..]), 4_000), "ITCH");
    let msgs = std::fs::read(data(
        "lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv",
    ))
    .unwrap();
    check(
        &events(&mut LobsterSource::new(&msgs[..], 1, 10), usize::MAX),
        "LOBSTER",
    );
    for f in [
        "usdm_btcusdt_20240808",
        "spot_btcusdt_20240808",
        "cm_btcusd_perp_20240808",
    ] {
        let gz = std::fs::File::open(data(&format!("binance/{f}.gz"))).unwrap();
        let r = std::io::BufReader::new(flate2::read::GzDecoder::new(gz));
        check(&events(&mut BinanceSource::new(r, 1), 3_000), f);
    }
}

#[test]
fn no_value_is_ever_nan_or_infinite_and_defaults_are_counted() {
    let cfg = SyntheticConfig {
        seed: 3,
        instruments: 2,
        events: 5_000,
        ..Default::default()
    };
    let evs = events(&mut SyntheticSource::new(cfg), usize::MAX);
    let mut fast = FeatureEngine::new(FeatureConfig::default());
    let mut out = <tickline_schema::FeatureVector as bytemuck::Zeroable>::zeroed();
    let mut empty = evs[100];
    empty.bids = Default::default();
    empty.asks = Default::default();
    for e in evs.iter().chain(std::iter::once(&empty)) {
        fast.update(e, &mut out);
        assert!(out.values.iter().all(|v| v.is_finite()));
    }
    // The empty book: every touch feature was defaulted.
    assert_eq!(out.defaulted & 0b11111, 0b11111);
    assert!(fast.stats.defaulted[0] >= 1);
    // Early events lack history: ret_100 was defaulted at least 99 times per instrument.
    assert!(fast.stats.defaulted[tickline_features::idx::RET_100_BPS] >= 2 * 99);
}

/// Exchange time that steps back for an instrument (a Binance trade's own
/// time after a depth message's send time): the rule is that a backward
/// step is no elapsed time. Engine and reference agree, every value stays
/// finite, and no window or time-since-trade goes negative.
#[test]
fn a_backward_step_in_exchange_time_counts_as_no_time() {
    let cfg = SyntheticConfig {
        seed: 11,
        instruments: 2,
        events: 6_000,
        rate_per_s: 2_000.0,
        ..Default::default()
    };
    let mut evs = events(&mut SyntheticSource::new(cfg), usize::MAX);
    // Every 7th event is put up to 150 ms (beyond several events) in the past.
    let mut stepped = 0;
    for (k, e) in evs.iter_mut().enumerate() {
        if k % 7 == 3 {
            e.trace.exchange_ns = e
                .trace
                .exchange_ns
                .saturating_sub(150_000_000 * (k as u64 % 3));
            stepped += 1;
        }
    }
    assert!(stepped > 500);
    check(&evs, "backward steps");
    let mut fast = FeatureEngine::new(FeatureConfig::default());
    let since_trade = FEATURE_NAMES
        .iter()
        .position(|n| *n == "log1p_secs_since_trade")
        .unwrap();
    for e in &evs {
        let (v, _) = fast.compute(e);
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
        assert!(v[since_trade] >= 0.0, "time since trade {}", v[since_trade]);
    }
}
