//! Per-event quantities, shared by the O(1) engine and the naive reference
//! (which differ only in how they aggregate windows).

use tickline_schema::{BookEvent, Level};

/// Best bid and ask as f64 (fixed-point units), when both sides have a level.
pub fn touch(e: &BookEvent) -> Option<(Level, Level)> {
    Some((e.best_bid()?, e.best_ask()?))
}

/// Mid price (fixed-point units), when both sides have a level.
pub fn mid(e: &BookEvent) -> Option<f64> {
    touch(e).map(|(b, a)| (b.price as f64 + a.price as f64) / 2.0)
}

/// (bid qty - ask qty) / (bid qty + ask qty) over the first `k` levels.
pub fn imbalance(e: &BookEvent, k: usize) -> Option<f64> {
    let k = k.min(e.depth as usize);
    let b: f64 = e.bids[..k].iter().map(|l| l.qty as f64).sum();
    let a: f64 = e.asks[..k].iter().map(|l| l.qty as f64).sum();
    (b + a > 0.0).then(|| (b - a) / (b + a))
}

/// Size-weighted mid: the price leans toward the side with less size.
pub fn microprice(e: &BookEvent) -> Option<f64> {
    let (b, a) = touch(e)?;
    let (bq, aq) = (b.qty as f64, a.qty as f64);
    Some((b.price as f64 * aq + a.price as f64 * bq) / (bq + aq))
}

/// A side's level for OFI: an empty bid is price 0, an empty ask price +inf,
/// both with size 0, so a side emptying counts as its size leaving.
fn side_level(l: &Level, bid: bool) -> (f64, f64) {
    if l.qty > 0 {
        (l.price as f64, l.qty as f64)
    } else if bid {
        (0.0, 0.0)
    } else {
        (f64::INFINITY, 0.0)
    }
}

/// Order flow imbalance of one level between two consecutive books (Cont,
/// Kukanov and Stoikov, 2014): bid-side inflow minus ask-side inflow.
pub fn ofi_level(prev: &BookEvent, cur: &BookEvent, m: usize) -> f64 {
    let (pb0, qb0) = side_level(&prev.bids[m], true);
    let (pb1, qb1) = side_level(&cur.bids[m], true);
    let (pa0, qa0) = side_level(&prev.asks[m], false);
    let (pa1, qa1) = side_level(&cur.asks[m], false);
    let mut e = 0.0;
    if pb1 >= pb0 {
        e += qb1;
    }
    if pb1 <= pb0 {
        e -= qb0;
    }
    if pa1 <= pa0 {
        e -= qa1;
    }
    if pa1 >= pa0 {
        e += qa0;
    }
    e
}

/// OFI summed over the first `k` levels, divided by the current depth of
/// those levels (so it is scale-free across instruments); 0 without depth.
pub fn ofi_normalized(prev: &BookEvent, cur: &BookEvent, k: usize) -> f64 {
    let k = k.min(cur.depth as usize).min(prev.depth as usize);
    let depth: f64 = (0..k)
        .map(|m| (cur.bids[m].qty + cur.asks[m].qty) as f64)
        .sum();
    if depth <= 0.0 {
        return 0.0;
    }
    (0..k).map(|m| ofi_level(prev, cur, m)).sum::<f64>() / depth
}

/// Signed traded quantity of a trade event (+ buyer-initiated), and its size.
pub fn trade_flow(e: &BookEvent) -> (f64, f64) {
    if e.kind() == Some(tickline_schema::EventKind::Trade) && e.trade_qty > 0 {
        let q = e.trade_qty as f64;
        (q * e.trade_side.signum() as f64, q)
    } else {
        (0.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickline_schema::EventKind;

    fn book(bid: (i64, i64), ask: (i64, i64)) -> BookEvent {
        let mut e = <BookEvent as bytemuck::Zeroable>::zeroed();
        e.depth = 5;
        e.bids[0] = Level {
            price: bid.0,
            qty: bid.1,
        };
        e.asks[0] = Level {
            price: ask.0,
            qty: ask.1,
        };
        e
    }

    #[test]
    fn touch_quantities() {
        let e = book((99, 300), (101, 100));
        assert_eq!(mid(&e), Some(100.0));
        assert_eq!(imbalance(&e, 1), Some(0.5));
        // Microprice leans to the ask, where size is thin: 99*100 + 101*300 / 400.
        assert_eq!(microprice(&e), Some(100.5));
        assert_eq!(mid(&book((99, 0), (101, 5))), None);
        assert_eq!(imbalance(&book((99, 0), (101, 0)), 1), None);
    }

    #[test]
    fn ofi_follows_cont_kukanov_stoikov() {
        let p = book((99, 100), (101, 100));
        // Bid size grows at the same price: +50.
        assert_eq!(ofi_level(&p, &book((99, 150), (101, 100)), 0), 50.0);
        // Bid improves: the whole new bid is inflow.
        assert_eq!(ofi_level(&p, &book((100, 10), (101, 100)), 0), 10.0);
        // Ask lifted away (ask price rises): the old ask size leaves the ask side: +100.
        assert_eq!(ofi_level(&p, &book((99, 100), (102, 40)), 0), 100.0);
        // Ask size grows at the same price: -30.
        assert_eq!(ofi_level(&p, &book((99, 100), (101, 130)), 0), -30.0);
        // Bid side empties: its size leaves.
        assert_eq!(ofi_level(&p, &book((0, 0), (101, 100)), 0), -100.0);
    }

    #[test]
    fn trade_flow_signs_by_aggressor() {
        let mut e = book((99, 1), (101, 1));
        assert_eq!(trade_flow(&e), (0.0, 0.0));
        e.kind = EventKind::Trade as u8;
        e.trade_side = -1;
        e.trade_qty = 7;
        assert_eq!(trade_flow(&e), (-7.0, 7.0));
    }
}
