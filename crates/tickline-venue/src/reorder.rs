//! Market events back in exchange-time order. A capture holds them in the
//! order they were received, and its streams (Binance's depth and trades)
//! can each be late against the other by tens of milliseconds: a depth
//! update that already reflects a trade may come before the trade. The
//! queue models count a trade first and then the level's decrease net of
//! it (as hftbacktest does after sorting its data by exchange time); taken
//! in receive order, the decrease would count twice. So events wait in a
//! window of exchange time and leave sorted (equal times in arrival order).
//! Each carries the book its message started from in receive order, so the
//! change it made to a level is the same whenever it is taken: the books
//! are snapshots, and the change of one message is their difference.

use std::collections::VecDeque;

use tickline_schema::BookEvent;

use crate::Book;

/// An event and the book (of its instrument) before it, in receive order.
pub type Held = (Book, BookEvent);

/// Events waiting until no earlier one can still come.
pub struct Reorder {
    window_ns: u64,
    buf: VecDeque<Held>,
    latest: u64,
}

impl Reorder {
    /// Holds each event until one `window_ns` later has been seen (0: none held).
    pub fn new(window_ns: u64) -> Self {
        Reorder {
            window_ns,
            buf: VecDeque::with_capacity(1024),
            latest: 0,
        }
    }

    /// Takes an event in receive order, with the book before it.
    pub fn push(&mut self, before: Book, e: &BookEvent) {
        let t = e.trace.exchange_ns;
        self.latest = self.latest.max(t);
        let at = self.buf.partition_point(|x| x.1.trace.exchange_ns <= t);
        self.buf.insert(at, (before, *e));
    }

    /// The earliest event, once the window says none earlier can come.
    pub fn pop_ready(&mut self) -> Option<Held> {
        let t = self.buf.front()?.1.trace.exchange_ns;
        (t.saturating_add(self.window_ns) <= self.latest).then(|| self.buf.pop_front())?
    }

    /// The earliest event, whatever the window (the input has ended).
    pub fn pop_any(&mut self) -> Option<Held> {
        self.buf.pop_front()
    }
}
