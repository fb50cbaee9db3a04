//! The venue's settings on a command line, shared by the simulator
//! process and the offline replay so that both run the same venue.

use tickline_schema::FIXED_SCALE;

use crate::{Latency, LatencyError, QueueModelError, Venue, VenueConfig};

/// A setting that cannot make a venue.
#[derive(Debug, thiserror::Error)]
pub enum VenueArgsError {
    /// See [`QueueModelError`].
    #[error(transparent)]
    Queue(#[from] QueueModelError),
    /// See [`LatencyError`].
    #[error(transparent)]
    Latency(#[from] LatencyError),
    /// A grid that is not positive.
    #[error("--{0} must be positive, not {1}")]
    Grid(&'static str, f64),
}

/// How the venue trades.
#[derive(clap::Args, Clone, Debug)]
pub struct VenueArgs {
    /// risk_averse | prob:power:N | prob:log (market-by-price data), or
    /// fifo (market-by-order data: DBN MBO with --book-records).
    #[arg(long, default_value = "risk_averse")]
    pub queue_model: String,
    /// constant:ENTRY_US:RESPONSE_US | recorded:FILE (hftbacktest's .npy
    /// rows req,exch,resp in ns, or a CSV of them).
    #[arg(long, default_value = "constant:0:0")]
    pub latency: String,
    /// Price grid, price units (orders off it are refused).
    #[arg(long)]
    pub tick: f64,
    /// Quantity grid, instrument units.
    #[arg(long)]
    pub lot: f64,
    /// Maker fee, bps of notional (negative: a rebate).
    #[arg(long, default_value_t = 0.0)]
    pub maker_fee_bps: f64,
    /// Taker fee, bps of notional.
    #[arg(long, default_value_t = 0.0)]
    pub taker_fee_bps: f64,
    /// Take market events in exchange-time order within this window of
    /// their receive order, ms (a capture whose streams arrive out of order,
    /// e.g. Binance's depth and trades; 0: as received).
    #[arg(long, default_value_t = 0)]
    pub reorder_ms: u64,
}

fn fixed(x: f64, what: &'static str) -> Result<i64, VenueArgsError> {
    let v = (x * FIXED_SCALE as f64).round() as i64;
    if x.is_finite() && v > 0 {
        Ok(v)
    } else {
        Err(VenueArgsError::Grid(what, x))
    }
}

impl VenueArgs {
    /// The venue these settings describe (a recorded latency file is read).
    pub fn venue(&self) -> Result<Venue, VenueArgsError> {
        let cfg = VenueConfig {
            queue: self.queue_model.parse()?,
            tick: fixed(self.tick, "tick")?,
            lot: fixed(self.lot, "lot")?,
            maker_fee_bps: self.maker_fee_bps,
            taker_fee_bps: self.taker_fee_bps,
            reorder_ns: self.reorder_ms.saturating_mul(1_000_000),
        };
        Ok(Venue::new(cfg, Latency::from_spec(&self.latency)?))
    }
}
