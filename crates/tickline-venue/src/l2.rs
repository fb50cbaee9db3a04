//! The full depth of market-by-price data (Binance depth): the venue keeps
//! every level a side from the feed's level records, so a resting order's
//! queue estimate follows its level wherever it is in the book, as
//! hftbacktest's does, and not only while it is among the top levels that
//! each book event carries.

use tickline_book::Ladder;
use tickline_schema::{Level, Side};

/// Levels per side reserved for an instrument's book (a Binance REST
/// snapshot has up to 1000).
const LEVELS_HINT: usize = 4096;

/// Every level of each instrument that has level records.
#[derive(Default)]
pub struct MarketLevels {
    /// Bids and asks by instrument id; None: no record seen.
    books: Vec<Option<[Ladder; 2]>>,
}

fn index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl MarketLevels {
    /// Whether `inst`'s full depth is known (it has had a level record).
    pub fn has(&self, inst: u32) -> bool {
        matches!(self.books.get(inst as usize), Some(Some(_)))
    }

    fn book_mut(&mut self, inst: u32) -> &mut [Ladder; 2] {
        let i = inst as usize;
        if i >= self.books.len() {
            self.books.resize_with(i + 1, || None);
        }
        self.books[i].get_or_insert_with(|| {
            [
                Ladder::with_capacity(Side::Buy, LEVELS_HINT),
                Ladder::with_capacity(Side::Sell, LEVELS_HINT),
            ]
        })
    }

    /// The level at `price` on `side` now holds `qty` (0: gone); the
    /// quantity it held before. None: a price or quantity no book can hold
    /// (the depth is unchanged).
    pub fn set(&mut self, inst: u32, side: Side, price: i64, qty: i64) -> Option<i64> {
        let ladder = &mut self.book_mut(inst)[index(side)];
        let before = ladder.qty_at(price);
        ladder.set(price, qty).ok()?;
        Some(before)
    }

    /// Every level of `inst` is gone (a snapshot follows).
    pub fn clear(&mut self, inst: u32) {
        for ladder in self.book_mut(inst) {
            ladder.clear();
        }
    }

    /// Quantity at `price` on `side`; None if `inst`'s depth is not known.
    pub fn qty_at(&self, inst: u32, side: Side, price: i64) -> Option<i64> {
        let book = self.books.get(inst as usize)?.as_ref()?;
        Some(book[index(side)].qty_at(price))
    }

    /// The `k`-th best level on `side` (0: the best), if there is one.
    pub fn nth(&self, inst: u32, side: Side, k: usize) -> Option<Level> {
        let book = self.books.get(inst as usize)?.as_ref()?;
        book[index(side)].levels().nth(k)
    }

    /// Best price on `side`, if it has a level.
    pub fn best(&self, inst: u32, side: Side) -> Option<i64> {
        let book = self.books.get(inst as usize)?.as_ref()?;
        book[index(side)].best().map(|l| l.price)
    }
}
