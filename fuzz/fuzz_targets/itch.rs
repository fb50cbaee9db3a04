//! Any bytes as an ITCH stream: the source must end without panicking, and
//! always make progress.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickline_feed::itch::{decode, frames, ItchSource};
use tickline_feed::{Books, FeedStats, Source, Step};

fuzz_target!(|data: &[u8]| {
    let mut src = ItchSource::new(data);
    let mut books = Books::new(64, 64);
    let mut stats = FeedStats::quiet();
    let mut steps = 0usize;
    while src.next(&mut books, &mut stats) != Step::End {
        steps += 1;
        assert!(steps <= data.len(), "no progress");
    }
    for f in frames(data) {
        let _ = decode(f);
    }
});
