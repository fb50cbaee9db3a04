//! ITCH parser and book against a stream written by an independent Python
//! encoder (tests/itch_writer.py), which keeps its own book.

mod common;

use std::path::PathBuf;
use std::process::Command;

use tickline_book::Side;
use tickline_feed::itch::ItchSource;
use tickline_feed::{FeedError, Source, UNIT};

fn generate(seed: u64, messages: u64) -> (PathBuf, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!("tickline-itch-{}-{seed}", std::process::id()));
    let status = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/itch_writer.py"))
        .args([
            "--seed",
            &seed.to_string(),
            "--messages",
            &messages.to_string(),
        ])
        .arg("--out")
        .arg(&dir)
        .status()
        .expect("python3 is needed for the independent ITCH writer");
    assert!(status.success());
    let expected =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    (dir, expected)
}

#[test]
fn counts_events_and_final_books_match_the_independent_writer() {
    for seed in [1, 2, 3] {
        let (dir, expected) = generate(seed, 20_000);
        let bytes = std::fs::read(dir.join("stream.itch")).unwrap();
        let mut src = ItchSource::new(&bytes[..]);
        let (books, stats, events) = common::drain(&mut src);
        let counts = expected["counts"].as_object().unwrap();
        let mut total = 0;
        for (kind, n) in counts {
            let k = kind.as_bytes()[0] as usize;
            assert_eq!(
                stats.by_type[k],
                n.as_u64().unwrap(),
                "seed {seed} type {kind}"
            );
            total += n.as_u64().unwrap();
        }
        assert_eq!(stats.messages, total);
        assert_eq!(events, expected["events"].as_u64().unwrap());
        let errors: Vec<_> = stats.error_counts().collect();
        assert!(errors.is_empty(), "seed {seed}: {errors:?}");
        assert_eq!(stats.count(FeedError::Crossed), 0);
        for (loc, sym) in [(1, "AAPL"), (2, "MSFT"), (3, "TSLA")] {
            assert_eq!(src.symbol(loc), Some(sym));
            let book = books.book(loc).unwrap();
            let want = &expected["books"][loc.to_string()];
            for (side, key) in [(Side::Buy, "bids"), (Side::Sell, "asks")] {
                let got: Vec<(i64, i64)> = book
                    .side(side)
                    .levels()
                    .take(10)
                    .map(|l| (l.price / (UNIT / 10_000), l.qty / UNIT))
                    .collect();
                let exp: Vec<(i64, i64)> = want[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|pq| (pq[0].as_i64().unwrap(), pq[1].as_i64().unwrap()))
                    .collect();
                assert_eq!(got, exp, "seed {seed} locate {loc} {key}");
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn malformed_messages_are_counted_and_skipped() {
    let (dir, expected) = generate(9, 2_000);
    let good = std::fs::read(dir.join("stream.itch")).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    // Prefix: an unknown type with a length, an 'A' with a wrong length, an
    // add at price 0, an add with side 'Z'; then the good stream; then a cut message.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&[0, 3, b'~', 1, 2]);
    bytes.extend_from_slice(&[0, 5, b'A', 0, 1, 0, 0]);
    let mut add = vec![0u8, 36, b'A', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    add.extend_from_slice(&7u64.to_be_bytes()); // order ref
    add.push(b'B');
    add.extend_from_slice(&100u32.to_be_bytes());
    add.extend_from_slice(b"AAPL    ");
    add.extend_from_slice(&0u32.to_be_bytes()); // price 0
    assert_eq!(add.len(), 38);
    bytes.extend_from_slice(&add);
    let mut bad_side = add.clone();
    bad_side[21] = b'Z';
    bad_side[34..38].copy_from_slice(&1_000_000u32.to_be_bytes());
    bytes.extend_from_slice(&bad_side);
    bytes.extend_from_slice(&good);
    bytes.extend_from_slice(&[0, 36, b'A', 0, 1]);

    let (_, stats, events) = common::drain(&mut ItchSource::new(&bytes[..]));
    assert_eq!(
        events,
        expected["events"].as_u64().unwrap(),
        "the good stream is intact"
    );
    assert_eq!(stats.count(FeedError::UnknownType), 1);
    assert_eq!(stats.count(FeedError::BadLength), 1);
    assert_eq!(stats.count(FeedError::BadValue), 1);
    assert_eq!(stats.count(FeedError::BadSide), 1);
    assert_eq!(stats.count(FeedError::Truncated), 1);
}
