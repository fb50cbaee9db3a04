//! The order-router's logic, independent of queues and processes:
//! [`sizing`] turns P(up) into a target position, [`risk`] checks every order
//! before it leaves, [`gateway`] is the one seam to where orders go (the
//! [`paper`] exchange here, FIX in `tickline-fix`), [`journal`] makes
//! restarts exactly-once, and
//! [`Router`] ties them together per prediction.
//!
//! Decisions use only the prediction's content and the journaled state
//! (exchange time, never the wall clock), so a replay decides the same way
//! however fast it runs and however often it is restarted.
#![forbid(unsafe_code)]

pub mod gateway;
pub mod journal;
pub mod order;
pub mod paper;
pub mod queue_venue;
pub mod risk;
mod router;
pub mod sizing;

pub use gateway::{Exec, Gateway, Touch};
pub use journal::{FsyncPolicy, Journal, JournalError, Record};
pub use order::{Fill, OrderError, OrderRequest};
pub use paper::PaperExchange;
pub use queue_venue::QueueVenue;
pub use risk::{Reject, RiskLimits};
pub use router::{Router, RouterConfig, RouterStats, Step};
pub use sizing::Sizing;

/// Fixed-point units per price or quantity unit (1e-8).
pub const UNIT: i64 = tickline_schema::FIXED_SCALE;

/// Notional of price x qty in 1e-16 currency units (exact).
pub fn notional(price: i64, qty: i64) -> i128 {
    price as i128 * qty as i128
}

/// Currency amount from 1e-16 units.
pub fn currency(x: i128) -> f64 {
    x as f64 / (UNIT as f64 * UNIT as f64)
}
