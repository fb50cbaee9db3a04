//! The venue's input: the feed's market events, taken only as far as the
//! router's clock allows (so that every order is in before the market
//! events that follow its arrival), and the router's orders and
//! watermarks, handed to the venue as they come.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tickline_schema::venue::{ExecReport, OrderKind};
use tickline_schema::{BookEvent, Order};
use tickline_shm::{Consumer, WaitOutcome};
use tickline_stage::{Batch, Input};
use tickline_venue::Venue;

/// How long an idle venue sleeps before it looks at its signals again.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// What the input and the processor share: the venue and its answers.
pub struct Shared {
    /// The matching engine.
    pub venue: Venue,
    /// Reports made and not yet published.
    pub reports: Vec<ExecReport>,
    /// The router's clock: every later order is sent at or after it.
    pub watermark: u64,
    /// The router said it is done (its last watermark).
    pub router_done: bool,
    /// Router done, and every market event in the queue taken.
    pub drained: bool,
    /// Order messages of an unknown kind.
    pub bad_orders: u64,
}

/// The two queues the venue reads.
pub struct SimInput {
    book: Consumer<BookEvent>,
    orders: Consumer<Order>,
    shared: Rc<RefCell<Shared>>,
    min_entry: u64,
}

impl SimInput {
    /// Reads `book` as `orders` allows; the venue is in `shared`.
    pub fn new(
        book: Consumer<BookEvent>,
        orders: Consumer<Order>,
        shared: Rc<RefCell<Shared>>,
    ) -> Self {
        let min_entry = shared.borrow().venue.min_entry_ns();
        SimInput {
            book,
            orders,
            shared,
            min_entry,
        }
    }

    /// Every order message waiting: orders and cancels to the venue,
    /// watermarks to the clock. Returns the latest market time takeable.
    fn take_orders(&mut self) -> u64 {
        let mut s = self.shared.borrow_mut();
        let Shared {
            venue,
            watermark,
            router_done,
            bad_orders,
            ..
        } = &mut *s;
        let slots = self.orders.read_slots(256);
        for o in slots {
            *watermark = (*watermark).max(o.sent_ns);
            match OrderKind::try_from(o.kind) {
                Ok(OrderKind::Watermark) => *router_done |= o.sent_ns == u64::MAX,
                Ok(_) => venue.send(o),
                Err(_) => {
                    // Refused with a reason when it arrives.
                    *bad_orders += 1;
                    venue.send(o);
                }
            }
        }
        let n = slots.len();
        self.orders.commit(n);
        if *router_done {
            u64::MAX
        } else {
            watermark.saturating_add(self.min_entry)
        }
    }
}

impl Input<BookEvent> for SimInput {
    fn read(&mut self, max: usize) -> Batch<'_, BookEvent> {
        let gate = self.take_orders();
        let slots = self.book.read_slots(max);
        let n = slots
            .iter()
            .take_while(|e| e.trace.exchange_ns <= gate)
            .count();
        if n == 0 {
            let mut s = self.shared.borrow_mut();
            s.drained = s.router_done && slots.is_empty();
            return Batch::Idle;
        }
        Batch::Ready(&slots[..n])
    }

    fn commit(&mut self, n: usize) {
        self.book.commit(n);
    }

    fn wait(&mut self) -> WaitOutcome {
        if self.shared.borrow().drained {
            return self.book.wait(Some(IDLE_WAKE));
        }
        if self.book.available() > 0 {
            // Market data waits for the router's clock: it is the orders
            // queue that brings news.
            return self.orders.wait(Some(IDLE_WAKE));
        }
        self.book.wait(Some(IDLE_WAKE))
    }

    fn beat(&self) {
        self.book.beat();
        self.orders.beat();
    }

    fn errors(&self) -> u64 {
        self.shared.borrow().bad_orders
    }
}
