//! order-router: predictions in, risk-sized and risk-checked orders out to a
//! gateway (the paper exchange or a FIX venue), every order journaled before
//! it leaves. Restarted on the same journal it resumes exactly where it
//! stopped. `tickline-journal verify|dump FILE` checks or prints a journal.
#![forbid(unsafe_code)]

mod args;
mod processor;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use tickline_router::{Gateway, Journal, PaperExchange, QueueVenue, Reject, Router, UNIT};
use tickline_schema::venue::ExecReport;
use tickline_schema::{prediction_csv, Order, Prediction, Stage};
use tickline_shm::{Consumer, FullPolicy, Producer};
use tickline_stage::{
    queue_input, Batch, Endpoint, EndpointKind as K, FileWatch, Input, RowsInput, Runtime, Signals,
    Watch,
};

use args::{router_config, Args};
use processor::OrderRouter;

/// How often the kill file is looked for (off the hot thread).
const KILL_FILE_CHECK: Duration = Duration::from_millis(100);

fn main() -> std::process::ExitCode {
    tickline_stage::exit_code("tickline-order-router", run_main())
}

fn run_main() -> Result<()> {
    let a = Args::parse();
    let cfg = router_config(&a)?;
    let signals = Signals::install()?.with_kill_switch()?;
    let (journal, recovered) = Journal::open(&a.journal, a.fsync)?;
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
    a.stage.output(&[K::Null, K::Queue, K::File])?;
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
    let gw = open_gateway(&a, &signals)?;
    let mut p = OrderRouter {
        router: Router::new(cfg, gw, Some(journal), &recovered.records, a.horizon)?,
        kill_file: a
            .kill_file
            .clone()
            .map(|f| FileWatch::spawn(f, Watch::Exists, KILL_FILE_CHECK, || {}))
            .transpose()?,
        until_seq: a.until_seq,
        report: None,
        flight: tickline_telemetry::FlightRecorder::new(
            a.slowest_interval_ms.max(1) * 1_000_000,
            tickline_shm::monotonic_ns(),
        ),
    };
    // A venue process takes the orders queue itself (with cancels and the
    // router's clock): the runtime then publishes nothing.
    let mut rt_args = a.stage.clone();
    if a.venue.starts_with("sim:") {
        rt_args.out = Endpoint::Null;
    }
    let mut rt = Runtime::<Order>::new(Stage::Router, &rt_args, signals, FullPolicy::Block)?;
    rt.run(input.as_mut(), &mut p)?;
    println!("{}", rt.summary(&summary(&mut p.router, &a, malformed)?));
    Ok(())
}

/// The gateway `--venue` names: the paper exchange, a FIX 4.4 venue
/// through a session thread (its store beside the journal), or a venue
/// process over queues (orders on `--out`, reports on `sim:QUEUE`; with
/// `,lockstep`, reports taken at exchange times: deterministic replays).
fn open_gateway(a: &Args, signals: &Signals) -> Result<Box<dyn Gateway>> {
    if let Some(spec) = a.venue.strip_prefix("sim:") {
        let (reports, lockstep) = match spec.split_once(',') {
            None => (spec, false),
            Some((q, "lockstep")) => (q, true),
            Some((_, other)) => {
                anyhow::bail!("--venue sim:QUEUE[,lockstep]: unknown option {other:?}")
            }
        };
        let Endpoint::Queue(orders) = &a.stage.out else {
            anyhow::bail!("--venue sim:QUEUE needs --out queue:NAME for the orders");
        };
        let orders = Producer::<Order>::attach(orders, FullPolicy::Block, a.stage.wait)
            .with_context(|| format!("attaching the venue's order queue {orders}"))?
            .with_stop_flag(signals.stop_flag());
        let reports = Consumer::<ExecReport>::attach(reports, a.stage.wait)
            .with_context(|| format!("attaching the venue's report queue {reports}"))?
            .with_stop_flag(signals.stop_flag());
        let venue = QueueVenue::new(orders, reports);
        return Ok(Box::new(if lockstep { venue.lockstep() } else { venue }));
    }
    match a.venue.strip_prefix("fix:") {
        Some(spec) => {
            let mut dir = a.journal.clone().into_os_string();
            dir.push(".fix");
            let cfg = tickline_fix::FixConfig::parse(spec, dir.into())?;
            Ok(Box::new(tickline_fix::FixGateway::start(cfg)?))
        }
        None if a.venue == "paper" => Ok(Box::new(PaperExchange::new((a.latency_ms * 1e6) as u64))),
        None => anyhow::bail!(
            "--venue {:?}: expected paper, sim:QUEUE or fix:HOST:PORT[,...]",
            a.venue
        ),
    }
}

/// The router's own summary fields: orders, fills, rejects, positions, PnL.
#[derive(Serialize)]
struct Summary {
    predictions: u64,
    malformed_input: u64,
    skipped_after_restart: u64,
    in_band: u64,
    at_target: u64,
    orders: u64,
    fills: u64,
    filled_qty: f64,
    rejects: BTreeMap<&'static str, u64>,
    killed: bool,
    positions: BTreeMap<String, f64>,
    pnl: f64,
    hit_rate: f64,
    judged_fills: u64,
    reconciled_at_start: u64,
    journal: String,
    /// The gateway's kind (paper, fix) and its own counters.
    venue: &'static str,
    venue_counters: BTreeMap<&'static str, u64>,
}

/// Settles what the venue still owes, then sums up.
fn summary(router: &mut Router<Box<dyn Gateway>>, a: &Args, malformed: u64) -> Result<Summary> {
    // A FIX venue answers asynchronously: what it said before exit is journaled.
    let mut late = Vec::new();
    if !router.gateway_mut().settle(&mut late) {
        eprintln!("order-router: the venue left orders unanswered at exit");
    }
    router.journal_late(late)?;
    router.poll_venue()?;
    router.sync()?;
    let st = &router.stats;
    Ok(Summary {
        predictions: st.predictions,
        malformed_input: malformed,
        skipped_after_restart: st.skipped,
        in_band: st.in_band,
        at_target: st.at_target,
        orders: st.orders,
        fills: st.fills,
        filled_qty: st.filled_qty as f64 / UNIT as f64,
        rejects: Reject::ALL
            .iter()
            .map(|r| (r.name(), st.rejects[*r as usize]))
            .filter(|(_, n)| *n > 0)
            .collect(),
        killed: router.is_killed(),
        positions: router
            .positions()
            .map(|(i, q)| (i.to_string(), q as f64 / UNIT as f64))
            .collect(),
        pnl: router.pnl(),
        hit_rate: if st.judged > 0 {
            st.hits as f64 / st.judged as f64
        } else {
            f64::NAN
        },
        judged_fills: st.judged,
        reconciled_at_start: st.reconciled,
        journal: a.journal.display().to_string(),
        venue: router.gateway().kind(),
        venue_counters: router.gateway().counters().into_iter().collect(),
    })
}
