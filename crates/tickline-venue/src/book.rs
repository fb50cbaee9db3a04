//! The venue's view of one instrument's book: the levels the last market
//! event carried (the top [`MAX_LEVELS`] a side, as the feed publishes).

use tickline_schema::{BookEvent, Level, Side, MAX_LEVELS};

/// Top of one instrument's book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Book {
    bids: [Level; MAX_LEVELS],
    asks: [Level; MAX_LEVELS],
}

impl Book {
    /// The levels `e` carries (beyond its depth: empty).
    pub fn of(e: &BookEvent) -> Self {
        let mut b = Book {
            bids: e.bids,
            asks: e.asks,
        };
        let depth = (e.depth as usize).min(MAX_LEVELS);
        for side in [&mut b.bids, &mut b.asks] {
            side[depth..].fill(Level::default());
        }
        b
    }

    /// The levels resting on `side`, best first.
    pub fn levels(&self, side: Side) -> impl Iterator<Item = &Level> {
        let v = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        v.iter().filter(|l| l.qty > 0 && l.price > 0)
    }

    /// Best price on `side`, if it has a level.
    pub fn best(&self, side: Side) -> Option<i64> {
        self.levels(side).next().map(|l| l.price)
    }

    /// Quantity resting at `price` on `side` (0 if none is seen).
    pub fn qty_at(&self, side: Side, price: i64) -> i64 {
        self.levels(side)
            .find(|l| l.price == price)
            .map_or(0, |l| l.qty)
    }

    /// Quantity at `price` on `side` if the levels seen reach that far:
    /// None past the last of a full side (the feed publishes the top
    /// [`MAX_LEVELS`]; a level that falls off the view is not emptied).
    pub fn seen_qty(&self, side: Side, price: i64) -> Option<i64> {
        let v = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        let last = v[MAX_LEVELS - 1];
        let beyond = match side {
            Side::Buy => price < last.price,
            Side::Sell => price > last.price,
        };
        if last.qty > 0 && beyond {
            return None;
        }
        Some(self.qty_at(side, price))
    }

    /// Whether any level is seen.
    pub fn is_empty(&self) -> bool {
        self.best(Side::Buy).is_none() && self.best(Side::Sell).is_none()
    }

    /// The best bid is at or above the best ask: orders rest without
    /// trading, as before an opening auction.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best(Side::Buy), self.best(Side::Sell)), (Some(b), Some(a)) if b >= a)
    }
}
