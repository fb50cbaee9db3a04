//! The book against a naive model: random order streams, after every step
//! the ladders equal aggregation of the live orders.

use proptest::prelude::*;
use std::collections::BTreeMap;
use tickline_book::{BookError, OrderBook, Side};

#[derive(Clone, Debug)]
enum Op {
    Add { side: bool, price: i64, qty: i64 },
    Reduce { pick: usize, qty: i64 },
    Delete { pick: usize },
    Replace { pick: usize, price: i64, qty: i64 },
    Bogus { id: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 90i64..110, 1i64..500).prop_map(|(side, price, qty)| Op::Add { side, price, qty }),
        2 => (any::<usize>(), 1i64..600).prop_map(|(pick, qty)| Op::Reduce { pick, qty }),
        2 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => (any::<usize>(), 90i64..110, 1i64..500).prop_map(|(pick, price, qty)| Op::Replace { pick, price, qty }),
        1 => (1_000_000u64..1_000_010).prop_map(|id| Op::Bogus { id }),
    ]
}

proptest! {
    #[test]
    fn ladders_always_aggregate_the_live_orders(ops in prop::collection::vec(op(), 1..400)) {
        let mut book = OrderBook::with_capacity(16, 4);
        let mut model: BTreeMap<u64, (Side, i64, i64)> = BTreeMap::new();
        let mut next_id = 1u64;
        for op in ops {
            let ids: Vec<u64> = model.keys().copied().collect();
            let pick = |p: usize| (!ids.is_empty()).then(|| ids[p % ids.len()]);
            match op {
                Op::Add { side, price, qty } => {
                    let side = if side { Side::Buy } else { Side::Sell };
                    book.add(next_id, side, price, qty).unwrap();
                    model.insert(next_id, (side, price, qty));
                    next_id += 1;
                }
                Op::Reduce { pick: p, qty } => if let Some(id) = pick(p) {
                    let (s, pr, q) = model[&id];
                    let r = book.reduce(id, qty);
                    if qty > q {
                        prop_assert_eq!(r, Err(BookError::Overfill));
                    } else {
                        r.unwrap();
                        if qty == q { model.remove(&id); } else { model.insert(id, (s, pr, q - qty)); }
                    }
                },
                Op::Delete { pick: p } => if let Some(id) = pick(p) {
                    book.delete(id).unwrap();
                    model.remove(&id);
                },
                Op::Replace { pick: p, price, qty } => if let Some(id) = pick(p) {
                    let (s, _, _) = model.remove(&id).unwrap();
                    book.replace(id, next_id, price, qty).unwrap();
                    model.insert(next_id, (s, price, qty));
                    next_id += 1;
                },
                Op::Bogus { id } => {
                    prop_assert_eq!(book.delete(id), Err(BookError::UnknownOrder));
                }
            }
            for side in [Side::Buy, Side::Sell] {
                let mut agg: BTreeMap<i64, i64> = BTreeMap::new();
                for (s, p, q) in model.values() {
                    if *s == side { *agg.entry(*p).or_default() += q; }
                }
                let mut expected: Vec<(i64, i64)> = agg.into_iter().collect();
                if side == Side::Buy { expected.reverse(); }
                let got: Vec<(i64, i64)> = book.side(side).levels().map(|l| (l.price, l.qty)).collect();
                prop_assert_eq!(got, expected);
            }
            prop_assert_eq!(book.order_count(), model.len());
        }
    }
}
