//! The simulator process on hand-made queues: bad orders and garbage on
//! the order queue are each answered with a reason, and the process goes on
//! to fill a good order and to say it has caught up.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytemuck::Zeroable;
use tickline_schema::venue::{ExecKind, ExecReport, OrderKind, VenueReject};
use tickline_schema::{BookEvent, EventKind, Level, Order, Side, TimeInForce, FIXED_SCALE};
use tickline_shm::{create, unlink, Consumer, FullPolicy, Producer, WaitStrategy};

fn fx(x: f64) -> i64 {
    (x * FIXED_SCALE as f64).round() as i64
}

fn order(id: u64, inst: u32, px: f64, qty: f64) -> Order {
    let mut o = Order::zeroed();
    (o.client_order_id, o.instrument_id, o.sent_ns) = (id, inst, 1_000);
    (o.side, o.time_in_force) = (Side::Buy as i8, TimeInForce::ImmediateOrCancel as u8);
    (o.price, o.qty, o.kind) = (fx(px), fx(qty), OrderKind::New as u8);
    o
}

fn quote() -> BookEvent {
    let mut e = BookEvent::zeroed();
    (e.trace.seq, e.trace.exchange_ns, e.instrument_id) = (1, 500, 1);
    (e.kind, e.depth) = (EventKind::Quote as u8, 1);
    e.bids[0] = Level {
        price: fx(99.9),
        qty: fx(5.0),
    };
    e.asks[0] = Level {
        price: fx(100.0),
        qty: fx(5.0),
    };
    e
}

/// The simulator's three queues for one test, gone when it ends.
struct SimQueues {
    book: String,
    orders: String,
    reports: String,
}

impl SimQueues {
    /// The queues, and the producing ends of the market data and orders.
    fn new(tag: &str) -> (Self, Producer<BookEvent>, Producer<Order>) {
        let tag = format!("/tickline-vsim-{tag}-{}", std::process::id());
        let q = SimQueues {
            book: format!("{tag}-book"),
            orders: format!("{tag}-orders"),
            reports: format!("{tag}-reports"),
        };
        create::<BookEvent>(&q.book, 64).unwrap();
        create::<Order>(&q.orders, 64).unwrap();
        create::<ExecReport>(&q.reports, 64).unwrap();
        let w = WaitStrategy::default();
        let book = Producer::<BookEvent>::attach(&q.book, FullPolicy::Block, w).unwrap();
        let orders = Producer::<Order>::attach(&q.orders, FullPolicy::Block, w).unwrap();
        (q, book, orders)
    }

    /// The simulator on these queues, tick 0.1, lot 1.
    fn sim(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tickline-venue-sim"));
        c.args(["--in", &format!("queue:{}", self.orders)])
            .args(["--out", &format!("queue:{}", self.reports)])
            .args(["--book", &format!("queue:{}", self.book)])
            .args(["--tick", "0.1", "--lot", "1"]);
        c
    }
}

impl Drop for SimQueues {
    fn drop(&mut self) {
        for q in [&self.book, &self.orders, &self.reports] {
            let _ = unlink(q);
        }
    }
}

#[test]
fn bad_orders_and_garbage_are_refused_with_a_reason_and_nothing_is_lost() {
    let (q, mut book, mut orders) = SimQueues::new("bad");
    let mut reports = Consumer::<ExecReport>::attach(&q.reports, WaitStrategy::default()).unwrap();
    book.push(&quote());

    let mut garbage = Order::zeroed();
    bytemuck::bytes_of_mut(&mut garbage)
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i as u8).wrapping_mul(97).wrapping_add(13));
    garbage.sent_ns = 1_000;
    let sent = [
        order(1, 9, 100.0, 1.0),  // no such instrument
        order(2, 1, 100.05, 1.0), // off the 0.1 grid
        order(3, 1, 100.0, 0.0),  // size 0
        garbage,                  // bytes that are no order
        order(4, 1, 100.0, 1.0),  // good: takes 1 at 100
    ];
    for o in &sent {
        orders.push(o);
    }
    let mut end = Order::zeroed();
    (end.kind, end.sent_ns) = (OrderKind::Watermark as u8, u64::MAX);
    orders.push(&end);

    let child = q
        .sim()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !got
        .iter()
        .any(|r: &ExecReport| r.exec_kind() == Some(ExecKind::CaughtUp))
    {
        assert!(Instant::now() < deadline, "no caught-up report: {got:?}");
        match reports.try_pop() {
            Some(r) => got.push(r),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let answer = |id: u64| -> Vec<(ExecKind, u8)> {
        got.iter()
            .filter(|r| r.client_order_id == id)
            .map(|r| (r.exec_kind().unwrap(), r.reason))
            .collect()
    };
    use VenueReject as R;
    let rejected = |r: R| vec![(ExecKind::Rejected, r as u8)];
    assert_eq!(answer(1), rejected(R::UnknownInstrument));
    assert_eq!(answer(2), rejected(R::OffTick));
    assert_eq!(answer(3), rejected(R::BadQty));
    assert_eq!(answer(garbage.client_order_id), rejected(R::BadField));
    assert_eq!(answer(4), [(ExecKind::Fill, 0)]);
    let summary: serde_json::Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["bad_order_messages"], 1, "{summary}");
    assert_eq!(summary["venue"]["fills"], 1, "{summary}");
    assert_eq!(summary["caught_up"], true, "{summary}");
}

/// A router in lockstep with a venue that has no response latency would
/// wait for ever at the end of the data: the venue stops with the reason.
#[test]
fn lockstep_without_a_response_latency_is_refused_with_the_reason() {
    let (q, mut book, mut orders) = SimQueues::new("lockstep");
    book.push(&quote());
    let mut sync = Order::zeroed();
    (sync.kind, sync.sent_ns) = (OrderKind::Sync as u8, 1_000);
    orders.push(&sync);
    let out = q
        .sim()
        .args(["--latency", "constant:1000:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("needs a response latency above 0"), "{err}");
}
