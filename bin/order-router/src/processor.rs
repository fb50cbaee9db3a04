//! The order-router's processor: each prediction through sizing, risk and
//! the journal to the gateway, the order emitted downstream; and the kill
//! switches (SIGUSR1, a kill file) checked between batches.

use tickline_router::{PaperExchange, Router, Step};
use tickline_schema::telemetry::Metric;
use tickline_schema::{Order, Prediction};
use tickline_shm::monotonic_ns;
use tickline_stage::{Emitted, Emitter, FileWatch, Flow, Processor, Signals};

/// The router between predictions and orders, with its kill switches.
pub struct OrderRouter {
    pub router: Router<PaperExchange>,
    /// Looks for the kill file off the hot thread.
    pub kill_file: Option<FileWatch>,
    pub until_seq: Option<u64>,
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
        if step != Step::Skipped {
            out.telemetry()
                .record_since(Metric::TickToDecision, p.trace.ingest_ns(), decided);
        }
        if let Step::Sent(o) = step {
            // Tick to order: feed ingest to the order handed to the gateway.
            if out.emit_at(&mut o.to_wire(p.trace, p.prob_up), decided) == Emitted::Stopped {
                return Ok(Flow::Stop);
            }
        }
        Ok(match self.until_seq {
            Some(u) if p.trace.seq >= u => Flow::Stop,
            _ => Flow::Continue,
        })
    }

    fn between_batches(&mut self, signals: &Signals) -> std::io::Result<()> {
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
}
