//! [`FixGateway`]: the router's `Gateway` over a FIX 4.4 session that runs on
//! a thread of its own. The router's decision path only pushes a fixed-size
//! command into a wait-free ring (and, if the session thread sleeps, wakes
//! it through an eventfd); the thread owns the socket, the session and its
//! store, and pushes what the venue reports into a ring the router drains.
//!
//! Exactly once: a ClOrdID is `<store epoch>-<client order id>`, and client
//! order ids continue from the journal, so a restarted router never reuses
//! one. At start, every order the journal leaves working is asked about
//! (OrderStatusRequest): the venue's answer supplies fills the journal
//! missed, and an order the venue never saw is sent again with
//! PossResend. Messages the venue missed are resent from the store with
//! PossDupFlag when it asks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::eventfd::{EfdFlags, EventFd};
use tickline_router::{Exec, Touch};
use tickline_router::{Fill, Gateway, OrderRequest};
use tickline_schema::Side;

use crate::codec::Reader;
use crate::session::{Session, SessionConfig};
use crate::store::Store;

mod worker;

use crate::FixError;
use worker::Worker;

/// Where the venue is and who we are to it.
#[derive(Clone, Debug)]
pub struct FixConfig {
    /// HOST:PORT of the venue's acceptor.
    pub addr: String,
    /// CompIDs and heartbeat.
    pub session: SessionConfig,
    /// The session store (beside the journal).
    pub store_dir: PathBuf,
    /// How long the start-up reconcile and the kill switch wait for answers.
    pub answer_timeout: Duration,
}

impl FixConfig {
    /// From `HOST:PORT[,sender=ID][,target=ID][,heartbeat=S][,reset=Y]`
    /// (`reset=Y`: both sides start again at sequence number 1 at logon;
    /// for tests and benchmarks with a fresh store, never for trading).
    pub fn parse(spec: &str, store_dir: PathBuf) -> Result<Self, FixError> {
        let mut parts = spec.split(',');
        let addr = parts.next().unwrap_or_default().to_owned();
        if !addr.contains(':') {
            return Err(FixError::Config(format!(
                "{spec:?}: expected HOST:PORT first"
            )));
        }
        let mut cfg = FixConfig {
            addr,
            session: SessionConfig {
                sender: "TICKLINE".into(),
                target: "VENUE".into(),
                heartbeat_s: 30,
                reset_on_logon: false,
            },
            store_dir,
            answer_timeout: Duration::from_secs(5),
        };
        for p in parts {
            match p.split_once('=') {
                Some(("sender", v)) => cfg.session.sender = v.into(),
                Some(("target", v)) => cfg.session.target = v.into(),
                Some(("reset", "Y")) => cfg.session.reset_on_logon = true,
                Some(("heartbeat", v)) => {
                    cfg.session.heartbeat_s = v
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| FixError::Config(format!("heartbeat {v:?}")))?
                }
                _ => {
                    return Err(FixError::Config(format!(
                        "unknown option {p:?} in {spec:?}"
                    )))
                }
            }
        }
        Ok(cfg)
    }
}

/// Counters the session thread keeps, readable from the router's side.
#[derive(Debug, Default)]
pub struct GatewayCounters {
    /// Connections made.
    pub connects: AtomicU64,
    /// Logons completed.
    pub logons: AtomicU64,
    /// Orders (NewOrderSingle) sent, resends with PossResend included.
    pub orders_sent: AtomicU64,
    /// Orders sent again with PossResend after the venue said it never had them.
    pub orders_resent: AtomicU64,
    /// ExecutionReports taken.
    pub exec_reports: AtomicU64,
    /// Garbled frames ignored.
    pub garbled: AtomicU64,
    /// Session-level Rejects (3) sent and received.
    pub session_rejects: AtomicU64,
    /// OrderCancelRejects (9) and BusinessMessageRejects (j) received.
    pub refusals: AtomicU64,
    /// ResendRequests sent for inbound gaps.
    pub resend_requests: AtomicU64,
    /// Our messages resent with PossDupFlag.
    pub resent: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
enum Command {
    New {
        req: OrderRequest,
        poss_resend: bool,
    },
    Cancel(OrderRequest),
    Status(OrderRequest),
}

#[derive(Clone, Copy, Debug)]
enum Report {
    Exec(Exec),
    /// Logged on again after a lost connection: what the venue did
    /// meanwhile is asked for.
    Reconnected,
    /// An answer to an OrderStatusRequest.
    Status {
        id: u64,
        known: bool,
        cum_qty: i64,
        avg_px: i64,
        done: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct Working {
    order: OrderRequest,
    filled: i64,
    /// The venue has said something about it.
    answered: bool,
    /// Sent again (PossResend) after the venue said it never had it: a
    /// second "unknown" (a status request that overtook the resend) must
    /// not send it a third time.
    resent: bool,
}

/// Commands and reports in flight at most; the router drains at every call.
const RING: usize = 1 << 16;

/// The router's gateway to a FIX venue.
pub struct FixGateway {
    cfg: FixConfig,
    to_session: rtrb::Producer<Command>,
    from_session: rtrb::Consumer<Report>,
    wake: Arc<Wake>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    working: Vec<Working>,
    /// Order status answers taken so far.
    statuses_answered: u64,
    /// What the session thread counted.
    pub counters: Arc<GatewayCounters>,
}

/// The session thread's sleep flag and the eventfd that ends its sleep.
struct Wake {
    sleeping: AtomicBool,
    fd: EventFd,
}

impl Wake {
    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            let _ = self.fd.write(1);
        }
    }
}

impl FixGateway {
    /// Opens the session store (refusing a corrupt one) and starts the
    /// session thread, which connects and logs on (retrying while the
    /// venue is away).
    pub fn start(cfg: FixConfig) -> Result<Self, FixError> {
        let store = Store::open(&cfg.store_dir)?;
        let (to_session, cmds) = rtrb::RingBuffer::new(RING);
        let (reports, from_session) = rtrb::RingBuffer::new(RING);
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK)
            .map_err(|e| FixError::Config(format!("eventfd: {e}")))?;
        let wake = Arc::new(Wake {
            sleeping: AtomicBool::new(false),
            fd,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(GatewayCounters::default());
        let worker = Worker {
            epoch: store.epoch(),
            session: Session::new(cfg.session.clone(), store),
            addr: cfg.addr.clone(),
            cmds,
            reports,
            wake: wake.clone(),
            stop: stop.clone(),
            counters: counters.clone(),
            reader: Reader::with_capacity(1 << 16),
            id: String::with_capacity(48),
        };
        let thread = std::thread::Builder::new()
            .name("fix-session".into())
            .spawn(move || worker.run())
            .map_err(|e| FixError::Config(format!("session thread: {e}")))?;
        Ok(FixGateway {
            cfg,
            to_session,
            from_session,
            wake,
            stop,
            thread: Some(thread),
            working: Vec::with_capacity(1024),
            statuses_answered: 0,
            counters,
        })
    }

    fn command(&mut self, c: Command) {
        // The ring holds far more than the router's rate limit lets in flight.
        while self.to_session.push(c).is_err() {
            self.wake.wake();
            std::thread::yield_now();
        }
        self.wake.wake();
    }

    /// Applies a report to the working orders; false for one about an
    /// order that is finished already (a duplicate answer), to be dropped.
    fn apply(&mut self, e: &Exec) -> bool {
        let id = match e {
            Exec::Fill(f) => f.client_order_id,
            Exec::Done(id) | Exec::Rested(id) => *id,
        };
        let Some(i) = self
            .working
            .iter()
            .position(|w| w.order.client_order_id == id)
        else {
            return false;
        };
        self.working[i].answered = true;
        match e {
            Exec::Fill(f) => {
                self.working[i].filled += f.qty;
                if self.working[i].filled >= self.working[i].order.qty {
                    self.working.swap_remove(i);
                }
            }
            Exec::Done(_) => {
                self.working.swap_remove(i);
            }
            Exec::Rested(_) => {}
        }
        true
    }

    /// Takes what the session thread reported.
    fn drain(&mut self, out: &mut Vec<Exec>) {
        while let Ok(r) = self.from_session.pop() {
            match r {
                Report::Exec(e) => {
                    if self.apply(&e) {
                        out.push(e);
                    }
                }
                Report::Reconnected => {
                    let orders: Vec<OrderRequest> = self.working.iter().map(|w| w.order).collect();
                    for o in orders {
                        self.command(Command::Status(o));
                    }
                }
                status @ Report::Status { .. } => self.reconcile_one(status, out),
            }
        }
    }

    /// Waits (up to the answer timeout) until `done` says so, draining.
    fn wait_for(
        &mut self,
        out: &mut Vec<Exec>,
        mut done: impl FnMut(&mut Self, &mut Vec<Exec>) -> bool,
    ) -> bool {
        let deadline = Instant::now() + self.cfg.answer_timeout;
        loop {
            self.drain(out);
            if done(self, out) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Orders sent and not finished.
    pub fn working(&self) -> usize {
        self.working.len()
    }

    /// Waits (up to the answer timeout) until the venue has answered every
    /// order sent; for shutdown, benchmarks and tests.
    pub fn settle(&mut self, out: &mut Vec<Exec>) -> bool {
        self.wait_for(out, |g, _| g.working.iter().all(|w| w.answered))
    }

    /// An order status answer: fills the journal lacks, the order's end,
    /// or, for an order the venue never had, the order sent again.
    fn reconcile_one(&mut self, r: Report, out: &mut Vec<Exec>) {
        let Report::Status {
            id,
            known,
            cum_qty,
            avg_px,
            done,
        } = r
        else {
            return;
        };
        self.statuses_answered += 1;
        let Some(i) = self
            .working
            .iter()
            .position(|w| w.order.client_order_id == id)
        else {
            return;
        };
        let w = self.working[i];
        if !known && w.resent {
            return;
        }
        if !known {
            self.working[i].resent = true;
            self.counters.orders_resent.fetch_add(1, Ordering::Relaxed);
            eprintln!("fix: order {id} never reached the venue; sent again with PossResend");
            self.command(Command::New {
                req: w.order,
                poss_resend: true,
            });
            return;
        }
        let missing = cum_qty - w.filled;
        if missing > 0 {
            let f = Exec::Fill(Fill {
                client_order_id: id,
                instrument_id: w.order.instrument_id,
                side: w.order.side,
                price: avg_px,
                qty: missing,
            });
            if self.apply(&f) {
                out.push(f);
            }
        }
        if done {
            let d = Exec::Done(id);
            if self.apply(&d) {
                out.push(d);
            }
        }
    }
}

impl Gateway for FixGateway {
    fn kind(&self) -> &'static str {
        "fix"
    }

    fn settle(&mut self, out: &mut Vec<Exec>) -> bool {
        FixGateway::settle(self, out)
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.counters;
        vec![
            ("connects", c.connects.load(Relaxed)),
            ("logons", c.logons.load(Relaxed)),
            ("orders_sent", c.orders_sent.load(Relaxed)),
            ("orders_resent_after_restart", c.orders_resent.load(Relaxed)),
            ("exec_reports", c.exec_reports.load(Relaxed)),
            ("garbled", c.garbled.load(Relaxed)),
            ("session_rejects", c.session_rejects.load(Relaxed)),
            ("refusals", c.refusals.load(Relaxed)),
            ("resend_requests", c.resend_requests.load(Relaxed)),
            ("resent", c.resent.load(Relaxed)),
            ("working", self.working() as u64),
        ]
    }

    fn submit(&mut self, o: &OrderRequest, _touch: Touch, _now: u64, out: &mut Vec<Exec>) {
        self.working.push(Working {
            order: *o,
            filled: 0,
            answered: false,
            resent: false,
        });
        self.command(Command::New {
            req: *o,
            poss_resend: false,
        });
        self.drain(out);
    }

    fn on_market(&mut self, _instrument: u32, _touch: Touch, _now: u64, out: &mut Vec<Exec>) {
        self.drain(out);
    }

    fn poll(&mut self, out: &mut Vec<Exec>) {
        self.drain(out);
    }

    fn cancel_all(&mut self, out: &mut Vec<Exec>) {
        let orders: Vec<OrderRequest> = self.working.iter().map(|w| w.order).collect();
        for o in orders {
            self.command(Command::Cancel(o));
        }
        if !self.wait_for(out, |g, _| g.working.is_empty()) {
            eprintln!(
                "fix: {} orders not confirmed cancelled within {:?}",
                self.working.len(),
                self.cfg.answer_timeout
            );
        }
    }

    fn resting(&self, instrument: u32) -> (i64, i64) {
        self.working
            .iter()
            .filter(|w| w.order.instrument_id == instrument)
            .fold((0, 0), |(b, s), w| match w.order.side {
                Side::Buy => (b + w.order.qty - w.filled, s),
                Side::Sell => (b, s + w.order.qty - w.filled),
            })
    }

    fn restore_order(&mut self, o: &OrderRequest, _sent_at: u64, _touch: Touch) {
        // Counted as answered: reconcile asks the venue about it.
        self.working.push(Working {
            order: *o,
            filled: 0,
            answered: true,
            resent: false,
        });
    }

    fn restore_exec(&mut self, e: &Exec) {
        self.apply(e);
    }

    fn reconcile(&mut self, out: &mut Vec<Exec>) {
        let orders: Vec<OrderRequest> = self.working.iter().map(|w| w.order).collect();
        if orders.is_empty() {
            return;
        }
        for o in &orders {
            self.command(Command::Status(*o));
        }
        let all = orders.len() as u64;
        let before = self.statuses_answered;
        let ok = self.wait_for(out, |g, _| g.statuses_answered - before >= all);
        if !ok {
            eprintln!(
                "fix: the venue answered {} of {all} order status requests within {:?}; the others stay working",
                self.statuses_answered - before,
                self.cfg.answer_timeout
            );
        }
    }
}

impl Drop for FixGateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.fd.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
