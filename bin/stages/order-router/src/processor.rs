//! The order-router's processor: each prediction through sizing, risk and
//! the journal to the gateway, the order emitted downstream; and the kill
//! switches (SIGUSR1, a kill file) checked between batches.

use tickline_router::{Gateway, Reject, Router, Step, UNIT};
use tickline_schema::flight::{Outcome, SlowDecision};
use tickline_schema::telemetry::Metric;
use tickline_schema::{Order, Prediction};
use tickline_shm::monotonic_ns;
use tickline_stage::{
    Emitted, Emitter, FileWatch, Flow, OwnKind, OwnSlot, Processor, Signals, StageTelemetry,
};
use tickline_telemetry::FlightRecorder;

/// The router between predictions and orders, with its kill switches.
pub struct OrderRouter {
    pub router: Router<Box<dyn Gateway>>,
    /// Looks for the kill file off the hot thread.
    pub kill_file: Option<FileWatch>,
    pub until_seq: Option<u64>,
    /// Its own values in the stats segment, once declared.
    pub report: Option<Report>,
    /// The slowest decisions of each interval and of the run.
    pub flight: FlightRecorder,
}

/// What a step came to, for the flight recorder.
fn outcome(step: Step) -> Outcome {
    match step {
        Step::Sent(_) => Outcome::Order,
        Step::Rejected(r) => Outcome::Reject(r as u32),
        Step::NoOrder | Step::Skipped => Outcome::NoOrder,
    }
}

/// The flight recorder's record of a decision.
fn slow_decision(p: &Prediction, read_ns: u64, decided_ns: u64, step: Step) -> SlowDecision {
    SlowDecision {
        seq: p.trace.seq,
        instrument_id: u64::from(p.instrument_id),
        exchange_ns: p.trace.exchange_ns,
        receive_ns: p.trace.receive_ns,
        stamps: p.trace.stamps,
        read_ns,
        decided_ns,
        outcome: outcome(step).to_word(),
        flags: p.trace.flags,
        _reserved: [0; 4],
    }
}

/// The router's slots in its stats segment: what Prometheus and `stats` show.
pub struct Report {
    predictions: Option<OwnSlot>,
    orders: Option<OwnSlot>,
    fills: Option<OwnSlot>,
    pnl: Option<OwnSlot>,
    killed: Option<OwnSlot>,
    rejects: Vec<Option<OwnSlot>>,
    /// (instrument, slot) of positions, declared as instruments trade.
    positions: Vec<(u32, OwnSlot)>,
}

impl Report {
    fn declare(tel: &mut StageTelemetry) -> Self {
        Report {
            predictions: tel.own("router_predictions", OwnKind::Counter),
            orders: tel.own("router_orders", OwnKind::Counter),
            fills: tel.own("router_fills", OwnKind::Counter),
            pnl: tel.own("router_pnl_currency", OwnKind::Gauge),
            killed: tel.own("router_killed", OwnKind::Gauge),
            rejects: Reject::ALL
                .iter()
                .map(|r| {
                    tel.own(
                        &format!("router_rejects{{reason=\"{}\"}}", r.name()),
                        OwnKind::Counter,
                    )
                })
                .collect(),
            positions: Vec::new(),
        }
    }

    fn update(&mut self, r: &Router<Box<dyn Gateway>>, tel: &mut StageTelemetry) {
        let count = |s: Option<OwnSlot>, v: u64| s.map(|s| tel.set_count(s, v));
        count(self.predictions, r.stats.predictions);
        count(self.orders, r.stats.orders);
        count(self.fills, r.stats.fills);
        for (s, n) in self.rejects.iter().zip(r.stats.rejects) {
            count(*s, n);
        }
        let gauge = |s: Option<OwnSlot>, v: f64| s.map(|s| tel.set_gauge(s, v));
        gauge(self.pnl, r.pnl());
        gauge(self.killed, r.is_killed() as u64 as f64);
        for (inst, _) in r.positions() {
            if !self.positions.iter().any(|(i, _)| *i == inst) {
                let name = format!("router_position_lots{{instrument=\"{inst}\"}}");
                if let Some(s) = tel.own(&name, OwnKind::Gauge) {
                    self.positions.push((inst, s));
                }
            }
        }
        for (inst, s) in &self.positions {
            tel.set_gauge(*s, r.position(*inst) as f64 / UNIT as f64);
        }
    }
}

impl OrderRouter {
    /// Closes the flight recorder's interval and publishes it and the run's.
    fn publish_slowest(&mut self, tel: &StageTelemetry, now: u64) {
        tel.publish_slowest_interval(self.flight.close(now));
        tel.publish_slowest_run(self.flight.run_block());
    }
}

impl Processor for OrderRouter {
    type In = Prediction;
    type Out = Order;
    type Error = std::io::Error;

    fn batch_size(&self) -> usize {
        64
    }

    #[inline]
    fn on_message(
        &mut self,
        p: &Prediction,
        out: &mut Emitter<'_, Order>,
    ) -> std::io::Result<Flow> {
        let step = self.router.on_prediction(p)?;
        let decided = monotonic_ns();
        // Tick to decision: every prediction decided here (a restart's
        // redelivered ones were decided by the predecessor).
        let ingest = p.trace.ingest_ns();
        if step != Step::Skipped && ingest != 0 {
            out.telemetry()
                .record_since(Metric::TickToDecision, ingest, decided);
            let read = out.read_ns();
            self.flight.offer(decided.saturating_sub(ingest), || {
                slow_decision(p, read, decided, step)
            });
        }
        if let Step::Sent(o) = step {
            // Tick to order: feed ingest to the order handed to the gateway.
            if out.emit_at(
                &mut o.to_wire(p.trace, p.prob_up, self.router.now()),
                decided,
            ) == Emitted::Stopped
            {
                return Ok(Flow::Stop);
            }
        }
        Ok(match self.until_seq {
            Some(u) if p.trace.seq >= u => Flow::Stop,
            _ => Flow::Continue,
        })
    }

    fn between_batches(&mut self, signals: &Signals) -> std::io::Result<()> {
        self.router.poll_venue()?;
        if self.router.is_killed() {
            return Ok(());
        }
        let tripped =
            signals.kill_switch() || self.kill_file.as_ref().is_some_and(FileWatch::take_news);
        if tripped {
            self.router.kill()?;
            eprintln!("order-router: kill switch: resting orders cancelled, no new orders");
        }
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.router.stats.rejects.iter().sum()
    }

    fn report(&mut self, tel: &mut StageTelemetry) {
        let report = self.report.get_or_insert_with(|| Report::declare(tel));
        report.update(&self.router, tel);
        let now = monotonic_ns();
        if self.flight.due(now) {
            self.publish_slowest(tel, now);
        }
    }

    fn at_end(&mut self, tel: &mut StageTelemetry) {
        self.publish_slowest(tel, monotonic_ns());
    }
}
