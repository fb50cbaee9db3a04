//! Pre-trade risk: every order is checked; a rejected order is counted by
//! reason and never sent.

use crate::order::OrderRequest;

/// Pre-trade limits; an order breaching any is rejected.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskLimits {
    /// Largest |position| per instrument, counting resting orders, fixed-point units.
    pub max_position: i64,
    /// Largest gross notional (positions and resting orders at mid), currency.
    pub max_gross_notional: f64,
    /// Largest single order, fixed-point units.
    pub max_order_qty: i64,
    /// Most orders in any second of exchange time.
    pub max_orders_per_sec: usize,
    /// Loss (realised + marked to mid) at which only risk-reducing orders pass, currency.
    pub max_daily_loss: f64,
    /// Largest distance of the order price from mid, basis points (fat-finger guard).
    pub price_band_bps: f64,
}

/// Why an order was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(usize)]
pub enum Reject {
    /// The kill switch is on.
    KillSwitch,
    /// Order larger than the max order size.
    OrderSize,
    /// Position would pass the max position.
    Position,
    /// Gross notional would pass its limit.
    GrossNotional,
    /// Too many orders in the last second.
    Rate,
    /// Past the loss limit, and the order does not reduce.
    DailyLoss,
    /// Price too far from the mid.
    PriceBand,
    /// No two-sided market to price against.
    NoMarket,
    /// The order or its instrument is not valid.
    Invalid,
    /// The prediction came from a book that may have missed messages.
    StaleBook,
    /// The prediction's tick is older than the signal-age guard when it is
    /// decided: a stall made it stale.
    StaleSignal,
}

impl Reject {
    /// Every reason, in counter order.
    pub const ALL: [Reject; 11] = [
        Reject::KillSwitch,
        Reject::OrderSize,
        Reject::Position,
        Reject::GrossNotional,
        Reject::Rate,
        Reject::DailyLoss,
        Reject::PriceBand,
        Reject::NoMarket,
        Reject::Invalid,
        Reject::StaleBook,
        Reject::StaleSignal,
    ];

    /// Its name in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Reject::KillSwitch => "kill_switch",
            Reject::OrderSize => "order_size",
            Reject::Position => "position",
            Reject::GrossNotional => "gross_notional",
            Reject::Rate => "rate",
            Reject::DailyLoss => "daily_loss",
            Reject::PriceBand => "price_band",
            Reject::NoMarket => "no_market",
            Reject::Invalid => "invalid",
            Reject::StaleBook => "stale_book",
            Reject::StaleSignal => "stale_signal",
        }
    }

    /// The reason of a name (as [`Reject::name`] gives it).
    pub fn from_name(s: &str) -> Option<Reject> {
        Reject::ALL.iter().copied().find(|r| r.name() == s)
    }
}

/// What the checks need to know about the book of orders and the market.
pub struct Exposure {
    /// Position of the order's instrument.
    pub position: i64,
    /// Resting buy and sell quantity of that instrument.
    pub resting_buy: i64,
    /// Resting sell quantity of that instrument.
    pub resting_sell: i64,
    /// Gross notional before this order, currency.
    pub gross_notional: f64,
    /// Mid of the instrument, fixed point (0 if unknown).
    pub mid: i64,
    /// Realised + marked PnL, currency.
    pub pnl: f64,
    /// Orders in the last second of exchange time.
    pub orders_last_sec: usize,
    /// The kill switch is on.
    pub killed: bool,
}

impl RiskLimits {
    /// Ok, or the first limit the order would breach.
    pub fn check(&self, o: &OrderRequest, x: &Exposure) -> Result<(), Reject> {
        if x.killed {
            return Err(Reject::KillSwitch);
        }
        if x.mid <= 0 {
            return Err(Reject::NoMarket);
        }
        if o.qty > self.max_order_qty {
            return Err(Reject::OrderSize);
        }
        let dist_bps = (o.price - x.mid).abs() as f64 / x.mid as f64 * 1e4;
        if dist_bps > self.price_band_bps {
            return Err(Reject::PriceBand);
        }
        // Worst case if every resting order of this side fills too.
        let q = o.signed_qty();
        let long = x.position as i128 + x.resting_buy as i128 + q.max(0) as i128;
        let short = x.position as i128 - x.resting_sell as i128 + q.min(0) as i128;
        if long.abs().max(short.abs()) > self.max_position as i128 {
            return Err(Reject::Position);
        }
        let reduces = (x.position > 0 && q < 0 && -q <= x.position)
            || (x.position < 0 && q > 0 && q <= -x.position);
        if x.pnl <= -self.max_daily_loss && !reduces {
            return Err(Reject::DailyLoss);
        }
        let add = crate::currency(crate::notional(o.price, o.qty));
        if !reduces && x.gross_notional + add > self.max_gross_notional {
            return Err(Reject::GrossNotional);
        }
        if x.orders_last_sec >= self.max_orders_per_sec {
            return Err(Reject::Rate);
        }
        Ok(())
    }
}
