//! The one seam between the router and where its orders go: the
//! [`Gateway`] trait, and what crosses it (the [`Touch`] an order is sent
//! into, the [`Exec`]utions that come back).

use crate::order::{Fill, OrderRequest};

/// Best bid and ask (fixed point; 0 when a side is empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Touch {
    /// Best bid, fixed point.
    pub bid: i64,
    /// Best ask, fixed point.
    pub ask: i64,
}

impl Touch {
    /// Mid, fixed point (rounded toward zero); 0 without a two-sided touch.
    pub fn mid(&self) -> i64 {
        if self.bid > 0 && self.ask > 0 {
            (self.bid + self.ask) / 2
        } else {
            0
        }
    }
}

/// What the venue did with our orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exec {
    /// A fill.
    Fill(Fill),
    /// Order gone without (further) fills: IOC unfilled, or cancelled.
    Done(u64),
    /// Order reached the venue (after the latency) and rests there.
    Rested(u64),
}

/// Where orders go: the paper exchange ([`crate::PaperExchange`]) or a venue
/// (the FIX 4.4 gateway of `tickline-fix`). The router owns one and calls
/// it; a gateway answers through `out`, never by calling the router.
pub trait Gateway {
    /// What it is, for logs and the summary (`paper`, `fix`).
    fn kind(&self) -> &'static str;
    /// Sends a validated, risk-checked order at exchange time `now`.
    fn submit(&mut self, o: &OrderRequest, touch: Touch, now: u64, out: &mut Vec<Exec>);
    /// A new touch for `instrument`: resting orders may fill.
    fn on_market(&mut self, instrument: u32, touch: Touch, now: u64, out: &mut Vec<Exec>);
    /// Cancels every resting order.
    fn cancel_all(&mut self, out: &mut Vec<Exec>);
    /// Resting (or in-flight) orders of an instrument: (buy qty, sell qty).
    fn resting(&self, instrument: u32) -> (i64, i64);
    /// Rebuilds an order from the journal after a restart: sent at
    /// `sent_at` into `touch`.
    fn restore_order(&mut self, o: &OrderRequest, sent_at: u64, touch: Touch);
    /// Rebuilds an execution from the journal after a restart.
    fn restore_exec(&mut self, e: &Exec);
    /// After the journal is restored: what the venue did with restored
    /// orders that the journal does not record (the router was killed
    /// between journaling an order and journaling what came back). A live
    /// venue answers from its own books (order status requests); the paper
    /// exchange re-runs what it did when the order arrived.
    fn reconcile(&mut self, out: &mut Vec<Exec>);
    /// What an asynchronous venue reported since the last call (the paper
    /// exchange answers at once, so it has nothing here).
    fn poll(&mut self, _out: &mut Vec<Exec>) {}
    /// At shutdown: waits (bounded) until the venue has answered every
    /// order sent, its answers to `out`; false if some were left unanswered.
    fn settle(&mut self, _out: &mut Vec<Exec>) -> bool {
        true
    }
    /// Its own counters (connections, messages, refusals...), for the summary.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// A gateway chosen at run time (`--venue`) is one too.
impl<G: Gateway + ?Sized> Gateway for Box<G> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn submit(&mut self, o: &OrderRequest, touch: Touch, now: u64, out: &mut Vec<Exec>) {
        (**self).submit(o, touch, now, out);
    }
    fn on_market(&mut self, instrument: u32, touch: Touch, now: u64, out: &mut Vec<Exec>) {
        (**self).on_market(instrument, touch, now, out);
    }
    fn cancel_all(&mut self, out: &mut Vec<Exec>) {
        (**self).cancel_all(out);
    }
    fn resting(&self, instrument: u32) -> (i64, i64) {
        (**self).resting(instrument)
    }
    fn restore_order(&mut self, o: &OrderRequest, sent_at: u64, touch: Touch) {
        (**self).restore_order(o, sent_at, touch);
    }
    fn restore_exec(&mut self, e: &Exec) {
        (**self).restore_exec(e);
    }
    fn reconcile(&mut self, out: &mut Vec<Exec>) {
        (**self).reconcile(out);
    }
    fn poll(&mut self, out: &mut Vec<Exec>) {
        (**self).poll(out);
    }
    fn settle(&mut self, out: &mut Vec<Exec>) -> bool {
        (**self).settle(out)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        (**self).counters()
    }
}
