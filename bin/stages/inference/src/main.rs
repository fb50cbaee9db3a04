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
mod processor;
mod reload;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use tickline_features::N_FEATURES;
use tickline_inference::{EngineChoice, Model, SessionConfig};
use tickline_schema::{prediction_csv, FeatureVector, Prediction, Stage};
use tickline_shm::FullPolicy;
use tickline_stage::{
    queue_input, Endpoint, EndpointKind as K, Input, RowsInput, Runtime, Signals, StageArgs,
};
use tickline_telemetry::{new_histogram, percentiles};

use processor::{Counters, Inference};
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
    /// How often the model file's modification time is checked (by a helper thread).
    #[arg(long, default_value_t = 500)]
    reload_check_ms: u64,
    /// Which engine serves: `trees` (native; tree ensembles and logistic
    /// regression), `ort` (ONNX Runtime, any graph), or `auto` (trees when it
    /// evaluates the whole graph and matches ONNX Runtime at load, else ort).
    #[arg(long, default_value = "auto")]
    engine: EngineChoice,
    /// A feature CSV (from `tickline-feature --out csv:FILE`) whose vectors
    /// the load-time parity check uses before generated ones.
    #[arg(long)]
    parity_features: Option<PathBuf>,
    /// Vectors the parity check compares, recorded and generated.
    #[arg(long, default_value_t = 4096)]
    parity_vectors: usize,
    /// Model runs at batch 1 and at the largest batch before the stage says
    /// it is ready (and before a reloaded model serves).
    #[arg(long, default_value_t = 200)]
    warmup_runs: usize,
}

fn main() -> std::process::ExitCode {
    tickline_stage::exit_code("tickline-inference", run_main())
}

/// The inference stage's own summary fields.
#[derive(Serialize)]
struct Summary {
    model: String,
    model_version: u32,
    engine: &'static str,
    engine_note: String,
    parity_max_abs_diff: Option<f64>,
    parity_vectors: Option<usize>,
    vectors: u64,
    predictions: u64,
    bad_outputs: u64,
    version_mismatch: u64,
    run_errors: u64,
    reloads: u64,
    reload_failures: u64,
    runs: u64,
    mean_batch: f64,
    run_ns_batch1: serde_json::Value,
    run_ns_batched: serde_json::Value,
    ns_per_vector: serde_json::Value,
}

impl Summary {
    fn new(args: &Args, inf: &Inference, vectors: u64) -> Self {
        let (c, r, m) = (&inf.c, &inf.reloader, &inf.model);
        Summary {
            model: args.model.display().to_string(),
            model_version: m.info().model_version,
            engine: m.engine_name(),
            engine_note: m.engine().to_owned(),
            parity_max_abs_diff: m.parity().map(|p| p.max_abs_diff),
            parity_vectors: m.parity().map(|p| p.vectors),
            vectors,
            predictions: c.predictions,
            bad_outputs: c.bad_outputs,
            version_mismatch: c.version_mismatch,
            run_errors: c.run_errors,
            reloads: r.reloads(),
            reload_failures: r.failures(),
            runs: c.runs,
            mean_batch: vectors as f64 / c.runs.max(1) as f64,
            run_ns_batch1: percentiles(&inf.run1),
            run_ns_batched: percentiles(&inf.run_n),
            ns_per_vector: percentiles(&inf.per_vector),
        }
    }
}

/// The model's session settings from the flags.
fn session_config(args: &Args) -> Result<SessionConfig> {
    let parity_rows = match &args.parity_features {
        Some(p) => csv_input::read(p)?
            .iter()
            .flat_map(|fv| fv.values[..N_FEATURES].iter().copied())
            .collect(),
        None => Vec::new(),
    };
    Ok(SessionConfig {
        intra_threads: args.intra_threads,
        spinning: args.spin,
        max_batch: args.max_batch.max(1),
        engine: args.engine,
        parity_rows: Arc::new(parity_rows),
        parity_vectors: args.parity_vectors,
    })
}

/// `--out csv:FILE`: the predictions recording, its header written.
fn open_recording(args: &Args) -> Result<Option<BufWriter<File>>> {
    match args.stage.output(&[K::Null, K::Queue, K::Csv, K::File])? {
        Endpoint::Csv(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = BufWriter::new(f);
            prediction_csv::write_header(&mut w)?;
            Ok(Some(w))
        }
        _ => Ok(None),
    }
}

fn run_main() -> Result<()> {
    let args = Args::parse();
    let cfg = session_config(&args)?;
    let signals = Signals::install()?.with_reload()?;
    let model = Model::load(&args.model, &cfg)?;
    eprintln!(
        "inference: {} ({}, model version {}, horizon {} events), engine {}; ONNX Runtime {}",
        args.model.display(),
        model.info().kind,
        model.info().model_version,
        model.info().horizon_events,
        model.engine(),
        tickline_inference::runtime_path().map_or("?".into(), |p| p.display().to_string())
    );
    let mut input: Box<dyn Input<FeatureVector>> = match args.stage.input(&[K::Queue, K::Csv])? {
        Endpoint::Queue(name) => Box::new(queue_input(name, args.stage.wait, &signals)?),
        Endpoint::Csv(path) => Box::new(RowsInput::new(csv_input::read(path)?)),
        _ => unreachable!("checked above"),
    };
    let mut inf = Inference {
        reloader: Reloader::spawn(
            &args.model,
            cfg.clone(),
            args.reload_check_ms,
            args.warmup_runs,
        )?,
        warmup_runs: args.warmup_runs,
        model,
        c: Counters::default(),
        rows: Vec::with_capacity(cfg.max_batch),
        probs: vec![0.0; cfg.max_batch],
        pred: bytemuck::Zeroable::zeroed(),
        recording: open_recording(&args)?,
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
    println!(
        "{}",
        rt.summary(&Summary::new(&args, &inf, rt.counts().handled))
    );
    Ok(())
}
