//! Fan-out: every message to each queue, and a process that died between
//! two pushes of one message resumes each queue after its own last.

use bytemuck::Zeroable;
use tickline_schema::BookEvent;
use tickline_shm::{create, unlink, Consumer, FullPolicy, Push, WaitStrategy};
use tickline_stage::{Endpoint, Output, Signals};

fn event(seq: u64) -> BookEvent {
    let mut e = BookEvent::zeroed();
    e.trace.seq = seq;
    e
}

fn drain(name: &str) -> Vec<u64> {
    let mut c = Consumer::<BookEvent>::attach(name, WaitStrategy::default()).unwrap();
    std::iter::from_fn(|| c.try_pop().map(|e| e.trace.seq)).collect()
}

#[test]
fn each_queue_gets_every_message_once_across_a_restart() {
    let (a, b) = (
        format!("/tickline-fanout-a-{}", std::process::id()),
        format!("/tickline-fanout-b-{}", std::process::id()),
    );
    create::<BookEvent>(&a, 64).unwrap();
    create::<BookEvent>(&b, 64).unwrap();
    let signals = Signals::install().unwrap();
    let (ep, also) = (Endpoint::Queue(a.clone()), [Endpoint::Queue(b.clone())]);
    let open = || {
        Output::<BookEvent>::open(
            &ep,
            &also,
            FullPolicy::Block,
            WaitStrategy::default(),
            &signals,
        )
        .unwrap()
    };
    let mut out = open();
    for seq in 1..=3 {
        assert_eq!(out.push(&event(seq)), Push::Sent);
    }
    drop(out);
    // A predecessor that died after pushing 4 to the first queue only.
    let mut first =
        tickline_shm::Producer::<BookEvent>::attach(&a, FullPolicy::Block, WaitStrategy::default())
            .unwrap();
    first.push(&event(4));
    drop(first);

    let mut out = open();
    assert_eq!(
        out.last_seq(),
        Some(3),
        "resume after the queue furthest behind"
    );
    for seq in 4..=5 {
        out.push(&event(seq));
    }
    drop(out);
    let got = (drain(&a), drain(&b));
    for q in [&a, &b] {
        let _ = unlink(q);
    }
    assert_eq!(got.0, [1, 2, 3, 4, 5]);
    assert_eq!(got.1, [1, 2, 3, 4, 5]);
}

#[test]
fn market_by_order_records_go_to_the_fan_out_queues_only() {
    let (a, b) = (
        format!("/tickline-fanout-rec-a-{}", std::process::id()),
        format!("/tickline-fanout-rec-b-{}", std::process::id()),
    );
    create::<BookEvent>(&a, 64).unwrap();
    create::<BookEvent>(&b, 64).unwrap();
    let signals = Signals::install().unwrap();
    let mut out = Output::<BookEvent>::open(
        &Endpoint::Queue(a.clone()),
        &[Endpoint::Queue(b.clone())],
        FullPolicy::Block,
        WaitStrategy::default(),
        &signals,
    )
    .unwrap();
    for seq in 1..=4 {
        let mut e = event(seq);
        if seq % 2 == 0 {
            e.kind = tickline_schema::EventKind::Order as u8;
        }
        assert_eq!(out.push(&e), Push::Sent);
    }
    drop(out);
    let got = (drain(&a), drain(&b));
    for q in [&a, &b] {
        let _ = unlink(q);
    }
    assert_eq!(got.0, [1, 3], "the decision path gets no records");
    assert_eq!(got.1, [1, 2, 3, 4]);
}
