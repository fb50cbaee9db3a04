//! A venue in another process, over two queues: orders, cancels and the
//! router's clock (watermarks) out; execution reports back, taken between
//! batches as a FIX venue's are. The venue simulator (`venue-sim`) is one.
//!
//! Reports are committed only at the next poll, after the router has
//! journaled them: a router killed in between reads them again, and each
//! is known by the order's cumulative quantity, so none counts twice.
//!
//! In lockstep ([`QueueVenue::lockstep`]) the router takes reports at
//! exchange times instead of whenever they happen to arrive: before each
//! prediction at `now`, while an order is open, it applies exactly the
//! reports that reach it by `now`, after asking the venue for a promise
//! that all of them are sent. A replay then makes the same decisions
//! every run, however the processes were scheduled or killed; the price is
//! a round trip to the venue on each prediction while an order is open.

use std::time::{Duration, Instant};

use tickline_schema::venue::{ExecKind, ExecReport, OrderKind, VenueReject};
use tickline_schema::{Order, Side, Trace};
use tickline_shm::{Consumer, Producer, Push, WaitOutcome};

use crate::gateway::{Exec, Gateway, Touch};
use crate::order::{Fill, OrderRequest};

/// Most reports taken per poll.
const POLL_MAX: usize = 256;
/// How long shutdown waits for the venue to answer everything.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Lockstep: a sync not answered in this long is asked again (a venue
/// restarted meanwhile may have taken the request with it).
const SYNC_AGAIN: Duration = Duration::from_millis(20);

/// An order the venue has not finished with.
#[derive(Clone, Copy, Debug)]
struct Open {
    req: OrderRequest,
    sent_ns: u64,
    cum: i64,
    rested: bool,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    reports: u64,
    repeated: u64,
    unknown: u64,
    refused: u64,
    watermarks: u64,
    resent: u64,
    syncs: u64,
    sync_wait_ns: u64,
}

/// Orders to a venue process, reports from it.
pub struct QueueVenue {
    orders: Producer<Order>,
    reports: Consumer<ExecReport>,
    /// Reports read at the last poll, committed at the next one.
    uncommitted: usize,
    /// The reports of one poll (preallocated).
    batch: Vec<ExecReport>,
    open: Vec<Open>,
    now: u64,
    watermark: u64,
    /// The last new order put on the queue (watermarks carry it).
    last_new: u64,
    caught_up: bool,
    /// Reports are taken at exchange times ([`QueueVenue::lockstep`]).
    lockstep: bool,
    /// The venue's latest promise: every report reaching the router by
    /// then has been sent.
    promised: u64,
    counts: Counts,
}

impl QueueVenue {
    /// Over the two queues' ends.
    pub fn new(orders: Producer<Order>, reports: Consumer<ExecReport>) -> Self {
        QueueVenue {
            orders,
            reports,
            uncommitted: 0,
            batch: Vec::with_capacity(POLL_MAX),
            open: Vec::with_capacity(1024),
            now: 0,
            watermark: 0,
            last_new: 0,
            caught_up: false,
            lockstep: false,
            promised: 0,
            counts: Counts::default(),
        }
    }

    /// In lockstep with the venue (see the module's documentation); a
    /// wait for it ends when the report queue's stop flag is set.
    pub fn lockstep(mut self) -> Self {
        self.lockstep = true;
        self
    }

    fn push(&mut self, o: &Order) {
        if self.orders.push(o) == Push::Stopped {
            // Stopping with the queue full: what is journaled and not sent
            // is sent again by the next router (see `reconcile`).
            eprintln!("order-router: stopped while the venue's order queue was full");
        }
    }

    fn wire(kind: OrderKind, req: &OrderRequest, sent_ns: u64) -> Order {
        let trace = Trace {
            exchange_ns: sent_ns,
            ..Trace::default()
        };
        let mut o = req.to_wire(trace, f64::NAN, sent_ns);
        o.kind = kind as u8;
        o
    }

    /// Tells the venue the router's clock, if it moved.
    fn send_watermark(&mut self, t: u64) {
        if t <= self.watermark {
            return;
        }
        self.watermark = t;
        let mut o = <Order as bytemuck::Zeroable>::zeroed();
        (o.kind, o.sent_ns, o.trace.exchange_ns) = (OrderKind::Watermark as u8, t, t);
        o.client_order_id = self.last_new;
        self.counts.watermarks += 1;
        self.push(&o);
    }

    /// Asks the venue for a promise, saying that the router's clock is `t`.
    fn send_sync(&mut self, t: u64) {
        self.watermark = self.watermark.max(t);
        let mut o = <Order as bytemuck::Zeroable>::zeroed();
        (o.kind, o.sent_ns, o.trace.exchange_ns) = (OrderKind::Sync as u8, t, t);
        o.client_order_id = self.last_new;
        self.counts.syncs += 1;
        self.push(&o);
    }

    /// Lockstep: waits until the venue has sent every report that reaches
    /// the router by `now`, and applies exactly those, in order. They stay
    /// uncommitted until the next call, when they are journaled.
    fn sync(&mut self, now: u64, out: &mut Vec<Exec>) {
        self.reports.commit(self.uncommitted);
        self.uncommitted = 0;
        let start = Instant::now();
        let mut asked: Option<Instant> = None;
        loop {
            let looked = self.take_due(now, out);
            if self.promised >= now || self.caught_up {
                break;
            }
            if asked.is_none_or(|t| t.elapsed() >= SYNC_AGAIN) {
                self.send_sync(now);
                asked = Some(Instant::now());
            }
            // Until the venue sends more (it wakes us), or it is time to ask again.
            if self.reports.wait_past(looked, Some(SYNC_AGAIN)) == WaitOutcome::Stopped {
                break;
            }
        }
        self.counts.sync_wait_ns += start.elapsed().as_nanos() as u64;
    }

    /// Applies, in queue order, the reports not yet applied that reach the
    /// router by `now`, up to the first that does not; notes every promise
    /// read. Returns how many reports it looked at.
    fn take_due(&mut self, now: u64, out: &mut Vec<Exec>) -> usize {
        let mut batch = std::mem::take(&mut self.batch);
        let (mut looked, mut held) = (self.uncommitted, false);
        loop {
            batch.clear();
            batch.extend_from_slice(self.reports.read_slots_from(looked, POLL_MAX));
            if batch.is_empty() {
                break;
            }
            for r in &batch {
                // The venue's word is taken whenever it comes; a report
                // only once due, and none after one that is not.
                let word = self.take_word(r);
                held |= !word && r.local_ns > now;
                if !word && !held {
                    self.counts.reports += 1;
                    out.extend(self.exec_of(r));
                }
                self.uncommitted += !held as usize;
            }
            looked += batch.len();
        }
        self.batch = batch;
        looked
    }

    /// Every report waiting, applied as it comes (not in lockstep, or at
    /// the end).
    fn take_all(&mut self, out: &mut Vec<Exec>) {
        self.reports.commit(self.uncommitted);
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.extend_from_slice(self.reports.read_slots(POLL_MAX));
        self.uncommitted = batch.len();
        self.counts.reports += batch.len() as u64;
        out.extend(batch.iter().filter_map(|r| self.exec_of(r)));
        self.batch = batch;
    }

    /// Takes the venue's word on what it has sent (a promise, or that it
    /// has caught up); false for a report on an order.
    fn take_word(&mut self, r: &ExecReport) -> bool {
        match r.exec_kind() {
            Some(ExecKind::CaughtUp) => self.caught_up |= r.exchange_ns == u64::MAX,
            Some(ExecKind::Promise) => self.promised = self.promised.max(r.local_ns),
            _ => return false,
        }
        true
    }

    /// One report as the router's [`Exec`], unless it repeats one already
    /// applied (a restarted router reads uncommitted reports again).
    fn exec_of(&mut self, r: &ExecReport) -> Option<Exec> {
        let kind = r.exec_kind()?;
        if self.take_word(r) {
            return None;
        }
        let id = r.client_order_id;
        let Some(i) = self.open.iter().position(|o| o.req.client_order_id == id) else {
            self.counts.unknown += 1;
            return None;
        };
        let o = &mut self.open[i];
        match kind {
            ExecKind::Fill if r.cum_qty > o.cum => {
                o.cum = r.cum_qty;
                let fill = Fill {
                    client_order_id: id,
                    instrument_id: o.req.instrument_id,
                    side: o.req.side,
                    price: r.price,
                    qty: r.qty,
                };
                if o.cum >= o.req.qty {
                    self.open.remove(i);
                }
                Some(Exec::Fill(fill))
            }
            ExecKind::Accepted if !o.rested => {
                o.rested = true;
                Some(Exec::Rested(id))
            }
            // An order sent twice (see `reconcile`): the first one stands.
            // A cancel that lost its race: the order's own reports say the rest.
            ExecKind::Rejected
                if r.reason == VenueReject::DuplicateId as u8
                    || r.reason == VenueReject::TooLateToCancel as u8 =>
            {
                self.counts.repeated += 1;
                None
            }
            ExecKind::Done | ExecKind::Rejected => {
                self.counts.refused += (kind == ExecKind::Rejected) as u64;
                self.open.remove(i);
                Some(Exec::Done(id))
            }
            _ => {
                self.counts.repeated += 1;
                None
            }
        }
    }
}

impl Gateway for QueueVenue {
    fn kind(&self) -> &'static str {
        "sim"
    }

    fn submit(&mut self, o: &OrderRequest, _touch: Touch, now: u64, _out: &mut Vec<Exec>) {
        self.now = self.now.max(now);
        let open = Open {
            req: *o,
            sent_ns: now,
            cum: 0,
            rested: false,
        };
        self.open.push(open);
        self.push(&Self::wire(OrderKind::New, o, now));
        self.last_new = o.client_order_id;
        self.watermark = self.watermark.max(now);
    }

    fn on_market(&mut self, _instrument: u32, _touch: Touch, now: u64, out: &mut Vec<Exec>) {
        self.now = self.now.max(now);
        if self.lockstep && !self.open.is_empty() {
            self.sync(self.now, out);
        }
    }

    fn cancel_all(&mut self, _out: &mut Vec<Exec>) {
        let now = self.now;
        let open: Vec<OrderRequest> = self.open.iter().map(|o| o.req).collect();
        for req in open {
            self.push(&Self::wire(OrderKind::Cancel, &req, now));
        }
    }

    fn resting(&self, instrument: u32) -> (i64, i64) {
        let mut v = (0, 0);
        for o in self
            .open
            .iter()
            .filter(|o| o.req.instrument_id == instrument)
        {
            let left = o.req.qty - o.cum;
            match o.req.side {
                Side::Buy => v.0 += left,
                Side::Sell => v.1 += left,
            }
        }
        v
    }

    fn restore_order(&mut self, o: &OrderRequest, sent_at: u64, _touch: Touch) {
        self.now = self.now.max(sent_at);
        self.open.push(Open {
            req: *o,
            sent_ns: sent_at,
            cum: 0,
            rested: false,
        });
    }

    fn restore_exec(&mut self, e: &Exec) {
        let id = match *e {
            Exec::Fill(f) => f.client_order_id,
            Exec::Done(id) | Exec::Rested(id) => id,
        };
        let Some(i) = self.open.iter().position(|o| o.req.client_order_id == id) else {
            return;
        };
        match *e {
            Exec::Fill(f) => self.open[i].cum += f.qty,
            Exec::Rested(_) => self.open[i].rested = true,
            Exec::Done(_) => {
                self.open.remove(i);
                return;
            }
        }
        if self.open[i].cum >= self.open[i].req.qty {
            self.open.remove(i);
        }
    }

    /// Orders journaled but never put on the queue (the router was killed
    /// in between) are sent now. The queue's last message says which: a
    /// new order or a watermark names the last order sent; cancels come
    /// only after the kill switch, when every order has been sent.
    fn reconcile(&mut self, _out: &mut Vec<Exec>) {
        let last = self.orders.last_published();
        let last_sent = match last.map(|o| OrderKind::try_from(o.kind)) {
            None => 0,
            Some(Ok(OrderKind::Cancel)) | Some(Err(_)) => u64::MAX,
            Some(Ok(_)) => last.map_or(0, |o| o.client_order_id),
        };
        let max_open = self.open.iter().map(|o| o.req.client_order_id).max();
        self.last_new = last_sent.min(max_open.unwrap_or(0));
        let unsent: Vec<Open> = self
            .open
            .iter()
            .filter(|o| o.req.client_order_id > last_sent)
            .copied()
            .collect();
        for o in unsent {
            self.counts.resent += 1;
            self.push(&Self::wire(OrderKind::New, &o.req, o.sent_ns));
            self.last_new = o.req.client_order_id;
        }
    }

    fn poll(&mut self, out: &mut Vec<Exec>) {
        self.send_watermark(self.now);
        if self.lockstep {
            // Reports are taken at predictions only; those applied are
            // journaled by now.
            self.reports.commit(self.uncommitted);
            self.uncommitted = 0;
            return;
        }
        self.take_all(out);
    }

    fn settle(&mut self, out: &mut Vec<Exec>) -> bool {
        self.send_watermark(u64::MAX);
        let start = Instant::now();
        while !self.caught_up && start.elapsed() < SETTLE_TIMEOUT {
            let before = out.len();
            self.take_all(out);
            if out.len() == before && self.uncommitted == 0 {
                self.reports.wait(Some(Duration::from_millis(10)));
            }
        }
        self.caught_up
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counts;
        vec![
            ("reports", c.reports),
            ("repeated_reports", c.repeated),
            ("reports_for_unknown_orders", c.unknown),
            ("refused", c.refused),
            ("watermarks", c.watermarks),
            ("resent_at_start", c.resent),
            ("syncs", c.syncs),
            ("sync_wait_ms", c.sync_wait_ns / 1_000_000),
            ("open_orders", self.open.len() as u64),
        ]
    }
}
