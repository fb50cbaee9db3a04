//! Order books for the feed-handler.
//!
//! A [`Ladder`] is one side's price levels in a sorted vector, best level
//! last: most activity happens at or near the touch, so inserts and removals
//! there move few elements, and the top N is a reverse scan. An
//! [`OrderBook`] adds the order-by-order map for L3 feeds (ITCH), keyed by the
//! exchange's order reference with a cheap multiplicative hash.
//! Capacity is reserved up front; the hot path allocates only if a book
//! outgrows it.
#![forbid(unsafe_code)]

mod ladder;
mod order_book;

pub use ladder::{Ladder, LevelError};
pub use order_book::{BookError, OrderBook, RestingOrder};
pub use tickline_schema::{Level, Side};
