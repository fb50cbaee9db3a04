//! The RITCH ITCH 5.0 sample, both as shipped (zero length prefixes) and framed.

mod common;

use tickline_feed::itch::ItchSource;
use tickline_feed::{Books, FeedError, FeedStats, Source};

fn replay(rel: &str) -> (FeedStats, Books, u64, Vec<String>, Vec<(String, u64)>) {
    let f = std::fs::File::open(common::data_file(rel)).unwrap();
    let mut src = ItchSource::new(f);
    let (books, stats, events) = common::drain(&mut src);
    let symbols = books
        .instruments()
        .map(|i| src.symbol(i).unwrap_or("?").to_owned())
        .collect();
    (stats, books, events, symbols, src.checks())
}

/// Counts per type as the data's README gives them.
const EXPECTED: [(u8, u64); 10] = [
    (b'S', 6),
    (b'R', 3),
    (b'H', 3),
    (b'A', 4_997),
    (b'F', 3),
    (b'E', 198),
    (b'D', 1_745),
    (b'P', 5_000),
    (b'U', 12),
    (b'X', 45),
];

#[test]
fn both_framings_give_the_published_message_counts_and_the_same_books() {
    let (framed, fbooks, fevents, symbols, framed_checks) =
        replay("itch/ex20101224.ITCH_50.framed");
    let (quirky, qbooks, qevents, _, quirky_checks) = replay("itch/ex20101224.TEST_ITCH_50");
    for stats in [&framed, &quirky] {
        assert_eq!(stats.messages, 12_012);
        for (kind, n) in EXPECTED {
            assert_eq!(stats.by_type[kind as usize], n, "type {}", kind as char);
        }
        assert_eq!(stats.count(FeedError::UnknownType), 0);
        assert_eq!(stats.count(FeedError::BadLength), 0);
        assert_eq!(stats.count(FeedError::Truncated), 0);
    }
    assert_eq!(framed_checks, vec![("zero_length_prefixes".to_owned(), 0)]);
    assert_eq!(
        quirky_checks,
        vec![("zero_length_prefixes".to_owned(), 12_012)]
    );
    // The sample is artificial: an independent decoder (a few lines of
    // Python over the same bytes) finds 117 deletes, executions and replaces
    // of orders never added (D 94, E 18, X 3, U 2). They are book checks,
    // not input errors.
    for stats in [&framed, &quirky] {
        assert_eq!(
            stats.error_counts().count(),
            0,
            "{:?}",
            stats.error_counts().collect::<Vec<_>>()
        );
        assert_eq!(stats.count(FeedError::UnknownOrder), 117);
    }
    assert_eq!(fevents, qevents);
    assert_eq!(symbols, vec!["ALC", "BOB", "CHAR"]);
    for i in fbooks.instruments() {
        let (a, b) = (fbooks.book(i).unwrap(), qbooks.book(i).unwrap());
        for side in [tickline_book::Side::Buy, tickline_book::Side::Sell] {
            let la: Vec<_> = a.side(side).levels().collect();
            let lb: Vec<_> = b.side(side).levels().collect();
            assert_eq!(la, lb);
        }
    }
    eprintln!(
        "book checks: {:?}",
        framed.book_check_counts().collect::<Vec<_>>()
    );
}
