//! tickline-pipeline-floor: what the pipeline's work costs with no process
//! boundary. One thread reads the same source at the same pace as the
//! feed-handler, books each event, computes its features, runs the model and
//! lets the router decide, and times each event from the point the
//! feed-handler stamps (booked, before publishing) to the decision: the
//! pipeline's tick to decision with every hand-off taken out. Caches are as
//! cold as the pacing leaves them. The router is the default config's
//! (band 0.1, Kelly 0.5 of 20 lots, position 10, order 5, 50 orders/s,
//! loss 5000) over the paper exchange, with no journal.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use tickline_features::{FeatureConfig, FeatureEngine, FEATURE_SET_VERSION, N_FEATURES};
use tickline_feed::{open_source, EventReader, ReadStep};
use tickline_inference::{EngineChoice, Model, SessionConfig};
use tickline_router::{PaperExchange, RiskLimits, Router, RouterConfig, Sizing, UNIT};
use tickline_schema::{BookEvent, FeatureVector, Prediction, TimeInForce};
use tickline_shm::monotonic_ns;
use tickline_telemetry::{new_histogram, percentiles};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The source, as the feed-handler takes it.
    #[arg(long, default_value = "synthetic:42:250000:2:10000")]
    source: String,
    /// Replay speed against the recorded exchange times (1 = as recorded).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// The model.
    #[arg(long, default_value = "models/tickline-v1.onnx")]
    model: PathBuf,
    /// Engine: auto, ort or trees.
    #[arg(long, default_value = "auto")]
    engine: EngineChoice,
}

fn router() -> Result<Router<PaperExchange>> {
    let cfg = RouterConfig {
        band: 0.1,
        sizing: Sizing::Kelly {
            k: 0.5,
            budget: 20 * UNIT,
        },
        lot: UNIT,
        limits: RiskLimits {
            max_position: 10 * UNIT,
            max_gross_notional: 1_000_000.0,
            max_order_qty: 5 * UNIT,
            max_orders_per_sec: 50,
            max_daily_loss: 5_000.0,
            price_band_bps: 50.0,
        },
        aggressive: true,
        tif: TimeInForce::ImmediateOrCancel,
        max_signal_age_ns: None,
    };
    Ok(Router::new(
        cfg,
        PaperExchange::new(1_000_000),
        None,
        &[],
        50,
    )?)
}

fn main() -> Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.speed.is_finite() && a.speed > 0.0,
        "--speed must be positive"
    );
    let mut reader = EventReader::new(open_source(&a.source)?, 10, Vec::new());
    let cfg = SessionConfig {
        max_batch: 1,
        engine: a.engine,
        ..Default::default()
    };
    let mut model = Model::load(&a.model, &cfg)?;
    model.warm_up(200)?;
    let mut features = FeatureEngine::new(FeatureConfig::default());
    let mut router = router()?;
    let (mut ev, mut fv): (BookEvent, FeatureVector) =
        (bytemuck::Zeroable::zeroed(), bytemuck::Zeroable::zeroed());
    let mut pred: Prediction = bytemuck::Zeroable::zeroed();
    let mut hist = new_histogram();
    let (start, mut first) = (Instant::now(), None);
    loop {
        match reader.next(&mut ev) {
            ReadStep::Event => {}
            ReadStep::Skip | ReadStep::Idle => continue,
            ReadStep::End => break,
        }
        // Paced as the feed-handler paces: the event's offset in exchange time.
        let first = *first.get_or_insert(ev.trace.exchange_ns);
        let due = Duration::from_nanos(
            (ev.trace.exchange_ns.saturating_sub(first) as f64 / a.speed) as u64,
        );
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let t = monotonic_ns();
        features.update(&ev, &mut fv);
        debug_assert_eq!(fv.feature_set_version, FEATURE_SET_VERSION);
        model.rows_mut(1).copy_from_slice(&fv.values[..N_FEATURES]);
        let p = model.run(1)?[0];
        pred.trace = ev.trace;
        pred.instrument_id = ev.instrument_id;
        pred.feature_set_version = fv.feature_set_version;
        pred.horizon_events = 50;
        pred.prob_up = p;
        (pred.best_bid, pred.best_ask) = (fv.best_bid, fv.best_ask);
        router.on_prediction(&pred)?;
        hist.saturating_record(monotonic_ns() - t);
    }
    println!(
        "{}",
        serde_json::json!({
            "source": a.source,
            "engine": model.engine_name(),
            "events": hist.len(),
            "orders": router.stats.orders,
            "tick_to_decision_ns": percentiles(&hist),
        })
    );
    Ok(())
}
