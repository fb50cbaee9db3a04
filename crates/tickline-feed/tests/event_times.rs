//! Exchange time per instrument on every real data file: an event whose time
//! is earlier than one published before it for its instrument is flagged
//! `OUT_OF_ORDER` and counted, never passed on unflagged nor reordered.

mod common;

use std::collections::HashMap;

use common::data_file;
use tickline_feed::{open_source, EventReader, ReadStep};
use tickline_schema::BookEvent;

/// (events, backward steps seen, flagged events) of a source read whole.
fn read_times(spec: &str) -> (u64, u64, u64, u64) {
    let src = open_source(spec).unwrap();
    let mut reader = EventReader::new(src, 10, Vec::new());
    let mut e: BookEvent = bytemuck::Zeroable::zeroed();
    let (mut events, mut backward, mut flagged) = (0, 0, 0);
    let mut latest: HashMap<u32, u64> = HashMap::new();
    let mut last_seq = None;
    loop {
        match reader.next(&mut e) {
            ReadStep::Event => {}
            ReadStep::Skip | ReadStep::Idle => continue,
            ReadStep::End => break,
        }
        // In order of sequence number: nothing reordered.
        assert!(last_seq.is_none_or(|s| e.trace.seq == s + 1), "{spec}: seq");
        last_seq = Some(e.trace.seq);
        events += 1;
        let t = latest.entry(e.instrument_id).or_insert(0);
        let back = e.trace.exchange_ns < *t;
        assert_eq!(
            back,
            e.trace.is_out_of_order(),
            "{spec}: event {} at {} after {} flagged {}",
            e.trace.seq,
            e.trace.exchange_ns,
            *t,
            e.trace.is_out_of_order()
        );
        backward += back as u64;
        flagged += e.trace.is_out_of_order() as u64;
        *t = (*t).max(e.trace.exchange_ns);
    }
    (events, backward, flagged, reader.out_of_order())
}

#[test]
fn no_event_goes_back_in_exchange_time_unflagged_on_any_real_file() {
    let files = [
        "itch:itch/ex20101224.ITCH_50.framed",
        "itch:itch/ex20101224.TEST_ITCH_50",
        "lobster:lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv",
        "binance:binance/usdm_btcusdt_20240808.gz",
        "binance:binance/spot_btcusdt_20240808.gz",
        "binance:binance/cm_btcusd_perp_20240808.gz",
        "dbn:databento/esh4-glbx-mdp3-20231224.mbo.dbn.zst",
        "dbn:databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
    ];
    let mut any_backward = 0;
    for f in files {
        let (kind, rel) = f.split_once(':').unwrap();
        let spec = format!("{kind}:{}", data_file(rel).display());
        let (events, backward, flagged, counted) = read_times(&spec);
        assert!(events > 0, "{f}: no events");
        assert_eq!(backward, flagged, "{f}");
        assert_eq!(flagged, counted, "{f}: the reader's count");
        any_backward += backward;
    }
    // The Binance futures capture mixes depth send times with trade times.
    assert!(any_backward > 0, "some real file steps back: the check ran");
}

/// Every event of a source read whole: (exchange ns, receive ns).
fn times(spec: &str) -> Vec<(u64, u64)> {
    let mut reader = EventReader::new(open_source(spec).unwrap(), 10, Vec::new());
    let mut e: BookEvent = bytemuck::Zeroable::zeroed();
    let mut out = Vec::new();
    loop {
        match reader.next(&mut e) {
            ReadStep::Event => out.push((e.trace.exchange_ns, e.trace.receive_ns)),
            ReadStep::Skip | ReadStep::Idle => {}
            ReadStep::End => return out,
        }
    }
}

/// A Binance event's receive time is the first token of a capture line
/// (the one whose reading made it), in capture order.
#[test]
fn binance_receive_times_are_the_capture_lines_first_tokens() {
    use std::io::{BufRead, BufReader};
    let path = data_file("binance/usdm_btcusdt_20240808.gz");
    let lines = BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&path).unwrap(),
    ));
    let tokens: std::collections::HashSet<u64> = lines
        .lines()
        .map(|l| l.unwrap().split(' ').next().unwrap().parse().unwrap())
        .collect();
    let evs = times(&format!("binance:{}", path.display()));
    assert!(evs.len() > 20_000);
    for (k, (_, r)) in evs.iter().enumerate() {
        assert!(
            tokens.contains(r),
            "event {k}: receive {r} is no line's token"
        );
    }
    assert!(evs.windows(2).all(|w| w[0].1 <= w[1].1), "in capture order");
}

/// A DBN event's receive time is Databento's `ts_recv` of the record it
/// was made at: every event's (exchange, receive) pair is a record's
/// (`ts_event`, `ts_recv`).
#[test]
fn dbn_receive_times_are_ts_recv() {
    use dbn::decode::DecodeRecord;
    let path = data_file("databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst");
    let mut dec =
        dbn::decode::DynDecoder::from_file(&path, dbn::VersionUpgradePolicy::UpgradeToV3).unwrap();
    let mut pairs = std::collections::HashSet::new();
    while let Some(m) = dec.decode_record::<dbn::MboMsg>().unwrap() {
        pairs.insert((m.hd.ts_event, m.ts_recv));
    }
    let evs = times(&format!("dbn:{}", path.display()));
    assert!(evs.len() > 40_000);
    for (k, pair) in evs.iter().enumerate() {
        assert!(pairs.contains(pair), "event {k}: {pair:?} is no record's");
        assert!(pair.1 > pair.0, "event {k}: received before it happened");
    }
}
