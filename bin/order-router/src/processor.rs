//! The order-router's processor: each prediction through sizing, risk and
//! the journal to the gateway, the order emitted downstream; and the kill
//! switches (SIGUSR1, a kill file) checked between batches.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tickline_router::{PaperExchange, Router, Step};
use tickline_schema::{Order, Prediction};
use tickline_stage::{Emitted, Emitter, Flow, Processor, Signals};

/// How often the kill file is looked for.
const KILL_FILE_CHECK: Duration = Duration::from_millis(100);

/// The router between predictions and orders, with its kill switches.
pub struct OrderRouter {
    pub router: Router<PaperExchange>,
    pub kill_file: Option<PathBuf>,
    pub last_kill_check: Instant,
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
        if let Step::Sent(o) = self.router.on_prediction(p)? {
            // Tick to order: feed ingest to the order handed to the gateway.
            if out.emit(&mut o.to_wire(p.trace, p.prob_up)) == Emitted::Stopped {
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
        let mut tripped = signals.kill_switch();
        if !tripped && self.last_kill_check.elapsed() > KILL_FILE_CHECK {
            self.last_kill_check = Instant::now();
            tripped = self.kill_file.as_ref().is_some_and(|f| f.exists());
        }
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
