//! feature: book events in, feature vectors out.
//!
//! Online: `--in queue:BOOKS --out queue:FEATURES` (the pipeline stage).
//! Offline: `--in source:SPEC --out csv:FILE` runs a feed source in-process
//! (the same code as the feed-handler) and records every vector with its
//! label, the mid's move over the next `--horizon` events: training data
//! computed by exactly the code that serves.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_features::{formulas, FeatureConfig, FeatureEngine, FEATURE_NAMES, N_FEATURES};
use tickline_feed::{Books, FeedStats, Source, Step};
use tickline_schema::telemetry::Metric;
use tickline_schema::{BookEvent, FeatureVector, Stage, FIXED_SCALE, MAX_LEVELS};
use tickline_shm::{monotonic_ns, Consumer, FullPolicy, Producer, Push, WaitOutcome, WaitStrategy};
use tickline_telemetry::StageTelemetry;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Publish latency histograms and counters to this stats board.
    #[arg(long)]
    stats: Option<String>,
    /// queue:NAME (BookEvents) or source:SPEC (a feed source run in-process).
    #[arg(long = "in")]
    input: String,
    /// null | queue:NAME (FeatureVectors) | csv:FILE (with labels).
    #[arg(long, default_value = "null")]
    out: String,
    /// Label horizon, in events of the same instrument (csv output).
    #[arg(long, default_value_t = 50)]
    horizon: usize,
    /// Book levels per side, as the feed-handler's --levels (source input).
    #[arg(long, default_value_t = MAX_LEVELS)]
    levels: usize,
    /// Tick size in price units, for spread_ticks and labels.
    #[arg(long, default_value_t = 0.01)]
    tick: f64,
    /// Wait strategy on the input queue.
    #[arg(long, default_value = "block")]
    wait: WaitStrategy,
    /// Input messages taken per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Stop after this many events.
    #[arg(long)]
    limit: Option<u64>,
}

enum Input {
    Queue(Consumer<BookEvent>),
    Source {
        src: Box<dyn Source>,
        books: Books,
        stats: Box<FeedStats>,
        seq: u64,
        levels: usize,
    },
}

/// Writes labelled rows once the horizon has passed for each instrument.
/// Mids stay in fixed-point units (exact half-integers) until written.
struct CsvOut {
    w: BufWriter<File>,
    horizon: usize,
    tick_fixed: f64,
    /// Per instrument: vectors waiting for their label, with their mid.
    pending: Vec<VecDeque<(FeatureVector, f64)>>,
    rows: u64,
    unlabelled: u64,
}

impl CsvOut {
    fn create(path: &str, horizon: usize, tick_fixed: i64) -> Result<Self> {
        let mut w = BufWriter::new(File::create(path).with_context(|| format!("creating {path}"))?);
        write!(w, "seq,instrument_id,exchange_ns")?;
        for n in FEATURE_NAMES {
            write!(w, ",{n}")?;
        }
        writeln!(w, ",defaulted,mid,future_mid_change_ticks,label_up")?;
        Ok(CsvOut {
            w,
            horizon: horizon.max(1),
            tick_fixed: tick_fixed as f64,
            pending: Vec::new(),
            rows: 0,
            unlabelled: 0,
        })
    }

    fn push(&mut self, fv: &FeatureVector, mid: f64) -> Result<()> {
        let i = fv.instrument_id as usize;
        if i >= self.pending.len() {
            self.pending
                .resize_with(i + 1, || VecDeque::with_capacity(self.horizon + 1));
        }
        let q = &mut self.pending[i];
        q.push_back((*fv, mid));
        if q.len() <= self.horizon {
            return Ok(());
        }
        let (old, old_mid) = q.pop_front().expect("longer than the horizon");
        if !(old_mid.is_finite() && mid.is_finite()) {
            self.unlabelled += 1;
            return Ok(());
        }
        let change = (mid - old_mid) / self.tick_fixed;
        let price = old_mid / FIXED_SCALE as f64;
        let w = &mut self.w;
        write!(
            w,
            "{},{},{}",
            old.trace.seq, old.instrument_id, old.trace.exchange_ns
        )?;
        // f32 Display is the shortest text that parses back to the same bits.
        for v in &old.values[..N_FEATURES] {
            write!(w, ",{v}")?;
        }
        writeln!(
            w,
            ",{},{price},{change},{}",
            old.defaulted,
            (change > 0.0) as u8
        )?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(u64, u64)> {
        self.w.flush()?;
        let waiting: usize = self.pending.iter().map(VecDeque::len).sum();
        Ok((self.rows, self.unlabelled + waiting as u64))
    }
}

enum Out {
    Null,
    Queue(Producer<FeatureVector>),
    Csv(Box<CsvOut>),
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.levels == 0 || args.levels > MAX_LEVELS {
        bail!("--levels must be 1..={MAX_LEVELS}");
    }
    if !(args.tick.is_finite() && args.tick > 0.0) {
        bail!("--tick must be positive");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let tick_fixed = (args.tick * FIXED_SCALE as f64).round() as i64;
    let mut engine = FeatureEngine::new(FeatureConfig {
        tick: tick_fixed,
        ..Default::default()
    });
    let mut input = match args.input.split_once(':') {
        Some(("queue", name)) => Input::Queue(
            Consumer::attach(name, args.wait)
                .with_context(|| format!("attaching to input queue {name}"))?
                .with_stop_flag(stop.clone()),
        ),
        Some(("source", spec)) => Input::Source {
            src: tickline_feed::open_source(spec).map_err(anyhow::Error::msg)?,
            books: Books::default(),
            stats: Box::default(),
            seq: 0,
            levels: args.levels,
        },
        _ => bail!("bad --in {:?}: queue:NAME or source:SPEC", args.input),
    };
    let mut out = match args.out.split_once(':') {
        None if args.out == "null" => Out::Null,
        Some(("queue", name)) => Out::Queue(
            Producer::attach(name, FullPolicy::Block, args.wait)
                .with_context(|| format!("attaching to output queue {name}"))?
                .with_stop_flag(stop.clone()),
        ),
        Some(("csv", path)) => Out::Csv(Box::new(CsvOut::create(path, args.horizon, tick_fixed)?)),
        _ => bail!("bad --out {:?}: null, queue:NAME or csv:FILE", args.out),
    };
    // Exactly-once output: events up to the output's last sequence number were
    // published by a predecessor. They still pass through the engine when
    // they are still uncommitted in the input, so its windows warm up.
    let resume_after = match &out {
        Out::Queue(p) => p.last_published().map(|f| f.trace.seq),
        _ => None,
    };
    let mut tel = StageTelemetry::new(args.stats.as_deref(), Duration::from_millis(250))?;
    let mut fv: FeatureVector = bytemuck::Zeroable::zeroed();
    let mut batch: Vec<BookEvent> = Vec::with_capacity(args.batch.max(1));
    let (mut events, mut published, mut skipped) = (0u64, 0u64, 0u64);
    let mut engine_ns = 0u64;
    let started = Instant::now();
    'run: while !stop.load(Ordering::Relaxed) {
        // Take a batch of book events.
        batch.clear();
        match &mut input {
            Input::Queue(c) => {
                let slots = c.read_slots(args.batch.max(1));
                if slots.is_empty() {
                    if c.wait(None) == WaitOutcome::Stopped {
                        break;
                    }
                    continue;
                }
                batch.extend_from_slice(slots);
            }
            Input::Source {
                src,
                books,
                stats,
                seq,
                levels,
            } => {
                while batch.len() < batch.capacity() {
                    match src.next(books, stats) {
                        Step::Event(ev) => {
                            let mut e: BookEvent = bytemuck::Zeroable::zeroed();
                            books.fill_event(&ev, *levels, &mut e);
                            e.trace.seq = *seq;
                            e.trace.stamp(Stage::Feed, monotonic_ns());
                            *seq += 1;
                            batch.push(e);
                        }
                        Step::Skip | Step::Idle => {}
                        Step::End => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
            }
        }
        let t0 = monotonic_ns();
        let mut t_prev = t0;
        let published_before = published;
        for e in &batch {
            let fed = e.trace.stamps[Stage::Feed as usize];
            tel.record_since(Metric::QueueWait, fed, t0);
            engine.update(e, &mut fv);
            events += 1;
            if resume_after.is_some_and(|r| e.trace.seq <= r) {
                skipped += 1;
                continue;
            }
            fv.trace.stamp(Stage::Feature, monotonic_ns());
            match &mut out {
                Out::Null => {
                    std::hint::black_box(&fv);
                }
                Out::Queue(p) => {
                    if p.push(&fv) == Push::Stopped {
                        break 'run;
                    }
                }
                Out::Csv(w) => w.push(&fv, formulas::mid(e).unwrap_or(f64::NAN))?,
            }
            published += 1;
            let t = monotonic_ns();
            tel.record(Metric::Service, t - t_prev);
            tel.record_since(Metric::EndToEnd, fed, t);
            t_prev = t;
            if args.limit.is_some_and(|l| published >= l) {
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        let t1 = monotonic_ns();
        engine_ns += t1 - t0;
        tel.count(batch.len() as u64, published - published_before, 0);
        tel.tick(t1);
        // Commit input only once its outputs are published.
        if let Input::Queue(c) = &mut input {
            c.commit(batch.len());
            c.beat();
        }
    }
    let elapsed = started.elapsed();
    tel.publish(monotonic_ns());
    let (rows, unlabelled) = match out {
        Out::Csv(w) => w.finish()?,
        _ => (0, 0),
    };
    let defaulted: serde_json::Map<_, _> = FEATURE_NAMES
        .iter()
        .zip(engine.stats.defaulted)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n.into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "stage": "feature",
            "events": events,
            "published": published,
            "skipped_on_resume": skipped,
            "resumed_after_seq": resume_after,
            "csv_rows": rows,
            "unlabelled": unlabelled,
            "defaulted": defaulted,
            "window_overflows": engine.stats.window_overflows,
            "elapsed_s": elapsed.as_secs_f64(),
            "events_per_s": events as f64 / elapsed.as_secs_f64().max(1e-9),
            "ns_per_event": engine_ns as f64 / events.max(1) as f64,
            "latency_ns": tel.summary(),
        })
    );
    Ok(())
}
