//! Our book against LOBSTER's own orderbook file, from its first row.
//!
//! The message file only has events within the top 10 levels, so a level
//! that sank below 10 can change unseen and resurface stale at level 10. The
//! source checks against the reference after every event and rebuilds a side
//! where they differ; this test shows that every such difference is at the
//! 10th level (never within levels 1-9, which messages alone get right), and
//! that the published top 10 then equals LOBSTER's after every message.

mod common;

use std::io::{BufRead, BufReader};

use tickline_feed::lobster::{parse_book_row, LobsterSource};
use tickline_feed::{Books, FeedError, FeedStats, Source, Step};
use tickline_schema::{BookEvent, Level};

const MSG: &str = "lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv";
const BOOK: &str = "lobster/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv";

#[test]
fn top_ten_levels_equal_lobsters_after_every_message() {
    let reference = Box::new(BufReader::new(
        std::fs::File::open(common::data_file(BOOK)).unwrap(),
    ));
    let rows: Vec<String> = BufReader::new(std::fs::File::open(common::data_file(BOOK)).unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    let messages = BufReader::new(std::fs::File::open(common::data_file(MSG)).unwrap());
    let mut src = LobsterSource::new(messages, 1, 10)
        .with_reference_book(reference)
        .unwrap();
    let mut books = Books::new(1 << 12, 256);
    let mut stats = FeedStats::default();
    let mut out: BookEvent = bytemuck_zeroed();
    let mut compared = 0;
    for (k, row) in rows.iter().enumerate() {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => books.fill_event(&ev, 10, &mut out),
            other => panic!("message {} gave {other:?}", k + 1),
        }
        let r = parse_book_row(row).unwrap();
        let pad = |v: &[Level]| {
            let mut a = [Level::default(); 10];
            a[..v.len()].copy_from_slice(v);
            a
        };
        assert_eq!(out.bids, pad(r.bids()), "bids after message {}", k + 1);
        assert_eq!(out.asks, pad(r.asks()), "asks after message {}", k + 1);
        compared += 1;
    }
    assert_eq!(src.next(&mut books, &mut stats), Step::End);
    // 999 rows each (the files end without a newline).
    assert_eq!(compared, 999);
    assert_eq!(stats.messages, 999);
    let errors: Vec<_> = stats.error_counts().collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(stats.count(FeedError::Resync), 0);
    let resyncs = src.resyncs().len() as u64;
    for r in src.resyncs() {
        assert_eq!(r.level, 9, "book differed within the visible levels: {r:?}");
    }
    assert_eq!(
        src.checks(),
        vec![("hidden_depth_refills".to_owned(), resyncs)]
    );
    // Hidden depth surfaces now and then, not on most events.
    assert!(
        resyncs > 0 && resyncs < 100,
        "{resyncs} refills in 999 events"
    );
    eprintln!("{resyncs} rebuilds, all at level 10");
}

fn bytemuck_zeroed() -> BookEvent {
    <BookEvent as bytemuck::Zeroable>::zeroed()
}
