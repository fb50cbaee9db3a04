//! inference: feature vectors in, predictions (P(mid up over the horizon))
//! out, on ONNX Runtime in its own process so model work never blocks ingest.
//!
//! Takes what has queued up, up to `--max-batch`, in one run (one at a time
//! when it keeps up). Reloads the model when its file changes or on SIGHUP;
//! a model that fails validation is refused and the old one keeps serving.
//! A NaN or out-of-range probability is counted and never passed on.
//! `--in csv:FILE` runs a recording of the feature stage through the model
//! alone, for its latency.
#![forbid(unsafe_code)]

mod csv_input;
mod reload;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};
use tickline_inference::{Model, SessionConfig};
use tickline_schema::{prediction_csv, FeatureVector, Prediction, Stage};
use tickline_shm::{monotonic_ns, FullPolicy};
use tickline_stage::{
    queue_input, Emitted, Emitter, Endpoint, EndpointKind as K, Flow, Input, Processor, RowsInput,
    Runtime, Signals, StageArgs,
};
use tickline_telemetry::{new_histogram, percentiles};

use reload::Reloader;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    stage: StageArgs,
    /// ONNX model (trained by scripts/train.sh).
    #[arg(long, default_value = "models/tickline-v1.onnx")]
    model: PathBuf,
    /// Most vectors per run.
    #[arg(long, default_value_t = 32)]
    max_batch: usize,
    /// Threads inside ONNX Runtime operators.
    #[arg(long, default_value_t = 1)]
    intra_threads: usize,
    /// Let ONNX Runtime threads spin between runs.
    #[arg(long)]
    spin: bool,
    /// How often the model file's modification time is checked.
    #[arg(long, default_value_t = 500)]
    reload_check_ms: u64,
}

#[derive(Default)]
struct Counters {
    predictions: u64,
    bad_outputs: u64,
    version_mismatch: u64,
    run_errors: u64,
    runs: u64,
}

/// The model between feature vectors and predictions.
struct Inference {
    model: Model,
    reloader: Reloader,
    c: Counters,
    /// Batch positions of the rows handed to the model (preallocated).
    rows: Vec<usize>,
    pred: Prediction,
    recording: Option<BufWriter<File>>,
    /// Model run time at batch 1 and above, and per vector.
    run1: Histogram<u64>,
    run_n: Histogram<u64>,
    per_vector: Histogram<u64>,
}

impl Inference {
    /// Copies the rows the model will see into its input: the right feature
    /// set, not published by a predecessor.
    fn gather(&mut self, batch: &[FeatureVector], out: &mut Emitter<'_, Prediction>) {
        self.rows.clear();
        for (i, fv) in batch.iter().enumerate() {
            if fv.feature_set_version != FEATURE_SET_VERSION || fv.len as usize != N_FEATURES {
                self.c.version_mismatch += 1;
                continue;
            }
            if out.is_replay(fv.trace.seq) {
                continue;
            }
            let r = self.rows.len();
            self.model.rows_mut(r + 1)[r * N_FEATURES..].copy_from_slice(&fv.values[..N_FEATURES]);
            self.rows.push(i);
        }
        debug_assert!(self.rows.len() <= self.model.max_batch());
    }

    fn record_run(&mut self, n: usize, ns: u64) {
        if n == 1 {
            &mut self.run1
        } else {
            &mut self.run_n
        }
        .saturating_record(ns);
        self.per_vector.saturating_record(ns / n as u64);
        self.c.runs += 1;
    }

    /// Emits the predictions of the last run; false once the stage is stopping.
    fn emit(
        &mut self,
        batch: &[FeatureVector],
        probs: &[f64],
        done: u64,
        out: &mut Emitter<'_, Prediction>,
    ) -> std::io::Result<bool> {
        let info = self.model.info();
        for (&i, &p) in self.rows.iter().zip(probs) {
            if !(0.0..=1.0).contains(&p) {
                self.c.bad_outputs += 1;
                continue;
            }
            let fv = &batch[i];
            let pred = &mut self.pred;
            pred.trace = fv.trace;
            pred.instrument_id = fv.instrument_id;
            pred.model_version = info.model_version;
            pred.feature_set_version = fv.feature_set_version;
            pred.horizon_events = info.horizon_events;
            pred.prob_up = p;
            pred.best_bid = fv.best_bid;
            pred.best_ask = fv.best_ask;
            if out.emit_at(pred, done) == Emitted::Stopped {
                return Ok(false);
            }
            if let Some(w) = &mut self.recording {
                prediction_csv::write_row(w, pred)?;
            }
            self.c.predictions += 1;
        }
        Ok(true)
    }
}

impl Processor for Inference {
    type In = FeatureVector;
    type Out = Prediction;
    type Error = std::io::Error;
    const BATCHED: bool = true;

    fn batch_size(&self) -> usize {
        self.model.max_batch()
    }

    fn on_message(
        &mut self,
        fv: &FeatureVector,
        out: &mut Emitter<'_, Prediction>,
    ) -> std::io::Result<Flow> {
        self.on_batch(std::slice::from_ref(fv), out)
    }

    fn on_batch(
        &mut self,
        batch: &[FeatureVector],
        out: &mut Emitter<'_, Prediction>,
    ) -> std::io::Result<Flow> {
        self.gather(batch, out);
        let n = self.rows.len();
        if n == 0 {
            return Ok(Flow::Continue);
        }
        let t = monotonic_ns();
        // The probabilities borrow the model: copy them out of its buffer
        // into a stack array (max_batch is small) so emitting may borrow self.
        let mut probs = [0f64; 256];
        match self.model.run(n) {
            Ok(p) => probs[..n].copy_from_slice(p),
            Err(e) => {
                self.c.run_errors += 1;
                if self.c.run_errors == 1 {
                    eprintln!("inference: {e} (further ones are counted)");
                }
                return Ok(Flow::Continue);
            }
        }
        let done = monotonic_ns();
        self.record_run(n, done - t);
        Ok(if self.emit(batch, &probs[..n], done, out)? {
            Flow::Continue
        } else {
            Flow::Stop
        })
    }

    fn between_batches(&mut self, signals: &tickline_stage::Signals) -> std::io::Result<()> {
        if let Some(m) = self.reloader.poll(signals.take_reload()) {
            self.model = m;
        }
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.c.bad_outputs + self.c.version_mismatch + self.c.run_errors
    }
}

/// Largest `--max-batch`: the probabilities of one run are copied to the stack.
const MAX_BATCH: usize = 256;

fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = SessionConfig {
        intra_threads: args.intra_threads,
        spinning: args.spin,
        max_batch: args.max_batch.clamp(1, MAX_BATCH),
    };
    let signals = Signals::install()?.with_reload()?;
    let model = Model::load(&args.model, &cfg)?;
    eprintln!(
        "inference: {} ({}, model version {}, horizon {} events) on {}",
        args.model.display(),
        model.info().kind,
        model.info().model_version,
        model.info().horizon_events,
        tickline_inference::runtime_path().map_or("?".into(), |p| p.display().to_string())
    );
    let mut input: Box<dyn Input<FeatureVector>> = match args.stage.input(&[K::Queue, K::Csv])? {
        Endpoint::Queue(name) => Box::new(queue_input(name, args.stage.wait, &signals)?),
        Endpoint::Csv(path) => Box::new(RowsInput::new(csv_input::read(path)?)),
        _ => unreachable!("checked above"),
    };
    let recording = match args.stage.output(&[K::Null, K::Queue, K::Csv])? {
        Endpoint::Csv(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = BufWriter::new(f);
            prediction_csv::write_header(&mut w)?;
            Some(w)
        }
        _ => None,
    };
    let mut inf = Inference {
        reloader: Reloader::new(&args.model, cfg.clone(), args.reload_check_ms),
        model,
        c: Counters::default(),
        rows: Vec::with_capacity(cfg.max_batch),
        pred: bytemuck::Zeroable::zeroed(),
        recording,
        run1: new_histogram(),
        run_n: new_histogram(),
        per_vector: new_histogram(),
    };
    let mut rt =
        Runtime::<Prediction>::new(Stage::Inference, &args.stage, signals, FullPolicy::Block)?;
    rt.run(input.as_mut(), &mut inf)?;
    if let Some(w) = &mut inf.recording {
        w.flush().context("writing the predictions recording")?;
    }
    let vectors = rt.counts().handled;
    let (c, r) = (&inf.c, &inf.reloader);
    println!(
        "{}",
        rt.summary(serde_json::json!({
            "model": args.model.display().to_string(),
            "model_version": inf.model.info().model_version,
            "vectors": vectors,
            "predictions": c.predictions,
            "bad_outputs": c.bad_outputs,
            "version_mismatch": c.version_mismatch,
            "run_errors": c.run_errors,
            "reloads": r.reloads,
            "reload_failures": r.failures,
            "runs": c.runs,
            "mean_batch": vectors as f64 / c.runs.max(1) as f64,
            "run_ns_batch1": percentiles(&inf.run1),
            "run_ns_batched": percentiles(&inf.run_n),
            "ns_per_vector": percentiles(&inf.per_vector),
        }))
    );
    Ok(())
}
