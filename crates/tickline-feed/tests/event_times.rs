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
        "lobster:lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv",
        "binance:binance/usdm_btcusdt_20240808.gz",
        "binance:binance/spot_btcusdt_20240808.gz",
        "binance:binance/cm_btcusd_perp_20240808.gz",
        "dbn:databento/esh4-glbx-mdp3-20231224.mbo.dbn.zst",
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
