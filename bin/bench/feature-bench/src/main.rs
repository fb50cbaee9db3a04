//! feature-bench: ns per book event of the O(1) feature engine and of the
//! naive recomputation, on the same in-memory events of each input. With
//! `--dump DIR` it also writes each input's raw `BookEvent`s and the engine's
//! f32 features, for the NumPy implementation to time and cross-check.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use tickline_features::naive::NaiveEngine;
use tickline_features::{FeatureConfig, FeatureEngine, N_FEATURES};
use tickline_feed::{Books, FeedStats, Step};
use tickline_schema::BookEvent;
use tickline_telemetry::median_range;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, default_value_t = 7)]
    passes: usize,
    /// Events the naive recomputation runs on (it is O(window) per event).
    #[arg(long, default_value_t = 20_000)]
    naive_events: usize,
    /// Write <name>.books, <name>.features and rust.json here.
    #[arg(long)]
    dump: Option<PathBuf>,
}

fn events(spec: &str, limit: usize) -> Result<Vec<BookEvent>> {
    let mut src = tickline_feed::open_source(spec).map_err(anyhow::Error::msg)?;
    let mut books = Books::default();
    let mut stats = FeedStats::quiet();
    let mut out = Vec::new();
    let mut e: BookEvent = bytemuck::Zeroable::zeroed();
    while out.len() < limit {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 10, &mut e);
                e.trace.seq = out.len() as u64;
                out.push(e);
            }
            Step::End => break,
            _ => {}
        }
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let d = |rel: &str| args.data.join(rel).display().to_string();
    let inputs = [
        ("synthetic", "synthetic:21:200000:4".to_string(), usize::MAX),
        (
            "itch",
            format!("itch:{}", d("itch/ex20101224.ITCH_50.framed")),
            usize::MAX,
        ),
        (
            "lobster",
            format!(
                "lobster:{}",
                d("lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv")
            ),
            usize::MAX,
        ),
        (
            "binance_usdm",
            format!("binance:{}", d("binance/usdm_btcusdt_20240808.gz")),
            usize::MAX,
        ),
        (
            "binance_cm",
            format!("binance:{}", d("binance/cm_btcusd_perp_20240808.gz")),
            usize::MAX,
        ),
    ];
    let mut results = Vec::new();
    for (name, spec, limit) in inputs {
        let evs = events(&spec, limit).with_context(|| format!("reading {name}"))?;
        let n = evs.len();
        let mut features = vec![0f32; n * N_FEATURES];
        let mut times: Vec<f64> = (0..args.passes.max(1))
            .map(|_| {
                let mut eng = FeatureEngine::new(FeatureConfig::default());
                let t = Instant::now();
                for (e, out) in evs.iter().zip(features.chunks_exact_mut(N_FEATURES)) {
                    let (v, _) = eng.compute(e);
                    for (o, x) in out.iter_mut().zip(v) {
                        *o = x as f32;
                    }
                }
                t.elapsed().as_nanos() as f64 / n as f64
            })
            .collect();
        let engine_ns = median_range(&mut times).0;
        let m = n.min(args.naive_events);
        let mut naive = NaiveEngine::new(FeatureConfig::default());
        let t = Instant::now();
        for e in &evs[..m] {
            std::hint::black_box(naive.compute(e));
        }
        let naive_ns = t.elapsed().as_nanos() as f64 / m as f64;
        eprintln!("{name:<14} {n:>7} events  engine {engine_ns:>8.1} ns/event  naive {naive_ns:>10.1} ns/event ({m} events)  {:.0}x", naive_ns / engine_ns);
        if let Some(dir) = &args.dump {
            std::fs::create_dir_all(dir)?;
            std::fs::write(
                dir.join(format!("{name}.books")),
                bytemuck::cast_slice::<BookEvent, u8>(&evs),
            )?;
            std::fs::write(
                dir.join(format!("{name}.features")),
                bytemuck::cast_slice::<f32, u8>(&features),
            )?;
        }
        results.push(serde_json::json!({"input": name, "events": n, "engine_ns": engine_ns, "naive_ns": naive_ns, "naive_events": m}));
    }
    if let Some(dir) = &args.dump {
        std::fs::write(
            dir.join("rust.json"),
            serde_json::to_string_pretty(&results)?,
        )?;
    }
    Ok(())
}
