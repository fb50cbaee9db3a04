//! inference: feature vectors in, predictions (P(mid up over the horizon))
//! out, on ONNX Runtime in its own process so model work never blocks ingest.
//!
//! Takes what has queued up, up to `--max-batch`, in one run (one at a time
//! when it keeps up). Reloads the model when its file changes or on SIGHUP;
//! a model that fails validation is refused and the old one keeps serving.
//! A NaN or out-of-range probability is counted and never passed on.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};
use tickline_inference::{Model, SessionConfig};
use tickline_schema::telemetry::Metric;
use tickline_schema::{prediction_csv, FeatureVector, Prediction, Stage};
use tickline_shm::{monotonic_ns, Consumer, FullPolicy, Producer, Push, WaitOutcome, WaitStrategy};
use tickline_telemetry::StageTelemetry;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// ONNX model (trained by scripts/train.sh).
    #[arg(long, default_value = "models/tickline-v1.onnx")]
    model: PathBuf,
    /// Publish latency histograms and counters to this stats board.
    #[arg(long)]
    stats: Option<String>,
    /// queue:NAME (FeatureVectors) or csv:FILE (features recorded by `feature --out csv:`).
    #[arg(long = "in")]
    input: String,
    /// queue:NAME (Predictions), csv:FILE (a recording the order router replays) or null.
    #[arg(long, default_value = "null")]
    out: String,
    /// Most vectors per run.
    #[arg(long, default_value_t = 32)]
    max_batch: usize,
    /// Threads inside ONNX Runtime operators.
    #[arg(long, default_value_t = 1)]
    intra_threads: usize,
    /// Let ONNX Runtime threads spin between runs.
    #[arg(long)]
    spin: bool,
    /// Wait strategy on the input queue.
    #[arg(long, default_value = "block")]
    wait: WaitStrategy,
    /// How often the model file's modification time is checked.
    #[arg(long, default_value_t = 500)]
    reload_check_ms: u64,
    /// Stop after this many input vectors.
    #[arg(long)]
    limit: Option<u64>,
}

#[derive(Default)]
struct Counters {
    vectors: u64,
    predictions: u64,
    bad_outputs: u64,
    version_mismatch: u64,
    run_errors: u64,
    reloads: u64,
    reload_failures: u64,
    skipped_on_resume: u64,
}

struct Reloader {
    path: PathBuf,
    seen: Option<SystemTime>,
    last_check: Instant,
    every: Duration,
    signal: Arc<AtomicBool>,
}

impl Reloader {
    fn mtime(path: &Path) -> Option<SystemTime> {
        std::fs::metadata(path).and_then(|m| m.modified()).ok()
    }

    /// A new model if the file changed (checked at most every `every`) or SIGHUP came.
    fn poll(&mut self, cfg: &SessionConfig, c: &mut Counters) -> Option<Model> {
        let hup = self.signal.swap(false, Ordering::Relaxed);
        if !hup && self.last_check.elapsed() < self.every {
            return None;
        }
        self.last_check = Instant::now();
        let m = Self::mtime(&self.path);
        if !hup && m == self.seen {
            return None;
        }
        self.seen = m;
        match Model::load(&self.path, cfg) {
            Ok(model) => {
                c.reloads += 1;
                eprintln!(
                    "inference: reloaded {} (model version {})",
                    self.path.display(),
                    model.info().model_version
                );
                Some(model)
            }
            Err(e) => {
                c.reload_failures += 1;
                eprintln!("inference: new model refused, the old one keeps serving: {e}");
                None
            }
        }
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::json!({
        "count": h.len(), "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99), "p99.9": h.value_at_quantile(0.999), "max": h.max(),
    })
}

/// Feature rows from a CSV recorded by the feature stage: (seq, 16 values).
fn read_csv(path: &str) -> Result<Vec<(u64, [f32; N_FEATURES])>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 3 + N_FEATURES {
            bail!(
                "{path}:{}: {} fields, expected at least {}",
                i + 1,
                f.len(),
                3 + N_FEATURES
            );
        }
        let mut v = [0f32; N_FEATURES];
        for (dst, s) in v.iter_mut().zip(&f[3..3 + N_FEATURES]) {
            *dst = s
                .parse()
                .with_context(|| format!("{path}:{}: {s:?}", i + 1))?;
        }
        rows.push((
            f[0].parse()
                .with_context(|| format!("{path}:{}: seq", i + 1))?,
            v,
        ));
    }
    Ok(rows)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = SessionConfig {
        intra_threads: args.intra_threads,
        spinning: args.spin,
        max_batch: args.max_batch.max(1),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;
    let mut model = Model::load(&args.model, &cfg)?;
    eprintln!(
        "inference: {} ({}, model version {}, horizon {} events) on {}",
        args.model.display(),
        model.info().kind,
        model.info().model_version,
        model.info().horizon_events,
        tickline_inference::runtime_path().map_or("?".into(), |p| p.display().to_string())
    );
    let mut reloader = Reloader {
        seen: Reloader::mtime(&args.model),
        path: args.model.clone(),
        last_check: Instant::now(),
        every: Duration::from_millis(args.reload_check_ms),
        signal: hup,
    };
    let mut c = Counters::default();
    // Latency of one model run, by batch size 1 and larger; and per vector.
    let (mut run1, mut run_n, mut per_vector) = (new_hist(), new_hist(), new_hist());
    let mut batch_sizes = 0u64;

    let mut latency = serde_json::Value::Null;
    if let Some(path) = args.input.strip_prefix("csv:") {
        // Alone, for profiling: every row through the model, in batches of --max-batch.
        let rows = read_csv(path)?;
        for chunk in rows.chunks(cfg.max_batch) {
            for (dst, (_, v)) in model
                .rows_mut(chunk.len())
                .chunks_exact_mut(N_FEATURES)
                .zip(chunk)
            {
                dst.copy_from_slice(v);
            }
            let t = monotonic_ns();
            let n = model
                .run(chunk.len())?
                .iter()
                .filter(|p| (0.0..=1.0).contains(*p))
                .count();
            let dt = monotonic_ns() - t;
            if chunk.len() == 1 {
                &mut run1
            } else {
                &mut run_n
            }
            .saturating_record(dt);
            per_vector.saturating_record(dt / chunk.len() as u64);
            c.vectors += chunk.len() as u64;
            c.predictions += n as u64;
            c.bad_outputs += (chunk.len() - n) as u64;
            batch_sizes += 1;
        }
    } else {
        let name = args
            .input
            .strip_prefix("queue:")
            .context("--in must be queue:NAME or csv:FILE")?;
        let mut input = Consumer::<FeatureVector>::attach(name, args.wait)
            .with_context(|| format!("attaching to input queue {name}"))?
            .with_stop_flag(stop.clone());
        let mut recording = None;
        let mut out = match args.out.split_once(':') {
            None if args.out == "null" => None,
            Some(("queue", q)) => Some(
                Producer::<Prediction>::attach(q, FullPolicy::Block, args.wait)
                    .with_context(|| format!("attaching to output queue {q}"))?
                    .with_stop_flag(stop.clone()),
            ),
            Some(("csv", f)) => {
                let mut w = std::io::BufWriter::new(
                    std::fs::File::create(f).with_context(|| format!("creating {f}"))?,
                );
                prediction_csv::write_header(&mut w)?;
                recording = Some(w);
                None
            }
            _ => bail!("bad --out {:?}: queue:NAME, csv:FILE or null", args.out),
        };
        let resume_after = out
            .as_ref()
            .and_then(|p| p.last_published())
            .map(|p| p.trace.seq);
        let mut batch: Vec<FeatureVector> = Vec::with_capacity(cfg.max_batch);
        let mut pred: Prediction = bytemuck::Zeroable::zeroed();
        let mut tel = StageTelemetry::new(args.stats.as_deref(), Duration::from_millis(250))?;
        'run: while !stop.load(Ordering::Relaxed) {
            let predictions_before = c.predictions;
            if let Some(m) = reloader.poll(&cfg, &mut c) {
                model = m;
            }
            batch.clear();
            let slots = input.read_slots(cfg.max_batch);
            if slots.is_empty() {
                // Wake at least every 100 ms to look at the model file.
                if input.wait(Some(Duration::from_millis(100))) == WaitOutcome::Stopped {
                    break;
                }
                continue;
            }
            batch.extend_from_slice(slots);
            let t_read = monotonic_ns();
            // Rows the model will see: the right feature set, not yet published.
            let mut rows = 0;
            for fv in &batch {
                tel.record_since(
                    Metric::QueueWait,
                    fv.trace.stamps[Stage::Feature as usize],
                    t_read,
                );
                c.vectors += 1;
                if fv.feature_set_version != FEATURE_SET_VERSION || fv.len as usize != N_FEATURES {
                    c.version_mismatch += 1;
                    continue;
                }
                if resume_after.is_some_and(|r| fv.trace.seq <= r) {
                    c.skipped_on_resume += 1;
                    continue;
                }
                model.rows_mut(rows + 1)[rows * N_FEATURES..]
                    .copy_from_slice(&fv.values[..N_FEATURES]);
                rows += 1;
            }
            if rows > 0 {
                let (model_version, horizon) =
                    (model.info().model_version, model.info().horizon_events);
                let t = monotonic_ns();
                let probs = match model.run(rows) {
                    Ok(p) => p,
                    Err(e) => {
                        c.run_errors += 1;
                        if c.run_errors == 1 {
                            eprintln!("inference: {e} (further ones are counted)");
                        }
                        input.commit(batch.len());
                        continue;
                    }
                };
                let done = monotonic_ns();
                let dt = done - t;
                if rows == 1 { &mut run1 } else { &mut run_n }.saturating_record(dt);
                per_vector.saturating_record(dt / rows as u64);
                batch_sizes += 1;
                let mut k = 0;
                for fv in &batch {
                    if fv.feature_set_version != FEATURE_SET_VERSION
                        || fv.len as usize != N_FEATURES
                        || resume_after.is_some_and(|r| fv.trace.seq <= r)
                    {
                        continue;
                    }
                    let p = probs[k];
                    k += 1;
                    if !(0.0..=1.0).contains(&p) {
                        c.bad_outputs += 1;
                        continue;
                    }
                    pred.trace = fv.trace;
                    pred.trace.stamp(Stage::Inference, done);
                    tel.record_since(
                        Metric::EndToEnd,
                        fv.trace.stamps[Stage::Feed as usize],
                        done,
                    );
                    pred.instrument_id = fv.instrument_id;
                    pred.model_version = model_version;
                    pred.feature_set_version = fv.feature_set_version;
                    pred.horizon_events = horizon;
                    pred.prob_up = p;
                    pred.best_bid = fv.best_bid;
                    pred.best_ask = fv.best_ask;
                    if let Some(o) = &mut out {
                        if o.push(&pred) == Push::Stopped {
                            break 'run;
                        }
                    }
                    if let Some(w) = &mut recording {
                        prediction_csv::write_row(w, &pred)?;
                    }
                    c.predictions += 1;
                }
            }
            // Commit input once its predictions are published.
            input.commit(batch.len());
            input.beat();
            let t_end = monotonic_ns();
            let n = batch.len() as u64;
            tel.record_n(Metric::Service, (t_end - t_read) / n, n);
            tel.count(n, c.predictions - predictions_before, 0);
            tel.set_errors(c.bad_outputs + c.version_mismatch + c.run_errors);
            tel.tick(t_end);
            if args.limit.is_some_and(|l| c.vectors >= l) {
                break;
            }
        }
        tel.publish(monotonic_ns());
        latency = tel.summary();
        if let Some(mut w) = recording {
            std::io::Write::flush(&mut w).context("writing the predictions recording")?;
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "stage": "inference",
            "model": args.model.display().to_string(),
            "model_version": model.info().model_version,
            "vectors": c.vectors,
            "predictions": c.predictions,
            "bad_outputs": c.bad_outputs,
            "version_mismatch": c.version_mismatch,
            "run_errors": c.run_errors,
            "reloads": c.reloads,
            "reload_failures": c.reload_failures,
            "skipped_on_resume": c.skipped_on_resume,
            "runs": batch_sizes,
            "mean_batch": c.vectors as f64 / batch_sizes.max(1) as f64,
            "run_ns_batch1": percentiles(&run1),
            "run_ns_batched": percentiles(&run_n),
            "ns_per_vector": percentiles(&per_vector),
            "latency_ns": latency,
        })
    );
    Ok(())
}
