//! Any bytes as a Binance capture (`<ns> <json>` lines).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickline_feed::binance::{parse_fixed, BinanceSource};
use tickline_feed::{Books, FeedStats, Source, Step};

fuzz_target!(|data: &[u8]| {
    let mut src = BinanceSource::new(data, 1);
    let mut books = Books::new(64, 64);
    let mut stats = FeedStats::quiet();
    let mut steps = 0usize;
    while src.next(&mut books, &mut stats) != Step::End {
        steps += 1;
        assert!(steps <= 2 * data.len() + 2, "no progress");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_fixed(s);
    }
});
