//! Exact FIFO on market-by-order records, against cases counted by hand:
//! the orders ahead at join, cancels and modifies ahead and behind (CME's
//! priority rule), fills of orders ahead and behind, and a book clear.

use tickline_schema::{MarketOrder, OrderAction, Side};
use tickline_venue::{Change, FifoPos, MarketOrders};

const BID: i8 = Side::Buy as i8;
const ASK: i8 = Side::Sell as i8;

fn rec(action: OrderAction, id: u64, side: i8, price: i64, qty: i64) -> MarketOrder {
    MarketOrder {
        order_id: id,
        price,
        qty,
        action: action as u8,
        side,
        _pad: [0; 6],
    }
}

/// Orders 1 (5) and 2 (3) bid at 100, 3 (7) bid at 99, 4 (2) ask at 101;
/// then ours bids 100.
fn book_and_ours() -> (MarketOrders, FifoPos) {
    let mut m = MarketOrders::default();
    for (id, side, px, qty) in [
        (1, BID, 100, 5),
        (2, BID, 100, 3),
        (3, BID, 99, 7),
        (4, ASK, 101, 2),
    ] {
        m.apply(0, &rec(OrderAction::Add, id, side, px, qty));
    }
    let level = m.level(0, Side::Buy, 100);
    assert_eq!(level, (8, 2), "orders 1 and 2 rest at our price");
    let ours = FifoPos::join(Side::Buy, 100, m.take_priority(), level);
    (m, ours)
}

fn apply(m: &mut MarketOrders, q: &mut FifoPos, r: MarketOrder) -> i64 {
    let c = m.apply(0, &r);
    q.on_change(&c)
}

#[test]
fn cancels_and_modifies_move_us_only_when_ahead() {
    let (mut m, mut q) = book_and_ours();
    // Order 5 joins behind us, then cancels: nothing moves.
    assert_eq!(
        apply(&mut m, &mut q, rec(OrderAction::Add, 5, BID, 100, 4)),
        0
    );
    apply(&mut m, &mut q, rec(OrderAction::Cancel, 5, BID, 100, 4));
    assert_eq!((q.ahead, q.orders_ahead), (8, 2));
    // Order 2 (ahead) cancels 1 of 3: it keeps its place, 1 less ahead.
    apply(&mut m, &mut q, rec(OrderAction::Cancel, 2, BID, 100, 1));
    assert_eq!((q.ahead, q.orders_ahead), (7, 2));
    // Order 1 (ahead) is modified down to 4: keeps its place.
    apply(&mut m, &mut q, rec(OrderAction::Modify, 1, BID, 100, 4));
    assert_eq!((q.ahead, q.orders_ahead), (6, 2));
    // Order 1 grows to 6: to the back, behind us.
    apply(&mut m, &mut q, rec(OrderAction::Modify, 1, BID, 100, 6));
    assert_eq!((q.ahead, q.orders_ahead), (2, 1));
    // Order 3 moves up to our price: behind us too.
    apply(&mut m, &mut q, rec(OrderAction::Modify, 3, BID, 100, 7));
    assert_eq!((q.ahead, q.orders_ahead), (2, 1));
    assert_eq!(m.level(0, Side::Buy, 100), (15, 3));
    // Order 2 moves away: nothing ahead.
    apply(&mut m, &mut q, rec(OrderAction::Modify, 2, BID, 98, 2));
    assert_eq!((q.ahead, q.orders_ahead), (0, 0));
    assert_eq!(
        q.orders_ahead_at_join, 2,
        "the report gives the count at join"
    );
}

#[test]
fn a_fill_behind_us_or_below_our_price_would_have_met_ours_first() {
    let (mut m, mut q) = book_and_ours();
    apply(&mut m, &mut q, rec(OrderAction::Add, 5, BID, 100, 4));
    // Order 1, ahead, trades 5: nothing of ours (its cancel follows).
    assert_eq!(
        apply(&mut m, &mut q, rec(OrderAction::Fill, 1, 0, 100, 5)),
        0
    );
    assert_eq!(q.ahead, 8, "the book changes by the record that follows");
    apply(&mut m, &mut q, rec(OrderAction::Cancel, 1, BID, 100, 5));
    assert_eq!(q.ahead, 3);
    // Order 5, behind us, trades 2: ours would have traded them.
    assert_eq!(
        apply(&mut m, &mut q, rec(OrderAction::Fill, 5, 0, 100, 2)),
        2
    );
    // Order 3, at 99 (worse than our 100), trades 6.
    assert_eq!(
        apply(&mut m, &mut q, rec(OrderAction::Fill, 3, BID, 99, 6)),
        6
    );
    // Order 4 is on the other side; an unknown order changes nothing.
    assert_eq!(
        apply(&mut m, &mut q, rec(OrderAction::Fill, 4, ASK, 101, 2)),
        0
    );
    let c = m.apply(0, &rec(OrderAction::Fill, 77, BID, 100, 1));
    assert_eq!(c, Change::Unknown);
    // Order 3 (resting at 99) fills at 101: it was modified across the
    // spread and took liquidity; no queue moves (ESH4 has such records).
    let c = m.apply(0, &rec(OrderAction::Fill, 3, BID, 101, 1));
    assert_eq!(c, Change::TookLiquidity);
    assert_eq!(q.on_change(&c), 0);
}

#[test]
fn a_clear_leaves_nothing_ahead_and_later_orders_behind() {
    let (mut m, mut q) = book_and_ours();
    assert_eq!(
        m.apply(0, &rec(OrderAction::Clear, 0, 0, 0, 0)),
        Change::Cleared
    );
    q.on_change(&Change::Cleared);
    assert!(m.is_empty());
    assert_eq!((q.ahead, q.orders_ahead), (0, 0));
    // The book image that follows rests behind us.
    apply(&mut m, &mut q, rec(OrderAction::Add, 1, BID, 100, 5));
    assert_eq!(q.ahead, 0);
    assert_eq!(
        apply(&mut m, &mut q, rec(OrderAction::Fill, 1, BID, 100, 5)),
        5
    );
    // Another instrument's records are another book.
    m.apply(1, &rec(OrderAction::Add, 1, BID, 100, 9));
    assert_eq!(m.level(0, Side::Buy, 100), (5, 1));
    assert_eq!(m.level(1, Side::Buy, 100), (9, 1));
}
