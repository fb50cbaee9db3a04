//! Queue position of a resting order.
//!
//! - On market-by-order data (DBN MBO) the position is exact: each order
//!   at our price is ahead of ours or behind it by time priority, and we
//!   see each one executed or cancelled (`fifo`: [`crate::FifoPos`]).
//! - On market-by-price data (Binance, LOBSTER, the synthetic market) only
//!   the level's total is seen, so the quantity ahead is estimated
//!   ([`QueueModel`]) the way hftbacktest documents and does it, so that the
//!   two can be checked against each other fill by fill:
//!   - `risk_averse`: only trades at our price advance us; a shrinking
//!     level never moves us forward, except that we cannot have more ahead
//!     than the level holds;
//!   - `prob:power:N`, `prob:log`: a decrease that trades do not explain
//!     (a cancel) is split between the quantity ahead and behind by
//!     `p = f(back) / (f(back) + f(front))`, the chance that it was behind,
//!     with `f(x) = x^N` or `ln(1 + x)`.
//!
//! Quantities are f64 in the instrument's units, as hftbacktest keeps them;
//! the arithmetic is kept in the same order so that results agree to the bit.

use std::str::FromStr;

/// A model name that is not one of the known ones.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown queue model {0:?}: expected risk_averse, prob:power:N (N > 0), prob:log or fifo")]
pub struct QueueModelError(pub String);

/// How `f` weighs the quantity ahead and behind in a probabilistic model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProbFn {
    /// `f(x) = x^n`.
    Power(f64),
    /// `f(x) = ln(1 + x)`.
    Log,
}

impl ProbFn {
    fn f(self, x: f64) -> f64 {
        match self {
            ProbFn::Power(n) => x.powf(n),
            ProbFn::Log => (1.0 + x).ln(),
        }
    }

    /// The chance that a decrease of the level was behind us.
    pub fn behind(self, front: f64, back: f64) -> f64 {
        self.f(back) / (self.f(back) + self.f(front))
    }
}

/// How a resting order's place in its level's queue is kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QueueModel {
    /// Estimated from the level's totals (market-by-price data).
    Level(LevelModel),
    /// Exact time priority among the orders of a market-by-order feed
    /// ([`crate::FifoPos`]).
    Fifo,
}

/// A queue model for market-by-price data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LevelModel {
    /// Only trades at our price move us forward.
    RiskAverse,
    /// Cancels move us forward by their chance of having been ahead.
    Prob(ProbFn),
}

impl FromStr for QueueModel {
    type Err = QueueModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || QueueModelError(s.to_owned());
        let level = match s.split(':').collect::<Vec<_>>().as_slice() {
            ["fifo"] => return Ok(QueueModel::Fifo),
            ["risk_averse"] => LevelModel::RiskAverse,
            ["prob", "log"] => LevelModel::Prob(ProbFn::Log),
            ["prob", "power", n] => match n.parse::<f64>() {
                Ok(n) if n.is_finite() && n > 0.0 => LevelModel::Prob(ProbFn::Power(n)),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        Ok(QueueModel::Level(level))
    }
}

/// Where one resting order stands: the quantity estimated ahead of it,
/// and the traded quantity at its price not yet seen in the level's total.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueuePos {
    /// Quantity ahead; below zero, that much of ours has traded.
    pub front: f64,
    traded: f64,
}

impl LevelModel {
    /// An order joins the back of a level holding `level_qty`.
    pub fn join(self, level_qty: f64) -> QueuePos {
        QueuePos {
            front: level_qty,
            traded: 0.0,
        }
    }

    /// `qty` traded at our price.
    pub fn on_trade(self, q: &mut QueuePos, qty: f64) {
        q.front -= qty;
        if let LevelModel::Prob(_) = self {
            q.traded += qty;
        }
    }

    /// The level's total went from `prev` to `new`.
    pub fn on_level(self, q: &mut QueuePos, prev: f64, new: f64) {
        let f = match self {
            LevelModel::Prob(f) => f,
            LevelModel::RiskAverse => {
                q.front = q.front.min(new);
                return;
            }
        };
        // Trades already moved us; only the rest of the decrease is news.
        let chg = prev - new - q.traded;
        q.traded = 0.0;
        if chg < 0.0 {
            q.front = q.front.min(new);
            return;
        }
        let front = q.front;
        let back = prev - front;
        let mut p = f.behind(front, back);
        if p.is_infinite() {
            p = 1.0;
        }
        let est = front - (1.0 - p) * chg + (back - p * chg).min(0.0);
        q.front = est.min(new);
    }

    /// The level comes back into view holding `new`: what it did out of
    /// view is unknown, but no model has more ahead than the level holds.
    pub fn on_level_seen_again(self, q: &mut QueuePos, new: f64) {
        q.front = q.front.min(new);
        q.traded = 0.0;
    }

    /// Whole lots of ours that have traded (the quantity ahead went below
    /// zero); the position then restarts at the front.
    pub fn take_filled(self, q: &mut QueuePos, lot: f64) -> f64 {
        debug_assert!(lot > 0.0, "a lot size is positive");
        let lots = (-q.front / lot).round() as i64;
        if lots > 0 {
            q.front = 0.0;
            lots as f64 * lot
        } else {
            0.0
        }
    }
}
