//! The `dbn:` source on Databento's real CME MBO files, against an
//! independent reading (scripts/dbn_reference.py: Databento's Python
//! decoder and a book of its own): the same records per instrument and
//! action, and the same top 10 levels after every event.

mod common;

use std::path::PathBuf;
use std::process::Command;

use tickline_feed::databento::DbnSource;
use tickline_feed::{Books, FeedError, FeedStats, Source, Step, UNIT};
use tickline_schema::{BookEvent, EventKind, OrderAction};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference's output: its counts line, then one line per event.
fn reference(file: &std::path::Path) -> (serde_json::Value, Vec<String>) {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-python.sh",
        python.display()
    );
    let out = Command::new(python)
        .arg(repo().join("scripts/dbn_reference.py"))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let counts = serde_json::from_str(lines.next().unwrap()).unwrap();
    (counts, lines.map(str::to_owned).collect())
}

/// One side's top 10 as the reference prints it (price in 1e-9, size).
fn side(levels: &[tickline_schema::Level], depth: usize) -> String {
    let shown: Vec<String> = levels[..depth]
        .iter()
        .filter(|l| l.qty > 0)
        .map(|l| format!("{}:{}", l.price * 10, l.qty / UNIT))
        .collect();
    if shown.is_empty() {
        "-".into()
    } else {
        shown.join(",")
    }
}

#[test]
fn dbn_books_equal_an_independent_book_after_every_event() {
    for name in [
        "esh4-glbx-mdp3-20231225.mbo.dbn.zst",
        "esh4-glbx-mdp3-20231224.mbo.dbn.zst",
    ] {
        let file = common::data_file(&format!("databento/{name}"));
        let (want_counts, want) = reference(&file);
        let mut src = DbnSource::open(file.to_str().unwrap()).unwrap();
        let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
        let mut got = Vec::new();
        let mut e: BookEvent = bytemuck::Zeroable::zeroed();
        loop {
            match src.next(&mut books, &mut stats) {
                Step::Event(ev) => {
                    books.fill_event(&ev, 10, &mut e);
                    let kind = if ev.kind == EventKind::Trade {
                        "T"
                    } else {
                        "Q"
                    };
                    let d = e.depth as usize;
                    got.push(format!(
                        "{kind} {} {} {} {}",
                        src.databento_id(ev.instrument).unwrap(),
                        ev.exchange_ns,
                        side(&e.bids, d),
                        side(&e.asks, d)
                    ));
                }
                Step::End => break,
                Step::Skip | Step::Idle => {}
            }
        }
        let counts: serde_json::Map<String, serde_json::Value> = src
            .action_counts()
            .iter()
            .map(|((i, a), n)| (format!("{i}:{}", *a as char), (*n).into()))
            .collect();
        assert_eq!(
            serde_json::Value::Object(counts),
            want_counts,
            "{name}: records per action"
        );
        assert_eq!(got.len(), want.len(), "{name}: events");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: event {i}");
        }
        let errors: u64 = FeedError::ALL.iter().map(|k| stats.count(*k)).sum();
        assert_eq!(
            errors,
            0,
            "{name}: {:?}",
            stats.error_counts().collect::<Vec<_>>()
        );
        assert_eq!(
            src.symbol(0),
            Some("ESH4"),
            "{name}: symbol from the metadata"
        );
    }
}

/// A full book image (the start-of-day snapshot: a clear and the resting
/// orders, all flagged `F_SNAPSHOT`, the last `F_LAST`) is one `Snapshot`
/// event, as a Binance REST snapshot is; what follows it are quotes and
/// trades.
#[test]
fn a_dbn_snapshot_is_a_snapshot_event() {
    let path = common::data_file("databento/esh4-glbx-mdp3-20231224.mbo.dbn.zst");
    let mut src = DbnSource::open(path.to_str().unwrap()).unwrap();
    let mut books = Books::new(1 << 12, 1 << 12);
    let mut stats = FeedStats::quiet();
    let mut kinds = Vec::new();
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => kinds.push(ev.kind),
            Step::End => break,
            _ => {}
        }
    }
    // This file holds the snapshot alone: 8,725 records, one book event.
    assert_eq!(kinds, [EventKind::Snapshot], "{kinds:?}");
    assert_eq!(
        src.databento_id(0),
        Some(17077),
        "ESH4's own id, in the summary's checks"
    );
}

/// Every event of a source, with records yielded or not.
fn events(path: &std::path::Path, records: bool) -> Vec<tickline_feed::FeedEvent> {
    let mut src = DbnSource::open(path.to_str().unwrap()).unwrap();
    assert!(!records || src.yield_records() == Some(tickline_feed::Records::ByOrder));
    let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
    let mut out = Vec::new();
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => out.push(ev),
            Step::End => return out,
            _ => {}
        }
    }
}

/// With records yielded (for the venue simulator), each Add, Cancel,
/// Modify, Fill and Clear record is an `Order` event, before the book event
/// it is part of; the other events are the same, in the same order.
#[test]
fn dbn_records_come_as_order_events_and_leave_the_rest_as_it_was() {
    let path = common::data_file("databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst");
    let plain = events(&path, false);
    let with = events(&path, true);
    let (records, rest): (Vec<_>, Vec<_>) = with.iter().partition(|e| e.kind == EventKind::Order);
    let rest: Vec<_> = rest.into_iter().copied().collect();
    assert_eq!(rest, plain);
    // README: Add 20,491, Cancel 17,999, Modify 12,233, Fill 6,371 live,
    // plus the snapshot's 8,725 adds (this file's has no clear record).
    let count = |a: OrderAction| records.iter().filter(|e| e.order.action == a as u8).count();
    assert_eq!(count(OrderAction::Add), 20_491 + 8_725);
    assert_eq!(count(OrderAction::Cancel), 17_999);
    assert_eq!(count(OrderAction::Modify), 12_233);
    assert_eq!(count(OrderAction::Fill), 6_371);
    assert_eq!(count(OrderAction::Clear), 0);
    assert_eq!(records.len(), 65_819);
    let first = records
        .iter()
        .find(|e| e.order.action == OrderAction::Add as u8)
        .unwrap();
    assert!(first.order.order_id > 0 && first.order.qty > 0 && first.order.side != 0);
    assert_eq!(first.order.price % (UNIT / 4), 0, "on ES's 0.25 grid");
}
