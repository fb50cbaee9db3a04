//! tickline-inference-bench: one model call's latency, from input rows in a
//! buffer to probabilities in hand, for the native tree engine, ONNX Runtime
//! (through the stage's own `Model`) and tract-onnx (set up as its README
//! does: `model_for_path`, an input fact, `into_optimized`, `into_runnable`),
//! on the same feature vectors, at batch 1 and 256. Cases are interleaved
//! within each round; the timer's own cost is measured in the same rounds
//! and printed beside them (it is inside every timed span).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use tickline_features::training::read_feature_csv;
use tickline_features::N_FEATURES;
use tickline_inference::{EngineChoice, Model, SessionConfig};
use tickline_shm::monotonic_ns;
use tickline_telemetry::{median_range, new_histogram};
use tract_onnx::prelude::*;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The model.
    #[arg(long, default_value = "models/tickline-v1.onnx")]
    model: PathBuf,
    /// Feature vectors (a feature CSV from `tickline-feature --out csv:FILE`).
    #[arg(long)]
    features: PathBuf,
    /// Rounds; each runs every case once over all vectors.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Calls before timing, per case.
    #[arg(long, default_value_t = 200)]
    warmup_runs: usize,
}

type Tract = Arc<TypedSimplePlan>;

fn tract_model(args: &Args, batch: usize) -> Result<Tract> {
    let plan = tract_onnx::onnx()
        .model_for_path(&args.model)?
        .with_input_fact(0, f32::fact([batch, N_FEATURES]).into())?
        .into_optimized()?
        .into_runnable()?;
    Ok(plan)
}

/// The engines under test, each able to run `rows` rows of `x` and give P(up) per row.
enum Engine {
    Ours(Box<Model>),
    Tract {
        b1: Tract,
        b256: Tract,
        probs: Vec<f64>,
    },
}

impl Engine {
    fn run(&mut self, x: &[f32], rows: usize) -> Result<&[f64]> {
        match self {
            Engine::Ours(m) => {
                m.rows_mut(rows).copy_from_slice(&x[..rows * N_FEATURES]);
                Ok(m.run(rows)?)
            }
            Engine::Tract { b1, b256, probs } => {
                let plan = if rows == 1 { b1 } else { b256 };
                let t = Tensor::from_shape(&[rows, N_FEATURES], &x[..rows * N_FEATURES])?;
                let out = plan.run(tvec!(t.into_tvalue()))?;
                let p = out[1].to_plain_array_view::<f32>()?;
                for (dst, row) in probs.iter_mut().zip(p.rows()) {
                    *dst = row[1] as f64;
                }
                Ok(&probs[..rows])
            }
        }
    }
}

/// One round of one case: every vector through the engine, `batch` at a time.
fn time_case(e: &mut Engine, x: &[f32], batch: usize, h: &mut Histogram<u64>) -> Result<()> {
    for chunk in x.chunks_exact(batch * N_FEATURES) {
        let t = monotonic_ns();
        let p = e.run(chunk, batch)?;
        std::hint::black_box(p);
        h.saturating_record(monotonic_ns() - t);
    }
    Ok(())
}

/// The timer's cost: back-to-back reads, as many as the batch-1 calls.
fn time_timer(n: usize, h: &mut Histogram<u64>) {
    for _ in 0..n {
        let t = monotonic_ns();
        h.saturating_record(monotonic_ns() - t);
    }
}

fn spread(mut v: Vec<f64>) -> serde_json::Value {
    let (median, min, max) = median_range(&mut v);
    serde_json::json!({"median": median, "min": min, "max": max})
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.features)
        .with_context(|| format!("reading {}", args.features.display()))?;
    let rows = read_feature_csv(&text).map_err(|e| anyhow!("{}: {e}", args.features.display()))?;
    let x: Vec<f32> = rows.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let n = rows.len() / 256 * 256;
    anyhow::ensure!(n >= 256, "need at least 256 vectors, got {}", rows.len());
    let x = &x[..n * N_FEATURES];
    let load = |engine| {
        let cfg = SessionConfig {
            max_batch: 256,
            engine,
            ..Default::default()
        };
        Model::load(&args.model, &cfg).map(|m| Engine::Ours(Box::new(m)))
    };
    let mut out = serde_json::Map::new();
    let mut engines = vec![
        ("trees", load(EngineChoice::Trees)?),
        ("ort", load(EngineChoice::Ort)?),
    ];
    match tract_model(&args, 1).and_then(|b1| Ok((b1, tract_model(&args, 256)?))) {
        Ok((b1, b256)) => engines.push((
            "tract",
            Engine::Tract {
                b1,
                b256,
                probs: vec![0.0; 256],
            },
        )),
        Err(e) => {
            eprintln!("tract-onnx refuses {}: {e:#}", args.model.display());
            out.insert("tract.refused".into(), format!("{e:#}").into());
        }
    }
    let reference: Vec<f64> = x
        .chunks_exact(N_FEATURES)
        .map(|r| engines[1].1.run(r, 1).map(|p| p[0]))
        .collect::<Result<_>>()?;
    for (name, e) in engines.iter_mut() {
        for _ in 0..args.warmup_runs {
            e.run(x, 1)?;
            e.run(x, 256)?;
        }
        let mut diff = 0.0f64;
        for (r, want) in x.chunks_exact(N_FEATURES).zip(&reference) {
            diff = diff.max((e.run(r, 1)?[0] - want).abs());
        }
        out.insert(format!("{name}.max_abs_diff_vs_ort"), diff.into());
    }
    rounds(&args, &mut engines, x, n, &mut out)?;
    out.insert("vectors".into(), n.into());
    out.insert("rounds".into(), args.rounds.into());
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// Every engine at batch 1 and 256, and the timer, once per round in
/// turn; each figure's median and range over the rounds into `out`.
fn rounds(
    args: &Args,
    engines: &mut [(&str, Engine)],
    x: &[f32],
    n: usize,
    out: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let mut per: std::collections::BTreeMap<String, Vec<(f64, f64, f64)>> = Default::default();
    for round in 0..args.rounds {
        eprintln!("round {} of {}", round + 1, args.rounds);
        let mut h = new_histogram();
        time_timer(n, &mut h);
        per.entry("timer.1".into())
            .or_default()
            .push(quantiles(&h, 1));
        for batch in [1, 256] {
            for (name, e) in engines.iter_mut() {
                let mut h = new_histogram();
                time_case(e, x, batch, &mut h)?;
                per.entry(format!("{name}.{batch}"))
                    .or_default()
                    .push(quantiles(&h, batch));
            }
        }
    }
    for (k, v) in per {
        out.insert(
            k,
            serde_json::json!({
                "p50_ns": spread(v.iter().map(|q| q.0).collect()),
                "p99_ns": spread(v.iter().map(|q| q.1).collect()),
                "p50_ns_per_vector": spread(v.iter().map(|q| q.2).collect()),
            }),
        );
    }
    Ok(())
}

/// p50 and p99 of one call, and p50 per vector.
fn quantiles(h: &Histogram<u64>, batch: usize) -> (f64, f64, f64) {
    let p50 = h.value_at_quantile(0.5) as f64;
    (p50, h.value_at_quantile(0.99) as f64, p50 / batch as f64)
}
