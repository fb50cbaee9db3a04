//! order-router: predictions in, risk-sized and risk-checked orders out to a
//! gateway (the paper exchange), every order journaled before it leaves.
//! Restarted on the same journal it resumes exactly where it stopped.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_router::{
    FsyncPolicy, Journal, PaperExchange, Reject, RiskLimits, Router, RouterConfig, Sizing, Step,
    UNIT,
};
use tickline_schema::{prediction_csv, Order, Prediction, Stage, TimeInForce};
use tickline_shm::FullPolicy;
use tickline_stage::{
    queue_input, Batch, Emitted, Emitter, Endpoint, EndpointKind as K, Flow, Input, Processor,
    RowsInput, Runtime, Signals, StageArgs,
};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// --in: queue:NAME of Predictions, or csv:FILE recorded by
    /// `inference --out csv:FILE`; --out: orders to a downstream gateway
    /// process, queue:NAME or null.
    #[command(flatten)]
    stage: StageArgs,
    /// The journal (the order log): every order and execution.
    #[arg(long)]
    journal: PathBuf,
    /// always | every:N | never (the page cache still survives kill -9).
    #[arg(long, default_value = "every:64")]
    fsync: FsyncPolicy,
    /// No order while |p - 0.5| is below this.
    #[arg(long, default_value_t = 0.05)]
    band: f64,
    /// kelly:K:BUDGET_LOTS | linear:MAX_LOTS | capped:MAX_LOTS:CAP_LOTS
    #[arg(long, default_value = "kelly:0.5:100")]
    sizing: String,
    /// Lot size in instrument units (e.g. 1 share, 0.001 BTC).
    #[arg(long, default_value_t = 1.0)]
    lot: f64,
    #[arg(
        long,
        default_value_t = 50.0,
        help = "max |position| per instrument, lots"
    )]
    max_position: f64,
    #[arg(
        long,
        default_value_t = 1_000_000.0,
        help = "max gross notional, currency"
    )]
    max_gross: f64,
    #[arg(long, default_value_t = 10.0, help = "max order size, lots")]
    max_order: f64,
    #[arg(
        long,
        default_value_t = 20,
        help = "max orders per second of exchange time"
    )]
    max_rate: usize,
    #[arg(
        long,
        default_value_t = 10_000.0,
        help = "loss (currency) past which only reducing orders pass"
    )]
    max_loss: f64,
    #[arg(
        long,
        default_value_t = 50.0,
        help = "max distance of an order from mid, bps"
    )]
    band_bps: f64,
    /// Join the near touch with day orders instead of crossing with IOC.
    #[arg(long)]
    passive: bool,
    /// Paper exchange latency, ms of exchange time.
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Kill switch: cancel everything and stop trading once this file exists (or on SIGUSR1).
    #[arg(long)]
    kill_file: Option<PathBuf>,
    /// Judge each fill this many predictions later (hit rate).
    #[arg(long, default_value_t = 50)]
    horizon: u32,
    /// Exit after handling the prediction with this sequence number.
    #[arg(long)]
    until_seq: Option<u64>,
}

fn lots(x: f64, lot: i64) -> i64 {
    (x * lot as f64).round() as i64
}

fn sizing(spec: &str, lot: i64) -> Result<Sizing> {
    let f: Vec<&str> = spec.split(':').collect();
    let n = |i: usize| -> Result<f64> {
        f.get(i)
            .context("missing field")?
            .parse::<f64>()
            .with_context(|| format!("bad number in --sizing {spec:?}"))
    };
    Ok(match f[0] {
        "kelly" => Sizing::Kelly {
            k: n(1)?,
            budget: lots(n(2)?, lot),
        },
        "linear" => Sizing::Linear {
            max: lots(n(1)?, lot),
        },
        "capped" => Sizing::Capped {
            max: lots(n(1)?, lot),
            cap: lots(n(2)?, lot),
        },
        _ => bail!("--sizing: kelly:K:BUDGET, linear:MAX or capped:MAX:CAP (in lots)"),
    })
}

/// Risk limits, sizing and order style from the flags.
fn router_config(a: &Args) -> Result<RouterConfig> {
    if !(a.lot > 0.0 && a.band >= 0.0 && a.band < 0.5) {
        bail!("--lot must be positive and --band in [0, 0.5)");
    }
    let lot = (a.lot * UNIT as f64).round() as i64;
    Ok(RouterConfig {
        band: a.band,
        sizing: sizing(&a.sizing, lot)?,
        lot,
        limits: RiskLimits {
            max_position: lots(a.max_position, lot),
            max_gross_notional: a.max_gross,
            max_order_qty: lots(a.max_order, lot),
            max_orders_per_sec: a.max_rate,
            max_daily_loss: a.max_loss,
            price_band_bps: a.band_bps,
        },
        aggressive: !a.passive,
        tif: if a.passive {
            TimeInForce::Day
        } else {
            TimeInForce::ImmediateOrCancel
        },
    })
}

/// How often the kill file is looked for.
const KILL_FILE_CHECK: Duration = Duration::from_millis(100);

/// The router between predictions and orders, with its kill switches.
struct OrderRouter {
    router: Router<PaperExchange>,
    kill_file: Option<PathBuf>,
    last_kill_check: Instant,
    until_seq: Option<u64>,
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

fn main() -> Result<()> {
    let a = Args::parse();
    let cfg = router_config(&a)?;
    let signals = Signals::install()?.with_kill_switch()?;
    let (journal, recovered) = Journal::open(&a.journal, a.fsync)
        .with_context(|| format!("opening journal {}", a.journal.display()))?;
    if recovered.truncated_bytes > 0 {
        eprintln!(
            "order-router: cut {} bytes of a torn journal record",
            recovered.truncated_bytes
        );
    }
    let mut malformed = 0;
    let mut input: Box<dyn Input<Prediction>> = match a.stage.input(&[K::Queue, K::Csv])? {
        Endpoint::Queue(name) => Box::new(queue_input(name, a.stage.wait, &signals)?),
        Endpoint::Csv(path) => {
            // Alone, from a recording: same decisions, no queues.
            let f =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let (preds, bad, first_err) = prediction_csv::read(std::io::BufReader::new(f))?;
            if let Some(e) = first_err {
                eprintln!("order-router: {bad} malformed rows skipped; first at {e}");
            }
            malformed = bad;
            Box::new(RowsInput::new(preds))
        }
        _ => unreachable!("checked above"),
    };
    a.stage.output(&[K::Null, K::Queue])?;
    // Said at start, so a test (or an operator) sees what a restart resumes from.
    let next_input = match input.read(1) {
        Batch::Ready(b) => b.first().map(|p| p.trace.seq),
        _ => None,
    };
    println!(
        "{}",
        serde_json::json!({"resume": {"journal_last_seq": recovered.records.last().map(|r| r.seq()),
                                      "next_input_seq": next_input, "records": recovered.records.len()}})
    );
    let gw = PaperExchange::new((a.latency_ms * 1e6) as u64);
    let mut p = OrderRouter {
        router: Router::new(cfg, gw, Some(journal), &recovered.records, a.horizon),
        kill_file: a.kill_file.clone(),
        last_kill_check: Instant::now(),
        until_seq: a.until_seq,
    };
    let mut rt = Runtime::<Order>::new(Stage::Router, &a.stage, signals, FullPolicy::Block)?;
    rt.run(input.as_mut(), &mut p)?;
    println!("{}", rt.summary(summary(&mut p.router, &a, malformed)?));
    Ok(())
}

/// The router's own summary: orders, fills, rejects, positions, PnL.
fn summary(
    router: &mut Router<PaperExchange>,
    a: &Args,
    malformed: u64,
) -> Result<serde_json::Value> {
    router.sync()?;
    let st = &router.stats;
    let rejects: serde_json::Map<_, _> = Reject::ALL
        .iter()
        .filter(|r| st.rejects[**r as usize] > 0)
        .map(|r| (r.name().to_owned(), st.rejects[*r as usize].into()))
        .collect();
    let positions: serde_json::Map<_, _> = router
        .positions()
        .map(|(i, q)| (i.to_string(), (q as f64 / UNIT as f64).into()))
        .collect();
    Ok(serde_json::json!({
        "predictions": st.predictions,
        "malformed_input": malformed,
        "skipped_after_restart": st.skipped,
        "in_band": st.in_band,
        "at_target": st.at_target,
        "orders": st.orders,
        "fills": st.fills,
        "filled_qty": st.filled_qty as f64 / UNIT as f64,
        "rejects": rejects,
        "killed": router.is_killed(),
        "positions": positions,
        "pnl": router.pnl(),
        "hit_rate": if st.judged > 0 { st.hits as f64 / st.judged as f64 } else { f64::NAN },
        "judged_fills": st.judged,
        "journal": a.journal.display().to_string(),
    }))
}
