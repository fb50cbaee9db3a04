//! Any bytes as a LOBSTER message file and orderbook file (split at the first 0xFF).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tickline_feed::lobster::{parse_book_row, LobsterSource};
use tickline_feed::{Books, FeedStats, Source, Step};

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0xFF).unwrap_or(data.len());
    let (msgs, book) = (&data[..cut], data.get(cut + 1..).unwrap_or_default());
    let mut books = Books::new(64, 64);
    let mut stats = FeedStats::quiet();
    let src = LobsterSource::new(msgs, 1, 10);
    let mut src: Box<dyn Source> =
        match src.with_reference_book(Box::new(Cursor::new(book.to_vec()))) {
            Ok(s) => Box::new(s),
            Err(_) => Box::new(LobsterSource::new(msgs, 1, 10)),
        };
    let mut steps = 0usize;
    while src.next(&mut books, &mut stats) != Step::End {
        steps += 1;
        assert!(steps <= msgs.len() + 1, "no progress");
    }
    if let Ok(text) = std::str::from_utf8(book) {
        for line in text.lines() {
            let _ = parse_book_row(line);
        }
    }
});
