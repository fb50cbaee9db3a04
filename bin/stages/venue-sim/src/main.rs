//! venue-sim: the venue in a replay. The router's orders in (`--in`, the
//! router's `--out` queue), execution reports out (`--out`, read by the
//! router's `--venue sim:QUEUE`), filled against the market data the feed
//! also gives it (`--book`, one of the feed's `--also-out` queues), with
//! queue position, order latency and fees, all in exchange time: the same
//! orders over the same data give the same reports every run.
//!
//! It is beside the decision path: the router never waits for it.
#![forbid(unsafe_code)]

mod input;

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use tickline_schema::venue::ExecReport;
use tickline_schema::{BookEvent, Order, Stage};
use tickline_shm::{Consumer, FullPolicy, Producer, Push};
use tickline_stage::{
    Emitter, Endpoint, EndpointKind as K, Flow, Processor, Runtime, Signals, StageArgs,
};
use tickline_venue::{write_report, VenueArgs, VenueStats, CSV_HEADER};

use input::{Shared, SimInput};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// --in: queue:NAME of the router's orders; --out: queue:NAME of the
    /// reports the router reads.
    #[command(flatten)]
    stage: StageArgs,
    /// The market data: queue:NAME, a queue the feed fans out to.
    #[arg(long)]
    book: Endpoint,
    #[command(flatten)]
    venue: VenueArgs,
    /// Write every report here as CSV (fills, refusals...), for the report
    /// and for checking against another simulator.
    #[arg(long)]
    reports_csv: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    tickline_stage::exit_code("tickline-venue-sim", run_main())
}

/// Publishes the venue's reports; says when it has caught up at the end.
struct Sim {
    shared: Rc<RefCell<Shared>>,
    out: Producer<ExecReport>,
    csv: Option<BufWriter<File>>,
    published: u64,
    caught_up: bool,
    csv_error: Option<std::io::Error>,
}

impl Sim {
    /// Pushes the reports made so far (and records them).
    fn flush(&mut self) -> Flow {
        let mut s = self.shared.borrow_mut();
        for r in s.reports.drain(..) {
            if let Some(w) = &mut self.csv {
                if let Err(e) = write_report(w, &r) {
                    self.csv_error.get_or_insert(e);
                }
            }
            if self.out.push(&r) == Push::Stopped {
                return Flow::Stop;
            }
            self.published += 1;
        }
        Flow::Continue
    }

    /// Once the router is done and the market data taken: the orders still
    /// on their way arrive, and the router hears that all is answered.
    fn finish_if_drained(&mut self) {
        let mut s = self.shared.borrow_mut();
        if self.caught_up || !s.drained {
            return;
        }
        let Shared { venue, reports, .. } = &mut *s;
        venue.finish(reports);
        let done = venue.caught_up(u64::MAX);
        reports.push(done);
        self.caught_up = true;
    }
}

impl Processor for Sim {
    type In = BookEvent;
    type Out = ExecReport;
    type Error = std::convert::Infallible;

    fn batch_size(&self) -> usize {
        64
    }

    #[inline]
    fn on_message(
        &mut self,
        e: &BookEvent,
        _out: &mut Emitter<'_, ExecReport>,
    ) -> Result<Flow, Self::Error> {
        {
            let mut s = self.shared.borrow_mut();
            let Shared { venue, reports, .. } = &mut *s;
            venue.on_book(e, reports);
        }
        Ok(self.flush())
    }

    fn between_batches(&mut self, _signals: &Signals) -> Result<(), Self::Error> {
        self.finish_if_drained();
        self.flush();
        Ok(())
    }

    fn errors(&self) -> u64 {
        let s = self.shared.borrow();
        s.bad_orders + s.venue.stats.bad_events
    }
}

/// The simulator's own summary fields.
#[derive(Serialize)]
struct Summary {
    queue_model: String,
    latency: String,
    reports: u64,
    caught_up: bool,
    /// A predecessor published reports on this queue: its resting orders
    /// and queue positions died with it (they are not rebuilt).
    restarted_without_state: bool,
    open_at_end: (usize, usize),
    bad_order_messages: u64,
    reports_csv_error: Option<String>,
    venue: VenueStats,
}

fn queue_name<'a>(e: &'a Endpoint, flag: &'static str) -> Result<&'a str> {
    match e.expect(flag, &[K::Queue])? {
        Endpoint::Queue(n) => Ok(n),
        _ => unreachable!("checked to be a queue"),
    }
}

fn run_main() -> Result<()> {
    let a = Args::parse();
    let signals = Signals::install()?;
    let orders_q = queue_name(a.stage.input(&[K::Queue])?, "--in")?;
    let reports_q = queue_name(&a.stage.out, "--out")?;
    let book_q = queue_name(&a.book, "--book")?;
    let stop = signals.stop_flag();
    let attach = |what: &str, q: &str| format!("attaching {what} queue {q}");
    let book = Consumer::<BookEvent>::attach(book_q, a.stage.wait)
        .with_context(|| attach("market data", book_q))?
        .with_stop_flag(stop.clone());
    let orders = Consumer::<Order>::attach(orders_q, a.stage.wait)
        .with_context(|| attach("orders", orders_q))?
        .with_stop_flag(stop.clone());
    let out = Producer::<ExecReport>::attach(reports_q, FullPolicy::Block, a.stage.wait)
        .with_context(|| attach("reports", reports_q))?
        .with_stop_flag(stop);
    let restarted = out.last_published().is_some();
    if restarted {
        eprintln!("venue-sim: a predecessor's reports are on {reports_q}: its resting orders are not rebuilt");
    }
    let mut csv = match &a.reports_csv {
        Some(p) => Some(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    if let Some(w) = &mut csv {
        writeln!(w, "{CSV_HEADER}")?;
    }
    let shared = Rc::new(RefCell::new(Shared {
        venue: a.venue.venue()?,
        reports: Vec::with_capacity(1024),
        watermark: 0,
        router_done: false,
        drained: false,
        bad_orders: 0,
    }));
    let mut input = SimInput::new(book, orders, shared.clone());
    let mut sim = Sim {
        shared,
        out,
        csv,
        published: 0,
        caught_up: false,
        csv_error: None,
    };
    // The reports queue is the processor's own; the runtime publishes nothing.
    let mut rt_args = a.stage.clone();
    rt_args.out = Endpoint::Null;
    let mut rt = Runtime::<ExecReport>::new(Stage::Venue, &rt_args, signals, FullPolicy::Block)?;
    rt.run(&mut input, &mut sim)?;
    sim.flush();
    if let Some(w) = &mut sim.csv {
        if let Err(e) = w.flush() {
            sim.csv_error.get_or_insert(e);
        }
    }
    let s = sim.shared.borrow();
    let own = Summary {
        queue_model: a.venue.queue_model.clone(),
        latency: a.venue.latency.clone(),
        reports: sim.published,
        caught_up: sim.caught_up,
        restarted_without_state: restarted,
        open_at_end: s.venue.open_orders(),
        bad_order_messages: s.bad_orders,
        reports_csv_error: sim.csv_error.as_ref().map(|e| e.to_string()),
        venue: s.venue.stats.clone(),
    };
    println!("{}", rt.summary(&own));
    Ok(())
}
