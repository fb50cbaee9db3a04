//! The router's side of a venue process, over real queues with the venue
//! played by hand: reports become executions once each, a lost cancel race
//! leaves the order open, and a restarted router sends only what the queue
//! says it never sent.

use bytemuck::Zeroable;
use tickline_router::{Exec, Gateway, OrderRequest, QueueVenue, Touch};
use tickline_schema::venue::{ExecKind, ExecReport, OrderKind, VenueReject};
use tickline_schema::{Order, Side, TimeInForce};
use tickline_shm::{create, unlink, Consumer, FullPolicy, Producer, WaitStrategy};

const W: WaitStrategy = WaitStrategy::Block {
    spins: 0,
    yields: 0,
};

fn req(id: u64) -> OrderRequest {
    OrderRequest::new(id, 1, Side::Buy, 100, 2, 1, TimeInForce::Day).unwrap()
}

fn report(kind: ExecKind, id: u64, qty: i64, cum: i64) -> ExecReport {
    let mut r = ExecReport::zeroed();
    (r.kind, r.client_order_id, r.qty, r.cum_qty, r.price) = (kind as u8, id, qty, cum, 100);
    r
}

struct Queues {
    orders: String,
    reports: String,
}

impl Queues {
    fn new(tag: &str) -> Self {
        let q = Queues {
            orders: format!("/tickline-qv-{tag}-o-{}", std::process::id()),
            reports: format!("/tickline-qv-{tag}-r-{}", std::process::id()),
        };
        create::<Order>(&q.orders, 64).unwrap();
        create::<ExecReport>(&q.reports, 64).unwrap();
        q
    }

    fn venue(&self) -> QueueVenue {
        let o = Producer::<Order>::attach(&self.orders, FullPolicy::Block, W).unwrap();
        QueueVenue::new(o, Consumer::<ExecReport>::attach(&self.reports, W).unwrap())
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let _ = unlink(&self.orders);
        let _ = unlink(&self.reports);
    }
}

#[test]
fn reports_become_executions_once_and_a_lost_cancel_race_leaves_the_order_open() {
    let q = Queues::new("once");
    let mut gw = q.venue();
    let mut out = Vec::new();
    gw.submit(&req(1), Touch::default(), 10, &mut out);
    gw.submit(&req(2), Touch::default(), 10, &mut out);
    gw.cancel_all(&mut out);
    let mut venue_side = Producer::<ExecReport>::attach(&q.reports, FullPolicy::Block, W).unwrap();
    let mut too_late = report(ExecKind::Rejected, 1, 0, 0);
    too_late.reason = VenueReject::TooLateToCancel as u8;
    for r in [
        report(ExecKind::Accepted, 1, 0, 0),
        report(ExecKind::Fill, 1, 1, 1),
        report(ExecKind::Fill, 1, 1, 1), // the same fill again
        too_late,
        report(ExecKind::Done, 2, 0, 0),
    ] {
        venue_side.push(&r);
    }
    gw.poll(&mut out);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], Exec::Rested(1));
    assert!(matches!(out[1], Exec::Fill(f) if f.client_order_id == 1 && f.qty == 1));
    assert_eq!(out[2], Exec::Done(2));
    assert_eq!(gw.resting(1), (1, 0), "order 1 still has 1 open");
    let mut sent = Consumer::<Order>::attach(&q.orders, W).unwrap();
    let kinds: Vec<(u8, u64)> = std::iter::from_fn(|| sent.try_pop())
        .map(|o| (o.kind, o.client_order_id))
        .collect();
    let (new, cancel) = (OrderKind::New as u8, OrderKind::Cancel as u8);
    assert_eq!(kinds, [(new, 1), (new, 2), (cancel, 1), (cancel, 2)]);
}

#[test]
fn a_restarted_router_sends_only_the_orders_the_queue_never_had() {
    let q = Queues::new("resend");
    let mut gw = q.venue();
    let mut out = Vec::new();
    gw.submit(&req(1), Touch::default(), 10, &mut out);
    gw.on_market(1, Touch::default(), 11, &mut out);
    gw.poll(&mut out); // a watermark at 11, naming order 1 as the last sent
    drop(gw);
    // The successor: orders 1 and 2 journaled, 2 never put on the queue.
    let mut gw = q.venue();
    gw.restore_order(&req(1), 10, Touch::default());
    gw.restore_order(&req(2), 12, Touch::default());
    gw.reconcile(&mut out);
    let mut sent = Consumer::<Order>::attach(&q.orders, W).unwrap();
    let msgs: Vec<Order> = std::iter::from_fn(|| sent.try_pop()).collect();
    let wm = OrderKind::Watermark as u8;
    assert!(msgs
        .iter()
        .any(|o| o.kind == wm && o.sent_ns == 11 && o.client_order_id == 1));
    let new: Vec<(u64, u64)> = msgs
        .iter()
        .filter(|o| o.kind == OrderKind::New as u8)
        .map(|o| (o.client_order_id, o.sent_ns))
        .collect();
    assert_eq!(
        new,
        [(1, 10), (2, 12)],
        "order 2 sent once, at its journaled time"
    );
}

fn at(mut r: ExecReport, local_ns: u64) -> ExecReport {
    r.local_ns = local_ns;
    r
}

/// In lockstep a report is taken at the first prediction its arrival time
/// reaches, never before; and with an order open, a prediction past the
/// venue's last promise waits for a new one, asked for with a sync.
#[test]
fn in_lockstep_reports_are_taken_at_their_arrival_time_and_the_router_waits_for_a_promise() {
    let q = Queues::new("lockstep");
    let mut gw = q.venue().lockstep();
    let mut out = Vec::new();
    gw.submit(&req(1), Touch::default(), 10, &mut out);
    let mut venue_side = Producer::<ExecReport>::attach(&q.reports, FullPolicy::Block, W).unwrap();
    for r in [
        at(report(ExecKind::Accepted, 1, 0, 0), 1_000),
        at(report(ExecKind::Fill, 1, 1, 1), 2_000),
        at(report(ExecKind::Promise, 0, 0, 0), 5_000),
    ] {
        venue_side.push(&r);
    }
    gw.on_market(1, Touch::default(), 1_500, &mut out);
    assert_eq!(out, vec![Exec::Rested(1)], "the fill arrives at 2,000");
    gw.poll(&mut out);
    assert_eq!(out.len(), 1, "between batches nothing is taken in lockstep");
    gw.on_market(1, Touch::default(), 2_500, &mut out);
    assert!(matches!(out[1], Exec::Fill(f) if f.qty == 1), "{out:?}");

    // Past the promise: the router asks, and waits for the answer.
    let orders = q.orders.clone();
    let venue = std::thread::spawn(move || {
        let mut c = Consumer::<Order>::attach(&orders, W).unwrap();
        let sync = loop {
            let o = c.pop().unwrap();
            if o.kind == OrderKind::Sync as u8 {
                break o;
            }
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        venue_side.push(&at(report(ExecKind::Done, 1, 0, 1), 5_500));
        venue_side.push(&at(report(ExecKind::Promise, 0, 0, 0), 6_500));
        sync.sent_ns
    });
    let t = std::time::Instant::now();
    gw.on_market(1, Touch::default(), 6_000, &mut out);
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(50),
        "it waited"
    );
    assert_eq!(
        venue.join().unwrap(),
        6_000,
        "the sync carries the router's clock"
    );
    assert_eq!(out[2], Exec::Done(1));
    // Nothing open: no more waiting, whatever the clock.
    gw.on_market(1, Touch::default(), 1_000_000, &mut out);
    assert_eq!(out.len(), 3);
}
