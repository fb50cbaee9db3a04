//! A paper exchange against the touch the predictions carry: one
//! implementation of [`Gateway`], in the router's process.

use tickline_schema::{Side, TimeInForce};

use crate::gateway::{Exec, Gateway, Touch};
use crate::order::{Fill, OrderRequest};

#[derive(Clone, Copy, Debug)]
struct Working {
    order: OrderRequest,
    remaining: i64,
    /// Exchange time from which the venue has it (send time + latency).
    active_at: u64,
    /// Met the market already (and rests).
    arrived: bool,
    /// The touch it was sent into (zero if unknown).
    sent_into: Touch,
}

/// Marketable orders fill at the touch in full (the predictions carry only
/// the touch, not depth); passive orders rest and fill at their price once
/// the opposite touch reaches it (trade-through-or-at, so queue position is
/// ignored in our favour only when the market comes to us). Orders reach
/// the venue `latency_ns` of exchange time after they are sent.
pub struct PaperExchange {
    latency_ns: u64,
    working: Vec<Working>,
}

impl PaperExchange {
    /// A paper exchange whose orders arrive `latency_ns` of exchange time after they are sent.
    pub fn new(latency_ns: u64) -> Self {
        PaperExchange {
            latency_ns,
            working: Vec::with_capacity(1024),
        }
    }

    fn marketable(o: &OrderRequest, t: Touch) -> Option<i64> {
        match o.side {
            Side::Buy if t.ask > 0 && o.price >= t.ask => Some(t.ask),
            Side::Sell if t.bid > 0 && o.price <= t.bid => Some(t.bid),
            _ => None,
        }
    }

    fn fill(o: &OrderRequest, price: i64, qty: i64) -> Exec {
        Exec::Fill(Fill {
            client_order_id: o.client_order_id,
            instrument_id: o.instrument_id,
            side: o.side,
            price,
            qty,
        })
    }

    /// An order arriving at the venue: fills at the touch if marketable,
    /// IOC dies otherwise, the rest rests. Returns whether it keeps working.
    fn arrive(w: &Working, touch: Touch, out: &mut Vec<Exec>) -> bool {
        if let Some(px) = Self::marketable(&w.order, touch) {
            out.push(Self::fill(&w.order, px, w.remaining));
            return false;
        }
        if w.order.tif == TimeInForce::ImmediateOrCancel {
            out.push(Exec::Done(w.order.client_order_id));
            return false;
        }
        true
    }
}

impl Gateway for PaperExchange {
    fn kind(&self) -> &'static str {
        "paper"
    }

    fn submit(&mut self, o: &OrderRequest, touch: Touch, now: u64, out: &mut Vec<Exec>) {
        let mut w = Working {
            order: *o,
            remaining: o.qty,
            active_at: now.saturating_add(self.latency_ns),
            arrived: false,
            sent_into: touch,
        };
        if self.latency_ns == 0 {
            if !Self::arrive(&w, touch, out) {
                return;
            }
            w.arrived = true;
        }
        self.working.push(w);
    }

    fn on_market(&mut self, instrument: u32, touch: Touch, now: u64, out: &mut Vec<Exec>) {
        self.working.retain_mut(|w| {
            if w.order.instrument_id != instrument || now < w.active_at {
                return true;
            }
            if !w.arrived {
                // Its first market since reaching the venue; resting is a
                // state change, so it is reported (and journaled) too.
                let keep = Self::arrive(w, touch, out);
                if keep {
                    w.arrived = true;
                    out.push(Exec::Rested(w.order.client_order_id));
                }
                return keep;
            }
            // Resting: filled at its price when the other side reaches it.
            let reached = match w.order.side {
                Side::Buy => touch.ask > 0 && touch.ask <= w.order.price,
                Side::Sell => touch.bid > 0 && touch.bid >= w.order.price,
            };
            if reached {
                out.push(Self::fill(&w.order, w.order.price, w.remaining));
                return false;
            }
            true
        });
    }

    fn cancel_all(&mut self, out: &mut Vec<Exec>) {
        for w in self.working.drain(..) {
            out.push(Exec::Done(w.order.client_order_id));
        }
    }

    fn resting(&self, instrument: u32) -> (i64, i64) {
        self.working
            .iter()
            .filter(|w| w.order.instrument_id == instrument)
            .fold((0, 0), |(b, s), w| match w.order.side {
                Side::Buy => (b + w.remaining, s),
                Side::Sell => (b, s + w.remaining),
            })
    }

    fn restore_order(&mut self, o: &OrderRequest, sent_at: u64, touch: Touch) {
        self.working.push(Working {
            order: *o,
            remaining: o.qty,
            active_at: sent_at.saturating_add(self.latency_ns),
            arrived: false,
            sent_into: touch,
        });
    }

    fn reconcile(&mut self, out: &mut Vec<Exec>) {
        if self.latency_ns > 0 {
            // Orders arrive on a later market update, which the restarted
            // router is given again: nothing happened that it does not see.
            return;
        }
        // With no latency an order met the market when sent: a fill, a
        // death (IOC) or a silent rest, the same again now.
        self.working.retain_mut(|w| {
            if w.arrived {
                return true;
            }
            w.arrived = true;
            // A journal of an older build has no touch: its fate was journaled.
            w.sent_into == Touch::default() || Self::arrive(w, w.sent_into, out)
        });
    }

    fn restore_exec(&mut self, e: &Exec) {
        let find =
            |ws: &Vec<Working>, id: u64| ws.iter().position(|w| w.order.client_order_id == id);
        match *e {
            Exec::Fill(f) => {
                if let Some(i) = find(&self.working, f.client_order_id) {
                    self.working[i].remaining -= f.qty;
                    if self.working[i].remaining <= 0 {
                        self.working.remove(i);
                    }
                }
            }
            Exec::Done(id) => {
                if let Some(i) = find(&self.working, id) {
                    self.working.remove(i);
                }
            }
            Exec::Rested(id) => {
                if let Some(i) = find(&self.working, id) {
                    self.working[i].arrived = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, side: Side, price: i64, tif: TimeInForce) -> OrderRequest {
        OrderRequest::new(id, 1, side, price, 100, 100, tif).unwrap()
    }

    #[test]
    fn marketable_fills_at_touch_ioc_dies_passive_rests_then_fills() {
        let mut x = PaperExchange::new(0);
        let mut out = Vec::new();
        let t = Touch { bid: 99, ask: 101 };
        x.submit(
            &order(1, Side::Buy, 102, TimeInForce::ImmediateOrCancel),
            t,
            0,
            &mut out,
        );
        assert!(matches!(out[0], Exec::Fill(f) if f.price == 101 && f.qty == 100));
        x.submit(
            &order(2, Side::Buy, 100, TimeInForce::ImmediateOrCancel),
            t,
            0,
            &mut out,
        );
        assert_eq!(out[1], Exec::Done(2));
        x.submit(&order(3, Side::Sell, 101, TimeInForce::Day), t, 0, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(x.resting(1), (0, 100));
        x.on_market(1, Touch { bid: 100, ask: 102 }, 1, &mut out);
        assert_eq!(out.len(), 2, "bid below our ask: still resting");
        x.on_market(1, Touch { bid: 101, ask: 102 }, 2, &mut out);
        assert!(matches!(out[2], Exec::Fill(f) if f.price == 101 && f.client_order_id == 3));
        assert_eq!(x.resting(1), (0, 0));
    }

    #[test]
    fn latency_delays_arrival() {
        let mut x = PaperExchange::new(10);
        let mut out = Vec::new();
        let t = Touch { bid: 99, ask: 101 };
        x.submit(
            &order(1, Side::Buy, 101, TimeInForce::ImmediateOrCancel),
            t,
            100,
            &mut out,
        );
        assert!(out.is_empty());
        x.on_market(1, Touch { bid: 100, ask: 102 }, 105, &mut out);
        assert!(out.is_empty(), "not there yet");
        x.on_market(1, Touch { bid: 100, ask: 102 }, 110, &mut out);
        assert_eq!(out, vec![Exec::Done(1)], "arrived after the ask moved away");
        x.submit(
            &order(2, Side::Buy, 100, TimeInForce::Day),
            t,
            200,
            &mut out,
        );
        x.on_market(1, Touch { bid: 99, ask: 101 }, 210, &mut out);
        assert_eq!(out[1], Exec::Rested(2));
        x.on_market(1, Touch { bid: 99, ask: 100 }, 220, &mut out);
        assert!(matches!(out[2], Exec::Fill(f) if f.price == 100));
    }
}
