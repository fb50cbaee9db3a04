//! order-router: predictions in, risk-sized and risk-checked orders out to a
//! gateway (the paper exchange), every order journaled before it leaves.
//! Restarted on the same journal it resumes exactly where it stopped.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_router::{
    FsyncPolicy, Journal, PaperExchange, Reject, RiskLimits, Router, RouterConfig, Sizing, Step,
    UNIT,
};
use tickline_schema::telemetry::Metric;
use tickline_schema::{prediction_csv, Order, Prediction, Stage, TimeInForce};
use tickline_shm::{monotonic_ns, Consumer, FullPolicy, Producer, WaitOutcome, WaitStrategy};
use tickline_telemetry::StageTelemetry;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// queue:NAME of Predictions, or csv:FILE recorded by `inference --out csv:FILE`.
    #[arg(long = "in")]
    input: String,
    /// Orders to a downstream gateway process: queue:NAME, or null.
    #[arg(long, default_value = "null")]
    out: String,
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
    #[arg(long, default_value = "block")]
    wait: WaitStrategy,
    /// Publish latency histograms and counters to this stats board.
    #[arg(long)]
    stats: Option<String>,
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

fn main() -> Result<()> {
    let a = Args::parse();
    if !(a.lot > 0.0 && a.band >= 0.0 && a.band < 0.5) {
        bail!("--lot must be positive and --band in [0, 0.5)");
    }
    let lot = (a.lot * UNIT as f64).round() as i64;
    let cfg = RouterConfig {
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
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let kill_signal = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, kill_signal.clone())?;

    let (journal, recovered) = Journal::open(&a.journal, a.fsync)
        .with_context(|| format!("opening journal {}", a.journal.display()))?;
    if recovered.truncated_bytes > 0 {
        eprintln!(
            "order-router: cut {} bytes of a torn journal record",
            recovered.truncated_bytes
        );
    }
    let gw = PaperExchange::new((a.latency_ms * 1e6) as u64);
    let mut router = Router::new(cfg, gw, Some(journal), &recovered.records, a.horizon);
    if let Some(path) = a.input.strip_prefix("csv:") {
        // Alone, from a recording: same decisions, no queues.
        let f = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        let (preds, bad, first_err) = prediction_csv::read(std::io::BufReader::new(f))?;
        if let Some(e) = first_err {
            eprintln!("order-router: {bad} malformed rows skipped; first at {e}");
        }
        for p in &preds {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if !router.is_killed() && kill_signal.load(Ordering::Relaxed) {
                router.kill()?;
            }
            router.on_prediction(p)?;
            if a.until_seq.is_some_and(|u| p.trace.seq >= u) {
                break;
            }
        }
        return summary(&mut router, &a, bad, serde_json::Value::Null);
    }
    let name = a
        .input
        .strip_prefix("queue:")
        .context("--in must be queue:NAME or csv:FILE")?;
    let mut input = Consumer::<Prediction>::attach(name, a.wait)
        .with_context(|| format!("attaching to input queue {name}"))?
        .with_stop_flag(stop.clone());
    let mut out = match a.out.split_once(':') {
        None if a.out == "null" => None,
        Some(("queue", q)) => Some(
            Producer::<Order>::attach(q, FullPolicy::Block, a.wait)
                .with_context(|| format!("attaching to output queue {q}"))?
                .with_stop_flag(stop.clone()),
        ),
        _ => bail!("bad --out {:?}: queue:NAME or null", a.out),
    };
    // Said at start, so a test (or an operator) sees what a restart resumes from.
    let journal_last = recovered.records.last().map(|r| r.seq());
    let next_input = input.read_slots(1).first().map(|p| p.trace.seq);
    println!(
        "{}",
        serde_json::json!({"resume": {"journal_last_seq": journal_last, "next_input_seq": next_input,
                                      "records": recovered.records.len()}})
    );
    let mut tel = StageTelemetry::new(a.stats.as_deref(), Duration::from_millis(250))?;
    let mut batch: Vec<Prediction> = Vec::with_capacity(64);
    let mut last_kill_check = Instant::now();
    let mut last_seq = None;
    'run: while !stop.load(Ordering::Relaxed) {
        let kill_file = || a.kill_file.as_ref().is_some_and(|f| f.exists());
        if !router.is_killed()
            && (kill_signal.load(Ordering::Relaxed)
                || (last_kill_check.elapsed() > Duration::from_millis(100) && kill_file()))
        {
            router.kill()?;
            eprintln!("order-router: kill switch: resting orders cancelled, no new orders");
        }
        if last_kill_check.elapsed() > Duration::from_millis(100) {
            last_kill_check = Instant::now();
        }
        batch.clear();
        let slots = input.read_slots(64);
        if slots.is_empty() {
            if input.wait(Some(Duration::from_millis(100))) == WaitOutcome::Stopped {
                break;
            }
            continue;
        }
        batch.extend_from_slice(slots);
        let t_read = monotonic_ns();
        let mut t_prev = t_read;
        let orders_before = router.stats.orders;
        for p in &batch {
            tel.record_since(
                Metric::QueueWait,
                p.trace.stamps[Stage::Inference as usize],
                t_read,
            );
            let step = router.on_prediction(p)?;
            if let Step::Sent(o) = step {
                let mut trace = p.trace;
                let sent = monotonic_ns();
                trace.stamp(Stage::Router, sent);
                // Tick to order: feed ingest to the order handed to the gateway.
                tel.record_since(Metric::EndToEnd, trace.stamps[Stage::Feed as usize], sent);
                if let Some(q) = &mut out {
                    if q.push(&o.to_wire(trace, p.prob_up)) == tickline_shm::Push::Stopped {
                        break 'run;
                    }
                }
            }
            let t = monotonic_ns();
            tel.record(Metric::Service, t - t_prev);
            t_prev = t;
            last_seq = Some(p.trace.seq);
        }
        // Commit once the batch's orders are journaled and sent.
        input.commit(batch.len());
        input.beat();
        tel.count(batch.len() as u64, router.stats.orders - orders_before, 0);
        tel.set_errors(router.stats.rejects.iter().sum());
        tel.tick(t_prev);
        if a.until_seq
            .is_some_and(|u| last_seq.is_some_and(|l| l >= u))
        {
            break;
        }
    }
    tel.publish(monotonic_ns());
    let latency = tel.summary();
    summary(&mut router, &a, 0, latency)
}

fn summary(
    router: &mut Router<PaperExchange>,
    a: &Args,
    malformed: u64,
    latency: serde_json::Value,
) -> Result<()> {
    router.sync()?;
    let st = &router.stats;
    let rejects: serde_json::Map<_, _> = Reject::ALL
        .iter()
        .filter(|r| st.rejects[**r as usize] > 0)
        .map(|r| (r.name().to_owned(), st.rejects[*r as usize].into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "stage": "order-router",
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
            "positions": router.positions().map(|(i, q)| (i.to_string(), (q as f64 / UNIT as f64).into())).collect::<serde_json::Map<_, _>>(),
            "pnl": router.pnl(),
            "hit_rate": if st.judged > 0 { st.hits as f64 / st.judged as f64 } else { f64::NAN },
            "judged_fills": st.judged,
            "journal": a.journal.display().to_string(),
            "latency_ns": latency,
        })
    );
    Ok(())
}
