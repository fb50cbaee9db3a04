//! The order-router's flags: input and output, journal, sizing, risk limits
//! and order style, turned into a `RouterConfig`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_router::{FsyncPolicy, RiskLimits, RouterConfig, Sizing, UNIT};
use tickline_schema::TimeInForce;
use tickline_stage::StageArgs;

#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Args {
    /// --in: queue:NAME of Predictions, or csv:FILE recorded by
    /// `inference --out csv:FILE`; --out: orders to a downstream gateway
    /// process, queue:NAME or null.
    #[command(flatten)]
    pub stage: StageArgs,
    /// The journal (the order log): every order and execution.
    #[arg(long)]
    pub journal: PathBuf,
    /// always | every:N | never (the page cache still survives kill -9).
    #[arg(long, default_value = "every:64")]
    pub fsync: FsyncPolicy,
    /// No order while |p - 0.5| is below this.
    #[arg(long, default_value_t = 0.05)]
    pub band: f64,
    /// kelly:K:BUDGET_LOTS | linear:MAX_LOTS | capped:MAX_LOTS:CAP_LOTS
    #[arg(long, default_value = "kelly:0.5:100")]
    pub sizing: String,
    /// Lot size in instrument units (e.g. 1 share, 0.001 BTC).
    #[arg(long, default_value_t = 1.0)]
    pub lot: f64,
    #[arg(
        long,
        default_value_t = 50.0,
        help = "max |position| per instrument, lots"
    )]
    pub max_position: f64,
    #[arg(
        long,
        default_value_t = 1_000_000.0,
        help = "max gross notional, currency"
    )]
    pub max_gross: f64,
    #[arg(long, default_value_t = 10.0, help = "max order size, lots")]
    pub max_order: f64,
    #[arg(
        long,
        default_value_t = 20,
        help = "max orders per second of exchange time"
    )]
    pub max_rate: usize,
    #[arg(
        long,
        default_value_t = 10_000.0,
        help = "loss (currency) past which only reducing orders pass"
    )]
    pub max_loss: f64,
    #[arg(
        long,
        default_value_t = 50.0,
        help = "max distance of an order from mid, bps"
    )]
    pub band_bps: f64,
    /// Join the near touch with day orders instead of crossing with IOC.
    #[arg(long)]
    pub passive: bool,
    /// Where orders go: `paper` (simulated fills here from the touch),
    /// `sim:QUEUE[,lockstep]` (a venue process, e.g. `tickline-venue-sim`:
    /// orders on `--out`, its reports read from QUEUE; with `lockstep`,
    /// each report is taken at the prediction its arrival time reaches,
    /// waiting for the venue if need be: the same decisions every run), or
    /// `fix:HOST:PORT[,sender=ID][,target=ID][,heartbeat=S]`, a FIX 4.4
    /// venue; its session store is the journal's path with `.fix` added.
    #[arg(long, default_value = "paper")]
    pub venue: String,
    /// Paper exchange latency, ms of exchange time.
    #[arg(long, default_value_t = 0.0)]
    pub latency_ms: f64,
    /// Kill switch: cancel everything and stop trading once this file exists (or on SIGUSR1).
    #[arg(long)]
    pub kill_file: Option<PathBuf>,
    /// Judge each fill this many predictions later (hit rate).
    #[arg(long, default_value_t = 50)]
    pub horizon: u32,
    /// No order on a prediction whose tick is older than this many µs of
    /// CLOCK_MONOTONIC when it is decided (rejected as `stale_signal` and
    /// journaled). Off by default: replays then decide on the data alone.
    #[arg(long)]
    pub max_signal_age_us: Option<u64>,
    /// Length of the flight recorder's intervals (the slowest decisions of each), ms.
    #[arg(long, default_value_t = 1_000)]
    pub slowest_interval_ms: u64,
    /// Exit after handling the prediction with this sequence number.
    #[arg(long)]
    pub until_seq: Option<u64>,
}

fn lots(x: f64, lot: i64) -> i64 {
    (x * lot as f64).round() as i64
}

fn sizing(spec: &str, lot: i64) -> Result<Sizing> {
    let f: Vec<&str> = spec.split(':').collect();
    let n = |i: usize| -> Result<f64> {
        f.get(i)
            .context("missing field")?
            .parse::<f64>()
            .with_context(|| format!("bad number in --sizing {spec:?}"))
    };
    Ok(match f[0] {
        "kelly" => Sizing::Kelly {
            k: n(1)?,
            budget: lots(n(2)?, lot),
        },
        "linear" => Sizing::Linear {
            max: lots(n(1)?, lot),
        },
        "capped" => Sizing::Capped {
            max: lots(n(1)?, lot),
            cap: lots(n(2)?, lot),
        },
        _ => bail!("--sizing: kelly:K:BUDGET, linear:MAX or capped:MAX:CAP (in lots)"),
    })
}

/// Risk limits, sizing and order style from the flags.
pub fn router_config(a: &Args) -> Result<RouterConfig> {
    if !(a.lot > 0.0 && a.band >= 0.0 && a.band < 0.5) {
        bail!("--lot must be positive and --band in [0, 0.5)");
    }
    let lot = (a.lot * UNIT as f64).round() as i64;
    Ok(RouterConfig {
        band: a.band,
        sizing: sizing(&a.sizing, lot)?,
        lot,
        limits: RiskLimits {
            max_position: lots(a.max_position, lot),
            max_gross_notional: a.max_gross,
            max_order_qty: lots(a.max_order, lot),
            max_orders_per_sec: a.max_rate,
            max_daily_loss: a.max_loss,
            price_band_bps: a.band_bps,
        },
        max_signal_age_ns: a.max_signal_age_us.map(|us| us.saturating_mul(1_000)),
        aggressive: !a.passive,
        tif: if a.passive {
            TimeInForce::Day
        } else {
            TimeInForce::ImmediateOrCancel
        },
    })
}
