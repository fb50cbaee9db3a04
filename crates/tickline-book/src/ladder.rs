//! One side of a book by price level: sorted levels with the best last, so
//! the changes that matter most (at the touch) move the least memory.

use tickline_schema::{Level, Side};

/// Why a level update was refused; the ladder is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelError {
    /// Removing from a price with no quantity.
    NoSuchLevel,
    /// Removing more than the level holds.
    Underflow,
    /// Non-positive price or quantity, or a level total past i64.
    BadValue,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Price for bids, -price for asks: ascending key = ascending quality.
    key: i64,
    qty: i64,
}

/// One side of a book, aggregated by price.
#[derive(Clone, Debug)]
pub struct Ladder {
    side: Side,
    /// Sorted by key ascending; the best level is last.
    slots: Vec<Slot>,
}

impl Ladder {
    /// An empty side with room for `levels` levels.
    pub fn with_capacity(side: Side, levels: usize) -> Self {
        Ladder {
            side,
            slots: Vec::with_capacity(levels),
        }
    }

    /// Which side it is.
    pub fn side(&self) -> Side {
        self.side
    }

    fn key(&self, price: i64) -> i64 {
        match self.side {
            Side::Buy => price,
            Side::Sell => -price,
        }
    }

    fn price(&self, key: i64) -> i64 {
        match self.side {
            Side::Buy => key,
            Side::Sell => -key,
        }
    }

    /// Index of `key`, searching from the best end, where most updates land.
    fn find(&self, key: i64) -> Result<usize, usize> {
        let n = self.slots.len();
        // Check the top few linearly before a binary search.
        for i in (n.saturating_sub(4)..n).rev() {
            let k = self.slots[i].key;
            if k == key {
                return Ok(i);
            }
            if k < key {
                return Err(i + 1);
            }
        }
        self.slots[..n.saturating_sub(4)].binary_search_by(|s| s.key.cmp(&key))
    }

    /// Adds `qty` at `price`.
    pub fn add(&mut self, price: i64, qty: i64) -> Result<(), LevelError> {
        if price <= 0 || qty <= 0 {
            return Err(LevelError::BadValue);
        }
        let key = self.key(price);
        match self.find(key) {
            Ok(i) => {
                let s = &mut self.slots[i];
                s.qty = s.qty.checked_add(qty).ok_or(LevelError::BadValue)?;
            }
            Err(i) => self.slots.insert(i, Slot { key, qty }),
        }
        self.debug_check_near(key);
        Ok(())
    }

    /// Removes `qty` at `price`; the level disappears at zero.
    pub fn remove(&mut self, price: i64, qty: i64) -> Result<(), LevelError> {
        if price <= 0 || qty <= 0 {
            return Err(LevelError::BadValue);
        }
        let i = self
            .find(self.key(price))
            .map_err(|_| LevelError::NoSuchLevel)?;
        let s = &mut self.slots[i];
        if s.qty < qty {
            return Err(LevelError::Underflow);
        }
        s.qty -= qty;
        if s.qty == 0 {
            self.slots.remove(i);
        }
        self.debug_check_near(self.key(price));
        Ok(())
    }

    /// Sets the level at `price` to `qty` (0 removes it): for L2 feeds.
    pub fn set(&mut self, price: i64, qty: i64) -> Result<(), LevelError> {
        if price <= 0 || qty < 0 {
            return Err(LevelError::BadValue);
        }
        let key = self.key(price);
        match (self.find(key), qty) {
            (Ok(i), 0) => {
                self.slots.remove(i);
            }
            (Ok(i), q) => self.slots[i].qty = q,
            (Err(_), 0) => {}
            (Err(i), q) => self.slots.insert(i, Slot { key, qty: q }),
        }
        self.debug_check_near(key);
        Ok(())
    }

    /// Debug builds: around where a change at `key` landed, the levels are
    /// strictly sorted (best last) and hold positive quantities. Only the
    /// neighbours are looked at, so a deep book costs no more to check.
    #[inline]
    fn debug_check_near(&self, key: i64) {
        if !cfg!(debug_assertions) {
            return;
        }
        let i = self.slots.partition_point(|s| s.key < key);
        let near = &self.slots[i.saturating_sub(1)..(i + 2).min(self.slots.len())];
        debug_assert!(
            near.windows(2).all(|w| w[0].key < w[1].key),
            "{:?} levels out of order near key {key}",
            self.side
        );
        debug_assert!(
            near.iter().all(|s| s.qty > 0),
            "{:?} level without quantity near key {key}",
            self.side
        );
    }

    /// Removes every level.
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// Keeps only the best `n` levels.
    pub fn truncate(&mut self, n: usize) {
        let len = self.slots.len();
        if len > n {
            self.slots.drain(..len - n);
        }
    }

    /// Levels held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True without levels.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The best level, if any.
    pub fn best(&self) -> Option<Level> {
        self.slots.last().map(|s| Level {
            price: self.price(s.key),
            qty: s.qty,
        })
    }

    /// Quantity at `price` (0 if none).
    pub fn qty_at(&self, price: i64) -> i64 {
        self.find(self.key(price)).map_or(0, |i| self.slots[i].qty)
    }

    /// Levels best first.
    pub fn levels(&self) -> impl Iterator<Item = Level> + '_ {
        self.slots.iter().rev().map(|s| Level {
            price: self.price(s.key),
            qty: s.qty,
        })
    }

    /// Writes the best `out.len()` levels, zero-filling the rest; returns how many were real.
    pub fn top_into(&self, out: &mut [Level]) -> usize {
        let mut n = 0;
        for (dst, lvl) in out.iter_mut().zip(self.levels()) {
            *dst = lvl;
            n += 1;
        }
        for dst in &mut out[n..] {
            *dst = Level::default();
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bids_best_is_highest_and_asks_best_is_lowest() {
        let mut b = Ladder::with_capacity(Side::Buy, 8);
        let mut a = Ladder::with_capacity(Side::Sell, 8);
        for p in [100, 102, 101] {
            b.add(p, 1).unwrap();
            a.add(p + 10, 1).unwrap();
        }
        assert_eq!(b.best().unwrap().price, 102);
        assert_eq!(a.best().unwrap().price, 110);
        let bp: Vec<_> = b.levels().map(|l| l.price).collect();
        let ap: Vec<_> = a.levels().map(|l| l.price).collect();
        assert_eq!(bp, vec![102, 101, 100]);
        assert_eq!(ap, vec![110, 111, 112]);
    }

    #[test]
    fn bad_removals_leave_the_ladder_unchanged() {
        let mut b = Ladder::with_capacity(Side::Buy, 8);
        b.add(100, 5).unwrap();
        assert_eq!(b.remove(101, 1), Err(LevelError::NoSuchLevel));
        assert_eq!(b.remove(100, 6), Err(LevelError::Underflow));
        assert_eq!(b.add(0, 1), Err(LevelError::BadValue));
        // Found by fuzzing LOBSTER input: a level total past i64 is refused, not wrapped.
        assert_eq!(b.add(100, i64::MAX), Err(LevelError::BadValue));
        assert_eq!(b.qty_at(100), 5);
        b.remove(100, 5).unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn truncate_keeps_the_best_levels() {
        let mut a = Ladder::with_capacity(Side::Sell, 8);
        for p in [105, 101, 103, 102, 104] {
            a.add(p, 1).unwrap();
        }
        a.truncate(3);
        let prices: Vec<_> = a.levels().map(|l| l.price).collect();
        assert_eq!(prices, vec![101, 102, 103]);
        a.truncate(10);
        assert_eq!(a.len(), 3);
    }
}
