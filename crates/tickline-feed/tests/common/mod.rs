//! Finding the real market data beside the repository.

use std::path::PathBuf;

/// `../shared/data` beside the repo, or `$TICKLINE_DATA`; panics with what to do if missing.
#[allow(dead_code)] // not every test file reads real data
pub fn data_file(rel: &str) -> PathBuf {
    let base = std::env::var_os("TICKLINE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = base.join(rel);
    assert!(
        p.exists(),
        "real market data file {} is missing: these tests read ../shared/data beside the repo \
         (or set TICKLINE_DATA to its folder)",
        p.display()
    );
    p
}

use tickline_feed::{Books, FeedStats, Source, Step};

/// Reads a source to its end; returns the books, counters and events emitted.
#[allow(dead_code)] // not every test file drains
pub fn drain(src: &mut dyn Source) -> (Books, FeedStats, u64) {
    let mut books = Books::new(1 << 12, 1 << 12);
    let mut stats = FeedStats::default();
    let mut events = 0;
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(_) => events += 1,
            Step::End => return (books, stats, events),
            Step::Skip | Step::Idle => {}
        }
    }
}
