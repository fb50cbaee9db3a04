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
mod log;

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use tickline_schema::venue::{ExecKind, ExecReport};
use tickline_schema::{BookEvent, Order, Stage};
use tickline_shm::{Consumer, FullPolicy, Producer, Push};
use tickline_stage::{
    Emitter, Endpoint, EndpointKind as K, Flow, Processor, Runtime, Signals, StageArgs,
};
use tickline_venue::{write_report, VenueArgs, VenueStats, CSV_HEADER};

use input::{Resume, Shared, SimInput};
use log::InputLog;

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
    /// Log every input here before it is taken, and take a predecessor's
    /// again at start: a simulator killed at any point goes on exactly.
    #[arg(long)]
    input_log: Option<PathBuf>,
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
    /// Reports up to this sequence number a predecessor published: made
    /// again from its logged inputs, not published again.
    already: u64,
    caught_up: bool,
    /// Promises made (lockstep).
    promises: u64,
    csv_error: Option<std::io::Error>,
}

impl Sim {
    /// Pushes the reports made so far (and records them).
    fn flush(&mut self) -> Flow {
        let mut s = self.shared.borrow_mut();
        for r in s.reports.drain(..) {
            // A promise is outside the venue's numbering and its record.
            let promise = r.exec_kind() == Some(ExecKind::Promise);
            if let (Some(w), false) = (&mut self.csv, promise) {
                if let Err(e) = write_report(w, &r) {
                    self.csv_error.get_or_insert(e);
                }
            }
            if r.report_seq <= self.already && !promise {
                continue;
            }
            if self.out.push(&r) == Push::Stopped {
                return Flow::Stop;
            }
            self.published += !promise as u64;
        }
        Flow::Continue
    }

    /// The router asked how far the venue has answered (lockstep). With no
    /// response latency a promise cannot reach the last event's time, and
    /// the router would wait at the end of the data for ever: refused.
    fn promise_if_asked(&mut self) -> std::io::Result<()> {
        let mut s = self.shared.borrow_mut();
        if s.sync_wanted && s.venue.min_response_ns() == 0 {
            return Err(std::io::Error::other(
                "the router runs in lockstep (--venue sim:QUEUE,lockstep), which needs a response latency above 0 (--latency constant:E:R with R > 0)",
            ));
        }
        if std::mem::take(&mut s.sync_wanted) {
            let Shared { venue, reports, .. } = &mut *s;
            venue.promise(reports);
            self.promises += 1;
        }
        Ok(())
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
    type Error = std::io::Error;

    fn batch_size(&self) -> usize {
        64
    }

    #[inline]
    fn on_message(
        &mut self,
        e: &BookEvent,
        _out: &mut Emitter<'_, ExecReport>,
    ) -> Result<Flow, Self::Error> {
        self.shared.borrow_mut().take_book(e);
        Ok(self.flush())
    }

    fn between_batches(&mut self, _signals: &Signals) -> Result<(), Self::Error> {
        self.promise_if_asked()?;
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
    /// Reports published by this process.
    reports: u64,
    caught_up: bool,
    /// Promises made to a router in lockstep.
    promises: u64,
    /// Inputs a predecessor logged, taken again at start.
    rebuilt_from_inputs: usize,
    /// A predecessor published reports and there was no input log: its
    /// resting orders and queue positions died with it.
    lost_state: bool,
    input_log_error: Option<String>,
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

/// The three queues' ends.
struct Queues {
    book: Consumer<BookEvent>,
    orders: Consumer<Order>,
    out: Producer<ExecReport>,
}

fn attach_queues(a: &Args, signals: &Signals) -> Result<Queues> {
    let orders_q = queue_name(a.stage.input(&[K::Queue])?, "--in")?;
    let reports_q = queue_name(&a.stage.out, "--out")?;
    let book_q = queue_name(&a.book, "--book")?;
    let stop = signals.stop_flag();
    let attach = |what: &str, q: &str| format!("attaching {what} queue {q}");
    Ok(Queues {
        book: Consumer::<BookEvent>::attach(book_q, a.stage.wait)
            .with_context(|| attach("market data", book_q))?
            .with_stop_flag(stop.clone()),
        orders: Consumer::<Order>::attach(orders_q, a.stage.wait)
            .with_context(|| attach("orders", orders_q))?
            .with_stop_flag(stop.clone()),
        out: Producer::<ExecReport>::attach(reports_q, FullPolicy::Block, a.stage.wait)
            .with_context(|| attach("reports", reports_q))?
            .with_stop_flag(stop),
    })
}

fn open_csv(a: &Args) -> Result<Option<BufWriter<File>>> {
    let Some(p) = &a.reports_csv else {
        return Ok(None);
    };
    let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
    let mut w = BufWriter::new(f);
    writeln!(w, "{CSV_HEADER}")?;
    Ok(Some(w))
}

/// A predecessor's logged inputs taken again (its reports made again, to
/// be published only past what it published), and the log to go on with.
fn rebuild(a: &Args, q: &Queues, shared: &mut Shared) -> Result<(Option<InputLog>, Resume, usize)> {
    let Some(path) = &a.input_log else {
        return Ok((None, Resume::default(), 0));
    };
    let (log, logged) = InputLog::open(path, q.book.created_unix_ns(), q.orders.created_unix_ns())?;
    for input in &logged.inputs {
        match input {
            log::Input::Book(e) => shared.take_book(e),
            log::Input::Order(o) => shared.take_order(o),
        }
    }
    let resume = Resume {
        next_book: logged.next_book,
        next_order: logged.next_order,
    };
    Ok((Some(log), resume, logged.inputs.len()))
}

fn run_main() -> Result<()> {
    let a = Args::parse();
    let signals = Signals::install()?;
    let q = attach_queues(&a, &signals)?;
    let already = q.out.last_published().map_or(0, |r| r.report_seq);
    let mut shared = Shared {
        venue: a.venue.venue()?,
        reports: Vec::with_capacity(1024),
        watermark: 0,
        router_done: false,
        sync_wanted: false,
        lockstep: false,
        drained: false,
        bad_orders: 0,
        log_failed: None,
    };
    let (log, resume, rebuilt) = rebuild(&a, &q, &mut shared)?;
    if already > 0 && a.input_log.is_none() {
        eprintln!("venue-sim: a predecessor published reports, and there is no --input-log: its resting orders are lost");
    }
    let shared = Rc::new(RefCell::new(shared));
    let mut input = SimInput::new((q.book, q.orders), shared.clone(), log, resume);
    let mut sim = Sim {
        shared,
        out: q.out,
        csv: open_csv(&a)?,
        published: 0,
        already,
        caught_up: false,
        promises: 0,
        csv_error: None,
    };
    // The reports queue is the processor's own; the runtime publishes nothing.
    let mut rt_args = a.stage.clone();
    rt_args.out = Endpoint::Null;
    let mut rt = Runtime::<ExecReport>::new(Stage::Venue, &rt_args, signals, FullPolicy::Block)?;
    rt.run(&mut input, &mut sim)?;
    input.write_log();
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
        promises: sim.promises,
        rebuilt_from_inputs: rebuilt,
        lost_state: already > 0 && a.input_log.is_none(),
        input_log_error: s.log_failed.clone(),
        open_at_end: s.venue.open_orders(),
        bad_order_messages: s.bad_orders,
        reports_csv_error: sim.csv_error.as_ref().map(|e| e.to_string()),
        venue: s.venue.stats.clone(),
    };
    println!("{}", rt.summary(&own));
    Ok(())
}
