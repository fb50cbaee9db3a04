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

use crate::log::InputLog;

/// How long an idle venue sleeps before it looks at its signals again.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// With an input log, market events are committed on their queue only once
/// logged, and the log is written when the venue has been idle this long
/// since the last write, or every [`LOG_BATCH`] events: a write per event
/// would cost the CPUs the pipeline runs on. Taken events not yet committed are read again by a
/// successor, which gives the same reports again (not published twice).
const LOG_EVERY: Duration = Duration::from_millis(10);
/// See [`LOG_EVERY`].
const LOG_BATCH: usize = 4096;

impl Shared {
    fn log_error(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            self.log_failed.get_or_insert(e.to_string());
        }
    }

    /// One message of the order queue: an order or cancel to the venue, a
    /// watermark to the clock.
    pub fn take_order(&mut self, o: &Order) {
        let Ok(kind) = OrderKind::try_from(o.kind) else {
            // Garbage: refused with a reason when it arrives; its clock
            // is not taken for the router's.
            self.bad_orders += 1;
            return self.venue.send(o);
        };
        self.watermark = self.watermark.max(o.sent_ns);
        match kind {
            OrderKind::Watermark => self.router_done |= o.sent_ns == u64::MAX,
            OrderKind::Sync => (self.sync_wanted, self.lockstep) = (true, true),
            OrderKind::New | OrderKind::Cancel => self.venue.send(o),
        }
    }

    /// A market event to the venue.
    pub fn take_book(&mut self, e: &BookEvent) {
        self.venue.on_book(e, &mut self.reports);
    }
}

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
    /// The router asked for a promise ([`OrderKind::Sync`]) not yet made.
    pub sync_wanted: bool,
    /// The router runs in lockstep with the venue: it asks for what it
    /// needs, so the venue waits on its orders, not on market data.
    pub lockstep: bool,
    /// Router done, and every market event in the queue taken.
    pub drained: bool,
    /// Order messages of an unknown kind.
    pub bad_orders: u64,
    /// The input log's first write error: from then on a restart would
    /// not be exact (said in the summary).
    pub log_failed: Option<String>,
}

/// The two queues the venue reads.
pub struct SimInput {
    book: Consumer<BookEvent>,
    orders: Consumer<Order>,
    shared: Rc<RefCell<Shared>>,
    min_entry: u64,
    log: Option<InputLog>,
    /// Queue positions past what a predecessor logged.
    resume: Resume,
    /// Market events taken, logged, not yet committed.
    taken: usize,
    last_write: std::time::Instant,
}

/// Where in each queue a predecessor's log ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resume {
    /// The market-data queue.
    pub next_book: u64,
    /// The order queue.
    pub next_order: u64,
}

impl SimInput {
    /// Reads `book` as `orders` allows; the venue is in `shared`; inputs
    /// are logged to `log` before they are taken, from `resume` on.
    pub fn new(
        (book, orders): (Consumer<BookEvent>, Consumer<Order>),
        shared: Rc<RefCell<Shared>>,
        log: Option<InputLog>,
        resume: Resume,
    ) -> Self {
        let min_entry = shared.borrow().venue.min_entry_ns();
        SimInput {
            book,
            orders,
            shared,
            min_entry,
            log,
            resume,
            taken: 0,
            last_write: std::time::Instant::now(),
        }
    }

    /// Writes the log, then commits what it holds: the market events taken.
    pub fn write_log(&mut self) {
        if let Some(log) = &mut self.log {
            let r = log.flush_io();
            self.shared.borrow_mut().log_error(r);
        }
        self.book.commit(self.taken);
        self.taken = 0;
        self.last_write = std::time::Instant::now();
    }

    /// Every order message waiting, logged, then taken (those a
    /// predecessor logged are skipped). Returns the latest market time
    /// takeable.
    fn take_orders(&mut self) -> u64 {
        let first = self.orders.committed();
        let slots = self.orders.read_slots(256);
        let mut s = self.shared.borrow_mut();
        for (i, o) in slots.iter().enumerate() {
            let pos = first + i as u64;
            if pos < self.resume.next_order {
                continue;
            }
            if let Some(log) = &mut self.log {
                s.log_error(log.order(pos, o));
            }
            s.take_order(o);
        }
        let n = slots.len();
        let logged = n > 0 && self.log.is_some();
        let gate = if s.router_done {
            u64::MAX
        } else {
            s.watermark.saturating_add(self.min_entry)
        };
        drop(s);
        if logged {
            // Orders are few: on the file before their queue lets them go.
            self.write_log();
        }
        self.orders.commit(n);
        gate
    }

    /// Skips market events a predecessor logged (they are in the venue).
    fn skip_logged_book(&mut self) {
        while self.book.committed() < self.resume.next_book {
            let left = (self.resume.next_book - self.book.committed()) as usize;
            let n = self.book.read_slots(left.min(1024)).len();
            if n == 0 {
                return;
            }
            self.book.commit(n);
        }
    }
}

impl Input<BookEvent> for SimInput {
    fn read(&mut self, max: usize) -> Batch<'_, BookEvent> {
        let gate = self.take_orders();
        self.skip_logged_book();
        let first = self.book.committed() + self.taken as u64;
        let slots = &self.book.read_slots(self.taken + max)[self.taken..];
        let n = slots
            .iter()
            .take_while(|e| e.trace.exchange_ns <= gate)
            .count();
        let mut s = self.shared.borrow_mut();
        if n == 0 {
            s.drained = s.router_done && slots.is_empty();
            return Batch::Idle;
        }
        if let Some(log) = &mut self.log {
            for (i, e) in slots[..n].iter().enumerate() {
                s.log_error(log.book(first + i as u64, e));
            }
        }
        Batch::Ready(&slots[..n])
    }

    fn commit(&mut self, n: usize) {
        if self.log.is_none() {
            return self.book.commit(n);
        }
        // By count here; by time when idle (`wait`), off the busy path.
        self.taken += n;
        if self.taken >= LOG_BATCH {
            self.write_log();
        }
    }

    fn wait(&mut self) -> WaitOutcome {
        if self.shared.borrow().sync_wanted {
            // A promise to make first (between batches).
            return WaitOutcome::Ready;
        }
        if self.taken > 0 {
            let left = LOG_EVERY.saturating_sub(self.last_write.elapsed());
            if left.is_zero() {
                self.write_log();
            } else {
                // Back in time to write what is taken (the market-data
                // queue would wake at once: what is taken is still on it).
                return self.orders.wait(Some(left));
            }
        }
        if self.shared.borrow().drained {
            return self.book.wait(Some(IDLE_WAKE));
        }
        if self.book.available() > self.taken || self.shared.borrow().lockstep {
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
