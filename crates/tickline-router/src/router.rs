//! The router: a prediction through threshold, sizing and pre-trade risk to
//! an order at the gateway, every record journaled first; restart from the
//! journal skips what was already handled.

use std::collections::VecDeque;
use std::io;

use tickline_schema::{Prediction, Side, TimeInForce};

use crate::gateway::{Exec, Gateway, Touch};
use crate::journal::{Journal, Record};
use crate::order::{Fill, OrderRequest};
use crate::risk::{Exposure, Reject, RiskLimits};
use crate::sizing::{to_lots, Sizing};
use crate::{currency, notional};

/// Instrument ids index per-instrument vectors; larger ones are refused.
pub const MAX_INSTRUMENTS: u32 = 1 << 16;

/// How predictions become orders: threshold, sizing, risk, order style.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterConfig {
    /// No order while |p - 0.5| is below this.
    pub band: f64,
    /// Target position from the probability.
    pub sizing: Sizing,
    /// Lot size, fixed-point units.
    pub lot: i64,
    /// Pre-trade risk limits.
    pub limits: RiskLimits,
    /// Cross the spread (at the far touch) or join the near touch.
    pub aggressive: bool,
    /// Time in force of every order.
    pub tif: TimeInForce,
    /// No order on a prediction whose tick (the feed's ingest stamp) is
    /// older than this, in CLOCK_MONOTONIC ns, when it is decided. None:
    /// off (decisions then depend on the data alone, not on timing).
    pub max_signal_age_ns: Option<u64>,
}

/// What one prediction led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Already handled before a restart (sequence number in the journal).
    Skipped,
    /// In the band, at target, or no market: nothing to send.
    NoOrder,
    /// An order was refused by pre-trade risk (counted by reason).
    Rejected(Reject),
    /// An order was journaled and handed to the gateway.
    Sent(OrderRequest),
}

/// What the router did, counted.
#[derive(Clone, Debug, Default)]
pub struct RouterStats {
    /// Predictions seen, skipped ones included.
    pub predictions: u64,
    /// Predictions already handled before a restart.
    pub skipped: u64,
    /// Predictions inside the no-trade band.
    pub in_band: u64,
    /// Predictions whose target position was already held.
    pub at_target: u64,
    /// Orders sent.
    pub orders: u64,
    /// Fills received.
    pub fills: u64,
    /// Quantity filled, fixed point.
    pub filled_qty: i64,
    /// Rejects, indexed by [`Reject`].
    pub rejects: [u64; Reject::ALL.len()],
    /// Fills judged `horizon` predictions later: the mid moved their way.
    pub hits: u64,
    /// Fills judged so far.
    pub judged: u64,
    /// Executions learnt from the venue at a restart (not in the journal).
    pub reconciled: u64,
}

/// Turns predictions into orders for one gateway, journaling every order
/// before it leaves and every execution as it comes back.
pub struct Router<G: Gateway> {
    cfg: RouterConfig,
    gw: G,
    journal: Option<Journal>,
    positions: Vec<i64>,
    /// Per instrument, the signed quantity of every fill in the journal
    /// (recovered and appended): what each position must equal.
    journaled_fills: Vec<i64>,
    /// Per instrument: the mid recorded with its last journal record. Risk
    /// marks other instruments with it, never with unjournaled touches, so a
    /// restart decides exactly as the original run did.
    marks: Vec<i64>,
    /// Cash in 1e-16 currency units: minus what we paid, plus what we got.
    cash: i128,
    next_id: u64,
    /// Sequence number of the last journaled record.
    last_seq: Option<u64>,
    /// Sequence number of the last prediction processed.
    seen_seq: Option<u64>,
    /// Exchange times of recent orders, for the rate limit.
    recent: VecDeque<u64>,
    killed: bool,
    execs: Vec<Exec>,
    /// Fills awaiting judgement: (instrument, side, price, predictions left).
    judging: VecDeque<(u32, Side, i64, u32)>,
    horizon: u32,
    now: u64,
    /// Counters, for summaries.
    pub stats: RouterStats,
}

impl<G: Gateway> Router<G> {
    /// A router over `gw`, resuming from journaled `records` (if any):
    /// positions, cash, open orders, order ids and the last sequence
    /// number; then reconciled with the venue, whose answer is journaled.
    pub fn new(
        cfg: RouterConfig,
        gw: G,
        journal: Option<Journal>,
        records: &[Record],
        horizon: u32,
    ) -> io::Result<Self> {
        let mut r = Router {
            recent: VecDeque::with_capacity(cfg.limits.max_orders_per_sec + 1),
            cfg,
            gw,
            journal,
            positions: Vec::new(),
            journaled_fills: Vec::new(),
            marks: Vec::new(),
            cash: 0,
            next_id: 1,
            last_seq: None,
            seen_seq: None,
            killed: false,
            execs: Vec::with_capacity(64),
            judging: VecDeque::with_capacity(4096),
            horizon: horizon.max(1),
            now: 0,
            stats: RouterStats::default(),
        };
        for rec in records {
            r.last_seq = Some(rec.seq());
            r.seen_seq = r.last_seq;
            match *rec {
                Record::Order {
                    req,
                    ts,
                    mark,
                    touch,
                    ..
                } => {
                    r.next_id = r.next_id.max(req.client_order_id + 1);
                    r.push_rate(ts);
                    r.gw.restore_order(&req, ts, touch);
                    *Self::slot(&mut r.marks, req.instrument_id) = mark;
                    r.stats.orders += 1;
                }
                Record::Reject { reason, .. } => r.stats.rejects[reason as usize] += 1,
                Record::Exec { exec, mark, .. } => {
                    r.gw.restore_exec(&exec);
                    if let Exec::Fill(f) = exec {
                        *Self::slot(&mut r.journaled_fills, f.instrument_id) += f.signed_qty();
                        *Self::slot(&mut r.marks, f.instrument_id) = mark;
                        r.apply_fill(&f);
                    }
                }
            }
        }
        r.reconcile(records)?;
        Ok(r)
    }

    /// Journals and applies what the venue did with restored orders that
    /// the journal does not record, each as its order's prediction would
    /// have (same sequence number, mark and time): the journal ends as it
    /// would have without the restart.
    fn reconcile(&mut self, records: &[Record]) -> io::Result<()> {
        let mut found = Vec::new();
        self.gw.reconcile(&mut found);
        for e in found {
            let id = match e {
                Exec::Fill(f) => f.client_order_id,
                Exec::Done(id) | Exec::Rested(id) => id,
            };
            let order = records.iter().rev().find_map(|r| match *r {
                Record::Order {
                    seq, req, mark, ts, ..
                } if req.client_order_id == id => Some((seq, mark, ts)),
                _ => None,
            });
            let Some((seq, mark, ts)) = order else {
                debug_assert!(false, "reconciled order {id} is not in the journal");
                continue;
            };
            self.stats.reconciled += 1;
            let now = std::mem::replace(&mut self.now, ts);
            self.execs.push(e);
            self.drain_execs(seq, mark)?;
            self.now = now;
        }
        self.commit_journal()
    }

    fn slot<T: Default + Clone>(v: &mut Vec<T>, i: u32) -> &mut T {
        let i = i as usize;
        if i >= v.len() {
            v.resize(i + 1, T::default());
        }
        &mut v[i]
    }

    fn apply_fill(&mut self, f: &Fill) {
        let position = Self::slot(&mut self.positions, f.instrument_id);
        *position += f.signed_qty();
        debug_assert_eq!(
            Some(*position),
            self.journaled_fills.get(f.instrument_id as usize).copied(),
            "instrument {}: the position is not the sum of its journaled fills",
            f.instrument_id
        );
        self.cash -= notional(f.price, f.signed_qty());
        self.stats.fills += 1;
        self.stats.filled_qty += f.qty;
    }

    fn push_rate(&mut self, ts: u64) {
        if self.recent.len() == self.cfg.limits.max_orders_per_sec.max(1) {
            self.recent.pop_front();
        }
        self.recent.push_back(ts);
    }

    fn orders_last_sec(&self, now: u64) -> usize {
        self.recent
            .iter()
            .filter(|&&t| t + 1_000_000_000 > now)
            .count()
    }

    /// Non-zero positions by instrument.
    pub fn positions(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        self.positions
            .iter()
            .enumerate()
            .filter(|(_, q)| **q != 0)
            .map(|(i, q)| (i as u32, *q))
    }

    /// Position of an instrument, fixed point (+ long).
    pub fn position(&self, instrument: u32) -> i64 {
        self.positions
            .get(instrument as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Realised + marked PnL, currency, with the journaled marks.
    pub fn pnl(&self) -> f64 {
        self.value(None).1
    }

    /// Gross notional and PnL with `instrument` marked at `mid` (the current
    /// prediction's) and every other at its journaled mark.
    pub fn marked(&self, instrument: u32, mid: i64) -> (f64, f64) {
        self.value(Some((instrument, mid)))
    }

    fn value(&self, at: Option<(u32, i64)>) -> (f64, f64) {
        let n = self.positions.len().max(self.marks.len());
        let n = at.map_or(n, |(i, _)| n.max(i as usize + 1));
        let (mut gross, mut value): (i128, i128) = (0, 0);
        for i in 0..n {
            let mark = match at {
                Some((inst, mid)) if inst as usize == i => mid,
                _ => self.marks.get(i).copied().unwrap_or(0),
            };
            let pos = self.positions.get(i).copied().unwrap_or(0);
            let (b, s) = self.gw.resting(i as u32);
            gross += notional(mark, pos.abs() + b + s);
            value += notional(mark, pos);
        }
        (currency(gross), currency(self.cash + value))
    }

    fn record(&mut self, rec: Record) -> io::Result<()> {
        if let Some(j) = &mut self.journal {
            j.append(&rec)?;
        }
        if let Record::Exec {
            exec: Exec::Fill(f),
            ..
        } = rec
        {
            *Self::slot(&mut self.journaled_fills, f.instrument_id) += f.signed_qty();
        }
        self.last_seq = Some(rec.seq());
        Ok(())
    }

    /// Journals and applies what the gateway reported.
    fn drain_execs(&mut self, seq: u64, mark: i64) -> io::Result<()> {
        let execs = std::mem::take(&mut self.execs);
        for e in &execs {
            self.record(Record::Exec {
                seq,
                exec: *e,
                mark,
                ts: self.now,
            })?;
            if let Exec::Fill(f) = e {
                *Self::slot(&mut self.marks, f.instrument_id) = mark;
                self.apply_fill(f);
                if self.judging.len() == self.judging.capacity() {
                    self.judging.pop_front();
                }
                self.judging
                    .push_back((f.instrument_id, f.side, f.price, self.horizon));
            }
        }
        self.execs = execs;
        self.execs.clear();
        Ok(())
    }

    /// Cancels resting orders and refuses new ones from now on. Happens
    /// between predictions: its records carry the last one processed.
    pub fn kill(&mut self) -> io::Result<()> {
        self.killed = true;
        self.gw.cancel_all(&mut self.execs);
        if let Some(seq) = self.seen_seq {
            self.drain_execs(seq, 0)?;
        }
        self.commit_journal()
    }

    /// True once the kill switch tripped.
    pub fn is_killed(&self) -> bool {
        self.killed
    }

    /// One prediction: the market update it carries, then the decision.
    pub fn on_prediction(&mut self, p: &Prediction) -> io::Result<Step> {
        let step = self.on_prediction_records(p);
        self.commit_journal()?;
        step
    }

    /// Writes the records made since the last commit as one group.
    fn commit_journal(&mut self) -> io::Result<()> {
        match &mut self.journal {
            Some(j) => j.commit(),
            None => Ok(()),
        }
    }

    fn on_prediction_records(&mut self, p: &Prediction) -> io::Result<Step> {
        if p.instrument_id >= MAX_INSTRUMENTS {
            self.stats.rejects[Reject::Invalid as usize] += 1;
            return Ok(Step::Rejected(Reject::Invalid));
        }
        if !self.on_market(p)? {
            return Ok(Step::Skipped);
        }
        self.decide(p)
    }

    /// The touch the prediction carries: marks positions and lets resting
    /// orders fill. False if the prediction was handled before a restart.
    pub fn on_market(&mut self, p: &Prediction) -> io::Result<bool> {
        let seq = p.trace.seq;
        // Per-instrument state is indexed by id; a corrupt id must not allocate.
        if p.instrument_id >= MAX_INSTRUMENTS {
            return Ok(false);
        }
        if self.last_seq.is_some_and(|l| seq <= l) {
            self.stats.skipped += 1;
            return Ok(false);
        }
        self.stats.predictions += 1;
        self.seen_seq = Some(seq);
        self.now = self.now.max(p.trace.exchange_ns);
        let inst = p.instrument_id;
        let touch = Touch {
            bid: p.best_bid,
            ask: p.best_ask,
        };
        self.judge(inst, touch.mid());
        self.gw.on_market(inst, touch, self.now, &mut self.execs);
        self.drain_execs(seq, touch.mid())?;
        Ok(true)
    }

    /// The order (if any) for a prediction whose market update was applied.
    pub fn decide(&mut self, p: &Prediction) -> io::Result<Step> {
        let touch = Touch {
            bid: p.best_bid,
            ask: p.best_ask,
        };
        if p.trace.is_stale() {
            // The feed lost messages it could not recover: this book may
            // be wrong, and no new order is placed on it.
            return self.rejected(p, Reject::StaleBook, 0);
        }
        if let Some(age) = self.signal_too_old(p) {
            return self.rejected(p, Reject::StaleSignal, age);
        }
        let req = match self.order_for(p, touch) {
            Ok(req) => req,
            Err(Err(r)) => return self.rejected(p, r, 0),
            Err(Ok(step)) => return Ok(step),
        };
        if let Err(r) = self.risk_check(&req, touch) {
            return self.rejected(p, r, 0);
        }
        self.send(p, req, touch)?;
        Ok(Step::Sent(req))
    }

    /// The prediction's age if the guard is on and it is past it.
    fn signal_too_old(&self, p: &Prediction) -> Option<u64> {
        let max = self.cfg.max_signal_age_ns?;
        let age = tickline_shm::monotonic_ns().saturating_sub(p.trace.ingest_ns());
        (age > max).then_some(age)
    }

    /// Counts a rejection. One that depends on timing (a stale signal) is
    /// journaled too, with the signal's age: a restart could not decide it
    /// again the same way. The others follow from the journaled state and
    /// the input, so a restart decides them again identically; journaling
    /// them would put a write on the path of every refused prediction.
    fn rejected(&mut self, p: &Prediction, r: Reject, age_ns: u64) -> io::Result<Step> {
        self.stats.rejects[r as usize] += 1;
        if r != Reject::StaleSignal {
            return Ok(Step::Rejected(r));
        }
        let (bid, ask) = (p.best_bid, p.best_ask);
        self.record(Record::Reject {
            seq: p.trace.seq,
            reason: r,
            instrument_id: p.instrument_id,
            mark: Touch { bid, ask }.mid(),
            ts: self.now,
            age_ns,
        })?;
        Ok(Step::Rejected(r))
    }

    /// The order that moves toward the prediction's target position, or
    /// why there is none: `Ok(NoOrder)` in the band or at target, `Err` a
    /// reason to reject (no market, invalid).
    fn order_for(
        &mut self,
        p: &Prediction,
        touch: Touch,
    ) -> Result<OrderRequest, Result<Step, Reject>> {
        let inst = p.instrument_id;
        let edge = p.prob_up - 0.5;
        if !edge.is_finite() || edge.abs() < self.cfg.band {
            self.stats.in_band += 1;
            return Err(Ok(Step::NoOrder));
        }
        let (rb, rs) = self.gw.resting(inst);
        let exposure = self.position(inst) + rb - rs;
        let target = to_lots(self.cfg.sizing.target(p.prob_up), self.cfg.lot);
        // Move toward the target by at most one maximum-size order at a
        // time; the risk check still guards every order.
        let max = self.cfg.limits.max_order_qty;
        let delta = target.saturating_sub(exposure).clamp(-max, max);
        let delta = to_lots(delta as f64, self.cfg.lot);
        if delta == 0 {
            self.stats.at_target += 1;
            return Err(Ok(Step::NoOrder));
        }
        let side = if delta > 0 { Side::Buy } else { Side::Sell };
        let price = match (side, self.cfg.aggressive) {
            (Side::Buy, true) | (Side::Sell, false) => touch.ask,
            (Side::Sell, true) | (Side::Buy, false) => touch.bid,
        };
        if price <= 0 {
            return Err(Err(Reject::NoMarket));
        }
        let (id, lot, tif) = (self.next_id, self.cfg.lot, self.cfg.tif);
        OrderRequest::new(id, inst, side, price, delta.abs(), lot, tif)
            .map_err(|_| Err(Reject::Invalid))
    }

    /// The risk limits against the instrument's exposure now.
    fn risk_check(&mut self, req: &OrderRequest, touch: Touch) -> Result<(), Reject> {
        let inst = req.instrument_id;
        let (rb, rs) = self.gw.resting(inst);
        let (gross, pnl) = self.marked(inst, touch.mid());
        let x = Exposure {
            position: self.position(inst),
            resting_buy: rb,
            resting_sell: rs,
            gross_notional: gross,
            mid: touch.mid(),
            pnl,
            orders_last_sec: self.orders_last_sec(self.now),
            killed: self.killed,
        };
        self.cfg.limits.check(req, &x)
    }

    /// Journals the order, commits the journal, then hands it to the
    /// gateway: a restart never sends it twice.
    fn send(&mut self, p: &Prediction, req: OrderRequest, touch: Touch) -> io::Result<()> {
        let seq = p.trace.seq;
        self.record(Record::Order {
            seq,
            req,
            prob_up: p.prob_up,
            mark: touch.mid(),
            ts: self.now,
            touch,
        })?;
        *Self::slot(&mut self.marks, req.instrument_id) = touch.mid();
        self.next_id += 1;
        self.stats.orders += 1;
        self.push_rate(self.now);
        // On the file before it leaves.
        self.commit_journal()?;
        self.gw.submit(&req, touch, self.now, &mut self.execs);
        self.drain_execs(seq, touch.mid())
    }

    /// Journals and applies what an asynchronous venue reported since the
    /// last call, under the last prediction's sequence number.
    pub fn poll_venue(&mut self) -> io::Result<()> {
        let mut late = Vec::new();
        self.gw.poll(&mut late);
        self.journal_late(late)
    }

    /// Journals and applies reports taken from the venue outside a
    /// prediction (polling, or waiting for answers at exit).
    pub fn journal_late(&mut self, execs: Vec<Exec>) -> io::Result<()> {
        if execs.is_empty() {
            return Ok(());
        }
        let seq = self.seen_seq.or(self.last_seq).unwrap_or(0);
        for e in execs {
            let mark = match e {
                Exec::Fill(f) => self
                    .marks
                    .get(f.instrument_id as usize)
                    .copied()
                    .unwrap_or(0),
                _ => 0,
            };
            self.execs.push(e);
            self.drain_execs(seq, mark)?;
        }
        self.commit_journal()
    }

    /// The gateway, to wait on it (shutdown) or read its counters.
    pub fn gateway_mut(&mut self) -> &mut G {
        &mut self.gw
    }

    /// Fills `horizon` predictions old on this instrument: did the mid move their way?
    fn judge(&mut self, inst: u32, mid: i64) {
        if mid <= 0 {
            return;
        }
        for j in self.judging.iter_mut().filter(|j| j.0 == inst) {
            j.3 = j.3.saturating_sub(1);
        }
        while let Some(&(i, side, px, left)) = self.judging.front() {
            if left > 0 {
                break;
            }
            self.judging.pop_front();
            if i == inst {
                self.stats.judged += 1;
                let won = match side {
                    Side::Buy => mid > px,
                    Side::Sell => mid < px,
                };
                self.stats.hits += won as u64;
            }
        }
    }

    /// Exchange time of the latest prediction: the router's clock, at
    /// which orders are sent.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The gateway.
    pub fn gateway(&self) -> &G {
        &self.gw
    }

    /// Forces the journal to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        match &mut self.journal {
            Some(j) => j.sync(),
            None => Ok(()),
        }
    }
}
