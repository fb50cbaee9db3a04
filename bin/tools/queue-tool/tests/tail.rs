//! `tickline-queue tail` decodes each message type of the pipeline from a
//! live queue, newest last, and leaves the consumer's position alone.

use std::process::Command;

use tickline_schema::{BookEvent, FeatureVector, Order, Prediction, FIXED_SCALE};
use tickline_shm::{create, Consumer, FullPolicy, Message, Producer, QueueView, WaitStrategy};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-queue");

/// Publishes `n` messages made by `make(seq)` to a new queue, lets a
/// consumer commit the first half, and returns `tail -n 3 --json` parsed.
fn tail_of<T: Message>(tag: &str, n: u64, make: impl Fn(u64) -> T) -> Vec<serde_json::Value> {
    let name = format!("/tickline-qt-tail-{}-{tag}", std::process::id());
    let _ = tickline_shm::unlink(&name);
    create::<T>(&name, 64).unwrap();
    let mut p = Producer::<T>::attach(&name, FullPolicy::Block, WaitStrategy::BusySpin).unwrap();
    let mut c = Consumer::<T>::attach(&name, WaitStrategy::BusySpin).unwrap();
    for seq in 0..n {
        assert!(p.try_push(&make(seq)));
    }
    for _ in 0..n / 2 {
        c.try_pop().unwrap();
    }
    let out = Command::new(BIN)
        .args(["tail", &name, "-n", "3", "--json"])
        .output()
        .unwrap();
    let head = QueueView::open(&name).unwrap().status().head;
    let _ = tickline_shm::unlink(&name);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(head, n / 2, "tail committed nothing");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn seqs(rows: &[serde_json::Value]) -> Vec<u64> {
    rows.iter()
        .map(|r| r["message"]["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn tail_decodes_all_four_message_types() {
    let rows = tail_of::<BookEvent>("book", 20, |seq| {
        let mut e: BookEvent = bytemuck::Zeroable::zeroed();
        e.trace.seq = seq;
        e.instrument_id = 7;
        e.kind = 1;
        e.depth = 1;
        e.bids[0].price = 100 * FIXED_SCALE;
        e.bids[0].qty = 5 * FIXED_SCALE;
        e
    });
    assert_eq!(seqs(&rows), [17, 18, 19]);
    assert_eq!(rows[0]["message"]["kind"], "quote");
    assert_eq!(rows[0]["message"]["bids"], "100x5");

    let rows = tail_of::<FeatureVector>("features", 10, |seq| {
        let mut f: FeatureVector = bytemuck::Zeroable::zeroed();
        f.trace.seq = seq;
        f.len = 16;
        f.values[0] = 1.5;
        f
    });
    assert_eq!(seqs(&rows), [7, 8, 9]);
    assert_eq!(rows[2]["message"]["spread_bps"], 1.5);

    let rows = tail_of::<Prediction>("predictions", 5, |seq| {
        let mut p: Prediction = bytemuck::Zeroable::zeroed();
        p.trace.seq = seq;
        p.prob_up = 0.25;
        p.trace.stamps = [1_000, 3_000, 10_000, 0];
        p
    });
    assert_eq!(seqs(&rows), [2, 3, 4]);
    assert_eq!(rows[1]["message"]["p_up"], 0.25);
    assert_eq!(rows[1]["message"]["inference_us"], 9.0);

    let rows = tail_of::<Order>("orders", 3, |seq| {
        let mut o: Order = bytemuck::Zeroable::zeroed();
        o.trace.seq = seq;
        o.side = -1;
        o.qty = 2 * FIXED_SCALE;
        o
    });
    assert_eq!(seqs(&rows), [0, 1, 2]);
    assert_eq!(rows[0]["message"]["side"], "sell");
    assert_eq!(rows[0]["message"]["qty"], 2.0);
}
