//! Where the router's orders go: the paper exchange, or a FIX venue.

use tickline_fix::FixGateway;
use tickline_router::paper::{Exec, Touch};
use tickline_router::{Gateway, OrderRequest, PaperExchange};

/// The router's gateway, chosen by `--venue`.
pub enum Venue {
    /// Simulated fills in the router's process.
    Paper(PaperExchange),
    /// A FIX 4.4 venue, through a session thread.
    Fix(Box<FixGateway>),
}

impl Venue {
    /// The FIX gateway's counters, for the summary.
    pub fn fix_summary(&self) -> Option<serde_json::Value> {
        use std::sync::atomic::Ordering::Relaxed;
        let Venue::Fix(g) = self else { return None };
        let c = &g.counters;
        Some(serde_json::json!({
            "connects": c.connects.load(Relaxed),
            "logons": c.logons.load(Relaxed),
            "orders_sent": c.orders_sent.load(Relaxed),
            "orders_resent_after_restart": c.orders_resent.load(Relaxed),
            "exec_reports": c.exec_reports.load(Relaxed),
            "garbled": c.garbled.load(Relaxed),
            "session_rejects": c.session_rejects.load(Relaxed),
            "refusals": c.refusals.load(Relaxed),
            "resend_requests": c.resend_requests.load(Relaxed),
            "resent": c.resent.load(Relaxed),
            "working": g.working(),
        }))
    }

    /// Waits (bounded) until the venue has answered every order sent.
    pub fn settle(&mut self) -> Vec<Exec> {
        let mut out = Vec::new();
        if let Venue::Fix(g) = self {
            if !g.settle(&mut out) {
                eprintln!("order-router: the FIX venue left orders unanswered at exit");
            }
        }
        out
    }
}

impl Gateway for Venue {
    fn submit(&mut self, o: &OrderRequest, touch: Touch, now: u64, out: &mut Vec<Exec>) {
        match self {
            Venue::Paper(g) => g.submit(o, touch, now, out),
            Venue::Fix(g) => g.submit(o, touch, now, out),
        }
    }

    fn on_market(&mut self, instrument: u32, touch: Touch, now: u64, out: &mut Vec<Exec>) {
        match self {
            Venue::Paper(g) => g.on_market(instrument, touch, now, out),
            Venue::Fix(g) => g.on_market(instrument, touch, now, out),
        }
    }

    fn cancel_all(&mut self, out: &mut Vec<Exec>) {
        match self {
            Venue::Paper(g) => g.cancel_all(out),
            Venue::Fix(g) => g.cancel_all(out),
        }
    }

    fn resting(&self, instrument: u32) -> (i64, i64) {
        match self {
            Venue::Paper(g) => g.resting(instrument),
            Venue::Fix(g) => g.resting(instrument),
        }
    }

    fn restore_order(&mut self, o: &OrderRequest, sent_at: u64, touch: Touch) {
        match self {
            Venue::Paper(g) => g.restore_order(o, sent_at, touch),
            Venue::Fix(g) => g.restore_order(o, sent_at, touch),
        }
    }

    fn restore_exec(&mut self, e: &Exec) {
        match self {
            Venue::Paper(g) => g.restore_exec(e),
            Venue::Fix(g) => g.restore_exec(e),
        }
    }

    fn reconcile(&mut self, out: &mut Vec<Exec>) {
        match self {
            Venue::Paper(g) => g.reconcile(out),
            Venue::Fix(g) => g.reconcile(out),
        }
    }

    fn poll(&mut self, out: &mut Vec<Exec>) {
        match self {
            Venue::Paper(g) => g.poll(out),
            Venue::Fix(g) => g.poll(out),
        }
    }
}
