//! The L3 book of one instrument: resting orders by reference, and the two
//! price ladders they aggregate into.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::ladder::{Ladder, LevelError};
use tickline_schema::{Level, Side};

/// Order references are already well spread: one multiply mixes them.
#[derive(Default)]
pub struct OrderRefHasher(u64);

impl Hasher for OrderRefHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type OrderMap = HashMap<u64, RestingOrder, BuildHasherDefault<OrderRefHasher>>;

/// An order resting in the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    /// Its side.
    pub side: Side,
    /// Its price, fixed point.
    pub price: i64,
    /// Its open quantity, fixed point.
    pub qty: i64,
}

/// Why an order event was refused; the book is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookError {
    /// An add reused a live order reference.
    DuplicateOrder,
    /// No live order has that reference.
    UnknownOrder,
    /// Executing or cancelling more than the order has.
    Overfill,
    /// Non-positive price or quantity.
    BadValue,
    /// Book levels disagree with the orders (a bug or a corrupt feed).
    Level(LevelError),
}

/// One instrument's book, order by order, with aggregated ladders.
pub struct OrderBook {
    bids: Ladder,
    asks: Ladder,
    orders: OrderMap,
}

impl OrderBook {
    /// Reserves room for `orders` resting orders and `levels` levels a side.
    pub fn with_capacity(orders: usize, levels: usize) -> Self {
        OrderBook {
            bids: Ladder::with_capacity(Side::Buy, levels),
            asks: Ladder::with_capacity(Side::Sell, levels),
            orders: OrderMap::with_capacity_and_hasher(orders, Default::default()),
        }
    }

    /// One side's ladder.
    pub fn side(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Direct access for L2 feeds that update levels, not orders.
    pub fn side_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// A live order by reference.
    pub fn order(&self, id: u64) -> Option<&RestingOrder> {
        self.orders.get(&id)
    }

    /// Live orders by reference, in no particular order (for snapshots).
    pub fn orders(&self) -> impl Iterator<Item = (u64, &RestingOrder)> + '_ {
        self.orders.iter().map(|(id, o)| (*id, o))
    }

    /// Live orders.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Adds a new order at the back of its price level.
    pub fn add(&mut self, id: u64, side: Side, price: i64, qty: i64) -> Result<(), BookError> {
        if price <= 0 || qty <= 0 {
            return Err(BookError::BadValue);
        }
        if self.orders.contains_key(&id) {
            return Err(BookError::DuplicateOrder);
        }
        self.side_mut(side)
            .add(price, qty)
            .map_err(BookError::Level)?;
        self.orders.insert(id, RestingOrder { side, price, qty });
        Ok(())
    }

    /// Takes `qty` off order `id` (execution or partial cancel); removes it at zero.
    /// Returns the order as it was before.
    pub fn reduce(&mut self, id: u64, qty: i64) -> Result<RestingOrder, BookError> {
        if qty <= 0 {
            return Err(BookError::BadValue);
        }
        let o = *self.orders.get(&id).ok_or(BookError::UnknownOrder)?;
        if qty > o.qty {
            return Err(BookError::Overfill);
        }
        self.side_mut(o.side)
            .remove(o.price, qty)
            .map_err(BookError::Level)?;
        if qty == o.qty {
            self.orders.remove(&id);
        } else if let Some(r) = self.orders.get_mut(&id) {
            r.qty -= qty;
        }
        Ok(o)
    }

    /// Removes order `id` whole; returns it.
    pub fn delete(&mut self, id: u64) -> Result<RestingOrder, BookError> {
        let qty = self.orders.get(&id).ok_or(BookError::UnknownOrder)?.qty;
        self.reduce(id, qty)
    }

    /// Cancel-replace: the old order leaves, the new one joins at the back.
    pub fn replace(
        &mut self,
        old: u64,
        new: u64,
        price: i64,
        qty: i64,
    ) -> Result<RestingOrder, BookError> {
        if price <= 0 || qty <= 0 {
            return Err(BookError::BadValue);
        }
        if old != new && self.orders.contains_key(&new) {
            return Err(BookError::DuplicateOrder);
        }
        let o = self.delete(old)?;
        self.add(new, o.side, price, qty)?;
        Ok(o)
    }

    /// The best bid level, if any.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best()
    }

    /// The best ask level, if any.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best()
    }

    /// Best bid at or above best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// Removes every order.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.orders.clear();
    }
}
