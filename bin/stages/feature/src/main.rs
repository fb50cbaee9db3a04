//! feature: book events in, feature vectors out.
//!
//! Online: `--in queue:BOOKS --out queue:FEATURES` (the pipeline stage).
//! Offline: `--in source:SPEC --out csv:FILE` runs a feed source in-process
//! (the same code as the feed-handler) and records every vector with its
//! label, the mid's move over the next `--horizon` events: training data
//! computed by exactly the code that serves.
//!
//! With `--state PREFIX` the engine's windows live in shared memory and
//! every event's update commits atomically, so a stage killed at any point
//! and restarted emits exactly the vectors an uninterrupted one would.
#![forbid(unsafe_code)]

mod state;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Serialize;
use state::{ShmStore, Store};
use tickline_features::training::LabelledCsv;
use tickline_features::{
    block_words, formulas, Applied, FeatureConfig, FeatureEngine, HeapStore, FEATURE_NAMES,
};
use tickline_feed::{EventReader, SourceInput};
use tickline_schema::{BookEvent, FeatureVector, Stage, FIXED_SCALE, MAX_LEVELS};
use tickline_shm::FullPolicy;
use tickline_stage::{
    queue_input, Emitted, Emitter, Endpoint, EndpointKind as K, Flow, Input, Processor, Runtime,
    Signals, StageArgs,
};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    stage: StageArgs,
    /// Label horizon, in events of the same instrument (csv output).
    #[arg(long, default_value_t = 50)]
    horizon: usize,
    /// Book levels per side, as the feed-handler's --levels (source input).
    #[arg(long, default_value_t = MAX_LEVELS)]
    levels: usize,
    /// Tick size in price units, for spread_ticks and labels.
    #[arg(long, default_value_t = 0.01)]
    tick: f64,
    /// Input messages taken per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Keep the engine's state in shared memory, one segment per instrument
    /// named PREFIX-<instrument>, so a restarted stage continues exactly
    /// where its predecessor stopped (queue input only).
    #[arg(long, value_name = "PREFIX")]
    state: Option<String>,
}

/// The feature engine between book events and vectors, and the optional
/// training-data recording.
struct Features {
    engine: FeatureEngine<Store>,
    fv: FeatureVector,
    csv: Option<LabelledCsv<BufWriter<File>>>,
    batch: usize,
}

impl Processor for Features {
    type In = BookEvent;
    type Out = FeatureVector;
    type Error = anyhow::Error;

    fn batch_size(&self) -> usize {
        self.batch
    }

    #[inline]
    fn on_message(&mut self, e: &BookEvent, out: &mut Emitter<'_, FeatureVector>) -> Result<Flow> {
        // Replayed events still pass through the engine (unless its state
        // outlived the predecessor and has them already).
        if self.engine.try_update(e, &mut self.fv)? == Applied::Stale {
            // Applied and passed on before the restart.
            if !out.is_replay(e.trace.seq) {
                bail!(
                    "feature state is ahead of the output queue at event {}: it does not \
                     belong with these queues",
                    e.trace.seq
                );
            }
            return Ok(Flow::Continue);
        }
        if out.emit(&mut self.fv) == Emitted::Stopped {
            return Ok(Flow::Stop);
        }
        if let Some(csv) = &mut self.csv {
            csv.push(&self.fv, formulas::mid(e))?;
        }
        Ok(Flow::Continue)
    }
}

/// The feature stage's own summary fields.
#[derive(Serialize)]
struct Summary {
    events: u64,
    csv_rows: u64,
    unlabelled: u64,
    /// Per feature, vectors in which it fell back to its default.
    defaulted: BTreeMap<&'static str, u64>,
    window_overflows: u64,
    state_resumed_instruments: u64,
    digest: String,
    events_per_s: f64,
}

impl Summary {
    fn new(f: &mut Features, rt: &Runtime<FeatureVector>) -> Result<Self> {
        let labels = f.csv.take().map(LabelledCsv::finish).transpose()?;
        let digest = f.engine.digest()?;
        let stats = &f.engine.stats;
        let events = rt.counts().handled;
        Ok(Summary {
            events,
            csv_rows: labels.map_or(0, |l| l.rows),
            unlabelled: labels.map_or(0, |l| l.unlabelled),
            defaulted: FEATURE_NAMES
                .iter()
                .copied()
                .zip(stats.defaulted)
                .filter(|(_, n)| *n > 0)
                .collect(),
            window_overflows: stats.window_overflows,
            state_resumed_instruments: match f.engine.store() {
                Store::Shm(s) => s.resumed,
                Store::Heap(_) => 0,
            },
            digest: format!("{digest:016x}"),
            events_per_s: events as f64 / rt.elapsed().as_secs_f64().max(1e-9),
        })
    }
}

fn main() -> std::process::ExitCode {
    tickline_stage::exit_code("tickline-feature", run_main())
}

fn run_main() -> Result<()> {
    let args = Args::parse();
    if args.levels == 0 || args.levels > MAX_LEVELS {
        bail!("--levels must be 1..={MAX_LEVELS}");
    }
    if !(args.tick.is_finite() && args.tick > 0.0) {
        bail!("--tick must be positive");
    }
    let tick_fixed = (args.tick * FIXED_SCALE as f64).round() as i64;
    let signals = Signals::install()?;
    let cfg = FeatureConfig {
        tick: tick_fixed,
        ..Default::default()
    };
    let mut run = 0;
    let mut input: Box<dyn Input<BookEvent>> = match args.stage.input(&[K::Queue, K::Source])? {
        Endpoint::Queue(name) => {
            let q = queue_input(name, args.stage.wait, &signals)?;
            run = q.0.created_unix_ns();
            Box::new(q)
        }
        Endpoint::Source(spec) => {
            let src = tickline_feed::open_source(spec).with_context(|| format!("source {spec}"))?;
            let reader = EventReader::new(src, args.levels, Vec::new());
            Box::new(SourceInput::new(reader, args.batch.max(1)))
        }
        _ => unreachable!("checked above"),
    };
    let csv = match args.stage.output(&[K::Null, K::Queue, K::Csv, K::File])? {
        Endpoint::Csv(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            Some(LabelledCsv::new(
                BufWriter::new(f),
                args.horizon,
                tick_fixed,
            )?)
        }
        _ => None,
    };
    let store = match &args.state {
        Some(_) if run == 0 => bail!("--state needs a queue input"),
        Some(prefix) => {
            let words = block_words(cfg.time_window_capacity);
            Store::Shm(ShmStore::open(prefix, words).with_context(|| format!("--state {prefix}"))?)
        }
        None => Store::Heap(HeapStore::default()),
    };
    let mut features = Features {
        engine: FeatureEngine::with_store(cfg, store, run),
        fv: bytemuck::Zeroable::zeroed(),
        csv,
        batch: args.batch.max(1),
    };
    let mut rt =
        Runtime::<FeatureVector>::new(Stage::Feature, &args.stage, signals, FullPolicy::Block)?;
    rt.run(input.as_mut(), &mut features)?;

    let own = Summary::new(&mut features, &rt)?;
    println!("{}", rt.summary(&own));
    Ok(())
}
