//! Exact queue position on market-by-order data (DBN MBO): the venue keeps
//! every other participant's resting order with its time priority
//! ([`MarketOrders`]), so a resting order of ours knows each order ahead of
//! it and sees each one leave ([`FifoPos`]).
//!
//! Priority follows CME's rule: an order keeps its place when its size is
//! reduced, and goes to the back when its price changes or its size grows.
//! The book changes by Add, Cancel and Modify records; a Fill record at
//! the order's resting price says which passive order traded (Databento's
//! CME data sends the book change after it), so an order of ours is filled
//! when an order it is ahead of trades: by FIFO, the aggressor would have
//! met ours first. A Fill away from the resting price is the aggressor's
//! own (an order modified across the spread) and moves no queue.

use std::collections::HashMap;

use tickline_schema::{MarketOrder, OrderAction, Side};

/// Someone else's resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// [`Side`] as its byte.
    pub side: i8,
    /// Fixed point.
    pub price: i64,
    /// Fixed point, what rests.
    pub qty: i64,
    /// Place in time at the venue: lower is earlier.
    pub priority: u64,
}

/// What one record did to the book of others' orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// An order went from `was` to `now` (None: not resting).
    Moved {
        /// Before the record.
        was: Option<Entry>,
        /// After it.
        now: Option<Entry>,
    },
    /// `qty` of a resting order traded.
    Filled {
        /// The order (as it rests: the change follows).
        order: Entry,
        /// Fixed point.
        qty: i64,
    },
    /// A resting order traded away from its price: it was the aggressor
    /// (modified across the spread; CME then fills it as such, and its
    /// own Fill record follows the trade's), which moves no queue.
    TookLiquidity,
    /// Every order of the instrument is gone.
    Cleared,
    /// A record for an order not resting, or of an unknown action: the
    /// book is unchanged (counted).
    Unknown,
}

/// Every other participant's resting order, by (instrument, order id).
pub struct MarketOrders {
    orders: HashMap<(u32, u64), Entry>,
    next_priority: u64,
}

impl Default for MarketOrders {
    fn default() -> Self {
        MarketOrders {
            orders: HashMap::with_capacity(1 << 16),
            next_priority: 1,
        }
    }
}

impl MarketOrders {
    /// A priority later than every order's so far (for an order of ours).
    pub fn take_priority(&mut self) -> u64 {
        self.next_priority += 1;
        self.next_priority - 1
    }

    /// Applies one record of instrument `inst`.
    pub fn apply(&mut self, inst: u32, r: &MarketOrder) -> Change {
        let key = (inst, r.order_id);
        let was = self.orders.get(&key).copied();
        let Ok(action) = OrderAction::try_from(r.action) else {
            return Change::Unknown;
        };
        let now = match (action, was) {
            (OrderAction::Add, _) => Some(Entry {
                side: r.side,
                price: r.price,
                qty: r.qty,
                priority: self.take_priority(),
            }),
            (OrderAction::Clear, _) => {
                self.orders.retain(|(i, _), _| *i != inst);
                return Change::Cleared;
            }
            // Levels' totals are not an order's ([`crate::MarketLevels`]).
            (OrderAction::Levels, _) => return Change::Unknown,
            (OrderAction::Fill, Some(order)) if r.price != order.price => {
                return Change::TookLiquidity
            }
            (OrderAction::Fill, Some(order)) => return Change::Filled { order, qty: r.qty },
            (_, None) => return Change::Unknown,
            (OrderAction::Cancel, Some(e)) => Some(Entry {
                qty: e.qty - r.qty,
                ..e
            })
            .filter(|e| e.qty > 0),
            (OrderAction::Modify, Some(e)) => {
                let keeps = r.price == e.price && r.qty <= e.qty;
                Some(Entry {
                    price: r.price,
                    qty: r.qty,
                    priority: if keeps {
                        e.priority
                    } else {
                        self.take_priority()
                    },
                    ..e
                })
                .filter(|e| e.qty > 0)
            }
        };
        match now {
            Some(e) => self.orders.insert(key, e),
            None => self.orders.remove(&key),
        };
        Change::Moved { was, now }
    }

    /// The orders resting at (`side`, `price`) of `inst`: quantity and count.
    /// A scan, on purpose: it runs once per order of ours that rests, while
    /// per-level sums kept up to date would cost every record a second map
    /// update.
    pub fn level(&self, inst: u32, side: Side, price: i64) -> (i64, u32) {
        let at = self
            .orders
            .iter()
            .filter(|((i, _), e)| *i == inst && e.side == side as i8 && e.price == price);
        at.fold((0, 0), |(q, n), (_, e)| (q + e.qty, n + 1))
    }

    /// Orders resting.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// No order rests.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }
}

/// Where a resting order of ours stands among the others' at its price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FifoPos {
    /// Our side as its byte.
    pub side: i8,
    /// Our price.
    pub price: i64,
    /// Our place in time.
    pub priority: u64,
    /// Quantity resting ahead of us.
    pub ahead: i64,
    /// Orders resting ahead of us.
    pub orders_ahead: u32,
    /// Orders ahead of us when we joined.
    pub orders_ahead_at_join: u32,
}

impl FifoPos {
    /// An order of ours joins the back of its level: everything resting at
    /// its price (`level`: quantity and count) is ahead.
    pub fn join(side: Side, price: i64, priority: u64, level: (i64, u32)) -> Self {
        FifoPos {
            side: side as i8,
            price,
            priority,
            ahead: level.0,
            orders_ahead: level.1,
            orders_ahead_at_join: level.1,
        }
    }

    fn ahead_part(&self, e: Option<Entry>) -> (i64, u32) {
        match e {
            Some(e)
                if e.side == self.side && e.price == self.price && e.priority < self.priority =>
            {
                (e.qty, 1)
            }
            _ => (0, 0),
        }
    }

    /// Whether an order trading means that ours would have traded first:
    /// it is behind ours at our price, or at a price worse than ours.
    fn precedes(&self, e: &Entry) -> bool {
        if e.side != self.side {
            return false;
        }
        match e.price.cmp(&self.price) {
            std::cmp::Ordering::Equal => e.priority > self.priority,
            std::cmp::Ordering::Less => self.side == Side::Buy as i8,
            std::cmp::Ordering::Greater => self.side == Side::Sell as i8,
        }
    }

    /// Moves by one change of the book; returns the quantity that would
    /// have traded against ours (fill at most that much of it).
    pub fn on_change(&mut self, c: &Change) -> i64 {
        match *c {
            Change::Moved { was, now } => {
                let (q0, n0) = self.ahead_part(was);
                let (q1, n1) = self.ahead_part(now);
                self.ahead += q1 - q0;
                self.orders_ahead = self.orders_ahead + n1 - n0;
                debug_assert!(self.ahead >= 0, "never less than nothing ahead");
                0
            }
            Change::Filled { order, qty } if self.precedes(&order) => qty,
            Change::Filled { .. } | Change::Unknown | Change::TookLiquidity => 0,
            Change::Cleared => {
                (self.ahead, self.orders_ahead) = (0, 0);
                0
            }
        }
    }
}
