//! The matching engine on hand-worked cases: latency ordering, takers
//! walking the book, queue models, a cancel racing a fill, bad orders.

use bytemuck::Zeroable;
use tickline_schema::venue::{ExecKind, ExecReport, OrderKind, VenueReject, LIQUIDITY_MAKER};
use tickline_schema::{
    BookEvent, EventKind, Level, MarketOrder, Order, OrderAction, Side, TimeInForce, FIXED_SCALE,
};
use tickline_venue::{Latency, QueueModel, Venue, VenueConfig};

const US: u64 = 1_000;

fn fx(x: f64) -> i64 {
    (x * FIXED_SCALE as f64).round() as i64
}

fn venue(queue: &str, entry_us: u64, lot: f64) -> Venue {
    let cfg = VenueConfig {
        queue: queue.parse::<QueueModel>().unwrap(),
        tick: fx(0.1),
        lot: fx(lot),
        maker_fee_bps: -0.5,
        taker_fee_bps: 4.0,
        reorder_ns: 0,
    };
    let lat = Latency::from_spec(&format!("constant:{entry_us}:0")).unwrap();
    Venue::new(cfg, lat)
}

/// A quote event at `t` with (price, qty) levels, best first.
fn book(t: u64, bids: &[(f64, f64)], asks: &[(f64, f64)]) -> BookEvent {
    let mut e = BookEvent::zeroed();
    e.trace.exchange_ns = t;
    e.instrument_id = 1;
    e.kind = EventKind::Quote as u8;
    e.depth = bids.len().max(asks.len()) as u8;
    for (side, levels) in [(&mut e.bids, bids), (&mut e.asks, asks)] {
        for (l, (p, q)) in side.iter_mut().zip(levels) {
            *l = Level {
                price: fx(*p),
                qty: fx(*q),
            };
        }
    }
    e
}

/// A trade at `t` by `aggressor`, the book as `b` left it.
fn trade(b: &BookEvent, t: u64, aggressor: Side, px: f64, qty: f64) -> BookEvent {
    let mut e = *b;
    e.trace.exchange_ns = t;
    e.kind = EventKind::Trade as u8;
    e.trade_side = aggressor as i8;
    (e.trade_price, e.trade_qty) = (fx(px), fx(qty));
    e
}

fn order(id: u64, sent: u64, side: Side, px: f64, qty: f64, tif: TimeInForce) -> Order {
    let mut o = Order::zeroed();
    (o.client_order_id, o.sent_ns, o.instrument_id) = (id, sent, 1);
    (o.side, o.time_in_force, o.kind) = (side as i8, tif as u8, OrderKind::New as u8);
    (o.price, o.qty) = (fx(px), fx(qty));
    o
}

fn cancel(id: u64, sent: u64) -> Order {
    let mut o = order(id, sent, Side::Buy, 100.0, 1.0, TimeInForce::Day);
    o.kind = OrderKind::Cancel as u8;
    o
}

fn kinds(out: &[ExecReport]) -> Vec<ExecKind> {
    out.iter().map(|r| r.exec_kind().unwrap()).collect()
}

fn fills(out: &[ExecReport]) -> Vec<(u64, i64, i64)> {
    out.iter()
        .filter(|r| r.exec_kind() == Some(ExecKind::Fill))
        .map(|r| (r.exchange_ns, r.price, r.qty))
        .collect()
}

#[test]
fn an_order_cannot_fill_before_it_arrives() {
    let mut v = venue("risk_averse", 100, 1.0);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(99.9, 5.0)], &[(100.0, 5.0)]), &mut out);
    v.send(&order(
        1,
        10 * US,
        Side::Buy,
        100.0,
        1.0,
        TimeInForce::ImmediateOrCancel,
    ));
    // The ask leaves before the order arrives (at 110 µs): nothing to take.
    v.on_book(&book(60 * US, &[(99.9, 5.0)], &[(100.2, 5.0)]), &mut out);
    assert!(out.is_empty(), "nothing happens before arrival: {out:?}");
    v.on_book(&book(200 * US, &[(99.9, 5.0)], &[(100.0, 5.0)]), &mut out);
    assert_eq!(kinds(&out), [ExecKind::Done]);
    assert_eq!(out[0].exchange_ns, 110 * US);

    // The same order when the ask is still there at arrival: a taker fill
    // at arrival time, never at the send time.
    v.send(&order(
        2,
        300 * US,
        Side::Buy,
        100.0,
        1.0,
        TimeInForce::ImmediateOrCancel,
    ));
    out.clear();
    v.on_book(&book(500 * US, &[(99.9, 5.0)], &[(100.0, 5.0)]), &mut out);
    assert_eq!(fills(&out), [(400 * US, fx(100.0), fx(1.0))]);
}

#[test]
fn a_market_event_at_the_arrival_time_comes_first() {
    let mut v = venue("risk_averse", 100, 1.0);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(99.9, 5.0)], &[(100.0, 5.0)]), &mut out);
    v.send(&order(
        1,
        0,
        Side::Buy,
        100.0,
        1.0,
        TimeInForce::ImmediateOrCancel,
    ));
    v.on_book(&book(100 * US, &[(99.9, 5.0)], &[(100.1, 5.0)]), &mut out);
    v.arrive_until(u64::MAX, &mut out);
    assert_eq!(
        kinds(&out),
        [ExecKind::Done],
        "the ask left at the arrival time, first"
    );
}

#[test]
fn a_taker_walks_the_levels_it_sees() {
    let mut v = venue("risk_averse", 0, 1.0);
    let mut out = Vec::new();
    let asks = [(100.0, 1.0), (100.1, 2.0), (100.2, 5.0)];
    v.on_book(&book(0, &[(99.9, 5.0)], &asks), &mut out);
    v.send(&order(
        1,
        10,
        Side::Buy,
        100.1,
        4.0,
        TimeInForce::ImmediateOrCancel,
    ));
    v.arrive_until(10, &mut out);
    assert_eq!(
        fills(&out),
        [(10, fx(100.0), fx(1.0)), (10, fx(100.1), fx(2.0))]
    );
    let done = out.last().unwrap();
    assert_eq!(
        (done.exec_kind(), done.leaves),
        (Some(ExecKind::Done), fx(1.0))
    );
    // Taker fee: 4 bps of 100 + 200.2.
    let fee: f64 = out.iter().map(|r| r.fee).sum();
    assert!((fee - 300.2 * 4e-4).abs() < 1e-9, "{fee}");
}

#[test]
fn risk_averse_advances_only_on_trades_at_its_price() {
    let mut v = venue("risk_averse", 0, 1.0);
    let mut out = Vec::new();
    let b0 = book(0, &[(100.0, 5.0)], &[(100.1, 5.0)]);
    v.on_book(&b0, &mut out);
    v.send(&order(1, 1, Side::Buy, 100.0, 1.0, TimeInForce::Day));
    v.arrive_until(1, &mut out);
    assert_eq!(kinds(&out), [ExecKind::Accepted]);
    // Cancels take the level to 3: we cannot have more than 3 ahead.
    let b1 = book(2, &[(100.0, 3.0)], &[(100.1, 5.0)]);
    v.on_book(&b1, &mut out);
    v.on_book(&trade(&b1, 3, Side::Sell, 100.0, 2.0), &mut out);
    assert_eq!(fills(&out), [], "one still ahead");
    v.on_book(&trade(&b1, 4, Side::Sell, 100.0, 2.0), &mut out);
    assert_eq!(fills(&out), [(4, fx(100.0), fx(1.0))]);
    let f = out.last().unwrap();
    assert_eq!((f.liquidity, f.queue_ahead), (LIQUIDITY_MAKER, fx(5.0)));
}

#[test]
fn power_3_splits_a_cancel_by_its_chance_of_being_ahead() {
    // Join at a level of 4 (4 ahead); 6 join behind (10); 3 cancel (7):
    // p(behind) = 6^3 / (6^3 + 4^3) = 216/280; ahead 4 - (64/280)*3 =
    // 3.3142857. Trades of 3.3 then 0.02 leave -0.0057143: 6 lots of 0.001.
    let mut v = venue("prob:power:3", 0, 0.001);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(100.0, 4.0)], &[(100.1, 5.0)]), &mut out);
    v.send(&order(1, 1, Side::Buy, 100.0, 1.0, TimeInForce::Day));
    v.on_book(&book(2, &[(100.0, 10.0)], &[(100.1, 5.0)]), &mut out);
    let b = book(3, &[(100.0, 7.0)], &[(100.1, 5.0)]);
    v.on_book(&b, &mut out);
    v.on_book(&trade(&b, 4, Side::Sell, 100.0, 3.3), &mut out);
    assert_eq!(fills(&out), []);
    v.on_book(&trade(&b, 5, Side::Sell, 100.0, 0.02), &mut out);
    assert_eq!(fills(&out), [(5, fx(100.0), fx(0.006))]);
    assert_eq!(out.last().unwrap().leaves, fx(0.994));
}

#[test]
fn a_resting_order_fills_whole_when_the_other_side_reaches_it() {
    let mut v = venue("risk_averse", 0, 1.0);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(100.0, 5.0)], &[(100.2, 5.0)]), &mut out);
    v.send(&order(1, 1, Side::Buy, 100.1, 2.0, TimeInForce::Day));
    v.on_book(&book(2, &[(100.0, 5.0)], &[(100.1, 3.0)]), &mut out);
    assert_eq!(fills(&out), [(2, fx(100.1), fx(2.0))]);
    assert_eq!(v.open_orders(), (0, 0));
}

#[test]
fn a_cancel_racing_a_fill() {
    // The fill happens while the cancel is on its way: the cancel is late.
    let mut v = venue("risk_averse", 50, 1.0);
    let mut out = Vec::new();
    let b = book(0, &[(100.0, 1.0)], &[(100.1, 5.0)]);
    v.on_book(&b, &mut out);
    v.send(&order(1, 0, Side::Buy, 100.0, 1.0, TimeInForce::Day));
    v.on_book(&book(60 * US, &[(100.0, 1.0)], &[(100.1, 5.0)]), &mut out);
    v.send(&cancel(1, 100 * US));
    v.on_book(&trade(&b, 120 * US, Side::Sell, 100.0, 3.0), &mut out);
    v.arrive_until(u64::MAX, &mut out);
    assert_eq!(
        kinds(&out),
        [ExecKind::Accepted, ExecKind::Fill, ExecKind::Rejected]
    );
    assert_eq!(out[2].reason, VenueReject::TooLateToCancel as u8);

    // The cancel arrives first: done, and the trade fills nothing.
    let mut v = venue("risk_averse", 50, 1.0);
    let mut out = Vec::new();
    v.on_book(&b, &mut out);
    v.send(&order(1, 0, Side::Buy, 100.0, 1.0, TimeInForce::Day));
    v.on_book(&book(60 * US, &[(100.0, 1.0)], &[(100.1, 5.0)]), &mut out);
    v.send(&cancel(1, 100 * US));
    v.on_book(&trade(&b, 160 * US, Side::Sell, 100.0, 3.0), &mut out);
    assert_eq!(kinds(&out), [ExecKind::Accepted, ExecKind::Done]);
    assert_eq!((out[1].exchange_ns, out[1].leaves), (150 * US, fx(1.0)));
}

#[test]
fn bad_orders_are_refused_with_a_reason() {
    let mut v = venue("risk_averse", 0, 0.001);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(100.0, 5.0)], &[(100.1, 5.0)]), &mut out);
    let ok = order(5, 1, Side::Buy, 99.0, 0.001, TimeInForce::Day);
    let mut unknown = ok;
    unknown.instrument_id = 7;
    let mut off_tick = order(6, 1, Side::Buy, 99.05, 0.001, TimeInForce::Day);
    off_tick.client_order_id = 6;
    let zero = order(7, 1, Side::Buy, 99.0, 0.0, TimeInForce::Day);
    let odd_lot = order(8, 1, Side::Buy, 99.0, 0.0015, TimeInForce::Day);
    let mut bad_side = order(9, 1, Side::Buy, 99.0, 0.001, TimeInForce::Day);
    bad_side.side = 3;
    let mut bad_kind = order(10, 1, Side::Buy, 99.0, 0.001, TimeInForce::Day);
    bad_kind.kind = 77;
    let dup = order(5, 1, Side::Buy, 99.0, 0.001, TimeInForce::Day);
    for o in [
        unknown, ok, off_tick, zero, odd_lot, bad_side, bad_kind, dup,
    ] {
        v.send(&o);
    }
    v.arrive_until(u64::MAX, &mut out);
    let reasons: Vec<_> = out.iter().map(|r| (r.client_order_id, r.reason)).collect();
    use VenueReject as R;
    assert_eq!(
        reasons,
        [
            (5, R::UnknownInstrument as u8),
            (5, 0),
            (6, R::OffTick as u8),
            (7, R::BadQty as u8),
            (8, R::BadQty as u8),
            (9, R::BadField as u8),
            (10, R::BadField as u8),
            (5, R::DuplicateId as u8),
        ]
    );
    assert_eq!(v.stats.rejects.values().sum::<u64>(), 7);
}

#[test]
fn a_trade_received_after_the_depth_that_shows_it_counts_once() {
    // prob:power:3, joined behind 4 at a level of 10 (6 behind). A trade
    // of 3 at T=10 is received after the depth update of T=11 that already
    // shows the level at 7. In exchange-time order the decrease is the
    // trade's (ahead 4 - 3 = 1); in receive order it would first count as
    // a cancel (ahead 3.31) and then the trade again (0.31).
    for (window, ahead_left) in [(5, 1.0), (0, 4.0 - 3.0 * 64.0 / 280.0 - 3.0)] {
        let cfg = VenueConfig {
            queue: "prob:power:3".parse().unwrap(),
            tick: fx(0.1),
            lot: fx(0.001),
            maker_fee_bps: 0.0,
            taker_fee_bps: 0.0,
            reorder_ns: window,
        };
        let mut v = Venue::new(cfg, Latency::from_spec("constant:0:0").unwrap());
        let mut out = Vec::new();
        v.on_book(&book(0, &[(100.0, 4.0)], &[(100.1, 5.0)]), &mut out);
        v.send(&order(1, 1, Side::Buy, 100.0, 1.0, TimeInForce::Day));
        v.on_book(&book(2, &[(100.0, 10.0)], &[(100.1, 5.0)]), &mut out);
        let after = book(11, &[(100.0, 7.0)], &[(100.1, 5.0)]);
        v.on_book(&after, &mut out);
        v.on_book(&trade(&after, 10, Side::Sell, 100.0, 3.0), &mut out);
        // What is left ahead: a trade of that much fills nothing, a lot more fills.
        let probe = trade(&after, 30, Side::Sell, 100.0, ahead_left - 0.0004);
        v.on_book(&probe, &mut out);
        v.finish(&mut out);
        assert_eq!(fills(&out), [], "window {window}: not yet at the front");
        v.on_book(&trade(&after, 40, Side::Sell, 100.0, 0.0015), &mut out);
        v.finish(&mut out);
        assert_eq!(fills(&out), [(40, fx(100.0), fx(0.001))], "window {window}");
    }
}

#[test]
fn a_level_that_falls_off_the_ten_seen_is_not_taken_as_emptied() {
    let mut v = venue("risk_averse", 0, 1.0);
    let mut out = Vec::new();
    let asks = |first: f64| -> Vec<(f64, f64)> {
        (0..10).map(|k| (first + 0.1 * k as f64, 5.0)).collect()
    };
    v.on_book(&book(0, &[(99.9, 5.0)], &asks(100.0)), &mut out);
    // A sell at the 10th level, 5 ahead.
    v.send(&order(1, 1, Side::Sell, 100.9, 1.0, TimeInForce::Day));
    v.arrive_until(1, &mut out);
    // Levels join below: 100.9 falls off the view, then comes back.
    let b = book(2, &[(99.9, 5.0)], &asks(99.95 - 0.05));
    v.on_book(&b, &mut out);
    let back = book(3, &[(99.9, 5.0)], &asks(100.0));
    v.on_book(&back, &mut out);
    v.on_book(&trade(&back, 4, Side::Buy, 100.9, 1.0), &mut out);
    assert_eq!(fills(&out), [], "still 4 ahead");
}

/// A market-by-order record at `t`, the book as `b` left it.
fn record(
    b: &BookEvent,
    t: u64,
    action: OrderAction,
    id: u64,
    side: Side,
    px: f64,
    qty: f64,
) -> BookEvent {
    let mut e = *b;
    e.trace.exchange_ns = t;
    e.kind = EventKind::Order as u8;
    e.order = MarketOrder {
        order_id: id,
        price: fx(px),
        qty: fx(qty),
        action: action as u8,
        side: side as i8,
        _pad: [0; 6],
    };
    e
}

#[test]
fn fifo_joins_behind_the_orders_resting_and_fills_when_one_behind_trades() {
    let mut v = venue("fifo", 10, 1.0);
    let mut out = Vec::new();
    let b = book(0, &[(100.0, 5.0)], &[(100.1, 4.0)]);
    // Two bids rest at 100 before ours arrives (at 15 µs), one after it.
    v.on_book(
        &record(&b, US, OrderAction::Add, 1, Side::Buy, 100.0, 2.0),
        &mut out,
    );
    v.on_book(
        &record(&b, US, OrderAction::Add, 2, Side::Buy, 100.0, 3.0),
        &mut out,
    );
    v.on_book(&b, &mut out);
    v.send(&order(7, 5 * US, Side::Buy, 100.0, 2.0, TimeInForce::Day));
    v.on_book(
        &record(&b, 20 * US, OrderAction::Add, 3, Side::Buy, 100.0, 4.0),
        &mut out,
    );
    assert_eq!(kinds(&out), [ExecKind::Accepted]);
    // Order 1, ahead, trades: nothing of ours.
    v.on_book(
        &record(&b, 30 * US, OrderAction::Fill, 1, Side::Buy, 100.0, 2.0),
        &mut out,
    );
    v.on_book(
        &record(&b, 30 * US, OrderAction::Cancel, 1, Side::Buy, 100.0, 2.0),
        &mut out,
    );
    assert!(fills(&out).is_empty());
    // Order 3, behind ours, trades 1: ours would have; then 4 more.
    v.on_book(
        &record(&b, 40 * US, OrderAction::Fill, 3, Side::Buy, 100.0, 1.0),
        &mut out,
    );
    v.on_book(
        &record(&b, 50 * US, OrderAction::Fill, 3, Side::Buy, 100.0, 3.0),
        &mut out,
    );
    assert_eq!(
        fills(&out),
        [(40 * US, fx(100.0), fx(1.0)), (50 * US, fx(100.0), fx(1.0))]
    );
    let f = out
        .iter()
        .find(|r| r.exec_kind() == Some(ExecKind::Fill))
        .unwrap();
    assert_eq!((f.queue_ahead, f.orders_ahead), (fx(5.0), 2), "as at join");
    assert_eq!(v.stats.order_records, 7);
}

#[test]
fn orders_on_a_crossed_book_are_refused_as_before_an_open() {
    let mut v = venue("fifo", 10, 1.0);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(100.2, 5.0)], &[(100.1, 4.0)]), &mut out);
    v.send(&order(1, 0, Side::Sell, 100.1, 1.0, TimeInForce::Day));
    v.on_book(&book(20 * US, &[(100.0, 5.0)], &[(100.1, 4.0)]), &mut out);
    assert_eq!(kinds(&out), [ExecKind::Rejected]);
    assert_eq!(out[0].reason, VenueReject::BookCrossed as u8);
}

#[test]
fn fifo_without_market_by_order_records_refuses_rather_than_guess() {
    let mut v = venue("fifo", 10, 1.0);
    let mut out = Vec::new();
    v.on_book(&book(0, &[(100.0, 5.0)], &[(100.1, 4.0)]), &mut out);
    v.send(&order(1, 0, Side::Buy, 100.0, 1.0, TimeInForce::Day));
    v.on_book(&book(20 * US, &[(100.0, 5.0)], &[(100.1, 4.0)]), &mut out);
    assert_eq!(kinds(&out), [ExecKind::Rejected]);
    assert_eq!(out[0].reason, VenueReject::NoOrderRecords as u8);
}

/// A promise holds: no report made after it reaches the router at or
/// before the promised time (the router's lockstep rests on it).
#[test]
fn no_report_made_after_a_promise_reaches_the_router_by_it() {
    let cfg = VenueConfig {
        queue: "risk_averse".parse::<QueueModel>().unwrap(),
        tick: fx(0.1),
        lot: fx(1.0),
        maker_fee_bps: 0.0,
        taker_fee_bps: 0.0,
        reorder_ns: 0,
    };
    let mut v = Venue::new(cfg, Latency::from_spec("constant:100:300").unwrap());
    let (mut out, mut promised, mut answers) = (Vec::new(), 0, 0);
    for k in 0..400u64 {
        // The router's messages are sent at the last event's time: they
        // arrive after every event taken so far.
        let t = k * 40 * US;
        let (side, tif) = match k % 4 {
            0 => (Side::Buy, TimeInForce::Day),
            1 => (Side::Sell, TimeInForce::ImmediateOrCancel),
            2 => (Side::Sell, TimeInForce::Day),
            _ => (Side::Buy, TimeInForce::ImmediateOrCancel),
        };
        if k % 3 == 0 {
            v.send(&order(k + 1, t, side, 100.0, 1.0, tif));
        }
        if k % 11 == 0 && k > 0 {
            v.send(&cancel(k - 2, t));
        }
        let bid = 99.8 + (k % 4) as f64 * 0.1;
        v.on_book(&book(t, &[(bid, 3.0)], &[(bid + 0.1, 3.0)]), &mut out);
        if k % 2 == 0 {
            v.on_book(
                &trade(
                    &book(t, &[(bid, 3.0)], &[(bid + 0.1, 3.0)]),
                    t,
                    Side::Sell,
                    bid,
                    2.0,
                ),
                &mut out,
            );
        }
        v.promise(&mut out);
        for r in out.drain(..) {
            if r.exec_kind() == Some(ExecKind::Promise) {
                assert!(r.local_ns >= promised, "promises never go back");
                promised = r.local_ns;
                continue;
            }
            assert!(r.local_ns > promised, "{r:?} after a promise of {promised}");
            answers += 1;
        }
    }
    assert!(answers > 100, "the case makes reports: {answers}");
    assert!(v.stats.fills > 20, "and fills: {:?}", v.stats);
}

/// Bids every 0.2 from 99.9 down (10 levels, 5 each), `extra` added, and
/// `at_98_1` at 98.1; the top 10 of them in a book event at `t`.
fn deep_book(t: u64, extra: &[(f64, f64)], at_98_1: f64) -> (Vec<(f64, f64)>, BookEvent) {
    let mut bids: Vec<(f64, f64)> = (0..9).map(|k| (99.9 - 0.2 * k as f64, 5.0)).collect();
    bids.push((98.1, at_98_1));
    bids.extend_from_slice(extra);
    bids.sort_by(|a, b| b.0.total_cmp(&a.0));
    let e = book(t, &bids[..10], &[(100.1, 4.0)]);
    (bids, e)
}

/// A levels record (market by price) at `t` setting `bids` and `asks`.
fn levels(t: u64, bids: &[(f64, f64)], asks: &[(f64, f64)]) -> BookEvent {
    let mut e = book(t, bids, asks);
    e.kind = EventKind::Order as u8;
    e.order.action = OrderAction::Levels as u8;
    e
}

/// A levels record of one level.
fn level(t: u64, side: Side, px: f64, qty: f64) -> BookEvent {
    match side {
        Side::Buy => levels(t, &[(px, qty)], &[]),
        Side::Sell => levels(t, &[], &[(px, qty)]),
    }
}

/// Our bid at 98.1 behind 5; out of the top 10 its level falls to 1 and
/// grows back to 6 (others join behind us); back in view, a trade of 2.
/// The fills, with the level records or from the top levels alone.
fn out_of_view_case(model: &str, records: bool) -> Vec<(u64, i64, i64)> {
    let mut v = venue(model, 10, 1.0);
    let mut out = Vec::new();
    // Each step's changes in one record (bids below 100, asks above).
    let mut step = |v: &mut Venue, t: u64, changes: &[(f64, f64)], e: &BookEvent| {
        let side = |above: bool| {
            let v = changes.iter().filter(move |(px, _)| (*px > 100.0) == above);
            v.copied().collect::<Vec<_>>()
        };
        if records {
            v.on_book(&levels(t, &side(false), &side(true)), &mut out);
        }
        v.on_book(e, &mut out);
    };
    let (mut all, b0) = deep_book(0, &[], 5.0);
    all.push((100.1, 4.0));
    step(&mut v, 0, &all, &b0);
    v.send(&order(1, 0, Side::Buy, 98.1, 1.0, TimeInForce::Day));
    let better = [(99.8, 5.0), (99.6, 5.0)];
    let (_, b1) = deep_book(20 * US, &better, 5.0);
    step(&mut v, 20 * US, &better, &b1);
    for (t, qty) in [(30 * US, 1.0), (40 * US, 6.0)] {
        let (_, b) = deep_book(t, &better, qty);
        assert_eq!(b.bids[9].price, fx(98.5), "98.1 is out of the top 10");
        step(&mut v, t, &[(98.1, qty)], &b);
    }
    let (_, b2) = deep_book(50 * US, &[], 6.0);
    step(&mut v, 50 * US, &[(99.8, 0.0), (99.6, 0.0)], &b2);
    v.on_book(&trade(&b2, 60 * US, Side::Sell, 98.1, 2.0), &mut out);
    assert_eq!(v.stats.level_records > 0, records);
    assert_eq!(out[0].exec_kind(), Some(ExecKind::Accepted));
    fills(&out)
}

#[test]
fn level_records_follow_a_level_out_of_the_top_levels() {
    for model in ["risk_averse", "prob:power:3"] {
        // The fall to 1 out of view leaves 1 ahead: the trade of 2 fills us.
        let full = out_of_view_case(model, true);
        assert_eq!(full, [(60 * US, fx(98.1), fx(1.0))], "{model}");
        // Seen only back at 6, the 5 ahead stay: no fill.
        assert_eq!(out_of_view_case(model, false), [], "{model}");
    }
}

#[test]
fn a_level_change_moves_the_queue_once_by_its_record_not_again_by_the_book() {
    let mut v = venue("prob:power:3", 10, 0.1);
    let mut out = Vec::new();
    let at = |v: &mut Venue, out: &mut Vec<ExecReport>, t: u64, bid: f64| {
        let b = book(t, &[(99.9, bid)], &[(100.1, 4.0)]);
        v.on_book(&level(t, Side::Buy, 99.9, bid), out);
        v.on_book(&b, out);
    };
    at(&mut v, &mut out, 0, 5.0);
    v.send(&order(1, 0, Side::Buy, 99.9, 1.0, TimeInForce::Day));
    // 5 join behind us, then 2 cancel: half the chance each side at 5/5,
    // so 1 ahead of us goes (4 ahead); counted twice it would be 3.54.
    at(&mut v, &mut out, 20 * US, 10.0);
    at(&mut v, &mut out, 30 * US, 8.0);
    let b = book(40 * US, &[(99.9, 8.0)], &[(100.1, 4.0)]);
    v.on_book(&trade(&b, 40 * US, Side::Sell, 99.9, 4.0), &mut out);
    assert_eq!(fills(&out), [], "4 ahead, 4 traded: none of ours");
    v.on_book(&trade(&b, 50 * US, Side::Sell, 99.9, 0.3), &mut out);
    assert_eq!(fills(&out), [(50 * US, fx(99.9), fx(0.3))]);
}

#[test]
fn a_levels_record_sets_both_sides() {
    let mut v = venue("risk_averse", 10, 1.0);
    let mut out = Vec::new();
    let b = book(0, &[(99.9, 5.0)], &[(100.1, 4.0)]);
    v.on_book(&levels(0, &[(99.9, 5.0)], &[(100.1, 4.0)]), &mut out);
    v.on_book(&b, &mut out);
    v.send(&order(1, 0, Side::Sell, 100.1, 1.0, TimeInForce::Day));
    // 3 of the 4 ahead cancel, in a record that changes a bid too.
    v.on_book(&levels(20 * US, &[(99.8, 2.0)], &[(100.1, 1.0)]), &mut out);
    let b = book(20 * US, &[(99.9, 5.0), (99.8, 2.0)], &[(100.1, 1.0)]);
    v.on_book(&b, &mut out);
    v.on_book(&trade(&b, 30 * US, Side::Buy, 100.1, 2.0), &mut out);
    assert_eq!(fills(&out), [(30 * US, fx(100.1), fx(1.0))]);
    assert_eq!((v.stats.level_records, v.stats.level_changes), (2, 4));
}

#[test]
fn a_taker_walks_the_full_depth_where_level_records_give_it() {
    let asks: Vec<(f64, f64)> = (0..12).map(|k| (100.1 + 0.1 * k as f64, 1.0)).collect();
    for records in [true, false] {
        let mut v = venue("risk_averse", 10, 1.0);
        let mut out = Vec::new();
        if records {
            v.on_book(&levels(0, &[(99.9, 5.0)], &asks[..10]), &mut out);
            v.on_book(&levels(0, &[], &asks[10..]), &mut out);
        }
        v.on_book(&book(0, &[(99.9, 5.0)], &asks[..10]), &mut out);
        let ioc = TimeInForce::ImmediateOrCancel;
        v.send(&order(1, 0, Side::Buy, 102.0, 15.0, ioc));
        v.on_book(&book(20 * US, &[(99.9, 5.0)], &asks[..10]), &mut out);
        let taken: Vec<i64> = fills(&out).iter().map(|f| f.1).collect();
        // All 12 (100.1 to 101.2) with the full depth; the 10 seen without.
        let want = if records { 12 } else { 10 };
        assert_eq!(taken.len(), want, "records {records}: {taken:?}");
        assert!(taken.windows(2).all(|w| w[0] < w[1]), "best first");
    }
}
